"""The report pages' reads, assembled once for the pages, the CSV exports and the API.

The numbers come from `reporting.funnel_facts` (the funnel pre-aggregated, equal to the reference
`reporting.funnel.funnel`) and `reporting.selectors` unchanged; this module only labels them
(campaign, team and rep names, in one query each), derives the shares a reader wants next to a
count (within-SLA share per rep, attainment of the whole period), ranks the breakdown rows, and
attaches to each count the lead-list filters that select exactly the leads behind it
(`leads.filters.LeadFilter`; tests/reporting/test_funnel.py proves they match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from handoff.models import ReviewPolicy
from leads.lifecycle import FUNNEL, Stage
from leads.models import Channel, Segment
from reporting import funnel_facts, selectors, services
from reporting.funnel import Mode

# --- The reports and who may read them ---------------------------------------------------------

# Marketers and managers: the funnel, velocity, the marketing side and the feedback loop.
VIEW_REPORTS = "reporting.view_reports"
# Managers: the SLA board and the rep leaderboard (how individual reps perform).
VIEW_TEAM_REPORTS = "reporting.view_team_reports"


@dataclass(frozen=True)
class ReportInfo:
    name: str  # URL name in the "reporting" namespace, and the API's path segment
    title: str
    icon: str  # Bootstrap Icons name
    permission: str
    filters: tuple[str, ...]  # the ReportFilterForm fields it reads


REPORTS: tuple[ReportInfo, ...] = (
    ReportInfo("funnel", "Funnel", "funnel", VIEW_REPORTS, ("period", "mode", "breakdown")),
    ReportInfo("velocity", "Velocity", "speedometer2", VIEW_REPORTS, ("period", "breakdown")),
    ReportInfo("sla", "SLA & speed-to-lead", "stopwatch", VIEW_TEAM_REPORTS, ("period",)),
    ReportInfo("marketing", "MQL volume", "bullseye", VIEW_REPORTS, ("period",)),
    ReportInfo("feedback", "Feedback", "chat-left-quote", VIEW_REPORTS, ("period", "by")),
    ReportInfo("reps", "Reps", "trophy", VIEW_TEAM_REPORTS, ("period",)),
)
REPORTS_BY_NAME = {report.name: report for report in REPORTS}


# --- Labels and drill-downs --------------------------------------------------------------------

NO_GROUP = {
    "channel": "No channel",
    "source": "No source detail",
    "campaign": "No campaign",
    "segment": "Company size unknown",
    "team": "No team",
    "rep": "Unassigned",
}
STAGE_LABELS = {stage.value: stage.label for stage in Stage}
# Rank breakdown rows only when they have enough MQLs for their rate to mean something.
MIN_MQLS_TO_RANK = 5


def breakdown_labels(breakdown: str, keys: list[str]) -> dict[str, str]:
    """A readable name for each breakdown key (at most one query)."""
    names: dict[str, str] = {}
    if breakdown == "channel":
        names = {choice.value: choice.label for choice in Channel}
    elif breakdown == "segment":
        names = {choice.value: choice.label for choice in Segment}
    elif breakdown == "campaign":
        names = selectors.campaign_names(keys)
    elif breakdown == "team":
        names = selectors.team_names(keys)
    elif breakdown == "rep":
        names = selectors.rep_names(keys)
    return {key: (names.get(key) or key) if key else NO_GROUP.get(breakdown, "—") for key in keys}


def _iso(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat()


def group_filter(breakdown: str, key: str) -> dict[str, str] | None:
    """The lead-list filter selecting one breakdown group; None when no filter can (an empty key)."""
    if not breakdown:
        return {}
    if breakdown == "rep":
        return {"owner": key or "null"}  # the owner filter's "Unassigned" choice
    if not key:
        return None
    name = {"channel": "source_channel", "source": "source_detail", "campaign": "campaign", "segment": "segment",
            "team": "team"}[breakdown]  # fmt: skip
    return {name: key}


def stage_filter(*, mode: str, stage: str, start: datetime, end: datetime) -> dict[str, str]:
    """The lead-list filter selecting the leads a funnel count counts (for flow: the distinct
    leads that made the entries)."""
    if mode == Mode.FLOW:
        return {"entered": stage, "entered_after": _iso(start), "entered_before": _iso(end)}
    if mode == Mode.MQL:
        # The MQL cohort starts at MQL: its "lead" count is its MQL count.
        reached = Stage.MQL.value if stage == Stage.LEAD else stage
        return {"mql_after": _iso(start), "mql_before": _iso(end), "reached": reached}
    return {"created_after": _iso(start), "created_before": _iso(end), "reached": stage}


def leads_url(filters: dict[str, str] | None) -> str | None:
    if filters is None:
        return None
    return f"{reverse('leads:list')}?{urlencode(filters)}" if filters else reverse("leads:list")


# --- Funnel ------------------------------------------------------------------------------------


@dataclass
class StageCount:
    stage: str
    label: str
    count: int
    conversion: float | None  # from the previous funnel stage; None for the first stage or 0/0
    share: float | None  # of the first stage's count
    lead_filters: dict[str, str] | None = None

    @property
    def leads_url(self) -> str | None:
        return leads_url(self.lead_filters)


@dataclass
class FunnelLine:
    key: str
    label: str
    stages: list[StageCount]
    mql_to_sql: float | None
    overall: float | None
    rank: str = ""  # "best" or "worst" MQL→SQL rate among the ranked rows
    linkable: bool = True

    def count(self, stage: str) -> int:
        return next(cell.count for cell in self.stages if cell.stage == stage)


@dataclass
class FunnelReport:
    mode: str
    breakdown: str
    start: datetime
    end: datetime
    total: FunnelLine
    rows: list[FunnelLine] = field(default_factory=list)

    @property
    def stages(self) -> list[tuple[str, str]]:
        return [(stage.value, stage.label) for stage in FUNNEL]

    @property
    def max_rate(self) -> float | None:
        """The highest MQL→SQL rate of the rows: the rate bars are drawn relative to it."""
        return max((row.mql_to_sql for row in self.rows if row.mql_to_sql is not None), default=None)


def _funnel_line(row: Any, *, label: str, mode: str, start: datetime, end: datetime, breakdown: str) -> FunnelLine:
    group = group_filter(breakdown, row.key)
    first = row.counts[FUNNEL[0]]
    conversions = row.conversions
    cells = []
    for stage in FUNNEL:
        count = row.counts[stage]
        filters = None if group is None else {**stage_filter(mode=mode, stage=stage, start=start, end=end), **group}
        cells.append(
            StageCount(
                stage=stage.value,
                label=stage.label,
                count=count,
                conversion=conversions.get(stage),
                share=count / first if first else None,
                lead_filters=filters,
            )
        )
    return FunnelLine(
        key=row.key, label=label, stages=cells, mql_to_sql=row.mql_to_sql, overall=row.overall,
        linkable=group is not None,
    )  # fmt: skip


def funnel_report(*, start: datetime, end: datetime, mode: str, breakdown: str) -> FunnelReport:
    """The funnel with labels (at most one more query) and drill-down filters.

    Read from the pre-aggregation (one query) after applying its queued changes (one query when
    none are queued; the beat task applies them every minute), so the numbers are never staler
    than the read."""
    services.funnel_facts_refresh()
    result = funnel_facts.read(start=start, end=end, mode=mode, breakdown=breakdown)
    labels = breakdown_labels(breakdown, [row.key for row in result.rows]) if breakdown else {}
    common = {"mode": mode, "start": start, "end": end}
    total = _funnel_line(result.total, label="All leads", breakdown="", **common)
    rows = [_funnel_line(row, label=labels[row.key], breakdown=breakdown, **common) for row in result.rows]
    rankable = [row for row in rows if row.mql_to_sql is not None and row.count(Stage.MQL) >= MIN_MQLS_TO_RANK]
    rates = {row.mql_to_sql for row in rankable}
    if len(rates) >= 2:  # every row tied for the best (or the lowest) rate is marked
        best, worst = max(rates), min(rates)  # type: ignore[type-var]
        for row in rankable:
            row.rank = "best" if row.mql_to_sql == best else "worst" if row.mql_to_sql == worst else ""
    return FunnelReport(mode=mode, breakdown=breakdown, start=start, end=end, total=total, rows=rows)


# --- Velocity and stalls -----------------------------------------------------------------------

STEP_LABELS = {f"{a}→{b}": f"{STAGE_LABELS[a]} → {STAGE_LABELS[b]}" for a, b in selectors.VELOCITY_STEPS}


@dataclass
class StepTime:
    step: str  # "mql→sal"
    label: str
    count: int
    p50_hours: float | None
    p90_hours: float | None
    lead_filters: dict[str, str] | None = None

    @property
    def leads_url(self) -> str | None:
        return leads_url(self.lead_filters)


@dataclass
class VelocityLine:
    key: str
    label: str
    steps: list[StepTime]


@dataclass
class StallLine:
    stage: str
    label: str
    count: int
    p50_days: float | None
    p90_days: float | None

    @property
    def leads_url(self) -> str | None:
        return leads_url({"stage": self.stage})


@dataclass
class VelocityReport:
    breakdown: str
    total: VelocityLine
    rows: list[VelocityLine]
    stalls: list[StallLine]

    @property
    def steps(self) -> list[tuple[str, str]]:
        return list(STEP_LABELS.items())


def _velocity_line(row: Any, *, label: str, start: datetime, end: datetime, breakdown: str) -> VelocityLine:
    group = group_filter(breakdown, row.key)
    steps = []
    for (_, b), (step, step_label) in zip(selectors.VELOCITY_STEPS, STEP_LABELS.items(), strict=True):
        dist = row.steps[step]
        # The leads timed are the MQL cohort's leads that reached the later stage (reaching it
        # means having passed the earlier one).
        filters = None if group is None else {**stage_filter(mode=Mode.MQL, stage=b, start=start, end=end), **group}
        steps.append(StepTime(step, step_label, dist.count, dist.p50, dist.p90, filters))
    return VelocityLine(key=row.key, label=label, steps=steps)


def velocity_report(*, start: datetime, end: datetime, breakdown: str, now: datetime | None = None) -> VelocityReport:
    total, rows = selectors.velocity(start=start, end=end, breakdown=breakdown)
    labels = breakdown_labels(breakdown, [row.key for row in rows]) if breakdown else {}
    common = {"start": start, "end": end}
    return VelocityReport(
        breakdown=breakdown,
        total=_velocity_line(total, label="All leads", breakdown="", **common),
        rows=[_velocity_line(row, label=labels[row.key], breakdown=breakdown, **common) for row in rows],
        stalls=[
            StallLine(row.stage, STAGE_LABELS[row.stage], row.count, row.p50_days, row.p90_days)
            for row in selectors.stalls(now=now)
        ],
    )


# --- SLA and speed-to-lead ---------------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class SlaGroup:
    key: str
    label: str
    handed_off: int
    in_time: int
    breaches: int

    @property
    def within_sla(self) -> float | None:
        """Of the clocks whose outcome is known (touched, or past due), the share touched in time."""
        return share(self.in_time, self.in_time + self.breaches)


@dataclass
class SlaWeek:
    week: date  # its Monday
    handed_off: int
    in_time: int
    decided: int

    @property
    def within_sla(self) -> float | None:
        return share(self.in_time, self.decided)


@dataclass
class SlaReport:
    summary: selectors.SlaSummary
    by_rep: list[SlaGroup]
    by_team: list[SlaGroup]
    by_policy: list[SlaGroup]
    weekly: list[SlaWeek]


def sla_report(*, start: datetime, end: datetime, now: datetime | None = None) -> SlaReport:
    summary = selectors.sla_summary(start=start, end=end, now=now)

    def groups(entries: list[dict[str, Any]], names: dict[str, str] | None = None) -> list[SlaGroup]:
        return [
            SlaGroup(
                str(e["key"]),
                (names or {}).get(str(e["key"])) or e["label"],
                e["handed_off"],
                e["in_time"],
                e["breaches"],
            )
            for e in entries
        ]

    rep_names = selectors.rep_names([str(e["key"]) for e in summary.by_rep])  # full names, one query
    return SlaReport(
        summary=summary,
        by_rep=groups(summary.by_rep, rep_names),
        by_team=groups(summary.by_team),
        by_policy=groups(summary.by_policy),
        weekly=[
            SlaWeek(date.fromisoformat(w["week"]), w["handed_off"], w["in_time"], w["decided"]) for w in summary.weekly
        ],
    )


# --- Marketing: MQL volume vs target, queue review time -----------------------------------------


@dataclass
class MonthVolume:
    month: date
    delivered: int
    target: int | None
    attainment: float | None
    lead_filters: dict[str, str] = field(default_factory=dict)
    review: selectors.ReviewTimes = field(default_factory=selectors.ReviewTimes.empty)  # stays ended in the month

    @property
    def leads_url(self) -> str | None:
        return leads_url(self.lead_filters)


@dataclass
class MarketingReport:
    months: list[MonthVolume]
    review: selectors.ReviewTimes  # the whole period's review commitment
    review_overdue_now: int = 0
    review_policy: ReviewPolicy | None = None  # the active one

    @property
    def review_target_minutes(self) -> int | None:
        return self.review_policy.review_minutes if self.review_policy is not None else None

    @property
    def delivered(self) -> int:
        return sum(month.delivered for month in self.months)

    @property
    def target(self) -> int | None:
        """The months' targets added up (None when no month has one)."""
        targets = [month.target for month in self.months if month.target is not None]
        return sum(targets) if targets else None

    @property
    def delivered_in_target_months(self) -> int:
        return sum(month.delivered for month in self.months if month.target is not None)

    @property
    def attainment(self) -> float | None:
        return share(self.delivered_in_target_months, self.target or 0)


