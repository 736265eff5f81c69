"""The funnel pre-aggregation under concurrent writes, with real threads on PostgreSQL: a refresh
takes only the changes committed before it, and changes committed meanwhile wait for the next
one — nothing is lost or applied twice. (SQLite serialises writers, so these races need PostgreSQL.)"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from leads import services as lead_services
from leads.lifecycle import ALLOWED, SALES_QUALIFIED, Actor, Stage
from leads.models import Lead
from reporting import funnel_facts, services
from reporting.funnel import BREAKDOWNS, Mode, funnel
from reporting.models import FunnelChange, FunnelCount, LeadFunnel
from tests import factories
from tests.reporting import histories as h
from tests.threads import in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
BASE = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = (BASE - timedelta(days=1), BASE + timedelta(days=120))


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("write races need PostgreSQL (run with DATABASE_URL=postgres://...)")


def assert_equal_to_the_reference() -> None:
    start, end = PERIOD
    for mode in Mode.ALL:
        for breakdown in BREAKDOWNS:
            fast = funnel_facts.read(start=start, end=end, mode=mode, breakdown=breakdown)
            reference = funnel(start=start, end=end, mode=mode, breakdown=breakdown)
            assert (fast.total.counts, [(r.key, r.counts) for r in fast.rows]) == (
                reference.total.counts,
                [(r.key, r.counts) for r in reference.rows],
            ), (mode, breakdown)


def a_move(rng: random.Random) -> None:
    lead = rng.choice(list(Lead.objects.order_by("pk")))
    options = sorted(stage for stage in ALLOWED[Stage(lead.stage)] if stage not in SALES_QUALIFIED)
    if options:
        at = BASE + timedelta(days=rng.randint(0, 89), minutes=rng.randint(0, 1440))
        lead_services.lead_transition(
            lead_id=lead.pk, to=rng.choice(options), actor=Actor.rule_named("t"), reason="Test", at=at
        )


def test_a_change_committed_during_a_refresh_waits_for_the_next_one():
    h.build(51, 40, BASE)
    services.funnel_facts_refresh()
    lead, other = Lead.objects.order_by("pk")[:2]
    Lead.objects.filter(pk=other.pk).update(owner=factories.sdr(username="rep"))  # committed: refreshed now
    with transaction.atomic():  # a stage change, not yet committed while the refresh runs
        lead_services.lead_transition(
            lead_id=lead.pk, to=Stage.DISQUALIFIED, actor=Actor.rule_named("t"), reason="Test", at=BASE
        )
        Lead.objects.filter(pk=lead.pk).update(source_channel="event")
        thread, outcome = in_thread(services.funnel_facts_refresh)
        thread.join(timeout=30)
    assert outcome == {"result": 1}
    assert FunnelChange.objects.filter(lead_id=lead.pk).exists()  # still queued
    services.funnel_facts_refresh()
    assert LeadFunnel.objects.get(pk=lead.pk).channel == "event"
    assert_equal_to_the_reference()


def test_refreshes_racing_stage_changes_and_merges_lose_nothing():
    h.build(52, 60, BASE)
    manager = factories.manager(username="max")
    services.funnel_facts_refresh()
    stop = threading.Event()

    def refresh_until_stopped() -> int:
        runs = 0
        while not stop.is_set():
            services.funnel_facts_refresh()
            runs += 1
        return runs

    refresher, refreshed = in_thread(refresh_until_stopped)
    second, refreshed_too = in_thread(refresh_until_stopped)
    rng = random.Random(52)
    try:
        for index in range(40):
            a_move(rng)
            if index % 10 == 9:
                with_history = Lead.objects.filter(transitions__isnull=False).distinct().values_list("pk", flat=True)
                survivor, duplicate = rng.sample(sorted(with_history), 2)
                lead_services.lead_merge(survivor_id=survivor, duplicate_id=duplicate, actor=Actor(user=manager))
    finally:
        stop.set()
        refresher.join(timeout=60)
        second.join(timeout=60)
    assert "error" not in refreshed, refreshed
    assert "error" not in refreshed_too, refreshed_too
    services.funnel_facts_refresh()
    assert_equal_to_the_reference()
    incremental = set(
        FunnelCount.objects.values_list("mode", "breakdown", "hours", "epoch_hour", "group_key", "members")
    )
    services.funnel_facts_rebuild()
    rebuilt = set(FunnelCount.objects.values_list("mode", "breakdown", "hours", "epoch_hour", "group_key", "members"))
    assert incremental == rebuilt
