"""What drives the handoff by itself: automatic hand-off, the fast track, and the marketing-side
review commitment.

- A lead entering MQL (by scoring, a person, a web form or an API activity) gets, in the same
  transaction, a review clock (its stay in the queue, due by the review policy) and a hand-off
  request. So does an MQL in the queue that sends a new hot signal (request only).
- After commit a task drains the requests (and beat drains them every minute, for any wake-up the
  broker lost: the rows are the source of truth). Each lead is looked at under its row lock: still
  an MQL nobody holds? Then it is handed off — through the same run as the queue's button
  (`handoff.services._hand_off`: routing, round robin, capacity, SLA clock, notification) — when
  its routing rule is automatic, when it is fast-tracked (a hot signal, fit not junk), or when its
  review is overdue under a policy that says so. Otherwise it waits in the queue for a marketer.
  A request nobody can take (every rep away or at capacity) keeps its error, shown in the queue,
  and is retried with a growing delay.
- The review sweep (beat, every minute) flags MQLs waiting longer than the review policy allows,
  tells the marketers once (one digest per sweep), and requests their hand-off if the policy says so.

A marketer acting on the same lead at the same time is serialised by the lead's row lock: whoever
comes second finds the lead handed off (or gone from the queue) and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.queue import enqueue_on_commit
from handoff import services
from handoff.business_time import Calendar, CalendarError
from handoff.models import (
    Assignment,
    HandoffCause,
    HandoffRequest,
    Notification,
    NotificationKind,
    ReviewAction,
    ReviewClock,
    ReviewEnd,
    ReviewPolicy,
    RoutingRule,
)
from leads.fast_track import FastTrack, fast_track_verdict
from leads.lifecycle import Stage
from leads.models import Lead, ScoringModel, ScoringModelStatus

DRAIN_BATCH = 200
# A request nobody could take is tried again after 1, 2, 4 … minutes, at most every 15.
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(minutes=15)
# A request whose lead was locked by someone else (a marketer acting on it) waits this long.
BUSY_DELAY = timedelta(seconds=5)


# --- Hooks: written in the transaction that moves the lead -------------------------------------


def on_stage_moves(moves: list[tuple[int, str, str]], now: datetime) -> None:
    """leads.services calls this inside every stage-change transaction (registered in apps.py)."""
    left = [lead_id for lead_id, source, _ in moves if source == Stage.MQL]
    entered = [lead_id for lead_id, _, target in moves if target == Stage.MQL]
    if left:
        services.review_clocks_end(lead_ids=left, end=ReviewEnd.LEFT, at=now)
        HandoffRequest.objects.filter(lead_id__in=left).delete()
    if entered:
        review_clocks_start(lead_ids=entered, at=now)
        handoff_requests_add(lead_ids=entered, cause=HandoffCause.ENTERED_MQL)


def on_hot_mqls(lead_ids: list[int]) -> None:
    """An MQL in the queue sent a new hot signal: look at it for the fast track."""
    waiting = Lead.objects.filter(pk__in=lead_ids, stage=Stage.MQL).exclude(
        pk__in=Assignment.objects.filter(lead_id__in=lead_ids, is_open=True).values("lead_id")
    )
    handoff_requests_add(lead_ids=list(waiting.values_list("pk", flat=True)), cause=HandoffCause.HOT_SIGNAL)


def handoff_requests_add(*, lead_ids: Iterable[int], cause: str, force: bool = False) -> None:
    """Ask for these leads to be looked at for automatic hand-off (one request per lead; a forced
    one — review overdue — makes an existing request forced too), and wake the drain after commit."""
    from handoff import tasks

    ids = sorted(set(lead_ids))
    if not ids:
        return
    now = timezone.now()
    HandoffRequest.objects.bulk_create(
        [HandoffRequest(lead_id=pk, cause=cause, force=force, requested_at=now, next_attempt_at=now) for pk in ids],
        ignore_conflicts=True,
    )
    if force:
        HandoffRequest.objects.filter(lead_id__in=ids, force=False).update(force=True, next_attempt_at=now)
    enqueue_on_commit(tasks.drain_handoff_requests)


def review_policy() -> ReviewPolicy | None:
    return ReviewPolicy.objects.filter(is_active=True).select_related("calendar").first()


def review_clocks_start(*, lead_ids: list[int], at: datetime) -> None:
    """Start the leads' stays in the queue, due by the active review policy (none: no due time).
    Leads entering together share their due time: one business-time sum for the whole burst."""
    policy = review_policy()
    due = None
    if policy is not None:
        try:
            due = Calendar.from_model(policy.calendar).add_minutes(at, policy.review_minutes)
        except CalendarError:
            due = None  # a broken calendar must not stop leads from entering the queue
    services.review_clocks_end(lead_ids=lead_ids, end=ReviewEnd.LEFT, at=at)
    ReviewClock.objects.bulk_create(
        [ReviewClock(lead_id=pk, policy=policy, started_at=at, due_at=due) for pk in lead_ids], batch_size=1000
    )


# --- The drain -----------------------------------------------------------------------------------


def _locked(queryset):  # type: ignore[no-untyped-def]
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset.select_for_update()


@dataclass
class DrainResult:
    handed_off: int = 0
    waiting: int = 0  # reviewed rules: left in the queue for a marketer
    failed: int = 0  # nobody could take them: retried later
    dropped: int = 0  # no longer MQLs nobody holds

    def add(self, other: DrainResult) -> None:
        self.handed_off += other.handed_off
        self.waiting += other.waiting
        self.failed += other.failed
        self.dropped += other.dropped


def handoff_requests_drain(*, batch: int = DRAIN_BATCH, now: datetime | None = None) -> DrainResult:
    """Work off every hand-off request that is due, a batch per transaction (several drains at
    once take different batches: locked rows are skipped)."""
    total = DrainResult()
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            requests = list(
                _locked(HandoffRequest.objects.filter(next_attempt_at__lte=moment)).order_by("next_attempt_at", "id")[
                    :batch
                ]
            )
            if not requests:
                return total
            total.add(_work_off(requests, moment))
        if len(requests) < batch:
            return total


def leads_auto_hand_off(*, lead_ids: list[int], now: datetime | None = None) -> DrainResult:
    """Work off the hand-off requests of these leads now (what the drain does, for given leads)."""
    moment = now or timezone.now()
    with transaction.atomic():
        requests = list(_locked(HandoffRequest.objects.filter(lead_id__in=lead_ids)).order_by("id"))
        return _work_off(requests, moment)


def _work_off(requests: list[HandoffRequest], now: datetime) -> DrainResult:
    """Decide each locked request's lead, hand off those due for it in one run, and keep, with
    their error, the requests nobody could take."""
    result = DrainResult()
    by_lead = {request.lead_id: request for request in requests}
    leads = {
        lead.pk: lead
        for lead in _locked(Lead.objects.filter(pk__in=list(by_lead)).select_related("company")).order_by("pk")
    }
    busy = [request.pk for lead_id, request in by_lead.items() if lead_id not in leads]
    held = set(Assignment.objects.filter(lead_id__in=list(leads), is_open=True).values_list("lead_id", flat=True))
    context = _Context.load()
    plans: list[services.HandOff] = []
    done: list[int] = []
    for lead_id, lead in leads.items():
        request = by_lead[lead_id]
        if lead.stage != Stage.MQL or lead_id in held:
            done.append(request.pk)
            result.dropped += 1
            continue
        decision = context.decide(lead, force=request.force, now=now)
        if decision.why is None:
            done.append(request.pk)
            result.waiting += 1
            continue
        if decision.team is None:
            _retry(request, "No routing rule matches and there is no team: a manager must set up routing.", now)
            result.failed += 1
            continue
        plans.append(services.HandOff(lead=lead, rule=decision.rule, team=decision.team, why=decision.why))
    handed = services._hand_off(plans, by=None, now=now, review_end=ReviewEnd.AUTOMATIC) if plans else []
    done += [by_lead[plan.lead.pk].pk for plan in handed]
    result.handed_off += len(handed)
    for plan in plans:
        if plan.error:
            _retry(by_lead[plan.lead.pk], plan.error, now)
            result.failed += 1
    if done:
        HandoffRequest.objects.filter(pk__in=done).delete()
    if busy:
        HandoffRequest.objects.filter(pk__in=busy).update(next_attempt_at=now + BUSY_DELAY)
    return result


def _retry(request: HandoffRequest, error: str, now: datetime) -> None:
    delay = min(RETRY_BASE * (2**request.attempts), RETRY_MAX)
    HandoffRequest.objects.filter(pk=request.pk).update(
        attempts=request.attempts + 1, last_error=error[:300], next_attempt_at=now + delay
    )


@dataclass(frozen=True)
class Decision:
    rule: RoutingRule | None
    team: Any
    why: str | None  # what hands the lead off automatically; None: it waits for review
    fast_track: FastTrack


class _Context:
    """What deciding a run of leads needs, read once and only when needed: the routing rules, the
    default team (for leads no rule takes), the active scoring model (the fast track's floor, for
    hot leads) and the review policy."""

    def __init__(self, teams: list[Any] | None = None) -> None:
        self.rules = services.active_routing_rules()
        self._teams = teams

    @classmethod
    def load(cls, teams: list[Any] | None = None) -> _Context:
        return cls(teams)

    @cached_property
    def default_team(self) -> Any:
        if self._teams is not None:  # every team, already read: the first one is the default
            return min(self._teams, key=lambda team: team.pk, default=None)
        return services.default_team()

    @cached_property
    def model(self) -> ScoringModel | None:
        return ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()

    @cached_property
    def policy(self) -> ReviewPolicy | None:
        return review_policy()

    def decide(self, lead: Lead, *, force: bool, now: datetime) -> Decision:
        rule = services.routing_rule_for(lead, self.rules)
        team = rule.team if rule else self.default_team
        verdict = fast_track_verdict(
            model=self.model if lead.hot_signal_at else None, fit_score=lead.fit_score,
            explanation=lead.score_explanation, hot_signal_at=lead.hot_signal_at, nurture_until=lead.nurture_until,
            now=now,
        )  # fmt: skip
        if force:
            name = self.policy.name if self.policy else "review"
            why = f"review overdue under “{name}”"
        elif verdict.fast_tracked:
            why = "fast track: hot signal"
        elif rule is not None and rule.is_automatic and not verdict.held:
            why = f"routing rule “{rule.name}”"
        else:
            why = None
        return Decision(rule, team, why, verdict)


def lead_handoff_preview(lead: Lead, context: _Context | None = None, *, now: datetime | None = None) -> Decision:
    """How the lead would be handed off now: which rule takes it, and whether by itself."""
    return (context or _Context.load()).decide(lead, force=False, now=now or timezone.now())


def preview_context(*, teams: list[Any] | None = None) -> _Context:
    """For previews of many leads (a page of the queue); `teams`, if the caller has every team."""
    return _Context.load(teams)


# --- The review sweep -------------------------------------------------------------------------------


def review_sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Flag MQLs whose review is overdue, each exactly once even with several sweeps at once:
    a batch of due clocks is locked (rows other sweeps skip), marked `overdue_at`, and told to
    the marketers in one digest each; under a policy that hands off, their hand-off is requested."""
    now = now or timezone.now()
    done = {"overdue": 0, "handoffs_requested": 0}
    while True:
        with transaction.atomic():
            clocks = list(
                _locked(
                    ReviewClock.objects.filter(ended_at__isnull=True, overdue_at__isnull=True, due_at__lte=now)
                ).select_related("policy", "lead")[:batch]
            )
            if not clocks:
                return done
            ReviewClock.objects.filter(pk__in=[clock.pk for clock in clocks]).update(overdue_at=now)
            _tell_marketers(clocks, now)
            hand_off = [clock.lead_id for clock in clocks if clock.policy.overdue_action == ReviewAction.HAND_OFF]
            handoff_requests_add(lead_ids=hand_off, cause=HandoffCause.REVIEW_OVERDUE, force=True)
        done["overdue"] += len(clocks)
        done["handoffs_requested"] += len(hand_off)
        if len(clocks) < batch:
            return done


