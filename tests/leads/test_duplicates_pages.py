"""The lead page's possible duplicates and the merge action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.models import Lead, LeadMerge
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins():
    company = CompanyFactory(name="Initech")
    survivor = LeadFactory(first_name="Peter", last_name="Gibbons", company=company, email="peter@initech.example")
    duplicate = LeadFactory(first_name="peter", last_name="GIBBONS", company=company, email="pgibbons@initech.example")
    ActivityFactory.create_batch(2, lead=duplicate)
    return survivor, duplicate


def test_the_lead_page_lists_likely_duplicates(client, sdr, twins):
    survivor, duplicate = twins
    client.force_login(sdr)
    page = client.get(reverse("leads:detail", args=[survivor.pk])).content.decode()
    assert "Possible duplicates" in page
    assert duplicate.email in page
    assert "Merge into this lead" not in page  # SDRs may look, not merge


def test_a_marketer_merges_and_the_history_says_so(client, marketer, twins):
    survivor, duplicate = twins
    client.force_login(marketer)
    response = client.post(reverse("leads:merge", args=[survivor.pk]), {"duplicate": duplicate.pk}, follow=True)
    text = response.content.decode()
    assert f"Merged {duplicate.email} into this lead: 2 activities and 1 stage changes moved." in text
    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    assert LeadMerge.objects.get().survivor == survivor
    assert f"<strong>Merged</strong> {duplicate.email}" in text


def test_merge_refusals_are_explained_and_change_nothing(client, marketer, twins):
    survivor, _ = twins
    client.force_login(marketer)
    response = client.post(reverse("leads:merge", args=[survivor.pk]), {"duplicate": survivor.pk}, follow=True)
    assert "Nothing was merged: A lead cannot be merged into itself." in response.content.decode()
    response = client.post(reverse("leads:merge", args=[survivor.pk]), {"duplicate": "x"}, follow=True)
    assert "Choose the duplicate" in response.content.decode()
    assert Lead.objects.count() == 2


def test_only_users_who_edit_leads_may_merge(client, sdr, twins):
    survivor, duplicate = twins
    client.force_login(sdr)
    assert client.post(reverse("leads:merge", args=[survivor.pk]), {"duplicate": duplicate.pk}).status_code == 403
    assert Lead.objects.filter(pk=duplicate.pk).exists()
