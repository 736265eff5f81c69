"""The handoff API: the MQL queue and its bulk actions, the SLA board, the work on one lead
(touches, accept, reject, discovery calls with BANT, conversion, advance, reassignment),
opportunities, reasons and notifications — with the same rules and permissions as the services,
lists scoped in their queryset, and pinned query counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.security.tokens import api_token_create
from handoff import services
from handoff.models import (
    Assignment,
    DiscoveryCall,
    Notification,
    NotificationKind,
    Opportunity,
    QueueReview,
    Rejection,
    RejectionReason,
    SlaStatus,
    Team,
    TeamMembership,
)
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import Activity, ActivityType, Channel, CompanySize, Lead
from tests import factories
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db

API = "/api/v1"
QUEUE = f"{API}/queue/"
ASSIGNMENTS = f"{API}/assignments/"
OPPORTUNITIES = f"{API}/opportunities/"
REASONS = f"{API}/rejection-reasons/"
NOTIFICATIONS = f"{API}/notifications/"
BANT_FIELDS = set(services.BANT_FIELDS)


def client_for(user: Any = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def lead_url(lead: Lead, action: str) -> str:
    return f"{API}/leads/{lead.pk}/{action}/"


def ids(response: Any, key: str = "id") -> list[int]:
    return [row[key] for row in response.json()["results"]]


def call_payload(**overrides: Any) -> dict[str, Any]:
    """The qualified BANT answers as JSON would carry them."""
    data = qualified_bant(**overrides)
    return {
        key: (str(value) if key in ("budget_amount", "expected_decision_date") and value is not None else value)
        for key, value in data.items()
    }


def hand_off(lead: Lead, by: Any, at: Any = None) -> Assignment:
    if at is None:
        return services.lead_hand_off(lead_id=lead.pk, user=by)
    with mock.patch("django.utils.timezone.now", return_value=at):
        return services.lead_hand_off(lead_id=lead.pk, user=by)


@pytest.fixture
def assigned(marketer, team, reps, mql):
    """An MQL handed off to the first rep of the team (round robin starts there)."""
    lead = mql(company=factories.CompanyFactory(name="Globex"))
    assignment = hand_off(lead, marketer)
    assert assignment.rep == reps[0]
    return lead


def written(lead: Lead) -> tuple[Any, ...]:
    """Everything an action on the lead could have written."""
    lead.refresh_from_db()
    return (
        lead.stage,
        lead.transitions.count(),
        lead.activities.count(),
        DiscoveryCall.objects.filter(lead=lead).count(),
        Opportunity.objects.filter(lead=lead).count(),
        list(Assignment.objects.filter(lead=lead).values_list("rep_id", "is_open")),
        Rejection.objects.filter(lead=lead).count(),
    )


# --- The MQL queue --------------------------------------------------------------------------------


def test_queue_lists_unassigned_mqls_with_scores_source_campaign_and_age(marketer, team, mql):
    campaign = factories.CampaignFactory(slug="spring-webinar", name="Spring webinar")
    now = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=now - timedelta(hours=3)):
        waiting = mql(campaign=campaign, source_channel=Channel.WEBINAR, company=factories.CompanyFactory(name="Acme"))
    lead_services.scoring_rescore_leads(lead_ids=[waiting.pk])
    newer = mql()
    handed = mql()
    hand_off(handed, marketer)
    factories.LeadFactory()  # not an MQL

    response = client_for(marketer).get(QUEUE)

    assert response.status_code == 200, response.json()
    assert ids(response) == [waiting.pk, newer.pk]  # longest waiting first
    row = response.json()["results"][0]
    waiting.refresh_from_db()
    assert row["campaign"] == {"id": campaign.pk, "slug": "spring-webinar", "name": "Spring webinar"}
    assert row["source_channel"] == "webinar"
    assert row["company"]["name"] == "Acme"
    assert (row["fit_score"], row["engagement_score"]) == (waiting.fit_score, waiting.engagement_score)
    fit_parts = [part["points"] for part in row["score_explanation"] if part["kind"] == "fit"]
    assert fit_parts
    assert sum(fit_parts) == row["fit_score"]
    assert 179 <= row["queue_age_minutes"] <= 181
    assert row["mql_at"]
    assert row["is_hot"] is False


def test_queue_sorts(marketer, mql):
    low = mql(fit_score=10, engagement_score=90)
    high = mql(fit_score=90, engagement_score=10)
    client = client_for(marketer)

    assert ids(client.get(QUEUE, {"sort": "fit"})) == [high.pk, low.pk]
    assert ids(client.get(QUEUE, {"sort": "engagement"})) == [low.pk, high.pk]
    assert ids(client.get(QUEUE, {"sort": "newest"})) == [high.pk, low.pk]


@pytest.fixture
def assorted_queue(mql) -> dict[str, Lead]:
    webinar = factories.CampaignFactory(slug="webinar")

    def queued(channel: str, size: str, fit: int, engagement: int, **kwargs: Any) -> Lead:
        company = factories.CompanyFactory(size=size)
        return mql(source_channel=channel, company=company, fit_score=fit, engagement_score=engagement, **kwargs)

    leads = {
        "ada": queued(Channel.WEBINAR, CompanySize.S_5000_PLUS, 80, 10, campaign=webinar),
        "grace": queued(Channel.PAID_SEARCH, CompanySize.S_1_10, 50, 70),
        "alan": queued(Channel.PAID_SEARCH, CompanySize.S_51_200, 20, 40),
    }
    factories.ActivityFactory(lead=leads["alan"], type=ActivityType.objects.get(code="demo_request"))
    lead_services.scoring_rescore_leads(lead_ids=[leads["alan"].pk])
    # The rescore made alan hot; the score-range cases need his numbers back (tests that only need a
    # number set it directly, as the factory does).
    Lead.objects.filter(pk=leads["alan"].pk).update(fit_score=20, engagement_score=40)
    return leads


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "paid_search"}, {"grace", "alan"}),
        ({"channel": ["webinar", "paid_search"]}, {"ada", "grace", "alan"}),
        ({"segment": "enterprise"}, {"ada"}),
        ({"segment": "smb"}, {"grace"}),
        ({"fit_min": "50"}, {"ada", "grace"}),
        ({"fit_max": "49"}, {"alan"}),
        ({"engagement_min": "40", "engagement_max": "69"}, {"alan"}),
        ({"hot": "true"}, {"alan"}),
        ({"hot": "false"}, {"ada", "grace"}),
    ],
)
def test_queue_filters(marketer, assorted_queue, params, expected):
    response = client_for(marketer).get(QUEUE, params)

    assert response.status_code == 200, response.json()
    by_id = {lead.pk: name for name, lead in assorted_queue.items()}
    assert {by_id[pk] for pk in ids(response)} == expected


def test_queue_filter_by_campaign(marketer, assorted_queue):
    campaign = assorted_queue["ada"].campaign

    assert ids(client_for(marketer).get(QUEUE, {"campaign": campaign.pk})) == [assorted_queue["ada"].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"segment": "galactic"}, "segment"),
        ({"fit_min": "lots"}, "fit_min"),
        ({"hot": "maybe"}, "hot"),
        ({"campaign": "999999"}, "campaign"),
        ({"sort": "random"}, "sort"),
        ({"cursor": "nope"}, "cursor"),
    ],
)
def test_queue_bad_parameters_are_400_naming_them(marketer, mql, params, field):
    mql()

    response = client_for(marketer).get(QUEUE, params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_queue_pages_walk_every_mql_once(marketer, mql):
    made = [mql().pk for _ in range(5)]
    client = client_for(marketer)
    seen, url = [], f"{QUEUE}?page_size=2"
    while url:
        response = client.get(url)
        seen += ids(response)
        url = response.json()["next"]

    assert seen == made


# --- Bulk actions on the queue ----------------------------------------------------------------


def test_bulk_hand_off_reports_each_lead_and_writes_only_the_good_ones(marketer, team, reps, mql):
    good, already, not_mql = mql(), mql(), factories.LeadFactory()
    hand_off(already, marketer)

    response = client_for(marketer).post(
        f"{QUEUE}hand-off/", {"leads": [good.pk, already.pk, not_mql.pk, 999999, good.pk]}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (1, 3)
    results = {row["lead"]: row for row in body["results"]}
    assert [row["lead"] for row in body["results"]] == [good.pk, already.pk, not_mql.pk, 999999]
    assert results[good.pk]["ok"] is True
    assert reps[1].get_full_name() in results[good.pk]["message"]  # reps[0] took `already`
    assert results[already.pk] == {"lead": already.pk, "ok": False, "message": "This lead is already handed off."}
    assert "Only MQLs are handed off" in results[not_mql.pk]["message"]
    assert results[999999]["message"] == "This lead no longer exists."
    assert Assignment.objects.get(lead=good, is_open=True).rep == reps[1]
    assert not Assignment.objects.filter(lead=not_mql).exists()
    assert QueueReview.objects.filter(lead=good, reviewer=marketer).exists()


def test_hand_off_to_a_chosen_team(marketer, team, mql):
    other = Team.objects.create(name="Enterprise")
    TeamMembership.objects.create(team=other, rep=factories.sdr(username="sdr.ent"))
    lead = mql()

    response = client_for(marketer).post(f"{QUEUE}hand-off/", {"leads": [lead.pk], "team": other.pk}, format="json")

    assert response.json()["results"][0]["ok"] is True
    assert Assignment.objects.get(lead=lead).team == other


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"leads": []}, "leads"),
        ({}, "leads"),
        ({"leads": ["abc"]}, "leads"),
        ({"leads": "1"}, "leads"),
        ({"leads": [1], "team": 999999}, "team"),
        ({"leads": [1], "rep": 3}, "rep"),
    ],
)
def test_bad_hand_off_requests_are_400_and_write_nothing(marketer, team, mql, payload, field):
    lead = mql()
    payload = {**payload, "leads": [lead.pk]} if payload.get("leads") == [1] else payload

    response = client_for(marketer).post(f"{QUEUE}hand-off/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Assignment.objects.exists()


def test_bulk_nurture_and_disqualify_with_a_reason_from_the_list(marketer, mql):
    first, second = mql(), mql()
    client = client_for(marketer)

    nurture = client.post(
        f"{QUEUE}nurture/", {"leads": [first.pk], "reason": "bad_timing", "note": "Q3"}, format="json"
    )
    junk = client.post(f"{QUEUE}disqualify/", {"leads": [second.pk], "reason": "student"}, format="json")

    assert nurture.json()["results"] == [{"lead": first.pk, "ok": True, "message": "Sent back to nurture."}]
    assert junk.json()["results"] == [{"lead": second.pk, "ok": True, "message": "Disqualified."}]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage, second.stage) == (Stage.RECYCLED, Stage.DISQUALIFIED)
    assert first.transitions.latest().reason.startswith("Not now / timing: Q3 (nurture until ")
    assert Rejection.objects.get(lead=second).reason.code == "student"


@pytest.mark.parametrize(
    ("url", "reason", "message"),
    [
        ("nurture", "student", "“student” is not a reason to send a lead back to nurture"),
        ("disqualify", "bad_timing", "“bad_timing” is not a reason to disqualify a lead"),
        ("disqualify", "made_up", "choose one of: student, competitor"),
        ("nurture", "", "may not be blank"),
    ],
)
def test_a_wrong_reason_is_one_400_naming_reason_and_nothing_moves(marketer, mql, url, reason, message):
    lead = mql()

    response = client_for(marketer).post(f"{QUEUE}{url}/", {"leads": [lead.pk], "reason": reason}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    assert message in response.json()["reason"][0]
    assert written(lead)[0] == Stage.MQL


def test_a_handed_off_lead_is_no_longer_the_queues_to_nurture(marketer, team, mql):
    lead = mql()
    hand_off(lead, marketer)

    response = client_for(marketer).post(
        f"{QUEUE}nurture/", {"leads": [lead.pk], "reason": "bad_timing"}, format="json"
    )

    assert response.json()["results"][0]["ok"] is False
    assert written(lead)[0] == Stage.MQL


def test_an_inactive_reason_is_refused(marketer, mql):
    RejectionReason.objects.filter(code="student").update(is_active=False)

    response = client_for(marketer).post(
        f"{QUEUE}disqualify/", {"leads": [mql().pk], "reason": "student"}, format="json"
    )

    assert response.status_code == 400


# --- The SLA board ----------------------------------------------------------------------------


@pytest.fixture
def board(marketer, team, reps, mql):
    """Three leads handed off round robin at different times: ana's is breached (2 h ago, 60 min
    target), ben's at risk (40 min ago, warned at 30), cai's on track (just now)."""
    now = timezone.now()
    return {
        "breached": hand_off(mql(), marketer, at=now - timedelta(hours=2)),
        "at_risk": hand_off(mql(), marketer, at=now - timedelta(minutes=40)),
        "on_track": hand_off(mql(), marketer, at=now),
    }


def test_manager_sees_every_open_assignment_soonest_due_first_with_its_clock(manager, board, reps):
    response = client_for(manager).get(ASSIGNMENTS)

    assert response.status_code == 200, response.json()
    assert ids(response) == [board[key].pk for key in ("breached", "at_risk", "on_track")]
    row = response.json()["results"][0]
    assert row["rep"] == {"id": reps[0].pk, "name": reps[0].get_full_name()}
    assert row["team"] == {"id": board["breached"].team_id, "name": "Inbound"}
    assert row["lead"]["id"] == board["breached"].lead_id
    clock = board["breached"].clock
    assert row["clock"]["status"] == "breached"
    assert row["clock"]["policy"] == "Test 60"
    assert set(row["clock"]) == {"started_at", "warn_at", "due_at", "first_touch_at", "status", "policy"}
    assert row["clock"]["due_at"] == clock.due_at.isoformat().replace("+00:00", "Z")
    assert [r["clock"]["status"] for r in response.json()["results"]] == ["breached", "at_risk", "on_track"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("breached", ["breached"]),
        ("at_risk", ["at_risk"]),
        ("on_track", ["on_track"]),
        (["at_risk", "breached"], ["breached", "at_risk"]),
    ],
)
def test_status_filter_is_derived_at_request_time(manager, board, status, expected):
    response = client_for(manager).get(ASSIGNMENTS, {"status": status})

    assert ids(response) == [board[key].pk for key in expected]


def test_touched_assignments_filter_as_met(manager, board):
    services.touch_log(lead_id=board["on_track"].lead_id, user=board["on_track"].rep, kind="call")

    response = client_for(manager).get(ASSIGNMENTS, {"status": "met"})

    assert ids(response) == [board["on_track"].pk]


def test_manager_filters_by_rep_and_team(manager, board, reps):
    client = client_for(manager)

    assert ids(client.get(ASSIGNMENTS, {"rep": reps[1].pk})) == [board["at_risk"].pk]
    assert len(ids(client.get(ASSIGNMENTS, {"team": board["at_risk"].team_id}))) == 3
    other = Team.objects.create(name="Empty")
    assert ids(client.get(ASSIGNMENTS, {"team": other.pk})) == []


def test_an_sdr_sees_only_their_own_assignments_in_the_queryset(board, reps):
    client = client_for(reps[1])

    assert ids(client.get(ASSIGNMENTS)) == [board["at_risk"].pk]
    # Asking for someone else's does not widen the scope.
    assert ids(client.get(ASSIGNMENTS, {"rep": reps[0].pk})) == []
    assert ids(client.get(ASSIGNMENTS, {"status": "breached"})) == []


def test_closed_assignments_leave_the_board(manager, board):
    services.lead_reject(
        lead_id=board["breached"].lead_id, user=board["breached"].rep, to=Stage.RECYCLED, reason_code="bad_timing"
    )

    assert board["breached"].pk not in ids(client_for(manager).get(ASSIGNMENTS))


def test_marketers_read_the_whole_board(marketer, board):
    assert len(ids(client_for(marketer).get(ASSIGNMENTS))) == 3


@pytest.mark.parametrize(("params", "field"), [({"status": "late"}, "status"), ({"rep": "x"}, "rep")])
def test_board_bad_parameters_are_400(manager, board, params, field):
    response = client_for(manager).get(ASSIGNMENTS, params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


# --- Reassignment -----------------------------------------------------------------------------


def test_manager_reassigns_to_a_chosen_rep_with_a_new_clock(manager, assigned, reps):
    old = Assignment.objects.get(lead=assigned, is_open=True)

    response = client_for(manager).post(
        lead_url(assigned, "reassign"), {"rep": reps[2].pk, "reason": "Speaks German"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["rep"]["id"] == reps[2].pk
    assert body["clock"]["status"] == "on_track"
    old.refresh_from_db()
    assert (old.is_open, old.end_reason) == (False, "reassigned")
    assert body["id"] != old.pk
    assert Notification.objects.filter(kind=NotificationKind.REASSIGNED, lead=assigned).count() == 2


def test_reassign_without_a_rep_takes_the_next_in_the_rotation(manager, assigned, reps):
    response = client_for(manager).post(lead_url(assigned, "reassign"), {}, format="json")

    assert response.json()["rep"]["id"] == reps[1].pk


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"rep": 999999}, "rep", "Choose an active rep"),
        ({"rep": "ana"}, "rep", "A valid integer is required."),
        ({"rep_id": 1}, "rep_id", "Unknown field"),
    ],
)
def test_bad_reassignments_are_400(manager, assigned, payload, field, message):
    before = written(assigned)

    response = client_for(manager).post(lead_url(assigned, "reassign"), payload, format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert written(assigned) == before


def test_reassigning_the_current_rep_or_an_unassigned_lead_is_400(manager, assigned, reps, mql):
    client = client_for(manager)

    same = client.post(lead_url(assigned, "reassign"), {"rep": reps[0].pk}, format="json")
    unassigned = client.post(lead_url(mql(), "reassign"), {}, format="json")

    assert same.json() == {"rep": ["The lead is already assigned to this rep."]}
    assert unassigned.json() == {"lead": ["This lead is not assigned to anyone; hand it off instead."]}


# --- Work on one lead -------------------------------------------------------------------------


def test_the_assigned_rep_logs_a_touch_which_stops_the_clock(assigned, reps):
    response = client_for(reps[0]).post(
        lead_url(assigned, "touches"), {"kind": "email", "note": " Intro sent "}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["note"], body["by"]["id"]) == ("email", "Intro sent", reps[0].pk)
    assert Activity.objects.get(pk=body["id"]).type_id == "sales_email"
    clock = Assignment.objects.get(lead=assigned).clock
    assert clock.status == SlaStatus.MET


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({}, "kind"),
        ({"kind": "call", "at": "tomorrow"}, "at"),
        ({"kind": "call", "at": (timezone.now() + timedelta(days=1)).isoformat()}, "at"),
        ({"kind": "call", "when": "now"}, "when"),
    ],
)
def test_bad_touches_are_400_and_write_nothing(assigned, reps, payload, field):
    before = written(assigned)

    response = client_for(reps[0]).post(lead_url(assigned, "touches"), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert written(assigned) == before


def test_accept_moves_the_lead_to_sal_and_twice_is_a_409(assigned, reps):
    client = client_for(reps[0])

    response = client.post(lead_url(assigned, "accept"))
    again = client.post(lead_url(assigned, "accept"))

    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "sal"
    assert Assignment.objects.get(lead=assigned).clock.first_touch_at is not None
    assert again.status_code == 409
    assert again.json()["code"] == "same_stage"


def test_reject_back_to_marketing_with_a_reason(assigned, reps):
    response = client_for(reps[0]).post(
        lead_url(assigned, "reject"), {"to": "recycled", "reason": "bad_timing", "note": "Budget opens in Q3"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "recycled"
    rejection = Rejection.objects.get(lead=assigned)
    assert (rejection.reason.code, rejection.side, rejection.note) == ("bad_timing", "sales", "Budget opens in Q3")
    assert not Assignment.objects.filter(lead=assigned, is_open=True).exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"to": "recycled"}, "reason", "Choose a reason from the list"),
        ({"to": "recycled", "reason": "student"}, "reason", "“Student” is not a reason to back to nurture."),
        ({"to": "sql", "reason": "other"}, "to", "“sql” is not one of: recycled, disqualified."),
        ({"reason": "other"}, "to", "This field is required."),
    ],
)
def test_bad_rejections_are_400_naming_the_field(assigned, reps, payload, field, message):
    before = written(assigned)

    response = client_for(reps[0]).post(lead_url(assigned, "reject"), payload, format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert written(assigned) == before


# --- Discovery calls with BANT ----------------------------------------------------------------


def test_missing_bant_is_400_naming_exactly_what_is_missing_and_writes_nothing(assigned, reps):
    before = written(assigned)

    response = client_for(reps[0]).post(
        lead_url(assigned, "discovery-calls"),
        {"budget_status": "approved", "decision_maker": "  ", "outcome": "qualified"},
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == BANT_FIELDS - {"budget_status"}
    assert errors == {
        "authority_role": ["Authority: say what role the contact plays in the decision."],
        "decision_maker": ["Authority: say who makes the decision."],
        "need_pain": ["Need: describe the problem in the prospect's words."],
        "need_use_case": ["Need: describe what they would use the product for."],
        "timeframe": ["Timing: choose the timeframe."],
        "expected_decision_date": ["Timing: give the expected decision date."],
    }
    assert written(assigned) == before
    assert Assignment.objects.get(lead=assigned).clock.first_touch_at is None


def test_an_empty_call_names_every_bant_field_and_the_outcome(assigned, reps):
    response = client_for(reps[0]).post(lead_url(assigned, "discovery-calls"), {}, format="json")

    assert set(response.json()) == {*BANT_FIELDS, "outcome"}
    assert response.json()["outcome"] == ["Choose the outcome of the call."]


def test_the_policy_refusal_says_which_criteria_failed(assigned, reps):
    before = written(assigned)
    payload = call_payload(budget_status="none", authority_role="end_user", timeframe="later")

    response = client_for(reps[0]).post(lead_url(assigned, "discovery-calls"), payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["outcome"]
    messages = response.json()["outcome"]
    assert messages[0] == "Not qualified under the qualification policy:"
    assert "Budget: “No budget” does not qualify" in messages[1]
    assert "Authority: an end user does not qualify" in messages[2]
    assert "Timing: “More than a year” is too far out" in messages[3]
    assert written(assigned) == before


def test_a_qualified_call_converts_and_answers_with_the_opportunity(assigned, reps):
    response = client_for(reps[0]).post(lead_url(assigned, "discovery-calls"), call_payload(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["lead_stage"] == "sql"
    assert body["call"]["outcome"] == "qualified"
    assert body["call"]["sdr"]["id"] == reps[0].pk
    assert body["call"]["policy_verdict"] == []
    opportunity = Opportunity.objects.get(lead=assigned)
    assert body["opportunity"]["id"] == body["call"]["opportunity"] == opportunity.pk
    assert body["opportunity"]["amount"] == "48000.00"
    assert body["opportunity"]["owner"]["id"] == reps[0].pk
    assert body["opportunity"]["name"].startswith("Globex — Route and track")
    assigned.refresh_from_db()
    assert (assigned.stage, assigned.qualifying_call_id) == (Stage.SQL, body["call"]["id"])


def test_a_follow_up_call_is_logged_without_converting(assigned, reps):
    payload = call_payload(outcome="follow_up", budget_status="unknown")

    response = client_for(reps[0]).post(lead_url(assigned, "discovery-calls"), payload, format="json")

    assert response.status_code == 201
    assert (response.json()["lead_stage"], response.json()["opportunity"]) == ("mql", None)
    assert response.json()["call"]["policy_verdict"]  # the criteria not met yet, kept on the call


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"budget_status": "loads"}, "budget_status", "“loads” is not one of: approved, planned, none, unknown."),
        ({"budget_currency": "dollars"}, "budget_currency", "three-letter code"),
        ({"expected_decision_date": "soon"}, "expected_decision_date", "Date has wrong format"),
        ({"policy_verdict": []}, "policy_verdict", "This field is read-only."),
        ({"sdr": 1}, "sdr", "This field is read-only."),
        ({"mood": "great"}, "mood", "Unknown field"),
    ],
)
def test_bad_call_fields_are_400_naming_them(assigned, reps, overrides, field, message):
    before = written(assigned)

    response = client_for(reps[0]).post(lead_url(assigned, "discovery-calls"), call_payload(**overrides), format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert written(assigned) == before


def test_list_a_leads_discovery_calls_newest_first(assigned, reps, marketer):
    client = client_for(reps[0])
    # Held as early as a call can be: when the lead was assigned (not before, see test_recorded_facts).
    assigned_at = Assignment.objects.get(lead=assigned, is_open=True).assigned_at
    first = client.post(
        lead_url(assigned, "discovery-calls"),
        call_payload(outcome="follow_up", held_at=assigned_at.isoformat()),
        format="json",
    ).json()["call"]
    second = client.post(lead_url(assigned, "discovery-calls"), call_payload(), format="json").json()["call"]

    response = client_for(marketer).get(lead_url(assigned, "discovery-calls"))

    assert response.status_code == 200
    assert [call["id"] for call in response.json()] == [second["id"], first["id"]]
    assert response.json()[0]["opportunity"] is not None
    assert response.json()[1]["opportunity"] is None


def test_convert_later_with_a_qualified_call(assigned, reps):
    client = client_for(reps[0])
    logged = client.post(lead_url(assigned, "discovery-calls"), call_payload(convert=False), format="json").json()
    assert (logged["lead_stage"], logged["opportunity"]) == ("mql", None)

    response = client.post(lead_url(assigned, "convert"), {"call": logged["call"]["id"]}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["discovery_call"] == logged["call"]["id"]
    assert response.json()["lead"]["stage"] == "sql"
    assert Opportunity.objects.filter(lead=assigned).count() == 1


def test_convert_refuses_a_call_that_did_not_qualify_or_is_not_the_leads(assigned, reps):
    client = client_for(reps[0])
    follow_up = client.post(
        lead_url(assigned, "discovery-calls"), call_payload(outcome="follow_up"), format="json"
    ).json()["call"]
    before = written(assigned)

    not_qualified = client.post(lead_url(assigned, "convert"), {"call": follow_up["id"]}, format="json")
    unknown = client.post(lead_url(assigned, "convert"), {"call": 999999}, format="json")

    assert not_qualified.json() == {"call": ["Only a call whose outcome is “qualified” converts a lead."]}
    assert unknown.json() == {"call": ["That discovery call is not one of this lead's."]}
    assert written(assigned) == before


def test_no_sql_without_a_qualifying_call_through_the_transition_endpoint(manager):
    lead = factories.lead_at_stage(Stage.SAL)

    response = client_for(manager).post(f"{API}/leads/{lead.pk}/transition/", {"to": "sql"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "bant_required"
    assert "without a logged discovery call" in body["detail"]
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert not Opportunity.objects.filter(lead=lead).exists()


def test_the_owner_advances_an_sql_to_opportunity_then_customer(assigned, reps):
    client = client_for(reps[0])
    client.post(lead_url(assigned, "discovery-calls"), call_payload(), format="json")

    to_opportunity = client.post(lead_url(assigned, "advance"), {"to": "opportunity"}, format="json")
    to_customer = client.post(lead_url(assigned, "advance"), {"to": "customer", "reason": "Signed"}, format="json")

    assert to_opportunity.json()["stage"] == "opportunity"
    assert to_customer.json()["stage"] == "customer"
    assert assigned.transitions.latest().reason == "Signed"


def test_advance_refuses_other_stages_and_skipping(assigned, reps):
    client = client_for(reps[0])

    bad_to = client.post(lead_url(assigned, "advance"), {"to": "sql"}, format="json")
    too_early = client.post(lead_url(assigned, "advance"), {"to": "customer"}, format="json")

    assert bad_to.status_code == 400
    assert "to" in bad_to.json()
    assert too_early.status_code == 409


@pytest.mark.parametrize("action", ["touches", "accept", "reject", "discovery-calls", "convert", "advance", "reassign"])
def test_actions_on_an_unknown_lead_are_404(manager, action):
    assert client_for(manager).post(f"{API}/leads/999999/{action}/", {}, format="json").status_code == 404


# --- Permissions: who may do what ----------------------------------------------------------------


@pytest.fixture
def scenario(marketer, manager, sdr, no_role_user, team, reps, mql):
    """A lead assigned to reps[0] (the assigned rep); `sdr` is another SDR, in no team."""
    lead = mql()
    hand_off(lead, marketer)
    users = {
        "marketer": marketer,
        "rep": reps[0],
        "other_sdr": sdr,
        "manager": manager,
        "no_role": no_role_user,
        "anonymous": None,
    }
    return lead, users


def _prepare(what: str, lead: Lead, rep: Any) -> dict[str, Any]:
    """Reach the state the action needs, through the services; return its request body."""
    if what == "convert":
        call = services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(), convert=False)
        return {"call": call.pk}
    if what == "advance":
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
        return {"to": "opportunity"}
    return {
        "hand-off": {"leads": [lead.pk]},
        "nurture": {"leads": [lead.pk], "reason": "bad_timing"},
        "reassign": {},
        "touches": {"kind": "call"},
        "reject": {"to": "recycled", "reason": "bad_timing"},
        "call": call_payload(),
        "read": {},
    }.get(what, {})


ENDPOINTS: dict[str, tuple[str, str]] = {
    "queue": ("get", QUEUE),
    "hand-off": ("post", f"{QUEUE}hand-off/"),
    "nurture": ("post", f"{QUEUE}nurture/"),
    "assignments": ("get", ASSIGNMENTS),
    "reassign": ("post", "reassign"),
    "touches": ("post", "touches"),
    "accept": ("post", "accept"),
    "reject": ("post", "reject"),
    "call": ("post", "discovery-calls"),
    "calls": ("get", "discovery-calls"),
    "convert": ("post", "convert"),
    "advance": ("post", "advance"),
    "opportunities": ("get", OPPORTUNITIES),
    "reasons": ("get", REASONS),
    "notifications": ("get", NOTIFICATIONS),
    "read": ("post", f"{NOTIFICATIONS}read/"),
}

ALLOWED = {
    #                marketer, rep, other_sdr, manager, no_role
    "queue":         (200, 403, 403, 200, 403),
    "hand-off":      (200, 403, 403, 200, 403),
    "nurture":       (200, 403, 403, 200, 403),
    "assignments":   (200, 200, 200, 200, 403),
    "reassign":      (403, 403, 403, 200, 403),
    "touches":       (403, 201, 403, 201, 403),
    "accept":        (403, 200, 403, 200, 403),
    "reject":        (403, 200, 403, 200, 403),
    "call":          (403, 201, 403, 201, 403),
    "calls":         (200, 200, 200, 200, 403),
    "convert":       (403, 201, 403, 201, 403),
    "advance":       (403, 200, 403, 200, 403),
    "opportunities": (200, 200, 200, 200, 403),
    "reasons":       (200, 200, 200, 200, 403),
    "notifications": (200, 200, 200, 200, 200),  # everyone reads their own
    "read":          (200, 200, 200, 200, 200),
}  # fmt: skip
ROLES = ("marketer", "rep", "other_sdr", "manager", "no_role")
MATRIX = [(what, role, statuses[i]) for what, statuses in ALLOWED.items() for i, role in enumerate(ROLES)]


def _call(client: APIClient, what: str, lead: Lead, body: dict[str, Any]) -> Any:
    method, url = ENDPOINTS[what]
    url = url if url.startswith("/") else lead_url(lead, url)
    return client.get(url) if method == "get" else client.post(url, body, format="json")


@pytest.mark.parametrize(("what", "role", "status"), MATRIX)
def test_permissions_matrix(scenario, what, role, status):
    lead, users = scenario
    body = _prepare(what, lead, users["rep"])
    before = written(lead)

    response = _call(client_for(users[role]), what, lead, body)

    assert response.status_code == status, response.json()
    if status == 403:
        assert response.json()["detail"]
        assert written(lead) == before  # a refused action writes nothing


@pytest.mark.parametrize("what", list(ENDPOINTS))
def test_anonymous_requests_are_401_with_a_token_challenge(scenario, what):
    lead, _ = scenario

    response = _call(client_for(None), what, lead, {})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_sdr_cannot_act_on_a_lead_assigned_to_someone_else(assigned, reps):
    """Even a teammate: only the assigned rep (or a manager) acts; the service's words come back."""
    client = client_for(reps[1])
    before = written(assigned)

    touch = client.post(lead_url(assigned, "touches"), {"kind": "call"}, format="json")
    call = client.post(lead_url(assigned, "discovery-calls"), call_payload(), format="json")

    assert touch.status_code == call.status_code == 403
    assert touch.json() == {"detail": "Only the rep this lead is assigned to (or a manager) can log touches on it."}
    assert call.json() == {"detail": "Only the rep this lead is assigned to (or a manager) can log its discovery call."}
    assert written(assigned) == before


