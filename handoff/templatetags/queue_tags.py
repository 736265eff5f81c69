"""Presentation helpers for the MQL queue and the notifications list."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString
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


def score_breakdown_html(title: str, breakdown: Any, empty: str) -> SafeString:
    """One score of a queue row's "why" panel, part by part, with the total and a warning when the
    recorded parts do not add up. `breakdown` is a handoff.views.queue.ScoreBreakdown.

    Written out here, not in an include: every row of the queue has two, and an include with a
    loop per row cost more than the rest of the row. Every value put in is escaped or a number."""
    title = escape(title)
    html = [
        f'<div class="col-md-4"><h3 class="card-title-sm mb-2">{title} score · {int(breakdown.score)}</h3>'
        f'<ul class="score-parts" aria-label="{title} score, part by part">'
    ]
    html.extend(
        f'<li><span class="part-label">{escape(part.label)}</span>'
        f'<span class="part-points{" is-negative" if part.points < 0 else ""}">{signed(part.points)}</span></li>'
        for part in breakdown.parts
    )
    if breakdown.parts:
        html.append(
            f'<li class="part-total"><span class="part-label">Total</span>'
            f'<span class="part-points">{int(breakdown.total)}</span></li>'
        )
    else:
        html.append(f'<li class="text-body-tertiary">{escape(empty)}</li>')
    html.append("</ul>")
    if not breakdown.adds_up:
        html.append(
            '<p class="small text-warning-emphasis mt-2 mb-0"><i class="bi bi-exclamation-triangle me-1" '
            f'aria-hidden="true"></i>The recorded breakdown does not add up to {int(breakdown.score)}; '
            "the lead is due a rescore.</p>"
        )
    html.append("</div>")
    return SafeString("".join(html))
