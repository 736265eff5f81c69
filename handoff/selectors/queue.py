"""Reads for the MQL queue and the in-app notifications (the bell and its list).

The queue is every lead at `mql` that nobody holds yet (no open assignment), each annotated with
`mql_at` — when it last entered the queue (its `stage_changed_at`) — in the same query as the
rows, so a page of 50 is one SELECT however long the queue. Everything a row shows is joined or
fetched in one more query per kind (topics), never per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, Min, OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.utils import timezone

from crm.pagination import KeysetPaginator
from handoff.forms_queue import QUEUE_SORTS, QueueFilter, queue_sort_ordering
from handoff.models import (
    Assignment,
    HandoffRequest,
    Notification,
    QueueReview,
    ReasonUse,
    Rejection,
    RejectionReason,
    ReviewClock,
    Team,
)
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageTransition

# --- The queue --------------------------------------------------------------------------------


def mql_queue() -> QuerySet[Lead]:
    """MQLs without an open assignment, each with `mql_at`: when it entered the queue.

    A lead at `mql` got there by its latest transition, which set `stage_changed_at` in the same
    statement (leads.services.lead_transition), so that column *is* its latest move into `mql`
    — and, unlike a subquery over the history, it is indexed with the stage (lead_stage_changed_id),
    so the oldest-first queue reads in index order however many leads there are.
    """
    held = Assignment.objects.filter(lead=OuterRef("pk"), is_open=True)
    return Lead.objects.filter(stage=Stage.MQL).filter(~Exists(held)).annotate(mql_at=F("stage_changed_at"))


def queue_list(*, user: AbstractBaseUser, params: Mapping[str, Any]) -> tuple[QuerySet[Lead], QueueFilter]:
    """The filtered queue with what a row shows joined in. Raises ValidationError on bad filters."""
    queryset = mql_queue() if user.has_perm("handoff.review_mql_queue") else Lead.objects.none()
    filterset = QueueFilter(data=params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.form.errors.as_data())
    rows = filterset.qs.select_related("company", "campaign").only(*QUEUE_ROW_FIELDS)
    return rows.annotate(**QUEUE_ROW_ANNOTATIONS), filterset


# What a row says beyond the lead's own columns, each a lookup by the lead's id in an index, made
# for the page's rows only: its review due time (the open review clock), why its automatic
# hand-off failed (a waiting hand-off request), and, for a lead back from nurture, how often it
# came back and the reason it was last rejected for.
QUEUE_ROW_ANNOTATIONS: dict[str, Any] = {
    "review_due_at": Subquery(
        ReviewClock.objects.filter(lead=OuterRef("pk"), ended_at__isnull=True).values("due_at")[:1]
    ),
    "handoff_error": Subquery(
        HandoffRequest.objects.filter(lead=OuterRef("pk")).exclude(last_error="").values("last_error")[:1]
    ),
    "nurture_returns": Subquery(
        StageTransition.objects.filter(lead=OuterRef("pk"), from_stage=Stage.RECYCLED, to_stage=Stage.MQL)
        .order_by()
        .values("lead")
        .annotate(n=Count("id"))
        .values("n")[:1]
    ),
    "last_rejection": Subquery(
        Rejection.objects.filter(lead=OuterRef("pk")).order_by("-at", "-id").values("reason__label")[:1]
    ),
}


# What a row of the queue shows (handoff.views.queue._rows), and every key it is sorted by; the
# other columns of fifty leads and their companies are never read.
QUEUE_ROW_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "job_title",
    "source_channel",
    "source_detail",
    "fit_score",
    "engagement_score",
    "score_explanation",
    "hot_signal_at",
    "stage_changed_at",
    "nurture_until",
    "engagement_since",
    "company__name",
    "company__size",
    "company__country",
    "campaign__name",
)


class QueuePaginator(KeysetPaginator):
    """KeysetPaginator that also pages on the queue's `mql_at` annotation."""

    annotations: dict[str, models.Field] = {"mql_at": models.DateTimeField()}

    def _field(self, name: str):  # type: ignore[no-untyped-def]
        return self.annotations.get(name) or super()._field(name)

    def _value_of(self, row: Any, name: str) -> Any:
        return getattr(row, name) if name in self.annotations else super()._value_of(row, name)


def queue_paginator(queryset: QuerySet[Lead], *, sort: str, per_page: int) -> QueuePaginator:
    if sort not in QUEUE_SORTS:
        raise ValueError(f"unknown queue sort {sort!r}")
    return QueuePaginator(queryset, ordering=queue_sort_ordering(sort), per_page=per_page)


def queue_leads(*, lead_ids: Iterable[int]) -> list[Lead]:
    """Leads picked for an action (whatever their stage now), in the order given."""
    ids = list(dict.fromkeys(lead_ids))
    found = Lead.objects.select_related("company").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def lead_topics(*, lead_ids: Sequence[int], per_lead: int = 3) -> dict[int, list[str]]:
    """The most frequent `topic` of each lead's activities (content downloads, webinars…), at most
    `per_lead` each, in one grouped query over the page's leads."""
    if not lead_ids:
        return {}
    rows = (
        Activity.objects.filter(lead_id__in=list(lead_ids), properties__has_key="topic")
        .values("lead_id", topic=KT("properties__topic"))
        .annotate(n=Count("id"))
        .order_by("lead_id", "-n", "topic")
    )
    topics: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        topic = str(row["topic"] or "").strip()
        if topic and len(topics[row["lead_id"]]) < per_lead and topic not in topics[row["lead_id"]]:
            topics[row["lead_id"]].append(topic)
    return dict(topics)


