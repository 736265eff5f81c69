"""The reports' filters: period, funnel mode, breakdown and feedback grouping, read from the URL.

Every report page and report API endpoint reads the same querystring, so a view can be shared
as a link and the API answers the same question as the page:

    ?period=30d                      a preset, relative to today (the default: the last 30 days)
    ?from=2026-03-01&to=2026-03-31   custom dates, both inclusive (`period=custom` may be given)
    &mode=created|mql|flow           the funnel's cohort or flow mode
    &breakdown=channel|source|...    the funnel and velocity breakdown
    &by=channel|campaign|...         the feedback grouping

A preset wins over dates given beside it (the form's script switches to "Custom dates" when a date
is edited). Bad input never breaks a page: the field's error is shown and that field falls back to
its default (`ReportFilterForm.resolve`); the API answers 400 naming the field instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from reporting.funnel import BREAKDOWNS, Mode
from reporting.selectors import FEEDBACK_BY

PERIODS: dict[str, str] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "custom": "Custom dates",
}
DEFAULT_PERIOD = "30d"
DEFAULT_MODE = Mode.CREATED
DEFAULT_BY = "channel"
# Dates outside these bounds are typos (and would overflow the datetime arithmetic).
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)

MODE_CHOICES = [
    (Mode.CREATED, "Cohort: leads created in the period"),
    (Mode.MQL, "Cohort: leads that became MQL in the period"),
    (Mode.FLOW, "Flow: stage entries in the period"),
]

# Form field name -> its name in the querystring (`from` is a Python keyword).
QUERY_NAMES = {"date_from": "from", "date_to": "to"}
# The querystring names that set the period, kept when moving between reports.
PERIOD_KEYS = ("period", "from", "to")


def preset_dates(period: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of a preset period, relative to `today`."""
    if period == "7d":
        return today - timedelta(days=6), today
    if period == "90d":
        return today - timedelta(days=89), today
    if period == "this_month":
        return today.replace(day=1), today
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "this_quarter":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    return today - timedelta(days=29), today  # "30d"


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone, as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class ReportParams:
    """What a report is asked for, after validation and defaults."""

    period: str
    first_day: date
    last_day: date  # inclusive
    mode: str = DEFAULT_MODE
    breakdown: str = ""
    by: str = DEFAULT_BY

    @property
    def start(self) -> datetime:
        return day_start(self.first_day)

    @property
    def end(self) -> datetime:
        """The exclusive end: midnight after the last day."""
        return day_start(self.last_day + timedelta(days=1))

    @property
    def period_label(self) -> str:
        if self.first_day == self.last_day:
            return f"{self.first_day:%b} {self.first_day.day}, {self.first_day.year}"
        if self.first_day.year == self.last_day.year:
            first = f"{self.first_day:%b} {self.first_day.day}"
        else:
            first = f"{self.first_day:%b} {self.first_day.day}, {self.first_day.year}"
        return f"{first} – {self.last_day:%b} {self.last_day.day}, {self.last_day.year}"

    def whole_months(self) -> ReportParams:
        """The same question over the whole calendar months the period touches (targets are monthly)."""
        first = self.first_day.replace(day=1)
        last = (self.last_day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return ReportParams(self.period, first, last, self.mode, self.breakdown, self.by)

    def query(self, fields: tuple[str, ...]) -> dict[str, str]:
        """These parameters as a querystring for a report reading `fields` (a link to exactly this view)."""
        query = {"period": self.period} if self.period != "custom" else {}
        if self.period == "custom":
            query.update({"from": self.first_day.isoformat(), "to": self.last_day.isoformat()})
        for name in ("mode", "breakdown", "by"):
            value = getattr(self, name)
            if name in fields and value:
                query[name] = value
        return query

    def slug(self) -> str:
        return f"{self.first_day.isoformat()}-to-{self.last_day.isoformat()}"


class ReportDateField(forms.DateField):
    """A YYYY-MM-DD date whose error message quotes what was given and names the field."""

    def __init__(self, *, label: str) -> None:
        super().__init__(label=label, required=False, input_formats=["%Y-%m-%d"])

    def to_python(self, value: Any) -> date | None:
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            raise forms.ValidationError(
                f"“{self.label}” must be a real date written YYYY-MM-DD; “{value}” is not one.", code="invalid"
            ) from exc


def _choice_error(what: str, choices: list[str]) -> dict[str, str]:
    listed = ", ".join(f"“{c}”" if c else "“” (none)" for c in choices)
    return {"invalid_choice": f"“%(value)s” is not a {what}; choose one of: {listed}."}


class ReportFilterForm(forms.Form):
    """Validates the report querystring. Build it with the `fields` a report uses."""

    period = forms.ChoiceField(
        label="Period",
        choices=list(PERIODS.items()),
        required=False,
        error_messages=_choice_error("period", list(PERIODS)),
    )
    date_from = ReportDateField(label="From")
    date_to = ReportDateField(label="To")
    mode = forms.ChoiceField(
        label="Count",
        choices=MODE_CHOICES,
        required=False,
        error_messages=_choice_error("mode", list(Mode.ALL)),
    )
    breakdown = forms.ChoiceField(
        label="Break down by",
        choices=list(BREAKDOWNS.items()),
        required=False,
        error_messages=_choice_error("breakdown", list(BREAKDOWNS)),
    )
    by = forms.ChoiceField(
        label="Group by",
        choices=list(FEEDBACK_BY.items()),
        required=False,
        error_messages=_choice_error("grouping", list(FEEDBACK_BY)),
    )

    ALL_FIELDS = ("period", "mode", "breakdown", "by")

    def __init__(self, data: Any = None, *, fields: tuple[str, ...] = ALL_FIELDS, today: date | None = None) -> None:
        # Always bound: a URL without parameters is a valid request for the defaults.
        super().__init__(data if data is not None else {})
        self.today = today or timezone.localdate()
        wanted = {*fields, "date_from", "date_to"} if "period" in fields else set(fields)
        for name in list(self.fields):
            if name not in wanted:
                del self.fields[name]

    def add_prefix(self, field_name: str) -> str:
        return QUERY_NAMES.get(field_name, field_name)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "period" not in self.fields:
            return data
        for name in ("date_from", "date_to"):
            value = data.get(name)
            if value and not (EARLIEST <= value <= LATEST):
                self.add_error(name, f"“{QUERY_NAMES[name].title()}” must be between {EARLIEST} and {LATEST}.")
        if self.errors.get("date_from") or self.errors.get("date_to") or self.errors.get("period"):
            return data
        period = data.get("period") or ""
        first, last = data.get("date_from"), data.get("date_to")
        if not period:
            period = "custom" if first or last else DEFAULT_PERIOD
        if period == "custom":
            if first is None:
                self.add_error("date_from", "Give a start date (“From”) for a custom period.")
                return data
            last = last or self.today
            if first > last:
                self.add_error("date_from", f"“From” ({first}) is after “To” ({last}): the period would be empty.")
                return data
        data["period"] = period
        data["date_from"], data["date_to"] = first, last
        return data

    def resolve(self) -> ReportParams:
        """The parameters to report on: each valid field's value, the default for the others."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        period = DEFAULT_PERIOD
        if not (self.has_error("period") or self.has_error("date_from") or self.has_error("date_to")):
            period = data.get("period") or DEFAULT_PERIOD
        if period == "custom":
            first, last = data["date_from"], data["date_to"]
        else:
            first, last = preset_dates(period, self.today)
        return ReportParams(
            period=period,
            first_day=first,
            last_day=last,
            mode=(data.get("mode") or DEFAULT_MODE) if not self.has_error("mode") else DEFAULT_MODE,
            breakdown=(data.get("breakdown") or "") if not self.has_error("breakdown") else "",
            by=(data.get("by") or DEFAULT_BY) if not self.has_error("by") else DEFAULT_BY,
        )

    def query_errors(self) -> dict[str, list[str]]:
        """Errors keyed by their querystring names (`from`, `to`, `mode`, ...), for the API."""
        return {QUERY_NAMES.get(name, name): list(errors) for name, errors in self.errors.items()}

    def error_summary(self) -> list[tuple[str, str]]:
        """(field label, message) for each error, for the alert above a report."""
        return [
            (self.fields[name].label if name in self.fields else name, message)
            for name, messages in self.errors.items()
            for message in messages
        ]
