"""The rule Baton exists for — no lead reaches SQL without a qualifying call whose BANT is
complete — on every path a change can take: the page, the API, the admin (one lead and bulk),
the lifecycle service and the database. (Service and database paths: test_qualification.py.)"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from leads.lifecycle import Stage
from leads.models import Lead
from tests.factories import lead_at_stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def accepted():
    return [lead_at_stage(Stage.SAL) for _ in range(2)]


def assert_still_sal(*leads: Lead) -> None:
    for lead in leads:
        lead.refresh_from_db()
        assert lead.stage == Stage.SAL
        assert lead.qualifying_call_id is None
        assert not lead.transitions.filter(to_stage=Stage.SQL).exists()


def test_the_lead_page_refuses_a_forged_move_to_sql(client, manager, accepted):
    client.force_login(manager)
    response = client.post(reverse("leads:transition", args=[accepted[0].pk]), {"to": "sql", "reason": "trust me"})
    assert response.status_code in (200, 302)
    assert_still_sal(accepted[0])


def test_the_api_refuses_sql_without_a_call(manager, accepted):
    api = APIClient()
    api.force_authenticate(manager)
    response = api.post(f"/api/v1/leads/{accepted[0].pk}/transition/", {"to": "sql", "reason": "x"}, format="json")
    assert response.status_code == 409
    assert "discovery call" in response.json()["detail"]
    assert_still_sal(accepted[0])


def test_the_admin_bulk_move_refuses_sql_for_every_lead(admin_client, accepted):
    changelist = reverse("admin:leads_lead_changelist")
    response = admin_client.post(
        changelist,
        {"action": "move_to_stage", "_selected_action": [lead.pk for lead in accepted], "to_stage": "sql",
         "reason": "bulk shortcut"},
        follow=True,
    )  # fmt: skip
    notes = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "discovery call" in notes
    assert_still_sal(*accepted)
