"""The handoff: teams and routing, SLA policies and clocks, discovery calls with BANT,
opportunities, the managed list of rejection reasons, and notifications.

Models hold fields and constraints. Writes go through `handoff.services`.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField

from leads.models import Channel, Lead, Segment

# --- Managed list of reasons -----------------------------------------------------------------


class ReasonUse(models.TextChoices):
    RECYCLE = "recycle", "Back to nurture"
    DISQUALIFY = "disqualify", "Disqualify"
    BOTH = "both", "Either"


class RejectionReason(models.Model):
    """Why a lead goes back to marketing (recycled) or out (disqualified): the feedback loop."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100)
    use = models.CharField(max_length=12, choices=ReasonUse.choices, default=ReasonUse.BOTH)
    nurture_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Back to nurture for this reason: no rescoring promotes the lead for this many days "
        "(the cool-off). Empty: the default of 90 days.",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


# --- Business calendars and SLA policies ------------------------------------------------------


class BusinessCalendar(models.Model):
    """Working hours per weekday in a time zone, with public holidays and custom closed days.

    `hours` maps a weekday ("0" = Monday … "6" = Sunday) to a list of ["HH:MM", "HH:MM"]
    windows, e.g. {"0": [["09:00", "17:00"]], …}; a missing weekday is closed.
    """

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    hours = models.JSONField(default=dict)
    holiday_country = CountryField(blank=True, help_text="Public holidays of this country are closed.")
    holiday_subdivision = models.CharField(max_length=10, blank=True, help_text="e.g. a US state or German Land")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"


class ClosedDay(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="closed_days")
    date = models.DateField()
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="closed_day_unique")]

    def __str__(self) -> str:
        return f"{self.date} {self.label}".strip()


class BreachAction(models.TextChoices):
    NOTIFY = "notify", "Notify the manager"
    REASSIGN = "reassign", "Reassign to the next rep"
    BOTH = "both", "Notify and reassign"


class SlaPolicy(models.Model):
    """How fast a handed-off lead must get its first touch, in business minutes."""

    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies")
    first_touch_minutes = models.PositiveIntegerField(help_text="Target, in business minutes.")
    warn_at_percent = models.PositiveIntegerField(
        default=75, help_text="Warn the rep when this share of the target has elapsed."
    )
    breach_action = models.CharField(max_length=10, choices=BreachAction.choices, default=BreachAction.NOTIFY)
    max_reassignments = models.PositiveIntegerField(
        default=2,
        help_text="How many times a lead may be reassigned on breach; the next breach escalates it to the "
        "team's manager instead, once.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["first_touch_minutes", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(condition=Q(first_touch_minutes__gt=0), name="sla_target_positive"),
            models.CheckConstraint(
                condition=Q(warn_at_percent__gt=0, warn_at_percent__lt=100), name="sla_warn_between_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.first_touch_minutes} business min)"


# --- Teams and routing ------------------------------------------------------------------------


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_teams",
    )
    default_sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A rep in a team's rotation. Assignment goes to the eligible member assigned least recently."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    is_active = models.BooleanField(default=True)
    away_until = models.DateTimeField(null=True, blank=True, help_text="Skipped by routing until then.")
    capacity = models.PositiveIntegerField(default=50, help_text="Most open leads the rep takes.")
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "rep__first_name", "rep__username"]
        constraints = [models.UniqueConstraint(fields=["team", "rep"], name="team_membership_unique")]

    def __str__(self) -> str:
        return f"{self.rep} in {self.team}"

    def is_away(self, at: datetime | None = None) -> bool:
        return self.away_until is not None and self.away_until > (at or timezone.now())


class HandoffMode(models.TextChoices):
    AUTOMATIC = "automatic", "Automatically, the moment it becomes an MQL"
    REVIEW = "review", "After marketing review in the MQL queue"


class RoutingRule(models.Model):
    """Ordered conditions choosing a team; the first rule whose conditions all hold wins.

    Empty lists mean "any". `hot_only` rules take hot leads (recent demo request, contact sales…)
    and usually carry a tighter SLA policy. `handoff_mode` says whether the rule's leads are
    handed off by themselves as they become MQLs, or wait for a marketer in the queue.
    """

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    segments = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(Segment.values)}")
    countries = models.JSONField(default=list, blank=True, help_text="ISO country codes (territory).")
    channels = models.JSONField(default=list, blank=True, help_text=f"Any of: {', '.join(Channel.values)}")
    hot_only = models.BooleanField(default=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="routing_rules")
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Overrides the team's default policy.",
    )  # fmt: skip
    handoff_mode = models.CharField(
        max_length=10, choices=HandoffMode.choices, default=HandoffMode.REVIEW, verbose_name="hand-off"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} → {self.team}"

    @property
    def is_automatic(self) -> bool:
        return self.handoff_mode == HandoffMode.AUTOMATIC


