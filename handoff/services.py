"""Every write of the handoff: queue decisions, routing and assignment, SLA clocks and the sweep,
touches, accept/reject, discovery calls with BANT, conversion to SQL, notifications.

Pages, the API, admin actions and Celery tasks all call these, so the rules hold everywhere.
Errors are `ValidationError` keyed by field, `PermissionDenied` for who-may-do-what, and the
lifecycle's `TransitionRefused`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pycountry
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from crm.queue import enqueue
from handoff.business_time import Calendar, CalendarError
from handoff.models import (
    TIMEFRAME_MONTHS,
    Assignment,
    AssignmentEnd,
    AuthorityRole,
    BreachAction,
    BudgetStatus,
    BusinessCalendar,
    CallOutcome,
    DiscoveryCall,
    HandoffRequest,
    Notification,
    NotificationKind,
    Opportunity,
    OpportunityStatus,
    QualificationPolicy,
    QueueAction,
    QueueReview,
    ReasonUse,
    Rejection,
    RejectionReason,
    RejectionSide,
    ReviewClock,
    ReviewEnd,
    RoutingRule,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    Team,
    TeamMembership,
    Timeframe,
)
from leads import lifecycle
from leads import services as lead_services
from leads.lifecycle import SALES_QUALIFIED, Actor, Stage, TransitionRefused, TransitionRequest
from leads.models import Activity, Lead, StageTransition

User = get_user_model()
FALLBACK_POLICY_NAME = "Standard"
HOT_POLICY_NAME = "Hot lead"


# --- Permissions on one lead -----------------------------------------------------------------


def can_act_on(user: Any, lead: Lead, assignment: Assignment | None = None) -> bool:
    """Managers act on any lead; an SDR only on leads currently assigned to them."""
    if user.has_perm("handoff.act_on_any_lead"):
        return True
    if not user.has_perm("handoff.work_leads"):
        return False
    if assignment is None:
        assignment = Assignment.objects.filter(lead=lead, is_open=True).first()
    if assignment is not None:
        return assignment.rep_id == user.pk
    # After conversion the assignment is closed; the rep who owns the lead keeps working it.
    return lead.stage in SALES_QUALIFIED and lead.owner_id == user.pk


def _require(user: Any, permission: str, message: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(message)


def _open_assignment(lead: Lead) -> Assignment | None:
    return Assignment.objects.select_for_update().filter(lead=lead, is_open=True).first()


def _lock_lead(lead_id: int) -> Lead:
    try:
        return Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist as exc:
        raise ValidationError({"lead": "This lead no longer exists."}) from exc


def _reason(code: str, use: str) -> RejectionReason:
    reason = RejectionReason.objects.filter(code=code, is_active=True).first()
    if reason is None:
        raise ValidationError({"reason": "Choose a reason from the list."})
    if reason.use not in (use, ReasonUse.BOTH):
        raise ValidationError({"reason": f"“{reason.label}” is not a reason to {ReasonUse(use).label.lower()}."})
    return reason


def _reason_text(reason: RejectionReason, note: str, nurture_until: datetime | None = None) -> str:
    text = f"{reason.label}: {note.strip()}" if note.strip() else reason.label
    if nurture_until is not None:
        text += f" (nurture until {timezone.localtime(nurture_until):%d %b %Y})"
    return text


# --- Notifications ---------------------------------------------------------------------------


def notify(*, recipient: Any, kind: str, title: str, body: str = "", lead: Lead | None = None) -> Notification:
    """An in-app notification, emailed after commit."""
    return notify_many([Notification(recipient=recipient, kind=kind, title=title, body=body, lead=lead)])[0]


def notify_many(notifications: list[Notification]) -> list[Notification]:
    """Unsaved notifications saved in one INSERT, each emailed after commit (one task each, as `notify`)."""
    from handoff import tasks

    if not notifications:
        return []
    created = Notification.objects.bulk_create(notifications)
    ids = [notification.pk for notification in created]

    def email() -> None:
        # One task per EMAIL_BATCH notifications: a burst of automatic hand-offs (thousands of
        # leads at once) sends a few dozen messages, not one per notification.
        for start in range(0, len(ids), EMAIL_BATCH):
            if not enqueue(tasks.email_notifications, notification_ids=ids[start : start + EMAIL_BATCH]):
                return  # the broker is down: the pending-mail sweep sends them later

    transaction.on_commit(email)
    return created


EMAIL_BATCH = 200


def notification_email(*, notification_id: int) -> bool:
    """Email one notification once (idempotent). Returns whether a mail was sent."""
    from django.conf import settings
    from django.core.mail import send_mail

    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().select_related("recipient").filter(pk=notification_id).first()
        )
        if notification is None or notification.emailed_at or not notification.recipient.email:
            return False
        link = f"\n\n{settings.BATON_BASE_URL}/leads/{notification.lead_id}/" if notification.lead_id else ""
        send_mail(
            subject=f"[Baton] {notification.title}",
            message=f"{notification.body}{link}",
            from_email=None,
            recipient_list=[notification.recipient.email],
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
        return True


def notifications_email(*, notification_ids: Iterable[int]) -> int:
    """E-mail each of these notifications once (idempotent); returns how many were sent."""
    return sum(notification_email(notification_id=pk) for pk in notification_ids)


def notifications_email_pending(*, older_than: timedelta = timedelta(minutes=2), limit: int = 500) -> int:
    """E-mail the notifications whose e-mail task never ran (the broker was down when they were
    made): every few minutes, oldest first, each once (`notification_email` is idempotent)."""
    pending = Notification.objects.filter(
        emailed_at__isnull=True, created_at__lt=timezone.now() - older_than, recipient__email__gt=""
    ).order_by("created_at", "id")
    return notifications_email(notification_ids=list(pending.values_list("pk", flat=True)[:limit]))


def notifications_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def _managers_of(team: Team | None) -> list[Any]:
    if team is not None and team.manager_id:
        return [team.manager]
    return list(User.objects.filter(is_active=True, groups__name="Manager").distinct())


# --- Routing and assignment -------------------------------------------------------------------


def lead_is_hot(lead: Lead) -> bool:
    return lead.hot_signal_at is not None


def active_routing_rules() -> list[RoutingRule]:
    """The active rules in order, with their teams and policies: read once per hand-off run."""
    return list(RoutingRule.objects.filter(is_active=True).select_related("team", "sla_policy"))


def routing_rule_for(lead: Lead, rules: Iterable[RoutingRule] | None = None) -> RoutingRule | None:
    """The first active rule, in order, whose every condition holds for the lead (`rules`, from
    `active_routing_rules`, saves reading them again for each of many leads)."""
    segment = lead.company.segment if lead.company_id else ""
    country = str(lead.company.country) if lead.company_id else ""
    for rule in active_routing_rules() if rules is None else rules:
        if rule.segments and segment not in rule.segments:
            continue
        if rule.countries and country not in rule.countries:
            continue
        if rule.channels and lead.source_channel not in rule.channels:
            continue
        if rule.hot_only and not lead_is_hot(lead):
            continue
        return rule
    return None


class Rotation:
    """A team's round robin for a run of assignments: the eligible member assigned least recently
    takes the next lead, skipping reps who are away or at capacity.

    Built under the team's row lock (`lock=True`), so concurrent hand-offs to one team queue here
    and never take the same turn twice; one run may give many leads (a burst of MQLs), taking the
    turns in memory and stamping each member's last turn once at the end (`stamp`), so the order
    survives to the next run. Without the lock it only previews who is next."""

    def __init__(self, team: Team, *, now: datetime, lock: bool = True) -> None:
        if lock:
            Team.objects.select_for_update().get(pk=team.pk)
        self.team, self.now = team, now
        self.open_counts: dict[int, int] = dict(
            Assignment.objects.filter(is_open=True, team=team)
            .values_list("rep")
            .annotate(n=Count("id"))
            .values_list("rep", "n")
        )
        self.members = list(
            TeamMembership.objects.filter(team=team, is_active=True, rep__is_active=True)
            .select_related("rep")
            .order_by(F("last_assigned_at").asc(nulls_first=True), "id")
        )
        self.turns: list[TeamMembership] = []

    def next(self, *, exclude: Iterable[int] = ()) -> TeamMembership:
        excluded = set(exclude)
        for member in self.members:
            if member.rep_id in excluded or member.is_away(self.now):
                continue
            if self.open_counts.get(member.rep_id, 0) >= member.capacity:
                continue
            self._took(member)
            return member
        raise ValidationError(
            {"team": f"Nobody in {self.team.name} can take a lead now: every rep is away or at capacity."}
        )

    def take(self, rep: Any) -> None:
        """An explicit rep (a manager's reassignment) takes a turn too, if they are a member."""
        member = next((m for m in self.members if m.rep_id == rep.pk), None)
        if member is not None:
            self._took(member)
        else:
            self.open_counts[rep.pk] = self.open_counts.get(rep.pk, 0) + 1

    def _took(self, member: TeamMembership) -> None:
        self.open_counts[member.rep_id] = self.open_counts.get(member.rep_id, 0) + 1
        self.members.remove(member)
        self.members.append(member)  # to the back of the line
        self.turns.append(member)

    def stamp(self) -> None:
        """Record each member's last turn, in turn order (stamped after the lock was granted)."""
        base = timezone.now()
        last: dict[int, datetime] = {}
        for index, member in enumerate(self.turns):
            last[member.pk] = base + timedelta(microseconds=index)
        for pk, at in last.items():
            TeamMembership.objects.filter(pk=pk).update(last_assigned_at=at)
        self.turns = []


def _next_rep(team: Team, *, now: datetime, exclude: Iterable[int] = ()) -> TeamMembership:
    """Who would take the team's next lead (a preview: no lock, no turn taken)."""
    return Rotation(team, now=now, lock=False).next(exclude=exclude)


class _Policies:
    """Which SLA policy a new assignment's clock follows, and its calendar: looked up once per run."""

    def __init__(self) -> None:
        self._named: dict[str, SlaPolicy | None] = {}
        self._calendars: dict[int, Calendar] = {}

    def named(self, name: str) -> SlaPolicy | None:
        if name not in self._named:
            self._named[name] = SlaPolicy.objects.filter(name=name, is_active=True).select_related("calendar").first()
        return self._named[name]

    def for_lead(self, lead: Lead, rule: RoutingRule | None, team: Team) -> SlaPolicy:
        if rule is not None and rule.sla_policy_id:
            return rule.sla_policy
        if lead_is_hot(lead):
            hot = self.named(HOT_POLICY_NAME)
            if hot is not None:
                return hot
        if team.default_sla_policy_id:
            return team.default_sla_policy
        policy = self.named(FALLBACK_POLICY_NAME)
        if policy is None:
            if "" not in self._named:
                self._named[""] = SlaPolicy.objects.filter(is_active=True).order_by("-first_touch_minutes").first()
            policy = self._named[""]
        if policy is None:
            raise ValidationError({"sla_policy": "Create an SLA policy before handing leads off."})
        return policy

    def clock(self, policy: SlaPolicy, at: datetime) -> tuple[datetime, datetime]:
        """The warning and due times of a clock started at `at`, in the policy's business time."""
        try:
            if policy.pk not in self._calendars:
                self._calendars[policy.pk] = Calendar.from_model(policy.calendar)
            calendar = self._calendars[policy.pk]
            due = calendar.add_minutes(at, policy.first_touch_minutes)
            warn = calendar.add_minutes(at, policy.first_touch_minutes * policy.warn_at_percent / 100)
        except CalendarError as exc:
            raise ValidationError({"sla_policy": f"{policy.calendar.name}: {exc}"}) from exc
        return warn, due


def _policy_for(lead: Lead, rule: RoutingRule | None, team: Team) -> SlaPolicy:
    return _Policies().for_lead(lead, rule, team)


def clock_start(*, assignment: Assignment, policy: SlaPolicy, at: datetime) -> SlaClock:
    """Start the first-touch clock of an assignment, its warning and due times in business time."""
    warn, due = _Policies().clock(policy, at)
    return SlaClock.objects.create(assignment=assignment, policy=policy, started_at=at, warn_at=warn, due_at=due)


@dataclass
class HandOff:
    """One lead to hand off in a run: routed (rule, team), then given a rep and a clock, or an
    error saying why not (`error_field` names what is missing)."""

    lead: Lead
    rule: RoutingRule | None
    team: Team
    why: str = ""  # what an automatic hand-off records as the deciding rule
    rep: Any = None
    exclude: tuple[int, ...] = ()
    assignment: Assignment | None = None
    error: str = ""
    error_field: str = "team"


def _hand_off(plans: list[HandOff], *, by: Any, now: datetime, review_end: str) -> list[HandOff]:
    """Hand off every planned lead (their rows locked by the caller, each an MQL nobody holds):
    assigned with its clock (`_assign_many`), then the queue's review record, the end of its stay
    in the queue and the reps' notifications — in a few statements for the whole run, whether it
    is one marketer's click or a burst of thousands of automatic hand-offs. A plan that cannot be
    assigned gets its `error` instead, and the others go ahead. Returns the plans handed off."""
    done = _assign_many(plans, by=by, now=now)
    if not done:
        return []
    QueueReview.objects.bulk_create(
        [
            QueueReview(lead=plan.lead, action=QueueAction.HANDED_OFF, reviewer=by, rule="" if by else plan.why,
                        mql_at=plan.lead.stage_changed_at, reviewed_at=now)
            for plan in done
        ]
    )  # fmt: skip
    review_clocks_end(lead_ids=[plan.lead.pk for plan in done], end=review_end, at=now)
    notify_many([_assigned_notification(plan) for plan in done])
    return done


def _assign_many(plans: list[HandOff], *, by: Any, now: datetime) -> list[HandOff]:
    """Give each plan a rep (its own, or its team's rotation: teams locked in id order), an open
    assignment with its SLA clock, and make the rep the lead's owner. Returns the plans assigned."""
    policies = _Policies()
    teams = {plan.team.pk: plan.team for plan in plans}
    rotations = {pk: Rotation(teams[pk], now=now) for pk in sorted(teams)}
    timed: list[tuple[HandOff, SlaPolicy, datetime, datetime]] = []
    for plan in plans:
        try:
            policy = policies.for_lead(plan.lead, plan.rule, plan.team)
            warn, due = policies.clock(policy, now)
            if plan.rep is None:
                plan.rep = rotations[plan.team.pk].next(exclude=plan.exclude).rep
            else:
                rotations[plan.team.pk].take(plan.rep)
        except ValidationError as exc:
            plan.error_field, plan.error = next(iter(exc.message_dict.items()))[0], _message(exc)
            continue
        timed.append((plan, policy, warn, due))
    for rotation in rotations.values():
        rotation.stamp()
    if not timed:
        return []
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(lead=plan.lead, rep=plan.rep, team=plan.team, routing_rule=plan.rule, assigned_by=by,
                       assigned_at=now)
            for plan, _, _, _ in timed
        ]
    )  # fmt: skip
    clocks = SlaClock.objects.bulk_create(
        [
            SlaClock(assignment=assignment, policy=policy, started_at=now, warn_at=warn, due_at=due)
            for assignment, (_, policy, warn, due) in zip(assignments, timed, strict=True)
        ]
    )
    by_rep: dict[int, list[int]] = {}
    for assignment, clock, (plan, _, _, _) in zip(assignments, clocks, timed, strict=True):
        assignment.clock = clock
        plan.assignment = assignment
        plan.lead.owner = plan.rep
        by_rep.setdefault(plan.rep.pk, []).append(plan.lead.pk)
    for rep_id, lead_ids in by_rep.items():
        Lead.objects.filter(pk__in=lead_ids).update(owner_id=rep_id, updated_at=now)
    return [plan for plan, _, _, _ in timed]