def test_a_reassigned_rep_loses_the_lead(manager, assigned, reps):
    client_for(manager).post(lead_url(assigned, "reassign"), {"rep": reps[2].pk}, format="json")

    assert client_for(reps[0]).post(lead_url(assigned, "accept")).status_code == 403
    assert client_for(reps[0]).get(ASSIGNMENTS).json()["results"] == []
    assert client_for(reps[2]).post(lead_url(assigned, "accept")).status_code == 200


def test_token_auth_applies_the_same_rules(assigned, reps):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=reps[1]).key}")

    assert client.get(ASSIGNMENTS).status_code == 200
    assert client.post(lead_url(assigned, "accept")).status_code == 403


# --- Opportunities --------------------------------------------------------------------------------


@pytest.fixture
def opportunities(marketer, team, reps, mql):
    """One opportunity owned by reps[0], one by reps[1] (both converted through the API's services)."""
    made = []
    for rep in reps[:2]:
        lead = mql()
        assignment = hand_off(lead, marketer)
        assert assignment.rep == rep
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
        made.append(Opportunity.objects.get(lead=lead))
    return made


def test_opportunities_newest_first_with_lead_and_owner(manager, opportunities, reps):
    response = client_for(manager).get(OPPORTUNITIES)

    assert response.status_code == 200
    assert ids(response) == [opportunities[1].pk, opportunities[0].pk]
    row = response.json()["results"][1]
    assert row["owner"]["id"] == reps[0].pk
    assert row["lead"]["stage"] == "sql"
    assert row["amount"] == "48000.00"


