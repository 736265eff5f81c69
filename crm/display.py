"""Helpers for pages that show many rows: work done once per page instead of once per row.

`reverse()` goes through the URL resolver, the active language and a regular expression on
every call — hundreds of microseconds, which a 200-row list pays twice a row. `url_maker`
reverses once and fills the id in for each row. Formatting a date costs tens of microseconds
too, mostly translating month and day names again and again: `DateTexts` writes the same text
as the `date` filter, translating each name once. And a `<select>` renders a template for each
of its options: `select_html` writes the same element directly (the filter panels' campaign and
owner lists). `naturaltime` ("3 hours ago") translates its few phrases once rather than for
every row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from functools import lru_cache

from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter
from django.forms import BoundField, Select
from django.forms.widgets import Input
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateformat import DateFormat, TimeFormat, re_escaped, re_formatchars
from django.utils.html import avoid_wrapping, escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext

_MARKER = 918273645  # a number no route contains by itself


def url_maker(viewname: str) -> Callable[[int], str]:
    """`url_maker("leads:detail")(pk) == reverse("leads:detail", args=[pk])`, for routes whose
    only argument is an `<int:...>` id."""
    head, marker, tail = reverse(viewname, args=[_MARKER]).rpartition(str(_MARKER))
    if not marker:  # pragma: no cover - a route without the id in its path
        raise ValueError(f"{viewname} does not take an id")
    return lambda pk: f"{head}{int(pk)}{tail}"


# Format characters whose text depends on the date alone, and those that depend on the hour and
# minute alone (django.utils.dateformat); the others (time zone, seconds, ...) are written each time.
_DATE_SPECS = frozenset("bdDEFjlLmMnNoStwWyYz")
_CLOCK_SPECS = frozenset("aAfgGhHiP")


@lru_cache(maxsize=128)
def _pieces(fmt: str, language: str) -> tuple[tuple[str, str], ...]:
    """The format (or named format, like "DATETIME_FORMAT") split as Django's Formatter splits it:
    ("", text) for literal text, (character, "") for a format character."""
    pieces = []
    for index, piece in enumerate(re_formatchars.split(str(formats.get_format(fmt)))):
        if index % 2:
            pieces.append((piece, ""))
        elif piece:
            pieces.append(("", re_escaped.sub(r"\1", piece)))
    return tuple(pieces)


@lru_cache(maxsize=4096)
def _date_spec(language: str, spec: str, day: date) -> str:
    return str(getattr(DateFormat(day), spec)())


@lru_cache(maxsize=4096)
def _clock_spec(language: str, spec: str, hour: int, minute: int) -> str:
    return str(getattr(TimeFormat(time(hour, minute)), spec)())


class DateTexts:
    """`formats.date_format` (what the `date` filter does), the same text at a fraction of the
    cost: the format is split once, and the words a date or an hour gives (month and day names,
    "p.m.", "noon") are looked up once per language rather than translated for every value. Give
    it local datetimes (`timezone.localtime`), or dates for formats without a time."""

    def __init__(self) -> None:
        self._texts: dict[tuple[date, str], str] = {}
        # One page, one language and one time zone: looked up once (each is a context-local read).
        self.language = get_language()
        self.zone = timezone.get_current_timezone()

    def format(self, value: date, fmt: str) -> str:
        key = (value, fmt)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self._format(value, fmt)
        return text

    def _format(self, value: date, fmt: str) -> str:
        language = self.language
        day = value.date() if isinstance(value, datetime) else value
        formatter = None
        texts = []
        for spec, text in _pieces(fmt, language):
            if not spec:
                texts.append(text)
            elif spec in _DATE_SPECS:
                texts.append(_date_spec(language, spec, day))
            elif spec in _CLOCK_SPECS:
                texts.append(_clock_spec(language, spec, value.hour, value.minute))  # type: ignore[attr-defined]
            else:
                formatter = formatter or DateFormat(value)
                texts.append(str(getattr(formatter, spec)()))
        return "".join(texts)


def select_html(field: BoundField) -> SafeString:
    """`{{ field }}` for a field whose widget is a Select: the same element, attributes and
    options as Django's templates write (BoundField.as_widget, select.html, select_option.html)."""
    widget = field.field.widget
    if not isinstance(widget, Select) or widget.allow_multiple_selected:  # pragma: no cover - misuse
        raise TypeError(f"{field.name} is not a single-choice select")
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    html = [f'<select name="{escape(context["name"])}"{_attributes(context["attrs"])}>']
    for group, options, _index in context["optgroups"]:
        if group:
            html.append(f'<optgroup label="{escape(group)}">')
        html.extend(
            f'<option value="{escape(option["value"])}"{_attributes(option["attrs"])}>'
            f"{escape(option['label'])}</option>"
            for option in options
        )
        if group:
            html.append("</optgroup>")
    html.append("</select>")
    return SafeString("".join(html))


