"""Writes of the handoff settings managers edit: routing rules, teams and their reps, SLA policies,
business calendars and their closed days, the qualification policy, and the managed list of
rejection reasons, and the marketing-side review policy (how long an MQL may wait in the queue).

The settings pages and the Django admin both call these, so a rule holds whichever way a manager
edits. Each entity has a `*_validate` function (no writes; the admin's ModelForms call it in
`clean()` to put errors on the right field) and the writes that call it again under a lock.
Errors are `ValidationError` keyed by the model field they concern, `PermissionDenied` when the
user may not change handoff settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django_countries import countries as all_countries

from handoff import services
from handoff.business_time import Calendar, CalendarError, clock_text, parse_hours
from handoff.models import (
    TIMEFRAME_MONTHS,
    Assignment,
    AuthorityRole,
    BreachAction,
    BudgetStatus,
    BusinessCalendar,
    ClosedDay,
    HandoffMode,
    MqlTarget,
    QualificationPolicy,
    ReasonUse,
    RejectionReason,
    ReviewAction,
    ReviewPolicy,
    RoutingRule,
    SlaPolicy,
    Team,
    TeamMembership,
)
from handoff.selectors import settings_pages as selectors
from leads.models import Channel, Segment
from leads.services import DEFAULT_NURTURE_DAYS, MAX_NURTURE_DAYS

User = get_user_model()

MANAGE = "handoff.manage_handoff_settings"
# Policies the routing code finds by name (handoff.services._policy_for): renaming them would
# silently change which SLA hot leads and unrouted leads get.
SPECIAL_POLICY_NAMES = {
    services.HOT_POLICY_NAME: "hot leads get it when no routing rule names a policy",
    services.FALLBACK_POLICY_NAME: "leads get it when neither their rule nor their team names a policy",
}
MAX_TARGET_MINUTES = 60 * 24 * 30  # a month of business minutes: anything longer is a typo
MAX_CAPACITY = 10_000
MAX_REASSIGNMENTS = 20  # reassigning a lead more often on breach only passes it round the team


def _require_manager(user: Any) -> None:
    if user is None or not user.has_perm(MANAGE):
        raise PermissionDenied("Only managers change routing, teams, SLA policies and the qualification policy.")


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _renumber(queryset: Any) -> list[Any]:
    """Positions 1..n in the current order (rows locked by the caller's queryset)."""
    rows = list(queryset)
    for index, row in enumerate(rows, start=1):
        if row.position != index:
            row.position = index
            row.save(update_fields=["position"])
    return rows


def _move(rows: list[Any], row_id: int, direction: str) -> None:
    index = next((i for i, row in enumerate(rows) if row.pk == row_id), None)
    if index is None:
        raise ValidationError({"position": "It no longer exists."})
    if direction not in ("up", "down"):
        raise ValidationError({"position": "Move up or down."})
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(rows):
        return  # already first or last: nothing to do
    first, second = rows[index], rows[other]
    first.position, second.position = second.position, first.position
    first.save(update_fields=["position"])
    second.save(update_fields=["position"])


# --- Routing rules -----------------------------------------------------------------------------


def routing_rule_validate(
    *, name: str, team_id: int | None, segments: Iterable[str] = (), countries: Iterable[str] = (),
    channels: Iterable[str] = (), sla_policy_id: int | None = None, handoff_mode: str = HandoffMode.REVIEW,
) -> dict[str, Any]:  # fmt: skip
    """Checks a rule's fields; returns them cleaned (stripped name, de-duplicated upper-case codes)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        _add(errors, "name", "Give the rule a name, e.g. “Enterprise in North America”.")
    segments = list(dict.fromkeys(segments or []))
    for value in segments:
        if value not in Segment.values:
            _add(errors, "segments", f"“{value}” is not a segment (use {', '.join(Segment.values)}).")
    codes = [str(code).strip().upper() for code in countries or [] if str(code).strip()]
    countries = list(dict.fromkeys(codes))
    known = dict(all_countries)
    for code in countries:
        if code not in known:
            _add(errors, "countries", f"“{code}” is not an ISO country code.")
    channels = list(dict.fromkeys(channels or []))
    for value in channels:
        if value not in Channel.values:
            _add(errors, "channels", f"“{value}” is not a source channel.")
    if team_id is None or not Team.objects.filter(pk=team_id).exists():
        _add(errors, "team", "Choose the team this rule routes to.")
    if sla_policy_id is not None:
        policy = SlaPolicy.objects.filter(pk=sla_policy_id).first()
        if policy is None:
            _add(errors, "sla_policy", "That SLA policy no longer exists.")
        elif not policy.is_active:
            _add(errors, "sla_policy", f"“{policy.name}” is switched off: choose an active policy.")
    if handoff_mode not in HandoffMode.values:
        _add(errors, "handoff_mode", "Choose how the rule's leads are handed off: automatically or after review.")
    _raise(errors)
    return {"name": name, "segments": segments, "countries": countries, "channels": channels}


@transaction.atomic
def routing_rule_save(
    *, user: Any, rule_id: int | None = None, name: str, team_id: int | None, segments: Sequence[str] = (),
    countries: Sequence[str] = (), channels: Sequence[str] = (), hot_only: bool = False,
    sla_policy_id: int | None = None, is_active: bool = True, handoff_mode: str | None = None,
) -> RoutingRule:  # fmt: skip
    """Create or change a routing rule. A new rule goes last; order changes with `routing_rule_move`.
    `handoff_mode` (HandoffMode): automatic rules hand their leads off the moment they become MQLs;
    None keeps the rule's mode (a new rule waits for review)."""
    _require_manager(user)
    cleaned = routing_rule_validate(
        name=name, team_id=team_id, segments=segments, countries=countries, channels=channels,
        sla_policy_id=sla_policy_id, handoff_mode=HandoffMode.REVIEW if handoff_mode is None else handoff_mode,
    )  # fmt: skip
    if rule_id is None:
        last = RoutingRule.objects.select_for_update().aggregate(last=Max("position"))["last"] or 0
        rule = RoutingRule(position=last + 1)
    else:
        rule = RoutingRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise ValidationError({"name": "This routing rule no longer exists."})
    rule.name = cleaned["name"]
    rule.segments = cleaned["segments"]
    rule.countries = cleaned["countries"]
    rule.channels = cleaned["channels"]
    rule.hot_only = bool(hot_only)
    rule.team_id = team_id
    rule.sla_policy_id = sla_policy_id
    rule.is_active = bool(is_active)
    if handoff_mode is not None:
        rule.handoff_mode = handoff_mode
    rule.save()
    return rule


@transaction.atomic
def routing_rule_move(*, user: Any, rule_id: int, direction: str) -> None:
    """Swap a rule with its neighbour above or below (positions are kept as 1..n)."""
    _require_manager(user)
    rows = _renumber(RoutingRule.objects.select_for_update().order_by("position", "id"))
    _move(rows, rule_id, direction)


@transaction.atomic
def routing_rule_delete(*, user: Any, rule_id: int) -> None:
    """Delete a rule; assignments it made keep their history (their rule link becomes empty)."""
    _require_manager(user)
    deleted, _ = RoutingRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise ValidationError({"name": "This routing rule no longer exists."})
    _renumber(RoutingRule.objects.select_for_update().order_by("position", "id"))


# --- Teams and memberships ---------------------------------------------------------------------


def team_validate(
    *, team_id: int | None = None, name: str, manager_id: int | None = None, default_sla_policy_id: int | None = None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        _add(errors, "name", "Give the team a name.")
    elif Team.objects.filter(name__iexact=name).exclude(pk=team_id).exists():
        _add(errors, "name", f"There is already a team called “{name}”.")
    if manager_id is not None and not User.objects.filter(pk=manager_id, is_active=True).exists():
        _add(errors, "manager", "Choose an active user as the team's manager.")
    if default_sla_policy_id is not None:
        policy = SlaPolicy.objects.filter(pk=default_sla_policy_id).first()
        if policy is None or not policy.is_active:
            _add(errors, "default_sla_policy", "Choose an active SLA policy.")
    _raise(errors)
    return {"name": name}


@transaction.atomic
def team_save(
    *, user: Any, team_id: int | None = None, name: str, manager_id: int | None = None,
    default_sla_policy_id: int | None = None,
) -> Team:  # fmt: skip
    _require_manager(user)
    cleaned = team_validate(
        team_id=team_id, name=name, manager_id=manager_id, default_sla_policy_id=default_sla_policy_id
    )
    team = Team() if team_id is None else Team.objects.select_for_update().filter(pk=team_id).first()
    if team is None:
        raise ValidationError({"name": "This team no longer exists."})
    team.name = cleaned["name"]
    team.manager_id = manager_id
    team.default_sla_policy_id = default_sla_policy_id
    team.save()
    return team


def team_membership_validate(
    *, membership_id: int | None = None, team_id: int | None, rep_id: int | None, capacity: int | None,
    away_until: datetime | None = None, now: datetime | None = None, away_changed: bool = True,
) -> None:  # fmt: skip
    errors: dict[str, list[str]] = {}
    rep = User.objects.filter(pk=rep_id).first() if rep_id is not None else None
    if rep is None or not rep.is_active:
        _add(errors, "rep", "Choose an active rep.")
    elif not rep.has_perm("handoff.work_leads"):
        _add(errors, "rep", f"{rep.get_full_name() or rep.get_username()} cannot work leads: give them the SDR role.")
    elif (
        team_id is not None
        and TeamMembership.objects.filter(team_id=team_id, rep_id=rep_id).exclude(pk=membership_id).exists()
    ):
        _add(errors, "rep", f"{rep.get_full_name() or rep.get_username()} is already in this team.")
    if capacity is None or capacity < 1:
        _add(errors, "capacity", "Capacity must be at least 1 open lead; switch the rep off to stop their leads.")
    elif capacity > MAX_CAPACITY:
        _add(errors, "capacity", f"Capacity must be at most {MAX_CAPACITY:,} open leads.")
    if away_until is not None and away_changed:
        if timezone.is_naive(away_until):
            _add(errors, "away_until", "Give the time with its time zone.")
        elif away_until <= (now or timezone.now()):
            _add(errors, "away_until", "Pick a time in the future, or clear it to mark the rep as back.")
    _raise(errors)


@transaction.atomic
def team_membership_add(
    *, user: Any, team_id: int, rep_id: int, capacity: int = 50, away_until: datetime | None = None,
    is_active: bool = True,
) -> TeamMembership:  # fmt: skip
    """Put a rep in a team's rotation. They take the next lead: nobody assigned them one yet."""
    _require_manager(user)
    team = Team.objects.select_for_update().filter(pk=team_id).first()  # the rotation's lock
    if team is None:
        raise ValidationError({"team": "This team no longer exists."})
    team_membership_validate(team_id=team_id, rep_id=rep_id, capacity=capacity, away_until=away_until)
    return TeamMembership.objects.create(
        team=team, rep_id=rep_id, capacity=capacity, away_until=away_until, is_active=is_active
    )


def _locked_membership(membership_id: int) -> TeamMembership:
    membership = TeamMembership.objects.select_for_update().filter(pk=membership_id).first()
    if membership is None:
        raise ValidationError({"rep": "This rep is no longer in the team."})
    return membership


@transaction.atomic
def team_membership_update(
    *, user: Any, membership_id: int, capacity: int, away_until: datetime | None, is_active: bool
) -> TeamMembership:
    """Change a rep's capacity, away time or active flag. Their place in the rotation is kept."""
    _require_manager(user)
    membership = _locked_membership(membership_id)
    team_membership_validate(
        membership_id=membership.pk, team_id=membership.team_id, rep_id=membership.rep_id, capacity=capacity,
        away_until=away_until, away_changed=away_until != membership.away_until,
    )  # fmt: skip
    membership.capacity = capacity
    membership.away_until = away_until
    membership.is_active = bool(is_active)
    membership.save(update_fields=["capacity", "away_until", "is_active"])
    return membership


@transaction.atomic
def team_membership_set_away(*, user: Any, membership_id: int, until: datetime | None) -> TeamMembership:
    """Mark a rep away until `until` (routing skips them), or back when `until` is None."""
    _require_manager(user)
    membership = _locked_membership(membership_id)
    if until is not None:
        team_membership_validate(
            membership_id=membership.pk, team_id=membership.team_id, rep_id=membership.rep_id,
            capacity=membership.capacity, away_until=until,
        )  # fmt: skip
    membership.away_until = until
    membership.save(update_fields=["away_until"])
    return membership


@transaction.atomic
def team_membership_remove(*, user: Any, membership_id: int) -> int:
    """Take a rep out of a team's rotation. Their open leads stay with them (reassign them from
    the SLA board); returns how many there are."""
    _require_manager(user)
    membership = _locked_membership(membership_id)
    Team.objects.select_for_update().get(pk=membership.team_id)
    open_leads = Assignment.objects.filter(is_open=True, team_id=membership.team_id, rep_id=membership.rep_id).count()
    membership.delete()
    return open_leads


# --- Business calendars and closed days --------------------------------------------------------


def business_calendar_validate(
    *, calendar_id: int | None = None, name: str, time_zone: str, hours: Any, holiday_country: str = "",
    holiday_subdivision: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Name, time zone, hours and holidays, checked with `Calendar.build` (errors on the field
    `CalendarError.field` names). Returns the cleaned values."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        _add(errors, "name", "Give the calendar a name.")
    elif BusinessCalendar.objects.filter(name__iexact=name).exclude(pk=calendar_id).exists():
        _add(errors, "name", f"There is already a calendar called “{name}”.")
    country = str(holiday_country or "").strip().upper()
    subdivision = (holiday_subdivision or "").strip().upper()
    if subdivision and not country:
        _add(errors, "holiday_subdivision", "Choose the country first.")
    elif subdivision:
        known = selectors.holiday_subdivisions(country)
        if subdivision not in known:
            _add(
                errors,
                "holiday_subdivision",
                f"“{subdivision}” is not a subdivision of {all_countries.name(country) or country} "
                f"the holiday data knows"
                + (f" (use one of {', '.join(list(known)[:12])}{'…' if len(known) > 12 else ''})." if known else "."),
            )
    if not isinstance(hours, dict):
        _add(errors, "hours", 'Give the hours as {"0": [["09:00", "17:00"]], …} (0 = Monday).')
    if "holiday_subdivision" not in errors and "hours" not in errors:
        try:
            Calendar.build(
                time_zone=time_zone, hours=hours, holiday_country=country, holiday_subdivision=subdivision
            ).is_open_day(timezone.localdate())
        except CalendarError as exc:
            _add(errors, exc.field, str(exc))
    _raise(errors)
    return {"name": name, "holiday_country": country, "holiday_subdivision": subdivision}


@transaction.atomic
def business_calendar_save(
    *, user: Any, calendar_id: int | None = None, name: str, time_zone: str, hours: dict[str, Any],
    holiday_country: str = "", holiday_subdivision: str = "",
) -> BusinessCalendar:  # fmt: skip
    """Create or change a calendar through `handoff.services.calendar_save`. Running clocks keep
    the due times they were given; leads handed off from now on use the new hours."""
    _require_manager(user)
    cleaned = business_calendar_validate(
        calendar_id=calendar_id, name=name, time_zone=time_zone, hours=hours, holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
    )  # fmt: skip
    if calendar_id is not None:
        BusinessCalendar.objects.select_for_update().filter(pk=calendar_id).first()
    return services.calendar_save(
        calendar_id=calendar_id,
        name=cleaned["name"],
        time_zone=time_zone,
        hours=_sorted_hours(hours),
        holiday_country=cleaned["holiday_country"],
        holiday_subdivision=cleaned["holiday_subdivision"],
    )


def _sorted_hours(hours: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Weekdays in order, windows in order, times as HH:MM (the hours have passed `parse_hours`)."""
    return {
        str(weekday): [[clock_text(start), clock_text(end)] for start, end in windows]
        for weekday, windows in sorted(parse_hours(hours).items())
    }


def closed_day_validate(
    *, closed_day_id: int | None = None, calendar_id: int | None, date: date | None, label: str = "",
    today: date | None = None, date_changed: bool = True,
) -> None:  # fmt: skip
    errors: dict[str, list[str]] = {}
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first() if calendar_id is not None else None
    if calendar is None:
        _add(errors, "calendar", "Choose the calendar.")
    if date is None:
        _add(errors, "date", "Give the date.")
    elif calendar is not None:
        if today is None:
            try:
                today = timezone.localdate(timezone=Calendar.from_model(calendar).tz)
            except CalendarError:
                today = timezone.localdate()
        if date_changed and date < today:
            _add(errors, "date", "That day has passed: closing it changes nothing.")
        elif ClosedDay.objects.filter(calendar=calendar, date=date).exclude(pk=closed_day_id).exists():
            _add(errors, "date", f"{date:%a %d %b %Y} is already closed in this calendar.")
    if len(label or "") > 100:
        _add(errors, "label", "Keep the label under 100 characters.")
    _raise(errors)


@transaction.atomic
def closed_day_add(*, user: Any, calendar_id: int, date: date, label: str = "") -> ClosedDay:
    """Close one day in a calendar (company offsite, local holiday). Running clocks keep their due times."""
    _require_manager(user)
    BusinessCalendar.objects.select_for_update().filter(pk=calendar_id).first()
    closed_day_validate(calendar_id=calendar_id, date=date, label=label)
    return ClosedDay.objects.create(calendar_id=calendar_id, date=date, label=(label or "").strip())


@transaction.atomic
def closed_day_save(*, user: Any, closed_day_id: int, date: date, label: str = "") -> ClosedDay:
    _require_manager(user)
    closed_day = ClosedDay.objects.select_for_update().filter(pk=closed_day_id).first()
    if closed_day is None:
        raise ValidationError({"date": "This closed day no longer exists."})
    closed_day_validate(
        closed_day_id=closed_day.pk, calendar_id=closed_day.calendar_id, date=date, label=label,
        date_changed=date != closed_day.date,
    )  # fmt: skip
    closed_day.date = date
    closed_day.label = (label or "").strip()
    closed_day.save(update_fields=["date", "label"])
    return closed_day


@transaction.atomic
def closed_day_remove(*, user: Any, closed_day_id: int) -> None:
    _require_manager(user)
    deleted, _ = ClosedDay.objects.filter(pk=closed_day_id).delete()
    if not deleted:
        raise ValidationError({"date": "This closed day was already removed."})


# --- SLA policies ------------------------------------------------------------------------------


def sla_policy_validate(
    *, policy_id: int | None = None, name: str, calendar_id: int | None, first_touch_minutes: int | None,
    warn_at_percent: int | None, breach_action: str, is_active: bool = True, max_reassignments: int | None = 2,
) -> dict[str, Any]:  # fmt: skip
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    current = SlaPolicy.objects.filter(pk=policy_id).first() if policy_id is not None else None
    if not name:
        _add(errors, "name", "Give the policy a name.")
    elif SlaPolicy.objects.filter(name__iexact=name).exclude(pk=policy_id).exists():
        _add(errors, "name", f"There is already a policy called “{name}”.")
    elif current is not None and current.name in SPECIAL_POLICY_NAMES and name != current.name:
        _add(
            errors,
            "name",
            f"“{current.name}” keeps its name: {SPECIAL_POLICY_NAMES[current.name]}. Change its target instead.",
        )
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first() if calendar_id is not None else None
    if calendar is None:
        _add(errors, "calendar", "Choose the business calendar the target is counted in.")
    if first_touch_minutes is None or first_touch_minutes < 1:
        _add(errors, "first_touch_minutes", "The first-touch target must be at least 1 business minute.")
    elif first_touch_minutes > MAX_TARGET_MINUTES:
        _add(errors, "first_touch_minutes", "The first-touch target must be under 30 days of business time.")
    if warn_at_percent is None or not 1 <= warn_at_percent <= 99:
        _add(errors, "warn_at_percent", "Warn somewhere between 1% and 99% of the target.")
    if breach_action not in BreachAction.values:
        _add(errors, "breach_action", "Choose what happens on a breach.")
    if max_reassignments is None or not 0 <= max_reassignments <= MAX_REASSIGNMENTS:
        _add(
            errors,
            "max_reassignments",
            f"Reassign a lead on breach between 0 and {MAX_REASSIGNMENTS} times before it escalates to the manager.",
        )
    if calendar is not None and "first_touch_minutes" not in errors:
        try:
            Calendar.from_model(calendar).add_minutes(timezone.now(), first_touch_minutes)
        except CalendarError as exc:
            _add(errors, "calendar", f"{calendar.name}: {exc}")
    if current is not None and current.is_active and not is_active:
        using = [
            *(f"team “{t}”" for t in Team.objects.filter(default_sla_policy=current).values_list("name", flat=True)),
            *(
                f"routing rule “{r}”"
                for r in RoutingRule.objects.filter(sla_policy=current).values_list("name", flat=True)
            ),
        ]
        if using:
            _add(errors, "is_active", f"Still used by {', '.join(using)}: choose another policy there first.")
        elif not SlaPolicy.objects.filter(is_active=True).exclude(pk=current.pk).exists():
            _add(errors, "is_active", "This is the last active policy: hand-offs need one.")
    _raise(errors)
    return {"name": name}


@transaction.atomic
def sla_policy_save(
    *, user: Any, policy_id: int | None = None, name: str, calendar_id: int, first_touch_minutes: int,
    warn_at_percent: int = 75, breach_action: str = BreachAction.NOTIFY, is_active: bool = True,
    max_reassignments: int | None = None,
) -> SlaPolicy:  # fmt: skip
    """Create or change an SLA policy. Running clocks keep the due times they were given.
    `max_reassignments`: how often a lead is reassigned on breach (when the breach action
    reassigns) before the next breach escalates it to the manager; None keeps the policy's
    (a new policy: 2)."""
    _require_manager(user)
    current = SlaPolicy.objects.select_for_update().filter(pk=policy_id).first() if policy_id is not None else None
    if max_reassignments is None:
        default = SlaPolicy._meta.get_field("max_reassignments").default
        max_reassignments = current.max_reassignments if current is not None else default
    cleaned = sla_policy_validate(
        policy_id=policy_id, name=name, calendar_id=calendar_id, first_touch_minutes=first_touch_minutes,
        warn_at_percent=warn_at_percent, breach_action=breach_action, is_active=is_active,
        max_reassignments=max_reassignments,
    )  # fmt: skip
    policy = SlaPolicy() if policy_id is None else current
    if policy is None:
        raise ValidationError({"name": "This policy no longer exists."})
    policy.name = cleaned["name"]
    policy.calendar_id = calendar_id
    policy.first_touch_minutes = first_touch_minutes
    policy.warn_at_percent = warn_at_percent
    policy.breach_action = breach_action
    policy.max_reassignments = max_reassignments
    policy.is_active = bool(is_active)
    policy.save()
    return policy


# --- The marketing review policy ---------------------------------------------------------------
# How long an MQL may wait in the queue for a marketer, in business minutes, and what happens when
# it waits longer (handoff.automation.review_sweep). One policy is active, or none: no review target.

REVIEW_POLICY_NAME = "Marketing review"


def review_policy_validate(
    *, policy_id: int | None = None, name: str = REVIEW_POLICY_NAME, calendar_id: int | None,
    review_minutes: int | None, overdue_action: str = ReviewAction.NOTIFY,
) -> dict[str, Any]:  # fmt: skip
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        _add(errors, "name", "Give the review policy a name.")
    elif ReviewPolicy.objects.filter(name__iexact=name).exclude(pk=policy_id).exists():
        _add(errors, "name", f"There is already a review policy called “{name}”.")
    calendar = BusinessCalendar.objects.filter(pk=calendar_id).first() if calendar_id is not None else None
    if calendar is None:
        _add(errors, "calendar", "Choose the business calendar the review target is counted in.")
    if review_minutes is None or review_minutes < 1:
        _add(errors, "review_minutes", "The review target must be at least 1 business minute.")
    elif review_minutes > MAX_TARGET_MINUTES:
        _add(errors, "review_minutes", "The review target must be under 30 days of business time.")
    if overdue_action not in ReviewAction.values:
        _add(errors, "overdue_action", "Choose what happens when a review is overdue.")
    if calendar is not None and "review_minutes" not in errors:
        try:
            Calendar.from_model(calendar).add_minutes(timezone.now(), review_minutes)
        except CalendarError as exc:
            _add(errors, "calendar", f"{calendar.name}: {exc}")
    _raise(errors)
    return {"name": name}


@transaction.atomic
def review_policy_save(
    *, user: Any, policy_id: int | None = None, name: str = REVIEW_POLICY_NAME, calendar_id: int | None,
    review_minutes: int | None, overdue_action: str = ReviewAction.NOTIFY, is_active: bool = True,
) -> ReviewPolicy:  # fmt: skip
    """Create or change the review policy `policy_id` (a new one without it). Only one policy is
    active: activating this one switches the active one off. MQLs already in the queue keep the
    due time they were given; the overdue action applies to every review the sweep flags from now."""
    _require_manager(user)
    list(ReviewPolicy.objects.select_for_update().values_list("pk", flat=True))  # one editor at a time
    cleaned = review_policy_validate(
        policy_id=policy_id, name=name, calendar_id=calendar_id, review_minutes=review_minutes,
        overdue_action=overdue_action,
    )  # fmt: skip
    policy = ReviewPolicy() if policy_id is None else ReviewPolicy.objects.filter(pk=policy_id).first()
    if policy is None:
        raise ValidationError({"name": "This review policy no longer exists."})
    if is_active:
        ReviewPolicy.objects.filter(is_active=True).exclude(pk=policy.pk).update(is_active=False)
    policy.name = cleaned["name"]
    policy.calendar_id = calendar_id
    policy.review_minutes = review_minutes
    policy.overdue_action = overdue_action
    policy.is_active = bool(is_active)
    policy.save()
    return policy


@transaction.atomic
def review_policy_switch_off(*, user: Any) -> ReviewPolicy | None:
    """No review target: MQLs entering the queue from now get no due time, so nobody is told they
    wait and nothing is handed off for waiting (MQLs already waiting keep the due time they were
    given, like running SLA clocks). Returns the policy switched off (None: none was on)."""
    _require_manager(user)
    policy = ReviewPolicy.objects.select_for_update().filter(is_active=True).first()
    if policy is None:
        return None
    policy.is_active = False
    policy.save(update_fields=["is_active"])
    return policy


# --- Qualification policy ----------------------------------------------------------------------


def qualification_policy_validate(
    *, policy_id: int | None = None, name: str = "BANT", accepted_budget_statuses: Iterable[str],
    min_budget_amount: Decimal | None, accepted_authority_roles: Iterable[str], max_timeframe_months: int | None,
) -> dict[str, Any]:  # fmt: skip
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        _add(errors, "name", "Give the policy a name.")
    budgets = [b for b in BudgetStatus.values if b in set(accepted_budget_statuses or [])]
    for value in set(accepted_budget_statuses or []) - set(BudgetStatus.values):
        _add(errors, "accepted_budget_statuses", f"“{value}” is not a budget status.")
    if not budgets:
        _add(errors, "accepted_budget_statuses", "Accept at least one budget status (tick them all to accept any).")
    roles = [r for r in AuthorityRole.values if r in set(accepted_authority_roles or [])]
    for value in set(accepted_authority_roles or []) - set(AuthorityRole.values):
        _add(errors, "accepted_authority_roles", f"“{value}” is not an authority role.")
    if not roles:
        _add(errors, "accepted_authority_roles", "Accept at least one authority role (tick them all to accept any).")
    if min_budget_amount is not None:
        if min_budget_amount < 0:
            _add(errors, "min_budget_amount", "The minimum budget cannot be negative.")
        elif min_budget_amount == 0:
            min_budget_amount = None  # "at least 0" is no minimum; store it as none
        elif not set(budgets) & {BudgetStatus.APPROVED, BudgetStatus.PLANNED}:
            _add(
                errors,
                "min_budget_amount",
                "A minimum amount needs an approved or planned budget to be accepted: only those come with an amount.",
            )
    longest = max(m for m in TIMEFRAME_MONTHS.values() if m is not None)
    if max_timeframe_months is not None and not 1 <= max_timeframe_months <= longest:
        _add(errors, "max_timeframe_months", f"Give a number of months between 1 and {longest}, or leave it empty.")
    _raise(errors)
    return {
        "name": name,
        "accepted_budget_statuses": budgets,
        "min_budget_amount": min_budget_amount,
        "accepted_authority_roles": roles,
        "max_timeframe_months": max_timeframe_months,
    }


@transaction.atomic
def qualification_policy_save(
    *, user: Any, policy_id: int | None = None, name: str = "BANT", accepted_budget_statuses: Sequence[str],
    min_budget_amount: Decimal | None = None, accepted_authority_roles: Sequence[str],
    max_timeframe_months: int | None = None, is_active: bool = True,
) -> QualificationPolicy:  # fmt: skip
    """Change what counts as qualified: the policy `policy_id`, or a new one without it. Only one
    policy is active: activating one switches the previously active one off."""
    _require_manager(user)
    cleaned = qualification_policy_validate(
        policy_id=policy_id, name=name, accepted_budget_statuses=accepted_budget_statuses,
        min_budget_amount=min_budget_amount, accepted_authority_roles=accepted_authority_roles,
        max_timeframe_months=max_timeframe_months,
    )  # fmt: skip
    list(QualificationPolicy.objects.select_for_update().values_list("pk", flat=True))  # one editor at a time
    if policy_id is None:
        policy = QualificationPolicy()
    else:
        policy = QualificationPolicy.objects.filter(pk=policy_id).first()
        if policy is None:
            raise ValidationError({"name": "This qualification policy no longer exists."})
    if is_active:
        QualificationPolicy.objects.filter(is_active=True).exclude(pk=policy.pk).update(is_active=False)
    for field, value in cleaned.items():
        setattr(policy, field, value)
    policy.is_active = bool(is_active)
    policy.updated_by = user
    policy.save()
    return policy


# --- Rejection reasons (the managed list) ------------------------------------------------------


def _usable_for(reasons: Iterable[RejectionReason], use: str) -> bool:
    return any(r.is_active and r.use in (use, ReasonUse.BOTH) for r in reasons)


def rejection_reason_validate(
    *, reason_id: int | None = None, code: str = "", label: str, use: str, is_active: bool = True,
    nurture_days: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Label, use, code and cool-off; and the list must keep an active reason to recycle and one
    to disqualify, or nobody could send a lead back."""
    errors: dict[str, list[str]] = {}
    label = (label or "").strip()
    current = RejectionReason.objects.filter(pk=reason_id).first() if reason_id is not None else None
    if not label:
        _add(errors, "label", "Give the reason a label, as people will see it in the list.")
    elif len(label) > 100:
        _add(errors, "label", "Keep the label under 100 characters.")
    elif RejectionReason.objects.filter(label__iexact=label).exclude(pk=reason_id).exists():
        _add(errors, "label", f"“{label}” is already in the list.")
    if use not in ReasonUse.values:
        _add(errors, "use", "Choose when the reason applies.")
    if nurture_days is not None:
        if use == ReasonUse.DISQUALIFY:
            _add(
                errors,
                "nurture_days",
                "A cool-off is for leads sent back to nurture: leave it empty for a reason that only disqualifies.",
            )
        elif not 1 <= nurture_days <= MAX_NURTURE_DAYS:
            _add(
                errors,
                "nurture_days",
                f"Give a cool-off between 1 and {MAX_NURTURE_DAYS:,} days, or leave it empty for the default "
                f"of {DEFAULT_NURTURE_DAYS} days.",
            )
    code = (code or "").strip()
    if current is not None:
        if code and code != current.code:
            _add(errors, "code", "The code is fixed once created: the API and reports refer to it.")
        code = current.code
    elif not code and "label" in errors:
        pass  # the code would come from the label: its error says it all
    else:
        code = code or slugify(label).replace("-", "_")[:40]
        if not code:
            _add(errors, "code", "Give a code of letters, digits and underscores.")
        elif slugify(code).replace("-", "_") != code:
            _add(errors, "code", "Use lower-case letters, digits and underscores only.")
        elif RejectionReason.objects.filter(code=code).exists():
            _add(errors, "code", f"The code “{code}” is taken: choose another.")
    if "use" not in errors:
        others = list(RejectionReason.objects.exclude(pk=reason_id))
        proposed = [*others, RejectionReason(code=code, label=label, use=use, is_active=is_active)]
        for needed, words in ((ReasonUse.RECYCLE, "send leads back to nurture"), (ReasonUse.DISQUALIFY, "disqualify")):
            if _usable_for(others + ([current] if current else []), needed) and not _usable_for(proposed, needed):
                _add(
                    errors,
                    "is_active" if current is not None and not is_active else "use",
                    f"Keep at least one active reason to {words} with.",
                )
    _raise(errors)
    return {"code": code, "label": label}


@transaction.atomic
def rejection_reason_save(
    *, user: Any, reason_id: int | None = None, label: str, use: str, is_active: bool = True, code: str = "",
    nurture_days: int | None = None,
) -> RejectionReason:  # fmt: skip
    """Add a reason (at the end of the list) or change one. Reasons are switched off, not deleted:
    past decisions keep pointing at them. `nurture_days`: the cool-off a lead sent back to nurture
    for this reason gets by default (None: DEFAULT_NURTURE_DAYS); only for reasons that recycle."""
    _require_manager(user)
    list(RejectionReason.objects.select_for_update().values_list("pk", flat=True))  # one editor at a time
    cleaned = rejection_reason_validate(
        reason_id=reason_id, code=code, label=label, use=use, is_active=is_active, nurture_days=nurture_days
    )
    if reason_id is None:
        last = RejectionReason.objects.aggregate(last=Max("position"))["last"]
        reason = RejectionReason(code=cleaned["code"], position=(last + 1) if last is not None else 0)
    else:
        reason = RejectionReason.objects.get(pk=reason_id)
    reason.label = cleaned["label"]
    reason.use = use
    reason.nurture_days = nurture_days
    reason.is_active = bool(is_active)
    reason.save()
    return reason


@transaction.atomic
def rejection_reason_move(*, user: Any, reason_id: int, direction: str) -> None:
    _require_manager(user)
    rows = list(RejectionReason.objects.select_for_update().order_by("position", "label", "id"))
    for index, row in enumerate(rows):  # positions 0..n-1, as the starting data has them
        if row.position != index:
            row.position = index
            row.save(update_fields=["position"])
    _move(rows, reason_id, direction)


# --- Deletes (the admin's; the pages switch things off instead) --------------------------------


@transaction.atomic
def team_delete(*, user: Any, team_id: int) -> None:
    """Delete a team that never took a lead and no rule routes to; otherwise keep it."""
    _require_manager(user)
    team = Team.objects.select_for_update().filter(pk=team_id).first()
    if team is None:
        raise ValidationError({"name": "This team no longer exists."})
    if Assignment.objects.filter(team=team).exists():
        raise ValidationError({"name": f"“{team.name}” has taken leads, and its history keeps it."})
    if RoutingRule.objects.filter(team=team).exists():
        raise ValidationError({"name": f"Routing rules send leads to “{team.name}”: point them elsewhere first."})
    team.delete()


@transaction.atomic
def sla_policy_delete(*, user: Any, policy_id: int) -> None:
    """Delete a policy no clock, team or rule uses and that routing does not find by name."""
    _require_manager(user)
    policy = SlaPolicy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise ValidationError({"name": "This policy no longer exists."})
    if policy.name in SPECIAL_POLICY_NAMES:
        raise ValidationError({"name": f"“{policy.name}” is built in: {SPECIAL_POLICY_NAMES[policy.name]}."})
    if policy.clocks.exists():
        raise ValidationError({"name": f"SLA clocks were started under “{policy.name}”: switch it off instead."})
    sla_policy_validate(
        policy_id=policy.pk, name=policy.name, calendar_id=policy.calendar_id,
        first_touch_minutes=policy.first_touch_minutes, warn_at_percent=policy.warn_at_percent,
        breach_action=policy.breach_action, is_active=False,
    )  # fmt: skip
    policy.delete()


@transaction.atomic
def review_policy_delete(*, user: Any, policy_id: int) -> None:
    """Delete a review policy no review clock was started under (else switch it off)."""
    _require_manager(user)
    policy = ReviewPolicy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise ValidationError({"name": "This review policy no longer exists."})
    if policy.clocks.exists():
        raise ValidationError({"name": f"MQLs were reviewed under “{policy.name}”: switch it off instead."})
    policy.delete()


@transaction.atomic
def business_calendar_delete(*, user: Any, calendar_id: int) -> None:
    """Delete a calendar no policy counts in (its closed days go with it)."""
    _require_manager(user)
    calendar = BusinessCalendar.objects.select_for_update().filter(pk=calendar_id).first()
    if calendar is None:
        raise ValidationError({"name": "This calendar no longer exists."})
    names = [
        *calendar.policies.values_list("name", flat=True),
        *(f"the review policy “{name}”" for name in calendar.review_policies.values_list("name", flat=True)),
    ]
    if names:
        raise ValidationError({"name": f"Used by {', '.join(names)}: move those policies to another calendar first."})
    calendar.delete()


# --- Monthly MQL targets -----------------------------------------------------------------------


def mql_target_validate(*, target_id: int | None = None, month: date | None, target: int | None) -> date:
    """Returns the month as its first day."""
    errors: dict[str, list[str]] = {}
    first = month.replace(day=1) if month is not None else None
    if first is None:
        _add(errors, "month", "Give the month.")
    elif MqlTarget.objects.filter(month=first).exclude(pk=target_id).exists():
        _add(errors, "month", f"{first:%B %Y} already has a target: change that one.")
    if target is None or target < 0:
        _add(errors, "target", "Give the number of MQLs marketing commits to (0 or more).")
    _raise(errors)
    return first  # type: ignore[return-value]


@transaction.atomic
def mql_target_save(*, user: Any, target_id: int | None = None, month: date, target: int) -> MqlTarget:
    """Set marketing's MQL commitment for a month (any day of the month names it)."""
    _require_manager(user)
    first = mql_target_validate(target_id=target_id, month=month, target=target)
    row = MqlTarget() if target_id is None else MqlTarget.objects.select_for_update().filter(pk=target_id).first()
    if row is None:
        raise ValidationError({"month": "This target no longer exists."})
    row.month, row.target = first, target
    row.save()
    return row


@transaction.atomic
def mql_target_delete(*, user: Any, target_id: int) -> None:
    _require_manager(user)
    if not MqlTarget.objects.filter(pk=target_id).delete()[0]:
        raise ValidationError({"month": "This target was already removed."})
