"""Lead search by email: emails are stored lower-case, so any spelling of the prefix finds them."""

from __future__ import annotations

from django.urls import reverse

from leads.filters import LeadFilter
from leads.models import Lead
from tests.factories import LeadFactory


def test_email_search_ignores_the_case_typed(marketer):
    grace = LeadFactory(email="grace@navy.example", first_name="Grace", last_name="Hopper")
    LeadFactory(email="ada@engines.example", first_name="Ada", last_name="Lovelace")
    for typed in ("grace@navy", "GRACE@Navy", "Grace"):
        found = LeadFilter({"q": typed}, queryset=Lead.objects.all()).qs
        assert list(found.values_list("email", flat=True)) == [grace.email], typed


def test_the_list_page_finds_a_lead_by_an_upper_case_email(client, marketer):
    grace = LeadFactory(email="grace@navy.example")
    client.force_login(marketer)
    response = client.get(reverse("leads:list"), {"q": "GRACE@NAVY.EXAMPLE"})
    assert response.status_code == 200
    assert grace.email in response.content.decode()
