"""Issue 14's "rules bypassed" defects, each as it was seen: the generic stage change (the API's
`transition`, the lead page, the admin) skipped the handoff's services, and a lead qualified once
could never be qualified again. The full comparison of every door is test_one_way_to_change_stage.py."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from handoff import services
from handoff.models import Assignment, Opportunity, SlaClock
from leads import services as lead_services
from leads.lifecycle import Actor, Stage
from tests import factories
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_a_marketer_cannot_disqualify_through_transition_a_lead_sales_was_handed(marketer, team, reps, mql):
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)

    response = client_for(marketer).post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to": "disqualified", "reason": "Looks like a student"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "lead": [f"This lead is already handed off to {assignment.rep}; the rep (or a manager) rejects it now."]
    }
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert Assignment.objects.get(pk=assignment.pk).is_open
    assert SlaClock.objects.get(assignment=assignment).stopped_at is None


def test_a_manager_disqualifying_through_transition_closes_the_assignment_and_its_clock(
    marketer, manager, team, reps, mql
):
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)

    response = client_for(manager).post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to": "disqualified", "reason": "A competitor"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "disqualified"
    assignment.refresh_from_db()
    assert (assignment.is_open, assignment.end_reason) == (False, "rejected")
    assert SlaClock.objects.get(assignment=assignment).stopped_at is not None
    rejection = lead.rejections.get()
    assert (rejection.side, rejection.reason.code, rejection.note) == ("sales", "other", "A competitor")


def test_a_marketer_cannot_move_an_sql_to_opportunity_through_transition(marketer):
    lead = factories.lead_at_stage(Stage.SQL)

    advance = client_for(marketer).post(f"/api/v1/leads/{lead.pk}/advance/", {"to": "opportunity"}, format="json")
    transition = client_for(marketer).post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to": "opportunity", "reason": "Deal started"}, format="json"
    )

    assert advance.status_code == 403
    assert transition.status_code == 403
    assert transition.json() == {"detail": "Only the lead's owner or a manager can move its opportunity on."}
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_transition_to_sal_is_left_to_the_acceptance(manager, marketer, team, reps, mql):
    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)

    response = client_for(manager).post(
        f"/api/v1/leads/{lead.pk}/transition/", {"to": "sal", "reason": "Called"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "own_door"
    assert f"POST /api/v1/leads/{lead.pk}/accept/" in response.json()["detail"]
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_a_lead_recycled_after_it_was_qualified_becomes_sql_again_with_a_new_opportunity(
    marketer, manager, team, reps, mql
):
    from handoff.models import OpportunityStatus  # new with re-qualification

    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    rep = Assignment.objects.get(lead=lead, is_open=True).rep
    first_call = services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
    first = Opportunity.objects.get(lead=lead)
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("Scoring model v1"))
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    rep = Assignment.objects.get(lead=lead, is_open=True).rep

    second_call = services.call_log(
        lead_id=lead.pk, user=rep, data=qualified_bant(need_use_case="Route the new region's demo requests")
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert lead.qualifying_call_id == second_call.pk != first_call.pk
    first.refresh_from_db()
    assert first.status == OpportunityStatus.LOST
    assert first.closed_at is not None
    second = Opportunity.objects.get(lead=lead, status=OpportunityStatus.OPEN)
    assert second.discovery_call_id == second_call.pk
    history = [(t.from_stage, t.to_stage) for t in lead.transitions.order_by("at", "id")]
    assert history.count(("mql", "sql")) == 2  # both passes are in the history
    assert history[-2:] == [("recycled", "mql"), ("mql", "sql")]
