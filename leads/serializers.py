"""API serializers for leads. They check the shape of input and render output; every write and
every business rule is in `leads.services`, which the API views call with `validated_data`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from crm.api import StrictInputMixin, UserSummarySerializer, user_summary
from leads.ingestion import LEAD_FIELDS
from leads.lifecycle import Stage
from leads.models import Activity, ActivityType, Campaign, Channel, Company, Lead, StageTransition, full_name
from leads.scoring import sort_explanation

# --- Choice fields, each one named component in the OpenAPI schema ------------------------
# (Without a name, drf-spectacular derives one per field name — `stage`, `to`, `channel`,
# `source_channel` — and warns that one choice set has several names.)


@extend_schema_field(serializers.ChoiceField(choices=Stage.choices), component_name="Stage")
class StageField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Stage.choices, **kwargs)


@extend_schema_field(serializers.ChoiceField(choices=Channel.choices), component_name="Channel")
class ChannelField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Channel.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": ["", *Channel.values], "description": "A channel, or empty."},
    component_name="ChannelOrBlank",
)
class ChannelOrBlankField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Channel.choices, allow_blank=True, **kwargs)


# --- Reading -------------------------------------------------------------------------------


class CompanySummarySerializer(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code", read_only=True)
    segment = serializers.CharField(read_only=True)

    class Meta:
        model = Company
        fields = ["id", "name", "domain", "industry", "size", "country", "segment"]
        read_only_fields = fields


class CampaignSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "slug", "name"]
        read_only_fields = fields


class ScoreContributionSerializer(serializers.Serializer):
    """One part of a lead's scores: a rule of the scoring model and the points it gave."""

    kind = serializers.ChoiceField(choices=["fit", "engagement"], read_only=True)
    rule = serializers.IntegerField(read_only=True, help_text="Id of the fit or engagement rule.")
    label = serializers.CharField(read_only=True)
    points = serializers.IntegerField(read_only=True, help_text="Negative parts lower the score.")


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the API shows it, in lists and alone. Lists join the scoring model (its version).

    The lead list builds the same output from plain rows instead (`lead_list_representation`).
    """

    full_name = serializers.CharField(read_only=True)
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    campaign = CampaignSummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    source_channel = ChannelField(read_only=True)
    stage = StageField(read_only=True)
    total_score = serializers.IntegerField(read_only=True)
    score_explanation = serializers.SerializerMethodField(
        help_text="The contributions the two scores are made of, fit first, biggest first. The "
        "`fit` parts sum exactly to `fit_score`, the `engagement` parts to `engagement_score`."
    )
    is_hot = serializers.BooleanField(
        read_only=True, help_text="A recent hot signal (demo request, contact sales…): fast-track."
    )
    scoring_model_version = serializers.IntegerField(
        source="scoring_model.version",
        read_only=True,
        allow_null=True,
        help_text="The scoring model version that computed the scores; null until first scored.",
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "full_name",
            "job_title",
            "phone",
            "company",
            "source_channel",
            "source_detail",
            "campaign",
            "owner",
            "stage",
            "stage_changed_at",
            "fit_score",
            "engagement_score",
            "total_score",
            "score_explanation",
            "is_hot",
            "hot_signal_at",
            "scoring_model_version",
            "scored_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ScoreContributionSerializer(many=True))
    def get_score_explanation(self, lead: Lead) -> list[dict[str, Any]]:
        return sort_explanation(list(lead.score_explanation or []))


# --- The lead list, fast -------------------------------------------------------------------
# DRF's field-by-field walk over model instances costs several times the query behind a page of
# fifty leads. The list endpoint reads plain rows instead (`.values(*LEAD_LIST_VALUES)`: only the
# columns a lead shows, no model instances) and `lead_list_representation` writes LeadSerializer's
# output from them directly: the same keys in the same order, the same values and formats.
# tests/leads/test_api_lead_rows.py holds the two equal (DRF's own `to_representation` of
# LeadSerializer is the reference) over leads with and without each related record and with odd
# values, so a field added to LeadSerializer and not here fails the tests.

_USERNAME = get_user_model().USERNAME_FIELD

LEAD_LIST_VALUES = (
    "id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "company",
    "company__name",
    "company__domain",
    "company__industry",
    "company__size",
    "company__country",
    "source_channel",
    "source_detail",
    "campaign",
    "campaign__slug",
    "campaign__name",
    "owner",
    "owner__first_name",
    "owner__last_name",
    f"owner__{_USERNAME}",
    "stage",
    "stage_changed_at",
    "fit_score",
    "engagement_score",
    "score_explanation",
    "hot_signal_at",
    "scoring_model",
    "scoring_model__version",
    "scored_at",
    "created_at",
    "updated_at",
)


def _choices(model: type[models.Model], name: str) -> dict[str, Any]:
    """A choice field's output values by their string, as DRF's ChoiceField maps them."""
    return {str(key): key for key, _ in model._meta.get_field(name).choices}


_STAGES = _choices(Lead, "stage")
_CHANNELS = _choices(Lead, "source_channel")
_INDUSTRIES = _choices(Company, "industry")
_SIZES = _choices(Company, "size")
_DATETIME = serializers.DateTimeField()


def _choice(mapping: dict[str, Any], value: Any) -> Any:
    # rest_framework.fields.ChoiceField.to_representation
    if value in ("", None):
        return value
    return mapping.get(str(value), value)


def _datetime_formatter(tz: tzinfo) -> Callable[[datetime | None], str | None]:
    """DRF's DateTimeField output in ISO 8601 (in the current time zone, UTC as `Z`), inlined."""
    # Databases hand datetimes over in UTC; shown in UTC, they need no conversion.
    shown_in_utc = tz is UTC or getattr(tz, "key", None) in {"UTC", "Etc/UTC"}

    def render(value: datetime | None) -> str | None:
        if value is None:
            return None
        if shown_in_utc and getattr(value, "tzinfo", None) is UTC:
            return value.isoformat()[:-6] + "Z"  # always ends "+00:00"
        if isinstance(value, str) or value.utcoffset() is None:
            return _DATETIME.to_representation(value)  # never from the database: DRF's own way
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def lead_list_representation(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """LeadSerializer's output for each row of `.values(*LEAD_LIST_VALUES)`.

    Values that come from model code (a company's country code and segment, a user's display
    name) are taken from model instances: once per stored country and size, and once per owner.
    The lead's `full_name` is `leads.models.full_name` of its names; `total_score` and `is_hot`
    are one-liners, written out.
    Datetimes are inlined for the usual settings (ISO 8601, USE_TZ); otherwise DRF's field renders.
    """
    output_format = api_settings.DATETIME_FORMAT
    if settings.USE_TZ and output_format is not None and output_format.lower() == ISO_8601:
        when = _datetime_formatter(timezone.get_current_timezone())
    else:
        when = _DATETIME.to_representation
    companies: dict[int, dict[str, Any]] = {}
    campaigns: dict[int, dict[str, Any]] = {}
    owners: dict[int, dict[str, Any]] = {}
    result = []
    for row in rows:
        company = _once(companies, row["company"], _company_summary, row)
        campaign = _once(campaigns, row["campaign"], _campaign_summary, row)
        owner = _once(owners, row["owner"], _owner_summary, row)
        version = row["scoring_model__version"] if row["scoring_model"] is not None else None
        first_name, last_name = row["first_name"], row["last_name"]
        fit, engagement = row["fit_score"], row["engagement_score"]
        hot_signal_at = row["hot_signal_at"]
        result.append(
            {
                "id": int(row["id"]),
                "email": str(row["email"]),
                "first_name": str(first_name),
                "last_name": str(last_name),
                "full_name": full_name(first_name, last_name),
                "job_title": str(row["job_title"]),
                "phone": str(row["phone"]),
                "company": company,
                "source_channel": _choice(_CHANNELS, row["source_channel"]),
                "source_detail": str(row["source_detail"]),
                "campaign": campaign,
                "owner": owner,
                "stage": _choice(_STAGES, row["stage"]),
                "stage_changed_at": when(row["stage_changed_at"]),
                "fit_score": int(fit),
                "engagement_score": int(engagement),
                "total_score": int(fit + engagement),  # Lead.total_score
                "score_explanation": sort_explanation(list(row["score_explanation"] or [])),
                "is_hot": hot_signal_at is not None,  # Lead.is_hot
                "hot_signal_at": when(hot_signal_at),
                "scoring_model_version": None if version is None else int(version),
                "scored_at": when(row["scored_at"]),
                "created_at": when(row["created_at"]),
                "updated_at": when(row["updated_at"]),
            }
        )
    return result


def _once(
    made: dict[int, dict[str, Any]], key: int | None, make: Callable[[Mapping[str, Any]], dict[str, Any]], row: Any
) -> dict[str, Any] | None:
    """The summary of a row's related record (None when it has none), made once per page per id."""
    if key is None:
        return None
    summary = made.get(key)
    if summary is None:
        summary = made[key] = make(row)
    return summary


def _campaign_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    # CampaignSummarySerializer's fields.
    return {"id": int(row["campaign"]), "slug": str(row["campaign__slug"]), "name": str(row["campaign__name"])}


def _owner_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    # UserSummarySerializer's fields, the name as the user model gives it.
    user = get_user_model()(
        id=row["owner"],
        first_name=row["owner__first_name"],
        last_name=row["owner__last_name"],
        **{_USERNAME: row[f"owner__{_USERNAME}"]},
    )
    return user_summary(user)


def _company_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    # CompanySummarySerializer's fields; the country code and segment as the model gives them.
    size = row["company__size"]
    return {
        "id": int(row["company"]),
        "name": str(row["company__name"]),
        "domain": str(row["company__domain"]),
        "industry": _choice(_INDUSTRIES, row["company__industry"]),
        "size": _choice(_SIZES, size),
        "country": _country_code(row["company__country"]),
        "segment": _segment(size),
    }


@functools.cache
def _country_code(stored: str) -> str | None:
    """`company.country.code` for a stored value (django-countries normalises it)."""
    code = Company(country=stored).country.code
    return None if code is None else str(code)


@functools.cache
def _segment(size: str) -> str:
    """`company.segment`: a function of the size alone."""
    return str(Company(size=size).segment)


class LeadDuplicateSerializer(serializers.ModelSerializer):
    """A likely duplicate of a lead: enough to tell whether it is the same person."""

    full_name = serializers.CharField(read_only=True)
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    source_channel = ChannelField(read_only=True)
    stage = StageField(read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "full_name",
            "job_title",
            "phone",
            "company",
            "source_channel",
            "owner",
            "stage",
            "created_at",
        ]
        read_only_fields = fields


class ActivityTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityType
        fields = ["code", "name", "category", "is_hot_signal", "is_active", "description"]
        read_only_fields = fields


class ActivityTypeSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityType
        fields = ["code", "name"]
        read_only_fields = fields


class ActivitySerializer(serializers.ModelSerializer):
    type = ActivityTypeSummarySerializer(read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "type", "occurred_at", "properties", "source_system", "external_id", "created_at"]
        read_only_fields = fields


class TransitionActorSerializer(serializers.Serializer):
    """Who made a stage change: a user, or (`user` null) the named automatic rule."""

    user = UserSummarySerializer(source="actor_user", read_only=True, allow_null=True)
    rule = serializers.CharField(source="actor_rule", read_only=True)
    label = serializers.CharField(source="actor_label", read_only=True)


class StageTransitionSerializer(serializers.ModelSerializer):
    from_stage = serializers.CharField(
        read_only=True, help_text="The stage before (a `Stage`); empty for the lead's creation."
    )
    to_stage = StageField(read_only=True)
    actor = TransitionActorSerializer(source="*", read_only=True)

    class Meta:
        model = StageTransition
        fields = ["id", "from_stage", "to_stage", "at", "actor", "reason"]
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    channel = ChannelOrBlankField(read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "slug", "name", "channel", "starts_on", "ends_on", "created_at"]
        read_only_fields = fields


# --- Writing -------------------------------------------------------------------------------

_STAGE_READ_ONLY = "The stage cannot be written; move a lead with POST /api/v1/leads/{id}/transition/."
_SCORE_READ_ONLY = "Scores are computed by the scoring model and cannot be written."


class _LeadWriteSerializer(StrictInputMixin, serializers.ModelSerializer):
    # The editable profile fields: leads.services.LEAD_EDITABLE_FIELDS.

    read_only_messages = {
        "stage": _STAGE_READ_ONLY,
        "stage_changed_at": _STAGE_READ_ONLY,
        **dict.fromkeys(
            (
                "fit_score",
                "engagement_score",
                "total_score",
                "score_explanation",
                "is_hot",
                "hot_signal_at",
                "scoring_model_version",
                "scored_at",
            ),
            _SCORE_READ_ONLY,
        ),
    }
    read_only_fields_of = LeadSerializer

    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), allow_null=True, required=False, help_text="Company id."
    )
    campaign = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Campaign.objects.all(),
        allow_null=True,
        required=False,
        help_text="Campaign slug (its utm_campaign value).",
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Id of an active user.",
    )
    source_channel = ChannelField(required=False)

    class Meta:
        model = Lead
        fields = [
            "first_name",
            "last_name",
            "job_title",
            "phone",
            "company",
            "source_channel",
            "source_detail",
            "campaign",
            "owner",
        ]
        validators: list[Any] = []


