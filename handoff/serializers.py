"""API serializers for the handoff. They check the shape of input and render output; who may act
and every business rule (routing, SLAs, BANT and the qualification policy, conversion) is in
`handoff.services`, which the API views call with `validated_data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api import StrictInputMixin, UserSummarySerializer
from handoff import services
from handoff.models import (
    Assignment,
    AuthorityRole,
    BudgetStatus,
    CallOutcome,
    DiscoveryCall,
    Notification,
    NotificationKind,
    Opportunity,
    OpportunityStatus,
    ReasonUse,
    RejectionReason,
    SlaClock,
    SlaStatus,
    Team,
    Timeframe,
)
from handoff.selectors import api as selectors
from leads.lifecycle import Stage
from leads.models import Activity, Lead
from leads.scoring import sort_explanation
from leads.serializers import (
    CampaignSummarySerializer,
    ChannelField,
    CompanySummarySerializer,
    ScoreContributionSerializer,
    StageField,
)

# --- Choice fields, each one named component in the OpenAPI schema ------------------------------


def _named_choice_field(choices: list[tuple[str, str]], name: str) -> type[serializers.ChoiceField]:
    """A ChoiceField class over `choices` that the schema shows as the component `name`, and whose
    refusal lists the accepted values."""

    values = ", ".join(value for value, _ in choices)

    @extend_schema_field(serializers.ChoiceField(choices=choices), component_name=name)
    class Field(serializers.ChoiceField):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("error_messages", {})
            kwargs["error_messages"].setdefault("invalid_choice", f"“{{input}}” is not one of: {values}.")
            super().__init__(choices=choices, **kwargs)

    Field.__name__ = Field.__qualname__ = f"{name}Field"
    return Field


SlaStatusField = _named_choice_field(SlaStatus.choices, "SlaStatus")
TouchKindField = _named_choice_field([(k, k.capitalize()) for k in services.TOUCH_TYPES], "TouchKind")
RejectToField = _named_choice_field(
    [(Stage.RECYCLED, "Recycled (back to nurture)"), (Stage.DISQUALIFIED, "Disqualified")], "RejectTo"
)
AdvanceToField = _named_choice_field(
    [(Stage.OPPORTUNITY, Stage.OPPORTUNITY.label), (Stage.CUSTOMER, Stage.CUSTOMER.label)], "AdvanceTo"
)
BudgetStatusField = _named_choice_field(BudgetStatus.choices, "BudgetStatus")
AuthorityRoleField = _named_choice_field(AuthorityRole.choices, "AuthorityRole")
TimeframeField = _named_choice_field(Timeframe.choices, "Timeframe")
CallOutcomeField = _named_choice_field(CallOutcome.choices, "CallOutcome")
ReasonUseField = _named_choice_field(ReasonUse.choices, "ReasonUse")
NotificationKindField = _named_choice_field(NotificationKind.choices, "NotificationKind")


def _now(context: dict[str, Any]) -> datetime:
    """The request's moment, shared by every row, so a page's statuses and ages agree."""
    return context.get("now") or timezone.now()


# --- Reading ------------------------------------------------------------------------------------


class LeadBriefSerializer(serializers.ModelSerializer):
    """A lead as a row of another list shows it (company and campaign joined by the selector)."""

    full_name = serializers.CharField(read_only=True)
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    campaign = CampaignSummarySerializer(read_only=True, allow_null=True)
    source_channel = ChannelField(read_only=True)
    stage = StageField(read_only=True)
    total_score = serializers.IntegerField(read_only=True)
    is_hot = serializers.BooleanField(read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "full_name",
            "job_title",
            "company",
            "source_channel",
            "campaign",
            "stage",
            "fit_score",
            "engagement_score",
            "total_score",
            "is_hot",
        ]
        read_only_fields = fields


class QueueLeadSerializer(LeadBriefSerializer):
    """An MQL waiting in the queue: scores with their explanation, where it came from, how long
    it has waited."""

    score_explanation = serializers.SerializerMethodField(
        help_text="The contributions the two scores are made of, fit first, biggest first."
    )
    mql_at = serializers.DateTimeField(
        source="stage_changed_at", read_only=True, help_text="When the lead entered the queue (became an MQL)."
    )
    queue_age_minutes = serializers.SerializerMethodField(help_text="Minutes in the queue at the time of the request.")

    class Meta(LeadBriefSerializer.Meta):
        fields = [
            *LeadBriefSerializer.Meta.fields,
            "source_detail",
            "score_explanation",
            "hot_signal_at",
            "mql_at",
            "queue_age_minutes",
        ]
        read_only_fields = fields

    @extend_schema_field(ScoreContributionSerializer(many=True))
    def get_score_explanation(self, lead: Lead) -> list[dict[str, Any]]:
        return sort_explanation(list(lead.score_explanation or []))

    def get_queue_age_minutes(self, lead: Lead) -> int:
        return max(int((_now(self.context) - lead.stage_changed_at).total_seconds() // 60), 0)


class TeamSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name"]
        read_only_fields = fields


class SlaClockSerializer(serializers.ModelSerializer):
    """The first-touch clock. `status` is derived from the timestamps at the time of the request."""

    policy = serializers.CharField(source="policy.name", read_only=True, help_text="The SLA policy's name.")
    status = serializers.SerializerMethodField()

    class Meta:
        model = SlaClock
        fields = ["started_at", "warn_at", "due_at", "first_touch_at", "status", "policy"]
        read_only_fields = fields

    @extend_schema_field(SlaStatusField(read_only=True))
    def get_status(self, clock: SlaClock) -> str:
        return clock.status_at(_now(self.context))


class AssignmentSerializer(serializers.ModelSerializer):
    """An open (or just made) assignment of a lead to a rep, with its SLA clock."""

    lead = LeadBriefSerializer(read_only=True)
    rep = UserSummarySerializer(read_only=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    clock = SlaClockSerializer(read_only=True)

    class Meta:
        model = Assignment
        fields = ["id", "lead", "rep", "team", "assigned_at", "clock"]
        read_only_fields = fields


class TouchSerializer(serializers.ModelSerializer):
    """A sales touch, as logged (an activity of type sales_call, sales_email or sales_meeting)."""

    kind = serializers.SerializerMethodField()
    at = serializers.DateTimeField(source="occurred_at", read_only=True)
    note = serializers.SerializerMethodField()
    by = UserSummarySerializer(source="user", read_only=True, allow_null=True)

    class Meta:
        model = Activity
        fields = ["id", "kind", "at", "note", "by"]
        read_only_fields = fields

    @extend_schema_field(TouchKindField(read_only=True))
    def get_kind(self, activity: Activity) -> str:
        return {code: kind for kind, code in services.TOUCH_TYPES.items()}.get(activity.type_id, "")

    def get_note(self, activity: Activity) -> str:
        return str((activity.properties or {}).get("note", ""))


class DiscoveryCallSerializer(serializers.ModelSerializer):
    sdr = UserSummarySerializer(read_only=True)
    budget_status = BudgetStatusField(read_only=True)
    authority_role = AuthorityRoleField(read_only=True)
    timeframe = TimeframeField(read_only=True)
    outcome = CallOutcomeField(read_only=True)
    policy_verdict = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The qualification policy's criteria this call's answers miss, in words (empty: qualifies).",
    )
    opportunity = serializers.SerializerMethodField(help_text="Id of the opportunity this call opened, if any.")

    class Meta:
        model = DiscoveryCall
        fields = [
            "id",
            "lead",
            "sdr",
            "held_at",
            "budget_status",
            "budget_amount",
            "budget_currency",
            "authority_role",
            "decision_maker",
            "need_pain",
            "need_use_case",
            "timeframe",
            "expected_decision_date",
            "notes",
            "outcome",
            "policy_verdict",
            "opportunity",
            "created_at",
        ]
        read_only_fields = fields

    def get_opportunity(self, call: DiscoveryCall) -> int | None:
        opportunity = getattr(call, "opportunity", None)  # a missing reverse one-to-one raises AttributeError
        return opportunity.pk if opportunity is not None else None


class OpportunityLeadSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    stage = StageField(read_only=True)

    class Meta:
        model = Lead
        fields = ["id", "email", "full_name", "company", "stage"]
        read_only_fields = fields


OpportunityStatusField = _named_choice_field(OpportunityStatus.choices, "OpportunityStatus")


class OpportunitySerializer(serializers.ModelSerializer):
    """An opportunity, one per qualifying pass: `open`, or closed — `lost` when the lead left sales,
    `won` when it became a customer — at `closed_at`."""

    lead = OpportunityLeadSerializer(read_only=True)
    owner = UserSummarySerializer(read_only=True)
    status = OpportunityStatusField(read_only=True)

    class Meta:
        model = Opportunity
        fields = [
            "id", "name", "lead", "discovery_call", "amount", "currency", "expected_close", "owner", "created_at",
            "status", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields


class CallLoggedSerializer(serializers.Serializer):
    """What logging a discovery call did."""

    call = DiscoveryCallSerializer(read_only=True)
    opportunity = OpportunitySerializer(
        read_only=True, allow_null=True, help_text="The opportunity, when the call qualified and converted the lead."
    )
    lead_stage = StageField(read_only=True, help_text="The lead's stage after the call (`sql` when it converted).")


class RejectionReasonSerializer(serializers.ModelSerializer):
    use = ReasonUseField(read_only=True, help_text="`recycle`, `disqualify`, or `both`.")

    class Meta:
        model = RejectionReason
        fields = ["code", "label", "use"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    kind = NotificationKindField(read_only=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "lead", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class BulkItemResultSerializer(serializers.Serializer):
    lead = serializers.IntegerField(help_text="The lead's id, as sent.")
    ok = serializers.BooleanField()
    message = serializers.CharField(help_text="What was done, or why it was refused.")


class BulkResultSerializer(serializers.Serializer):
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkItemResultSerializer(many=True, help_text="One per distinct lead, in request order.")


class MarkReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="Notifications marked read by this request.")
    unread = serializers.IntegerField(help_text="Your notifications still unread.")


# --- Writing ------------------------------------------------------------------------------------

MAX_BULK_LEADS = 500
_REASON_HELP = "A code from the managed list: GET /api/v1/rejection-reasons/."


class BulkLeadsSerializer(StrictInputMixin, serializers.Serializer):
    leads = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=MAX_BULK_LEADS,
        help_text=f"Lead ids, at most {MAX_BULK_LEADS}; each is handled (and answered) on its own.",
    )


class HandOffSerializer(BulkLeadsSerializer):
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Team id, overriding the routing rules; round robin still picks the rep.",
    )


NURTURE_UNTIL_HELP = (
    "The end of the cool-off (a date, today or later): before it no rescoring brings the lead back to MQL, "
    "and only engagement after the recycling counts. Default: the reason's cool-off (e.g. 90 days for timing)."
)


class QueueExitSerializer(BulkLeadsSerializer):
    """Nurture or disqualify many MQLs with one reason from the managed list (checked here once,
    so a wrong reason is one 400 naming `reason`, not a refusal per lead)."""

    use: str = ""
    reason = serializers.CharField(help_text=_REASON_HELP)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate_reason(self, code: str) -> str:
        reasons = selectors.active_rejection_reasons(use=self.use)
        if code not in {reason.code for reason in reasons}:
            choices = ", ".join(reason.code for reason in reasons)
            raise serializers.ValidationError(f"“{code}” is not a reason to {self.verb}; choose one of: {choices}.")
        return code

    @property
    def verb(self) -> str:
        return "send a lead back to nurture" if self.use == ReasonUse.RECYCLE else "disqualify a lead"


class NurtureSerializer(QueueExitSerializer):
    use = ReasonUse.RECYCLE
    nurture_until = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text=NURTURE_UNTIL_HELP,
    )


class DisqualifySerializer(QueueExitSerializer):
    use = ReasonUse.DISQUALIFY


class ReassignSerializer(StrictInputMixin, serializers.Serializer):
    rep = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Id of an active rep; without it, the next rep in the team's rotation takes the lead.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class TouchCreateSerializer(StrictInputMixin, serializers.Serializer):
    kind = TouchKindField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it happened (not in the future). Default: now."
    )


class RejectSerializer(StrictInputMixin, serializers.Serializer):
    to = RejectToField(help_text="`recycled` (back to marketing's nurture) or `disqualified` (out).")
    reason = serializers.CharField(
        help_text=_REASON_HELP,
        error_messages={
            "required": "Choose a reason from the list (GET /api/v1/rejection-reasons/).",
            "blank": "Choose a reason from the list (GET /api/v1/rejection-reasons/).",
        },
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    nurture_until = serializers.DateField(
        required=False, allow_null=True, default=None, help_text=f"When `to` is `recycled`: {NURTURE_UNTIL_HELP}"
    )


def _bant_messages(name: str) -> dict[str, str]:
    # The service's own words for a missing answer, so a client gets one message whichever layer
    # notices first.
    message = f"{services.BANT_FIELDS[name]}."
    return {"required": message, "blank": message, "null": message}


class CallTextField(serializers.CharField):
    """A written answer of a call, normalised as the service counts it (`services.bant_text`):
    one made only of invisible characters and spaces is blank, and refused as missing."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = services.bant_text(super().to_internal_value(data), multiline=self.multiline)
        if not value and not self.allow_blank:
            self.fail("blank")
        return value


