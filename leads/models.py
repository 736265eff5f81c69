"""Companies, campaigns, leads, activities and the immutable stage history.

Models hold fields, choices and constraints. Writes go through `leads.services`; the stage is
written only by `leads.services.lead_transition`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django_countries.fields import CountryField

from leads.lifecycle import Stage


class Industry(models.TextChoices):
    SOFTWARE = "software", "Software & SaaS"
    FINANCIAL_SERVICES = "financial_services", "Financial services"
    HEALTHCARE = "healthcare", "Healthcare"
    MANUFACTURING = "manufacturing", "Manufacturing"
    RETAIL = "retail", "Retail & e-commerce"
    EDUCATION = "education", "Education"
    GOVERNMENT = "government", "Government & public sector"
    MEDIA = "media", "Media & entertainment"
    PROFESSIONAL_SERVICES = "professional_services", "Professional services"
    TELECOM = "telecom", "Telecommunications"
    LOGISTICS = "logistics", "Transport & logistics"
    NONPROFIT = "nonprofit", "Non-profit"
    OTHER = "other", "Other"


class CompanySize(models.TextChoices):
    """Employee bands, in order."""

    S_1_10 = "1-10", "1–10 employees"
    S_11_50 = "11-50", "11–50 employees"
    S_51_200 = "51-200", "51–200 employees"
    S_201_1000 = "201-1000", "201–1,000 employees"
    S_1001_5000 = "1001-5000", "1,001–5,000 employees"
    S_5000_PLUS = "5000+", "5,000+ employees"


class Segment(models.TextChoices):
    SMB = "smb", "SMB"
    MID_MARKET = "mid_market", "Mid-market"
    ENTERPRISE = "enterprise", "Enterprise"


SEGMENT_SIZES: dict[str, tuple[str, ...]] = {
    Segment.SMB: (CompanySize.S_1_10, CompanySize.S_11_50),
    Segment.MID_MARKET: (CompanySize.S_51_200, CompanySize.S_201_1000),
    Segment.ENTERPRISE: (CompanySize.S_1001_5000, CompanySize.S_5000_PLUS),
}


class Channel(models.TextChoices):
    """First-touch source channel."""

    ORGANIC_SEARCH = "organic_search", "Organic search"
    PAID_SEARCH = "paid_search", "Paid search"
    PAID_SOCIAL = "paid_social", "Paid social"
    ORGANIC_SOCIAL = "organic_social", "Organic social"
    EMAIL = "email", "Email"
    REFERRAL = "referral", "Referral"
    EVENT = "event", "Events"
    WEBINAR = "webinar", "Webinar"
    CONTENT_SYNDICATION = "content_syndication", "Content syndication"
    PARTNER = "partner", "Partner"
    DIRECT = "direct", "Direct"
    OUTBOUND = "outbound", "Outbound"
    OTHER = "other", "Other"


class ActivityCategory(models.TextChoices):
    MARKETING = "marketing", "Marketing engagement"
    SALES_TOUCH = "sales_touch", "Sales touch"


class ActivityType(models.Model):
    """The managed list of activity types. `code` is what systems send in the API."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=ActivityCategory.choices, default=ActivityCategory.MARKETING)
    is_hot_signal = models.BooleanField(
        default=False, help_text="A hand-raiser (demo request, contact sales, price quote)."
    )
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True, help_text="The utm_campaign value that identifies it.")
    channel = models.CharField(max_length=30, choices=Channel.choices, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, unique=True, help_text="Normalised: lower case, without www.")
    industry = models.CharField(max_length=30, choices=Industry.choices, blank=True)
    size = models.CharField(max_length=10, choices=CompanySize.choices, blank=True)
    country = CountryField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name

    @property
    def segment(self) -> str:
        return segment_of(self.size)

    @property
    def segment_label(self) -> str:
        return segment_label(self.size)


def full_name(first_name: str, last_name: str) -> str:
    """A person's name as Baton shows it (a lead's `full_name`, a user's `get_full_name()`), for
    rows read as plain values."""
    return f"{first_name} {last_name}".strip()


def segment_of(size: str) -> str:
    """The segment of a company size ("" for an unknown size)."""
    for segment, sizes in SEGMENT_SIZES.items():
        if size in sizes:
            return segment
    return ""


def segment_label(size: str) -> str:
    """ "Enterprise", "Mid-market", "SMB" for a company size; "" for an unknown size."""
    segment = segment_of(size)
    return Segment(segment).label if segment else ""


