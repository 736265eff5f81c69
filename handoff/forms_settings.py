"""Forms for the handoff settings pages and the SLA board. They check the shape of input and hand
keyword arguments to `handoff.services_settings` (or `handoff.services.lead_reassign`), which
decide; `add_service_errors` puts a service's field-keyed errors back on the right field."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crispy_forms.bootstrap import AppendedText
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_countries import countries as all_countries

from handoff.business_time import CalendarError, parse_hours
from handoff.models import (
    AuthorityRole,
    BreachAction,
    BudgetStatus,
    BusinessCalendar,
    HandoffMode,
    ReasonUse,
    ReviewAction,
    SlaPolicy,
    Team,
)
from handoff.selectors import settings_pages as selectors
from handoff.services_settings import MAX_REASSIGNMENTS
from leads.forms import UserChoiceField
from leads.models import Channel, Segment
from leads.services import DEFAULT_NURTURE_DAYS, MAX_NURTURE_DAYS


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form field it names (through `field_map` when the
    form calls it something else), or above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        target = (field_map or {}).get(name, name)
        messages = [message for e in errors for message in e.messages]
        if target in form.fields:
            form.add_error(target, messages)
        else:
            label = "" if name == "__all__" else f"{name.replace('_', ' ').capitalize()}: "
            form.add_error(None, [f"{label}{message}" for message in messages])


def mark_invalid(form: forms.Form) -> None:
    """Bootstrap's invalid style on the widgets of fields with errors (for hand-rendered forms)."""
    for name in form.errors:
        if name in form.fields:
            widget = form.fields[name].widget
            css = widget.attrs.get("class", "")
            if "is-invalid" not in css:
                widget.attrs["class"] = f"{css} is-invalid".strip()


def _helper(*layout: Any) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    helper.layout = Layout(*layout)
    return helper


class PolicyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SlaPolicy) -> str:
        return f"{obj.name} ({selectors.format_minutes(obj.first_touch_minutes)})"


# --- Routing rules -----------------------------------------------------------------------------


class RoutingRuleForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Say who it routes, e.g. “Enterprise in North America”.")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label="Choose a team")
    sla_policy = PolicyChoiceField(
        queryset=SlaPolicy.objects.none(),
        required=False,
        label="SLA policy",
        empty_label="The team's default policy",
        help_text="Overrides the team's policy for leads this rule routes.",
    )
    segments = forms.MultipleChoiceField(
        choices=Segment.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: any."
    )
    channels = forms.MultipleChoiceField(
        choices=Channel.choices,
        required=False,
        label="Source channels",
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any.",
    )
    countries = forms.MultipleChoiceField(
        choices=[],
        required=False,
        label="Countries (territory)",
        widget=forms.SelectMultiple(attrs={"size": 9, "data-filterable": "Type to find a country"}),
        help_text="The company's country. None selected: any. Ctrl/⌘-click to pick several.",
    )
    hot_only = forms.BooleanField(
        required=False,
        label="Hot leads only",
        help_text="A recent hand-raiser: demo request, contact sales, price quote.",
    )
    handoff_mode = forms.ChoiceField(
        choices=HandoffMode.choices,
        required=False,  # not sent: the rule keeps its mode (a new rule waits for review)
        widget=forms.RadioSelect,
        initial=HandoffMode.REVIEW,
        label="Hand the lead to sales",
        help_text="Automatic: the team's next rep gets the lead with no wait in the queue. Either way a hot lead "
        "whose fit is not junk is fast-tracked, and a hot lead held for its fit waits for review.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active", help_text="Off: routing skips it.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.order_by("name")
        self.fields["sla_policy"].queryset = SlaPolicy.objects.filter(is_active=True).order_by("first_touch_minutes")
        self.fields["countries"].choices = list(all_countries)
        team_and_policy = Row(Column("team", css_class="col-md-6"), Column("sla_policy", css_class="col-md-6"))
        self.helper = _helper(
            Fieldset("Rule", "name", team_and_policy, css_class="form-section"),
            Fieldset(
                "Conditions: every one set must hold",
                Row(
                    Column(Div("segments", css_class="checkbox-columns"), css_class="col-md-4"),
                    Column(Div("channels", css_class="checkbox-grid"), css_class="col-md-8"),
                ),
                "countries",
                "hot_only",
                css_class="form-section",
            ),
            Fieldset("Hand-off", "handoff_mode", css_class="form-section"),
            Fieldset("Status", "is_active", css_class="form-section"),
        )

    @classmethod
    def initial_for(cls, rule: Any) -> dict[str, Any]:
        return {
            "name": rule.name,
            "team": rule.team_id,
            "sla_policy": rule.sla_policy_id,
            "segments": rule.segments,
            "channels": rule.channels,
            "countries": rule.countries,
            "hot_only": rule.hot_only,
            "handoff_mode": rule.handoff_mode,
            "is_active": rule.is_active,
        }

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "team_id": data["team"].pk,
            "sla_policy_id": data["sla_policy"].pk if data["sla_policy"] else None,
            "segments": data["segments"],
            "channels": data["channels"],
            "countries": data["countries"],
            "hot_only": data["hot_only"],
            "handoff_mode": data["handoff_mode"] or None,
            "is_active": data["is_active"],
        }


