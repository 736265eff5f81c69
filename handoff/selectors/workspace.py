"""Reads for the SDR workspace: "My leads", the handoff brief of one lead, and the lead-page panel.

Every read is shaped here (joins, limits, ordering) so the pages run a fixed number of queries
whatever the number of rows. SLA status is derived from the clock's timestamps at read time
(`SlaClock.status_at`), never from what the sweep has recorded, so the page is right even when
workers lag.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, Count, FilteredRelation, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from handoff import services
from handoff.models import (
    Assignment,
    AuthorityRole,
    BudgetStatus,
    DiscoveryCall,
    Opportunity,
    OpportunityStatus,
    QualificationPolicy,
    RejectionReason,
    SlaClock,
    SlaStatus,
    TeamMembership,
)
from leads.lifecycle import Stage
from leads.models import Activity, Lead
from leads.scoring import SENIORITY_CHOICES, seniority_of

# "My leads" is a bounded list, most urgent first: an SDR holds at most their capacity
# (50 by default); a manager looking at a whole team is told when there are more.
MY_LEADS_LIMIT = 200
TIMELINE_LIMIT = 50
TOPIC_ACTIVITY_LIMIT = 200
TOPIC_LIMIT = 6
CALLS_LIMIT = 10
RUNNING_CLOCK = Q(clock__first_touch_at__isnull=True, clock__stopped_at__isnull=True)
# What a row of "My leads" shows (handoff.views.workspace.my_leads_rows and its template), read
# as plain values: up to 200 rows of five joined tables, where model instances cost more than the
# query. The clock's values make an (unsaved) SlaClock, whose status_at() decides the status.
MY_LEADS_ROW_VALUES = (
    "id",
    "lead_id",
    "assigned_at",
    "lead__email",
    "lead__first_name",
    "lead__last_name",
    "lead__job_title",
    "lead__source_channel",
    "lead__source_detail",
    "lead__stage",
    "lead__fit_score",
    "lead__engagement_score",
    "lead__hot_signal_at",
    "lead__company__name",
    "lead__company__size",
    "lead__company__country",  # the code as stored
    "lead__campaign__name",
)
MY_LEADS_CLOCK_VALUES = (
    "id", "started_at", "warn_at", "due_at", "first_touch_at", "touch_recorded_at", "stopped_at", "breached_at",
)  # fmt: skip
# What a manager's rows add: whose lead it is, in which team.
MY_LEADS_REP_VALUES = ("rep__username", "rep__first_name", "rep__last_name", "team__name")

# Stages at which each action is offered (the services have the final word).
TOUCH_STAGES = frozenset({Stage.MQL, Stage.SAL})
CALL_STAGES = frozenset({Stage.MQL, Stage.SAL})
REJECT_STAGES = frozenset({Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY})
ADVANCE_TO: dict[str, Stage] = {Stage.SQL: Stage.OPPORTUNITY, Stage.OPPORTUNITY: Stage.CUSTOMER}


# --- who may do what ---------------------------------------------------------------------------


def can_act(user: AbstractBaseUser, lead: Lead, open_assignment: Assignment | None) -> bool:
    """`services.can_act_on` without its extra query: the caller already has the open assignment."""
    if open_assignment is None:
        return user.has_perm("handoff.act_on_any_lead")
    return services.can_act_on(user, lead, open_assignment)


def can_view(user: AbstractBaseUser, lead: Lead, open_assignment: Assignment | None) -> bool:
    """Who may open a lead's workspace page: whoever may act on it, and the rep who owns it once
    sales has it (after conversion the assignment is closed but the rep still works the deal)."""
    if can_act(user, lead, open_assignment):
        return True
    return (
        user.has_perm("handoff.work_leads")
        and open_assignment is None
        and lead.owner_id is not None
        and lead.owner_id == user.pk
    )


def can_advance(user: AbstractBaseUser, lead: Lead) -> bool:
    """Mirrors `services.lead_advance`: the lead's owner (an SDR) or a manager."""
    if lead.stage not in ADVANCE_TO:
        return False
    return user.has_perm("handoff.act_on_any_lead") or (
        lead.owner_id == user.pk and user.has_perm("handoff.work_leads")
    )