class LeadCreateSerializer(_LeadWriteSerializer):
    """A new lead. Keys other than these (the stage, the scores, unknown names) are refused."""

    email = serializers.CharField(max_length=254, help_text="Stored trimmed and lower case; unique whatever its case.")
    company_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Without `company`, the company is found or created from the email's domain "
        "(none for free-mail addresses); this names it when it is new.",
    )

    class Meta(_LeadWriteSerializer.Meta):
        fields = ["email", "company_name", *_LeadWriteSerializer.Meta.fields]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("company") is not None and attrs.get("company_name"):
            raise serializers.ValidationError(
                {"company_name": "Give either `company` (an id) or `company_name`, not both."}
            )
        return attrs


class LeadUpdateSerializer(_LeadWriteSerializer):
    """A lead's editable profile. PATCH changes the fields given; PUT replaces them all, so needs
    every one. The email, stage and scores are refused."""

    read_only_messages = {
        **_LeadWriteSerializer.read_only_messages,
        "email": "The email address of a lead cannot be changed.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.partial:
            for field in self.fields.values():
                field.required = True


class LeadTransitionSerializer(StrictInputMixin, serializers.Serializer):
    """A stage change request."""

    to = StageField(help_text="The stage to move the lead to.")
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Required to recycle or disqualify, and for a person to make a lead an MQL.",
    )
    reason_code = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="To recycle or disqualify: a reason from the managed list (GET /api/v1/rejection-reasons/), "
        "with `reason` as its note; without one, “Other” with `reason` as its note.",
    )


