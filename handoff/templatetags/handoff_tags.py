"""Presentation of the handoff: SLA clocks with live countdowns, BANT summaries, and the handoff
panel on a lead's page (`{% load handoff_tags %}{% lead_handoff_panel lead user %}`).

The panel is how the lead page (in `leads`, which must not import `handoff`) shows assignment,
SLA, discovery calls and opportunity: a template tag, resolved by name at render time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from html import escape
from typing import Any

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString

from crm.display import DateTexts
from handoff.models import AuthorityRole, BudgetStatus, CallOutcome, DiscoveryCall, SlaClock, SlaStatus, Timeframe
from handoff.selectors import workspace as selectors

register = template.Library()

RUNNING = frozenset({SlaStatus.ON_TRACK, SlaStatus.AT_RISK, SlaStatus.BREACHED})
SLA_ICONS = {
    SlaStatus.ON_TRACK: "clock",
    SlaStatus.AT_RISK: "hourglass-split",
    SlaStatus.BREACHED: "exclamation-octagon-fill",
    SlaStatus.MET: "check-circle-fill",
    SlaStatus.MET_LATE: "check-circle",
    SlaStatus.STOPPED: "stop-circle",
}
OUTCOME_TONES = {
    CallOutcome.QUALIFIED: "success",
    CallOutcome.FOLLOW_UP: "warning",
    CallOutcome.NOT_QUALIFIED: "secondary",
}


@register.filter
def iso(value: datetime | None) -> str:
    """An aware datetime as ISO 8601 to the second, for `data-` attributes read by workspace.js."""
    if not value:
        return ""
    return value.astimezone(timezone.get_current_timezone()).isoformat(timespec="seconds")


@register.filter
def sla_tone(status: str) -> str:
    return selectors.SLA_TONES.get(status, "stopped")


@register.simple_tag
def sla_clock(
    clock: SlaClock | None,
    status: str = "",
    now: datetime | None = None,
    size: str = "",
    dates: DateTexts | None = None,
) -> SafeString:
    """The SLA clock as a pill: a live countdown while it runs (workspace.js ticks it every second
    from `data-due` / `data-warn`), "Met" or "Met late" once the lead is touched.

    Written out here, not in a template: "My leads" shows one a row, up to 200, and a template a
    row cost more than the rest of the row. Every value put in is ours, a number or a date.
    `dates` shares formatted dates across the rows of one page."""
    if clock is None:
        return SafeString('<span class="text-body-secondary small">No SLA clock</span>')
    now = now or timezone.now()
    status = status or clock.status_at(now)
    dates = dates or DateTexts()
    zone = dates.zone
    remaining = ""
    if status in RUNNING:
        if status == SlaStatus.BREACHED:
            text = f"{selectors.remaining_text(now - clock.due_at)} overdue"
        else:
            text = f"{selectors.remaining_text(clock.due_at - now)} left"
        remaining = f'<span class="sla-remaining" data-sla-remaining>{text}</span>'
    elif clock.first_touch_at and status != SlaStatus.STOPPED:
        text = selectors.remaining_text(clock.first_touch_at - clock.started_at)
        remaining = f'<span class="sla-remaining">{text} after hand-off</span>'
        if status == SlaStatus.MET_LATE and clock.breached_at is not None:
            # A breach is a recorded fact: a late (or back-dated) touch does not undo it.
            breached = escape(dates.format(clock.breached_at.astimezone(zone), "D j M, H:i"))
            remaining += f'<span class="sla-breached"> · breached {breached}</span>'
    due = clock.due_at.astimezone(zone)
    due_text = escape(dates.format(due, "D j M Y, H:i T"))
    stamps = (
        f'data-due="{due.isoformat(timespec="seconds")}" '
        f'data-warn="{clock.warn_at.astimezone(zone).isoformat(timespec="seconds")}" '
        f'data-now="{now.astimezone(zone).isoformat(timespec="seconds")}"'
    )
    large = " sla-clock-lg" if size == "lg" else ""
    icon = SLA_ICONS.get(status, "clock")
    label = escape(_status_label(dates.language, status))
    return SafeString(
        f'<span class="sla-clock sla-{sla_tone(status)}{large}" data-sla-clock data-status="{escape(status)}" '
        f'{stamps} title="First touch due {due_text}"><i class="bi bi-{icon}" aria-hidden="true" data-sla-icon></i> '
        f'<span class="sla-label" data-sla-label>{label}</span>{remaining}</span>'
    )


@lru_cache(maxsize=64)
def _status_label(language: str | None, status: str) -> str:
    """SlaStatus labels, translated once per language (a clock on each of 200 rows)."""
    return str(SlaStatus(status).label)


@register.filter
def budget_text(call: DiscoveryCall) -> str:
    label = _label(BudgetStatus, call.budget_status)
    if call.budget_amount is not None:
        return f"{label}, {_money(call.budget_amount, call.budget_currency)}"
    return label


@register.filter
def money(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return "—"
    return _money(amount, currency)


def _money(amount: Decimal, currency: str) -> str:
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"{text} {currency}".strip()


@register.filter
def authority_text(call: DiscoveryCall) -> str:
    return f"{_label(AuthorityRole, call.authority_role)}; decides: {call.decision_maker}"


@register.filter
def timing_text(call: DiscoveryCall) -> str:
    day = call.expected_decision_date
    return f"{_label(Timeframe, call.timeframe)}, decision by {day:%b} {day.day}, {day.year}"


@register.filter
def outcome_tone(outcome: str) -> str:
    return OUTCOME_TONES.get(outcome, "secondary")


@register.filter
def outcome_label(outcome: str) -> str:
    return {"qualified": "Qualified", "follow_up": "Follow-up", "not_qualified": "Not qualified"}.get(outcome, outcome)


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value or "—"


@register.inclusion_tag("handoff/workspace/_lead_panel.html")
def lead_handoff_panel(lead: Any, user: Any) -> dict[str, Any]:
    """The handoff on a lead's page: assignment, SLA clock, discovery calls, opportunity, and a
    link to the workspace for whoever may work the lead. Three queries."""
    return {"panel": selectors.lead_panel(lead=lead, user=user)}
