"""Presentation helpers for lead pages: the one place that decides how stages and activities look."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crm.display import DateTexts, input_html, naturaltime, select_html
from crm.fragments import render_rows
from leads.lifecycle import Stage
from leads.models import Activity

register = template.Library()
register.filter("as_select", select_html)  # {{ form.campaign|as_select }}: a long <select>, fast
register.filter("as_input", input_html)  # {{ form.fit_min|as_input }}: an <input>, without two templates

# Stage -> (tone, Bootstrap Icons name). A tone is a colour family that static/css/baton.css
# defines once as `.tone-<name>` (background, text and border colours); this table is the only
# place that says which stage gets which.
STAGE_STYLES: dict[str, tuple[str, str]] = {
    Stage.LEAD: ("secondary", "person"),
    Stage.MQL: ("info", "star"),
    Stage.SAL: ("primary", "hand-thumbs-up"),
    Stage.SQL: ("purple", "patch-check"),
    Stage.OPPORTUNITY: ("warning", "briefcase"),
    Stage.CUSTOMER: ("success", "trophy"),
    Stage.RECYCLED: ("teal", "arrow-repeat"),
    Stage.DISQUALIFIED: ("danger", "x-octagon"),
}

# Activity type code -> Bootstrap Icons name; types added later fall back to their category.
ACTIVITY_ICONS: dict[str, str] = {
    "page_view": "eye",
    "pricing_page_view": "tag",
    "careers_page_view": "person-badge",
    "content_download": "file-earmark-arrow-down",
    "webinar_registered": "calendar-plus",
    "webinar_attended": "camera-video",
    "event_attended": "calendar-event",
    "email_open": "envelope-open",
    "email_click": "cursor",
    "form_submit": "ui-checks",
    "free_trial": "rocket-takeoff",
    "demo_request": "easel",
    "contact_sales": "chat-dots",
    "price_quote": "receipt",
    "unsubscribe": "envelope-slash",
    "sales_call": "telephone",
    "sales_email": "envelope-arrow-up",
    "sales_meeting": "people",
}
CATEGORY_ICONS = {"marketing": "broadcast", "sales_touch": "headset"}

# Activity properties worth showing on the timeline, most telling first.
DETAIL_KEYS = ("topic", "title", "asset", "webinar", "event", "form", "subject", "url", "campaign", "outcome")
DETAIL_LABELS = {
    "url": "Page",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
}
MAX_DETAILS = 4


def _stage_style(stage: str) -> tuple[str, str]:
    return STAGE_STYLES.get(stage, ("secondary", "circle"))


@register.filter
def stage_tone(stage: str) -> str:
    """The colour tone of a stage (`info`, `purple`, ...), for a `tone-{{ tone }}` class."""
    return _stage_style(stage)[0]


@register.filter
def stage_icon(stage: str) -> str:
    return _stage_style(stage)[1]


@register.simple_tag
def stage_badge(stage: str, size: str = "") -> str:
    """A stage as a coloured badge: `{% stage_badge lead.stage %}` (size "lg" for headers)."""
    return stage_badge_html(stage, size)


@lru_cache(maxsize=64)
def stage_badge_html(stage: str, size: str = "") -> SafeString:
    """The badge's HTML, built once per stage and size: lists put it on every row."""
    tone, icon = _stage_style(stage)
    try:
        label = Stage(stage).label
    except ValueError:
        label = stage
    return format_html(
        '<span class="badge stage-badge{} tone-{}"><i class="bi bi-{}" aria-hidden="true"></i> {}</span>',
        " stage-badge-lg" if size == "lg" else "",
        tone,
        icon,
        label,
    )


@register.filter
def activity_icon(activity: Activity) -> str:
    return ACTIVITY_ICONS.get(activity.type_id) or CATEGORY_ICONS.get(activity.type.category, "activity")


@register.filter
def activity_details(activity: Activity) -> list[tuple[str, Any]]:
    """The most telling simple properties of an activity, as (label, value) pairs."""
    properties = activity.properties if isinstance(activity.properties, dict) else {}
    simple = {
        key: value
        for key, value in properties.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip()
    }
    ordered = [key for key in DETAIL_KEYS if key in simple]
    ordered += sorted(key for key in simple if key not in DETAIL_KEYS)
    return [
        (DETAIL_LABELS.get(key) or key.replace("_", " ").capitalize(), simple[key]) for key in ordered[:MAX_DETAILS]
    ]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """An activity as the timeline shows it (templates/leads/includes/activity_timeline.html)."""

    icon: str
    tone: str  # a modifier class of the icon: "", " is-hot" or " is-sales"
    name: str
    hot: bool
    iso: str
    title: str
    when: str  # "3 hours ago · Nov 22, 2026 10:05"
    details: list[tuple[str, Any]]


def timeline_entries(activities: Iterable[Activity]) -> list[TimelineEntry]:
    """Activities (loaded with their type) as timeline entries, formatted here once rather than
    through a dozen filters an item: a busy lead's page shows a hundred."""
    dates, now = DateTexts(), timezone.now()
    entries = []
    for activity in activities:
        kind, at = activity.type, timezone.localtime(activity.occurred_at)
        tone = " is-hot" if kind.is_hot_signal else " is-sales" if kind.category == "sales_touch" else ""
        entries.append(
            TimelineEntry(
                icon=activity_icon(activity),
                tone=tone,
                name=kind.name,
                hot=kind.is_hot_signal,
                iso=at.isoformat(),
                title=dates.format(at, "DATETIME_FORMAT"),
                when=f"{naturaltime(activity.occurred_at, now)} · {dates.format(at, 'M j, Y H:i')}",
                details=activity_details(activity),
            )
        )
    return entries


@register.filter
def timeline_items(entries: list[TimelineEntry]) -> SafeString:
    """`{{ entries|timeline_items }}`: the timeline's <li> items, rendered as a Jinja2 fragment
    (crm.fragments: a busy lead shows a hundred)."""
    return render_rows("leads/timeline_items.html", entries=entries)


@register.filter
def duration(value: timedelta | None) -> str:
    """`timedelta(minutes=90)` -> "1 hour 30 minutes"; used to say how long a lockout lasts."""
    if not value:
        return ""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
    return " ".join(parts[:2])


@register.filter
def initials(lead: Any) -> str:
    """Two letters for an avatar: from the name, else from the email."""
    first = (getattr(lead, "first_name", "") or "").strip()
    last = (getattr(lead, "last_name", "") or "").strip()
    if first or last:
        return f"{first[:1]}{last[:1]}".upper()
    return (getattr(lead, "email", "") or "?")[:1].upper()