class CampaignCreateSerializer(StrictInputMixin, serializers.ModelSerializer):
    """A new campaign. The slug is stored lower case and must be unique."""

    read_only_fields_of = CampaignSerializer
    channel = ChannelOrBlankField(required=False)

    class Meta:
        model = Campaign
        fields = ["slug", "name", "channel", "starts_on", "ends_on"]
        # Uniqueness is checked by the create function, after the slug is normalised.
        validators: list[Any] = []
        extra_kwargs = {"slug": {"validators": []}}


# --- Ingestion -----------------------------------------------------------------------------


class UtmSerializer(StrictInputMixin, serializers.Serializer):
    """The UTM parameters of the link the lead came in by: first-touch attribution."""

    utm_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_medium = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_campaign = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="A campaign slug; the campaign is created when it is new.",
    )
    utm_content = serializers.CharField(max_length=200, required=False, allow_blank=True)
    utm_term = serializers.CharField(max_length=200, required=False, allow_blank=True)


class LeadUpsertSerializer(StrictInputMixin, serializers.Serializer):
    """A lead by email: created if new, otherwise its given profile fields are updated.

    Blank or missing fields never erase what is stored. `company_name` and `utm` are used only
    when the lead is created: first-touch attribution is never overwritten.
    """

    read_only_messages = LeadCreateSerializer.read_only_messages
    read_only_fields_of = LeadSerializer

    email = serializers.CharField(
        max_length=254, help_text="Matched trimmed and case-insensitively against existing leads."
    )
    first_name = serializers.CharField(max_length=LEAD_FIELDS["first_name"], required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=LEAD_FIELDS["last_name"], required=False, allow_blank=True)
    job_title = serializers.CharField(max_length=LEAD_FIELDS["job_title"], required=False, allow_blank=True)
    phone = serializers.CharField(max_length=LEAD_FIELDS["phone"], required=False, allow_blank=True)
    company_name = serializers.CharField(
        max_length=LEAD_FIELDS["company_name"],
        required=False,
        allow_blank=True,
        help_text="Names the company found or created from the email's domain, for a new lead.",
    )
    utm = UtmSerializer(required=False, help_text="Attribution for a new lead; ignored for an existing one.")


