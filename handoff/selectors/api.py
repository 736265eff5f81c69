"""Reads for the handoff API: the MQL queue, the SLA board of assignments, a lead's discovery
calls, opportunities, the managed reasons and a user's notifications.

Scoping is done here, in the queryset, never only per object: `sees_only_own_work(user)` is the
one rule. A user who works leads (`work_leads`) without also acting on any lead
(`act_on_any_lead`, managers) or reviewing the queue (`review_mql_queue`, marketers) is a rep:
the assignment and opportunity lists hold only their own rows. Managers and marketers read every
row (marketers read-only: they hand leads off and tune scoring from what happens to them).

Each list is one SELECT with everything a row shows joined in, so a page costs the same number of
queries whatever its size. The filters are django-filter FilterSets, shared with the schema (see
`crm.api.DocumentedFilterSetBackend`); a bad value is a ValidationError naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from handoff.models import (
    Assignment,
    DiscoveryCall,
    Notification,
    Opportunity,
    ReasonUse,
    RejectionReason,
    SlaClock,
    SlaStatus,
    Team,
)
from leads.lifecycle import Stage
from leads.models import SEGMENT_SIZES, Campaign, Channel, Lead, Segment

BOOLEAN_CHOICES = [("true", "Yes"), ("false", "No")]


def sees_only_own_work(user: AbstractBaseUser) -> bool:
    """A rep (works leads, neither acts on any lead nor reviews the queue) sees only their own
    assignments and opportunities; every other reader sees them all."""
    return (
        user.has_perm("handoff.work_leads")
        and not user.has_perm("handoff.act_on_any_lead")
        and not user.has_perm("handoff.review_mql_queue")
    )


def _clean(filterset: django_filters.FilterSet) -> QuerySet:
    if not filterset.is_valid():
        raise ValidationError(filterset.form.errors.as_data())
    return filterset.qs


# --- The MQL queue ------------------------------------------------------------------------------

# Sort options: key -> (label, keyset ordering ending in the id). A lead's `stage_changed_at` is
# when it entered the queue: an MQL without an open assignment has not changed stage since.
QUEUE_SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "oldest": ("Longest in the queue first", ("stage_changed_at", "id")),
    "newest": ("Newest in the queue first", ("-stage_changed_at", "-id")),
    "fit": ("Highest fit score", ("-fit_score", "-id")),
    "engagement": ("Highest engagement score", ("-engagement_score", "-id")),
}
DEFAULT_QUEUE_SORT = "oldest"


class QueueFilter(django_filters.FilterSet):
    channel = django_filters.MultipleChoiceFilter(
        field_name="source_channel", choices=Channel.choices, label="First-touch channel (repeat for several)"
    )
    campaign = django_filters.ModelChoiceFilter(queryset=Campaign.objects.all(), label="Campaign id")
    segment = django_filters.ChoiceFilter(choices=Segment.choices, method="filter_segment")
    fit_min = django_filters.NumberFilter(field_name="fit_score", lookup_expr="gte", label="Fit ≥")
    fit_max = django_filters.NumberFilter(field_name="fit_score", lookup_expr="lte", label="Fit ≤")
    engagement_min = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="gte", label="Engagement ≥")
    engagement_max = django_filters.NumberFilter(field_name="engagement_score", lookup_expr="lte", label="Engagement ≤")
    hot = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_hot", label="Only hot leads (`true`) or only the others (`false`)"
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_segment(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return queryset.filter(company__size__in=SEGMENT_SIZES[value]) if value else queryset

    def filter_hot(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        if not value:
            return queryset
        return queryset.filter(hot_signal_at__isnull=value != "true")


def mql_queue_for(*, user: AbstractBaseUser, params: Mapping[str, Any]) -> QuerySet[Lead]:
    """MQLs that nobody holds (no open assignment), filtered, with company and campaign joined.
    Empty for a user who may not review the queue."""
    if not user.has_perm("handoff.review_mql_queue"):
        return Lead.objects.none()
    held = Assignment.objects.filter(lead=OuterRef("pk"), is_open=True)
    queue = Lead.objects.filter(stage=Stage.MQL).filter(~Exists(held))
    return _clean(QueueFilter(data=params, queryset=queue)).select_related("company", "campaign")


# --- Assignments: the SLA board ---------------------------------------------------------------


def _clock_status(status: str, now: datetime) -> Q:
    """The clocks whose status (`SlaClock.status_at(now)`) is `status`, as a condition."""
    running = Q(first_touch_at__isnull=True, stopped_at__isnull=True)
    return {
        SlaStatus.MET: Q(first_touch_at__isnull=False) & SlaClock.met_in_time_q(),
        SlaStatus.MET_LATE: Q(first_touch_at__isnull=False) & ~SlaClock.met_in_time_q(),
        SlaStatus.STOPPED: Q(first_touch_at__isnull=True, stopped_at__isnull=False),
        SlaStatus.BREACHED: running & Q(due_at__lte=now),
        SlaStatus.AT_RISK: running & Q(warn_at__lte=now, due_at__gt=now),
        SlaStatus.ON_TRACK: running & Q(warn_at__gt=now),
    }[SlaStatus(status)]


class AssignmentFilter(django_filters.FilterSet):
    rep = django_filters.ModelChoiceFilter(
        field_name="assignment__rep", queryset=get_user_model().objects.filter(is_active=True), label="Rep id"
    )
    team = django_filters.ModelChoiceFilter(field_name="assignment__team", queryset=Team.objects.all(), label="Team id")
    status = django_filters.MultipleChoiceFilter(
        choices=SlaStatus.choices, method="filter_status", label="SLA status now (repeat for several)"
    )

    class Meta:
        model = SlaClock
        fields: list[str] = []

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now

    def filter_status(self, queryset: QuerySet[SlaClock], name: str, value: list[str]) -> QuerySet[SlaClock]:
        if not value:
            return queryset
        condition = Q()
        for status in value:
            condition |= _clock_status(status, self.now)
        return queryset.filter(condition)


def open_assignment_clocks_for(
    *, user: AbstractBaseUser, params: Mapping[str, Any], now: datetime
) -> QuerySet[SlaClock]:
    """The open assignments the user may see, as their SLA clocks (one per assignment), with the
    assignment, its lead (company, campaign), rep, team and policy joined.

    The rows are the clocks because the board is ordered by due time and keyset pages need the
    sort key on the paged model; `clock.assignment.clock` is the same object, no query.
    """
    clocks = SlaClock.objects.filter(assignment__is_open=True)
    if not user.has_perm("handoff.view_assignment"):
        return clocks.none()
    if sees_only_own_work(user):
        clocks = clocks.filter(assignment__rep=user)
    return _clean(AssignmentFilter(data=params, queryset=clocks, now=now)).select_related(
        "policy",
        "assignment__lead__company",
        "assignment__lead__campaign",
        "assignment__rep",
        "assignment__team",
    )


def assignment_get(*, assignment_id: int) -> Assignment:
    """One assignment with its clock, lead, rep and team (for the answer to a reassignment)."""
    return Assignment.objects.select_related("clock__policy", "lead__company", "lead__campaign", "rep", "team").get(
        pk=assignment_id
    )


# --- Discovery calls and opportunities ------------------------------------------------------------


def lead_discovery_calls(*, lead: Lead) -> list[DiscoveryCall]:
    """A lead's discovery calls, newest first, with who held them and the opportunity they opened."""
    return list(
        DiscoveryCall.objects.filter(lead=lead).select_related("sdr", "opportunity").order_by("-held_at", "-id")
    )


