"""Forms for the lead pages. They check the shape of input; `leads.services` decides the rest.

Errors a service raises (`ValidationError` keyed by field) are put back on the form with
`add_service_errors`, so the person sees which field to fix.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from leads.lifecycle import Stage, TransitionRefused, allowed_targets
from leads.models import Campaign, Channel, Lead

# Stage changes the lead page offers. The sales stages (SAL, SQL, opportunity, customer) are
# reached through their own flows — acceptance, the qualifying call, advancing the opportunity —
# and a posted one is answered by handoff's dispatcher (`leads.services.lead_move`), naming them.
MANUAL_TARGETS: tuple[Stage, ...] = (Stage.MQL, Stage.RECYCLED, Stage.DISQUALIFIED)
# Stages the stage select shows, disabled, when the lifecycle allows them from the lead's stage:
# the person sees the move exists and what it needs, in the option and in a hint next to the
# form (the hint's id, and the words added to the option's label).
SHOWN_UNAVAILABLE: dict[Stage, tuple[str, str]] = {
    Stage.SQL: ("stage-change-sql-hint", "needs a discovery call"),
}

phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ()./-]{3,30}(\s*(x|ext\.?)\s*[0-9]{1,6})?$",
    "Enter a phone number: digits, spaces and + ( ) - . only, optionally “ext 123”.",
)


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


def owner_choices_queryset():  # type: ignore[no-untyped-def]
    return get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")


class LeadFieldsForm(forms.Form):
    """The lead's editable profile fields, shared by the create and edit forms."""

    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    job_title = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(max_length=40, required=False, validators=[phone_validator])
    source_channel = forms.ChoiceField(
        choices=Channel.choices,
        initial=Channel.OTHER,
        label="Source channel",
        help_text="How the lead first came in (first touch).",
    )
    source_detail = forms.CharField(
        max_length=200,
        required=False,
        label="Source detail",
        help_text="e.g. utm_source / utm_medium, the referring site or the event name.",
    )
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"), required=False, empty_label="No campaign"
    )
    owner = UserChoiceField(queryset=owner_choices_queryset(), required=False, empty_label="Unassigned")

    profile_fields = ("first_name", "last_name", "job_title", "phone")
    attribution_fields = ("source_channel", "source_detail", "campaign", "owner")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self.build_layout()

    def build_layout(self) -> Layout:
        return Layout(self.person_fieldset(), self.attribution_fieldset())

    def person_fieldset(self, *first: Any) -> Fieldset:
        return Fieldset(
            "Person",
            *first,
            Row(Column("first_name", css_class="col-md-6"), Column("last_name", css_class="col-md-6")),
            Row(Column("job_title", css_class="col-md-7"), Column("phone", css_class="col-md-5")),
            css_class="form-section",
        )

    def attribution_fieldset(self) -> Fieldset:
        return Fieldset(
            "First touch and owner",
            Row(Column("source_channel", css_class="col-md-6"), Column("campaign", css_class="col-md-6")),
            "source_detail",
            "owner",
            css_class="form-section",
        )

    def lead_fields(self, names: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
        """Cleaned values for `leads.services`, limited to `names` when given."""
        wanted = names if names is not None else (*self.profile_fields, *self.attribution_fields)
        return {name: self.cleaned_data[name] for name in wanted}


class LeadCreateForm(LeadFieldsForm):
    email = forms.EmailField(max_length=254, help_text="The company is found from its domain.")
    company_name = forms.CharField(
        max_length=200,
        required=False,
        label="Company name",
        help_text="Used when the email's domain is new to Baton; free-mail addresses get no company.",
    )

    field_order = ["email", "first_name", "last_name", "job_title", "phone", "company_name"]

    def build_layout(self) -> Layout:
        return Layout(
            self.person_fieldset("email"),
            Fieldset("Company", "company_name", css_class="form-section"),
            self.attribution_fieldset(),
        )

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "email": self.cleaned_data["email"],
            "company_name": self.cleaned_data["company_name"].strip(),
            **self.lead_fields(),
        }


class LeadEditForm(LeadFieldsForm):
    @classmethod
    def initial_for(cls, lead: Lead) -> dict[str, Any]:
        return {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "job_title": lead.job_title,
            "phone": lead.phone,
            "source_channel": lead.source_channel,
            "source_detail": lead.source_detail,
            "campaign": lead.campaign_id,
            "owner": lead.owner_id,
        }

    def changes(self) -> dict[str, Any]:
        """Only the fields the person changed, so a save never overwrites someone else's edit."""
        return self.lead_fields([name for name in self.changed_data if name in self.fields])