def test_an_sdr_sees_only_the_opportunities_they_own(opportunities, reps, sdr):
    assert ids(client_for(reps[0]).get(OPPORTUNITIES)) == [opportunities[0].pk]
    assert ids(client_for(reps[1]).get(OPPORTUNITIES)) == [opportunities[1].pk]
    assert ids(client_for(sdr).get(OPPORTUNITIES)) == []


def test_marketers_read_every_opportunity(marketer, opportunities):
    assert len(ids(client_for(marketer).get(OPPORTUNITIES))) == 2


# --- Reasons --------------------------------------------------------------------------------------


def test_rejection_reasons_list_the_active_ones_with_their_use(sdr):
    RejectionReason.objects.filter(code="other").update(is_active=False)
    client = client_for(sdr)

    everything = client.get(REASONS).json()
    recycle = {reason["code"] for reason in client.get(REASONS, {"use": "recycle"}).json()}
    disqualify = {reason["code"] for reason in client.get(REASONS, {"use": "disqualify"}).json()}

    assert everything[0] == {"code": "student", "label": "Student", "use": "disqualify"}
    assert "other" not in {reason["code"] for reason in everything}
    assert {"bad_timing", "no_budget"} <= recycle
    assert "student" not in recycle
    assert {"student", "no_budget"} <= disqualify
    assert "bad_timing" not in disqualify
    bad = client.get(REASONS, {"use": "both"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["use"]


# --- Notifications --------------------------------------------------------------------------------


def test_notifications_are_your_own_newest_first(assigned, reps, manager):
    client_for(manager).post(lead_url(assigned, "reassign"), {"rep": reps[2].pk}, format="json")

    response = client_for(reps[0]).get(NOTIFICATIONS)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["kind"] for row in rows] == ["reassigned", "assigned"]
    assert all(row["lead"] == assigned.pk and row["is_read"] is False for row in rows)
    assert {n.recipient_id for n in Notification.objects.filter(pk__in=ids(response))} == {reps[0].pk}
    assert [row["kind"] for row in client_for(reps[2]).get(NOTIFICATIONS).json()["results"]] == ["reassigned"]


def test_mark_some_or_all_read_and_only_your_own(assigned, reps, manager):
    client_for(manager).post(lead_url(assigned, "reassign"), {"rep": reps[2].pk}, format="json")
    mine = list(Notification.objects.filter(recipient=reps[0]).order_by("id").values_list("pk", flat=True))
    theirs = Notification.objects.get(recipient=reps[2])
    client = client_for(reps[0])

    some = client.post(f"{NOTIFICATIONS}read/", {"ids": [mine[0], theirs.pk]}, format="json")

    assert some.json() == {"marked": 1, "unread": 1}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert ids(client.get(NOTIFICATIONS, {"unread": "true"})) == [mine[1]]
    assert ids(client.get(NOTIFICATIONS, {"unread": "false"})) == [mine[0]]
    assert client.post(f"{NOTIFICATIONS}read/", {}, format="json").json() == {"marked": 1, "unread": 0}
    assert client.get(NOTIFICATIONS, {"unread": "yes"}).status_code == 400


# --- Query counts ---------------------------------------------------------------------------------
# A request with a session costs: the user and the user's permissions with its groups' (2: the
# session itself is read from the cache); then what the endpoint reads — one query per list.


@pytest.mark.parametrize("n", [2, 20])
def test_queue_query_count_does_not_grow_with_the_page(marketer, mql, django_assert_num_queries, n):
    campaign = factories.CampaignFactory()
    for _ in range(n):
        mql(campaign=campaign)
    client = client_for(marketer)

    with django_assert_num_queries(3):
        response = client.get(QUEUE)

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [2, 12])
def test_assignments_query_count_does_not_grow_with_the_page(
    marketer, manager, team, mql, django_assert_num_queries, n
):
    for _ in range(n):
        hand_off(mql(campaign=factories.CampaignFactory()), marketer)
    client = client_for(manager)

    with django_assert_num_queries(3):
        response = client.get(ASSIGNMENTS)

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [1, 6])
def test_opportunities_query_count_does_not_grow_with_the_page(manager, django_assert_num_queries, n):
    for _ in range(n):
        factories.lead_at_stage(Stage.SQL)
    client = client_for(manager)

    with django_assert_num_queries(3):
        response = client.get(OPPORTUNITIES)

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [2, 20])
def test_notifications_query_count_does_not_grow_with_the_page(sdr, django_assert_num_queries, n):
    for i in range(n):
        services.notify(recipient=sdr, kind=NotificationKind.ASSIGNED, title=f"Lead {i}")
    client = client_for(sdr)

    # user (no permission is needed to read your own), then the page.
    with django_assert_num_queries(2):
        response = client.get(NOTIFICATIONS)

    assert len(response.json()["results"]) == n
