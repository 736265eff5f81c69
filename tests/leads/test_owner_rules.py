"""Who may own a lead, and who may change its owner (issue 14, item 5): only managers reassign a
lead that sales holds — and their change of `owner` is a reassignment, so the assignment and its
clock follow — and `owner` takes only active users with a role that may own the lead's stage. The
rule is in the service (`leads.services.lead_update`, asking handoff), so the API, the edit page
and the admin all keep it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from handoff import services
from handoff.models import Assignment, AssignmentEnd, Opportunity, SlaClock
from leads.lifecycle import Stage
from tests import factories

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def handed(marketer, team, reps, mql):  # type: ignore[no-untyped-def]
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    return lead, assignment


def test_a_marketer_cannot_reassign_a_lead_sales_holds_by_patching_its_owner(marketer, reps, handed):
    lead, assignment = handed
    other = next(rep for rep in reps if rep.pk != assignment.rep_id)

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {"owner": other.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "owner": [f"Only managers reassign a lead sales holds (it is with {assignment.rep}); ask a manager."]
    }
    lead.refresh_from_db()
    assert lead.owner_id == assignment.rep_id
    assert Assignment.objects.get(lead=lead, is_open=True).pk == assignment.pk


def test_a_marketer_cannot_take_the_owner_off_an_sql(marketer, handed):
    lead, assignment = handed
    services.call_log(lead_id=lead.pk, user=assignment.rep, data=factories.qualified_bant())

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {"owner": None}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "owner": [f"Only managers reassign a lead sales holds (it is with {assignment.rep}); ask a manager."]
    }
    lead.refresh_from_db()
    assert (lead.stage, lead.owner_id) == (Stage.SQL, assignment.rep_id)


def test_a_manager_moves_an_sql_and_its_open_opportunity_to_another_rep(manager, reps, handed):
    lead, assignment = handed
    services.call_log(lead_id=lead.pk, user=assignment.rep, data=factories.qualified_bant())
    other = next(rep for rep in reps if rep.pk != assignment.rep_id)

    response = client_for(manager).patch(f"{LEADS}{lead.pk}/", {"owner": other.pk}, format="json")

    assert response.status_code == 200, response.json()
    assert Opportunity.objects.get(lead=lead).owner_id == other.pk


def test_a_managers_change_of_owner_is_a_reassignment_with_a_new_clock(manager, reps, handed):
    lead, assignment = handed
    other = next(rep for rep in reps if rep.pk != assignment.rep_id)

    response = client_for(manager).patch(f"{LEADS}{lead.pk}/", {"owner": other.pk}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["owner"]["id"] == other.pk
    assignment.refresh_from_db()
    assert (assignment.is_open, assignment.end_reason) == (False, AssignmentEnd.REASSIGNED)
    assert SlaClock.objects.get(assignment=assignment).stopped_at is not None
    current = Assignment.objects.get(lead=lead, is_open=True)
    assert current.rep_id == other.pk
    assert SlaClock.objects.get(assignment=current).stopped_at is None


@pytest.mark.parametrize("who", ["marketer", "no_role_user"])
def test_a_lead_sales_holds_is_owned_by_a_sales_rep_only(manager, handed, who, request):
    lead, assignment = handed
    user = request.getfixturevalue(who)

    response = client_for(manager).patch(f"{LEADS}{lead.pk}/", {"owner": user.pk}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "owner": [f"{user.get_full_name() or user.get_username()} does not work leads: a lead sales holds is owned "
                  "by a sales rep or a manager."]
    }  # fmt: skip
    lead.refresh_from_db()
    assert lead.owner_id == assignment.rep_id


def test_an_owner_needs_a_role(marketer, no_role_user):
    lead = factories.LeadFactory()

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {"owner": no_role_user.pk}, format="json")

    assert response.status_code == 400
    assert "has no role in Baton" in response.json()["owner"][0]
    lead.refresh_from_db()
    assert lead.owner_id is None


def test_an_inactive_user_is_no_owner(marketer, sdr):
    lead = factories.LeadFactory()
    sdr.is_active = False
    sdr.save()

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {"owner": sdr.pk}, format="json")

    assert response.status_code == 400
    assert "owner" in response.json()


def test_a_marketer_still_sets_the_owner_of_a_lead_marketing_holds(marketer, sdr):
    lead = factories.lead_at_stage(Stage.MQL)

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {"owner": sdr.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["owner"]["id"] == sdr.pk


def test_the_edit_page_keeps_the_rule(client, marketer, reps, handed):
    lead, assignment = handed
    other = next(rep for rep in reps if rep.pk != assignment.rep_id)
    client.force_login(marketer)

    response = client.post(
        reverse("leads:edit", args=[lead.pk]),
        {"first_name": lead.first_name, "last_name": lead.last_name, "job_title": lead.job_title,
         "source_channel": lead.source_channel, "owner": other.pk},
    )  # fmt: skip

    assert response.status_code == 200
    assert "Only managers reassign a lead sales holds" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner_id == assignment.rep_id


def test_the_admin_keeps_the_rule_and_says_so(client, marketer, reps, handed):
    lead, assignment = handed
    other = next(rep for rep in reps if rep.pk != assignment.rep_id)
    marketer.is_staff = True
    marketer.save(update_fields=["is_staff"])
    client.force_login(marketer)
    change = reverse("admin:leads_lead_change", args=[lead.pk])
    page = client.get(change)
    form = page.context["adminform"].form
    data = {name: ("" if value is None else getattr(value, "pk", value)) for name, value in form.initial.items()}
    data = {name: value for name, value in data.items() if name in form.fields}
    data["owner"] = other.pk
    for formset in page.context["inline_admin_formsets"]:  # the inlines' management forms, as the page has them
        management = formset.formset.management_form
        data.update({management.add_prefix(name): value for name, value in management.initial.items()})

    response = client.post(change, data, follow=True)

    assert response.status_code == 200
    notes = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("Only managers reassign a lead sales holds" in note for note in notes), notes
    lead.refresh_from_db()
    assert lead.owner_id == assignment.rep_id
