"""Ingestion's per-item answers, who may create leads and campaigns through it, and UTM values.

A bad item is that item's error and the others are stored; an SDR (who may record activities but
not create leads or campaigns) gets an error for an unknown email instead of a new lead; UTM values
are printable and length-capped wherever they arrive (activities, website forms, lead upsert).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from leads import api, ingestion, ingestion_sql
from leads.lifecycle import Actor
from leads.models import Activity, Campaign, Company, FormSource, Lead
from tests.factories import CampaignFactory, CompanyFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
API = Actor.rule_named("API: test")
ACTIVITIES = "/api/v1/activities/"


def item(n: int = 1, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "ada@analytical.io",
        "type": "page_view",
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "source_system": "hubspot",
        "external_id": f"evt-{n}",
    }
    data.update(overrides)
    return data


def post_batch(user: Any, body: Any) -> Any:
    client = APIClient(raise_request_exception=False)  # a 500 is an answer, as a sender sees it
    client.force_login(user)
    return client.post(ACTIVITIES, body, format="json")


def statuses(results: list[Any]) -> list[str]:
    return [r["status"] if isinstance(r, dict) else r.status for r in results]


# --- One bad item is that item's error ----------------------------------------------------------


BAD_ITEMS = [
    # (overrides, field, message): each item is wrong in one way only
    ({"email": "not-an-address"}, "email", "not a valid email"),
    ({"type": "telepathy"}, "type", "is not an activity type"),
    ({"occurred_at": "yesterday"}, "occurred_at", "is not an ISO 8601 date-time"),
    ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", "before 1970"),
    ({"external_id": "e" * 201}, "external_id", "At most 200 characters"),
    ({"external_id": "evt\n7"}, "external_id", "printable"),
    ({"source_system": "s" * 51}, "source_system", "At most 50 characters"),
    ({"source_system": "hub\u200bspot"}, "source_system", "printable"),
    ({"utm": {"utm_source": "g" * 201}}, "utm.utm_source", "At most 200 characters"),
    ({"utm": {"utm_medium": "cpc\r\nx"}}, "utm.utm_medium", "printable"),
    ({"utm": {"utm_campaign": "c" * 201}}, "utm.utm_campaign", "At most 200 characters"),
    ({"utm": {"utm_campaign": "spring\u200b-launch"}}, "utm.utm_campaign", "printable"),
    ({"utm": {"utm_campaign": "!!!"}}, "utm.utm_campaign", "no letter or digit"),
    ({"utm": {"utm_term": "t\x1b[31m"}}, "utm.utm_term", "printable"),
    ({"utm": {"utm_content": "c" * 201}}, "utm.utm_content", "At most 200 characters"),
    ({"email": "new@newco.io", "lead": {"first_name": "A\tda"}}, "lead.first_name", "control character"),
    ({"email": "new@newco.io", "lead": {"job_title": "x" * 201}}, "lead.job_title", "At most 200 characters"),
]


def test_each_bad_item_is_its_own_error_and_the_good_ones_are_stored(marketer):
    LeadFactory(email="ada@analytical.io")
    body = [item(0)]
    for n, (overrides, _, _) in enumerate(BAD_ITEMS, start=1):
        body += [item(n, **overrides), item(100 + n)]

    response = post_batch(marketer, body)

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert statuses(results) == ["created"] + ["error", "created"] * len(BAD_ITEMS)
    for n, (_, field, message) in enumerate(BAD_ITEMS, start=1):
        errors = results[2 * n - 1]["errors"]
        assert list(errors) == [field], (n, errors)
        assert message in errors[field][0], (n, errors)
    assert Activity.objects.count() == 1 + len(BAD_ITEMS)
    assert not Lead.objects.filter(email="new@newco.io").exists()
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"external_id": "evt\x00-1"}, "external_id"),
        ({"source_system": "hub\x00spot"}, "source_system"),
        ({"external_id": "evt-\ud800"}, "external_id"),
        ({"properties": {"note": "a\x00b"}}, "properties"),
        ({"properties": {"list": ["ok", {"deep": "\udfff"}]}}, "properties"),
        ({"properties": {"key\x00": 1}}, "properties"),
        ({"email": "new@newco.io", "lead": {"last_name": "Love\x00lace"}}, "lead.last_name"),
        ({"email": "new@newco.io", "utm": {"utm_source": "goo\x00gle"}}, "utm.utm_source"),
        ({"email": "new@newco.io", "utm": {"utm_campaign": "c\x00x"}}, "utm.utm_campaign"),
    ],
)
def test_text_the_database_cannot_store_is_that_items_error(overrides, field):
    """NUL and lone surrogates failed the whole batch in the database (PostgreSQL: DataError; SQLite:
    undecodable text). The API's parser refuses such bodies whole (crm.parsers); the service, which
    the CSV import and the admin also call, answers them per item."""
    LeadFactory(email="ada@analytical.io")

    results = ingestion.activities_ingest(items=[item(1, **overrides), item(2)], actor=API)

    assert statuses(results) == ["error", "created"]
    assert list(results[0].errors) == [field]
    assert Activity.objects.get().external_id == "evt-2"


def test_emoji_and_accents_in_properties_are_stored_as_sent():
    LeadFactory(email="ada@analytical.io")
    properties = {"title": "Prix réduit 😀", "tags": ["naïve", "日本"]}

    (result,) = ingestion.activities_ingest(items=[item(1, properties=properties)], actor=API)

    assert result.status == "created"
    assert Activity.objects.get().properties == properties


# --- Who may create leads and campaigns ----------------------------------------------------------


def test_an_sdr_gets_an_error_for_an_unknown_email_instead_of_a_new_lead(sdr):
    known = LeadFactory(email="ada@analytical.io")

    response = post_batch(
        sdr,
        [
            item(1, email="stranger@newco.io", lead={"first_name": "Eve"}, utm={"utm_campaign": "sdr-made"}),
            item(2, utm={"utm_campaign": "sdr-made-too"}),  # a known lead: stored, its campaign not made
        ],
    )

    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] == "error"
    assert first["errors"] == {"email": [ingestion.NO_LEAD_MESSAGE]}
    assert "you may not create leads" in first["errors"]["email"][0]
    assert (second["status"], second["lead_id"], second["lead_created"]) == ("created", known.pk, False)
    assert list(Lead.objects.values_list("email", flat=True)) == ["ada@analytical.io"]
    assert not Company.objects.filter(domain="newco.io").exists()
    assert not Campaign.objects.exists()


def test_a_sender_who_may_create_leads_but_not_campaigns_or_companies_gets_only_existing_ones():
    user = UserFactory(username="integration")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="leads", codename__in=["add_activity", "add_lead"])
    )
    CampaignFactory(slug="known-campaign")
    CompanyFactory(domain="known.io")

    response = post_batch(
        user,
        [
            item(1, email="ann@known.io", utm={"utm_campaign": "known-campaign"}),
            item(2, email="bob@unknown.io", utm={"utm_campaign": "unknown-campaign"}),
        ],
    )

    assert statuses(response.json()["results"]) == ["created", "created"]
    ann, bob = Lead.objects.get(email="ann@known.io"), Lead.objects.get(email="bob@unknown.io")
    assert (ann.company.domain, ann.campaign.slug) == ("known.io", "known-campaign")
    assert (bob.company, bob.campaign) == (None, None)
    assert list(Campaign.objects.values_list("slug", flat=True)) == ["known-campaign"]
    assert list(Company.objects.values_list("domain", flat=True)) == ["known.io"]


def test_a_marketer_creates_the_lead_its_company_and_campaign(marketer):
    response = post_batch(marketer, [item(1, email="new@newco.io", utm={"utm_campaign": "Spring Launch 2026"})])

    assert statuses(response.json()["results"]) == ["created"]
    lead = Lead.objects.get(email="new@newco.io")
    assert (lead.company.domain, lead.campaign.slug) == ("newco.io", "spring-launch-2026")


# --- UTM values: printable, capped, the campaign a valid slug -------------------------------------


@pytest.mark.parametrize(
    ("given", "slug"),
    [
        ("q4-brand", "q4-brand"),
        ("Q4_Brand", "q4_brand"),
        ("Spring Launch 2026", "spring-launch-2026"),
        ("  café/crème+2026.v1 ", "cafe-creme-2026-v1"),
        ("x" * 200, "x" * 200),
    ],
)
def test_utm_campaign_names_its_campaign_by_a_valid_slug(given, slug):
    (result,) = ingestion.activities_ingest(items=[item(email="new@newco.io", utm={"utm_campaign": given})], actor=API)

    assert result.status == "created"
    campaign = Lead.objects.get(email="new@newco.io").campaign
    assert campaign.slug == slug
    campaign.full_clean()  # a valid SlugField value, and a name that fits


def test_a_utm_campaign_spelt_differently_finds_the_same_campaign():
    CampaignFactory(slug="spring-launch")

    ingestion.activities_ingest(
        items=[item(1, email="a@x.io", utm={"utm_campaign": "Spring Launch"}), item(2, email="b@y.io",
               utm={"utm_campaign": "spring-launch"})],
        actor=API,
    )  # fmt: skip

    assert Campaign.objects.count() == 1
    assert Lead.objects.filter(campaign__slug="spring-launch").count() == 2


@pytest.fixture
def form_key(monkeypatch) -> str:
    monkeypatch.setattr(api._FormCaptureThrottle, "cache", LocMemCache("utm-tests-throttle", {}))
    _, key = ingestion.form_source_create(name="Website – contact us")
    return key


def capture(key: str, **fields: str) -> Any:
    client = APIClient(raise_request_exception=False)
    return client.post("/api/v1/forms/capture/", {"email": "ada@analytical.io", **fields}, format="json",
                       HTTP_X_BATON_FORM_KEY=key)  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("utm_source", "news\nletter", "printable"),
        ("utm_medium", "e\u200bmail", "printable"),
        ("utm_campaign", "c" * 201, "At most 200 characters"),
        ("utm_term", "t" * 201, "At most 200 characters"),
        ("utm_campaign", "???", "no letter or digit"),
    ],
)
def test_a_form_with_a_bad_utm_value_is_400_naming_it_and_stores_nothing(form_key, field, value, message):
    response = capture(form_key, **{field: value})

    assert response.status_code == 400, response.content
    assert message in response.json()[field][0]
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()
    assert not Campaign.objects.exists()


def test_a_form_names_its_campaign_by_the_slug_of_utm_campaign(form_key):
    response = capture(form_key, utm_source="google", utm_campaign="Spring Launch")

    assert response.status_code == 201
    assert Lead.objects.get().campaign.slug == "spring-launch"
    assert FormSource.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    ("utm", "field"),
    [({"utm_campaign": "spring\u200b"}, "utm.utm_campaign"), ({"utm_source": "goo\tgle"}, "utm.utm_source")],
)
def test_an_upsert_with_a_bad_utm_value_is_400_naming_it(marketer, utm, field):
    client = APIClient(raise_request_exception=False)
    client.force_login(marketer)

    response = client.put("/api/v1/leads/upsert/", {"email": "ada@analytical.io", "utm": utm}, format="json")

    assert response.status_code == 400, response.content
    assert "printable" in response.json()[field][0]
    assert not Lead.objects.exists()


def test_the_upsert_service_refuses_bad_utm_values_even_for_a_known_lead():
    LeadFactory(email="ada@analytical.io")

    with pytest.raises(ValidationError) as refused:
        ingestion.lead_upsert(email="ada@analytical.io", actor=API, fields={}, utm={"utm_medium": "x" * 201})

    assert "At most 200 characters" in refused.value.message_dict["utm.utm_medium"][0]


# --- The race-free insert under the lead creation -----------------------------------------------


@pytest.mark.parametrize("new", [0, 1, 3])
def test_inserting_leads_skips_those_already_stored_and_answers_the_ones_written(new):
    """What a batch meets when a concurrent request stored some of its new leads first."""
    LeadFactory(email="taken@acme.io")
    now = datetime.now(UTC)
    leads = [Lead(email="taken@acme.io", stage="lead", stage_changed_at=now)]
    leads += [Lead(email=f"new{n}@acme.io", stage="lead", stage_changed_at=now) for n in range(new)]

    written = ingestion_sql.insert_skipping_conflicts(leads, returning=("id", "email"))

    assert sorted(email for _, email in written) == [f"new{n}@acme.io" for n in range(new)]
    stored = dict(Lead.objects.exclude(email="taken@acme.io").values_list("email", "pk"))
    assert {email: pk for pk, email in written} == stored
    assert Lead.objects.filter(email="taken@acme.io").count() == 1