# --- "My leads" -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepOption:
    id: int
    name: str
    team: str


@dataclass
class WorkspaceScope:
    """Whose open assignments the list shows. SDRs: their own. Managers: their teams by default,
    one rep (`?rep=<id>`) or everyone (`?rep=all`)."""

    is_manager: bool
    rep_param: str = ""
    rep: RepOption | None = None
    team_ids: list[int] | None = None  # None: no team filter
    rep_options: list[RepOption] = field(default_factory=list)
    title: str = "My leads"
    subtitle: str = ""
    error: str = ""


def _display_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def workspace_scope(*, user: AbstractBaseUser, rep_param: str = "") -> WorkspaceScope:
    if not user.has_perm("handoff.act_on_any_lead"):
        me = RepOption(user.pk, _display_name(user), "")
        return WorkspaceScope(
            is_manager=False,
            rep=me,
            subtitle="Your open leads, most urgent first: breached, then the soonest due.",
        )
    memberships = list(
        TeamMembership.objects.filter(is_active=True, rep__is_active=True)
        .select_related("rep", "team")
        .order_by("team__name", "rep__first_name", "rep__last_name", "rep__username")
    )
    managed = sorted({m.team_id for m in memberships if m.team.manager_id == user.pk})
    options = [RepOption(m.rep_id, _display_name(m.rep), m.team.name) for m in memberships]
    scope = WorkspaceScope(is_manager=True, rep_param=rep_param, rep_options=options)
    rep_param = rep_param.strip()
    if rep_param and rep_param != "all":
        chosen = next((o for o in options if str(o.id) == rep_param), None)
        if chosen is not None:
            scope.rep = chosen
            scope.title = f"{chosen.name}'s leads"
            scope.subtitle = f"Open leads assigned to {chosen.name}, most urgent first."
            return scope
        scope.error = "That rep is not in any team: showing your teams' leads instead."
        scope.rep_param = ""
    if rep_param == "all" or not managed:
        scope.title = "All open leads"
        scope.subtitle = "Every open assignment in every team, most urgent first."
        scope.rep_param = "all" if rep_param == "all" else ""
        return scope
    scope.team_ids = managed
    names = sorted({m.team.name for m in memberships if m.team_id in managed})
    scope.title = "Team leads"
    scope.subtitle = f"Open leads of {', '.join(names)}, most urgent first."
    return scope


def _scoped_assignments(scope: WorkspaceScope) -> QuerySet[Assignment]:
    queryset = Assignment.objects.filter(is_open=True)
    if scope.rep is not None:
        queryset = queryset.filter(rep_id=scope.rep.id)
    elif scope.team_ids is not None:
        queryset = queryset.filter(team_id__in=scope.team_ids)
    return queryset


@dataclass
class WorkRow:
    """One open assignment of "My leads": `values` are MY_LEADS_ROW_VALUES (and the rep's, for a
    manager) by name, `clock` its SLA clock (unsaved, from the same row) and its status now."""

    values: dict[str, Any]
    clock: SlaClock | None
    status: str

    @property
    def lead_id(self) -> int:
        return self.values["lead_id"]