class DiscoveryCallCreateSerializer(StrictInputMixin, serializers.Serializer):
    """A discovery call with BANT. Every BANT field is required; a missing one is named with what
    it needs. Whether `qualified` is allowed is the qualification policy's call (400 on `outcome`
    listing the criteria that failed)."""

    read_only_fields_of = DiscoveryCallSerializer

    held_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Default: now.")
    budget_status = BudgetStatusField(error_messages=_bant_messages("budget_status"))
    budget_amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)
    budget_currency = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="ISO 4217 (e.g. USD); needed with an amount."
    )
    authority_role = AuthorityRoleField(error_messages=_bant_messages("authority_role"))
    decision_maker = CallTextField(max_length=200, error_messages=_bant_messages("decision_maker"))
    need_pain = CallTextField(multiline=True, max_length=10000, error_messages=_bant_messages("need_pain"))
    need_use_case = CallTextField(multiline=True, max_length=10000, error_messages=_bant_messages("need_use_case"))
    timeframe = TimeframeField(error_messages=_bant_messages("timeframe"))
    expected_decision_date = serializers.DateField(error_messages=_bant_messages("expected_decision_date"))
    notes = CallTextField(multiline=True, required=False, allow_blank=True, default="", max_length=10000)
    outcome = CallOutcomeField(
        error_messages={
            "required": "Choose the outcome of the call.",
            "blank": "Choose the outcome of the call.",
            "null": "Choose the outcome of the call.",
        }
    )
    convert = serializers.BooleanField(
        default=True,
        write_only=True,
        help_text="Convert the lead to SQL when the call qualifies (default). With `false`, convert "
        "later with POST /api/v1/leads/{id}/convert/.",
    )


class ConvertSerializer(StrictInputMixin, serializers.Serializer):
    call = serializers.IntegerField(min_value=1, help_text="Id of this lead's qualified discovery call.")


class AdvanceSerializer(StrictInputMixin, serializers.Serializer):
    to = AdvanceToField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class MarkReadSerializer(StrictInputMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_null=True,
        max_length=1000,
        help_text="Your notifications to mark read; without it, all of them.",
    )
