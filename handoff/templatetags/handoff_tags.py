"""Presentation of the handoff: SLA clocks with live countdowns, BANT summaries, and the handoff
panel on a lead's page (`{% load handoff_tags %}{% lead_handoff_panel lead user %}`).

The panel is how the lead page (in `leads`, which must not import `handoff`) shows assignment,
SLA, discovery calls and opportunity: a template tag, resolved by name at render time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone

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


@register.inclusion_tag("handoff/workspace/_clock.html")
def sla_clock(clock: SlaClock | None, status: str = "", now: datetime | None = None, size: str = "") -> dict[str, Any]:
    """The SLA clock as a pill: a live countdown while it runs (workspace.js ticks it every second
    from `data-due` / `data-warn`), "Met" or "Met late" once the lead is touched."""
    now = now or timezone.now()
    if clock is None:
        return {"clock": None}
    status = status or clock.status_at(now)
    running = status in RUNNING
    remaining = ""
    if running:
        if status == SlaStatus.BREACHED:
            remaining = f"{selectors.remaining_text(now - clock.due_at)} overdue"
        else:
            remaining = f"{selectors.remaining_text(clock.due_at - now)} left"
    touched_after = ""
    if clock.first_touch_at:
        touched_after = selectors.remaining_text(clock.first_touch_at - clock.started_at)
    return {
        "clock": clock,
        "status": status,
        "label": SlaStatus(status).label,
        "tone": sla_tone(status),
        "icon": SLA_ICONS.get(status, "clock"),
        "running": running,
        "remaining": remaining,
        "touched_after": touched_after,
        "now": now,
        "size": size,
    }


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