class StageSelect(forms.Select):
    """A select that also shows moves the page cannot make: each of `unavailable` (value → id of
    the hint that says why) is a disabled option described by its hint, never shown as chosen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable: dict[str, str] = {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        hint = self.unavailable.get(str(value))
        if hint is not None:
            option["selected"] = False
            option["attrs"].pop("selected", None)
            option["attrs"].update({"disabled": True, "aria-describedby": hint})
        return option


class StageChangeForm(forms.Form):
    """Move a lead by hand. Offers the moves the lifecycle allows from the lead's stage.

    Any stage passes the form, so that a move the page does not offer (a crafted POST, a stale
    page, `sql` on a lead whose call is not logged) answers with the lifecycle's own reason
    rather than "Select a valid choice": the view moves it through `leads.services.lead_move`,
    whose rules (the lifecycle's, and handoff's services with their permissions) refuse what the
    lead cannot make, or the user may not, naming the rule. The select offers MANUAL_TARGETS.

    SQL, where the lifecycle allows it (from MQL or SAL), is shown as a disabled option described
    by a hint next to the form: a manager looking for "SQL" learns it needs a logged discovery
    call instead of finding it silently missing (`SHOWN_UNAVAILABLE`).
    """

    to = forms.ChoiceField(label="Move to", choices=Stage.choices, widget=StageSelect)
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? Kept in the stage history."}),
    )

    def __init__(self, *args: Any, lead: Lead, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets = stage_change_targets(lead.stage)
        allowed = allowed_targets(lead.stage)
        self.unavailable = [stage for stage in SHOWN_UNAVAILABLE if stage in allowed]
        widget = self.fields["to"].widget
        widget.choices = [
            *((s.value, s.label) for s in self.targets),
            *((s.value, f"{s.label} ({SHOWN_UNAVAILABLE[s][1]})") for s in self.unavailable),
        ]
        widget.unavailable = {s.value: SHOWN_UNAVAILABLE[s][0] for s in self.unavailable}
        widget.attrs["class"] = "form-select"
        if self.unavailable:
            widget.attrs["aria-describedby"] = " ".join(widget.unavailable.values())
        self.fields["reason"].widget.attrs["class"] = "form-control"

    @property
    def sql_hint_id(self) -> str:
        """The id of the hint saying what SQL needs, when the select shows SQL disabled."""
        return SHOWN_UNAVAILABLE[Stage.SQL][0] if Stage.SQL in self.unavailable else ""

    def refuse(self, refused: TransitionRefused) -> None:
        """Show a refused move on the field it names (`stage` is this form's `to`), marked invalid."""
        name = "to" if refused.field == "stage" else refused.field
        self.add_error(name if name in self.fields else None, refused.message)
        self.mark_invalid(name)

    def mark_invalid(self, field: str) -> None:
        """Highlight the field a refusal names (`stage` is this form's `to`); the message says why.
        Its error text (`<id>_error` in the template) is added to what describes it."""
        name = "to" if field == "stage" else field
        if name not in self.fields:
            return
        attrs = self.fields[name].widget.attrs
        if "is-invalid" not in attrs["class"].split():
            attrs["class"] += " is-invalid"
        attrs["aria-invalid"] = "true"
        if name in self.errors:
            error_id = f"{self[name].auto_id}_error"
            described = attrs.get("aria-describedby", "").split()
            attrs["aria-describedby"] = " ".join(dict.fromkeys([*described, error_id]))

    def mark_errors(self) -> None:
        """Mark every field with an error invalid, described by its error."""
        for name in self.errors:
            self.mark_invalid(name)


def stage_change_targets(stage: str) -> list[Stage]:
    """The stages a person may move a lead at `stage` to from the lead page, in MANUAL_TARGETS order."""
    allowed = allowed_targets(stage)
    return [target for target in MANUAL_TARGETS if target in allowed]


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field it names, or above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        if field in form.fields:
            form.add_error(field, errors)
        else:
            label = "" if field == "__all__" else f"{field.replace('_', ' ').capitalize()}: "
            form.add_error(None, [f"{label}{message}" for e in errors for message in e.messages])