# --- The queue's header: how much waits, for how long, and how fast marketing reviews ----------


REVIEW_TIME_CACHE_FROM = 1_000  # decisions in the period
REVIEW_TIME_CACHE_SECONDS = 60


@dataclass(frozen=True)
class ReviewTime:
    median: timedelta | None
    reviews: int
    days: int


@dataclass(frozen=True)
class QueueSummary:
    waiting: int
    waiting_capped: bool
    oldest_mql_at: datetime | None
    review_time: ReviewTime
    overdue: int = 0  # waiting past the review policy's due time (up to QUEUE_COUNT_CAP)


def queue_review_time(*, days: int = 7, now: datetime | None = None) -> ReviewTime:
    """The median wait of the marketing decisions (hand-off, nurture, disqualify) of the last
    `days` days — the marketing-side commitment. Portable: count, then read the middle row(s) of
    the waits in order (SQLite has no percentile function), two queries whatever the volume.

    Finding the middle sorts every decision of the period: tens of milliseconds once they number
    tens of thousands, for a figure that hardly moves. From REVIEW_TIME_CACHE_FROM decisions the
    median is kept in the cache for the minute and the count it was computed for, so a new
    decision or the next minute computes it afresh; below that it is computed on every read."""
    now = now or timezone.now()
    reviews = QueueReview.objects.filter(reviewed_at__gte=now - timedelta(days=days), reviewed_at__lte=now)
    count = reviews.count()
    if not count:
        return ReviewTime(None, 0, days)
    key = f"handoff:queue-review-median:{days}:{now:%Y%m%d%H%M}:{count}"
    median = cache.get(key) if count >= REVIEW_TIME_CACHE_FROM else None
    if median is None:
        waits = (
            reviews.annotate(wait_for=ExpressionWrapper(F("reviewed_at") - F("mql_at"), output_field=DurationField()))
            .order_by("wait_for", "id")
            .values_list("wait_for", flat=True)
        )
        middle = count // 2
        if count % 2:
            median = waits[middle]
        else:
            low, high = list(waits[middle - 1 : middle + 1])
            median = (low + high) / 2
        if count >= REVIEW_TIME_CACHE_FROM:
            cache.set(key, median, REVIEW_TIME_CACHE_SECONDS)
    return ReviewTime(max(median, timedelta(0)), count, days)


# The queue counts up to a thousand ("1,000+"), not ten thousand as the lead list does: each MQL
# counted is checked for an open assignment (handed off, not yet accepted, it is no longer
# waiting), and at a million leads counting ten thousand that way took most of the page's time.
# A thousand leads waiting already says the queue is far behind; the oldest wait says how far.
QUEUE_COUNT_CAP = 1_000


def queue_summary(*, now: datetime | None = None) -> QueueSummary:
    """The header: how many wait (up to QUEUE_COUNT_CAP), since when the oldest waits, and the
    review time. The count and the oldest come from one read along the queue's index, oldest
    first, which stops at the cap: its first row is the oldest."""
    now = now or timezone.now()
    oldest_first = mql_queue().order_by("mql_at", "id")[: QUEUE_COUNT_CAP + 1]
    head = oldest_first.aggregate(waiting=Count("pk"), oldest=Min("mql_at"))
    waiting = head["waiting"]
    # Without a review policy no clock has a due time, so this counts nothing.
    overdue = ReviewClock.objects.filter(ended_at__isnull=True, due_at__lte=now).order_by().values("pk")
    return QueueSummary(
        min(waiting, QUEUE_COUNT_CAP), waiting > QUEUE_COUNT_CAP, head["oldest"], queue_review_time(now=now),
        overdue=overdue[:QUEUE_COUNT_CAP].count(),
    )  # fmt: skip


# --- What the actions offer ------------------------------------------------------------------


def queue_reasons() -> dict[str, list[RejectionReason]]:
    """The active managed reasons, split by what they may be used for: {"nurture": [...],
    "disqualify": [...]} (a reason for either use is in both). One query."""
    reasons: dict[str, list[RejectionReason]] = {"nurture": [], "disqualify": []}
    for reason in RejectionReason.objects.filter(is_active=True).order_by("position", "label"):
        if reason.use in (ReasonUse.RECYCLE, ReasonUse.BOTH):
            reasons["nurture"].append(reason)
        if reason.use in (ReasonUse.DISQUALIFY, ReasonUse.BOTH):
            reasons["disqualify"].append(reason)
    return reasons


def handoff_teams() -> list[Team]:
    """Teams a marketer may hand a lead to instead of letting routing choose."""
    return list(Team.objects.order_by("name"))


# --- Notifications ----------------------------------------------------------------------------

NOTIFICATION_LIMIT = 100


def notifications_for(*, user: AbstractBaseUser, unread_only: bool = False, limit: int = NOTIFICATION_LIMIT):  # type: ignore[no-untyped-def]
    """The user's own notifications, newest first, at most `limit`."""
    notifications = Notification.objects.filter(recipient=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return list(notifications.order_by("-created_at", "-id")[:limit])


def notifications_unread_count(*, user: AbstractBaseUser) -> int:
    """One COUNT over the (recipient, read_at) index."""
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_get(*, user: AbstractBaseUser, notification_id: int) -> Notification:
    """One of the user's own notifications; Notification.DoesNotExist for anyone else's."""
    return Notification.objects.get(pk=notification_id, recipient=user)
