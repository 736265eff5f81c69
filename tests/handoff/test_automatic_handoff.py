"""Automatic hand-off and the fast track: MQLs reach a rep by themselves, after commit.

What a user noticed before: every MQL, hot demo requests included, waited in the queue for a
click; a VP's demo request below the thresholds never reached the queue; neither did one from a
lead whose fit is 0.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from handoff import automation, services, tasks
from handoff.models import (
    Assignment,
    HandoffMode,
    HandoffRequest,
    Notification,
    NotificationKind,
    QueueReview,
    ReviewClock,
    ReviewEnd,
    RoutingRule,
    TeamMembership,
)
from handoff.selectors.queue import mql_queue
from leads import ingestion
from leads import services as lead_services
from leads.lifecycle import Actor, Stage
from leads.models import ActivityType, Lead
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_pending_drain():
    cache.delete(lead_services.RESCORE_DRAIN_KEY)


@pytest.fixture
def automatic(team):
    return RoutingRule.objects.create(name="Everything → Inbound (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)


@pytest.fixture
def reviewed(team):
    return RoutingRule.objects.create(name="Everything → Inbound", team=team, handoff_mode=HandoffMode.REVIEW)


@pytest.fixture
def demo_form():
    return ingestion.form_source_create(name="Website – book a demo", activity_type_id="demo_request")


def capture(key: str, **data):  # type: ignore[no-untyped-def]
    return APIClient().post("/api/v1/forms/capture/", data, format="json", HTTP_X_BATON_FORM_KEY=key)


def activity(lead: Lead, code: str, *, days_ago: float = 0) -> None:
    factories.ActivityFactory(
        lead=lead, type=ActivityType.objects.get(code=code), occurred_at=timezone.now() - timedelta(days=days_ago)
    )


def open_assignment(lead: Lead) -> Assignment | None:
    return Assignment.objects.filter(lead=lead, is_open=True).select_related("rep", "clock").first()


def test_an_mql_made_by_scoring_on_an_automatic_rule_reaches_a_rep_by_itself(
    automatic, reps, django_capture_on_commit_callbacks
):
    lead = factories.LeadFactory(job_title="VP of Marketing")
    for code in ("webinar_attended", "webinar_attended", "pricing_page_view", "pricing_page_view"):
        activity(lead, code)

    with django_capture_on_commit_callbacks(execute=True):
        lead_services.scoring_rescore_leads(lead_ids=[lead.pk])

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assignment = open_assignment(lead)
    assert assignment is not None, "nobody clicked, and the MQL should still have reached a rep"
    assert assignment.rep in reps
    assert assignment.assigned_by is None
    assert assignment.routing_rule == automatic
    assert assignment.clock.due_at > assignment.assigned_at
    note = Notification.objects.get(recipient=assignment.rep, kind=NotificationKind.ASSIGNED, lead=lead)
    assert "automatically" in note.body
    assert "First touch due" in note.body
    review = QueueReview.objects.get(lead=lead)
    assert review.reviewer is None
    assert review.rule == "routing rule “Everything → Inbound (auto)”"
    assert lead.owner == assignment.rep
    assert not mql_queue().filter(pk=lead.pk).exists()
    assert ReviewClock.objects.get(lead=lead).end == ReviewEnd.AUTOMATIC
    assert not HandoffRequest.objects.exists()


def test_a_person_making_an_mql_on_an_automatic_rule_hands_it_off_too(
    automatic, reps, marketer, django_capture_on_commit_callbacks
):
    lead = factories.LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor(user=marketer), reason="Met at a fair")
    assert open_assignment(lead) is not None


def test_a_reviewed_rule_leaves_the_mql_in_the_queue_and_no_request_behind(
    reviewed, reps, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead = factories.lead_at_stage(Stage.MQL)
    assert open_assignment(lead) is None
    assert mql_queue().filter(pk=lead.pk).exists()
    assert not HandoffRequest.objects.exists()
    clock = ReviewClock.objects.get(lead=lead)
    assert clock.ended_at is None
    assert clock.started_at == lead.stage_changed_at


def test_a_vps_demo_request_below_the_thresholds_is_fast_tracked_from_the_form(
    reviewed, reps, demo_form, django_capture_on_commit_callbacks
):
    _, key = demo_form
    with django_capture_on_commit_callbacks(execute=True):
        response = capture(key, email="vera@northwind.example", first_name="Vera", job_title="VP of Sales")
    assert response.status_code == 201

    lead = Lead.objects.get(email="vera@northwind.example")
    model = lead.scoring_model
    assert lead.fit_score < model.mql_fit_threshold or lead.engagement_score < model.mql_engagement_threshold
    assert lead.stage == Stage.MQL
    assert lead.transitions.latest().reason.startswith("Fast track: Demo request on ")
    assignment = open_assignment(lead)
    assert assignment is not None, "a hot demo request waits for nobody, even on a reviewed rule"
    assert QueueReview.objects.get(lead=lead).rule == "fast track: hot signal"
    assert Notification.objects.filter(recipient=assignment.rep, lead=lead, kind=NotificationKind.ASSIGNED).exists()


def test_a_demo_request_from_a_lead_whose_fit_is_0_reaches_the_queue_held_for_review(
    automatic, reps, demo_form, django_capture_on_commit_callbacks
):
    _, key = demo_form
    with django_capture_on_commit_callbacks(execute=True):
        capture(key, email="someone@gmail.com", job_title="")
    lead = Lead.objects.get(email="someone@gmail.com")
    assert lead.fit_score <= 0
    assert lead.stage == Stage.MQL, "the demo request must at least reach the queue"
    assert open_assignment(lead) is None, "junk is held for a marketer, even on an automatic rule"
    assert mql_queue().filter(pk=lead.pk).exists()


def test_a_new_hot_signal_of_an_mql_waiting_for_review_hands_it_off(reviewed, reps, django_capture_on_commit_callbacks):
    lead = factories.LeadFactory(job_title="Head of Marketing")
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("test"), reason="x")
    assert open_assignment(lead) is None
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])  # the lead's current scores, before the signal

    with django_capture_on_commit_callbacks(execute=True):
        ingestion.activities_ingest(
            items=[{"email": lead.email, "type": "contact_sales", "external_id": "cs-1"}], actor=Actor.rule_named("api")
        )
    assert open_assignment(lead) is not None


def test_nobody_free_keeps_the_request_with_its_error_and_a_later_drain_hands_it_off(
    automatic, team, reps, django_capture_on_commit_callbacks
):
    TeamMembership.objects.filter(team=team).update(away_until=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        lead = factories.lead_at_stage(Stage.MQL)
    assert open_assignment(lead) is None
    request = HandoffRequest.objects.get(lead=lead)
    assert request.attempts == 1
    assert "every rep is away or at capacity" in request.last_error
    assert request.next_attempt_at > timezone.now()

    TeamMembership.objects.filter(team=team).update(away_until=None)
    automation.handoff_requests_drain(now=request.next_attempt_at + timedelta(seconds=1))
    assert open_assignment(lead) is not None
    assert not HandoffRequest.objects.exists()


def test_a_wake_up_the_broker_lost_is_made_up_by_the_beat_drain(automatic, reps):
    lead = factories.lead_at_stage(Stage.MQL)  # committed callbacks never run here: no task was sent
    assert HandoffRequest.objects.filter(lead=lead).exists()
    assert open_assignment(lead) is None

    tasks.drain_handoff_requests()  # what beat runs every minute

    assert open_assignment(lead) is not None


def test_a_marketer_handing_off_first_leaves_nothing_for_the_automatic_run(automatic, reps, marketer):
    lead = factories.lead_at_stage(Stage.MQL)
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    result = automation.handoff_requests_drain()
    assert result.handed_off == 0
    assert Assignment.objects.filter(lead=lead).count() == 1
    assert QueueReview.objects.get(lead=lead).reviewer == marketer


def test_a_burst_of_mqls_is_shared_fairly_within_capacity(automatic, team, reps, django_capture_on_commit_callbacks):
    TeamMembership.objects.filter(team=team, rep=reps[2]).update(capacity=3)
    leads = [factories.LeadFactory(job_title="VP of Marketing") for _ in range(20)]
    for lead in leads:
        for code in ("webinar_attended", "webinar_attended", "pricing_page_view", "pricing_page_view"):
            activity(lead, code)
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.scoring_rescore_leads(lead_ids=[lead.pk for lead in leads])

    counts = {rep.username: Assignment.objects.filter(rep=rep, is_open=True).count() for rep in reps}
    assert sum(counts.values()) == 20
    assert counts[reps[2].username] == 3, "capacity is respected"
    assert abs(counts[reps[0].username] - counts[reps[1].username]) <= 1, counts


def test_the_queue_says_which_rule_would_take_each_lead(team, reps, marketer, client):
    RoutingRule.objects.create(
        name="Hot leads → Inbound", team=team, hot_only=True, handoff_mode=HandoffMode.AUTOMATIC, position=1
    )
    RoutingRule.objects.create(name="Everything → Inbound", team=team, position=2)
    factories.lead_at_stage(Stage.MQL, email="wait@acme.example")
    client.force_login(marketer)

    html = client.get("/queue/").content.decode()

    assert "Everything → Inbound" in html
    assert "waits for review" in html


def test_a_hot_signal_is_rescored_at_once_not_behind_the_coalesced_drain(
    reviewed, reps, demo_form, django_capture_on_commit_callbacks
):
    _, key = demo_form
    cache.set(lead_services.RESCORE_DRAIN_KEY, "1", timeout=60)  # a coalesced drain is already due later
    with django_capture_on_commit_callbacks(execute=True):
        capture(key, email="hana@northwind.example", job_title="Head of Sales")
    lead = Lead.objects.get(email="hana@northwind.example")
    assert lead.is_hot
    assert open_assignment(lead) is not None


def test_ordinary_activities_still_wait_for_the_coalesced_drain(reviewed, django_capture_on_commit_callbacks):
    lead = factories.LeadFactory()
    cache.set(lead_services.RESCORE_DRAIN_KEY, "1", timeout=60)
    with django_capture_on_commit_callbacks(execute=True):
        ingestion.activities_ingest(
            items=[{"email": lead.email, "type": "page_view", "external_id": "pv-1"}], actor=Actor.rule_named("api")
        )
    lead.refresh_from_db()
    assert lead.scored_at is None, "a page view is rescored with the others, a couple of seconds later"


def test_the_lead_page_says_why_a_hot_lead_waits_for_review(
    automatic, reps, demo_form, marketer, client, django_capture_on_commit_callbacks
):
    _, key = demo_form
    with django_capture_on_commit_callbacks(execute=True):
        capture(key, email="kid@gmail.com", job_title="Student")
    lead = Lead.objects.get(email="kid@gmail.com")
    client.force_login(marketer)

    html = client.get(lead.get_absolute_url()).content.decode()

    assert "Hot, but held for review:" in html
    assert "matches “Free-mail address” (-15)" in html
    assert "Routing: Everything → Inbound (auto) (team Inbound)" in html
