"""Forms of the scoring page. They check the shape of input; `leads.services` decides the rest.

The services' `ValidationError`s land on the field they name (`put_service_errors`), so a refused
operator shows under the operator, an empty value list under the values the person edited.
"""

from __future__ import annotations

import re
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django_countries import countries

from leads.forms import add_service_errors
from leads.models import (
    ActivityType,
    CompanySize,
    EngagementRule,
    FitAttribute,
    FitOperator,
    FitRule,
    Industry,
    ScoringModel,
)
from leads.scoring import SENIORITY_CHOICES

# Attributes compared with coded values get a multi-select of those values; the rest a text box.
CHOICE_VALUE_FIELDS: dict[str, str] = {
    FitAttribute.SENIORITY: "values_seniority",
    FitAttribute.INDUSTRY: "values_industry",
    FitAttribute.COMPANY_SIZE: "values_company_size",
    FitAttribute.COUNTRY: "values_country",
}
TEXT_VALUES_FIELD = "values_text"
TEXT_VALUE_ATTRIBUTES = (FitAttribute.JOB_TITLE, FitAttribute.EMAIL_DOMAIN)


def split_values(text: str) -> list[str]:
    """ "vp, director\\nhead of" -> ["vp", "director", "head of"]: commas or lines separate."""
    return [part.strip() for part in re.split(r"[,\n;]", text or "") if part.strip()]


def put_service_errors(form: forms.Form, error: ValidationError, renames: dict[str, str] | None = None) -> None:
    """A service's ValidationError on the form, with its field names translated to the form's."""
    if renames and hasattr(error, "error_dict"):
        error = ValidationError({renames.get(name, name): errors for name, errors in error.error_dict.items()})
    add_service_errors(form, error)


class DraftSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    mql_fit_threshold = forms.IntegerField(label="Fit ≥")
    mql_engagement_threshold = forms.IntegerField(label="Engagement ≥")
    decay_half_life_days = forms.IntegerField(
        label="Half-life (days)",
        required=False,
        min_value=1,
        help_text="Engagement points halve after this many days. Leave empty for no decay.",
        error_messages={"min_value": "A half-life is at least 1 day; leave it empty for no decay."},
    )
    hot_signal_window_days = forms.IntegerField(
        label="Hot for (days)", min_value=0, help_text="How long a hot signal flags a lead for fast-track."
    )
    hot_signal_types = forms.MultipleChoiceField(
        label="Hot signals",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Hand-raisers that flag a lead for fast-track routing.",
    )
    fast_track_min_fit = forms.IntegerField(
        label="Never fast-track below fit",
        help_text="A hot lead with a lower fit waits in the queue for review.",
        error_messages={
            "required": "Give the fit below which a hot lead is never fast-tracked, e.g. 10.",
            "invalid": "The fast-track floor is a whole number of fit points, e.g. 10.",
        },
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, draft: ScoringModel, hot_codes: list[str] | None = None, **kwargs: Any) -> None:
        if not args and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": draft.name,
                "mql_fit_threshold": draft.mql_fit_threshold,
                "mql_engagement_threshold": draft.mql_engagement_threshold,
                "decay_half_life_days": draft.decay_half_life_days,
                "hot_signal_window_days": draft.hot_signal_window_days,
                "hot_signal_types": hot_codes or [],
                "fast_track_min_fit": draft.fast_track_min_fit,
                "notes": draft.notes,
            }
        super().__init__(*args, **kwargs)
        selected = set(hot_codes or [])
        types = ActivityType.objects.filter(category="marketing").order_by("name")
        self.fields["hot_signal_types"].choices = [(t.code, t.name) for t in types if t.is_active or t.code in selected]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "name",
            Fieldset(
                "MQL when",
                HTML(
                    '<p class="form-text mt-0 mb-2">A lead becomes an MQL when its fit and its engagement '
                    "both reach these scores.</p>"
                ),
                Row(
                    Column("mql_fit_threshold", css_class="col-sm-6"),
                    Column("mql_engagement_threshold", css_class="col-sm-6"),
                ),
                css_class="form-section",
            ),
            Fieldset("Engagement decay", "decay_half_life_days", css_class="form-section"),
            Fieldset(
                "Fast track",
                # The explanation, with the draft's negative fit rules (the page's `rules`).
                HTML('{% include "leads/scoring/fast_track.html" with rules=rules editing=True %}'),
                Field("hot_signal_types", wrapper_class="hot-signal-choices"),
                "hot_signal_window_days",
                Field("fast_track_min_fit", data_fast_track_floor_input=""),
                css_class="form-section",
                data_testid="fast-track-settings",
            ),
            Fieldset("Notes", "notes", css_class="form-section"),
        )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"].strip(),
            "mql_fit_threshold": data["mql_fit_threshold"],
            "mql_engagement_threshold": data["mql_engagement_threshold"],
            "decay_half_life_days": data["decay_half_life_days"],
            "hot_signal_window_days": data["hot_signal_window_days"],
            "fast_track_min_fit": data["fast_track_min_fit"],
            "notes": data["notes"],
            "hot_signal_types": list(data["hot_signal_types"]),
        }


