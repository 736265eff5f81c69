"""seed_demo with the handoff's extension: assignments, SLA clocks, discovery calls, opportunities,
queue reviews, rejections and MQL targets, consistent with what the services would write."""

from __future__ import annotations

from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from crm.roles import Role
from handoff import demo as handoff_demo
from handoff import services
from handoff.models import (
    Assignment,
    AssignmentEnd,
    CallOutcome,
    DiscoveryCall,
    MqlTarget,
    Opportunity,
    QueueAction,
    QueueReview,
    Rejection,
    RejectionSide,
    RoutingRule,
    SlaClock,
    SlaStatus,
    Team,
    TeamMembership,
)
from leads import demo
from leads.lifecycle import SALES_QUALIFIED, Stage
from leads.models import Lead, StageTransition

pytestmark = pytest.mark.django_db

OUT = (Stage.RECYCLED, Stage.DISQUALIFIED)


def seed(leads: int = 400, **options) -> None:  # type: ignore[no-untyped-def]
    call_command("seed_demo", leads=leads, stdout=StringIO(), **options)


@pytest.fixture
def seeded():  # type: ignore[no-untyped-def]
    before = timezone.now().replace(microsecond=0)
    seed()
    return before


def test_the_extension_is_registered_and_unlocks_sql_and_later():
    assert handoff_demo.extension in demo._extensions
    assert not demo.blocked_stages(demo._extensions) & SALES_QUALIFIED


def test_leads_at_sql_or_later_name_a_qualified_call_of_their_own(seeded):
    sales_qualified = Lead.objects.filter(stage__in=SALES_QUALIFIED)
    assert sales_qualified.filter(stage=Stage.SQL).exists()
    assert sales_qualified.filter(stage=Stage.OPPORTUNITY).exists()
    for lead in sales_qualified:
        call = DiscoveryCall.objects.get(pk=lead.qualifying_call_id)
        assert call.lead_id == lead.pk
        assert call.outcome == CallOutcome.QUALIFIED
        assert call.policy_verdict == []
        for field in ("budget_status", "authority_role", "decision_maker", "need_pain", "need_use_case", "timeframe"):
            assert getattr(call, field)
        assert call.budget_amount > 0
        assert call.budget_currency in {"USD", "EUR", "GBP"}
        assert call.expected_decision_date > call.held_at.date()
        # The sql guard's rule: held since the lead last became an MQL, before it became an SQL.
        into_sql = StageTransition.objects.filter(lead=lead, to_stage=Stage.SQL).latest("at")
        mql_at = StageTransition.objects.filter(lead=lead, to_stage=Stage.MQL, at__lt=into_sql.at).latest("at").at
        assert mql_at < call.held_at < into_sql.at
        assert call.sdr_id == into_sql.actor_user_id == lead.owner_id
        failures = services.qualification_failures(
            {
                "budget_status": call.budget_status,
                "budget_amount": call.budget_amount,
                "authority_role": call.authority_role,
                "timeframe": call.timeframe,
                "expected_decision_date": call.expected_decision_date,
            },
            services.qualification_policy(),
            call.held_at.date(),
        )
        assert failures == []
    assert DiscoveryCall.objects.filter(outcome=CallOutcome.FOLLOW_UP).exists()


def test_one_opportunity_per_lead_that_reached_sql(seeded):
    reached_sql = set(StageTransition.objects.filter(to_stage=Stage.SQL).values_list("lead_id", flat=True))
    assert reached_sql
    opportunities = list(Opportunity.objects.select_related("lead", "discovery_call"))
    assert {opportunity.lead_id for opportunity in opportunities} == reached_sql
    for opportunity in opportunities:
        call = opportunity.discovery_call
        assert call.lead_id == opportunity.lead_id
        assert opportunity.lead.qualifying_call_id == call.pk
        assert opportunity.owner_id == call.sdr_id
        assert (opportunity.amount, opportunity.currency) == (call.budget_amount, call.budget_currency)
        assert opportunity.expected_close == call.expected_decision_date
        assert opportunity.name.endswith(f" — {call.need_use_case}")


