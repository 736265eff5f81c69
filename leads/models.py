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
    category = models.CharField(
        max_length=20, choices=ActivityCategory.choices, default=ActivityCategory.MARKETING
    )
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
    slug = models.SlugField(
        max_length=200, unique=True, help_text="The utm_campaign value that identifies it."
    )
    channel = models.CharField(max_length=30, choices=Channel.choices, blank=True)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
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
        for segment, sizes in SEGMENT_SIZES.items():
            if self.size in sizes:
                return segment
        return ""

    @property
    def segment_label(self) -> str:
        return Segment(self.segment).label if self.segment else ""


class Lead(models.Model):
    email = models.EmailField(max_length=254, help_text="Stored normalised (lower case).")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    # First-touch attribution: how the lead first came in. Never overwritten by later touches.
    source_channel = models.CharField(max_length=30, choices=Channel.choices, default=Channel.OTHER)
    source_detail = models.CharField(
        max_length=200, blank=True, help_text="e.g. utm_source / utm_medium, referrer, event name"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
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
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
        ]
        indexes = [
            # Keyset pagination: every sort key is indexed together with the id tiebreaker.
            models.Index(fields=["created_at", "id"], name="lead_created_id"),
            models.Index(fields=["updated_at", "id"], name="lead_updated_id"),
            models.Index(fields=["fit_score", "id"], name="lead_fit_id"),
            models.Index(fields=["engagement_score", "id"], name="lead_engagement_id"),
            models.Index(fields=["last_name", "first_name", "id"], name="lead_name_id"),
            models.Index(fields=["stage", "created_at", "id"], name="lead_stage_created_id"),
            models.Index(fields=["source_channel", "created_at"], name="lead_channel_created"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", kwargs={"pk": self.pk})

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def total_score(self) -> int:
        return self.fit_score + self.engagement_score


class Activity(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    type = models.ForeignKey(
        ActivityType,
        to_field="code",
        db_column="type_code",
        on_delete=models.PROTECT,
        related_name="activities",
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    properties = models.JSONField(default=dict, blank=True)
    # Where it came from; (source_system, external_id) makes ingestion idempotent.
    source_system = models.CharField(max_length=50, default="baton")
    external_id = models.CharField(max_length=200, blank=True)
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
        indexes = [models.Index(fields=["lead", "occurred_at"], name="activity_lead_occurred")]

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

    Database triggers (migration 0002) refuse UPDATE and DELETE too, except re-pointing rows to
    another lead, which merging duplicates needs.
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
            models.CheckConstraint(
                condition=~Q(from_stage=models.F("to_stage")), name="transition_changes_stage"
            ),
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