@dataclass
class MyLeads:
    rows: list[WorkRow]
    total: int
    counts: dict[str, int]
    now: datetime

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def my_leads(*, scope: WorkspaceScope, now: datetime | None = None, limit: int = MY_LEADS_LIMIT) -> MyLeads:
    """Open assignments in scope, running clocks first (breached, then the soonest due), then the
    leads already touched; with the counts by SLA status. Two queries, each read from indexes
    however many leads the scope holds:

    - the counts join the open assignments (assignment_open_rep_id) to their running clocks
      (sla_running_by_due) from the indexes alone; an open assignment's clock is running or
      touched, as only ending the assignment stops it untouched (services._end_assignment), so
      the touched ones are the rest;
    - the rows: when the running clocks fill the page, they are read in due order from
      sla_running_by_due, stopping at `limit`; otherwise the few running ones and the touched
      ones are sorted together.
    """
    now = now or timezone.now()
    base = _scoped_assignments(scope)
    counts = base.annotate(running=FilteredRelation("clock", condition=RUNNING_CLOCK)).aggregate(
        total=Count("id"),
        breached=Count("running__due_at", filter=Q(running__due_at__lte=now)),
        at_risk=Count("running__due_at", filter=Q(running__warn_at__lte=now, running__due_at__gt=now)),
        on_track=Count("running__due_at", filter=Q(running__warn_at__gt=now)),
    )
    total = counts.pop("total")
    counts["touched"] = total - sum(counts.values())
    names = MY_LEADS_ROW_VALUES + tuple(f"clock__{name}" for name in MY_LEADS_CLOCK_VALUES)
    if scope.is_manager:
        names += MY_LEADS_REP_VALUES
    if total - counts["touched"] >= limit:
        # An inner join with exactly the index's condition, so the index drives the read.
        rows_qs = base.filter(RUNNING_CLOCK, clock__isnull=False).order_by("clock__due_at", "assigned_at", "id")
    else:
        rows_qs = base.annotate(
            running_rank=Case(When(RUNNING_CLOCK, then=Value(0)), default=Value(1), output_field=IntegerField())
        ).order_by("running_rank", "clock__due_at", "assigned_at", "id")
    rows = []
    for values in rows_qs.values(*names)[:limit]:
        clock = None
        if values["clock__id"] is not None:
            clock = SlaClock(**{name: values[f"clock__{name}"] for name in MY_LEADS_CLOCK_VALUES})
        rows.append(WorkRow(values, clock, clock.status_at(now) if clock else ""))
    return MyLeads(rows=rows, total=total, counts=counts, now=now)


def _clock_of(assignment: Assignment) -> SlaClock | None:
    try:
        return assignment.clock
    except SlaClock.DoesNotExist:
        return None


# --- the handoff brief ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    count: int


@dataclass(frozen=True)
class Contribution:
    label: str
    points: int

    @property
    def width(self) -> int:
        """A bar width in percent of 40 points, in steps of 5 (a `cbar-<n>` class in workspace.css)."""
        return max(5, min(100, 5 * round(abs(self.points) * 100 / 40 / 5)))


@dataclass(frozen=True)
class Criterion:
    letter: str
    title: str
    text: str


@dataclass
class Brief:
    lead: Lead
    assignment: Assignment | None  # the open one, else the latest
    clock: SlaClock | None
    status: str
    seniority: str
    topics: list[Topic]
    fit: list[Contribution]
    engagement: list[Contribution]
    timeline: list[Activity]
    calls: list[DiscoveryCall]
    opportunity: Opportunity | None
    reasons: list[RejectionReason]
    policy: QualificationPolicy
    criteria: list[Criterion]
    now: datetime
    open_assignment: Assignment | None = None
    permissions: dict[str, bool] = field(default_factory=dict)

    @property
    def timeline_truncated(self) -> bool:
        return len(self.timeline) >= TIMELINE_LIMIT


def work_lead(*, lead_id: int) -> Lead:
    """The lead with what the brief shows joined in. Raises Lead.DoesNotExist."""
    return Lead.objects.select_related("company", "campaign", "owner").get(pk=lead_id)


def lead_assignment(*, lead: Lead) -> Assignment | None:
    """The open assignment, else the latest one, with its rep, team and clock: one query."""
    return (
        Assignment.objects.filter(lead=lead)
        .select_related("rep", "team", "clock", "clock__policy")
        .order_by("-is_open", "-assigned_at", "-id")
        .first()
    )


def lead_calls(*, lead: Lead, limit: int = CALLS_LIMIT) -> list[DiscoveryCall]:
    return list(lead.discovery_calls.select_related("sdr").order_by("-held_at", "-id")[:limit])


