"""The MQL queue's filters (kept in the URL) and its action form.

They check the shape of input; `handoff.services` decides the outcome of each action.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import django_filters
from crispy_forms.helper import FormHelper
from django import forms
from django.db.models import QuerySet, TextChoices
from django.utils import timezone

from handoff.models import RejectionReason, Team
from leads.filters import LeadFilter, ModelChoiceFilter
from leads.models import SEGMENT_SIZES, Campaign, Channel, Lead, Segment

# --- Sorts ------------------------------------------------------------------------------------

# The key a user picks -> (label, keyset ordering ending in the id). `mql_at` is the queue
# selector's annotation: when the lead last entered the queue.
QUEUE_SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "oldest": ("Oldest in queue first", ("mql_at", "id")),
    "fit": ("Highest fit score", ("-fit_score", "-id")),
    "engagement": ("Highest engagement score", ("-engagement_score", "-id")),
    "newest": ("Newest in queue first", ("-mql_at", "-id")),
}
DEFAULT_QUEUE_SORT = "oldest"  # marketers work the queue first in, first out


def queue_sort_ordering(sort: str | None) -> tuple[str, ...]:
    return QUEUE_SORTS.get(sort or DEFAULT_QUEUE_SORT, QUEUE_SORTS[DEFAULT_QUEUE_SORT])[1]


# --- Filters ----------------------------------------------------------------------------------

WAIT_PATTERN = re.compile(r"^\s*(\d{1,4})\s*([hd])\s*$", re.IGNORECASE)
# Offered in the filter panel; the URL takes any "<n>h" or "<n>d".
WAIT_PRESETS: tuple[tuple[str, str], ...] = (
    ("1h", "More than 1 hour"),
    ("4h", "More than 4 hours"),
    ("1d", "More than 1 day"),
    ("2d", "More than 2 days"),
    ("7d", "More than a week"),
)


def wait_label(value: timedelta) -> str:
    """timedelta(hours=4) -> "4 hours", timedelta(days=2) -> "2 days"."""
    hours = int(value.total_seconds() // 3600)
    if hours % 24 == 0 and hours:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


class WaitField(forms.CharField):
    """“4h” or “2d” -> a timedelta."""

    def to_python(self, value: Any) -> timedelta | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        match = WAIT_PATTERN.match(text)
        if match is None:
            raise forms.ValidationError("Enter a wait such as 4h (hours) or 2d (days).", code="invalid")
        amount, unit = int(match[1]), match[2].lower()
        return timedelta(hours=amount) if unit == "h" else timedelta(days=amount)


class WaitFilter(django_filters.Filter):
    field_class = WaitField


class QueueFilter(django_filters.FilterSet):
    """The queue's filters; names match the lead list's, so links and habits carry over."""

    q = django_filters.CharFilter(method="search", label="Search")
    source_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Source")
    campaign = ModelChoiceFilter(queryset=Campaign.objects.order_by("name"))
    segment = django_filters.ChoiceFilter(choices=Segment.choices, method="filter_segment")
    fit_min = django_filters.NumberFilter(field_name="fit_score", lookup_expr="gte", label="Fit ≥")
    fit_max = django_filters.NumberFilter(field_name="fit_score", lookup_expr="lte", label="Fit ≤")
    engagement_min = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="gte", label="Engagement ≥")
    engagement_max = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="lte", label="Engagement ≤")
    waiting = WaitFilter(method="filter_waiting", label="Waiting")
    hot = django_filters.BooleanFilter(method="filter_hot", widget=forms.CheckboxInput, label="Hot leads only")

    class Meta:
        model = Lead
        fields: list[str] = []

    # The lead list's search (email prefix, name, company), so both find the same leads.
    search = LeadFilter.search

    def filter_segment(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return queryset.filter(company__size__in=SEGMENT_SIZES[value]) if value else queryset

    def filter_waiting(self, queryset: QuerySet[Lead], name: str, value: timedelta | None) -> QuerySet[Lead]:
        return queryset.filter(mql_at__lte=timezone.now() - value) if value is not None else queryset

    def filter_hot(self, queryset: QuerySet[Lead], name: str, value: bool | None) -> QuerySet[Lead]:
        return queryset.filter(hot_signal_at__isnull=False) if value else queryset


# --- Actions ----------------------------------------------------------------------------------


class QueueDecision(TextChoices):
    HAND_OFF = "hand_off", "Hand off to sales"
    NURTURE = "nurture", "Send back to nurture"
    DISQUALIFY = "disqualify", "Disqualify"


REASON_REQUIRED = {
    QueueDecision.NURTURE: "Choose why the lead goes back to nurture.",
    QueueDecision.DISQUALIFY: "Choose why the lead is disqualified.",
}
MAX_LEADS_PER_ACTION = 200


class LeadIdsField(forms.Field):
    """The picked leads: one or more ids (checkboxes named `lead`)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one lead.",
        "invalid": "The selection is not a list of leads; reload the queue and select again.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            ids = [int(v) for v in values]
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        if any(pk <= 0 for pk in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        ids = list(dict.fromkeys(ids))
        if len(ids) > MAX_LEADS_PER_ACTION:
            raise forms.ValidationError(f"Select at most {MAX_LEADS_PER_ACTION} leads at once.", code="too_many")
        return ids


class QueueActionForm(forms.Form):
    """Hand off, send back to nurture or disqualify one lead or many.

    `reasons` is `handoff.selectors.queue.queue_reasons()` (reasons by decision); `decision`
    narrows the reason list shown when the form is rendered for one decision.
    """

    action = forms.ChoiceField(choices=QueueDecision.choices, widget=forms.HiddenInput)
    lead = LeadIdsField(label="Leads")
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="Route automatically",
        label="Team",
        help_text="Leave on automatic to let the routing rules choose.",
    )
    reason = forms.ChoiceField(required=False, label="Reason")
    note = forms.CharField(
        required=False,
        max_length=500,
        label="Note",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional. Saved with the stage change, after the reason.",
    )
    nurture_until = forms.DateField(
        required=False,
        label="Nurture until",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="No rescoring brings the lead back before this date. Empty: the reason's cool-off.",
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        reasons: dict[str, list[RejectionReason]],
        decision: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reasons = reasons
        if self.is_bound:
            decision = self.data.get("action") or decision
        every = list({r.code: r for r in (*reasons["nurture"], *reasons["disqualify"])}.values())
        shown = reasons.get(decision or "", every)
        # Any active reason passes the field, so that a reason for the other use gets the clear
        # message of clean(); the list offers only the reasons for this decision.
        self.fields["reason"].choices = [("", "Choose a reason…"), *((r.code, r.label) for r in every)]
        self.fields["reason"].widget.choices = [("", "Choose a reason…"), *((r.code, r.label) for r in shown)]
        if decision in REASON_REQUIRED:
            self.fields["reason"].required = True
            self.fields["reason"].error_messages["required"] = REASON_REQUIRED[QueueDecision(decision)]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        decision = data.get("action")
        if decision in REASON_REQUIRED:
            code = data.get("reason")
            allowed = {r.code: r for r in self.reasons[decision]}
            if not code:
                if not self.has_error("reason"):
                    self.add_error("reason", REASON_REQUIRED[decision])
            elif code not in allowed:
                label = dict(self.fields["reason"].choices).get(code, code)  # every active reason
                verb = "send a lead back to nurture" if decision == QueueDecision.NURTURE else "disqualify a lead"
                self.add_error("reason", f"“{label}” is not a reason to {verb}.")
            data["team"] = None
        elif decision == QueueDecision.HAND_OFF:
            data["reason"], data["note"] = "", ""
        if decision != QueueDecision.NURTURE:
            data["nurture_until"] = None
        return data