def _assigned_notification(plan: HandOff) -> Notification:
    lead, assignment = plan.lead, plan.assignment
    how = "was handed to you" if assignment.assigned_by_id else f"was handed to you automatically ({plan.why})"
    hot = " Hot lead: call now." if lead_is_hot(lead) else ""
    return Notification(
        recipient=plan.rep, kind=NotificationKind.ASSIGNED, title=f"New lead: {lead}",
        body=f"{lead} ({lead.company or lead.email}) {how}. "
             f"First touch due {timezone.localtime(assignment.clock.due_at):%a %d %b %H:%M}.{hot}",
        lead=lead,
    )  # fmt: skip


def _mql_since(lead: Lead) -> datetime:
    entered = (
        StageTransition.objects.filter(lead=lead, to_stage=Stage.MQL)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )
    return entered or lead.stage_changed_at


def default_team() -> Team | None:
    """Where a lead no routing rule matches goes: the first team."""
    return Team.objects.order_by("id").first()


@transaction.atomic
def lead_hand_off(*, lead_id: int, user: Any, team_id: int | None = None) -> Assignment:
    """A marketer hands an MQL to sales: routing picks the team (or `team_id` overrides it),
    round robin picks the rep, the SLA clock starts, the rep is notified. The same run as an
    automatic hand-off (`_hand_off`), so both give the same assignment, clock and notice."""
    _require(user, "handoff.review_mql_queue", "Only marketers and managers hand leads off.")
    lead = _lock_lead(lead_id)
    if lead.stage != Stage.MQL:
        raise ValidationError({"lead": f"Only MQLs are handed off; this lead is at {Stage(lead.stage).label}."})
    if Assignment.objects.filter(lead=lead, is_open=True).exists():
        raise ValidationError({"lead": "This lead is already handed off."})
    lead = Lead.objects.select_related("company").get(pk=lead.pk)
    now = timezone.now()
    if team_id is not None:
        rule, team = None, Team.objects.filter(pk=team_id).first()
        if team is None:
            raise ValidationError({"team": "No such team."})
    else:
        rule = routing_rule_for(lead)
        team = rule.team if rule else default_team()
        if team is None:
            raise ValidationError(
                {"team": "No routing rule matches and there is no team: a manager must set up routing."}
            )
    plan = HandOff(lead=lead, rule=rule, team=team)
    if not _hand_off([plan], by=user, now=now, review_end=ReviewEnd.HANDED_OFF):
        raise ValidationError({plan.error_field: plan.error})
    HandoffRequest.objects.filter(lead=lead).delete()
    return plan.assignment