class FitRuleForm(forms.Form):
    """A fit rule. The operator list and the value box follow the attribute (static/js/scoring.js);
    without scripts every value box shows and the service refuses operators that do not fit."""

    label = forms.CharField(
        max_length=200, required=False, help_text="What explanations show, e.g. “Director or above”."
    )
    attribute = forms.ChoiceField(label="When", choices=FitAttribute.choices)
    operator = forms.ChoiceField(label="Operator", choices=FitOperator.choices)
    values_text = forms.CharField(
        label="Values",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "vp, director\nhead of"}),
        help_text="Separated by commas or one per line; compared without regard to case.",
    )
    values_seniority = forms.MultipleChoiceField(
        label="Seniorities",
        required=False,
        choices=SENIORITY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Seniority is read from the job title (“VP of Sales” is VP).",
    )
    values_industry = forms.MultipleChoiceField(
        label="Industries", required=False, choices=Industry.choices, widget=forms.CheckboxSelectMultiple
    )
    values_company_size = forms.MultipleChoiceField(
        label="Company sizes", required=False, choices=CompanySize.choices, widget=forms.CheckboxSelectMultiple
    )
    values_country = forms.MultipleChoiceField(
        label="Countries",
        required=False,
        choices=list(countries),
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="Hold Ctrl (⌘ on a Mac) to choose several.",
    )
    points = forms.IntegerField(
        min_value=-1000, max_value=1000, help_text="Negative points lower the fit score (students, competitors)."
    )

    def __init__(self, *args: Any, rule: FitRule | None = None, **kwargs: Any) -> None:
        if rule is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(rule)
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "label",
            Row(
                Column(Field("attribute", data_fit_attribute=""), css_class="col-md-6"),
                Column(Field("operator", data_fit_operator=""), css_class="col-md-6"),
            ),
            Div(TEXT_VALUES_FIELD, css_class="fit-values", data_values_for=" ".join(TEXT_VALUE_ATTRIBUTES)),
            *[
                Div(name, css_class=f"fit-values fit-values-{attribute}", data_values_for=attribute)
                for attribute, name in CHOICE_VALUE_FIELDS.items()
            ],
            Div("points", css_class="fit-points"),
        )

    @staticmethod
    def initial_for(rule: FitRule) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "label": rule.label,
            "attribute": rule.attribute,
            "operator": rule.operator,
            "points": rule.points,
        }
        if rule.attribute in CHOICE_VALUE_FIELDS:
            initial[CHOICE_VALUE_FIELDS[rule.attribute]] = list(rule.values)
        elif rule.attribute in TEXT_VALUE_ATTRIBUTES:
            initial[TEXT_VALUES_FIELD] = ", ".join(rule.values)
        return initial

    def values_field(self, attribute: str | None = None) -> str:
        """The form field that holds the values for `attribute` (the chosen one by default)."""
        attribute = attribute or self.data.get("attribute") or self.initial.get("attribute") or ""
        return CHOICE_VALUE_FIELDS.get(attribute, TEXT_VALUES_FIELD)

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        attribute = data["attribute"]
        if attribute in CHOICE_VALUE_FIELDS:
            values = list(data[CHOICE_VALUE_FIELDS[attribute]])
        elif attribute in TEXT_VALUE_ATTRIBUTES:
            values = split_values(data[TEXT_VALUES_FIELD])
        else:
            values = []
        return {
            "label": data["label"],
            "attribute": attribute,
            "operator": data["operator"],
            "values": values,
            "points": data["points"],
        }

    def add_service_errors(self, error: ValidationError) -> None:
        put_service_errors(self, error, {"values": self.values_field()})


class EngagementRuleForm(forms.Form):
    activity_type = forms.ChoiceField(label="Activity type")
    points = forms.IntegerField(
        min_value=-1000, max_value=1000, help_text="Per activity; negative for unsubscribes and the like."
    )
    max_points = forms.IntegerField(
        label="Cap",
        required=False,
        help_text="The most (or, for negative points, the least) this type adds up to. Empty: no cap.",
    )
    decays = forms.BooleanField(
        label="Fades with age", required=False, help_text="Older activities count for less (the half-life)."
    )
    label = forms.CharField(
        max_length=200, required=False, help_text="Optional: shown in explanations instead of the type's name."
    )

    def __init__(
        self,
        *args: Any,
        rule: EngagementRule | None = None,
        used_types: set[str] | frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        if not args and "initial" not in kwargs:
            kwargs["initial"] = (
                {
                    "activity_type": rule.activity_type_id,
                    "points": rule.points,
                    "max_points": rule.max_points,
                    "decays": rule.decays,
                    "label": rule.label,
                }
                if rule is not None
                else {"decays": True}
            )
        super().__init__(*args, **kwargs)
        current = rule.activity_type_id if rule is not None else None
        self.fields["activity_type"].choices = [
            (t.code, t.name if t.code not in used_types or t.code == current else f"{t.name} (already has a rule)")
            for t in ActivityType.objects.order_by("category", "name")
            if t.is_active or t.code == current
        ]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "activity_type",
            Row(Column("points", css_class="col-sm-6"), Column("max_points", css_class="col-sm-6")),
            "decays",
            "label",
        )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "activity_type": data["activity_type"],
            "points": data["points"],
            "max_points": data["max_points"],
            "decays": data["decays"],
            "label": data["label"],
        }
