"""Velocity, stalls, SLA, marketing side, feedback and leaderboard against hand-computed values,
over histories made through the real services (hand-offs, reassignments, breaches, rejections)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from handoff import services
from handoff.models import MqlTarget, SlaClock
from leads.lifecycle import Stage
from leads.models import Lead
from reporting import selectors
from tests import factories
from tests.factories import qualified_bant
from tests.reporting import histories as h

pytestmark = pytest.mark.django_db
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def test_percentiles():
    assert selectors.median([3, 1, 2]) == 2
    assert selectors.median([4, 1, 2, 3]) == 2.5
    assert selectors.percentile(list(range(1, 11)), 0.9) == 9
    assert selectors.median([]) is None


def test_velocity_matches_hand_computed_first_reach_times():
    histories, _ = h.build(21, 80, BASE)
    start, end = BASE, BASE + timedelta(days=90)
    total, _ = selectors.velocity(start=start, end=end)
    expected: dict[str, list[float]] = {"mql→sal": [], "sal→sql": [], "mql→sql": []}
    for walk in histories.values():
        first = h.reached(walk)
        if "mql" in first and start <= first["mql"] < end:
            for a, b in (("mql", "sal"), ("sal", "sql"), ("mql", "sql")):
                if a in first and b in first:
                    expected[f"{a}→{b}"].append((first[b] - first[a]).total_seconds() / 3600)
    for step, values in expected.items():
        assert total.steps[step].count == len(values)
        assert total.steps[step].p50 == pytest.approx(selectors.median(values))
        assert total.steps[step].p90 == pytest.approx(selectors.percentile(values, 0.9))


def test_stalls_report_time_in_current_stage():
    now = timezone.now()
    for days in (1, 2, 3, 10):
        lead = factories.LeadFactory()
        Lead.objects.filter(pk=lead.pk).update(stage_changed_at=now - timedelta(days=days))
    row = next(r for r in selectors.stalls(now=now) if r.stage == Stage.LEAD)
    assert row.count == 4
    assert row.p50_days == pytest.approx(2, abs=0.01)  # nearest rank: the 2nd shortest of 4 waits
    assert row.p90_days == pytest.approx(10, abs=0.01)


def test_sla_summary_counts_in_time_late_breached_and_reassigned(marketer, manager, team, reps, mql, policy):
    now = timezone.now()
    outcomes = []
    for minutes_to_touch in (10, 30, 90, None, None):
        lead = mql()
        assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
        clock = assignment.clock
        if minutes_to_touch is not None:
            touched = clock.started_at + timedelta(minutes=minutes_to_touch)  # logged as it happened
            SlaClock.objects.filter(pk=clock.pk).update(first_touch_at=touched, touch_recorded_at=touched)
        outcomes.append((assignment, minutes_to_touch))
    # one untouched lead is reassigned before its due time (stopped), the other breaches
    services.lead_reassign(lead_id=outcomes[3][0].lead_id, user=manager)
    later = now + timedelta(hours=2)
    summary = selectors.sla_summary(start=now - timedelta(hours=1), end=now + timedelta(hours=1), now=later)
    assert summary.handed_off == 6  # five hand-offs and the reassignment's new clock
    assert (summary.touched_in_time, summary.touched_late) == (2, 1)
    assert summary.breached_untouched == 2  # the untouched one and the new clock, both past due at `later`
    assert summary.stopped == 1
    assert summary.within_sla == pytest.approx(2 / 5)
    assert summary.wall_minutes.p50 == 30
    assert summary.business_minutes.p50 == pytest.approx(30)  # 24x7 calendar: same as wall time
    assert sum(r["handed_off"] for r in summary.by_rep) == 6
    assert sum(r["breaches"] for r in summary.by_policy) == 3


def test_mql_volume_against_target():
    lead = factories.lead_at_stage(Stage.MQL)
    month = timezone.localdate().replace(day=1)
    MqlTarget.objects.create(month=month, target=4)
    first_of_next = (month + timedelta(days=32)).replace(day=1)
    rows = selectors.mql_volume_by_month(
        start=datetime.combine(month, datetime.min.time(), tzinfo=UTC),
        end=datetime.combine(first_of_next, datetime.min.time(), tzinfo=UTC),
    )
    assert rows == [{"month": month, "delivered": 1, "target": 4, "attainment": 0.25}]
    assert lead.transitions.filter(to_stage=Stage.MQL).count() == 1


def test_feedback_groups_rejections_and_sales_reject_share(marketer, team, mql):
    rng = random.Random(3)
    for index in range(6):
        lead = mql(source_channel=rng.choice(["paid_search", "webinar"]))
        if index % 3 == 0:
            services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="student")
            continue
        rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep
        if index % 3 == 1:
            services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="no_budget")
    now = timezone.now()
    report = selectors.feedback(start=now - timedelta(hours=1), end=now + timedelta(hours=1), by="channel")
    assert set(report["reasons"]) == {"Student", "No budget"}
    assert sum(r["sales_rejected"] for r in report["rows"]) == 2
    assert sum(r["marketing"] for r in report["rows"]) == 2
    assert sum(r["handed_off"] for r in report["rows"]) == 4
    for row in report["rows"]:
        if row["handed_off"]:
            assert row["sales_reject_share"] == row["sales_rejected"] / row["handed_off"]


def test_leaderboard_counts_each_reps_work(marketer, team, mql):
    leads = [mql() for _ in range(3)]
    assignments = [services.lead_hand_off(lead_id=lead.pk, user=marketer) for lead in leads]
    first = assignments[0]
    services.touch_log(lead_id=first.lead_id, user=first.rep, kind="call")
    services.call_log(lead_id=first.lead_id, user=first.rep, data=qualified_bant())
    now = timezone.now()
    board = {
        row["rep"]: row for row in selectors.leaderboard(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    }
    row = board[first.rep]
    assert (row["assigned"], row["touches"], row["calls"], row["sqls"]) == (1, 2, 1, 1)  # the call is a touch too
    assert row["conversion"] == 1
    assert row["median_response_minutes"] is not None
    others = [board[a.rep] for a in assignments[1:]]
    assert all(o["sqls"] == 0 and o["conversion"] == 0 for o in others)