@transaction.atomic
def lead_reassign(
    *, lead_id: int, user: Any | None, rep_id: int | None = None, reason: str = "", at: datetime | None = None
) -> Assignment:
    """Move a lead to another rep (or the next one in its team's rotation). The old clock stops
    and the new assignment gets a new clock. `user` None means the SLA sweep does it."""
    if user is not None:
        _require(user, "handoff.reassign_lead", "Only managers reassign leads.")
    lead = _lock_lead(lead_id)
    current = _open_assignment(lead)
    if current is None:
        raise ValidationError({"lead": "This lead is not assigned to anyone; hand it off instead."})
    team = current.team or default_team()
    now = at or timezone.now()
    rep = None
    if rep_id is not None:
        rep = User.objects.filter(pk=rep_id, is_active=True).first()
        if rep is None or not rep.has_perm("handoff.work_leads"):
            raise ValidationError({"rep": "Choose an active rep (a user who works leads)."})
        if rep.pk == current.rep_id:
            raise ValidationError({"rep": "The lead is already assigned to this rep."})
    _end_assignment(current, AssignmentEnd.REASSIGNED, now)
    lead = Lead.objects.select_related("company").get(pk=lead.pk)
    plan = HandOff(lead=lead, rule=current.routing_rule, team=team, rep=rep, exclude=(current.rep_id,))
    if not _assign_many([plan], by=user, now=now):
        raise ValidationError({plan.error_field: plan.error})
    assignment = plan.assignment
    why = f" ({reason})" if reason else ""
    notify(recipient=assignment.rep, kind=NotificationKind.REASSIGNED, title=f"Lead reassigned to you: {lead}",
           body=f"{lead} was reassigned to you from {current.rep}{why}.", lead=lead)  # fmt: skip
    notify(recipient=current.rep, kind=NotificationKind.REASSIGNED, title=f"Lead reassigned: {lead}",
           body=f"{lead} was reassigned to {assignment.rep}{why}.", lead=lead)  # fmt: skip
    return assignment


# Sales holds a lead from its acceptance on, and while it is assigned to a rep.
SALES_STAGES = frozenset({Stage.SAL, *SALES_QUALIFIED})
# A permission of each role: whoever holds none of them has no role in Baton and owns nothing.
ROLE_PERMISSIONS = ("leads.change_lead", "handoff.review_mql_queue", "handoff.work_leads")


def lead_owner_change(*, lead: Lead, owner: Any, actor: Actor) -> None:
    """Who may own a lead, and who may change its owner (asked by `leads.services.lead_update` and
    `lead_create`, registered in HandoffConfig.ready), the lead locked by the caller.

    A lead sales holds (assigned to a rep, or accepted and later) is owned by someone who works
    leads (an SDR, a manager), and only a manager gives it another owner: for an assigned lead
    that is a reassignment (`lead_reassign`: the old clock stops, the new rep gets a clock and a
    notice); after conversion the open opportunity moves with the lead. Any other lead is owned
    by someone with a role (a marketer, an SDR, a manager)."""
    assignment = _open_assignment(lead) if lead.pk else None
    held = assignment is not None or lead.stage in SALES_STAGES
    if owner is not None:
        name = owner.get_full_name() or owner.get_username()
        if held and not owner.has_perm("handoff.work_leads"):
            raise ValidationError(
                {"owner": f"{name} does not work leads: a lead sales holds is owned by a sales rep or a manager."}
            )
        if not any(owner.has_perm(permission) for permission in ROLE_PERMISSIONS):
            raise ValidationError(
                {"owner": f"{name} has no role in Baton: a lead is owned by a marketer, a sales rep or a manager."}
            )
    if not held:
        return
    user = actor.user
    if user is not None and not user.has_perm("handoff.reassign_lead"):
        holder = assignment.rep if assignment is not None else lead.owner
        with_whom = f" (it is with {holder})" if holder is not None else ""
        raise ValidationError({"owner": f"Only managers reassign a lead sales holds{with_whom}; ask a manager."})
    if owner is None:
        raise ValidationError(
            {"owner": "A lead sales holds keeps an owner: choose another rep, or reject the lead back to marketing."}
        )
    if assignment is not None:
        if owner.pk != assignment.rep_id:
            lead_reassign(lead_id=lead.pk, user=user, rep_id=owner.pk, reason=f"owner changed by {actor}")
    else:
        Opportunity.objects.filter(lead=lead, status=OpportunityStatus.OPEN).update(owner=owner)


def review_clocks_end(*, lead_ids: list[int], end: str, at: datetime) -> int:
    """End the leads' stays in the MQL queue (their open review clocks), saying how."""
    if not lead_ids:
        return 0
    return ReviewClock.objects.filter(lead_id__in=lead_ids, ended_at__isnull=True).update(ended_at=at, end=end)


def _end_assignment(assignment: Assignment, why: str, now: datetime) -> None:
    """End an open assignment, stopping its clock if it still runs (one already ended stays as it is)."""
    ended = Assignment.objects.filter(pk=assignment.pk, is_open=True).update(
        is_open=False, ended_at=now, end_reason=why
    )
    if not ended:
        return
    SlaClock.objects.filter(assignment=assignment, first_touch_at__isnull=True, stopped_at__isnull=True).update(
        stopped_at=now
    )