def marketers() -> list[Any]:
    """Active users who review the MQL queue (by role or by their own permission)."""
    permission = Permission.objects.filter(codename="review_mql_queue", content_type__app_label="handoff").first()
    if permission is None:
        return []
    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__permissions=permission) | Q(user_permissions=permission))
        .distinct()
    )


def _tell_marketers(clocks: list[ReviewClock], now: datetime) -> None:
    policy = clocks[0].policy
    names = ", ".join(str(clock.lead) for clock in clocks[:5]) + (
        f" and {len(clocks) - 5} more" if len(clocks) > 5 else ""
    )
    hours = f"{policy.review_minutes / 60:g} business hours" if policy else "the review target"
    count = "1 MQL has" if len(clocks) == 1 else f"{len(clocks)} MQLs have"
    auto = (
        " They are being handed off automatically, as the policy says."
        if policy and policy.overdue_action == ReviewAction.HAND_OFF
        else ""
    )
    services.notify_many(
        [
            Notification(
                recipient=user,
                kind=NotificationKind.REVIEW_OVERDUE,
                title=f"{count} waited longer than {hours} for review",
                body=f"Waiting in the MQL queue past the review target: {names}.{auto}",
                lead=clocks[0].lead if len(clocks) == 1 else None,
            )
            for user in marketers()
        ]
    )
