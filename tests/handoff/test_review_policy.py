"""The marketing side of the handoff: every MQL is reviewed within the review policy's business
hours, or flagged on the queue, told to the marketers once, and (if the policy says so) handed
off automatically."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import automation, services
from handoff.models import (
    Assignment,
    Notification,
    NotificationKind,
    QueueReview,
    ReviewAction,
    ReviewClock,
    ReviewEnd,
    ReviewPolicy,
    RoutingRule,
)
from leads.lifecycle import Stage
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_policy(calendar_24x7):
    ReviewPolicy.objects.all().delete()
    return ReviewPolicy.objects.create(name="Review within an hour", calendar=calendar_24x7, review_minutes=60)


@pytest.fixture
def reviewed(team):
    return RoutingRule.objects.create(name="Everything → Inbound", team=team)


def test_an_mql_gets_a_review_clock_due_by_the_policy(review_policy, reviewed):
    lead = factories.lead_at_stage(Stage.MQL)
    clock = ReviewClock.objects.get(lead=lead)
    assert clock.started_at == lead.stage_changed_at
    assert clock.due_at == lead.stage_changed_at + timedelta(minutes=60)
    assert clock.policy == review_policy


def test_a_review_past_due_is_flagged_and_told_to_the_marketers_once(review_policy, reviewed, marketer, manager):
    lead = factories.lead_at_stage(Stage.MQL)
    started = ReviewClock.objects.get(lead=lead).started_at

    assert automation.review_sweep(now=started + timedelta(minutes=30)) == {"overdue": 0, "handoffs_requested": 0}
    assert automation.review_sweep(now=started + timedelta(minutes=61))["overdue"] == 1
    assert automation.review_sweep(now=started + timedelta(minutes=90))["overdue"] == 0

    notes = Notification.objects.filter(kind=NotificationKind.REVIEW_OVERDUE)
    assert {note.recipient for note in notes} == {marketer, manager}, "everyone who reviews the queue, once each"
    assert "waited longer than 1 business hours for review" in notes[0].title
    assert ReviewClock.objects.get(lead=lead).overdue_at == started + timedelta(minutes=61)
    assert not Assignment.objects.filter(lead=lead).exists(), "a notifying policy hands nothing off"


def test_many_overdue_at_once_make_one_digest_per_marketer(review_policy, reviewed, marketer):
    leads = [factories.lead_at_stage(Stage.MQL) for _ in range(7)]
    latest = max(ReviewClock.objects.filter(lead__in=leads).values_list("due_at", flat=True))
    automation.review_sweep(now=latest + timedelta(seconds=1))
    note = Notification.objects.get(kind=NotificationKind.REVIEW_OVERDUE, recipient=marketer)
    assert note.title.startswith("7 MQLs have waited")
    assert "and 2 more" in note.body


def test_a_policy_that_hands_off_overdue_reviews_does_so(review_policy, reviewed, reps):
    ReviewPolicy.objects.filter(pk=review_policy.pk).update(overdue_action=ReviewAction.HAND_OFF)
    lead = factories.lead_at_stage(Stage.MQL)
    started = ReviewClock.objects.get(lead=lead).started_at

    automation.review_sweep(now=started + timedelta(minutes=61))
    automation.handoff_requests_drain()

    assignment = Assignment.objects.get(lead=lead, is_open=True)
    assert assignment.assigned_by is None
    assert QueueReview.objects.get(lead=lead).rule == "review overdue under “Review within an hour”"
    clock = ReviewClock.objects.get(lead=lead)
    assert (clock.end, clock.overdue_at is not None) == (ReviewEnd.AUTOMATIC, True)


def test_a_marketers_decision_ends_the_review_clock(review_policy, reviewed, marketer):
    lead = factories.lead_at_stage(Stage.MQL)
    services.lead_send_to_nurture(lead_id=lead.pk, user=marketer, reason_code="bad_timing")
    clock = ReviewClock.objects.get(lead=lead)
    assert clock.end == ReviewEnd.NURTURE
    assert clock.ended_at is not None
    assert automation.review_sweep(now=clock.due_at + timedelta(hours=1))["overdue"] == 0


def test_the_queue_flags_an_overdue_review(review_policy, reviewed, marketer, client):
    lead = factories.lead_at_stage(Stage.MQL)
    ReviewClock.objects.filter(lead=lead).update(
        started_at=timezone.now() - timedelta(hours=2), due_at=timezone.now() - timedelta(minutes=5)
    )
    client.force_login(marketer)

    response = client.get("/queue/")

    assert "review 5m late" in response.content.decode()
    assert response.context["summary"].overdue == 1