def sales_on_stage_moves(moves: list[tuple[int, str, str]], now: datetime) -> None:
    """Inside every stage change, whatever door made it (registered with
    `leads.services.in_transition`): a lead leaving the funnel (recycled, disqualified) ends its
    open assignment — its SLA clock stops — and loses its open opportunity; a lead becoming a
    customer wins it. The handoff services make these moves too, so the ends are the same whether
    the rep's reject button, the queue, the API's transition or the admin moved the lead."""
    out = [lead_id for lead_id, _, target in moves if target in (Stage.RECYCLED, Stage.DISQUALIFIED)]
    won = [lead_id for lead_id, _, target in moves if target == Stage.CUSTOMER]
    if out:
        for assignment in Assignment.objects.filter(lead_id__in=out, is_open=True):
            _end_assignment(assignment, AssignmentEnd.REJECTED, now)
        Opportunity.objects.filter(lead_id__in=out, status=OpportunityStatus.OPEN).update(
            status=OpportunityStatus.LOST, closed_at=now
        )
    if won:
        Opportunity.objects.filter(lead_id__in=won, status=OpportunityStatus.OPEN).update(
            status=OpportunityStatus.WON, closed_at=now
        )


# --- Queue decisions (marketing side) ---------------------------------------------------------


@transaction.atomic
def lead_send_to_nurture(
    *, lead_id: int, user: Any, reason_code: str, note: str = "", nurture_until: date | datetime | None = None
) -> Lead:
    """Back to nurture from the queue, with a cool-off: `nurture_until`, or the reason's default."""
    _require(user, "handoff.review_mql_queue", "Only marketers and managers review the MQL queue.")
    return _queue_exit(
        lead_id=lead_id, user=user, reason_code=reason_code, note=note, action=QueueAction.NURTURE,
        nurture_until=nurture_until,
    )  # fmt: skip


@transaction.atomic
def lead_disqualify_from_queue(*, lead_id: int, user: Any, reason_code: str, note: str = "") -> Lead:
    _require(user, "handoff.review_mql_queue", "Only marketers and managers review the MQL queue.")
    return _queue_exit(lead_id=lead_id, user=user, reason_code=reason_code, note=note, action=QueueAction.DISQUALIFIED)


def _queue_exit(
    *, lead_id: int, user: Any, reason_code: str, note: str, action: str, nurture_until: date | datetime | None = None
) -> Lead:
    use, target = (
        (ReasonUse.RECYCLE, Stage.RECYCLED)
        if action == QueueAction.NURTURE
        else (ReasonUse.DISQUALIFY, Stage.DISQUALIFIED)
    )
    reason = _reason(reason_code, use)
    now = timezone.now()
    until = _cool_off(reason, nurture_until, now) if target == Stage.RECYCLED else None
    lead = _lock_lead(lead_id)
    if lead.stage != Stage.MQL:
        raise ValidationError({"lead": f"Only MQLs are in the queue; this lead is at {Stage(lead.stage).label}."})
    handed = Assignment.objects.filter(lead=lead, is_open=True).select_related("rep").first()
    if handed is not None:
        raise ValidationError(
            {"lead": f"This lead is already handed off to {handed.rep}; the rep (or a manager) rejects it now."}
        )
    mql_at = _mql_since(lead)
    _record_rejection(lead, reason=reason, to=target, side=RejectionSide.MARKETING, user=user, note=note)
    review_clocks_end(
        lead_ids=[lead.pk], end=ReviewEnd.NURTURE if target == Stage.RECYCLED else ReviewEnd.DISQUALIFIED, at=now
    )
    lead = lead_services.lead_transition(
        lead_id=lead.pk, to=target, actor=Actor(user=user), reason=_reason_text(reason, note, until), at=now,
        nurture_until=until,
    )  # fmt: skip
    QueueReview.objects.create(lead=lead, action=action, reviewer=user, mql_at=mql_at, reason=reason, reviewed_at=now)
    return lead


def _cool_off(reason: RejectionReason, until: date | datetime | None, now: datetime) -> datetime:
    """When a lead sent back to nurture for `reason` may come back: the date chosen, or the
    reason's default number of days (the lifecycle's default when the reason has none)."""
    return lead_services.nurture_until_for(days=reason.nurture_days, until=until, now=now)


def _record_rejection(lead: Lead, *, reason: RejectionReason, to: str, side: str, user: Any, note: str) -> None:
    Rejection.objects.create(
        lead=lead, reason=reason, to_stage=to, from_stage=lead.stage, side=side, actor=user, note=note.strip(),
        fit_score=lead.fit_score, engagement_score=lead.engagement_score,
    )  # fmt: skip


@dataclass
class BulkResult:
    lead_id: int
    ok: bool
    message: str = ""


def bulk_apply(lead_ids: Iterable[int], action: Callable[[int], Any]) -> list[BulkResult]:
    """Apply a single-lead service to many leads, each in its own transaction, reporting each."""
    results = []
    for lead_id in dict.fromkeys(lead_ids):
        try:
            action(lead_id)
            results.append(BulkResult(lead_id, True))
        except (ValidationError, TransitionRefused, PermissionDenied) as exc:
            results.append(BulkResult(lead_id, False, _message(exc)))
    return results


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return (
            " ".join(" ".join(m) for m in exc.message_dict.values())
            if hasattr(exc, "error_dict")
            else " ".join(exc.messages)
        )
    return getattr(exc, "message", None) or str(exc)


# --- The SDR's work: touches, accept, reject --------------------------------------------------

TOUCH_TYPES = {"call": "sales_call", "email": "sales_email", "meeting": "sales_meeting"}


def _stop_clock_on_touch(assignment: Assignment | None, at: datetime) -> None:
    """Stop a running clock: `first_touch_at` is when the touch happened (it may be back-dated),
    `touch_recorded_at` when Baton learned of it, which decides met or late (SlaClock.met_in_time).
    A recorded breach (`breached_at`) is left as it is."""
    if assignment is not None:
        SlaClock.objects.filter(assignment=assignment, first_touch_at__isnull=True, stopped_at__isnull=True).update(
            first_touch_at=at, touch_recorded_at=timezone.now()
        )


def _moment(at: datetime) -> str:
    """A time in words for a message, e.g. "Tue 3 Mar 10:00" (the year too when it is not this one)."""
    local = timezone.localtime(at)
    year = f" {local.year}" if local.year != timezone.localtime().year else ""
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"


def _earliest_fact(lead: Lead, assignment: Assignment | None, user: Any) -> tuple[datetime, str]:
    """How far back a touch or a call on this lead may be dated, and that moment in words: the
    start of the open assignment or, with none (a manager on an unassigned MQL, the owner after
    conversion), the lead's latest entry into MQL."""
    if assignment is not None:
        rep = assignment.rep
        whom = "you" if rep.pk == getattr(user, "pk", None) else rep.get_full_name() or rep.get_username()
        return assignment.assigned_at, f"the lead was assigned to {whom}"
    return _mql_since(lead), "the lead last became an MQL"


@transaction.atomic
def touch_log(*, lead_id: int, user: Any, kind: str, note: str = "", at: datetime | None = None) -> Activity:
    """A sales touch (call, email, meeting). The first touch of an assignment stops its clock."""
    if kind not in TOUCH_TYPES:
        raise ValidationError({"kind": "Choose call, email or meeting."})
    lead = _lock_lead(lead_id)
    assignment = _open_assignment(lead)
    if not can_act_on(user, lead, assignment):
        raise PermissionDenied("Only the rep this lead is assigned to (or a manager) can log touches on it.")
    now = timezone.now()
    at = at or now
    if timezone.is_naive(at):
        raise ValidationError({"at": "Give the time of the touch with its time zone."})
    if at > now:
        raise ValidationError({"at": f"A touch cannot be in the future (it is now {_moment(now)})."})
    earliest, since = _earliest_fact(lead, assignment, user)
    if at < earliest:
        raise ValidationError({"at": f"A touch cannot come before {since} ({_moment(earliest)})."})
    activity = Activity.objects.create(
        lead=lead, type_id=TOUCH_TYPES[kind], occurred_at=at, source_system="baton", user=user,
        properties={"note": note.strip(), "by": user.get_username()},
    )  # fmt: skip
    _stop_clock_on_touch(assignment, at)
    return activity


