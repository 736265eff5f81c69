"""Forms of the SDR workspace. They check the shape of input; `handoff.services` decides the rest.

The discovery-call form deliberately leaves "required" to `services.call_log`, the one place the
BANT rule lives: its `ValidationError` (one message per missing field, and the qualification
policy's refusal under `outcome`) is put back on the form by `add_call_errors`, so the page says
exactly what the service said.
"""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from handoff import services
from handoff.models import AuthorityRole, BudgetStatus, CallOutcome, RejectionReason, Timeframe
from leads.lifecycle import Stage

TOUCH_KINDS = [("call", "Call"), ("email", "Email"), ("meeting", "Meeting")]
REJECT_TARGETS = [
    (Stage.RECYCLED.value, "Recycle — back to marketing's nurture"),
    (Stage.DISQUALIFIED.value, "Disqualify — out of the funnel"),
]
REASON_REQUIRED = "Choose a reason: it tells marketing why, and tunes their scoring."


class TouchForm(forms.Form):
    kind = forms.ChoiceField(
        choices=TOUCH_KINDS,
        initial="call",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose call, email or meeting."},
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Note, e.g. left a voicemail"}),
    )


class ReasonSelect(forms.Select):
    """A select whose options carry `data-use` (recycle, disqualify or both), so workspace.js
    offers only the reasons that fit the chosen target."""

    def __init__(self, *args: Any, uses: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uses = uses or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):  # type: ignore[no-untyped-def]
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        use = self.uses.get(str(value))
        if use:
            option["attrs"]["data-use"] = use
        return option


class RejectForm(forms.Form):
    to = forms.ChoiceField(
        label="Send it",
        choices=REJECT_TARGETS,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose whether to recycle or disqualify the lead."},
    )
    reason = forms.ChoiceField(label="Reason", error_messages={"required": REASON_REQUIRED})
    note = forms.CharField(
        label="Note for marketing",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional: what you learned. Kept in the history."}),
    )
    nurture_until = forms.DateField(
        label="Nurture until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Recycled leads only: no rescoring brings it back before then. Empty: the reason's cool-off.",
    )

    def __init__(self, *args: Any, reasons: list[RejectionReason], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        uses = {reason.code: reason.use for reason in reasons}
        self.fields["reason"].choices = [("", "Choose a reason…"), *((r.code, r.label) for r in reasons)]
        self.fields["reason"].widget = ReasonSelect(uses=uses, choices=self.fields["reason"].choices)
        self.fields["reason"].widget.attrs["data-reason-select"] = ""
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Field("to", wrapper_class="reject-targets"),
            Row(Column("reason", css_class="col-md-5"), Column("note", css_class="col-md-7")),
            Row(Column("nurture_until", css_class="col-md-5")),
        )


def _required(name: str, **kwargs: Any) -> Field:
    """A BANT field: required by the service (no HTML `required`, so the server names what is
    missing), marked with an asterisk by CSS and `aria-required` for assistive tech."""
    return Field(name, wrapper_class="bant-required", aria_required="true", **kwargs)


def _legend(letter: str, title: str, hint: str) -> str:
    return f'<span class="bant-letter" aria-hidden="true">{letter}</span> {title}<span class="bant-hint">{hint}</span>'