def test_every_assignment_has_one_consistent_clock(seeded):
    now = seeded
    inbound = Team.objects.get(name="Inbound")
    assignments = list(Assignment.objects.select_related("clock", "clock__policy", "lead"))
    assert assignments
    assert SlaClock.objects.count() == len(assignments)
    for assignment in assignments:
        clock = assignment.clock
        assert assignment.team_id == inbound.pk
        assert assignment.assigned_by.username == "marketer"
        assert clock.started_at == assignment.assigned_at
        assert clock.started_at <= clock.warn_at <= clock.due_at
        assert clock.policy.name in {"Standard", "Hot lead"}
        assert assignment.is_open == (assignment.ended_at is None) == (assignment.end_reason == "")
        if assignment.ended_at is not None:
            assert assignment.ended_at > assignment.assigned_at
        assert not (clock.first_touch_at and clock.stopped_at)
        if clock.first_touch_at is not None:
            assert assignment.assigned_at <= clock.first_touch_at
            assert assignment.ended_at is None or clock.first_touch_at < assignment.ended_at
        if clock.stopped_at is not None:
            assert clock.stopped_at == assignment.ended_at
        assert clock.breached_at in (None, clock.due_at)
        assert clock.warned_at in (None, clock.warn_at)
        if clock.breached_at is not None:
            assert clock.due_at <= now
    statuses = Counter(clock.status_at(now) for clock in SlaClock.objects.all())
    assert statuses[SlaStatus.BREACHED]
    assert statuses[SlaStatus.MET]
    assert SlaClock.objects.filter(breached_at__isnull=False).exists()
    assert Counter(Assignment.objects.values_list("end_reason", flat=True)).keys() >= {
        "",
        AssignmentEnd.CONVERTED,
        AssignmentEnd.REJECTED,
    }


def test_the_sla_sweep_finds_nothing_left_to_record(seeded):
    # Everything the sweep would have done by the time of seeding is recorded already.
    assert services.sla_sweep(now=seeded) == {"warnings": 0, "breaches": 0, "reassigned": 0}


def test_open_assignments_are_the_current_ones_of_leads_with_sales(seeded):
    assert not Assignment.objects.filter(is_open=True).values("lead").annotate(n=Count("id")).filter(n__gt=1)
    for assignment in Assignment.objects.filter(is_open=True).select_related("lead"):
        assert assignment.lead.stage in (Stage.MQL, Stage.SAL)
        assert assignment.lead.owner_id == assignment.rep_id
    converted = Assignment.objects.filter(end_reason=AssignmentEnd.CONVERTED)
    assert converted.count() == StageTransition.objects.filter(to_stage=Stage.SQL).count()
    for lead in Lead.objects.filter(stage=Stage.SAL):
        assert Assignment.objects.filter(lead=lead, is_open=True, rep_id=lead.owner_id).exists()
    sdr = get_user_model().objects.get(username="sdr")
    assert Assignment.objects.filter(rep=sdr, is_open=True).exists()  # "My leads" is not empty


def test_queue_reviews_record_hand_offs_and_marketing_decisions(seeded):
    assert QueueReview.objects.filter(action=QueueAction.HANDED_OFF).count() == Assignment.objects.count()
    for review in QueueReview.objects.all():
        assert review.mql_at <= review.reviewed_at
    decisions = QueueReview.objects.exclude(action=QueueAction.HANDED_OFF)
    assert decisions.exists()
    assert not decisions.filter(reason__isnull=True).exists()


def test_every_rejection_by_a_person_has_a_resolved_reason(seeded):
    moves = StageTransition.objects.filter(to_stage__in=OUT, actor_user__isnull=False)
    assert Rejection.objects.count() == moves.count()
    by_lead = defaultdict(list)
    for rejection in Rejection.objects.select_related("reason", "lead"):
        by_lead[rejection.lead_id].append(rejection)
        assert rejection.reason.use in {"both", "recycle" if rejection.to_stage == Stage.RECYCLED else "disqualify"}
    codes = Counter(r.reason.code for rejections in by_lead.values() for r in rejections)
    assert all(codes[code] for code in ("student", "no_budget", "bad_timing")), codes
    assert codes["other"] < sum(codes.values()) / 4
    for move in moves.filter(reason__startswith="Student"):
        rejection = Rejection.objects.get(lead_id=move.lead_id, at=move.at)
        assert (rejection.reason.code, rejection.side, rejection.actor_id) == (
            "student",
            RejectionSide.MARKETING,
            move.actor_user_id,
        )
    sales = Rejection.objects.filter(side=RejectionSide.SALES)
    assert sales.exists()
    assert set(sales.values_list("actor__groups__name", flat=True)) == {Role.SDR.value}


def test_reference_data_is_created_once():
    seed(leads=200)
    seed(leads=200, append=True)

    team = Team.objects.get(name="Inbound")
    assert team.manager.username == "manager"
    sdrs = set(get_user_model().objects.filter(groups__name=Role.SDR.value).values_list("pk", flat=True))
    assert set(TeamMembership.objects.filter(team=team).values_list("rep_id", flat=True)) == sdrs
    assert RoutingRule.objects.filter(name="Everything → Inbound", team=team).count() == 1
    months = list(MqlTarget.objects.order_by("month").values_list("month", flat=True))
    this_month = timezone.localdate().replace(day=1)
    assert len(months) == 4
    assert months[-1] == this_month
    assert all(target > 0 for target in MqlTarget.objects.values_list("target", flat=True))
    assert Lead.objects.count() == 400
    assert (
        Opportunity.objects.count()
        == StageTransition.objects.filter(to_stage=Stage.SQL).values("lead").distinct().count()
    )