# --- Assignments and SLA clocks ---------------------------------------------------------------


class AssignmentEnd(models.TextChoices):
    REASSIGNED = "reassigned", "Reassigned"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CONVERTED = "converted", "Converted"
    CLOSED = "closed", "Closed"


class Assignment(models.Model):
    """A lead handed to a rep. At most one open assignment per lead (a conditional unique)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="assignments")
    routing_rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    is_open = models.BooleanField(default=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=AssignmentEnd.choices, blank=True)

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(is_open=True), name="one_open_assignment_per_lead"),
            models.CheckConstraint(
                condition=Q(is_open=True, ended_at__isnull=True) | Q(is_open=False, ended_at__isnull=False),
                name="assignment_open_xor_ended",
            ),
        ]
        indexes = [
            models.Index(fields=["rep", "is_open"], name="assignment_rep_open"),
            # "My leads" counts a rep's open assignments, joined to their running clocks
            # (sla_running_by_due), from the two indexes alone.
            models.Index(fields=["rep", "id"], name="assignment_open_rep_id", condition=Q(is_open=True)),
        ]
        permissions = [
            ("review_mql_queue", "Can review the MQL queue (hand off, nurture, disqualify)"),
            ("work_leads", "Can work assigned leads (touch, accept, reject, discovery call, convert)"),
            ("act_on_any_lead", "Can act on any lead, not only those assigned to them"),
            ("reassign_lead", "Can reassign leads"),
            ("manage_handoff_settings", "Can edit routing, teams, SLA policies and the qualification policy"),
        ]

    def __str__(self) -> str:
        return f"{self.lead} → {self.rep}"


class SlaStatus(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"
    MET_LATE = "met_late", "Met late"
    STOPPED = "stopped", "Stopped"


class SlaClock(models.Model):
    """The first-touch clock of one assignment. Status is derived from timestamps when read;
    `warned_at`, `breached_at` and `escalated_at` record that the sweep did each side effect once."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="clock")
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="clocks")
    started_at = models.DateTimeField()
    warn_at = models.DateTimeField()
    due_at = models.DateTimeField()
    first_touch_at = models.DateTimeField(null=True, blank=True)
    touch_recorded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first touch was logged (it may be back-dated)."
    )
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Assignment ended without a touch.")
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The sweep's questions: running clocks still to breach whose due time has passed, and
            # running clocks still to warn (neither warned nor breached) whose warning time has passed
            # but not their due time (`due_at` in the key lets the planner see how few those are).
            # Handled clocks leave the index, so neither question walks the long-overdue clocks.
            models.Index(
                fields=["due_at"],
                name="sla_running_due",
                condition=Q(first_touch_at__isnull=True, stopped_at__isnull=True, breached_at__isnull=True),
            ),
            models.Index(
                fields=["warn_at", "due_at"],
                name="sla_running_warn",
                condition=Q(
                    first_touch_at__isnull=True,
                    stopped_at__isnull=True,
                    warned_at__isnull=True,
                    breached_at__isnull=True,
                ),
            ),
            # "My leads": every running clock, breached or not, in due order — a rep's most urgent
            # are read from it and stop at the page size — with what counting them by SLA status
            # needs, so the counts come from the index alone.
            models.Index(
                fields=["due_at", "assignment", "warn_at"],
                name="sla_running_by_due",
                condition=Q(first_touch_at__isnull=True, stopped_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(warn_at__lte=models.F("due_at"), started_at__lte=models.F("warn_at")),
                name="sla_started_warn_due_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"SLA for {self.assignment}"

    # Met or late: a clock is met only if its touch was recorded (`touch_recorded_at`) by the due
    # time, and never once the sweep has recorded its breach. `first_touch_at` is when the touch
    # happened, which a rep may back-date: a touch logged after the due time is met late whatever
    # time it names. Every met/late decision (status_at, the SQL status filters, the SLA reports)
    # uses these two, so the rule is written once.
    @staticmethod
    def met_in_time_q(prefix: str = "") -> Q:
        """Touched clocks that met their SLA, as a condition (`prefix` e.g. "clock__" from an assignment)."""
        due = models.F(f"{prefix}due_at")
        return Q(
            **{
                f"{prefix}first_touch_at__lte": due,
                f"{prefix}touch_recorded_at__lte": due,
                f"{prefix}breached_at__isnull": True,
            }
        )

    @property
    def met_in_time(self) -> bool:
        """Touched, and the touch was recorded by the due time with no breach recorded: see met_in_time_q."""
        return (
            self.first_touch_at is not None
            and self.touch_recorded_at is not None
            and self.breached_at is None
            and self.first_touch_at <= self.due_at
            and self.touch_recorded_at <= self.due_at
        )

    def status_at(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.first_touch_at is not None:
            return SlaStatus.MET if self.met_in_time else SlaStatus.MET_LATE
        if self.stopped_at is not None:
            return SlaStatus.STOPPED
        if now >= self.due_at:
            return SlaStatus.BREACHED
        if now >= self.warn_at:
            return SlaStatus.AT_RISK
        return SlaStatus.ON_TRACK

    @property
    def status(self) -> str:
        return self.status_at()

    @property
    def status_label(self) -> str:
        return SlaStatus(self.status).label


class SlaEvent(models.Model):
    """What the sweep did: a warning, a breach, an escalation. One of each per clock at most."""

    class Kind(models.TextChoices):
        WARNING = "warning", "Warning"
        BREACH = "breach", "Breach"
        REASSIGNED = "reassigned", "Reassigned on breach"
        NOT_REASSIGNED = "not_reassigned", "Not reassigned: nobody could take it"
        ESCALATED = "escalated", "Escalated to the manager"

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["clock", "kind"], name="sla_event_once_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.clock_id}"


# --- Marketing review of the MQL queue -------------------------------------------------------


class QueueAction(models.TextChoices):
    HANDED_OFF = "handed_off", "Handed off to sales"
    NURTURE = "nurture", "Sent back to nurture"
    DISQUALIFIED = "disqualified", "Disqualified"


class QueueReview(models.Model):
    """A decision on an MQL, with how long the lead waited in the queue for it: a marketer's, or
    (reviewer empty, `rule` named) an automatic hand-off's."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="queue_reviews")
    action = models.CharField(max_length=14, choices=QueueAction.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=200, blank=True, help_text="The automatic rule that decided, if no person did.")
    mql_at = models.DateTimeField(help_text="When the lead entered the queue (became an MQL).")
    reviewed_at = models.DateTimeField(default=timezone.now)
    reason = models.ForeignKey(RejectionReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        indexes = [models.Index(fields=["reviewed_at"], name="queue_review_at")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(reviewer__isnull=False) & Q(rule="")) | (Q(reviewer__isnull=True) & ~Q(rule="")),
                name="queue_review_person_xor_rule",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.lead}"

    @property
    def is_automatic(self) -> bool:
        return self.reviewer_id is None

    @property
    def wait(self):  # type: ignore[no-untyped-def]
        return self.reviewed_at - self.mql_at


class ReviewAction(models.TextChoices):
    NOTIFY = "notify", "Notify the marketers"
    HAND_OFF = "hand_off", "Notify the marketers and hand the lead off automatically"


class ReviewPolicy(models.Model):
    """Marketing's side of the handoff: how long an MQL may wait in the queue for review, in
    business minutes, and what happens when it waits longer. One policy is active."""

    name = models.CharField(max_length=100, unique=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="review_policies")
    review_minutes = models.PositiveIntegerField(help_text="Review every MQL within this many business minutes.")
    overdue_action = models.CharField(max_length=10, choices=ReviewAction.choices, default=ReviewAction.NOTIFY)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "review policy"
        verbose_name_plural = "review policies"
        constraints = [
            models.CheckConstraint(condition=Q(review_minutes__gt=0), name="review_target_positive"),
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_review_policy"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.review_minutes} business min)"


class ReviewEnd(models.TextChoices):
    HANDED_OFF = "handed_off", "Handed off by a marketer"
    AUTOMATIC = "automatic", "Handed off automatically"
    NURTURE = "nurture", "Sent back to nurture"
    DISQUALIFIED = "disqualified", "Disqualified"
    LEFT = "left", "Left the queue otherwise"


class ReviewClock(models.Model):
    """One stay of a lead in the MQL queue: from entering MQL until it is handed off or leaves,
    with the review policy's due time. `overdue_at` records that the review sweep flagged it and
    told the marketers (once); it stays set however the stay ends."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="review_clocks")
    policy = models.ForeignKey(ReviewPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="clocks")
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True, help_text="Empty without a review policy.")
    overdue_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end = models.CharField(max_length=12, choices=ReviewEnd.choices, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(ended_at__isnull=True), name="one_open_review_clock"),
            models.CheckConstraint(
                condition=Q(due_at__isnull=True) | Q(due_at__gte=models.F("started_at")),
                name="review_clock_due_after_start",
            ),
        ]
        indexes = [
            # The review sweep: open clocks not yet flagged whose due time has passed.
            models.Index(
                fields=["due_at"],
                name="review_clock_due",
                condition=Q(ended_at__isnull=True, overdue_at__isnull=True, due_at__isnull=False),
            ),
            # The queue's count of overdue reviews: open clocks by due time.
            models.Index(
                fields=["due_at"],
                name="review_clock_open_due",
                condition=Q(ended_at__isnull=True, due_at__isnull=False),
            ),
            models.Index(fields=["ended_at"], name="review_clock_ended"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.lead_id} from {self.started_at:%Y-%m-%d %H:%M}"

    def is_overdue(self, now: datetime | None = None) -> bool:
        if self.due_at is None:
            return False
        return (self.ended_at or now or timezone.now()) > self.due_at


class HandoffCause(models.TextChoices):
    ENTERED_MQL = "entered_mql", "Became an MQL"
    HOT_SIGNAL = "hot_signal", "Hot signal"
    REVIEW_OVERDUE = "review_overdue", "Review overdue"


class HandoffRequest(models.Model):
    """A lead to look at for automatic hand-off: written in the transaction that made it an MQL
    (or gave an MQL a hot signal), so the database, not the broker, is what remembers it. The
    drain (a task after commit, and beat every minute) hands it off when its routing rule is
    automatic or it is fast-tracked, and deletes the request; when nobody can take the lead, the
    request stays with the error and is retried later."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="+")
    cause = models.CharField(max_length=16, choices=HandoffCause.choices)
    force = models.BooleanField(default=False, help_text="Hand off whatever the rule's mode (review overdue).")
    requested_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["next_attempt_at", "id"]
        indexes = [models.Index(fields=["next_attempt_at", "id"], name="handoff_request_next")]

    def __str__(self) -> str:
        return f"Hand-off request for {self.lead_id} ({self.cause})"


class RejectionSide(models.TextChoices):
    MARKETING = "marketing", "Marketing (MQL queue)"
    SALES = "sales", "Sales"


class Rejection(models.Model):
    """A lead sent back to nurture or disqualified, with the reason from the managed list and the
    lead's scores at that moment: what the feedback report groups by source, campaign and score."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="rejections")
    reason = models.ForeignKey(RejectionReason, on_delete=models.PROTECT, related_name="rejections")
    to_stage = models.CharField(max_length=20)
    from_stage = models.CharField(max_length=20)
    side = models.CharField(max_length=10, choices=RejectionSide.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    fit_score = models.IntegerField()
    engagement_score = models.IntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"], name="rejection_at")]

    def __str__(self) -> str:
        return f"{self.lead}: {self.reason}"


# --- Discovery calls, BANT, qualification ------------------------------------------------------


class BudgetStatus(models.TextChoices):
    APPROVED = "approved", "Approved budget"
    PLANNED = "planned", "Planned / being requested"
    NONE = "none", "No budget"
    UNKNOWN = "unknown", "Unknown"


class AuthorityRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    BUDGET_HOLDER = "budget_holder", "Budget holder"
    INFLUENCER = "influencer", "Influencer"
    CHAMPION = "champion", "Champion"
    END_USER = "end_user", "End user"
    GATEKEEPER = "gatekeeper", "Gatekeeper"


class Timeframe(models.TextChoices):
    WITHIN_1_MONTH = "1m", "Within a month"
    WITHIN_3_MONTHS = "3m", "1–3 months"
    WITHIN_6_MONTHS = "6m", "3–6 months"
    WITHIN_12_MONTHS = "12m", "6–12 months"
    LATER = "later", "More than a year"
    UNKNOWN = "unknown", "Unknown"


TIMEFRAME_MONTHS = {"1m": 1, "3m": 3, "6m": 6, "12m": 12, "later": 24, "unknown": None}


class CallOutcome(models.TextChoices):
    QUALIFIED = "qualified", "Qualified — convert to SQL"
    FOLLOW_UP = "follow_up", "Needs a follow-up call"
    NOT_QUALIFIED = "not_qualified", "Not qualified"


class DiscoveryCall(models.Model):
    """A qualifying call and its BANT answers. A `qualified` call must have complete BANT —
    the database refuses it otherwise — and only such a call can take a lead to SQL."""

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="discovery_calls")
    sdr = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="discovery_calls")
    held_at = models.DateTimeField()
    # Budget
    budget_status = models.CharField(max_length=10, choices=BudgetStatus.choices)
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_currency = models.CharField(max_length=3, blank=True, help_text="ISO 4217, e.g. USD")
    # Authority
    authority_role = models.CharField(max_length=20, choices=AuthorityRole.choices)
    decision_maker = models.CharField(max_length=200, help_text="Who makes the decision (name, title).")
    # Need
    need_pain = models.TextField(help_text="The problem, in the prospect's words.")
    need_use_case = models.TextField(help_text="What they would use the product for.")
    # Timing
    timeframe = models.CharField(max_length=10, choices=Timeframe.choices)
    expected_decision_date = models.DateField()
    notes = models.TextField(blank=True)
    outcome = models.CharField(max_length=14, choices=CallOutcome.choices)
    policy_verdict = models.JSONField(
        default=list, blank=True, help_text="The qualification policy's failed criteria, in words."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-held_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome="qualified")
                | (
                    ~Q(budget_status="")
                    & ~Q(authority_role="")
                    & ~Q(decision_maker="")
                    & ~Q(need_pain="")
                    & ~Q(need_use_case="")
                    & ~Q(timeframe="")
                    & Q(expected_decision_date__isnull=False)
                ),
                name="qualified_call_has_complete_bant",
            ),
            models.CheckConstraint(
                condition=Q(budget_amount__isnull=True) | ~Q(budget_currency=""),
                name="call_budget_amount_has_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"Discovery call with {self.lead} on {self.held_at:%Y-%m-%d}"


class QualificationPolicy(models.Model):
    """What counts as qualified. One active row; managers tune it. BANT by default."""

    name = models.CharField(max_length=100, default="BANT")
    is_active = models.BooleanField(default=True)
    accepted_budget_statuses = models.JSONField(default=list)
    min_budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    accepted_authority_roles = models.JSONField(default=list)
    max_timeframe_months = models.PositiveIntegerField(
        null=True, blank=True, help_text="The decision must come within this many months. Empty: any."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "qualification policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_qualification_policy"
            )
        ]

    def __str__(self) -> str:
        return self.name


class OpportunityStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Opportunity(models.Model):
    """What one qualifying pass opens, from its qualifying call (one opportunity per call). A lead
    that leaves sales (recycled, disqualified) closes its open opportunity as lost, one that
    becomes a customer wins it; qualified again after nurture, it gets a new opportunity from the
    new call — the first stays closed, as it was. At most one is open per lead."""

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="opportunities")
    discovery_call = models.OneToOneField(DiscoveryCall, on_delete=models.PROTECT, related_name="opportunity")
    name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    expected_close = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="opportunities")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=4, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "opportunities"
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status="open"), name="one_open_opportunity_per_lead"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True) | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="opportunity_open_xor_closed",
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- Notifications ---------------------------------------------------------------------------


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", "New lead assigned"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACH = "sla_breach", "SLA breached"
    REASSIGNED = "reassigned", "Lead reassigned"
    ESCALATED = "escalated", "Escalated: needs a decision"
    REVIEW_OVERDUE = "review_overdue", "MQLs waiting too long for review"


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.title


class MqlTarget(models.Model):
    """Marketing's commitment: how many MQLs it delivers in a month."""

    month = models.DateField(unique=True, help_text="The first day of the month.")
    target = models.PositiveIntegerField()

    class Meta:
        ordering = ["-month"]
        constraints = [models.CheckConstraint(condition=Q(month__day=1), name="mql_target_first_of_month")]

    def __str__(self) -> str:
        return f"{self.month:%B %Y}: {self.target} MQLs"
