"""Formatting for the report pages: shares, durations, and sort keys for sortable tables."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()

DASH = "—"


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.4123 -> "41.2%"; None (a rate of 0/0) -> "—"."""
    if value is None or value == "":
        return DASH
    return f"{float(value) * 100:.{digits}f}%"


@register.filter
def num(value: float | int | None) -> str:
    """A count with thousands separators; None -> "—"."""
    if value is None or value == "":
        return DASH
    return intcomma(value)


def _span(minutes: float) -> str:
    if minutes == 0:
        return "0 min"
    if minutes < 1:
        return "< 1 min"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


@register.filter
def minutes(value: float | None) -> str:
    """A duration given in minutes, in the unit that reads best (s, min, h, d)."""
    return DASH if value is None else _span(float(value))


@register.filter
def hours(value: float | None) -> str:
    return DASH if value is None else _span(float(value) * 60)


@register.filter
def days(value: float | None) -> str:
    return DASH if value is None else _span(float(value) * 1440)


@register.filter
def sortkey(value: float | int | None) -> str:
    """The raw number for `data-sort-value` (empty for none, which sorts last)."""
    return "" if value is None else repr(float(value))


@register.filter
def bar(value: float | None, scale: float | None = 1.0) -> str:
    """A share as a bar width in percent (0–100) for `data-bar` (static/js/reports.js sizes it):
    of 100% by default, or of `scale` (`rate|bar:report.max_rate`, so the best row fills the track)."""
    if value is None or not scale:
        return "0"
    return f"{max(0.0, min(float(value) / float(scale), 1.0)) * 100:.1f}"


@register.filter
def at(sequence: list, index: int):  # type: ignore[no-untyped-def, type-arg]
    """`row.reasons|at:forloop.counter0`."""
    try:
        return sequence[int(index)]
    except (IndexError, TypeError, ValueError):
        return None


@register.filter
def attainment_tone(value: float | None) -> str:
    """Green at or over target, red under 80% of it (a `rate-<tone>` bar class)."""
    if value is None:
        return ""
    return "best" if value >= 1 else "worst" if value < 0.8 else ""


@register.simple_tag(takes_context=True)
def csv_url(context: dict[str, Any], table: str) -> str:
    """The page's own URL with the parameters it used, asking for one table as CSV."""
    return "?" + urlencode({**context.get("csv_params", {}), "format": "csv", "table": table})