@transaction.atomic
def lead_accept(*, lead_id: int, user: Any) -> Lead:
    """The assigned SDR accepts the lead (mql → sal); accepting is a first touch."""
    lead = _lock_lead(lead_id)
    assignment = _open_assignment(lead)
    if not can_act_on(user, lead, assignment):
        raise PermissionDenied("Only the rep this lead is assigned to (or a manager) can accept it.")
    if assignment is None:
        raise ValidationError({"lead": "Hand the lead off before accepting it."})
    lead = lead_services.lead_transition(
        lead_id=lead.pk, to=Stage.SAL, actor=Actor(user=user), reason="Accepted by sales"
    )
    _stop_clock_on_touch(assignment, timezone.now())
    return lead


@transaction.atomic
def lead_reject(
    *, lead_id: int, user: Any, to: str, reason_code: str, note: str = "",
    nurture_until: date | datetime | None = None,
) -> Lead:  # fmt: skip
    """Sales rejects: back to marketing (recycled) or out (disqualified). The reason is required:
    it is the feedback marketing tunes scoring with. Works from any sales stage. Back to nurture
    has a cool-off: `nurture_until`, or the reason's default."""
    if to not in (Stage.RECYCLED, Stage.DISQUALIFIED):
        raise ValidationError({"to": "Reject to recycled (back to nurture) or disqualified."})
    reason = _reason(reason_code, ReasonUse.RECYCLE if to == Stage.RECYCLED else ReasonUse.DISQUALIFY)
    until = _cool_off(reason, nurture_until, timezone.now()) if to == Stage.RECYCLED else None
    lead = _lock_lead(lead_id)
    assignment = _open_assignment(lead)
    if not can_act_on(user, lead, assignment):
        raise PermissionDenied("Only the rep this lead is assigned to (or a manager) can reject it.")
    _record_rejection(lead, reason=reason, to=to, side=RejectionSide.SALES, user=user, note=note)
    lead = lead_services.lead_transition(
        lead_id=lead.pk, to=to, actor=Actor(user=user), reason=_reason_text(reason, note, until), nurture_until=until
    )
    if assignment is not None:
        _end_assignment(assignment, AssignmentEnd.REJECTED, timezone.now())
    return lead


# --- Discovery calls, qualification, conversion -----------------------------------------------

BANT_FIELDS: dict[str, str] = {
    "budget_status": "Budget: say whether there is a budget",
    "authority_role": "Authority: say what role the contact plays in the decision",
    "decision_maker": "Authority: say who makes the decision",
    "need_pain": "Need: describe the problem in the prospect's words",
    "need_use_case": "Need: describe what they would use the product for",
    "timeframe": "Timing: choose the timeframe",
    "expected_decision_date": "Timing: give the expected decision date",
}
CALL_FIELDS = (
    *BANT_FIELDS, "budget_amount", "budget_currency", "notes", "outcome", "held_at",
)  # fmt: skip


def qualification_policy() -> QualificationPolicy:
    policy = QualificationPolicy.objects.filter(is_active=True).first()
    return policy or QualificationPolicy(
        name="BANT (default)",
        accepted_budget_statuses=[BudgetStatus.APPROVED, BudgetStatus.PLANNED],
        accepted_authority_roles=[r for r in AuthorityRole.values if r not in ("end_user", "gatekeeper")],
        max_timeframe_months=12,
    )


def qualification_failures(
    data: dict[str, Any], policy: QualificationPolicy, today: date, *, held_on: date | None = None
) -> list[str]:
    """The policy's criteria the call's answers miss, in plain words (empty: qualified). The timing
    window is counted from the day the call was held (`held_on`, default `today`); a decision date
    that has already passed (before `today`) never qualifies."""
    held_on = held_on or today
    failures = []
    budget = data.get("budget_status")
    if policy.accepted_budget_statuses and budget not in policy.accepted_budget_statuses:
        accepted = " or ".join(BudgetStatus(b).label.lower() for b in policy.accepted_budget_statuses)
        failures.append(f"Budget: “{BudgetStatus(budget).label}” does not qualify; the policy needs {accepted}.")
    amount = data.get("budget_amount")
    if policy.min_budget_amount is not None and (amount is None or amount < policy.min_budget_amount):
        failures.append(f"Budget: the amount must be at least {policy.min_budget_amount:,.0f}.")
    role = data.get("authority_role")
    if policy.accepted_authority_roles and role not in policy.accepted_authority_roles:
        accepted = ", ".join(AuthorityRole(r).label.lower() for r in policy.accepted_authority_roles)
        role_label = AuthorityRole(role).label.lower()
        article = "an" if role_label[0] in "aeiou" else "a"
        failures.append(f"Authority: {article} {role_label} does not qualify; the policy needs one of: {accepted}.")
    if policy.max_timeframe_months is not None:
        months = TIMEFRAME_MONTHS.get(data.get("timeframe", ""))
        if months is None or months > policy.max_timeframe_months:
            failures.append(
                f"Timing: “{Timeframe(data['timeframe']).label}” is too far out; the policy needs a decision "
                f"within {policy.max_timeframe_months} months."
            )
        decision = data.get("expected_decision_date")
        if decision is not None and (decision - held_on).days > policy.max_timeframe_months * 31:
            failures.append(
                f"Timing: the expected decision date is more than {policy.max_timeframe_months} months away "
                "from the call."
            )
    decision = data.get("expected_decision_date")
    if decision is not None and decision < today:
        failures.append(
            f"Timing: the expected decision date ({decision.day} {decision:%b %Y}) has passed; a qualified "
            "lead needs a decision still to come."
        )
    return failures


# ISO 4217 codes in use (pycountry follows the ISO list: withdrawn codes leave it), less the two
# that are not money: XTS (testing) and XXX (no currency).
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies) - {"XTS", "XXX"}


# The written answers of a call, and whether each is multi-line (its paragraphs are kept).
CALL_TEXT_FIELDS: dict[str, bool] = {"decision_maker": False, "need_pain": True, "need_use_case": True, "notes": True}
# Invisible characters that are not format (Cf) or control (Cc) ones: Unicode's default-ignorable
# code points of other categories (the combining grapheme joiner, Hangul fillers, Khmer inherent
# vowels, Mongolian free variation selectors, variation selectors).
_IGNORABLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10),
     *range(0xE0100, 0xE01F0)}
)  # fmt: skip
# Format characters that are seen: prepended concatenation marks (Arabic number signs and the like).
_VISIBLE_FORMAT = frozenset({*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD})
_JOINERS = "\u200c\u200d"  # zero-width non-joiner and joiner: spelling between two letters, padding elsewhere
_LOOSE_JOINERS = re.compile(rf"(?<!\S)[{_JOINERS}]+|[{_JOINERS}]+(?!\S)")


def _invisible(char: str) -> bool:
    if char.isspace() or char in _JOINERS:
        return False
    code = ord(char)
    if code in _IGNORABLE:
        return True
    return unicodedata.category(char) in ("Cf", "Cc", "Cs") and code not in _VISIBLE_FORMAT


