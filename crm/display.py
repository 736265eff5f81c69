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
from typing import Any

from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter
from django.forms import BoundField, Select
from django.urls import reverse
from django.utils import formats
from django.utils.dateformat import DateFormat, TimeFormat, re_escaped, re_formatchars
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import get_language

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

    def format(self, value: date, fmt: str) -> str:
        key = (value, fmt)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self._format(value, fmt)
        return text

    @staticmethod
    def _format(value: date, fmt: str) -> str:
        language = get_language()
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


def _attributes(attrs: dict[str, object]) -> str:
    """django/forms/widgets/attrs.html: ` name="value"`, ` name` for True, nothing for False."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


# --- "3 hours ago" -----------------------------------------------------------------------------


class _Phrase:
    """One of humanize's lazily translated phrases, whose translations are kept per language and
    count: `timesince` and `naturaltime` write the same few over and over."""

    def __init__(self, group: str, name: str, lazy: Any) -> None:
        self.key, self.lazy = (group, name), lazy
        _PHRASES[self.key] = lazy

    def __mod__(self, params: dict[str, Any]) -> str:
        return _phrase(get_language(), self.key, tuple(sorted(params.items())))

    def __str__(self) -> str:
        return _phrase(get_language(), self.key, ())


_PHRASES: dict[tuple[str, str], Any] = {}


@lru_cache(maxsize=4096)
def _phrase(language: str | None, key: tuple[str, str], params: tuple[tuple[str, Any], ...]) -> str:
    lazy = _PHRASES[key]
    return str(lazy % dict(params)) if params else str(lazy)


def _phrases(group: str, strings: dict[str, Any]) -> dict[str, _Phrase]:
    return {name: _Phrase(group, name, lazy) for name, lazy in strings.items()}


_TIME = _phrases("time", NaturalTimeFormatter.time_strings)
_PAST = _phrases("past", NaturalTimeFormatter.past_substrings)
_FUTURE = _phrases("future", NaturalTimeFormatter.future_substrings)


def naturaltime(value: datetime, now: datetime) -> str:
    """humanize's `naturaltime` filter ("now", "5 minutes ago", "2 days, 3 hours from now") read
    at `now` (one instant for the whole page): the same text, its phrases translated once."""
    past = value < now
    side, delta = ("past", now - value) if past else ("future", value - now)
    if delta.days != 0:
        span = timesince(value, now, time_strings=_PAST) if past else timeuntil(value, now, time_strings=_FUTURE)
        return _TIME[f"{side}-day"] % {"delta": span}
    if delta.seconds == 0:
        return str(_TIME["now"])
    if delta.seconds < 60:
        return _TIME[f"{side}-second"] % {"count": delta.seconds}
    if delta.seconds // 60 < 60:
        return _TIME[f"{side}-minute"] % {"count": delta.seconds // 60}
    return _TIME[f"{side}-hour"] % {"count": delta.seconds // 60 // 60}
