"""Reads for the settings pages and the SLA board: query shaping (joins, annotations, counts)
and the plain-words summaries managers read. Writes are in `handoff.services_settings`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import holidays as holidays_lib
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_countries import countries as all_countries

from crm.roles import Role
from handoff import services
from handoff.business_time import Calendar, CalendarError
from handoff.models import (
    TIMEFRAME_MONTHS,
    Assignment,
    AuthorityRole,
    BreachAction,
    BudgetStatus,
    BusinessCalendar,
    ClosedDay,
    QualificationPolicy,
    ReasonUse,
    RejectionReason,
    ReviewClock,
    ReviewPolicy,
    RoutingRule,
    SlaClock,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
    Timeframe,
)
from leads.models import Channel, Lead, Segment

User = get_user_model()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def person(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


# --- Reference data: time zones, holiday countries and subdivisions ----------------------------


@lru_cache(maxsize=1)
def time_zone_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """IANA time zones grouped by region for a <select> with optgroups; UTC first."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/")):
            continue  # legacy aliases (EST, US/Eastern style names stay out of the list, not out of the data)
        region = name.split("/", 1)[0]
        if region in ("US", "Canada", "Brazil", "Chile", "Mexico"):
            continue
        groups[region].append((name, name.split("/", 1)[1].replace("_", " ")))
    return [("", [("UTC", "UTC")]), *sorted(groups.items())]


@lru_cache(maxsize=1)
def holiday_countries() -> list[tuple[str, str]]:
    """Countries the holidays library has public holidays for, by name."""
    supported = holidays_lib.list_supported_countries(include_aliases=False)
    names = dict(all_countries)
    return sorted(((code, str(names[code])) for code in supported if code in names), key=lambda c: c[1])


@lru_cache(maxsize=512)
def holiday_subdivisions(country: str) -> dict[str, str]:
    """The subdivisions (code -> name) the holidays library knows for a country; {} if none."""
    if not country:
        return {}
    try:
        data = holidays_lib.country_holidays(country)
    except NotImplementedError:
        return {}
    names: dict[str, str] = {}
    for alias, code in getattr(data, "subdivisions_aliases", {}).items():
        if code not in names and any(ch.islower() for ch in alias):
            names[code] = alias
    return {code: names.get(code, code) for code in data.subdivisions}


def holiday_subdivision_map() -> dict[str, list[list[str]]]:
    """Every supported country's subdivisions, for the calendar editor's dependent select."""
    return {
        code: [[sub, name] for sub, name in holiday_subdivisions(code).items()]
        for code, _ in holiday_countries()
        if holiday_subdivisions(code)
    }


# --- Settings home -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    rules_active: int
    rules_total: int
    teams: int
    reps_active: int
    reps_away: int
    policies_active: int
    calendars: int
    reasons_active: int
    reasons_total: int
    qualification: list[str]