class LeadMergeSerializer(StrictInputMixin, serializers.Serializer):
    """Which lead to merge into this one (the survivor)."""

    duplicate = serializers.IntegerField(
        min_value=1,
        help_text="Id of the duplicate lead. Its activities and history move to this lead; then it is deleted.",
    )


# Documentation only: `POST /api/v1/activities/` hands the raw items to
# leads.ingestion.activities_ingest, which validates each one (a serializer per item would cost
# more than the writes). These describe the same shape for the OpenAPI schema.


class ActivityItemLeadSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=LEAD_FIELDS["first_name"], required=False)
    last_name = serializers.CharField(max_length=LEAD_FIELDS["last_name"], required=False)
    job_title = serializers.CharField(max_length=LEAD_FIELDS["job_title"], required=False)
    phone = serializers.CharField(max_length=LEAD_FIELDS["phone"], required=False)
    company_name = serializers.CharField(max_length=LEAD_FIELDS["company_name"], required=False)


class ActivityItemSerializer(serializers.Serializer):
    email = serializers.CharField(
        max_length=254, help_text="The lead's address; the lead (and its company) is created if new."
    )
    type = serializers.CharField(help_text="An active activity type code; see /api/v1/activity-types/.")
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601 with a time zone, not in the future. Default: now."
    )
    source_system = serializers.CharField(
        max_length=50, required=False, help_text="The sending system. Default: `api`."
    )
    external_id = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The event's id in the sending system. With `source_system` it makes re-sending "
        "safe: a pair seen before is answered `duplicate` and not stored again.",
    )
    properties = serializers.DictField(required=False, help_text="Any JSON object, at most 16 KB.")
    lead = ActivityItemLeadSerializer(required=False, help_text="Profile for a new lead; ignored otherwise.")
    utm = UtmSerializer(required=False, help_text="Attribution for a new lead; ignored otherwise.")


