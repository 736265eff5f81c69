"""The handoff's part of `seed_demo`: a `leads.demo.SeedExtension` (registered in HandoffConfig.ready).

For every generated lead story it writes, in bulk and faithful to what `handoff.services` would
have recorded:

- an `Assignment` per hand-off (team "Inbound"), ended by the next hand-off (reassigned), the
  conversion to SQL (converted) or a move to recycled/disqualified (rejected); only the last one
  of a lead still at MQL or SAL stays open. A lead that was hot at the hand-off (a hand-raise
  within the scoring model's hot-signal window, since its last recycling) is routed by "Hot leads
  → Inbound", any other by "Everything → Inbound". The fast track's hand-offs (the story's
  `automatic` ones: hot, not junk, within a minute or two) have no `assigned_by`; the others were
  made by the demo marketer from the queue;
- its `SlaClock` under the "Hot lead" policy for a hot lead, else "Standard", with warning and
  due times in business time (`handoff.business_time`), the first touch (a sales touch or the
  acceptance, recorded as it happened), `stopped_at` when the assignment ended untouched, and
  `warned_at`/`breached_at` where the SLA sweep would have recorded them by now (no breach is
  reassigned or escalated, so no clock has `escalated_at`);
- for every move into SQL, the qualified `DiscoveryCall` with complete BANT (the latest is the
  one the lead row names as its qualifying call) and the `Opportunity` it opened: lost when the
  lead later left sales (recycled, disqualified), won when it became a customer, open otherwise —
  so a lead recycled after it was qualified can be qualified again; a few follow-up calls on SALs;
- `QueueReview` rows for hand-offs (a marketer's, or the fast track's with its `rule`) and for a
  marketer's nurture/disqualify decisions on MQLs;
- a `ReviewClock` per stay in the MQL queue, due by the active review policy, ended by the
  hand-off (by a marketer or automatic), the marketer's nurture/disqualify decision or another
  move out of MQL, open for the MQLs still waiting; `overdue_at` where the review sweep would have
  flagged it by now (due before the stay ended);
- a `Rejection` for every move into recycled or disqualified made by a person, its reason taken
  from the transition's reason text (whose cool-off days the generator asks for through
  `nurture_days`).

`prepare` creates (idempotently) the Inbound team with every SDR, the routing rules — "Hot leads
→ Inbound" (hot only, automatic hand-off, the "Hot lead" SLA) before the reviewed catch-all —
the review policy if there is none, and MQL targets for this month and the three before (sized to
the MQLs this run delivers). No hand-off request is left pending.
"""

from __future__ import annotations

import json
import random
import zlib
from bisect import bisect_right
from calendar import monthrange
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.roles import Role
from handoff.business_time import Calendar
from handoff.models import (
    AssignmentEnd,
    BusinessCalendar,
    CallOutcome,
    HandoffMode,
    MqlTarget,
    OpportunityStatus,
    QueueAction,
    ReasonUse,
    RejectionReason,
    RejectionSide,
    ReviewAction,
    ReviewEnd,
    ReviewPolicy,
    RoutingRule,
    SlaPolicy,
    Team,
    TeamMembership,
)
from leads import demo
from leads.lifecycle import Stage
from leads.models import Company

TEAM_NAME = "Inbound"
RULE_NAME = "Everything → Inbound"  # the catch-all: reviewed in the queue
HOT_RULE_NAME = "Hot leads → Inbound"  # before it: hot leads, handed off automatically
STANDARD_POLICY, HOT_POLICY = "Standard", "Hot lead"
REVIEW_POLICY, REVIEW_MINUTES = "Marketing review", 240  # created only when there is no review policy
FAST_TRACK = "fast track: hot signal"  # what an automatic hand-off records (handoff.automation)
DEMO_MARKETER, DEMO_MANAGER = "marketer", "manager"
DEMO_CAPACITY = 10_000

_SQL, _MQL, _SAL = Stage.SQL, Stage.MQL, Stage.SAL
_OUT = (Stage.RECYCLED, Stage.DISQUALIFIED)
_SALES_STAGES = frozenset({Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})