def settings_overview(*, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    rules = RoutingRule.objects.aggregate(total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    reps = TeamMembership.objects.filter(is_active=True, rep__is_active=True).aggregate(
        active=Count("rep", distinct=True), away=Count("rep", distinct=True, filter=Q(away_until__gt=now))
    )
    reasons = RejectionReason.objects.aggregate(total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    return Overview(
        rules_active=rules["active"],
        rules_total=rules["total"],
        teams=Team.objects.count(),
        reps_active=reps["active"],
        reps_away=reps["away"],
        policies_active=SlaPolicy.objects.filter(is_active=True).count(),
        calendars=BusinessCalendar.objects.count(),
        reasons_active=reasons["active"],
        reasons_total=reasons["total"],
        qualification=qualification_summary(services.qualification_policy()),
    )


# --- Routing -----------------------------------------------------------------------------------


def _labels(values: Iterable[str], choices: Any) -> str:
    labels = dict(choices)
    return ", ".join(str(labels.get(v, v)) for v in values)


def rule_conditions(rule: RoutingRule) -> list[str]:
    """The rule's conditions in words; a rule without conditions takes every lead."""
    parts = []
    if rule.segments:
        parts.append(f"Segment: {_labels(rule.segments, Segment.choices)}")
    if rule.countries:
        parts.append(f"Country: {_labels(rule.countries, all_countries)}")
    if rule.channels:
        parts.append(f"Channel: {_labels(rule.channels, Channel.choices)}")
    if rule.hot_only:
        parts.append("Hot leads only")
    return parts


@dataclass
class RuleRow:
    rule: RoutingRule
    conditions: list[str]
    shadowed_by: RoutingRule | None = None
    is_first: bool = False
    is_last: bool = False


def routing_rules() -> list[RuleRow]:
    """Rules in order, with their conditions in words and, for an active rule that can never
    match, the active catch-all rule above it."""
    rules = list(RoutingRule.objects.select_related("team", "sla_policy").order_by("position", "id"))
    rows, catch_all = [], None
    for index, rule in enumerate(rules):
        conditions = rule_conditions(rule)
        row = RuleRow(rule, conditions, catch_all if rule.is_active else None, index == 0, index == len(rules) - 1)
        if rule.is_active and not conditions and catch_all is None:
            catch_all = rule
        rows.append(row)
    return rows


def routing_fallback_team() -> Team | None:
    """Where `lead_hand_off` sends a lead no rule matches: the first team created."""
    return Team.objects.order_by("id").first()


@dataclass
class RuleCheck:
    rule: RoutingRule
    misses: list[str]

    @property
    def matches(self) -> bool:
        return not self.misses


@dataclass
class RoutingPreview:
    lead: Lead
    facts: list[tuple[str, str]]
    checks: list[RuleCheck]
    rule: RoutingRule | None
    team: Team | None
    policy: SlaPolicy | None
    next_rep: str = ""
    problems: list[str] = field(default_factory=list)
    # Whether it would be handed off by itself (handoff.automation.lead_handoff_preview) and why.
    automatic: bool = False
    handoff: str = ""  # "Hands off by itself — routing rule “X”" / "Waits for marketing review"
    handoff_detail: str = ""


def routing_lead_lookup(query: str) -> Lead | None:
    """A lead by id or exact email address."""
    query = (query or "").strip()
    leads = Lead.objects.select_related("company")
    if query.isdigit():
        return leads.filter(pk=int(query)).first()
    if "@" in query:
        return leads.filter(email=query.lower()).first()
    return None


def _rule_misses(rule: RoutingRule, lead: Lead, segment: str, country: str) -> list[str]:
    """Why a rule does not take the lead (the same conditions as `handoff.services.routing_rule_for`)."""
    misses = []
    if not rule.is_active:
        misses.append("switched off")
    if rule.segments and segment not in rule.segments:
        misses.append(f"segment is {Segment(segment).label if segment else 'unknown'}")
    if rule.countries and country not in rule.countries:
        misses.append(f"country is {all_countries.name(country) if country else 'unknown'}")
    if rule.channels and lead.source_channel not in rule.channels:
        misses.append(f"channel is {lead.get_source_channel_display()}")
    if rule.hot_only and not services.lead_is_hot(lead):
        misses.append("not a hot lead")
    return misses


def routing_preview(lead: Lead, *, now: datetime | None = None) -> RoutingPreview:
    """Which rule, team, SLA policy and rep a hand-off of `lead` would get now. Nothing is written."""
    now = now or timezone.now()
    segment = lead.company.segment if lead.company_id else ""
    country = str(lead.company.country) if lead.company_id else ""
    facts = [
        ("Segment", Segment(segment).label if segment else "Unknown (no company size)"),
        ("Country", all_countries.name(country) if country else "Unknown"),
        ("Channel", lead.get_source_channel_display()),
        ("Hot", "Yes" if services.lead_is_hot(lead) else "No"),
    ]
    rules = RoutingRule.objects.select_related("team", "sla_policy").order_by("position", "id")
    checks = [RuleCheck(rule, _rule_misses(rule, lead, segment, country)) for rule in rules]
    rule = services.routing_rule_for(lead)
    team = rule.team if rule else routing_fallback_team()
    preview = RoutingPreview(lead=lead, facts=facts, checks=checks, rule=rule, team=team, policy=None)
    _describe_handoff(preview, now)
    if team is None:
        preview.problems.append("There is no team yet: hand-offs fail until a manager creates one.")
        return preview
    try:
        preview.policy = services._policy_for(lead, rule, team)
    except ValidationError as exc:
        preview.problems.extend(exc.messages)
    try:
        preview.next_rep = person(services._next_rep(team, now=now).rep)
    except ValidationError as exc:
        preview.problems.extend(exc.messages)
    return preview


def _describe_handoff(preview: RoutingPreview, now: datetime) -> None:
    """By itself or after review, in the words of `handoff.automation` (the drain decides the same way)."""
    from handoff import automation

    decision = automation.lead_handoff_preview(preview.lead, now=now)
    rule, track = decision.rule, decision.fast_track
    preview.automatic = decision.why is not None
    if decision.why is not None:
        preview.handoff = f"Hands off by itself — {decision.why}"
        preview.handoff_detail = (
            "A hot signal from a lead whose fit is not junk goes to sales the moment it arrives, whatever the "
            "rule's mode."
            if track.fast_tracked
            else f"“{rule.name}” hands its leads off automatically, the moment they become MQLs."
            if rule is not None
            else ""
        )
        return
    preview.handoff = "Waits for marketing review in the MQL queue"
    if track.held:
        automatic = f" (even though “{rule.name}” is automatic)" if rule is not None and rule.is_automatic else ""
        preview.handoff_detail = f"Hot, but held for review{automatic}: {track.hold_text}."
    elif rule is not None:
        preview.handoff_detail = f"“{rule.name}” waits for a marketer to hand its leads off."
    else:
        preview.handoff_detail = "No rule matches: leads no rule takes wait for a marketer."
    policy = automation.review_policy()
    preview.handoff_detail += (
        f" Review target: {format_minutes(policy.review_minutes)} of business time ({policy.name})."
        if policy is not None
        else " There is no review target: it may wait as long as nobody reviews it."
    )


# --- Teams -------------------------------------------------------------------------------------


def _open_leads_of_member() -> Subquery:
    """Open assignments of a membership's rep in its team: what `_next_rep` compares to capacity."""
    return Subquery(
        Assignment.objects.filter(is_open=True, team=OuterRef("team"), rep=OuterRef("rep"))
        .order_by()
        .values("rep")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def team_memberships(team: Team) -> list[TeamMembership]:
    """The team's reps with their open-lead count (in this team) and last assignment: one query."""
    return list(
        TeamMembership.objects.filter(team=team)
        .select_related("rep")
        .annotate(open_leads=Coalesce(_open_leads_of_member(), 0))
        .order_by("-is_active", "rep__first_name", "rep__last_name", "rep__username")
    )


def teams_overview() -> list[Team]:
    """Teams with manager, default policy and members (open leads and capacity annotated)."""
    from django.db.models import Prefetch

    members = (
        TeamMembership.objects.select_related("rep")
        .annotate(open_leads=Coalesce(_open_leads_of_member(), 0))
        .order_by("-is_active", "rep__first_name", "rep__username")
    )
    return list(
        Team.objects.select_related("manager", "default_sla_policy")
        .prefetch_related(Prefetch("memberships", queryset=members, to_attr="members"))
        .annotate(rule_count=Count("routing_rules", distinct=True))
        .order_by("name")
    )


def sdr_choices(*, exclude_team: Team | None = None) -> QuerySet:
    """Active users with the SDR role, not yet in `exclude_team`."""
    users = User.objects.filter(is_active=True, groups__name=Role.SDR.value).distinct()
    if exclude_team is not None:
        users = users.exclude(team_memberships__team=exclude_team)
    return users.order_by("first_name", "last_name", "username")


def manager_choices() -> QuerySet:
    return (
        User.objects.filter(is_active=True, groups__name=Role.MANAGER.value)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


# --- SLA policies and calendars ----------------------------------------------------------------


def format_minutes(minutes: float) -> str:
    """90 -> "1 h 30 min"; 2400 -> "40 h"."""
    minutes = round(minutes)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{rest} min"


@dataclass
class PolicyRow:
    policy: SlaPolicy
    target: str
    used_by: list[str]
    special: str
    running: int

    @property
    def escalation(self) -> str:
        return reassignment_words(self.policy)


def reassignment_words(policy: SlaPolicy) -> str:
    """How far breaches reassign before the manager decides ("" when the policy does not reassign)."""
    if policy.breach_action == BreachAction.NOTIFY:
        return ""
    times = policy.max_reassignments
    if times == 0:
        return "Never reassigned: the first breach escalates to the manager"
    count = "once" if times == 1 else f"{times} times"
    return f"Reassign on breach at most {count}, then escalate to the manager"


def sla_policies() -> list[PolicyRow]:
    from handoff.services_settings import SPECIAL_POLICY_NAMES

    running = Q(clocks__first_touch_at__isnull=True, clocks__stopped_at__isnull=True, clocks__assignment__is_open=True)
    policies = list(
        SlaPolicy.objects.select_related("calendar")
        .annotate(running=Count("clocks", filter=running))
        .order_by("-is_active", "first_touch_minutes", "name")
    )
    used: dict[int, list[str]] = defaultdict(list)
    for name, policy_id in Team.objects.filter(default_sla_policy__isnull=False).values_list(
        "name", "default_sla_policy"
    ):
        used[policy_id].append(f"team {name}")
    for name, policy_id in RoutingRule.objects.filter(sla_policy__isnull=False).values_list("name", "sla_policy"):
        used[policy_id].append(f"rule “{name}”")
    return [
        PolicyRow(p, format_minutes(p.first_touch_minutes), used[p.pk], SPECIAL_POLICY_NAMES.get(p.name, ""), p.running)
        for p in policies
    ]


@dataclass(frozen=True)
class ReviewOverview:
    """The marketing-side commitment on the SLA page: the active review policy (None: no target),
    and the MQLs in the queue now under a due time, and how many of them are past it."""

    policy: ReviewPolicy | None
    waiting: int
    overdue: int

    @property
    def target(self) -> str:
        return format_minutes(self.policy.review_minutes) if self.policy else ""


def review_overview(*, now: datetime | None = None) -> ReviewOverview:
    """Two queries: the active policy with its calendar, and the open review clocks counted."""
    now = now or timezone.now()
    policy = ReviewPolicy.objects.filter(is_active=True).select_related("calendar").first()
    counts = ReviewClock.objects.filter(ended_at__isnull=True, due_at__isnull=False).aggregate(
        waiting=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now))
    )
    return ReviewOverview(policy, counts["waiting"], counts["overdue"])


def hours_summary(hours: dict[str, Any]) -> str:
    """{"0": [["09:00","17:00"]], … "4": …} -> "Mon–Fri 09:00–17:00"."""
    runs: list[tuple[int, int, str]] = []
    for day in range(7):
        windows = (hours or {}).get(str(day)) or []
        text = ", ".join(f"{start}–{end}" for start, end in windows)
        if runs and runs[-1][2] == text and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day, text)
        else:
            runs.append((day, day, text))
    parts = []
    for first, last, text in runs:
        if not text:
            continue
        days = WEEKDAYS_SHORT[first] if first == last else f"{WEEKDAYS_SHORT[first]}–{WEEKDAYS_SHORT[last]}"
        parts.append(f"{days} {text}")
    return "; ".join(parts) or "Never open"


@dataclass
class CalendarRow:
    calendar: BusinessCalendar
    hours: str
    holidays: str
    policies: list[str]
    upcoming_closed: int


def calendars(*, today: date | None = None) -> list[CalendarRow]:
    today = today or timezone.localdate()
    rows = (
        BusinessCalendar.objects.annotate(upcoming=Count("closed_days", filter=Q(closed_days__date__gte=today)))
        .prefetch_related("policies", "review_policies")
        .order_by("name")
    )
    return [
        CalendarRow(
            calendar,
            hours_summary(calendar.hours),
            holiday_label(calendar),
            [
                *(p.name for p in calendar.policies.all()),
                *(p.name for p in calendar.review_policies.all() if p.is_active),
            ],
            calendar.upcoming,
        )
        for calendar in rows
    ]


def holiday_label(calendar: BusinessCalendar) -> str:
    if not calendar.holiday_country:
        return "No public holidays"
    country = str(calendar.holiday_country.name)
    if calendar.holiday_subdivision:
        sub = holiday_subdivisions(str(calendar.holiday_country)).get(calendar.holiday_subdivision)
        return f"{country} — {sub or calendar.holiday_subdivision}"
    return country


@dataclass(frozen=True)
class ClosedDayAhead:
    day: date
    label: str
    kind: str  # "holiday" or "custom"
    closed_day_id: int | None = None


def closed_days_ahead(
    calendar: BusinessCalendar, *, today: date | None = None, limit: int = 10
) -> list[ClosedDayAhead]:
    """The next `limit` working days the calendar skips: public holidays and custom closed days
    that fall on a day with working hours (a holiday on a closed weekend changes nothing)."""
    try:
        tz = Calendar.build(time_zone=calendar.time_zone, hours={}).tz
    except CalendarError:
        tz = None
    today = today or timezone.localdate(timezone=tz)
    open_weekdays = {int(day) for day, windows in (calendar.hours or {}).items() if windows}
    found: dict[date, ClosedDayAhead] = {}
    if calendar.holiday_country:
        try:
            public = holidays_lib.country_holidays(
                str(calendar.holiday_country),
                subdiv=calendar.holiday_subdivision or None,
                years=[today.year, today.year + 1, today.year + 2],
            )
        except NotImplementedError:
            public = {}
        for day, name in public.items():
            if day >= today:
                found[day] = ClosedDayAhead(day, name, "holiday")
    for closed in ClosedDay.objects.filter(calendar=calendar, date__gte=today):
        found[closed.date] = ClosedDayAhead(closed.date, closed.label or "Closed", "custom", closed.pk)
    ahead = [entry for day, entry in sorted(found.items()) if day.weekday() in open_weekdays]
    return ahead[:limit]


@dataclass(frozen=True)
class DuePreview:
    label: str
    minutes: int
    due: datetime
    warn: datetime | None = None
    is_example: bool = False

    @property
    def target(self) -> str:
        return format_minutes(self.minutes)


def due_previews(calendar: BusinessCalendar, *, now: datetime | None = None) -> tuple[list[DuePreview], str]:
    """When a lead handed off now would be due under each active policy on this calendar (or a
    one-hour example when none uses it), in the calendar's time zone. Returns (previews, error)."""
    now = now or timezone.now()
    try:
        business = Calendar.from_model(calendar)
        targets = [
            (p.name, p.first_touch_minutes, p.warn_at_percent)
            for p in calendar.policies.filter(is_active=True).order_by("first_touch_minutes")
        ] or [("A one-hour target", 60, None)]
        previews = []
        for label, minutes, warn_percent in targets:
            due = business.add_minutes(now, minutes).astimezone(business.tz)
            warn = None
            if warn_percent:
                warn = business.add_minutes(now, minutes * warn_percent / 100).astimezone(business.tz)
            previews.append(DuePreview(label, minutes, due, warn, is_example=warn_percent is None))
        return previews, ""
    except CalendarError as exc:
        return [], str(exc)


def calendar_local_now(calendar: BusinessCalendar, *, now: datetime | None = None) -> datetime | None:
    try:
        return (now or timezone.now()).astimezone(Calendar.build(time_zone=calendar.time_zone, hours={}).tz)
    except CalendarError:
        return None


# --- Qualification policy ----------------------------------------------------------------------


def _or_list(words: list[str], conjunction: str = "or") -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def qualification_summary(policy: QualificationPolicy) -> list[str]:
    """What counts as qualified, in the words of `handoff.services.qualification_failures`."""
    lines = []
    budgets = policy.accepted_budget_statuses or []
    if budgets and set(budgets) != set(BudgetStatus.values):
        lines.append(f"Budget: {_or_list([BudgetStatus(b).label.lower() for b in budgets])}.")
    else:
        lines.append("Budget: any answer.")
    if policy.min_budget_amount is not None:
        lines.append(
            f"Budget amount: at least {policy.min_budget_amount:,.0f} (in the currency the rep records; "
            "amounts are not converted)."
        )
    roles = policy.accepted_authority_roles or []
    if roles and set(roles) != set(AuthorityRole.values):
        lines.append(f"Authority: the contact is a {_or_list([AuthorityRole(r).label.lower() for r in roles])}.")
    else:
        lines.append("Authority: any role in the decision.")
    if policy.max_timeframe_months is not None:
        fits = [
            Timeframe(code).label.lower()
            for code, months in TIMEFRAME_MONTHS.items()
            if months is not None and months <= policy.max_timeframe_months
        ]
        months = policy.max_timeframe_months
        timing = f"Timing: a decision within {months} month{'s' if months != 1 else ''}"
        lines.append(
            f"{timing} ({_or_list(fits) if fits else 'no timeframe on the form is that short'}), "
            f"with an expected decision date no more than {policy.max_timeframe_months * 31} days away."
        )
    else:
        lines.append("Timing: any timeframe.")
    return lines


def qualification_refusals(policy: QualificationPolicy, *, today: date | None = None) -> list[str]:
    """What an SDR is told for a weak call under this policy (an illustration, computed by
    `handoff.services.qualification_failures` itself)."""
    today = today or timezone.localdate()
    weak = {
        "budget_status": BudgetStatus.UNKNOWN,
        "budget_amount": None,
        "authority_role": AuthorityRole.END_USER,
        "timeframe": Timeframe.LATER,
        "expected_decision_date": today + timedelta(days=500),
    }
    return services.qualification_failures(weak, policy, today)


# --- Rejection reasons -------------------------------------------------------------------------


def rejection_reasons() -> list[RejectionReason]:
    """The managed list in order, with how many rejections (marketing and sales) cite each reason."""
    return list(RejectionReason.objects.annotate(times_used=Count("rejections")).order_by("position", "label", "id"))


REASON_USE_TONES = {ReasonUse.RECYCLE: "teal", ReasonUse.DISQUALIFY: "danger", ReasonUse.BOTH: "secondary"}


# --- The SLA board -----------------------------------------------------------------------------

BOARD_ORDER = (
    SlaStatus.BREACHED,
    SlaStatus.AT_RISK,
    SlaStatus.ON_TRACK,
    SlaStatus.MET_LATE,
    SlaStatus.MET,
    SlaStatus.STOPPED,
)


def _status_conditions(now: datetime) -> list[tuple[str, Q]]:
    """`SlaClock.status_at` as SQL conditions, first match wins (tests keep the two in step)."""
    touched = Q(first_touch_at__isnull=False)
    running = Q(first_touch_at__isnull=True, stopped_at__isnull=True)
    return [
        (SlaStatus.MET, touched & SlaClock.met_in_time_q()),
        (SlaStatus.MET_LATE, touched),
        (SlaStatus.STOPPED, Q(first_touch_at__isnull=True, stopped_at__isnull=False)),
        (SlaStatus.BREACHED, running & Q(due_at__lte=now)),
        (SlaStatus.AT_RISK, running & Q(warn_at__lte=now)),
        (SlaStatus.ON_TRACK, running),
    ]


def sla_status_annotations(now: datetime) -> dict[str, Any]:
    conditions = _status_conditions(now)
    return {
        "board_status": Case(
            *(When(condition, then=Value(status.value)) for status, condition in conditions),
            default=Value(SlaStatus.ON_TRACK.value),
            output_field=CharField(),
        ),
        "board_rank": Case(
            *(When(condition, then=Value(BOARD_ORDER.index(status))) for status, condition in conditions),
            default=Value(len(BOARD_ORDER)),
            output_field=IntegerField(),
        ),
    }


@dataclass
class BoardFilters:
    team_id: int | None = None
    rep_id: int | None = None
    status: str = ""
    escalated: bool = False  # only leads escalated to the manager, waiting for a decision


# An escalated lead waits for the manager: still open, still untouched, reassignment stopped.
ESCALATED_WAITING = Q(
    escalated_at__isnull=False, first_touch_at__isnull=True, stopped_at__isnull=True, assignment__is_open=True
)


def escalations_waiting() -> int:
    """How many escalated leads wait for a manager's decision."""
    return SlaClock.objects.filter(ESCALATED_WAITING).count()


def sla_board_clocks(filters: BoardFilters, *, now: datetime) -> QuerySet[SlaClock]:
    """Clocks of open assignments, breached first (most overdue first), then at risk, on track,
    met late and met; each group by due time. Everything a row shows is joined."""
    clocks = (
        SlaClock.objects.filter(assignment__is_open=True)
        .select_related("assignment__lead__company", "assignment__rep", "assignment__team", "policy")
        .annotate(**sla_status_annotations(now))
    )
    if filters.team_id:
        clocks = clocks.filter(assignment__team_id=filters.team_id)
    if filters.rep_id:
        clocks = clocks.filter(assignment__rep_id=filters.rep_id)
    if filters.status:
        clocks = clocks.filter(board_status=filters.status)
    if filters.escalated:
        clocks = clocks.filter(ESCALATED_WAITING)
    return clocks.order_by("board_rank", "due_at", "id")


def sla_board_counts(filters: BoardFilters, *, now: datetime) -> dict[str, int]:
    """Open assignments per clock status (team and rep filters apply, the status filter does not),
    and under "escalated" those escalated to the manager and waiting for a decision: one query."""
    counts = dict.fromkeys(BOARD_ORDER, 0)
    counts["escalated"] = 0
    rows = (
        sla_board_clocks(BoardFilters(filters.team_id, filters.rep_id), now=now)
        .order_by()
        .values_list("board_status")
        .annotate(n=Count("pk"), escalated=Count("pk", filter=ESCALATED_WAITING))
    )
    for status, n, escalated in rows:
        counts[SlaStatus(status)] = n
        counts["escalated"] += escalated
    return counts


def sla_board_memberships() -> list[TeamMembership]:
    """Every active rep of every team, for the rep filter and the reassignment menus: one query."""
    return list(
        TeamMembership.objects.filter(is_active=True, rep__is_active=True)
        .select_related("rep", "team")
        .order_by("team__name", "rep__first_name", "rep__last_name", "rep__username")
    )


STATUS_TONES = {
    SlaStatus.BREACHED: "danger",
    SlaStatus.AT_RISK: "warning",
    SlaStatus.ON_TRACK: "info",
    SlaStatus.MET_LATE: "purple",
    SlaStatus.MET: "success",
    SlaStatus.STOPPED: "secondary",
}
STATUS_ICONS = {
    SlaStatus.BREACHED: "exclamation-octagon",
    SlaStatus.AT_RISK: "hourglass-split",
    SlaStatus.ON_TRACK: "clock",
    SlaStatus.MET_LATE: "check2-circle",
    SlaStatus.MET: "check2-circle",
    SlaStatus.STOPPED: "stop-circle",
}


def duration_words(delta: timedelta) -> str:
    """A wall-clock duration, roughly: "2 d 3 h", "1 h 5 min", "12 min", "under a minute"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 60 * 24)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"


@dataclass
class BoardRow:
    clock: SlaClock
    assignment: Assignment
    status: str
    status_label: str
    remaining: timedelta
    reassign_to: list[tuple[int, str, str]]  # (rep id, name, note)

    @property
    def tone(self) -> str:
        return STATUS_TONES[SlaStatus(self.status)]

    @property
    def icon(self) -> str:
        return STATUS_ICONS[SlaStatus(self.status)]

    @property
    def is_running(self) -> bool:
        return self.status in (SlaStatus.ON_TRACK, SlaStatus.AT_RISK, SlaStatus.BREACHED)

    @property
    def needs_decision(self) -> bool:
        """Escalated to the manager after the reassignments its policy allows: no more automatic moves."""
        return self.clock.escalated_at is not None and self.is_running

    @property
    def due_words(self) -> str:
        if self.status == SlaStatus.MET:
            return "touched in time"
        if self.status == SlaStatus.MET_LATE:
            clock = self.clock
            late = clock.first_touch_at - clock.due_at
            if late.total_seconds() > 0:
                words = f"touched {duration_words(late)} late"
            else:  # a touch back-dated into the window, logged after the due time
                logged = (clock.touch_recorded_at or clock.first_touch_at) - clock.due_at
                words = f"touch logged {duration_words(logged)} late"
            if clock.breached_at is not None:
                words += f" · breached {timezone.localtime(clock.breached_at):%a %d %b %H:%M}"
            return words
        if self.status == SlaStatus.STOPPED:
            return "stopped"
        if self.remaining.total_seconds() <= 0:
            return f"overdue by {duration_words(self.remaining)}"
        return f"due in {duration_words(self.remaining)}"


def sla_board_rows(clocks: Iterable[SlaClock], memberships: list[TeamMembership], *, now: datetime) -> list[BoardRow]:
    by_team: dict[int, list[TeamMembership]] = defaultdict(list)
    for member in memberships:
        by_team[member.team_id].append(member)
    rows = []
    for clock in clocks:
        assignment = clock.assignment
        status = clock.status_at(now)
        choices = [
            (
                m.rep_id,
                person(m.rep),
                f"away until {timezone.localtime(m.away_until):%a %d %b}" if m.is_away(now) else "",
            )
            for m in by_team.get(assignment.team_id, [])
            if m.rep_id != assignment.rep_id
        ]
        rows.append(BoardRow(clock, assignment, status, SlaStatus(status).label, clock.due_at - now, choices))
    return rows
