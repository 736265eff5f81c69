"""Report reads besides the funnel: velocity, stalls, SLA and speed-to-lead, the marketing side
(MQL volume vs target, queue review time), feedback (why leads are rejected) and the rep
leaderboard. All read-only; all computed from the recorded history and clocks.

Percentiles: the median is the middle value (the mean of the two middle ones for an even count)
and p90 the value below which 90% fall (nearest rank), the same on every database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from handoff.business_time import Calendar, CalendarError
from handoff.models import (
    Assignment,
    ClosedDay,
    DiscoveryCall,
    MqlTarget,
    Rejection,
    RejectionSide,
    ReviewClock,
    ReviewEnd,
    ReviewPolicy,
    SlaClock,
    SlaPolicy,
    Team,
)
from leads.filters import reached_q
from leads.lifecycle import Stage
from leads.models import Activity, ActivityCategory, Campaign, Lead, StageTransition
from reporting.funnel import _dimension_sql, reached_condition


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass
class Distribution:
    count: int
    p50: float | None
    p90: float | None

    @classmethod
    def of(cls, values: list[float]) -> Distribution:
        return cls(len(values), median(values), percentile(values, 0.9))


def _adapt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # SQLite gives naive UTC text


# --- Velocity --------------------------------------------------------------------------------

VELOCITY_STEPS = (("mql", "sal"), ("sal", "sql"), ("mql", "sql"))


@dataclass
class VelocityRow:
    key: str
    steps: dict[str, Distribution] = field(default_factory=dict)  # "mql→sal": hours


def velocity(*, start: datetime, end: datetime, breakdown: str = "") -> tuple[VelocityRow, list[VelocityRow]]:
    """Hours between first reaching stages, for leads that first became MQL in [start, end).

    A lead that skipped SAL (mql → sql) passed SAL and SQL at the same moment.
    """
    dimension, joins = _dimension_sql(breakdown)
    stages = ("mql", "sal", "sql")
    firsts = ", ".join(f"MIN(CASE WHEN {reached_condition(s)} THEN t.at END) AS {s}" for s in stages)
    sql = (
        f"SELECT {dimension} AS dim, r.mql, r.sal, r.sql FROM ("
        f"SELECT t.lead_id, {firsts} FROM leads_stagetransition t WHERE t.lead_id IN ("
        f"SELECT t.lead_id FROM leads_stagetransition t WHERE {reached_condition('mql')} AND t.at >= %s AND t.at < %s"
        f") GROUP BY t.lead_id) r JOIN leads_lead l ON l.id = r.lead_id {joins} "
        "WHERE r.mql >= %s AND r.mql < %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_adapt(start), _adapt(end), _adapt(start), _adapt(end)])
        rows = cursor.fetchall()
    buckets: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for dim, *times in rows:
        moments = dict(zip(stages, (_as_datetime(t) for t in times), strict=True))
        for a, b in VELOCITY_STEPS:
            if moments[a] is not None and moments[b] is not None:
                hours = (moments[b] - moments[a]).total_seconds() / 3600
                for key in ("", str(dim or "")) if breakdown else ("",):
                    buckets[key][f"{a}→{b}"].append(hours)

    def row(key: str) -> VelocityRow:
        return VelocityRow(key, {f"{a}→{b}": Distribution.of(buckets[key][f"{a}→{b}"]) for a, b in VELOCITY_STEPS})

    total = row("")
    others = [row(key) for key in sorted(k for k in buckets if k)] if breakdown else []
    return total, others


@dataclass
class StallRow:
    stage: str
    count: int
    p50_days: float | None
    p90_days: float | None


OPEN_STAGES = (Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.RECYCLED)


def stalls(*, now: datetime | None = None) -> list[StallRow]:
    """Where open leads wait: count and p50/p90 days in their current stage, per stage.

    Percentiles here are nearest-rank (the wait of the lead at that rank), read with two
    index-ordered lookups per stage, so the report stays fast however many leads there are.
    """
    now = now or timezone.now()
    counts = dict(Lead.objects.filter(stage__in=OPEN_STAGES).values_list("stage").annotate(n=Count("id")))
    result = []
    for stage in OPEN_STAGES:
        n = counts.get(stage, 0)
        if not n:
            result.append(StallRow(stage, 0, None, None))
            continue
        # Longest waits first: the longest-waiting 10% are beyond p90.
        ordered = (
            Lead.objects.filter(stage=stage).order_by("stage_changed_at").values_list("stage_changed_at", flat=True)
        )
        p50_at = ordered[n - (n + 1) // 2]
        p90_at = ordered[max(n - math.ceil(0.9 * n), 0)]
        result.append(
            StallRow(stage, n, (now - p50_at).total_seconds() / 86400, (now - p90_at).total_seconds() / 86400)
        )
    return result


# --- SLA and speed-to-lead ------------------------------------------------------------------


@dataclass
class SlaSummary:
    handed_off: int
    touched_in_time: int
    touched_late: int
    breached_untouched: int
    running: int
    stopped: int
    wall_minutes: Distribution
    business_minutes: Distribution
    by_rep: list[dict[str, Any]]
    by_team: list[dict[str, Any]]
    by_policy: list[dict[str, Any]]
    weekly: list[dict[str, Any]]

    @property
    def decided(self) -> int:
        """Clocks whose outcome is known: touched, or past due."""
        return self.touched_in_time + self.touched_late + self.breached_untouched

    @property
    def within_sla(self) -> float | None:
        return self.touched_in_time / self.decided if self.decided else None


def sla_summary(*, start: datetime, end: datetime, now: datetime | None = None) -> SlaSummary:
    """First-touch SLAs of hand-offs (assignments) started in [start, end)."""
    now = now or timezone.now()
    clocks = list(
        SlaClock.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("assignment__rep", "assignment__team", "policy__calendar")
        .order_by("started_at")
    )
    calendars: dict[int, Calendar] = {}
    wall: list[float] = []
    business: list[float] = []
    counts = {"in_time": 0, "late": 0, "breached": 0, "running": 0, "stopped": 0}
    per: dict[str, dict[str, dict[str, Any]]] = {"rep": {}, "team": {}, "policy": {}}
    weekly: dict[str, dict[str, int]] = {}
    for clock in clocks:
        if clock.first_touch_at is not None:
            outcome = "in_time" if clock.met_in_time else "late"  # SlaClock's rule: recorded in time, no breach
            wall.append((clock.first_touch_at - clock.started_at).total_seconds() / 60)
            calendar = calendars.get(clock.policy.calendar_id)
            if calendar is None:
                calendar = calendars[clock.policy.calendar_id] = Calendar.from_model(clock.policy.calendar)
            business.append(calendar.minutes_between(clock.started_at, clock.first_touch_at))
        elif clock.due_at <= now and clock.stopped_at is None:
            outcome = "breached"
        elif clock.stopped_at is not None and clock.stopped_at < clock.due_at:
            outcome = "stopped"
        elif clock.stopped_at is not None:
            outcome = "breached"  # reassigned after its due time passed untouched
        else:
            outcome = "running"
        counts[outcome] += 1
        assignment = clock.assignment
        for kind, key, label in (
            ("rep", assignment.rep_id, str(assignment.rep)),
            ("team", assignment.team_id or 0, str(assignment.team or "No team")),
            ("policy", clock.policy_id, clock.policy.name),
        ):
            entry = per[kind].setdefault(
                key, {"key": key, "label": label, "handed_off": 0, "in_time": 0, "breaches": 0}
            )
            entry["handed_off"] += 1
            entry["in_time"] += outcome == "in_time"
            entry["breaches"] += outcome in ("late", "breached")
        week = (clock.started_at - timedelta(days=clock.started_at.weekday())).date().isoformat()
        bucket = weekly.setdefault(week, {"week": week, "handed_off": 0, "in_time": 0, "decided": 0})
        bucket["handed_off"] += 1
        bucket["in_time"] += outcome == "in_time"
        bucket["decided"] += outcome in ("in_time", "late", "breached")

    def ranked(kind: str) -> list[dict[str, Any]]:
        return sorted(per[kind].values(), key=lambda e: (-e["breaches"], e["label"]))

    return SlaSummary(
        handed_off=len(clocks),
        touched_in_time=counts["in_time"],
        touched_late=counts["late"],
        breached_untouched=counts["breached"],
        running=counts["running"],
        stopped=counts["stopped"],
        wall_minutes=Distribution.of(wall),
        business_minutes=Distribution.of(business),
        by_rep=ranked("rep"),
        by_team=ranked("team"),
        by_policy=ranked("policy"),
        weekly=[weekly[w] for w in sorted(weekly)],
    )


# --- Marketing side -------------------------------------------------------------------------


def mql_volume_by_month(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """MQLs delivered per month (each lead's first MQL entry) against the month's target."""
    firsts = (
        StageTransition.objects.filter(reached_q(Stage.MQL))
        .values("lead")
        .annotate(first=Min("at"))
        .filter(first__gte=start, first__lt=end)
        .values_list("first", flat=True)
    )
    delivered: dict[date, int] = defaultdict(int)
    for first in firsts:
        delivered[timezone.localtime(first).date().replace(day=1)] += 1
    targets = dict(
        MqlTarget.objects.filter(month__gte=start.date().replace(day=1), month__lt=end.date()).values_list(
            "month", "target"
        )
    )
    return [
        {
            "month": month,
            "delivered": delivered.get(month, 0),
            "target": targets.get(month),
            "attainment": delivered.get(month, 0) / targets[month] if targets.get(month) else None,
        }
        for month in sorted(set(delivered) | set(targets))
    ]


# The ends of a stay in the queue that a person decided from it: the reviews that are timed.
REVIEWED_ENDS = (ReviewEnd.HANDED_OFF, ReviewEnd.NURTURE, ReviewEnd.DISQUALIFIED)


@dataclass
class ReviewTimes:
    """The marketing review commitment over the stays in the MQL queue (review clocks) that ended
    in a period.

    - Timed: the stays a person ended from the queue (handed off, sent to nurture, disqualified),
      from entering MQL to the decision — in business minutes on the calendar of the stay's review
      policy (what the target is set in), and on the wall clock. A stay that began with no policy
      has no calendar: it is timed on the wall clock only.
    - Not timed, counted: `automatic` (handed off by a routing rule, the fast track, or a policy
      that hands off overdue reviews; `automatic_late` of them after the review was due) and
      `left` (left MQL some other way). Timing them would flatter the review time, dropping them
      silently would hide them.
    - Judged against the target (`judged`): every stay with a due time that a person reviewed,
      plus every stay that ended past its due time however it ended (nobody reviewed it in time);
      a stay handed off automatically or gone before its due time needed no review. Of those,
      `within_target` were reviewed by their due time.
    """

    business_minutes: Distribution
    wall_minutes: Distribution
    automatic: int = 0
    automatic_late: int = 0
    left: int = 0
    judged: int = 0
    within_target: int = 0

    @classmethod
    def empty(cls) -> ReviewTimes:
        return cls(Distribution.of([]), Distribution.of([]))

    @property
    def reviewed(self) -> int:
        return self.wall_minutes.count

    @property
    def within_target_share(self) -> float | None:
        return self.within_target / self.judged if self.judged else None


@dataclass
class ReviewCommitment:
    months: dict[date, ReviewTimes]  # by the month (local time) the stays ended in
    total: ReviewTimes
    overdue_now: int  # still waiting past their due time now, whatever the period
    policy: ReviewPolicy | None  # the active one: the target


@dataclass
class _ReviewTally:
    business: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def times(self) -> ReviewTimes:
        return ReviewTimes(Distribution.of(self.business), Distribution.of(self.wall), **self.counts)


def _review_calendars(policies: list[ReviewPolicy]) -> dict[int, Calendar]:
    """Each review policy's business calendar, with the closed days of all of them read in one
    query (`Calendar.from_model` reads them per calendar). A calendar that does not parse is left
    out: its stays are timed on the wall clock only."""
    closed: dict[int, set[date]] = defaultdict(set)
    for calendar_id, day in ClosedDay.objects.filter(
        calendar_id__in=ReviewPolicy.objects.values("calendar_id")
    ).values_list("calendar_id", "date"):
        closed[calendar_id].add(day)
    calendars = {}
    for policy in policies:
        model = policy.calendar
        try:
            calendars[policy.pk] = Calendar.build(
                time_zone=model.time_zone, hours=model.hours, holiday_country=str(model.holiday_country or ""),
                holiday_subdivision=model.holiday_subdivision, closed_days=frozenset(closed[model.pk]),
            )  # fmt: skip
        except CalendarError:
            continue
    return calendars


def review_commitment(*, start: datetime, end: datetime, now: datetime | None = None) -> ReviewCommitment:
    """The review commitment (`ReviewTimes`) of the stays in the MQL queue that ended in
    [start, end), per month and in all, and how many MQLs wait past their due time now.

    Four queries whatever the number of stays, months or policies: the policies with their
    calendars, the calendars' closed days, the stays, the count of overdue waits. Business time
    is summed in Python (`Calendar.minutes_between`, some 25 µs a stay)."""
    now = now or timezone.now()
    policies = list(ReviewPolicy.objects.select_related("calendar"))
    calendars = _review_calendars(policies)
    stays = ReviewClock.objects.filter(ended_at__gte=start, ended_at__lt=end).values_list(
        "started_at", "ended_at", "due_at", "end", "policy_id"
    )
    total = _ReviewTally()
    months: dict[date, _ReviewTally] = defaultdict(_ReviewTally)
    for started, ended, due, how, policy_id in stays:
        tallies = (total, months[timezone.localtime(ended).date().replace(day=1)])
        reviewed = how in REVIEWED_ENDS
        business = None
        if reviewed and policy_id in calendars:
            try:
                business = calendars[policy_id].minutes_between(started, ended)
            except CalendarError:  # a stay longer than the calendar looks ahead
                business = None
        counts = {
            "automatic": how == ReviewEnd.AUTOMATIC,
            "automatic_late": how == ReviewEnd.AUTOMATIC and due is not None and ended > due,
            "left": not reviewed and how != ReviewEnd.AUTOMATIC,
            "judged": due is not None and (reviewed or ended > due),
            "within_target": reviewed and due is not None and ended <= due,
        }
        for tally in tallies:
            if reviewed:
                tally.wall.append((ended - started).total_seconds() / 60)
                if business is not None:
                    tally.business.append(business)
            for name, counted in counts.items():
                tally.counts[name] += counted
    overdue_now = ReviewClock.objects.filter(ended_at__isnull=True, due_at__lte=now).count()
    return ReviewCommitment(
        months={month: tally.times() for month, tally in months.items()},
        total=total.times(),
        overdue_now=overdue_now,
        policy=next((policy for policy in policies if policy.is_active), None),
    )


# --- Feedback -------------------------------------------------------------------------------

SCORE_BANDS = ((0, 40, "Under 40"), (40, 60, "40–59"), (60, 80, "60–79"), (80, 10**9, "80 and over"))
FEEDBACK_BY = {"channel": "Channel", "campaign": "Campaign", "source": "Source", "score_band": "Score band"}


def score_band(total: int) -> str:
    for low, high, label in SCORE_BANDS:
        if low <= total < high:
            return label
    return SCORE_BANDS[0][2]


def feedback(*, start: datetime, end: datetime, by: str = "channel") -> dict[str, Any]:
    """Rejection reasons per group, and the share of handed-off MQLs that sales rejected."""
    rejections = Rejection.objects.filter(at__gte=start, at__lt=end).select_related("reason", "lead__campaign")
    groups: dict[str, dict[str, Any]] = {}
    reasons: set[str] = set()

    def group_of(lead: Lead, fit: int, engagement: int) -> str:
        if by == "channel":
            return lead.get_source_channel_display()
        if by == "campaign":
            return lead.campaign.name if lead.campaign_id else "No campaign"
        if by == "source":
            return lead.source_detail or "—"
        return score_band(fit + engagement)

    for rejection in rejections:
        key = group_of(rejection.lead, rejection.fit_score, rejection.engagement_score)
        group = groups.setdefault(key, {"key": key, "reasons": defaultdict(int), "sales_rejected": 0, "marketing": 0,
                                        "handed_off": 0})  # fmt: skip
        group["reasons"][rejection.reason.label] += 1
        reasons.add(rejection.reason.label)
        if rejection.side == RejectionSide.SALES:
            group["sales_rejected"] += 1
        else:
            group["marketing"] += 1
    handed = Assignment.objects.filter(assigned_at__gte=start, assigned_at__lt=end).values("lead")
    for lead in Lead.objects.filter(pk__in=handed).select_related("campaign"):
        key = group_of(lead, lead.fit_score, lead.engagement_score)
        group = groups.setdefault(key, {"key": key, "reasons": defaultdict(int), "sales_rejected": 0, "marketing": 0,
                                        "handed_off": 0})  # fmt: skip
        group["handed_off"] += 1
    rows = []
    for group in groups.values():
        group["reasons"] = dict(group["reasons"])
        group["sales_reject_share"] = group["sales_rejected"] / group["handed_off"] if group["handed_off"] else None
        rows.append(group)
    rows.sort(key=lambda g: (-(g["sales_rejected"] + g["marketing"]), g["key"]))
    return {"by": by, "reasons": sorted(reasons), "rows": rows}


# --- Leaderboard ----------------------------------------------------------------------------


def leaderboard(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per rep: leads assigned, touches, discovery calls, SQLs, conversion and median response."""
    reps = (
        get_user_model()
        .objects.filter(
            Q(assignments__assigned_at__gte=start, assignments__assigned_at__lt=end)
            | Q(discovery_calls__held_at__gte=start, discovery_calls__held_at__lt=end)
        )
        .distinct()
    )
    assigned = dict(
        Assignment.objects.filter(assigned_at__gte=start, assigned_at__lt=end)
        .values_list("rep").annotate(n=Count("id")).values_list("rep", "n")
    )  # fmt: skip
    touches = dict(
        Activity.objects.filter(
            user__isnull=False, type__category=ActivityCategory.SALES_TOUCH, occurred_at__gte=start, occurred_at__lt=end
        ).values_list("user").annotate(n=Count("id")).values_list("user", "n")
    )  # fmt: skip
    calls = dict(
        DiscoveryCall.objects.filter(held_at__gte=start, held_at__lt=end)
        .values_list("sdr").annotate(n=Count("id")).values_list("sdr", "n")
    )  # fmt: skip
    sqls = dict(
        StageTransition.objects.filter(to_stage=Stage.SQL, at__gte=start, at__lt=end, actor_user__isnull=False)
        .values_list("actor_user").annotate(n=Count("id")).values_list("actor_user", "n")
    )  # fmt: skip
    responses: dict[int, list[float]] = defaultdict(list)
    for rep_id, started, touched in SlaClock.objects.filter(
        started_at__gte=start, started_at__lt=end, first_touch_at__isnull=False
    ).values_list("assignment__rep", "started_at", "first_touch_at"):
        responses[rep_id].append((touched - started).total_seconds() / 60)
    rows = []
    for rep in reps:
        n_assigned = assigned.get(rep.pk, 0)
        rows.append(
            {
                "rep": rep,
                "assigned": n_assigned,
                "touches": touches.get(rep.pk, 0),
                "calls": calls.get(rep.pk, 0),
                "sqls": sqls.get(rep.pk, 0),
                "conversion": sqls.get(rep.pk, 0) / n_assigned if n_assigned else None,
                "median_response_minutes": median(responses.get(rep.pk, [])),
            }
        )
    rows.sort(key=lambda r: (-r["sqls"], -(r["conversion"] or 0), r["rep"].get_username()))
    return rows


def campaign_names(ids: Iterable[str]) -> dict[str, str]:
    wanted = [int(i) for i in ids if str(i).isdigit()]
    return {str(pk): name for pk, name in Campaign.objects.filter(pk__in=wanted).values_list("pk", "name")}


def team_names(ids: Iterable[str]) -> dict[str, str]:
    wanted = [int(i) for i in ids if str(i).isdigit()]
    return {str(pk): name for pk, name in Team.objects.filter(pk__in=wanted).values_list("pk", "name")}


def rep_names(ids: Iterable[str]) -> dict[str, str]:
    wanted = [int(i) for i in ids if str(i).isdigit()]
    users = get_user_model().objects.filter(pk__in=wanted)
    return {str(u.pk): (u.get_full_name() or u.get_username()) for u in users}


def policies() -> list[SlaPolicy]:
    return list(SlaPolicy.objects.order_by("name"))