class RoutingTestForm(forms.Form):
    lead = forms.CharField(
        max_length=254,
        label="Lead id or email",
        widget=forms.TextInput(attrs={"placeholder": "e.g. 1042 or dana@acme.com", "class": "form-control"}),
    )

    def clean_lead(self) -> Any:
        lead = selectors.routing_lead_lookup(self.cleaned_data["lead"])
        if lead is None:
            raise ValidationError("No lead with that id or email address.")
        return lead


# --- Teams -------------------------------------------------------------------------------------


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    manager = UserChoiceField(
        queryset=None,
        required=False,
        empty_label="No manager: breaches go to every manager",
        help_text="Told when a rep in this team breaches an SLA.",
    )
    default_sla_policy = PolicyChoiceField(
        queryset=SlaPolicy.objects.none(),
        required=False,
        label="Default SLA policy",
        empty_label="The “Standard” policy",
        help_text="Used unless the routing rule names its own (hot leads get “Hot lead”).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = selectors.manager_choices()
        self.fields["default_sla_policy"].queryset = SlaPolicy.objects.filter(is_active=True).order_by(
            "first_touch_minutes"
        )
        self.helper = _helper(
            "name", Row(Column("manager", css_class="col-md-6"), Column("default_sla_policy", css_class="col-md-6"))
        )

    @classmethod
    def initial_for(cls, team: Team) -> dict[str, Any]:
        return {"name": team.name, "manager": team.manager_id, "default_sla_policy": team.default_sla_policy_id}

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "manager_id": data["manager"].pk if data["manager"] else None,
            "default_sla_policy_id": data["default_sla_policy"].pk if data["default_sla_policy"] else None,
        }


class MembershipAddForm(forms.Form):
    rep = UserChoiceField(queryset=None, empty_label="Choose an SDR", label="Rep")
    capacity = forms.IntegerField(min_value=1, max_value=10_000, initial=50, help_text="Most open leads at once.")

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = selectors.sdr_choices(exclude_team=team)
        self.fields["rep"].widget.attrs["class"] = "form-select"
        self.fields["capacity"].widget.attrs["class"] = "form-control"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class MembershipForm(forms.Form):
    """One rep's row on the team page (prefixed with the membership id)."""

    capacity = forms.IntegerField(min_value=1, max_value=10_000)
    away_until = forms.DateTimeField(required=False, widget=DateTimeLocalInput(), label="Away until")
    is_active = forms.BooleanField(required=False, label="In rotation")

    def __init__(self, *args: Any, membership: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"m{membership.pk}")
        kwargs.setdefault(
            "initial",
            {
                "capacity": membership.capacity,
                "away_until": timezone.localtime(membership.away_until) if membership.away_until else None,
                "is_active": membership.is_active,
            },
        )
        super().__init__(*args, **kwargs)
        self.membership = membership
        form_id = f"member-{membership.pk}"
        for name, css in (("capacity", "form-control form-control-sm"), ("away_until", "form-control form-control-sm"),
                          ("is_active", "form-check-input")):  # fmt: skip
            self.fields[name].widget.attrs.update({"class": css, "form": form_id})


AWAY_CHOICES = [("today", "Away today"), ("week", "Away this week"), ("back", "Back")]


