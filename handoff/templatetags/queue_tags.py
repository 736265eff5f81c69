"""Presentation helpers for the MQL queue and the notifications list."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

# Notification kind -> (tone, Bootstrap Icons name); tones are baton.css's `.tone-*` families.
NOTIFICATION_STYLES: dict[str, tuple[str, str]] = {
    "assigned": ("primary", "person-plus"),
    "sla_warning": ("warning", "alarm"),
    "sla_breach": ("danger", "exclamation-octagon"),
    "reassigned": ("purple", "arrow-left-right"),
}


@register.filter
def wait(value: timedelta | None) -> str:
    """A compact wait for tables: "45m", "5h 12m", "3d 4h"; "just now" under a minute."""
    if value is None:
        return "—"
    minutes = max(int(value.total_seconds() // 60), 0)
    if minutes < 1:
        return "just now"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now" under a minute, else "5 minutes ago", "2 days, 3 hours ago"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def signed(points: int) -> str:
    """+5, −3 (a true minus sign), 0."""
    try:
        number = int(points)
    except (TypeError, ValueError):
        return str(points)
    if number > 0:
        return f"+{number}"
    if number < 0:
        return f"−{abs(number)}"
    return "0"


@register.filter
def notification_tone(kind: str) -> str:
    return NOTIFICATION_STYLES.get(kind, ("secondary", "bell"))[0]


@register.filter
def notification_icon(kind: str) -> str:
    return NOTIFICATION_STYLES.get(kind, ("secondary", "bell"))[1]


@register.filter
def badge_count(count: int) -> str:
    """A count for a small badge: 7, 42, 99+. (Takes the context processor's lazy count too.)"""
    try:
        number = int(str(count))
    except (TypeError, ValueError):
        return ""
    return "99+" if number > 99 else str(number)