class Lead(models.Model):
    # Stored normalised (lower case, enforced by a check constraint), so the plain unique index
    # is a case-insensitive one that equality lookups use.
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    # The phone's digits only, kept by leads.services for finding duplicates ("+1 (555) 010-0" = "15550100").
    phone_digits = models.CharField(max_length=40, blank=True, db_default="", default="")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.PROTECT, related_name="leads")
    # First-touch attribution: how the lead first came in. Never overwritten by later touches.
    source_channel = models.CharField(max_length=30, choices=Channel.choices, default=Channel.OTHER)
    source_detail = models.CharField(
        max_length=200, blank=True, help_text="e.g. utm_source / utm_medium, referrer, event name"
    )
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="leads")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_leads",
    )
    # Written only by leads.services.lead_transition.
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    # The discovery call that qualified the lead (a handoff.DiscoveryCall id; a plain column so
    # `leads` does not depend on `handoff`). The check constraint below refuses any lead at SQL or
    # later without one, and handoff's triggers refuse an id that is not a qualified call of
    # this lead — so no path (admin, API, shell, raw SQL) skips the rule.
    qualifying_call_id = models.BigIntegerField(null=True, blank=True, db_default=None)
    # Written only by leads.scoring. The explanation lists the contributions whose points sum
    # exactly to the two scores: [{"kind": "fit"|"engagement", "rule": id, "label": str, "points": int}].
    fit_score = models.IntegerField(default=0, db_default=0)
    engagement_score = models.IntegerField(default=0, db_default=0)
    score_explanation = models.JSONField(default=list, db_default=[], blank=True)
    # Not indexed: nothing looks leads up by model, and every rescore rewrites every index of a lead.
    scoring_model = models.ForeignKey(
        "ScoringModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    hot_signal_at = models.DateTimeField(
        null=True, blank=True, help_text="Latest recent hot signal (demo request…): fast-track routing."
    )
    # Back to nurture (recycled): the cool-off, before which no rescoring promotes the lead, and
    # the moment engagement is counted from (only what the lead did since the recycling counts
    # toward its return). Written by leads.services.lead_transition.
    nurture_until = models.DateTimeField(null=True, blank=True)
    engagement_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="lead_email_lowercase"),
            models.CheckConstraint(
                condition=~Q(stage__in=["sql", "opportunity", "customer"]) | Q(qualifying_call_id__isnull=False),
                name="lead_sales_stage_needs_qualifying_call",
                violation_error_message="A lead at SQL or later needs a qualifying discovery call with complete BANT.",
            ),
        ]
        indexes = [
            # Keyset pagination: every sort key is indexed together with the id tiebreaker.
            models.Index(fields=["created_at", "id"], name="lead_created_id"),
            models.Index(fields=["updated_at", "id"], name="lead_updated_id"),
            models.Index(fields=["fit_score", "id"], name="lead_fit_id"),
            models.Index(fields=["engagement_score", "id"], name="lead_engagement_id"),
            models.Index(fields=["last_name", "first_name", "id"], name="lead_name_id"),
            models.Index(fields=["stage", "created_at", "id"], name="lead_stage_created_id"),
            # The MQL queue, oldest first (and "time in current stage" in the reports).
            models.Index(fields=["stage", "stage_changed_at", "id"], name="lead_stage_changed_id"),
            models.Index(fields=["source_channel", "created_at"], name="lead_channel_created"),
            # Duplicates by phone: equality only (a Meta index, so PostgreSQL gets no LIKE twin).
            models.Index(fields=["phone_digits"], name="lead_phone_digits"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", kwargs={"pk": self.pk})

    @property
    def full_name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def total_score(self) -> int:
        return self.fit_score + self.engagement_score

    @property
    def is_hot(self) -> bool:
        return self.hot_signal_at is not None


class Activity(models.Model):
    # Indexed by (lead, occurred_at) below, which serves lookups by lead alone too.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities", db_index=False)
    type = models.ForeignKey(
        ActivityType,
        to_field="code",
        db_column="type_code",
        on_delete=models.PROTECT,
        related_name="activities",
        db_index=False,  # a Meta index: equality only, so PostgreSQL gets no LIKE twin
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    properties = models.JSONField(default=dict, blank=True)
    # Where it came from; (source_system, external_id) makes ingestion idempotent.
    source_system = models.CharField(max_length=50, default="baton")
    external_id = models.CharField(max_length=200, blank=True)
    # Who logged it, for sales touches (null for activities systems push).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "external_id"],
                condition=~Q(external_id=""),
                name="activity_source_external_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["lead", "occurred_at"], name="activity_lead_occurred"),
            models.Index(fields=["type"], name="activity_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type_id} on {self.occurred_at:%Y-%m-%d %H:%M}"


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        if set(kwargs) - {"lead", "lead_id"}:
            raise TypeError("Stage history is immutable; only a lead merge may re-point it.")
        return super().update(**kwargs)

    def delete(self):  # type: ignore[no-untyped-def]
        raise TypeError("Stage history is immutable and cannot be deleted.")


class StageTransition(models.Model):
    """One stage change of one lead. Written once by lead_transition; never edited or deleted.

    Database triggers refuse UPDATE and DELETE too, on PostgreSQL and SQLite alike (migrations
    0002 and 0015), except re-pointing rows to another lead, which merging duplicates needs.
    """

    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="transitions")
    from_stage = models.CharField(
        max_length=20, choices=Stage.choices, blank=True, help_text="Empty when the lead was created."
    )
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    at = models.DateTimeField(default=timezone.now)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stage_transitions",
    )
    actor_rule = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        get_latest_by = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(actor_user__isnull=False) & Q(actor_rule=""))
                | (Q(actor_user__isnull=True) & ~Q(actor_rule="")),
                name="transition_actor_user_xor_rule",
            ),
            models.CheckConstraint(condition=~Q(from_stage=models.F("to_stage")), name="transition_changes_stage"),
        ]
        indexes = [
            models.Index(fields=["lead", "at"], name="transition_lead_at"),
            models.Index(fields=["to_stage", "at"], name="transition_to_at"),
            models.Index(fields=["at"], name="transition_at"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '∅'} → {self.to_stage} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.pk is not None and not self._state.adding:
            raise TypeError("Stage history is immutable and cannot be edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise TypeError("Stage history is immutable and cannot be deleted.")

    @property
    def actor_label(self) -> str:
        if self.actor_user_id:
            return self.actor_user.get_full_name() or self.actor_user.get_username()
        return f"Rule: {self.actor_rule}"


# --- Scoring ---------------------------------------------------------------------------------


class ScoringModelStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class ScoringModel(models.Model):
    """One version of the scoring model. Exactly one is active; at most one draft is edited."""

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=ScoringModelStatus.choices, default=ScoringModelStatus.DRAFT)
    mql_fit_threshold = models.IntegerField(
        default=40, help_text="A lead needs at least this fit score to become an MQL…"
    )
    mql_engagement_threshold = models.IntegerField(default=50, help_text="…and at least this engagement score.")
    decay_half_life_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=30,
        help_text="Engagement points halve after this many days. Empty: no decay.",
    )
    hot_signal_window_days = models.PositiveIntegerField(
        default=14, help_text="A hot signal (demo request, contact sales…) flags the lead this long."
    )
    hot_signal_types = models.ManyToManyField(
        ActivityType, blank=True, related_name="+", help_text="Activities that flag a lead for fast-track."
    )
    fast_track_min_fit = models.IntegerField(
        default=10,
        help_text="Never fast-track a lead whose fit is below this: its hot signal makes it an MQL held for "
        "review. A lead matching a fit rule with negative points (competitor, student, free mail…) is held too.",
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="scoring_one_active_model"),
            models.UniqueConstraint(fields=["status"], condition=Q(status="draft"), name="scoring_one_draft_model"),
            models.CheckConstraint(
                condition=Q(decay_half_life_days__isnull=True) | Q(decay_half_life_days__gt=0),
                name="scoring_half_life_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} · {self.name} ({self.get_status_display()})"

    @property
    def rule_name(self) -> str:
        """How this model appears as the actor of the stage changes it causes."""
        return f"Scoring model v{self.version}"


class FitAttribute(models.TextChoices):
    JOB_TITLE = "job_title", "Job title"
    SENIORITY = "seniority", "Seniority (from job title)"
    INDUSTRY = "industry", "Industry"
    COMPANY_SIZE = "company_size", "Company size"
    COUNTRY = "country", "Country"
    EMAIL_DOMAIN = "email_domain", "Email domain"
    FREE_MAIL = "free_mail", "Free-mail address (gmail.com…)"


class FitOperator(models.TextChoices):
    IN = "in", "is one of"
    NOT_IN = "not_in", "is none of"
    CONTAINS_ANY = "contains_any", "contains any of"
    ENDS_WITH_ANY = "ends_with_any", "ends with any of"
    IS_TRUE = "is_true", "is true"


class FitRule(models.Model):
    scoring_model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    label = models.CharField(max_length=200)
    attribute = models.CharField(max_length=20, choices=FitAttribute.choices)
    operator = models.CharField(max_length=20, choices=FitOperator.choices)
    values = models.JSONField(default=list, blank=True, help_text="The values compared against.")
    points = models.IntegerField(help_text="Negative points lower the fit score.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.points:+d})"


class EngagementRule(models.Model):
    scoring_model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="engagement_rules")
    activity_type = models.ForeignKey(ActivityType, to_field="code", on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=200, blank=True)
    points = models.IntegerField(help_text="Points per activity; negative for unsubscribes and the like.")
    max_points = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap on this type's total (in absolute value). Empty: no cap."
    )
    decays = models.BooleanField(default=True, help_text="Whether old activities count for less.")

    class Meta:
        ordering = ["-points", "activity_type_id"]
        constraints = [
            models.UniqueConstraint(fields=["scoring_model", "activity_type"], name="engagement_rule_one_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.display_label} ({self.points:+d})"

    @property
    def display_label(self) -> str:
        return self.label or self.activity_type.name


class RescoreRequest(models.Model):
    """A lead waiting to be rescored. New activities add rows; the drain task coalesces them."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"rescore lead {self.lead_id}"


class ScoringRunKind(models.TextChoices):
    INCREMENTAL = "incremental", "New activities"
    PUBLISH = "publish", "Model published"
    DECAY = "decay", "Nightly decay"


class ScoringRun(models.Model):
    """A log of rescoring runs: what ran, over how many leads, how long it took."""

    kind = models.CharField(max_length=20, choices=ScoringRunKind.choices)
    scoring_model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="runs")
    lead_count = models.PositiveIntegerField(default=0)
    promoted_count = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.lead_count} leads"


# --- Background jobs -------------------------------------------------------------------------


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """A long task the user watches: rescoring after publishing, previews, CSV imports."""

    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written whenever the job makes progress: the stale job sweep (leads.jobs) restarts a running
    # job whose worker went away (no progress for BATON_STALE_JOB_MINUTES), or fails it after
    # MAX_ATTEMPTS runs, saying why in `notes` / `error`.
    progress_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True, help_text="What happened to the job: restarts, and why.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"], name="job_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.DONE, JobStatus.FAILED}


# --- Ingestion -------------------------------------------------------------------------------


class FormSource(models.Model):
    """A website form allowed to post leads to the public capture endpoint with its own key.

    Only a SHA-256 hash of the key is stored; the key is shown once, when it is created.
    """

    name = models.CharField(max_length=200, help_text="e.g. “Website – contact us”")
    key_prefix = models.CharField(max_length=12, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    default_channel = models.CharField(max_length=30, choices=Channel.choices, default=Channel.DIRECT)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    activity_type = models.ForeignKey(
        ActivityType,
        to_field="code",
        on_delete=models.PROTECT,
        default="form_submit",
        related_name="+",
        help_text="What a submission is recorded as (form submit, demo request, contact sales…).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"


class LeadMerge(models.Model):
    """A record that a duplicate lead was merged into `survivor` (its activities and history moved)."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges")
    merged_lead_id = models.BigIntegerField(help_text="The id the merged lead had.")
    merged_email = models.EmailField(max_length=254)
    merged_name = models.CharField(max_length=201, blank=True)
    activities_moved = models.PositiveIntegerField(default=0)
    transitions_moved = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_email} merged into lead {self.survivor_id}"


class ImportKind(models.TextChoices):
    LEADS = "leads", "Leads"
    ACTIVITIES = "activities", "Activities"


def _import_upload_path(instance: CsvImport, filename: str) -> str:
    return f"imports/{timezone.now():%Y/%m}/{instance.token}.csv"


class CsvImport(models.Model):
    """An uploaded CSV file, its column mapping, and the job that imports it."""

    token = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=12, choices=ImportKind.choices)
    file = models.FileField(upload_to=_import_upload_path)
    original_name = models.CharField(max_length=255)
    encoding = models.CharField(max_length=20, default="utf-8-sig")
    delimiter = models.CharField(max_length=1, default=",")
    headers = models.JSONField(default=list)
    row_count = models.PositiveIntegerField(default=0)
    mapping = models.JSONField(default=dict, blank=True, help_text="Baton field -> CSV column.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="For dates without a zone.")
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="csv_import")
    failures_file = models.FileField(upload_to="imports/failures/", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import of {self.original_name}"