# Transition reasons the generator writes that do not start with a reason's label -> reason code.
REASON_ALIASES: tuple[tuple[str, str], ...] = (
    ("bad data", "bad_data"),
    ("not a decision maker", "no_authority"),
    ("outside our territory", "too_small"),
    ("too small", "too_small"),
    ("no response", "unresponsive"),
    ("went dark", "unresponsive"),
    ("not ready to buy", "bad_timing"),
    ("timing", "bad_timing"),
    ("renewed with the incumbent", "bad_timing"),
    ("project on hold", "bad_timing"),
    ("not sales-ready", "bad_timing"),
    ("early research only", "bad_timing"),
    ("engagement was one webinar", "no_need"),
)
FALLBACK_REASON = "other"

# --- BANT pools ------------------------------------------------------------------------------

BUDGETS = (12_000, 18_000, 24_000, 30_000, 36_000, 45_000, 60_000, 75_000, 96_000, 120_000, 180_000, 250_000)
AUTHORITY_ROLES = ("decision_maker", "decision_maker", "budget_holder", "champion")
DECISION_MAKERS = (
    "Priya Raman, VP Revenue Operations",
    "Tom Becker, Chief Revenue Officer",
    "Elena Rossi, CMO",
    "Marcus Lee, VP Sales",
    "Hannah Schulz, Head of Sales Development",
    "David Okafor, CFO",
    "Sophie Martin, Director of Marketing Operations",
    "James Carter, COO",
)
PAINS = (
    "Inbound leads wait days before sales calls them, and the hot ones go cold.",
    "Marketing and sales argue every month about what counts as a qualified lead.",
    "Nobody knows which campaigns produce pipeline, only which produce form fills.",
    "Reps cherry-pick leads and the rest are never touched.",
    "Lead routing is a spreadsheet and breaks whenever someone goes on holiday.",
    "Rejected leads vanish; marketing never hears why sales turned them down.",
    "The CRM is full of duplicates and fake sign-ups, so SDRs waste their mornings.",
)
USE_CASES = (
    "Route inbound leads to SDRs with first-touch SLAs",
    "Score and qualify inbound demand before the handoff",
    "Report MQL-to-SQL conversion by source and campaign",
    "Replace spreadsheet routing with round-robin assignment",
    "Close the loop on rejected leads with reason codes",
    "Enforce BANT qualification before opportunities are created",
)
TIMEFRAMES = (("1m", 1), ("3m", 3), ("3m", 3), ("6m", 6))
FOLLOW_UP_NOTES = (
    "Good fit; the decision maker joins the next call.",
    "Needs to confirm budget with finance first; follow-up booked.",
    "Interested, wants a technical deep dive with their RevOps lead.",
)
FOLLOW_UP_SHARE = 0.3  # of SALs with a sales call during their SAL stint
EUR_TLDS = (".de", ".fr", ".nl", ".es", ".it", ".ie")

ASSIGNMENT_COLUMNS = (
    "id", "lead_id", "rep_id", "team_id", "routing_rule_id", "assigned_by_id", "assigned_at", "is_open",
    "ended_at", "end_reason",
)  # fmt: skip
CLOCK_COLUMNS = (
    "assignment_id", "policy_id", "started_at", "warn_at", "due_at", "first_touch_at", "stopped_at", "warned_at",
    "breached_at", "touch_recorded_at",
)  # fmt: skip
CALL_COLUMNS = (
    "id", "lead_id", "sdr_id", "held_at", "budget_status", "budget_amount", "budget_currency", "authority_role",
    "decision_maker", "need_pain", "need_use_case", "timeframe", "expected_decision_date", "notes", "outcome",
    "policy_verdict", "created_at",
)  # fmt: skip
OPPORTUNITY_COLUMNS = (
    "lead_id", "discovery_call_id", "name", "amount", "currency", "expected_close", "owner_id", "created_at",
    "status", "closed_at",
)  # fmt: skip
REVIEW_COLUMNS = ("lead_id", "action", "reviewer_id", "rule", "mql_at", "reviewed_at", "reason_id")
REVIEW_CLOCK_COLUMNS = ("lead_id", "policy_id", "started_at", "due_at", "overdue_at", "ended_at", "end")
REJECTION_COLUMNS = (
    "lead_id", "reason_id", "to_stage", "from_stage", "side", "actor_id", "note", "fit_score", "engagement_score",
    "at",
)  # fmt: skip
NO_VERDICT = json.dumps([])


