"""Hand-off, routing, round robin, touches, accept/reject: the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from handoff import services
from handoff.models import (
    Assignment,
    Notification,
    NotificationKind,
    QueueAction,
    QueueReview,
    RoutingRule,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
)
from leads.lifecycle import Stage
from leads.models import Activity, ActivityType
from tests import factories

pytestmark = pytest.mark.django_db


def test_hand_off_assigns_round_robin_starts_a_clock_and_notifies(
    marketer, team, reps, mql, django_capture_on_commit_callbacks
):
    leads = [mql() for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        assignments = [services.lead_hand_off(lead_id=lead.pk, user=marketer) for lead in leads]

    assert [a.rep for a in assignments] == [*reps, reps[0]]
    first = assignments[0]
    assert first.clock.due_at == first.assigned_at + timedelta(minutes=60)
    assert first.clock.status == SlaStatus.ON_TRACK
    leads[0].refresh_from_db()
    assert leads[0].owner == reps[0]
    assert leads[0].stage == Stage.MQL  # accepted only by the SDR
    note = Notification.objects.get(recipient=reps[0], lead=leads[0])
    assert note.kind == NotificationKind.ASSIGNED
    assert any(reps[0].email in m.to for m in mail.outbox)
    review = QueueReview.objects.get(lead=leads[0])
    assert (review.action, review.reviewer) == (QueueAction.HANDED_OFF, marketer)


def test_round_robin_skips_reps_who_are_away_or_at_capacity(marketer, team, reps, mql):
    TeamMembership.objects.filter(rep=reps[0]).update(away_until=timezone.now() + timedelta(days=2))
    TeamMembership.objects.filter(rep=reps[1]).update(capacity=1)
    picked = [services.lead_hand_off(lead_id=mql().pk, user=marketer).rep for _ in range(3)]
    assert picked == [reps[1], reps[2], reps[2]]


def test_nobody_available_is_a_clear_refusal(marketer, team, reps, mql):
    TeamMembership.objects.filter(team=team).update(capacity=0)
    lead = mql()
    with pytest.raises(ValidationError, match="every rep is away or at capacity"):
        services.lead_hand_off(lead_id=lead.pk, user=marketer)
    assert not Assignment.objects.exists()


def test_routing_rules_pick_the_team_in_order_and_hot_leads_get_the_tight_policy(marketer, team, calendar_24x7, mql):
    enterprise = Team.objects.create(name="Enterprise")
    TeamMembership.objects.create(team=enterprise, rep=factories.sdr(username="sdr.ent"))
    fast = SlaPolicy.objects.create(name="Fast", calendar=calendar_24x7, first_touch_minutes=15)
    RoutingRule.objects.create(position=1, name="Hot", hot_only=True, team=enterprise, sla_policy=fast)
    RoutingRule.objects.create(position=2, name="Enterprise", segments=["enterprise"], team=enterprise)
    RoutingRule.objects.create(position=3, name="Rest", team=team)

    big = mql(company=factories.CompanyFactory(size="5000+"))
    small = mql(company=factories.CompanyFactory(size="1-10"))
    hot = mql(company=factories.CompanyFactory(size="1-10"))
    factories.ActivityFactory(lead=hot, type=ActivityType.objects.get(code="demo_request"))
    from leads import services as lead_services

    lead_services.scoring_rescore_leads(lead_ids=[hot.pk])

    assert services.lead_hand_off(lead_id=big.pk, user=marketer).team == enterprise
    assert services.lead_hand_off(lead_id=small.pk, user=marketer).team == team
    hot_assignment = services.lead_hand_off(lead_id=hot.pk, user=marketer)
    assert (hot_assignment.team, hot_assignment.clock.policy) == (enterprise, fast)


def test_only_mqls_are_handed_off_and_only_once(marketer, team, mql):
    lead = factories.LeadFactory()
    with pytest.raises(ValidationError, match="Only MQLs"):
        services.lead_hand_off(lead_id=lead.pk, user=marketer)
    queued = mql()
    services.lead_hand_off(lead_id=queued.pk, user=marketer)
    with pytest.raises(ValidationError, match="already handed off"):
        services.lead_hand_off(lead_id=queued.pk, user=marketer)


def test_sdrs_cannot_review_the_queue(sdr, team, mql):
    with pytest.raises(PermissionDenied):
        services.lead_hand_off(lead_id=mql().pk, user=sdr)


def test_nurture_and_disqualify_need_a_reason_from_the_list(marketer, mql):
    lead = mql()
    with pytest.raises(ValidationError, match="Choose a reason"):
        services.lead_send_to_nurture(lead_id=lead.pk, user=marketer, reason_code="")
    with pytest.raises(ValidationError, match="not a reason to"):
        services.lead_send_to_nurture(lead_id=lead.pk, user=marketer, reason_code="student")
    services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="student", note="uni address")
    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED
    assert lead.transitions.latest().reason == "Student: uni address"
    assert QueueReview.objects.get(lead=lead).action == QueueAction.DISQUALIFIED


def test_bulk_actions_report_each_lead(marketer, team, mql):
    ok, already = mql(), mql()
    services.lead_hand_off(lead_id=already.pk, user=marketer)
    results = services.bulk_apply(
        [ok.pk, already.pk], lambda lead_id: services.lead_hand_off(lead_id=lead_id, user=marketer)
    )
    assert [(r.lead_id, r.ok) for r in results] == [(ok.pk, True), (already.pk, False)]
    assert "already handed off" in results[1].message


def test_first_touch_stops_the_clock_and_only_the_assignee_may_touch(marketer, team, reps, mql):
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    with pytest.raises(PermissionDenied):
        services.touch_log(lead_id=lead.pk, user=reps[1], kind="call")
    services.touch_log(lead_id=lead.pk, user=assignment.rep, kind="email", note="Intro sent")
    assignment.clock.refresh_from_db()
    assert assignment.clock.status == SlaStatus.MET
    assert Activity.objects.filter(lead=lead, type_id="sales_email").exists()


def test_accept_moves_to_sal_and_counts_as_first_touch(marketer, team, mql):
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    services.lead_accept(lead_id=lead.pk, user=assignment.rep)
    lead.refresh_from_db()
    assignment.clock.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert assignment.clock.first_touch_at is not None


def test_reject_requires_a_reason_and_closes_the_assignment(marketer, team, mql):
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    with pytest.raises(ValidationError, match="Choose a reason"):
        services.lead_reject(lead_id=lead.pk, user=assignment.rep, to=Stage.RECYCLED, reason_code="")
    services.lead_reject(lead_id=lead.pk, user=assignment.rep, to=Stage.RECYCLED, reason_code="bad_timing", note="Q3")
    lead.refresh_from_db()
    assignment.refresh_from_db()
    assert lead.stage == Stage.RECYCLED
    assert lead.transitions.latest().reason.startswith("Not now / timing: Q3 (nurture until ")
    assert not assignment.is_open
    assert assignment.clock.status == SlaStatus.STOPPED


def test_manager_reassigns_and_the_new_rep_gets_a_new_clock(marketer, manager, team, reps, mql):
    lead = mql()
    first = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    second = services.lead_reassign(lead_id=lead.pk, user=manager, rep_id=reps[2].pk, reason="Speaks German")
    first.refresh_from_db()
    assert (first.is_open, first.end_reason, first.clock.status) == (False, "reassigned", SlaStatus.STOPPED)
    assert second.rep == reps[2]
    assert second.clock.pk != first.clock.pk
    assert Notification.objects.filter(kind=NotificationKind.REASSIGNED).count() == 2
    with pytest.raises(PermissionDenied):
        services.lead_reassign(lead_id=lead.pk, user=reps[2])
