"""Two people (or two sweeps) acting on the same rows at once, with real threads on PostgreSQL.

SQLite serialises writers with one database lock, so these races only exist on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections

from handoff import automation, services
from handoff.models import (
    Assignment,
    BreachAction,
    HandoffMode,
    HandoffRequest,
    Opportunity,
    QueueReview,
    RoutingRule,
    SlaEvent,
)
from leads.lifecycle import Stage
from leads.models import StageTransition
from tests import factories
from tests.factories import qualified_bant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row-lock races need PostgreSQL (run with DATABASE_URL=postgres://...)")


def race(*actions: Callable[[], object]) -> list[object]:
    """Run the actions at the same moment in threads; return each result or exception."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = action()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_many_handoffs_by_several_users_keep_the_rotation_fair(team, reps, mql):
    marketers = [factories.marketer(username=f"m{i}") for i in range(3)]
    leads = [mql() for _ in range(12)]
    results = race(*[
        (lambda lead=lead, who=marketers[i % 3]: services.lead_hand_off(lead_id=lead.pk, user=who))
        for i, lead in enumerate(leads)
    ])  # fmt: skip
    assert [r for r in results if isinstance(r, Exception)] == []
    per_rep = Counter(Assignment.objects.values_list("rep_id", flat=True))
    assert sorted(per_rep.values()) == [4, 4, 4]
    assert Assignment.objects.filter(is_open=True).values("lead").distinct().count() == 12


def test_two_sweeps_at_once_breach_and_escalate_each_clock_once(marketer, team, policy, mql):
    policy.breach_action = BreachAction.BOTH
    policy.save()
    clocks = [services.lead_hand_off(lead_id=mql().pk, user=marketer).clock for _ in range(6)]
    later = max(c.due_at for c in clocks) + timedelta(seconds=1)
    results = race(lambda: services.sla_sweep(now=later), lambda: services.sla_sweep(now=later))
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r["breaches"] for r in results) == 6
    assert SlaEvent.objects.filter(kind="breach").count() == 6
    assert SlaEvent.objects.filter(kind="reassigned").count() == 6
    assert Assignment.objects.filter(is_open=True).count() == 6


def test_two_conversions_at_once_make_one_sql_and_one_opportunity(marketer, manager, team, mql):
    lead = mql()
    rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep
    results = race(
        lambda: services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant()),
        lambda: services.call_log(lead_id=lead.pk, user=manager, data=qualified_bant()),
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1, results
    assert Opportunity.objects.filter(lead=lead).count() == 1
    assert StageTransition.objects.filter(lead=lead, to_stage=Stage.SQL).count() == 1


def test_accept_and_reject_at_once_leave_one_consistent_outcome(marketer, team, mql):
    lead = mql()
    rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep
    accepted, rejected = race(
        lambda: services.lead_accept(lead_id=lead.pk, user=rep),
        lambda: services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.DISQUALIFIED, reason_code="bad_data"),
    )
    lead.refresh_from_db()
    moves = list(StageTransition.objects.filter(lead=lead).order_by("at", "id").values_list("to_stage", flat=True))
    # Either the rejection came first (and the accept was refused), or the accept came first and
    # the rejection then disqualified the accepted lead: never an accept after a rejection.
    if isinstance(accepted, Exception):
        assert moves[-1] == Stage.DISQUALIFIED
        assert Stage.SAL not in moves
    else:
        assert not isinstance(rejected, Exception)
        assert moves[-2:] == [Stage.SAL, Stage.DISQUALIFIED]
    assert lead.stage == moves[-1] == Stage.DISQUALIFIED
    assert not Assignment.objects.filter(lead=lead, is_open=True).exists()


def test_reassign_during_conversion_leaves_a_consistent_lead(marketer, manager, team, reps, mql):
    lead = mql()
    rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep
    other = next(r for r in reps if r != rep)
    results = race(
        lambda: services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant()),
        lambda: services.lead_reassign(lead_id=lead.pk, user=manager, rep_id=other.pk),
    )
    lead.refresh_from_db()
    opportunity = Opportunity.objects.filter(lead=lead).first()
    if lead.stage == Stage.SQL:
        assert opportunity is not None
        assert Assignment.objects.filter(lead=lead, is_open=True).count() <= 1
    else:  # the reassignment won and the old rep may no longer convert
        assert isinstance(results[0], Exception)
        assert opportunity is None
        assert Assignment.objects.get(lead=lead, is_open=True).rep == other


@pytest.fixture
def broker_asleep(monkeypatch):
    """The drain's wake-up after commit is not sent: the hand-off requests wait for the test's drains."""
    monkeypatch.setattr("crm.queue.enqueue", lambda *args, **kwargs: False)


def test_a_marketer_and_the_automatic_hand_off_at_once_assign_the_lead_once(marketer, team, reps, mql, broker_asleep):
    RoutingRule.objects.create(name="All (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)
    for _ in range(5):
        lead = mql()
        assert HandoffRequest.objects.filter(lead=lead).exists()
        results = race(
            lambda lead=lead: services.lead_hand_off(lead_id=lead.pk, user=marketer),
            automation.handoff_requests_drain,
        )
        errors = [r for r in results if isinstance(r, Exception)]
        # Whoever came second found the lead handed off: the marketer is told so, the drain does nothing.
        assert all("already handed off" in str(error) for error in errors), errors
        assert Assignment.objects.filter(lead=lead).count() == 1
        assert QueueReview.objects.filter(lead=lead).count() == 1
        assert not HandoffRequest.objects.filter(lead=lead).exists()


def test_several_drains_at_once_share_a_burst_fairly_and_hand_off_each_lead_once(team, reps, mql, broker_asleep):
    RoutingRule.objects.create(name="All (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)
    leads = [mql() for _ in range(30)]
    results = race(*[lambda: automation.handoff_requests_drain(batch=4) for _ in range(3)])
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.handed_off for r in results) == 30
    assert Assignment.objects.filter(lead__in=leads, is_open=True).count() == 30
    per_rep = Counter(Assignment.objects.values_list("rep_id", flat=True))
    assert sorted(per_rep.values()) == [10, 10, 10]