def away_until_for(choice: str, *, tz: Any, now: datetime | None = None) -> datetime | None:
    """“today”: until tomorrow 00:00; “week”: until next Monday 00:00 (in `tz`); “back”: None."""
    local = (now or timezone.now()).astimezone(tz)
    if choice == "back":
        return None
    days = 1 if choice == "today" else 7 - local.weekday()
    return datetime.combine(local.date() + timedelta(days=days), time.min, tzinfo=tz)


class AwayForm(forms.Form):
    away = forms.ChoiceField(choices=AWAY_CHOICES)


def team_time_zone(team: Team) -> Any:
    """The team's calendar time zone (through its default policy), else the site's."""
    policy = team.default_sla_policy
    if policy is not None:
        try:
            return ZoneInfo(policy.calendar.time_zone)
        except (KeyError, ValueError):
            pass
    return timezone.get_current_timezone()


# --- SLA policies ------------------------------------------------------------------------------


class SlaPolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.none(),
        empty_label="Choose a calendar",
        label="Business calendar",
        help_text="The target counts only the calendar's working hours.",
    )
    target_hours = forms.IntegerField(min_value=0, max_value=720, initial=4, label="Hours")
    target_minutes = forms.IntegerField(min_value=0, max_value=59, initial=0, label="Minutes")
    warn_at_percent = forms.IntegerField(
        min_value=1,
        max_value=99,
        initial=75,
        label="Warn at",
        help_text="Share of the target elapsed when the rep is warned.",
    )
    breach_action = forms.ChoiceField(
        choices=BreachAction.choices, widget=forms.RadioSelect, initial=BreachAction.NOTIFY, label="On breach"
    )
    max_reassignments = forms.IntegerField(
        min_value=0,
        max_value=MAX_REASSIGNMENTS,
        required=False,  # not sent: the policy keeps its bound (a new policy: 2)
        initial=2,
        label="Reassign on breach at most",
        help_text="Only when a breach reassigns: after this many reassignments the next breach escalates the lead "
        "to the team's manager, once, and it stays with its rep for the manager to decide. 0: the first breach "
        "escalates.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.order_by("name")
        self.helper = _helper(
            Fieldset(
                "Policy",
                Row(Column("name", css_class="col-md-6"), Column("calendar", css_class="col-md-6")),
                css_class="form-section",
            ),
            Fieldset(
                "First-touch target, in business time",
                Row(
                    Column(AppendedText("target_hours", "h"), css_class="col-6 col-md-3"),
                    Column(AppendedText("target_minutes", "min"), css_class="col-6 col-md-3"),
                    Column(AppendedText("warn_at_percent", "% of the target"), css_class="col-md-6"),
                ),
                HTML('<div id="target-words" class="form-text mt-0 mb-3" data-target-words aria-live="polite"></div>'),
                "breach_action",
                Div(
                    AppendedText("max_reassignments", "times, then escalate to the manager"),
                    css_class="reassign-bound",
                    data_shown_for="breach_action=reassign,both",
                ),
                css_class="form-section",
            ),
            Fieldset("Status", "is_active", css_class="form-section"),
        )

    @classmethod
    def initial_for(cls, policy: SlaPolicy) -> dict[str, Any]:
        hours, minutes = divmod(policy.first_touch_minutes, 60)
        return {
            "name": policy.name,
            "calendar": policy.calendar_id,
            "target_hours": hours,
            "target_minutes": minutes,
            "warn_at_percent": policy.warn_at_percent,
            "breach_action": policy.breach_action,
            "max_reassignments": policy.max_reassignments,
            "is_active": policy.is_active,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        hours, minutes = data.get("target_hours"), data.get("target_minutes")
        if hours is not None and minutes is not None and hours * 60 + minutes < 1:
            self.add_error("target_hours", "Give a target of at least one business minute.")
        return data

    field_map = {"first_touch_minutes": "target_hours"}

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "calendar_id": data["calendar"].pk,
            "first_touch_minutes": data["target_hours"] * 60 + data["target_minutes"],
            "warn_at_percent": data["warn_at_percent"],
            "breach_action": data["breach_action"],
            "max_reassignments": data["max_reassignments"],
            "is_active": data["is_active"],
        }


# --- Business calendars ------------------------------------------------------------------------


class WeekdayRow:
    """The fields of one weekday in the hours editor, for the template."""

    def __init__(self, form: CalendarForm, day: int) -> None:
        self.day = day
        self.name = selectors.WEEKDAYS[day]
        self.open = form[f"d{day}_open"]
        self.windows = [(form[f"d{day}_start{n}"], form[f"d{day}_end{n}"]) for n in (1, 2)]
        self.errors = [
            *form.errors.get(f"d{day}_open", []),
            *(e for n in (1, 2) for part in ("start", "end") for e in form.errors.get(f"d{day}_{part}{n}", [])),
        ]
        second_start, second_end = self.windows[1]
        self.has_second = bool(second_start.value() or second_end.value())


class CalendarForm(forms.Form):
    """Name, time zone, a 7-row hours editor (one or two windows a day) and public holidays."""

    name = forms.CharField(max_length=100)
    time_zone = forms.ChoiceField(
        choices=[], label="Time zone", help_text="Working hours are in this zone's local time."
    )
    holiday_country = forms.ChoiceField(choices=[], required=False, label="Public holidays of")
    holiday_subdivision = forms.CharField(
        max_length=10, required=False, label="Region", widget=forms.Select(),
        help_text="A state, province or region with its own holidays.",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zones = selectors.time_zone_groups()
        current_zone = self._value("time_zone")
        known = {name for _, options in zones for name, _ in options}
        if current_zone and current_zone not in known and not self.is_bound:
            zones = [("", [(current_zone, current_zone)]), *zones]  # a legacy name stored by the admin
        self.fields["time_zone"].choices = zones
        self.fields["time_zone"].error_messages["invalid_choice"] = "“%(value)s” is not a time zone Baton knows."
        self.fields["holiday_country"].choices = [("", "No public holidays"), *selectors.holiday_countries()]
        country = self._value("holiday_country") or ""
        subdivisions = selectors.holiday_subdivisions(str(country))
        self.fields["holiday_subdivision"].widget.choices = [
            ("", "The whole country" if subdivisions else "—"),
            *subdivisions.items(),
        ]
        current_sub = self._value("holiday_subdivision")
        if current_sub and current_sub not in subdivisions:
            self.fields["holiday_subdivision"].widget.choices.append((current_sub, current_sub))
        for day in range(7):
            self.fields[f"d{day}_open"] = forms.BooleanField(required=False, label=selectors.WEEKDAYS[day])
            for n in (1, 2):
                for part in ("start", "end"):
                    self.fields[f"d{day}_{part}{n}"] = forms.TimeField(
                        required=False,
                        label=f"{selectors.WEEKDAYS[day]} {'opens' if part == 'start' else 'closes'}"
                        + (" (second window)" if n == 2 else ""),
                        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
                    )
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if name.startswith("d") and name[1:2].isdigit() and not name.endswith("open"):
                css += " form-control-sm"
            widget.attrs["class"] = css
        self.fields["holiday_country"].widget.attrs["data-subdivisions-target"] = "id_holiday_subdivision"

    def _value(self, name: str) -> Any:
        return self.data.get(name) if self.is_bound else self.initial.get(name, self.fields[name].initial)

    @classmethod
    def initial_for(cls, calendar: BusinessCalendar | None) -> dict[str, Any]:
        if calendar is None:
            hours: dict[str, Any] = {str(day): [["09:00", "17:00"]] for day in range(5)}
            initial: dict[str, Any] = {"time_zone": "UTC"}
        else:
            hours = calendar.hours or {}
            initial = {
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "holiday_country": str(calendar.holiday_country or ""),
                "holiday_subdivision": calendar.holiday_subdivision,
            }
        for day in range(7):
            windows = hours.get(str(day)) or []
            initial[f"d{day}_open"] = bool(windows)
            for n, (start, end) in enumerate(windows[:2], start=1):
                # A time input cannot show 24:00: midnight at the end of the day reads 00:00 there.
                initial[f"d{day}_start{n}"], initial[f"d{day}_end{n}"] = start, "00:00" if end == "24:00" else end
        return initial

    @property
    def weekdays(self) -> list[WeekdayRow]:
        return [WeekdayRow(self, day) for day in range(7)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        hours: dict[str, list[list[str]]] = {}
        for day in range(7):
            name = selectors.WEEKDAYS[day]
            windows = []
            for n in (1, 2):
                start, end = data.get(f"d{day}_start{n}"), data.get(f"d{day}_end{n}")
                if f"d{day}_start{n}" in self.errors or f"d{day}_end{n}" in self.errors:
                    continue
                if start is None and end is None:
                    continue
                if start is None or end is None:
                    missing = f"d{day}_start{n}" if start is None else f"d{day}_end{n}"
                    self.add_error(missing, f"{name}: give both the opening and the closing time.")
                    continue
                # Closing at 00:00 is closing at midnight, the end of the day: stored as 24:00.
                windows.append([f"{start:%H:%M}", "24:00" if end == time.min else f"{end:%H:%M}"])
            if not data.get(f"d{day}_open"):
                continue
            if not windows and not any(f"d{day}_{p}{n}" in self.errors for p in ("start", "end") for n in (1, 2)):
                self.add_error(f"d{day}_start1", f"{name}: give the opening hours, or mark the day closed.")
                continue
            try:
                parse_hours({str(day): windows})  # the rules business_time applies, shown on the day
            except CalendarError as exc:
                self.add_error(f"d{day}_start1", f"{name}: {exc}")
                continue
            hours[str(day)] = windows
        data["hours"] = hours
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "time_zone": data["time_zone"],
            "hours": data["hours"],
            "holiday_country": data["holiday_country"],
            "holiday_subdivision": data["holiday_subdivision"],
        }


class ClosedDayForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}))
    label = forms.CharField(
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "e.g. Company offsite"}),
    )