def lead_opportunity(*, lead: Lead) -> Opportunity | None:
    """The lead's opportunity in play: the open one, or the one it won. One lost when the lead
    left sales is history (the API lists it); a lead qualified again shows its new one."""
    return Opportunity.objects.select_related("owner").filter(lead=lead).exclude(status=OpportunityStatus.LOST).first()


def top_topics(*, lead: Lead, limit: int = TOPIC_LIMIT) -> list[Topic]:
    """Topics of the lead's recent content downloads, most frequent first (ties: most recent)."""
    recent = (
        Activity.objects.filter(lead=lead, type_id="content_download")
        .order_by("-occurred_at", "-id")
        .values_list("properties", flat=True)[:TOPIC_ACTIVITY_LIMIT]
    )
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    names: dict[str, str] = {}
    for position, properties in enumerate(recent):
        topic = properties.get("topic") if isinstance(properties, dict) else None
        if not isinstance(topic, str) or not topic.strip():
            continue
        key = topic.strip().casefold()
        counts[key] += 1
        first_seen.setdefault(key, position)
        names.setdefault(key, topic.strip())
    ordered = sorted(counts, key=lambda key: (-counts[key], first_seen[key]))
    return [Topic(names[key], counts[key]) for key in ordered[:limit]]


def score_contributions(lead: Lead) -> tuple[list[Contribution], list[Contribution]]:
    """The lead's explanation split into fit and engagement parts, biggest first."""
    fit, engagement = [], []
    for part in lead.score_explanation or []:
        if not isinstance(part, dict):
            continue
        item = Contribution(str(part.get("label") or "Rule"), int(part.get("points") or 0))
        (fit if part.get("kind") == "fit" else engagement).append(item)
    key = lambda c: (-abs(c.points), c.label)  # noqa: E731
    return sorted(fit, key=key), sorted(engagement, key=key)


SENIORITY_LABELS = dict(SENIORITY_CHOICES)


def seniority_label(job_title: str) -> str:
    return SENIORITY_LABELS.get(seniority_of(job_title), "") if job_title else ""


def policy_criteria(policy: QualificationPolicy) -> list[Criterion]:
    """What counts as qualified under `policy`, in words, one line per BANT letter."""

    def either(labels: list[str]) -> str:
        return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"

    budget = "Any budget status"
    if policy.accepted_budget_statuses:
        budget = either([_label(BudgetStatus, s) for s in policy.accepted_budget_statuses])
    if policy.min_budget_amount is not None:
        budget += f", at least {_amount(policy.min_budget_amount)}"
    authority = "Any role in the decision"
    if policy.accepted_authority_roles:
        roles = [_label(AuthorityRole, r).lower() for r in policy.accepted_authority_roles]
        authority = f"The contact is a {either(roles)}"
    timing = "Any timeframe"
    if policy.max_timeframe_months is not None:
        timing = f"A decision within {policy.max_timeframe_months} months"
    return [
        Criterion("B", "Budget", budget),
        Criterion("A", "Authority", authority),
        Criterion("N", "Need", "The pain and the use case, in the prospect's words"),
        Criterion("T", "Timing", timing),
    ]


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def _amount(value: Decimal) -> str:
    return f"{value:,.0f}"


def active_reasons() -> list[RejectionReason]:
    return list(RejectionReason.objects.filter(is_active=True).order_by("position", "label"))