class ActivityItemsSerializer(serializers.Serializer):
    items = ActivityItemSerializer(many=True)


class ActivityItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request, from 0.")
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    activity_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The stored activity (for a duplicate, the earlier one)."
    )
    lead_id = serializers.IntegerField(required=False)
    lead_created = serializers.BooleanField(required=False, help_text="This item created the lead.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for `error`: `{field: [problem, ...]}`; nested fields as `lead.phone`.",
    )


class ActivityBatchResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
    results = ActivityItemResultSerializer(many=True, help_text="One per item, in request order.")


class FormCaptureSerializer(serializers.Serializer):
    """A website form's fields (documentation; leads.ingestion.form_capture reads them)."""

    email = serializers.CharField()
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    job_title = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)
    company = serializers.CharField(required=False, help_text="Or `company_name`.")
    utm_source = serializers.CharField(required=False)
    utm_medium = serializers.CharField(required=False)
    utm_campaign = serializers.CharField(required=False)
    utm_content = serializers.CharField(required=False)
    utm_term = serializers.CharField(required=False)
    submission_id = serializers.CharField(
        required=False, help_text="The form tool's id for this submission: a re-sent one is recorded once."
    )
    form_key = serializers.CharField(
        required=False, help_text="The form source's key, for plain HTML forms that cannot send headers."
    )
    baton_hp = serializers.CharField(
        required=False,
        help_text="Honeypot: put it in the form as a hidden, empty field. Bots fill it in; a "
        "submission with it filled is answered like any other but not stored.",
    )