# --- Qualification policy ----------------------------------------------------------------------


class QualificationPolicyForm(forms.Form):
    accepted_budget_statuses = forms.MultipleChoiceField(
        choices=BudgetStatus.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Accepted budget answers",
        help_text="A call qualifies only with one of these.",
    )
    min_budget_amount = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        label="Minimum budget amount",
        help_text="Empty: no minimum. Compared as recorded, whatever the currency.",
    )
    accepted_authority_roles = forms.MultipleChoiceField(
        choices=AuthorityRole.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Accepted roles in the decision",
        help_text="The contact's role, as the rep records it.",
    )
    max_timeframe_months = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24,
        label="Decision within (months)",
        help_text="Empty: any timeframe. The expected decision date must also fall within it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            Fieldset("Budget", Div("accepted_budget_statuses", css_class="checkbox-columns"), "min_budget_amount",
                     css_class="form-section"),
            Fieldset("Authority", Div("accepted_authority_roles", css_class="checkbox-columns"),
                     css_class="form-section"),
            Fieldset("Timing", "max_timeframe_months", css_class="form-section"),
        )  # fmt: skip

    @classmethod
    def initial_for(cls, policy: Any) -> dict[str, Any]:
        return {
            "accepted_budget_statuses": policy.accepted_budget_statuses,
            "min_budget_amount": policy.min_budget_amount,
            "accepted_authority_roles": policy.accepted_authority_roles,
            "max_timeframe_months": policy.max_timeframe_months,
        }