def _opportunity_fate(later: Sequence[tuple]) -> tuple[str, int | None]:
    """(status, closed at) of the opportunity a move into SQL opened, from the lead's later moves:
    lost at its next move out of the funnel, won at its move to customer, else still open."""
    for transition in later:
        if transition[2] in _OUT:
            return OpportunityStatus.LOST, transition[3]
        if transition[2] == Stage.CUSTOMER:
            return OpportunityStatus.WON, transition[3]
    return OpportunityStatus.OPEN, None


class HandoffSeedExtension(demo.SeedExtension):
    """See the module docstring."""

    name = "handoff"
    covers = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})

    # -- reference data, once per run -------------------------------------------------------

    @transaction.atomic
    def prepare(self, world: demo.World) -> None:
        users = get_user_model().objects
        marketer = users.filter(username=DEMO_MARKETER).first()
        self.marketer_id = marketer.pk if marketer else (world.marketers or world.sdrs)[0]
        self.marketers = frozenset(world.marketers)
        manager = users.filter(username=DEMO_MANAGER).first()

        calendar, _ = BusinessCalendar.objects.get_or_create(
            name="US business hours",
            defaults={
                "time_zone": "America/New_York",
                "hours": {str(day): [["09:00", "17:00"]] for day in range(5)},
                "holiday_country": "US",
            },
        )
        standard, _ = SlaPolicy.objects.get_or_create(
            name=STANDARD_POLICY, defaults={"calendar": calendar, "first_touch_minutes": 240}
        )
        hot, _ = SlaPolicy.objects.get_or_create(
            name=HOT_POLICY, defaults={"calendar": calendar, "first_touch_minutes": 30, "breach_action": "both"}
        )
        standard = SlaPolicy.objects.select_related("calendar").get(pk=standard.pk)
        hot = SlaPolicy.objects.select_related("calendar").get(pk=hot.pk)
        # (policy id, calendar, minutes to warn, minutes to due), the calendars built once.
        self.policies = {
            key: (
                policy.pk,
                Calendar.from_model(policy.calendar),
                policy.first_touch_minutes * policy.warn_at_percent / 100,
                policy.first_touch_minutes,
            )
            for key, policy in (("standard", standard), ("hot", hot))
        }

        team, _ = Team.objects.get_or_create(
            name=TEAM_NAME, defaults={"manager": manager, "default_sla_policy": standard}
        )
        if team.manager_id is None and manager is not None:
            Team.objects.filter(pk=team.pk).update(manager=manager)
        self.team_id = team.pk
        for rep in users.filter(groups__name=Role.SDR.value).order_by("pk"):
            membership, created = TeamMembership.objects.get_or_create(
                team=team, rep=rep, defaults={"capacity": DEMO_CAPACITY}
            )
            if not created and membership.capacity < DEMO_CAPACITY:
                TeamMembership.objects.filter(pk=membership.pk).update(capacity=DEMO_CAPACITY)
        self.rule_id, self.hot_rule_id = self._prepare_rules(team, hot)
        self.hot_window = world.hot_window
        self._prepare_review(calendar)
        self._load_reasons()
        self._prepare_targets(world.now)

    def _prepare_rules(self, team: Team, hot: SlaPolicy) -> tuple[int, int]:
        """The catch-all "Everything → Inbound" (reviewed), and before it (a lower position) "Hot
        leads → Inbound": hot leads only, handed off automatically under the "Hot lead" SLA."""
        rule = RoutingRule.objects.filter(name=RULE_NAME).first()
        hot_rule = RoutingRule.objects.filter(name=HOT_RULE_NAME).first()
        if rule is not None and hot_rule is None:
            # Take the catch-all's place, moving it (and whatever follows) down.
            RoutingRule.objects.filter(position__gte=rule.position).update(position=F("position") + 10)
            position = rule.position
        else:
            last = RoutingRule.objects.order_by("-position").values_list("position", flat=True).first()
            position = (last or 0) + 10
        if hot_rule is None:
            hot_rule = RoutingRule.objects.create(
                name=HOT_RULE_NAME, team=team, position=position, hot_only=True,
                handoff_mode=HandoffMode.AUTOMATIC, sla_policy=hot,
            )  # fmt: skip
        if rule is None:
            rule = RoutingRule.objects.create(name=RULE_NAME, team=team, position=position + 10)
        return rule.pk, hot_rule.pk

    def _prepare_review(self, calendar: BusinessCalendar) -> None:
        """The active review policy (the migrations create "Marketing review"; made here only when
        there is no review policy at all), its calendar built once."""
        policy = ReviewPolicy.objects.filter(is_active=True).select_related("calendar").first()
        if policy is None and not ReviewPolicy.objects.exists():
            policy = ReviewPolicy.objects.create(
                name=REVIEW_POLICY, calendar=calendar, review_minutes=REVIEW_MINUTES, overdue_action=ReviewAction.NOTIFY
            )
        self.review = (policy.pk, Calendar.from_model(policy.calendar), policy.review_minutes) if policy else None

    def _load_reasons(self) -> None:
        RejectionReason.objects.get_or_create(
            code=FALLBACK_REASON, defaults={"label": "Other", "use": ReasonUse.BOTH, "position": 99}
        )
        rows = RejectionReason.objects.values_list("pk", "code", "use", "nurture_days")
        self.reasons = {code: (pk, use) for pk, code, use, _days in rows}
        self._nurture = {pk: days for pk, _code, _use, days in rows}
        labels = RejectionReason.objects.values_list("label", "code")
        self._labels = sorted(((label.lower(), code) for label, code in labels), key=lambda item: -len(item[0]))
        self._resolved: dict[tuple[str, str], tuple[int, str]] = {}

    def nurture_days(self, reasons: Sequence[str]) -> dict[str, int]:
        """The cool-off of each recycling reason text: that of the managed reason it resolves to
        (as its Rejection records it), when the reason has one (else the lifecycle's default)."""
        self._load_reasons()
        days = {}
        for text in reasons:
            reason_id, _note = self._reason(text, Stage.RECYCLED)
            if self._nurture[reason_id] is not None:
                days[text] = self._nurture[reason_id]
        return days

    # -- MQL targets ------------------------------------------------------------------------

    def _prepare_targets(self, now: int) -> None:
        """Targets for this month and the three before, created once (never overwriting a
        manager's), then sized after each batch to the MQLs this run delivers in each month."""
        zone = timezone.get_current_timezone()
        today = datetime.fromtimestamp(now, tz=zone).date()
        months: list[date] = []
        first = today.replace(day=1)
        for _ in range(4):
            months.insert(0, first)
            first = (first - timedelta(days=1)).replace(day=1)
        history_start = datetime.fromtimestamp(now - demo.HISTORY_DAYS * demo.DAY, tz=zone).date()
        self._months = months
        self._month_starts = [int(datetime(m.year, m.month, 1, tzinfo=zone).timestamp()) for m in months]
        # Days of each month the demo history covers, to project a partial month to a whole one.
        self._coverage = []
        for month in months:
            last = month.replace(day=monthrange(month.year, month.month)[1])
            covered = (min(last, today) - max(month, history_start)).days + 1
            self._coverage.append((max(covered, 0), last.day))
        existing = set(MqlTarget.objects.filter(month__in=months).values_list("month", flat=True))
        self._own_months = [month for month in months if month not in existing]
        MqlTarget.objects.bulk_create([MqlTarget(month=month, target=100) for month in self._own_months])
        self._delivered: Counter[date] = Counter()

    def _update_targets(self) -> None:
        if not self._own_months:
            return
        projected = {}
        for month, (covered, days) in zip(self._months, self._coverage, strict=True):
            if covered >= 7:
                projected[month] = self._delivered[month] * days / covered
        fallback = sum(projected.values()) / len(projected) if projected else 0
        # Some months beat the target, some miss it.
        stretch = dict(zip(self._months, (1.08, 0.94, 1.12, 1.0), strict=True))
        for month in self._own_months:
            value = projected.get(month, fallback) * stretch[month]
            target = max(5, int(round(value / 5) * 5))
            MqlTarget.objects.filter(month=month).update(target=target)

    # -- one batch --------------------------------------------------------------------------

    def write(self, batch: demo.SeedBatch, writer: demo.Writer) -> None:
        now = batch.now
        stories = batch.stories
        assignment_ids = iter(writer.reserve_ids("handoff_assignment", sum(len(s.handoffs) for s in stories)))
        assignments: list[tuple] = []
        clocks: list[tuple] = []
        reviews: list[tuple] = []
        rejections: list[tuple] = []
        calls: list[list[Any]] = []  # id filled in once the count is known
        # lead, call index, company, email, status, closed at: one per move into SQL
        opportunities: list[tuple[int, int, int | None, str, str, int | None]] = []
        qualifying: dict[int, int] = {}  # lead id -> index in calls
        review_clocks: list[tuple] = []
        month_starts, months = self._month_starts, self._months
        team, marketer, window = self.team_id, self.marketer_id, self.hot_window

        for story in stories:
            transitions = story.transitions
            lead_id = story.lead_id
            mql_entries = [t[3] for t in transitions if t[2] == _MQL]
            if mql_entries:
                position = bisect_right(month_starts, mql_entries[0]) - 1
                if position >= 0:
                    self._delivered[months[position]] += 1

            # Assignments and their clocks.
            handoffs = story.handoffs
            if handoffs:
                ends = [(t[3], t[2]) for t in transitions if t[2] == _SQL or t[2] in _OUT]
                touch_times = sorted([at for at, _code in story.touches] + [t[3] for t in transitions if t[2] == _SAL])
                for index, (assigned_at, rep) in enumerate(handoffs):
                    ended_at, why = None, ""
                    if index + 1 < len(handoffs):
                        ended_at, why = handoffs[index + 1][0], AssignmentEnd.REASSIGNED
                    for at, to in ends:
                        if at > assigned_at:
                            if ended_at is None or at < ended_at:
                                ended_at = at
                                why = AssignmentEnd.CONVERTED if to == _SQL else AssignmentEnd.REJECTED
                            break
                    assignment_id = next(assignment_ids)
                    hot = story.is_hot(assigned_at, window)
                    # The fast track's hand-offs are nobody's: the rule that decided is recorded.
                    by, decided = (None, FAST_TRACK) if assigned_at in story.automatic else (marketer, "")
                    assignments.append(
                        (assignment_id, lead_id, rep, team, self.hot_rule_id if hot else self.rule_id, by,
                         assigned_at, ended_at is None, ended_at, why)
                    )  # fmt: skip
                    clocks.append(self._clock(assignment_id, hot, assigned_at, ended_at, touch_times, now))
                    mql_at = max((at for at in mql_entries if at <= assigned_at), default=assigned_at)
                    reviews.append((lead_id, QueueAction.HANDED_OFF, by, decided, mql_at, assigned_at, None))
            if mql_entries:
                review_clocks += self._review_clocks(story, now)

            # Rejections, and the marketer's queue decisions.
            for position, (_lead, source, target, at, user, _rule, reason) in enumerate(transitions):
                if target == _SQL:
                    call = self._qualified_call(story, transitions[position - 1][3], at, user)
                    qualifying[lead_id] = len(calls)
                    status, closed_at = _opportunity_fate(transitions[position + 1 :])
                    opportunities.append((lead_id, len(calls), story.company_id, story.email, status, closed_at))
                    calls.append(call)
                    continue
                if target not in _OUT or user is None:
                    continue
                reason_id, note = self._reason(reason, target)
                mql_at = max((t for t in mql_entries if t <= at), default=None)
                handed = mql_at is not None and any(mql_at <= h <= at for h, _rep in handoffs)
                sales = source in _SALES_STAGES or (source == _MQL and handed)
                side = RejectionSide.SALES if sales else RejectionSide.MARKETING
                rejections.append(
                    (lead_id, reason_id, target, source, side, user, note, story.fit, story.engagement, at)
                )
                if source == _MQL and user in self.marketers and not handed:
                    action = QueueAction.NURTURE if target == Stage.RECYCLED else QueueAction.DISQUALIFIED
                    reviews.append((lead_id, action, user, "", mql_at or at, at, reason_id))

            follow_up = self._follow_up_call(story)
            if follow_up is not None:
                calls.append(follow_up)

        call_ids = writer.reserve_ids("handoff_discoverycall", len(calls))
        for call, call_id in zip(calls, call_ids, strict=True):
            call[0] = call_id
        names = self._company_names([company for _lead, _call, company, _email, _s, _c in opportunities if company])
        opportunity_rows = []
        for lead_id, index, company_id, email, status, closed_at in opportunities:
            call = calls[index]
            # As lead_convert_to_sql names it: the company (or the lead) and the use case.
            name = f"{names.get(company_id) or email} — {call[10][:80]}"
            # lead, call, name, amount, currency, expected close, owner (the SDR), created at conversion
            opportunity_rows.append(
                (lead_id, call[0], name, call[5], call[6], call[12], call[2], call[16], status, closed_at)
            )
        for lead_id, index in qualifying.items():
            batch.qualifying_calls[lead_id] = calls[index][0]

        writer.write("handoff_assignment", ASSIGNMENT_COLUMNS, assignments, timestamps=(6, 8))
        writer.write("handoff_slaclock", CLOCK_COLUMNS, clocks, timestamps=(2, 3, 4, 5, 6, 7, 8, 9))
        writer.write(
            "handoff_discoverycall", CALL_COLUMNS, [tuple(call) for call in calls], timestamps=(3, 16), escape=True
        )
        writer.write("handoff_opportunity", OPPORTUNITY_COLUMNS, opportunity_rows, timestamps=(7, 9), escape=True)
        writer.write("handoff_queuereview", REVIEW_COLUMNS, reviews, timestamps=(4, 5))
        writer.write("handoff_reviewclock", REVIEW_CLOCK_COLUMNS, review_clocks, timestamps=(2, 3, 4, 5))
        writer.write("handoff_rejection", REJECTION_COLUMNS, rejections, timestamps=(9,), escape=True)
        self._update_targets()

    # -- pieces -----------------------------------------------------------------------------

    def _review_clocks(self, story: demo.LeadStory, now: int) -> list[tuple]:
        """One review clock per stay in the MQL queue: from entering MQL until the hand-off, the
        marketer's decision or another move out of MQL; open while the lead still waits."""
        transitions, rows = story.transitions, []
        automatic = set(story.automatic)
        policy_id, calendar, minutes = self.review or (None, None, 0)
        for position, (_lead, _source, target, started, *_rest) in enumerate(transitions):
            if target != _MQL:
                continue
            left = transitions[position + 1] if position + 1 < len(transitions) else None
            handed = next((at for at, _rep in story.handoffs if started <= at and (left is None or at < left[3])), None)
            if handed is not None:
                ended, end = handed, ReviewEnd.AUTOMATIC if handed in automatic else ReviewEnd.HANDED_OFF
            elif left is not None:
                ended, end = left[3], ReviewEnd.LEFT
                if left[4] in self.marketers and left[2] in _OUT:  # the marketer's decision in the queue
                    end = ReviewEnd.NURTURE if left[2] == Stage.RECYCLED else ReviewEnd.DISQUALIFIED
            else:
                ended, end = None, ""
            due = overdue = None
            if calendar is not None:
                due = int(calendar.add_minutes(datetime.fromtimestamp(started, tz=UTC), minutes).timestamp())
                # What the review sweep would have flagged by now: due while the stay was open.
                overdue = due if due <= now and (ended is None or ended > due) else None
            rows.append((story.lead_id, policy_id, started, due, overdue, ended, end))
        return rows

    def _clock(
        self, assignment_id: int, hot: bool, started: int, ended: int | None, touches: list[int], now: int
    ) -> tuple:
        policy_id, calendar, warn_minutes, due_minutes = self.policies["hot" if hot else "standard"]
        start = datetime.fromtimestamp(started, tz=UTC)
        warn = int(calendar.add_minutes(start, warn_minutes).timestamp())
        due = int(calendar.add_minutes(start, due_minutes).timestamp())
        warn = min(max(warn, started), due)
        limit = ended if ended is not None else now + 1
        first_touch = next((at for at in touches if started <= at < limit), None)
        stopped = ended if first_touch is None and ended is not None else None
        # What the sweep would have recorded by now: the warning and the breach of a clock still
        # running (neither touched nor stopped) when its warning or due time came.
        ran_until = first_touch if first_touch is not None else stopped
        warned = warn if warn <= now and warn < due and (ran_until is None or ran_until > warn) else None
        breached = due if due <= now and (ran_until is None or ran_until > due) else None
        # Every demo touch is logged as it happens, so it is recorded at its own time.
        return (assignment_id, policy_id, started, warn, due, first_touch, stopped, warned, breached, first_touch)

    def _reason(self, text: str, to: str) -> tuple[int, str]:
        """(reason id, note) for a transition's reason text, e.g. "No budget" or "Student" (a
        recycling's "(nurture until …)" is the cool-off, not part of the note)."""
        text = text.split(" (nurture until ", 1)[0]
        key = (text, to)
        found = self._resolved.get(key)
        if found is not None:
            return found
        lowered = text.lower().strip()
        code, note = None, text
        for label, candidate in self._labels:
            if lowered.startswith(label):
                code, note = candidate, text[len(label) :].lstrip(" :—-").strip()
                break
        if code is None:
            code = next((c for prefix, c in REASON_ALIASES if lowered.startswith(prefix)), FALLBACK_REASON)
        wanted = ReasonUse.RECYCLE if to == Stage.RECYCLED else ReasonUse.DISQUALIFY
        if code not in self.reasons or self.reasons[code][1] not in (wanted, ReasonUse.BOTH):
            code, note = FALLBACK_REASON, text
        found = (self.reasons[code][0], note)
        self._resolved[key] = found
        return found

    @staticmethod
    def _rng(story: demo.LeadStory, salt: str) -> random.Random:
        return random.Random(zlib.crc32(f"{salt}:{story.email}".encode()))  # noqa: S311 - demo data

    def _bant(self, story: demo.LeadStory, rng: random.Random, held: int) -> dict[str, Any]:
        email = story.email
        currency = "GBP" if email.endswith((".uk", ".co.uk")) else "EUR" if email.endswith(EUR_TLDS) else "USD"
        timeframe, months = TIMEFRAMES[int(rng.random() * len(TIMEFRAMES))]
        decision = datetime.fromtimestamp(held, tz=UTC).date() + timedelta(
            days=max(7, months * 30 - int(rng.random() * 20))
        )
        return {
            "budget_status": "approved" if rng.random() < 0.6 else "planned",
            "budget_amount": f"{BUDGETS[int(rng.random() * len(BUDGETS))]}.00",
            "budget_currency": currency,
            "authority_role": AUTHORITY_ROLES[int(rng.random() * len(AUTHORITY_ROLES))],
            "decision_maker": DECISION_MAKERS[int(rng.random() * len(DECISION_MAKERS))],
            "need_pain": PAINS[int(rng.random() * len(PAINS))],
            "need_use_case": USE_CASES[int(rng.random() * len(USE_CASES))],
            "timeframe": timeframe,
            "expected_decision_date": decision.isoformat(),
        }

    def _call(
        self, story: demo.LeadStory, sdr: int, held: int, created: int, outcome: str, notes: str, rng: random.Random
    ) -> list[Any]:
        b = self._bant(story, rng, held)
        return [
            None, story.lead_id, sdr, held, b["budget_status"], b["budget_amount"], b["budget_currency"],
            b["authority_role"], b["decision_maker"], b["need_pain"], b["need_use_case"], b["timeframe"],
            b["expected_decision_date"], notes, outcome, NO_VERDICT, created,
        ]  # fmt: skip

    def _qualified_call(self, story: demo.LeadStory, before: int, at: int, user: int | None) -> list[Any]:
        """The call that qualified the lead: held when the generator logged its discovery meeting
        (a little before the move to SQL), logged as the lead was converted."""
        held = at - min(1_800, (at - before) // 2)
        sdr = user if user is not None else story.owner_id
        return self._call(story, sdr, held, at, CallOutcome.QUALIFIED, "", self._rng(story, f"sql{at}"))

    def _follow_up_call(self, story: demo.LeadStory) -> list[Any] | None:
        """Now and then, a first discovery call on an SAL that needed a follow-up: held at one of
        the sales calls the rep logged while the lead was an SAL."""
        transitions = story.transitions
        for position, t in enumerate(transitions):
            if t[2] != _SAL:
                continue
            until = transitions[position + 1][3] if position + 1 < len(transitions) else None
            calls = [
                at for at, code in story.touches if code == "sales_call" and t[3] < at and (until is None or at < until)
            ]
            if not calls:
                return None
            rng = self._rng(story, "follow-up")
            if rng.random() >= FOLLOW_UP_SHARE:
                return None
            held = calls[0]
            sdr = t[4] if t[4] is not None else story.owner_id
            notes = FOLLOW_UP_NOTES[int(rng.random() * len(FOLLOW_UP_NOTES))]
            return self._call(story, sdr, held, held, CallOutcome.FOLLOW_UP, notes, rng)
        return None

    @staticmethod
    def _company_names(ids: list[int]) -> dict[int, str]:
        """Company names (the batch's companies are written before the extensions run)."""
        names: dict[int, str] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            names.update(Company.objects.filter(pk__in=chunk).values_list("pk", "name"))
        return names


extension = HandoffSeedExtension()
