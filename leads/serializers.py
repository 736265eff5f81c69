"""API serializers for leads. They check the shape of input and render output; every write and
every business rule is in `leads.services`, which the API views call with `validated_data`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api import StrictInputMixin, UserSummarySerializer
from leads.lifecycle import Stage
from leads.models import Activity, ActivityType, Campaign, Channel, Company, Lead, StageTransition

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


class LeadSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    campaign = CampaignSummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    source_channel = ChannelField(read_only=True)
    stage = StageField(read_only=True)
    total_score = serializers.IntegerField(read_only=True)

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
            "created_at",
            "updated_at",
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
        "fit_score": _SCORE_READ_ONLY,
        "engagement_score": _SCORE_READ_ONLY,
        "total_score": _SCORE_READ_ONLY,
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

    email = serializers.CharField(
        max_length=254, help_text="Stored trimmed and lower case; unique whatever its case."
    )
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