def lead_brief(*, lead: Lead, user: AbstractBaseUser, now: datetime | None = None) -> Brief:
    """Everything the handoff brief shows, in a fixed number of queries."""
    now = now or timezone.now()
    assignment = lead_assignment(lead=lead)
    open_assignment = assignment if assignment is not None and assignment.is_open else None
    clock = _clock_of(assignment) if assignment else None
    fit, engagement = score_contributions(lead)
    policy = services.qualification_policy()
    acting = can_act(user, lead, open_assignment)
    permissions = {
        "act": acting,
        "touch": acting and lead.stage in TOUCH_STAGES,
        "accept": acting and open_assignment is not None and lead.stage == Stage.MQL,
        "reject": acting and lead.stage in REJECT_STAGES,
        "call": acting and lead.stage in CALL_STAGES,
        "advance": can_advance(user, lead),
    }
    return Brief(
        lead=lead,
        assignment=assignment,
        open_assignment=open_assignment,
        clock=clock,
        status=clock.status_at(now) if clock else "",
        seniority=seniority_label(lead.job_title),
        topics=top_topics(lead=lead),
        fit=fit,
        engagement=engagement,
        timeline=list(lead.activities.select_related("type").order_by("-occurred_at", "-id")[:TIMELINE_LIMIT]),
        calls=lead_calls(lead=lead),
        opportunity=lead_opportunity(lead=lead),
        reasons=active_reasons() if permissions["reject"] else [],
        policy=policy,
        criteria=policy_criteria(policy),
        now=now,
        permissions=permissions,
    )


# --- the lead-page panel -------------------------------------------------------------------------


@dataclass
class Panel:
    lead: Lead
    assignment: Assignment | None
    clock: SlaClock | None
    status: str
    calls: list[DiscoveryCall]
    opportunity: Opportunity | None
    can_open: bool
    can_act: bool
    now: datetime
    waiting: Any = None  # for an MQL in the queue: its hand-off preview and review clock (WaitingMql)


@dataclass(frozen=True)
class WaitingMql:
    route: str  # the rule that would take it, and whether it waits for review
    hold: str  # why a hot lead is held for review, if it is
    review_due_at: datetime | None
    handoff_error: str


def waiting_mql(*, lead: Lead, now: datetime) -> WaitingMql:
    """How an MQL nobody holds yet is on its way to sales: three queries (rules, review clock,
    hand-off request); the scoring model only for a hot lead."""
    from handoff import automation
    from handoff.models import HandoffRequest, ReviewClock

    decision = automation.lead_handoff_preview(lead, now=now)
    team = decision.team.name if decision.team else "no team"
    rule = decision.rule.name if decision.rule else f"no rule matches, so {team}"
    mode = "it is being handed off automatically" if decision.why else "it waits for a marketer's review"
    clock = ReviewClock.objects.filter(lead=lead, ended_at__isnull=True).first()
    request = HandoffRequest.objects.filter(lead=lead).exclude(last_error="").first()
    return WaitingMql(
        route=f"Routing: {rule} (team {team}); {mode}.",
        hold=decision.fast_track.hold_text if decision.fast_track.held else "",
        review_due_at=clock.due_at if clock else None,
        handoff_error=request.last_error if request else "",
    )


def lead_panel(*, lead: Lead, user: AbstractBaseUser, now: datetime | None = None) -> Panel:
    """The handoff facts of one lead for its page: three queries (assignment with its clock,
    discovery calls, opportunity); the permission checks use the user's cached permissions."""
    now = now or timezone.now()
    assignment = lead_assignment(lead=lead)
    open_assignment = assignment if assignment is not None and assignment.is_open else None
    clock = _clock_of(assignment) if assignment else None
    return Panel(
        lead=lead,
        assignment=assignment,
        clock=clock,
        status=clock.status_at(now) if clock else "",
        calls=lead_calls(lead=lead, limit=5),
        opportunity=lead_opportunity(lead=lead),
        can_open=can_view(user, lead, open_assignment),
        can_act=can_act(user, lead, open_assignment),
        now=now,
        waiting=waiting_mql(lead=lead, now=now) if lead.stage == Stage.MQL and open_assignment is None else None,
    )


# --- presentation helpers shared by the pages and the tags ---------------------------------------

SLA_TONES = {
    SlaStatus.ON_TRACK: "on-track",
    SlaStatus.AT_RISK: "at-risk",
    SlaStatus.BREACHED: "breached",
    SlaStatus.MET: "met",
    SlaStatus.MET_LATE: "met-late",
    SlaStatus.STOPPED: "stopped",
}


def remaining_text(delta: timedelta) -> str:
    """A countdown the way workspace.js writes it: "2d 03h 15m", "1h 02m 05s", "4m 09s"."""
    seconds = int(abs(delta.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s"