def input_html(field: BoundField) -> SafeString:
    """`{{ field }}` for a field whose widget is an <input> (text, number, search…): the same
    element as Django's templates write (input.html, attrs.html), without rendering two templates."""
    widget = field.field.widget
    if not isinstance(widget, Input) or widget.input_type in ("checkbox", "radio", "file"):  # pragma: no cover
        raise TypeError(f"{field.name} is not a plain <input>")
    attrs = field.build_widget_attrs({}, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    value = "" if context["value"] is None else f' value="{escape(context["value"])}"'
    attributes = _attributes(context["attrs"])
    return SafeString(f'<input type="{escape(context["type"])}" name="{escape(context["name"])}"{value}{attributes}>')


def _attributes(attrs: dict[str, object]) -> str:
    """django/forms/widgets/attrs.html: ` name="value"`, ` name` for True, nothing for False."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


# --- "3 hours ago" -----------------------------------------------------------------------------
#
# humanize's `naturaltime` costs tens of microseconds a call: `timesince` translates each unit and
# the separator again, and every translation looks the active language up through a context-local.
# A list of 200 rows called it 400 times. Here the language is looked up once a call, each phrase
# is translated once per language and count, and the span is counted directly. The text is the
# same, checked against humanize's in tests/test_display.py.

_PHRASES = {
    **{("time", name): lazy for name, lazy in NaturalTimeFormatter.time_strings.items()},
    **{("past", name): lazy for name, lazy in NaturalTimeFormatter.past_substrings.items()},
    **{("future", name): lazy for name, lazy in NaturalTimeFormatter.future_substrings.items()},
}


@lru_cache(maxsize=4096)
def _phrase(language: str | None, group: str, name: str, count: int | str | None = None) -> str:
    """One of humanize's phrases in `language`, with its number (or, for "past-day", its span)."""
    lazy = _PHRASES[group, name]
    if count is None:
        return str(lazy)
    key = "delta" if isinstance(count, str) else "num" if group != "time" else "count"
    return str(lazy % {key: count})


@lru_cache(maxsize=16)
def _separator(language: str | None) -> str:
    return gettext(", ")


# The units of a span, largest first: months are calendar months, the rest fixed lengths.
_UNITS = ("year", "month", "week", "day", "hour", "minute")
_FIXED = ((7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute"))
# Days of each month as humanize counts them (February always 28).
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _span_counts(start: datetime, end: datetime) -> list[int]:
    """Whole years, months, weeks, days, hours and minutes from `start` to `end` (end later)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if (start.day, start.time()) > (end.day, end.time()):
        months -= 1  # the last month is not complete yet
    years, months = divmod(months, 12)
    rest = start
    if years or months:  # step whole months forward, keeping the day where the month allows
        month = start.month + months
        year = start.year + years + (month - 1) // 12
        month = (month - 1) % 12 + 1
        rest = datetime(year, month, min(_MONTH_DAYS[month - 1], start.day),
                        start.hour, start.minute, start.second, tzinfo=start.tzinfo)  # fmt: skip
    seconds = int((end - rest).total_seconds())
    counts = [years, months]
    for size, _unit in _FIXED:
        count, seconds = divmod(seconds, size)
        counts.append(count)
    return counts


def _span(start: datetime, end: datetime, group: str, language: str | None) -> str:
    """ "2 days, 3 hours": the largest unit there is, and the next one down when it is not zero."""
    counts = _span_counts(start, end)
    first = next((i for i, count in enumerate(counts) if count), None)
    if first is None:
        return avoid_wrapping(_phrase(language, group, "minute", 0))
    shown = [first] + ([first + 1] if first + 1 < len(counts) and counts[first + 1] else [])
    return _separator(language).join(avoid_wrapping(_phrase(language, group, _UNITS[i], counts[i])) for i in shown)


def naturaltime(value: datetime, now: datetime) -> str:
    """humanize's `naturaltime` filter ("now", "5 minutes ago", "2 days, 3 hours from now") read
    at `now` (one instant for the whole page)."""
    language = get_language()
    past = value < now
    side, delta = ("past", now - value) if past else ("future", value - now)
    if delta.days != 0:
        if value.tzinfo is not None and now.tzinfo is not None:
            now = now.astimezone(value.tzinfo)  # calendar months are counted in the value's zone
        start, end = (value, now) if past else (now, value)
        return _phrase(language, "time", f"{side}-day", _span(start, end, side, language))
    if delta.seconds == 0:
        return _phrase(language, "time", "now")
    if delta.seconds < 60:
        return _phrase(language, "time", f"{side}-second", delta.seconds)
    if delta.seconds // 60 < 60:
        return _phrase(language, "time", f"{side}-minute", delta.seconds // 60)
    return _phrase(language, "time", f"{side}-hour", delta.seconds // 60 // 60)