def discovery_call_get(*, call_id: int) -> DiscoveryCall:
    return DiscoveryCall.objects.select_related("sdr", "opportunity").get(pk=call_id)


def opportunities_for(*, user: AbstractBaseUser) -> QuerySet[Opportunity]:
    """The opportunities the user may see (a rep: those they own), with lead, company and owner."""
    opportunities = Opportunity.objects.all()
    if not user.has_perm("handoff.view_opportunity"):
        return opportunities.none()
    if sees_only_own_work(user):
        opportunities = opportunities.filter(owner=user)
    return opportunities.select_related("lead__company", "owner")


def opportunity_get(*, opportunity_id: int) -> Opportunity:
    return Opportunity.objects.select_related("lead__company", "owner").get(pk=opportunity_id)


# --- The managed list of reasons ------------------------------------------------------------------


def active_rejection_reasons(*, use: str | None = None) -> list[RejectionReason]:
    """Active reasons in their order; with `use` (recycle or disqualify), those valid for it."""
    reasons = RejectionReason.objects.filter(is_active=True)
    if use:
        reasons = reasons.filter(use__in=[use, ReasonUse.BOTH])
    return list(reasons.order_by("position", "label"))


# --- Notifications --------------------------------------------------------------------------------


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES, method="filter_unread", label="Only unread (`true`) or only read (`false`)"
    )

    class Meta:
        model = Notification
        fields: list[str] = []

    def filter_unread(self, queryset: QuerySet[Notification], name: str, value: str) -> QuerySet[Notification]:
        if not value:
            return queryset
        return queryset.filter(read_at__isnull=value == "true")


def notifications_of(*, user: AbstractBaseUser, params: Mapping[str, Any]) -> QuerySet[Notification]:
    """The user's own notifications (nobody reads anyone else's), filtered."""
    return _clean(NotificationFilter(data=params, queryset=Notification.objects.filter(recipient=user)))


def notifications_unread(*, user: AbstractBaseUser) -> int:
    """One COUNT over the (recipient, read_at) index."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def lead_stage(*, lead_id: int) -> str:
    return Lead.objects.values_list("stage", flat=True).get(pk=lead_id)