def bant_text(value: str, *, multiline: bool = False) -> str:
    """A written answer as it counts and is stored: invisible characters taken out (format and
    control characters — zero-width spaces, the BOM, bidirectional marks, soft hyphens, BEL — and
    the other default-ignorable ones; a zero-width joiner or non-joiner only where it does not sit
    between two characters, where it is spelling), whitespace collapsed to single spaces, and the
    ends trimmed. A multi-line answer keeps its line breaks, with at most one empty line in a row.
    An answer made only of invisible characters and spaces becomes "": it is missing. The same
    words count in the form, the API and the service (which has the last word), and the database
    refuses a qualified call whose answer has nothing visible (migration 0011)."""
    text = "".join(char for char in value if not _invisible(char))
    text = _LOOSE_JOINERS.sub("", text)
    if not multiline:
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _clean_call(data: dict[str, Any], *, now: datetime, earliest: datetime, since: str) -> dict[str, Any]:
    """Every field of a call checked at once, before anything is written: the BANT answers, the
    choices, the currency, and the dates — held between `earliest` (see _earliest_fact, `since`
    says what it is) and `now`, and a decision expected on or after the call."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - set(CALL_FIELDS))
    for name in unknown:
        errors[name] = ["Not a discovery-call field."]
    cleaned = {name: data.get(name) for name in CALL_FIELDS}
    for name, multiline in CALL_TEXT_FIELDS.items():
        if isinstance(cleaned[name], str):
            cleaned[name] = bant_text(cleaned[name], multiline=multiline)
    for name in BANT_FIELDS:
        value = cleaned[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[name] = [f"{BANT_FIELDS[name]}."]
        elif isinstance(value, str):
            cleaned[name] = value.strip()
    choices = {
        "budget_status": BudgetStatus,
        "authority_role": AuthorityRole,
        "timeframe": Timeframe,
        "outcome": CallOutcome,
    }
    for name, enum in choices.items():
        if cleaned.get(name) and cleaned[name] not in enum.values:
            errors[name] = [f"“{cleaned[name]}” is not one of: {', '.join(enum.values)}."]
    if not cleaned.get("outcome"):
        errors["outcome"] = ["Choose the outcome of the call."]
    if cleaned.get("budget_amount") is not None:
        if cleaned["budget_amount"] < 0:
            errors["budget_amount"] = ["The amount cannot be negative."]
        currency = str(cleaned.get("budget_currency") or "").strip().upper()
        if not currency:
            errors["budget_currency"] = ["Give the budget's currency as a three-letter code, e.g. USD or EUR."]
        elif currency not in CURRENCY_CODES:
            errors["budget_currency"] = [
                f"“{currency[:10]}” is not an ISO 4217 currency: give the budget's currency as a three-letter "
                "code, e.g. USD or EUR."
            ]
        cleaned["budget_currency"] = currency
    else:
        cleaned["budget_currency"] = ""
    held_at = cleaned.get("held_at") or now
    if not isinstance(held_at, datetime) or timezone.is_naive(held_at):
        errors["held_at"] = ["Give the date and time of the call, with its time zone."]
    elif held_at > now:
        errors["held_at"] = [f"The call cannot be held in the future (it is now {_moment(now)})."]
    elif held_at < earliest:
        errors["held_at"] = [f"The call cannot be held before {since} ({_moment(earliest)})."]
    cleaned["held_at"] = held_at
    decision = cleaned.get("expected_decision_date")
    if isinstance(decision, str) and "expected_decision_date" not in errors:
        try:
            decision = cleaned["expected_decision_date"] = date.fromisoformat(decision)
        except ValueError:
            errors["expected_decision_date"] = ["Give the expected decision date as a date, e.g. 2026-06-30."]
    if isinstance(decision, datetime):
        decision = cleaned["expected_decision_date"] = timezone.localdate(decision)
    if isinstance(decision, date) and isinstance(held_at, datetime) and "held_at" not in errors:
        held_on = timezone.localdate(held_at)
        if decision < held_on:
            errors["expected_decision_date"] = [
                f"The expected decision date cannot be before the call (held {held_on:%a} {held_on.day} "
                f"{held_on:%b %Y})."
            ]
    if errors:
        raise ValidationError(errors)
    cleaned["notes"] = (cleaned.get("notes") or "").strip()
    return cleaned


@transaction.atomic
def call_log(*, lead_id: int, user: Any, data: dict[str, Any], convert: bool = True) -> DiscoveryCall:
    """Log a discovery call. Every BANT field is required; a `qualified` outcome must satisfy the
    qualification policy, which says in plain words which criterion failed when it refuses.
    A qualified call converts the lead to SQL (and opens the opportunity) unless `convert=False`.
    Recorded facts are not rewritten by a date: the call is held since the assignment began (see
    _earliest_fact) and not in the future, its decision expected on or after it. Every check is
    made before the first write."""
    lead = _lock_lead(lead_id)
    assignment = _open_assignment(lead)
    if not can_act_on(user, lead, assignment):
        raise PermissionDenied("Only the rep this lead is assigned to (or a manager) can log its discovery call.")
    if lead.stage not in (Stage.MQL, Stage.SAL):
        raise ValidationError(
            {"lead": f"Discovery calls qualify MQLs and SALs; this lead is at {Stage(lead.stage).label}."}
        )
    now = timezone.now()
    earliest, since = _earliest_fact(lead, assignment, user)
    cleaned = _clean_call(data, now=now, earliest=earliest, since=since)
    held_at = cleaned.pop("held_at")
    failures = qualification_failures(
        cleaned, qualification_policy(), timezone.localdate(now), held_on=timezone.localdate(held_at)
    )
    if cleaned["outcome"] == CallOutcome.QUALIFIED and failures:
        raise ValidationError({"outcome": ["Not qualified under the qualification policy:", *failures]})
    call = DiscoveryCall.objects.create(lead=lead, sdr=user, held_at=held_at, policy_verdict=failures, **cleaned)
    Activity.objects.create(
        lead=lead, type_id="sales_call", occurred_at=held_at, source_system="baton", user=user,
        properties={"note": "Discovery call", "call_id": call.pk, "outcome": call.outcome, "by": user.get_username()},
    )  # fmt: skip
    _stop_clock_on_touch(assignment, held_at)
    if call.outcome == CallOutcome.QUALIFIED and convert:
        lead_convert_to_sql(lead_id=lead.pk, call_id=call.pk, user=user)
    return call


@transaction.atomic
def lead_convert_to_sql(*, lead_id: int, call_id: int, user: Any) -> Opportunity:
    """Convert with a qualified call: the lead becomes an SQL and its opportunity opens."""
    lead = _lock_lead(lead_id)
    assignment = _open_assignment(lead)
    if not can_act_on(user, lead, assignment):
        raise PermissionDenied("Only the rep this lead is assigned to (or a manager) can convert it.")
    call = DiscoveryCall.objects.filter(pk=call_id, lead=lead).first()
    if call is None:
        raise ValidationError({"call": "That discovery call is not one of this lead's."})
    if call.outcome != CallOutcome.QUALIFIED:
        raise ValidationError({"call": "Only a call whose outcome is “qualified” converts a lead."})
    if Opportunity.objects.filter(lead=lead, status=OpportunityStatus.OPEN).exists():
        raise ValidationError({"lead": "This lead already has an open opportunity."})
    now = timezone.now()
    decision = call.expected_decision_date
    if decision < timezone.localdate(now):
        raise ValidationError(
            {
                "call": f"The call's expected decision date ({decision.day} {decision:%b %Y}) has passed: "
                "log a new discovery call before converting."
            }
        )
    Lead.objects.filter(pk=lead.pk).update(qualifying_call_id=call.pk)
    lead = lead_services.lead_transition(
        lead_id=lead.pk,
        to=Stage.SQL,
        actor=Actor(user=user),
        reason=f"Qualified on the discovery call of {timezone.localtime(call.held_at):%d %b %Y}",
        context={"call": call},
    )
    lead = Lead.objects.select_related("company").get(pk=lead.pk)
    opportunity = Opportunity.objects.create(
        lead=lead,
        discovery_call=call,
        name=f"{lead.company.name if lead.company_id else lead.full_name or lead.email} — {call.need_use_case[:80]}",
        amount=call.budget_amount,
        currency=call.budget_currency,
        expected_close=call.expected_decision_date,
        owner=assignment.rep if assignment else user,
    )
    if assignment is not None:
        # The call is this assignment's touch if held during it; a call from before the lead was
        # (re)assigned does not back-date this assignment's touch: converting now is the touch.
        touched_at = call.held_at if call.held_at >= assignment.assigned_at else now
        _stop_clock_on_touch(assignment, touched_at)
        _end_assignment(assignment, AssignmentEnd.CONVERTED, now)
    return opportunity


def sql_guard(request: TransitionRequest) -> None:
    """Lifecycle guard for `sql` (registered by handoff's AppConfig): a qualified call with
    complete BANT must have been logged for this lead since it last became an MQL."""
    lead = request.lead
    call = (
        DiscoveryCall.objects.filter(pk=lead.qualifying_call_id, lead_id=lead.pk).first()
        if lead.qualifying_call_id
        else None
    )
    if call is None or call.outcome != CallOutcome.QUALIFIED:
        raise TransitionRefused(
            "No lead becomes an SQL without a logged discovery call whose BANT is complete and qualifies: "
            "log the discovery call first.",
            code="bant_required",
        )
    since = _mql_since(lead)
    if call.held_at < since and call.created_at < since:
        raise TransitionRefused(
            "The qualifying call predates the lead's latest return to the MQL queue: log a new discovery call.",
            code="bant_stale",
        )


def lead_advance(*, lead_id: int, user: Any, to: str, reason: str = "") -> Lead:
    """sql → opportunity → customer, for the rep who owns the lead or a manager."""
    if to not in (Stage.OPPORTUNITY, Stage.CUSTOMER):
        raise ValidationError({"to": "Advance to opportunity or customer."})
    with transaction.atomic():
        lead = _lock_lead(lead_id)
        if not (
            user.has_perm("handoff.act_on_any_lead")
            or (lead.owner_id == user.pk and user.has_perm("handoff.work_leads"))
        ):
            raise PermissionDenied("Only the lead's owner or a manager can move its opportunity on.")
        return lead_services.lead_transition(lead_id=lead.pk, to=to, actor=Actor(user=user), reason=reason)


# --- One way to change a stage ---------------------------------------------------------------

# Moves only the handoff's own doors make, and where those doors are ({id}: the lead's).
OWN_DOOR: dict[Stage, str] = {
    Stage.SAL: (
        "A lead becomes SAL when the rep it is assigned to accepts it: Accept on its work page, "
        "or POST /api/v1/leads/{id}/accept/."
    ),
    Stage.SQL: (
        "A lead becomes SQL when its qualifying discovery call is logged — on its work page, or with "
        "POST /api/v1/leads/{id}/discovery-calls/ — which also opens the opportunity."
    ),
}
FALLBACK_REASON_CODE = "other"  # a generic door's exit without a reason from the list: "Other", its words the note


@transaction.atomic
def lead_move(*, lead_id: int, to: str, user: Any, reason: str = "", reason_code: str = "") -> Lead:
    """The stage change of the generic doors — the lead page, the API's transition endpoint, the
    admin's actions (registered with `leads.services.register_mover`) — made by the service that
    owns the move, with that service's permissions, so assignments, clocks, opportunities, review
    clocks, rejections and queue reviews open and close as they do from the queue and the work
    pages, and a refusal says the same:

    - to SAL or SQL: refused (after the lifecycle's own rules: the graph, the BANT guard), naming
      the door that makes it (acceptance; the qualifying call, which opens the opportunity);
    - to opportunity or customer: `lead_advance` (the lead's owner or a manager);
    - out of the funnel (recycled, disqualified) from sales' hands (SAL or later, or an MQL assigned
      to a rep who, or whose manager, acts): `lead_reject`; from an MQL otherwise: the queue's
      `lead_send_to_nurture` / `lead_disqualify_from_queue` (marketers and managers; refused for a
      lead handed off to sales). The reason is `reason_code` from the managed list or, without
      one, “Other” with `reason` as its note; a reason in words is still required;
    - every other move (to MQL by hand, out of the funnel from lead, recycled or disqualified)
      touches nothing of sales': `leads.services.lead_transition`, for whoever changes leads.
    """
    try:
        target = Stage(to)
    except ValueError as exc:
        raise TransitionRefused(f"“{to}” is not a stage.", code="unknown_stage") from exc
    lead = _lock_lead(lead_id)
    source = Stage(lead.stage)
    if target in OWN_DOOR:
        request = TransitionRequest(
            lead=lead, from_stage=source, to_stage=target, actor=Actor(user=user), reason=reason, context={}
        )
        lifecycle.check(request)
        raise TransitionRefused(OWN_DOOR[target].format(id=lead.pk), code="own_door")
    if target in (Stage.OPPORTUNITY, Stage.CUSTOMER):
        return lead_advance(lead_id=lead.pk, user=user, to=target, reason=reason)
    if target in (Stage.RECYCLED, Stage.DISQUALIFIED) and source in (Stage.MQL, *SALES_STAGES):
        if not reason.strip() and not reason_code:
            raise TransitionRefused(
                f"A reason is required to move a lead to {target.label}.", code="reason_required", field="reason"
            )
        code = reason_code or FALLBACK_REASON_CODE
        assignment = _open_assignment(lead)
        if source in SALES_STAGES or (assignment is not None and can_act_on(user, lead, assignment)):
            return lead_reject(lead_id=lead.pk, user=user, to=target, reason_code=code, note=reason)
        if target == Stage.RECYCLED:
            return lead_send_to_nurture(lead_id=lead.pk, user=user, reason_code=code, note=reason)
        return lead_disqualify_from_queue(lead_id=lead.pk, user=user, reason_code=code, note=reason)
    _require(user, "leads.change_lead", "Only marketers and managers change a lead's stage by hand.")
    if reason_code and target in (Stage.RECYCLED, Stage.DISQUALIFIED):
        use = ReasonUse.RECYCLE if target == Stage.RECYCLED else ReasonUse.DISQUALIFY
        reason = _reason_text(_reason(reason_code, use), reason)
    return lead_services.lead_transition(lead_id=lead.pk, to=target, actor=Actor(user=user), reason=reason)


# --- The SLA sweep -----------------------------------------------------------------------------

RUNNING = Q(first_touch_at__isnull=True, stopped_at__isnull=True, assignment__is_open=True)
BREACH_RELATED = ("policy", "assignment__lead", "assignment__rep", "assignment__team__manager")


def _locked(queryset):  # type: ignore[no-untyped-def]
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset.select_for_update()


def sla_sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Record warnings and breaches and run escalations, each exactly once per clock, even with
    several sweeps at once. A batch of due clocks is locked (rows other sweeps skip), marked
    (`breached_at`, `warned_at`), and given its events and notifications in bulk, in one
    transaction. A clock whose policy reassigns on breach is handled alone, in its own transaction
    (marker, event, notifications and reassignment together), as the reassignment locks the lead
    and its team; so the statements grow with the reassignments only."""
    now = now or timezone.now()
    done = {"warnings": 0, "breaches": 0, "reassigned": 0, "escalated": 0}
    managers = _Managers()
    with transaction.atomic():
        due = list(
            _locked(SlaClock.objects.filter(RUNNING, breached_at__isnull=True, due_at__lte=now))
            .select_related(*BREACH_RELATED)
            .order_by("due_at", "id")[:batch]
        )
        notifying = [clock for clock in due if clock.policy.breach_action == BreachAction.NOTIFY]
        _breach_many(notifying, now, managers)
    done["breaches"] += len(notifying)
    for clock in due:
        if clock.policy.breach_action == BreachAction.NOTIFY:
            continue
        with transaction.atomic():
            # Re-locked: the batch's lock ended with its transaction.
            clock = _locked(
                SlaClock.objects.filter(RUNNING, pk=clock.pk, breached_at__isnull=True).select_related(*BREACH_RELATED)
            ).first()
            if clock is None:
                continue  # another sweep has it, or the rep touched the lead meanwhile
            outcome = _breach(clock, now, managers)
            if outcome:
                done[outcome] += 1
            done["breaches"] += 1
    with transaction.atomic():
        warned = list(
            _locked(
                SlaClock.objects.filter(
                    RUNNING, warned_at__isnull=True, breached_at__isnull=True, warn_at__lte=now, due_at__gt=now
                )
            )
            .select_related("assignment__lead", "assignment__rep")
            .order_by("warn_at", "id")[:batch]
        )
        _warn_many(warned, now)
    done["warnings"] += len(warned)
    return done


class _Managers:
    """Who hears of a breach in a team: its manager, or every manager when it has none (read once)."""

    def __init__(self) -> None:
        self._everyone: list[Any] | None = None

    def of(self, team: Team | None) -> list[Any]:
        if team is not None and team.manager_id:
            return [team.manager]
        if self._everyone is None:
            self._everyone = _managers_of(None)
        return self._everyone


def _warn_many(clocks: list[SlaClock], now: datetime) -> None:
    """Mark a batch of locked clocks warned, with their events and their reps' notifications."""
    if not clocks:
        return
    SlaClock.objects.filter(pk__in=[clock.pk for clock in clocks]).update(warned_at=now)
    SlaEvent.objects.bulk_create([SlaEvent(clock=clock, kind=SlaEvent.Kind.WARNING, at=now) for clock in clocks])
    notify_many([_warning(clock, now) for clock in clocks])


def _warning(clock: SlaClock, now: datetime) -> Notification:
    assignment = clock.assignment
    minutes = max(int((clock.due_at - now).total_seconds() // 60), 0)
    return Notification(recipient=assignment.rep, kind=NotificationKind.SLA_WARNING,
                        title=f"First touch due soon: {assignment.lead}",
                        body=f"The first touch on {assignment.lead} is due in {minutes} minutes "
                             f"({timezone.localtime(clock.due_at):%H:%M}).", lead=assignment.lead)  # fmt: skip


def _breach_many(clocks: list[SlaClock], now: datetime, managers: _Managers) -> None:
    """Mark a batch of locked clocks (whose policies only notify) breached, with their events and
    their managers' notifications."""
    if not clocks:
        return
    SlaClock.objects.filter(pk__in=[clock.pk for clock in clocks]).update(breached_at=now)
    SlaEvent.objects.bulk_create([SlaEvent(clock=clock, kind=SlaEvent.Kind.BREACH, at=now) for clock in clocks])
    notify_many([note for clock in clocks for note in _breach_notifications(clock, now, managers)])


def _breach_notifications(clock: SlaClock, now: datetime, managers: _Managers) -> list[Notification]:
    assignment, policy = clock.assignment, clock.policy
    if policy.breach_action not in (BreachAction.NOTIFY, BreachAction.BOTH):
        return []
    late = int((now - clock.due_at).total_seconds() // 60)
    return [
        Notification(recipient=manager, kind=NotificationKind.SLA_BREACH, title=f"SLA breached: {assignment.lead}",
                     body=f"{assignment.rep} has not touched {assignment.lead} "
                          f"(due {timezone.localtime(clock.due_at):%a %H:%M}, "
                          f"{late} min ago) under the “{policy.name}” policy.", lead=assignment.lead)
        for manager in managers.of(assignment.team)
    ]  # fmt: skip


def _breach(clock: SlaClock, now: datetime, managers: _Managers) -> str:
    """Breach one locked clock whose policy reassigns: marker, event, then either the reassignment
    (with its notifications) or, once the lead has been reassigned on breach as often as the
    policy allows, one escalation to the team's manager and no more reassignment. Returns what
    was done: "reassigned", "escalated" or "" (nobody could take the lead)."""
    SlaClock.objects.filter(pk=clock.pk).update(breached_at=now)
    SlaEvent.objects.create(clock=clock, kind=SlaEvent.Kind.BREACH, at=now)
    policy, assignment = clock.policy, clock.assignment
    reassigned = breach_reassignments(lead=assignment.lead)
    if reassigned >= policy.max_reassignments:
        _escalate(clock, now, managers, reassigned)
        return "escalated"
    notify_many(_breach_notifications(clock, now, managers))
    try:
        with transaction.atomic():
            lead_reassign(lead_id=assignment.lead_id, user=None, reason=f"SLA “{policy.name}” breached", at=now)
    except ValidationError as exc:
        SlaEvent.objects.create(
            clock=clock, kind=SlaEvent.Kind.NOT_REASSIGNED, at=now, detail=f"Not reassigned: {_message(exc)}"[:300]
        )
        return ""
    SlaEvent.objects.create(clock=clock, kind=SlaEvent.Kind.REASSIGNED, at=now, detail="Reassigned to the next rep")
    return "reassigned"


def breach_reassignments(*, lead: Lead) -> int:
    """How often the lead has been reassigned on breach since it last became an MQL."""
    return SlaEvent.objects.filter(
        kind=SlaEvent.Kind.REASSIGNED, clock__assignment__lead=lead, at__gte=lead.stage_changed_at
    ).count()


def _escalate(clock: SlaClock, now: datetime, managers: _Managers, reassigned: int) -> None:
    """The bound is reached: the lead stays with its rep, flagged for the manager to decide, who
    hears of it once (the event is unique per clock, and the clock is locked and now breached)."""
    assignment, policy = clock.assignment, clock.policy
    SlaClock.objects.filter(pk=clock.pk).update(escalated_at=now)
    times = "once" if reassigned == 1 else f"{reassigned} times"
    detail = (
        f"Reassigned on breach {times}, as often as “{policy.name}” allows; still untouched with {assignment.rep}."
        if reassigned
        else f"“{policy.name}” allows no reassignment on breach; untouched with {assignment.rep}."
    )
    SlaEvent.objects.create(clock=clock, kind=SlaEvent.Kind.ESCALATED, at=now, detail=detail[:300])
    notify_many(
        [
            Notification(recipient=manager, kind=NotificationKind.ESCALATED,
                         title=f"Needs your decision: {assignment.lead}",
                         body=f"{assignment.lead} breached its first-touch SLA again. {detail} "
                              "Reassign it, call the lead yourself, or send it back to nurture.",
                         lead=assignment.lead)
            for manager in managers.of(assignment.team)
        ]
    )  # fmt: skip


# --- Settings a manager edits ----------------------------------------------------------------


@transaction.atomic
def calendar_save(*, calendar_id: int | None = None, **fields: Any) -> BusinessCalendar:
    try:
        Calendar.build(
            time_zone=fields.get("time_zone", "UTC"),
            hours=fields.get("hours", {}),
            holiday_country=str(fields.get("holiday_country") or ""),
            holiday_subdivision=fields.get("holiday_subdivision", ""),
        ).is_open_day(timezone.localdate())
    except CalendarError as exc:
        raise ValidationError({exc.field: str(exc)}) from exc
    calendar = BusinessCalendar.objects.get(pk=calendar_id) if calendar_id else BusinessCalendar()
    for name, value in fields.items():
        setattr(calendar, name, value)
    calendar.full_clean()
    calendar.save()
    return calendar


def merge_guard(survivor_id: int, duplicate_id: int) -> None:
    """Leads with sales history are not merged away (registered with leads.services.on_merge)."""
    if (
        Assignment.objects.filter(lead_id=duplicate_id).exists()
        or DiscoveryCall.objects.filter(lead_id=duplicate_id).exists()
    ):
        raise ValidationError(
            {
                "duplicate": "The duplicate has sales history (assignments or discovery calls): "
                "merge it the other way round, keeping it as the survivor."
            }
        )