# --- Rejection reasons -------------------------------------------------------------------------


class RejectionReasonForm(forms.Form):
    label = forms.CharField(max_length=100, help_text="As marketers and reps see it in the list.")
    use = forms.ChoiceField(
        choices=ReasonUse.choices,
        widget=forms.RadioSelect,
        initial=ReasonUse.BOTH,
        label="Offered when",
        help_text="Back to nurture (recycle), disqualify, or either.",
    )
    code = forms.SlugField(
        max_length=40,
        required=False,
        help_text="What the API and reports use. Empty: made from the label. Fixed once created.",
    )
    nurture_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_NURTURE_DAYS,
        label="Cool-off",
        help_text=f"No rescoring promotes a lead sent back for this reason for this many days (whoever sends it "
        f"back may pick another date). Empty: the default of {DEFAULT_NURTURE_DAYS} days.",
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_NURTURE_DAYS)}),
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active", help_text="Off: no longer offered.")

    def __init__(self, *args: Any, reason: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if reason is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = "Fixed: the API and reports refer to it."
        self.helper = _helper(
            Row(Column("label", css_class="col-md-7"), Column("code", css_class="col-md-5")),
            "use",
            Div(
                AppendedText("nurture_days", "days"),
                css_class="cool-off-field",
                data_shown_for=f"use={ReasonUse.RECYCLE},{ReasonUse.BOTH}",
            ),
            "is_active",
        )

    @classmethod
    def initial_for(cls, reason: Any) -> dict[str, Any]:
        return {
            "label": reason.label,
            "use": reason.use,
            "code": reason.code,
            "nurture_days": reason.nurture_days,
            "is_active": reason.is_active,
        }

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        # A reason that only disqualifies has no cool-off: the field is hidden for it, and dropped.
        nurture_days = data.get("nurture_days") if data["use"] != ReasonUse.DISQUALIFY else None
        return {
            "label": data["label"],
            "use": data["use"],
            "code": data["code"] or "",
            "nurture_days": nurture_days,
            "is_active": data["is_active"],
        }


# --- The marketing review policy ---------------------------------------------------------------


class ReviewPolicyForm(forms.Form):
    """The active review policy's target and overdue action (its name is kept)."""

    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.none(),
        empty_label="Choose a calendar",
        label="Business calendar",
        help_text="The review target counts only the calendar's working hours.",
    )
    target_hours = forms.IntegerField(min_value=0, max_value=720, initial=4, label="Hours")
    target_minutes = forms.IntegerField(min_value=0, max_value=59, initial=0, label="Minutes")
    overdue_action = forms.ChoiceField(
        choices=ReviewAction.choices,
        widget=forms.RadioSelect,
        initial=ReviewAction.NOTIFY,
        label="When a review is overdue",
        help_text="The marketers are told once per overdue MQL. Handing off automatically routes it like the "
        "queue's button: routing rules, round robin, the SLA clock.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.order_by("name")
        self.helper = _helper(
            Fieldset(
                "Review every MQL within, in business time",
                Row(
                    Column(AppendedText("target_hours", "h"), css_class="col-6 col-md-3"),
                    Column(AppendedText("target_minutes", "min"), css_class="col-6 col-md-3"),
                    Column("calendar", css_class="col-md-6"),
                ),
                css_class="form-section",
            ),
            Fieldset("Overdue", "overdue_action", css_class="form-section"),
        )

    @classmethod
    def initial_for(cls, policy: Any) -> dict[str, Any]:
        hours, minutes = divmod(policy.review_minutes, 60)
        return {
            "calendar": policy.calendar_id,
            "target_hours": hours,
            "target_minutes": minutes,
            "overdue_action": policy.overdue_action,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        hours, minutes = data.get("target_hours"), data.get("target_minutes")
        if hours is not None and minutes is not None and hours * 60 + minutes < 1:
            self.add_error("target_hours", "Give a review target of at least one business minute.")
        return data

    field_map = {"review_minutes": "target_hours"}

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "calendar_id": data["calendar"].pk,
            "review_minutes": data["target_hours"] * 60 + data["target_minutes"],
            "overdue_action": data["overdue_action"],
        }


# --- The SLA board -----------------------------------------------------------------------------


class BoardFilterForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    rep = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, teams: list[Team], memberships: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "All teams"), *((t.pk, t.name) for t in teams)]
        reps = {m.rep_id: selectors.person(m.rep) for m in memberships}
        self.fields["rep"].choices = [("", "All reps"), *sorted(reps.items(), key=lambda r: r[1].lower())]
        self.fields["status"].choices = [("", "Any status"), *((s.value, s.label) for s in selectors.BOARD_ORDER)]
        for field in self.fields.values():
            field.widget.attrs.update({"class": "form-select form-select-sm", "data-autosubmit": ""})

    def filters(self) -> selectors.BoardFilters:
        if not self.is_valid():
            return selectors.BoardFilters()
        data = self.cleaned_data
        return selectors.BoardFilters(data.get("team"), data.get("rep"), data.get("status") or "")


class ReassignForm(forms.Form):
    rep = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="To")
    reason = forms.CharField(
        max_length=200,
        label="Why",
        error_messages={"required": "Say why you reassign the lead: both reps are told."},
    )

    def __init__(self, *args: Any, rep_choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rep"].choices = [("", "Next in rotation"), *rep_choices]