class DiscoveryCallForm(forms.Form):
    # Budget
    budget_status = forms.ChoiceField(
        label="Budget status", required=False, choices=[("", "Choose…"), *BudgetStatus.choices]
    )
    budget_amount = forms.DecimalField(
        label="Amount",
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "any", "placeholder": "optional", "inputmode": "decimal"}),
    )
    budget_currency = forms.CharField(
        label="Currency",
        required=False,
        max_length=3,
        initial="USD",
        widget=forms.TextInput(attrs={"class": "text-uppercase", "autocomplete": "off", "list": "currency-codes"}),
    )
    # Authority
    authority_role = forms.ChoiceField(
        label="The contact's role in the decision", required=False, choices=[("", "Choose…"), *AuthorityRole.choices]
    )
    decision_maker = forms.CharField(
        label="Who makes the decision",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Name and title, e.g. Dana Diaz, VP Revenue"}),
    )
    # Need
    need_pain = forms.CharField(
        label="Pain",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "The problem, in the prospect's words"}),
    )
    need_use_case = forms.CharField(
        label="Use case",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What they would use the product for"}),
    )
    # Timing
    timeframe = forms.ChoiceField(label="Timeframe", required=False, choices=[("", "Choose…"), *Timeframe.choices])
    expected_decision_date = forms.DateField(
        label="Expected decision date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # The call
    held_at = forms.DateTimeField(
        label="Call held at",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Anything else the account executive should know"}),
    )
    outcome = forms.ChoiceField(label="Outcome", required=False, choices=CallOutcome.choices, widget=forms.RadioSelect)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The policy's refusal (criteria in words) and the sections it names, set by add_call_errors.
        self.policy_refusal: list[str] = []
        self.refused_sections: set[str] = set()
        # A call is not held in the future (services.call_log has the final word, and the bounds).
        self.fields["held_at"].widget.attrs["max"] = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self.build_layout()

    def build_layout(self) -> Layout:
        def section(key: str, letter: str, title: str, hint: str, *rows: Any) -> Fieldset:
            css = f"form-section bant-section bant-{key}"
            if key in self.refused_sections:
                css += " is-refused"
            return Fieldset(_legend(letter, title, hint), *rows, css_class=css, css_id=f"bant-{key}")

        return Layout(
            section(
                "budget", "B", "Budget", "Is there money for this?",
                Row(
                    Column(_required("budget_status"), css_class="col-md-6"),
                    Column("budget_amount", css_class="col-7 col-md-4"),
                    Column("budget_currency", css_class="col-5 col-md-2"),
                ),
            ),
            section(
                "authority", "A", "Authority", "Who signs?",
                Row(
                    Column(_required("authority_role"), css_class="col-md-6"),
                    Column(_required("decision_maker"), css_class="col-md-6"),
                ),
            ),
            section(
                "need", "N", "Need", "Why would they buy?",
                Row(
                    Column(_required("need_pain"), css_class="col-md-6"),
                    Column(_required("need_use_case"), css_class="col-md-6"),
                ),
            ),
            section(
                "timing", "T", "Timing", "When will they decide?",
                Row(
                    Column(_required("timeframe"), css_class="col-md-6"),
                    Column(_required("expected_decision_date"), css_class="col-md-6"),
                ),
            ),
            Fieldset(
                '<span class="bant-letter bant-letter-muted" aria-hidden="true"><i class="bi bi-telephone"></i></span> '
                'The call<span class="bant-hint">Notes and what comes next</span>',
                Row(Column("notes", css_class="col-md-8"), Column("held_at", css_class="col-md-4")),
                Field("outcome", template="handoff/workspace/_outcome_field.html"),
                css_class="form-section bant-section bant-call",
                css_id="bant-call",
            ),
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        """The written answers normalised as the service counts them (`services.bant_text`): an
        answer of zero-width characters is empty here, and so named as missing."""
        cleaned = super().clean()
        for name, multiline in services.CALL_TEXT_FIELDS.items():
            if isinstance(cleaned.get(name), str):
                cleaned[name] = services.bant_text(cleaned[name], multiline=multiline)
        return cleaned

    def call_data(self) -> dict[str, Any]:
        """What `services.call_log` takes; it validates every BANT field itself."""
        return {name: self.cleaned_data.get(name) for name in services.CALL_FIELDS}

    def add_missing_bant(self) -> None:
        """When the form has shape errors (a date that isn't one) the service is not called; still
        name every empty BANT field now, with the service's own words, so one round trip is enough."""
        for name, message in services.BANT_FIELDS.items():
            if name in self.errors:
                continue
            value = self.data.get(self.add_prefix(name), "")
            if not services.bant_text(str(value)):
                self.add_error(name, f"{message}.")
        if not str(self.data.get(self.add_prefix("outcome"), "")).strip() and "outcome" not in self.errors:
            self.add_error("outcome", "Choose the outcome of the call.")

    @property
    def summary(self) -> list[tuple[str, str]]:
        """(field id, message) for the alert at the top: every error, in the order of the form."""
        items = []
        for name in self.fields:
            for message in self.errors.get(name, []):
                if name == "outcome" and self.policy_refusal:
                    continue  # the refusal has its own, more prominent box
                text = message if ":" in message[:12] else f"{self.fields[name].label}: {message}"
                items.append((self[name].id_for_label or f"div_{self[name].auto_id}", text))
        return items


POLICY_HEADER = "Not qualified under the qualification policy:"
SECTION_OF_CRITERION = {"Budget": "budget", "Authority": "authority", "Need": "need", "Timing": "timing"}


def add_call_errors(form: DiscoveryCallForm, error: ValidationError) -> None:
    """Put `services.call_log`'s ValidationError on the form: each message on the field it names;
    the policy's refusal (under `outcome`) kept apart to show prominently, with its sections marked."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        messages = [message for e in errors for message in e.messages]
        if name == "outcome" and messages and messages[0] == POLICY_HEADER:
            form.policy_refusal = messages[1:]
            for criterion in form.policy_refusal:
                section = SECTION_OF_CRITERION.get(criterion.split(":", 1)[0].strip())
                if section:
                    form.refused_sections.add(section)
            form.add_error(
                "outcome",
                "The qualification policy refuses “qualified” for these answers (see above): correct the answers "
                "if they were wrong, or log the call as a follow-up or not qualified.",
            )
        elif name in form.fields:
            form.add_error(name, messages)
        else:
            label = "" if name == "__all__" else f"{name.replace('_', ' ').capitalize()}: "
            form.add_error(None, [f"{label}{message}" for message in messages])
    form.helper.layout = form.build_layout()
