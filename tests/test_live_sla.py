"""The SLA sweep as it runs in production: Celery beat sends it every minute, a worker runs it.

Runs in `.ci/run`'s second pass, whose worker embeds beat (BATON_LIVE_BEAT=1); skipped elsewhere.
A hand-off under a one-minute policy must be marked breached — and escalated — once, within a
minute of its due time.
"""

from __future__ import annotations

import os
import time

import pytest
from django.utils import timezone

from handoff import services
from handoff.models import (
    BreachAction,
    BusinessCalendar,
    Notification,
    NotificationKind,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    Team,
    TeamMembership,
)
from leads.lifecycle import Stage
from tests import factories

pytestmark = pytest.mark.live_worker
ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}


@pytest.fixture
def beat(live_worker):  # type: ignore[no-untyped-def]
    if os.environ.get("BATON_LIVE_BEAT") != "1":
        pytest.skip("needs Celery beat beside the live worker (BATON_LIVE_BEAT=1, set by .ci/run)")
    return live_worker


def test_a_clock_past_due_is_breached_and_escalated_once_within_a_minute(beat):
    calendar = BusinessCalendar.objects.create(name="Always open (live)", time_zone="UTC", hours=ALWAYS_OPEN)
    policy = SlaPolicy.objects.create(
        name="One minute", calendar=calendar, first_touch_minutes=1, warn_at_percent=50,
        breach_action=BreachAction.NOTIFY,
    )  # fmt: skip
    manager = factories.manager(username="live-manager")
    team = Team.objects.create(name="Live team", manager=manager, default_sla_policy=policy)
    TeamMembership.objects.create(team=team, rep=factories.sdr(username="live-sdr"))
    lead = factories.lead_at_stage(Stage.MQL)
    clock = services.lead_hand_off(lead_id=lead.pk, user=factories.marketer(username="live-marketer")).clock

    deadline = clock.due_at + timezone.timedelta(seconds=75)
    while timezone.now() < deadline:
        clock.refresh_from_db()
        if clock.breached_at is not None:
            break
        time.sleep(1)
    assert clock.breached_at is not None, "beat's sweep did not breach the clock within 75 s of its due time"
    assert clock.breached_at - clock.due_at < timezone.timedelta(seconds=61)

    # Another sweep or two later, still exactly one breach and one escalation to the manager.
    time.sleep(65)
    assert SlaEvent.objects.filter(clock=clock, kind=SlaEvent.Kind.BREACH).count() == 1
    assert Notification.objects.filter(kind=NotificationKind.SLA_BREACH, recipient=manager, lead=lead).count() == 1
    assert SlaClock.objects.get(pk=clock.pk).breached_at == clock.breached_at