def _month_after(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def marketing_report(*, start: datetime, end: datetime, now: datetime | None = None) -> MarketingReport:
    """MQLs delivered per month against the month's target, and the marketing review commitment
    (review time, share reviewed within target) of the stays in the queue that ended each month.
    A month with reviews but neither MQLs nor a target gets a row too, so no review is left out.

    The caller passes whole months: a month cut short would be compared with a whole month's target.
    """
    volume = {row["month"]: row for row in selectors.mql_volume_by_month(start=start, end=end)}
    commitment = selectors.review_commitment(start=start, end=end, now=now)
    months = []
    for month in sorted(set(volume) | set(commitment.months)):
        row = volume.get(month) or {"delivered": 0, "target": None, "attainment": None}
        filters = {"mql_after": _iso(_midnight(month)), "mql_before": _iso(_midnight(_month_after(month)))}
        review = commitment.months.get(month) or selectors.ReviewTimes.empty()
        months.append(MonthVolume(month, row["delivered"], row["target"], row["attainment"], filters, review))
    return MarketingReport(
        months=months, review=commitment.total, review_overdue_now=commitment.overdue_now,
        review_policy=commitment.policy,
    )  # fmt: skip


# --- Feedback ------------------------------------------------------------------------------------


@dataclass
class FeedbackLine:
    key: str
    reasons: list[int]  # in the order of FeedbackReport.reasons
    sales_rejected: int
    marketing: int
    handed_off: int
    sales_reject_share: float | None

    by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.sales_rejected + self.marketing


@dataclass
class FeedbackReport:
    by: str
    reasons: list[str]
    rows: list[FeedbackLine]

    @property
    def by_label(self) -> str:
        return selectors.FEEDBACK_BY[self.by]

    @property
    def reason_totals(self) -> list[int]:
        return [sum(row.reasons[index] for row in self.rows) for index in range(len(self.reasons))]

    @property
    def total(self) -> FeedbackLine:
        """All groups together (each rejection and hand-off belongs to exactly one group)."""
        sales = sum(row.sales_rejected for row in self.rows)
        handed = sum(row.handed_off for row in self.rows)
        return FeedbackLine(
            key="All",
            reasons=self.reason_totals,
            sales_rejected=sales,
            marketing=sum(row.marketing for row in self.rows),
            handed_off=handed,
            sales_reject_share=share(sales, handed),
            by_reason=dict(zip(self.reasons, self.reason_totals, strict=True)),
        )


def feedback_report(*, start: datetime, end: datetime, by: str) -> FeedbackReport:
    data = selectors.feedback(start=start, end=end, by=by)
    reasons = data["reasons"]
    rows = [
        FeedbackLine(
            key=row["key"],
            reasons=[row["reasons"].get(reason, 0) for reason in reasons],
            sales_rejected=row["sales_rejected"],
            marketing=row["marketing"],
            handed_off=row["handed_off"],
            sales_reject_share=row["sales_reject_share"],
            by_reason=dict(row["reasons"]),
        )
        for row in data["rows"]
    ]
    return FeedbackReport(by=by, reasons=reasons, rows=rows)


# --- Rep leaderboard -------------------------------------------------------------------------------


@dataclass
class RepLine:
    rep_id: int
    name: str
    username: str
    assigned: int
    touches: int
    calls: int
    sqls: int
    conversion: float | None
    median_response_minutes: float | None

    @property
    def leads_url(self) -> str | None:
        return leads_url({"owner": str(self.rep_id)})


def leaderboard_report(*, start: datetime, end: datetime) -> list[RepLine]:
    return [
        RepLine(
            rep_id=row["rep"].pk,
            name=row["rep"].get_full_name() or row["rep"].get_username(),
            username=row["rep"].get_username(),
            assigned=row["assigned"],
            touches=row["touches"],
            calls=row["calls"],
            sqls=row["sqls"],
            conversion=row["conversion"],
            median_response_minutes=row["median_response_minutes"],
        )
        for row in selectors.leaderboard(start=start, end=end)
    ]
