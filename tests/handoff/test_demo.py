"""seed_demo with the handoff's extension: routing rules, assignments, SLA clocks, discovery calls,
opportunities, queue reviews, review clocks, rejections, nurture cool-offs and MQL targets,
consistent with what the services (and the automatic hand-off) would write."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from crm.roles import Role
from handoff import automation, services
from handoff import demo as handoff_demo
from handoff.business_time import Calendar
from handoff.models import (
    Assignment,
    AssignmentEnd,
    CallOutcome,
    DiscoveryCall,
    HandoffMode,
    HandoffRequest,
    MqlTarget,
    Opportunity,
    OpportunityStatus,
    QueueAction,
    QueueReview,
    Rejection,
    RejectionSide,
    ReviewClock,
    ReviewEnd,
    ReviewPolicy,
    RoutingRule,
    SlaClock,
    SlaEvent,
    SlaStatus,
    Team,
    TeamMembership,
)
from leads import demo
from leads import services as lead_services
from leads.fast_track import junk_parts
from leads.lifecycle import SALES_QUALIFIED, Actor, Stage
from leads.models import Activity, Lead, ScoringModel, ScoringModelStatus, StageTransition
from leads.services import DEFAULT_NURTURE_DAYS
from tests.factories import qualified_bant

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


def test_one_opportunity_per_move_into_sql_closed_as_the_lead_went_on(seeded):
    into_sql = StageTransition.objects.filter(to_stage=Stage.SQL)
    assert into_sql.exists()
    opportunities = list(Opportunity.objects.select_related("lead", "discovery_call"))
    assert len(opportunities) == into_sql.count()
    for opportunity in opportunities:
        call = opportunity.discovery_call
        assert call.lead_id == opportunity.lead_id
        assert opportunity.owner_id == call.sdr_id
        assert (opportunity.amount, opportunity.currency) == (call.budget_amount, call.budget_currency)
        assert opportunity.expected_close == call.expected_decision_date
        assert opportunity.name.endswith(f" — {call.need_use_case}")
        # Lost when the lead later left sales, won when it became a customer, else open.
        later = (
            StageTransition.objects.filter(
                lead=opportunity.lead, at__gt=call.created_at, to_stage__in=[*OUT, Stage.CUSTOMER]
            )
            .order_by("at", "id")
            .first()
        )
        if later is None:
            assert (opportunity.status, opportunity.closed_at) == (OpportunityStatus.OPEN, None)
            assert opportunity.lead.qualifying_call_id == call.pk
        else:
            won = later.to_stage == Stage.CUSTOMER
            assert opportunity.status == (OpportunityStatus.WON if won else OpportunityStatus.LOST)
            assert opportunity.closed_at == later.at
    # No lead is left with an open opportunity once it is out of sales: none is stuck.
    assert (
        not Opportunity.objects.filter(status=OpportunityStatus.OPEN)
        .exclude(lead__stage__in=[Stage.SQL, Stage.OPPORTUNITY])
        .exists()
    )


def test_a_demo_lead_recycled_after_it_was_qualified_is_qualified_again(seeded):
    lead = (
        Lead.objects.filter(stage=Stage.RECYCLED, transitions__to_stage=Stage.SQL, owner__isnull=False)
        .distinct()
        .order_by("pk")
        .first()
    )
    assert lead is not None, "the demo has no lead recycled after it was qualified"
    marketer = get_user_model().objects.get(username=handoff_demo.DEMO_MARKETER)
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor(user=marketer), reason="Back: new budget")
    HandoffRequest.objects.filter(lead=lead).delete()  # the marketer hands it off from the queue
    rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep

    call = services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())

    lead.refresh_from_db()
    assert (lead.stage, lead.qualifying_call_id) == (Stage.SQL, call.pk)
    assert Opportunity.objects.get(lead=lead, status=OpportunityStatus.OPEN).discovery_call_id == call.pk
    assert Opportunity.objects.filter(lead=lead, status=OpportunityStatus.LOST).exists()


def test_every_assignment_has_one_consistent_clock(seeded):
    now = seeded
    inbound = Team.objects.get(name="Inbound")
    assignments = list(Assignment.objects.select_related("clock", "clock__policy", "lead", "routing_rule"))
    assert assignments
    assert SlaClock.objects.count() == len(assignments)
    for assignment in assignments:
        clock = assignment.clock
        assert assignment.team_id == inbound.pk
        # A marketer's hand-off from the queue, or the fast track's (nobody's, by the hot rule).
        if assignment.assigned_by is None:
            assert assignment.routing_rule.name == "Hot leads → Inbound"
        else:
            assert assignment.assigned_by.username == "marketer"
        assert clock.started_at == assignment.assigned_at
        assert clock.started_at <= clock.warn_at <= clock.due_at
        assert clock.policy.name == ("Hot lead" if assignment.routing_rule.hot_only else "Standard")
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
    assert services.sla_sweep(now=seeded) == {"warnings": 0, "breaches": 0, "reassigned": 0, "escalated": 0}


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
    # Hot leads automatic, the rest reviewed: the hot rule comes first.
    hot_rule = RoutingRule.objects.get(name="Hot leads → Inbound", team=team)
    catch_all = RoutingRule.objects.get(name="Everything → Inbound")
    assert (hot_rule.hot_only, hot_rule.handoff_mode, hot_rule.sla_policy.name) == (
        True,
        HandoffMode.AUTOMATIC,
        "Hot lead",
    )
    assert (catch_all.hot_only, catch_all.handoff_mode) == (False, HandoffMode.REVIEW)
    assert hot_rule.position < catch_all.position
    assert services.active_routing_rules()[:2] == [hot_rule, catch_all]
    assert ReviewPolicy.objects.filter(is_active=True).count() == 1
    months = list(MqlTarget.objects.order_by("month").values_list("month", flat=True))
    this_month = timezone.localdate().replace(day=1)
    assert len(months) == 4
    assert months[-1] == this_month
    assert all(target > 0 for target in MqlTarget.objects.values_list("target", flat=True))
    assert Lead.objects.count() == 400
    assert Opportunity.objects.count() == StageTransition.objects.filter(to_stage=Stage.SQL).count()


# --- Automatic hand-off, review clocks and nurture -------------------------------------------

HOT_TYPES = ("demo_request", "contact_sales", "price_quote")


def _history() -> dict[int, list[StageTransition]]:
    history: dict[int, list[StageTransition]] = defaultdict(list)
    for transition in StageTransition.objects.order_by("lead_id", "at", "id"):
        history[transition.lead_id].append(transition)
    return history


def _waiting_mqls():  # type: ignore[no-untyped-def]
    return Lead.objects.filter(stage=Stage.MQL).exclude(
        pk__in=Assignment.objects.filter(is_open=True).values("lead_id")
    )


def test_the_hot_rule_is_added_before_an_existing_catch_all():
    seed(leads=100)
    RoutingRule.objects.filter(name="Hot leads → Inbound").delete()
    catch_all = RoutingRule.objects.get(name="Everything → Inbound")

    seed(leads=100, append=True)

    hot_rule = RoutingRule.objects.get(name="Hot leads → Inbound")
    catch_all.refresh_from_db()
    assert hot_rule.position < catch_all.position
    assert hot_rule.is_automatic
    assert not catch_all.is_automatic


def test_no_hot_lead_that_is_not_junk_waits_in_the_queue(seeded):
    model = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    hot_waiting = list(_waiting_mqls().filter(hot_signal_at__isnull=False))
    fast = [
        lead
        for lead in hot_waiting
        if lead.fit_score >= model.fast_track_min_fit and not junk_parts(lead.score_explanation)
    ]
    assert fast == []
    assert not HandoffRequest.objects.exists()  # nothing left pending


def test_hot_mqls_are_handed_off_automatically_within_two_minutes(seeded):
    model = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    window = timedelta(days=model.hot_signal_window_days)
    soon = timedelta(minutes=2, seconds=30)
    history = _history()
    signals: dict[int, list] = defaultdict(list)
    for lead_id, at in Activity.objects.filter(type_id__in=HOT_TYPES).values_list("lead_id", "occurred_at"):
        signals[lead_id].append(at)
    leads = {lead.pk: lead for lead in Lead.objects.all()}
    automatic = {
        (review.lead_id, review.reviewed_at): review
        for review in QueueReview.objects.filter(action=QueueAction.HANDED_OFF, reviewer__isnull=True)
    }
    assert automatic
    assert {review.rule for review in automatic.values()} == {"fast track: hot signal"}

    # Every automatic hand-off: nobody's, by the hot rule under the hot SLA, a minute or two after
    # the lead was an MQL with a hot signal.
    for assignment in Assignment.objects.filter(assigned_by__isnull=True).select_related("routing_rule", "clock"):
        assert (assignment.lead_id, assignment.assigned_at) in automatic
        assert assignment.routing_rule.name == "Hot leads → Inbound"
        assert assignment.clock.policy.name == "Hot lead"
        mql_at = automatic[assignment.lead_id, assignment.assigned_at].mql_at
        hot = max(at for at in signals[assignment.lead_id] if at <= assignment.assigned_at)
        assert timedelta(0) < assignment.assigned_at - max(mql_at, hot) <= soon
    assert len(automatic) == Assignment.objects.filter(assigned_by__isnull=True).count()

    # Every MQL entry of a lead hot at that moment (and not junk) was handed off that quickly.
    entries = 0
    for lead_id, path in history.items():
        lead = leads[lead_id]
        if lead.fit_score < model.fast_track_min_fit or junk_parts(lead.score_explanation):
            continue
        for position, step in enumerate(path):
            if step.to_stage != Stage.MQL:
                continue
            since = max((t.at for t in path[:position] if t.to_stage == Stage.RECYCLED), default=None)
            hot = [at for at in signals[lead_id] if step.at - window < at <= step.at and (since is None or at > since)]
            if not hot:
                continue
            entries += 1
            handed = Assignment.objects.get(lead_id=lead_id, assigned_at__gte=step.at, assigned_at__lte=step.at + soon)
            assert handed.assigned_by_id is None
    assert entries


def test_every_mql_stay_has_one_review_clock(seeded):
    policy = ReviewPolicy.objects.get(is_active=True)
    calendar = Calendar.from_model(policy.calendar)
    history = _history()
    clocks = defaultdict(list)
    for clock in ReviewClock.objects.order_by("started_at"):
        clocks[clock.lead_id].append(clock)
    entries = {(lead_id, t.at) for lead_id, path in history.items() for t in path if t.to_stage == Stage.MQL}
    assert {(clock.lead_id, clock.started_at) for lead in clocks.values() for clock in lead} == entries
    assert sum(len(lead) for lead in clocks.values()) == len(entries)

    # One open clock for each MQL still waiting in the queue, and none for anyone else.
    open_clocks = ReviewClock.objects.filter(ended_at__isnull=True)
    assert set(open_clocks.values_list("lead_id", flat=True)) == set(_waiting_mqls().values_list("pk", flat=True))
    assert open_clocks.count() == _waiting_mqls().count()

    hand_offs = set(QueueReview.objects.filter(action=QueueAction.HANDED_OFF).values_list("lead_id", "reviewed_at"))
    automatic = set(
        QueueReview.objects.filter(action=QueueAction.HANDED_OFF, reviewer__isnull=True).values_list(
            "lead_id", "reviewed_at"
        )
    )
    decisions = {
        (lead_id, at): action
        for lead_id, at, action in QueueReview.objects.exclude(action=QueueAction.HANDED_OFF).values_list(
            "lead_id", "reviewed_at", "action"
        )
    }
    for lead_id, lead_clocks in clocks.items():
        for clock in lead_clocks:
            assert clock.policy_id == policy.pk
            assert clock.due_at == calendar.add_minutes(clock.started_at, policy.review_minutes)
            # Flagged by the review sweep exactly when the due time came while the stay was open.
            flagged = clock.due_at <= seeded and (clock.ended_at is None or clock.ended_at > clock.due_at)
            assert (clock.overdue_at is not None) == flagged
            if clock.overdue_at is not None:
                assert clock.overdue_at == clock.due_at
            if clock.ended_at is None:
                assert clock.end == ""
                continue
            assert clock.ended_at > clock.started_at
            key = (lead_id, clock.ended_at)
            if clock.end == ReviewEnd.AUTOMATIC:
                assert key in automatic
            elif clock.end == ReviewEnd.HANDED_OFF:
                assert key in hand_offs
                assert key not in automatic
            elif clock.end == ReviewEnd.NURTURE:
                assert decisions[key] == QueueAction.NURTURE
            elif clock.end == ReviewEnd.DISQUALIFIED:
                assert decisions[key] == QueueAction.DISQUALIFIED
            else:
                assert clock.end == ReviewEnd.LEFT
    ends = Counter(ReviewClock.objects.values_list("end", flat=True))
    assert all(ends[end] for end in (ReviewEnd.HANDED_OFF, ReviewEnd.AUTOMATIC, ReviewEnd.NURTURE)), ends
    # Most stays are reviewed within the review time, some late.
    ended = ReviewClock.objects.filter(ended_at__isnull=False)
    late = ended.filter(overdue_at__isnull=False).count()
    assert 0 < late < ended.count() / 4
    assert automation.review_sweep(now=seeded) == {"overdue": 0, "handoffs_requested": 0}


def test_recycled_leads_have_a_cool_off_and_come_back_only_after_it(seeded):
    days = {
        (rejection.lead_id, rejection.at): rejection.reason.nurture_days
        for rejection in Rejection.objects.filter(to_stage=Stage.RECYCLED).select_related("reason")
    }
    recycled = 0
    for lead in Lead.objects.all():
        path = list(StageTransition.objects.filter(lead=lead).order_by("at", "id"))
        recyclings = [t for t in path if t.to_stage == Stage.RECYCLED]
        if not recyclings:
            assert (lead.nurture_until, lead.engagement_since) == (None, None)
            continue
        recycled += 1
        latest = recyclings[-1]
        cool_off = timedelta(days=days.get((lead.pk, latest.at)) or DEFAULT_NURTURE_DAYS)
        assert lead.engagement_since == latest.at
        assert lead.nurture_until == latest.at + cool_off
        assert "(nurture until " in latest.reason
        for position, step in enumerate(path):
            if step.from_stage == Stage.RECYCLED and step.to_stage == Stage.MQL:
                before = path[position - 1]
                assert step.at >= before.at + timedelta(days=days.get((lead.pk, before.at)) or DEFAULT_NURTURE_DAYS)
    assert recycled
    assert recycled >= Lead.objects.filter(stage=Stage.RECYCLED).count()
    assert not Lead.objects.filter(stage=Stage.RECYCLED, nurture_until__isnull=True).exists()
    # Cool-offs come from the reasons: not all the same length.
    assert len(set(days.values())) > 1


def test_breach_escalations_are_bounded_and_recorded(seeded):
    # `escalated_at` means escalated to the manager: only with its event.
    escalated = SlaClock.objects.filter(escalated_at__isnull=False)
    assert not escalated.exclude(events__kind=SlaEvent.Kind.ESCALATED).exists()
    # At most the policy's reassignments on breach per stay in the queue, then one escalation.
    reassigned = Counter(
        SlaEvent.objects.filter(kind=SlaEvent.Kind.REASSIGNED).values_list("clock__assignment__lead_id", flat=True)
    )
    limit = max(SlaClock.objects.values_list("policy__max_reassignments", flat=True), default=0)
    assert all(count <= limit for count in reassigned.values())
    escalations = SlaEvent.objects.filter(kind=SlaEvent.Kind.ESCALATED)
    assert escalations.count() == escalations.values("clock__assignment__lead").distinct().count()
