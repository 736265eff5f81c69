"""The ingestion API: activities in bulk, lead upsert, public website forms; scores with their
explanation in the lead API; duplicates and merging. The services behind them are tested in
test_ingestion.py, test_scoring.py and test_duplicates.py; these tests are about the HTTP side:
status codes, bodies, permissions, throttles and query counts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from crm.security.tokens import api_token_create
from leads import api, ingestion, services
from leads.lifecycle import Actor, Stage
from leads.models import (
    Activity,
    Campaign,
    Channel,
    Company,
    CompanySize,
    FormSource,
    Industry,
    Lead,
    LeadMerge,
    StageTransition,
)
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

ACTIVITIES = "/api/v1/activities/"
LEADS = "/api/v1/leads/"
UPSERT = "/api/v1/leads/upsert/"
CAPTURE = "/api/v1/forms/capture/"


def client_for(user: Any = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def token_client(user: Any) -> APIClient:
    """How integrations call: a token, no session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user).key}")
    return client


def item(n: int = 1, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "email": "ada@analytical.io",
        "type": "page_view",
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "source_system": "hubspot",
        "external_id": f"evt-{n}",
        "properties": {"url": "/pricing"},
    }
    data.update(overrides)
    return data


def post_batch(client: APIClient, body: Any) -> Any:
    return client.post(ACTIVITIES, body, format="json")


# --- POST /api/v1/activities/ ----------------------------------------------------------------


def test_a_batch_answers_per_item_and_the_good_items_land_despite_the_bad_ones(marketer):
    grace = LeadFactory(email="grace@navy.mil")
    items = [
        item(
            1,
            lead={"first_name": "Ada", "job_title": "CTO", "company_name": "Analytical Engines"},
            utm={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "q4-brand"},
        ),
        item(2, email="not-an-address"),
        item(3, type="telepathy"),
        item(4, email=" Grace@NAVY.mil "),
        item(5, occurred_at="2026-11-22T09:30:00"),
        item(6, lead={"phone": "1" * 41}),
        item(7, colour="blue"),
        item(8, type="content_download"),
    ]

    response = post_batch(token_client(marketer), items)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["received"], body["created"], body["duplicates"], body["errors"]) == (8, 3, 0, 5)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["status"] for r in results] == [
        "created",
        "error",
        "error",
        "created",
        "error",
        "error",
        "error",
        "created",
    ]
    ada = Lead.objects.get(email="ada@analytical.io")
    assert results[0] == {
        "index": 0,
        "status": "created",
        "activity_id": results[0]["activity_id"],
        "lead_id": ada.pk,
        "lead_created": True,
    }
    assert (results[7]["lead_id"], results[7]["lead_created"]) == (ada.pk, False)
    assert (results[3]["lead_id"], results[3]["lead_created"]) == (grace.pk, False)
    assert list(results[1]["errors"]) == ["email"]
    assert "not a valid email" in results[1]["errors"]["email"][0]
    assert "“telepathy” is not an activity type" in results[2]["errors"]["type"][0]
    assert "time zone" in results[4]["errors"]["occurred_at"][0]
    assert "At most 40 characters" in results[5]["errors"]["lead.phone"][0]
    assert "Unknown field" in results[6]["errors"]["colour"][0]
    assert "activity_id" not in results[1]
    # Only the good items were stored; the new lead got its profile, company and attribution.
    stored = Activity.objects.order_by("id")
    assert [a.pk for a in stored] == [results[i]["activity_id"] for i in (0, 3, 7)]
    assert (ada.first_name, ada.job_title, ada.source_channel) == ("Ada", "CTO", Channel.PAID_SEARCH)
    assert ada.company == Company.objects.get(domain="analytical.io", name="Analytical Engines")
    assert ada.campaign == Campaign.objects.get(slug="q4-brand")
    assert not Lead.objects.filter(email="not-an-address").exists()


def test_new_leads_name_the_user_whose_token_pushed_them(marketer):
    post_batch(token_client(marketer), [item()])

    created = StageTransition.objects.get(lead__email="ada@analytical.io")
    assert (created.actor_user, created.actor_rule, created.reason) == (marketer, "", "Created")


def test_resending_a_batch_is_safe(marketer):
    client = token_client(marketer)
    batch = [item(1), item(2), item(2)]  # the third repeats the second within the batch

    first = post_batch(client, batch).json()
    again = post_batch(client, batch).json()

    assert [r["status"] for r in first["results"]] == ["created", "created", "duplicate"]
    assert first["results"][2]["activity_id"] == first["results"][1]["activity_id"]
    assert (again["created"], again["duplicates"], again["errors"]) == (0, 3, 0)
    assert [r["activity_id"] for r in again["results"]] == [r["activity_id"] for r in first["results"]]
    assert Activity.objects.count() == 2
    assert Lead.objects.count() == 1


def test_the_items_may_come_wrapped_in_an_object(marketer):
    response = post_batch(token_client(marketer), {"items": [item(1), item(2)]})

    assert response.status_code == 200
    assert response.json()["created"] == 2


def test_an_empty_batch_is_answered_with_nothing_done(marketer):
    response = post_batch(token_client(marketer), [])

    assert response.status_code == 200
    assert response.json() == {"received": 0, "created": 0, "duplicates": 0, "errors": 0, "results": []}


def _thousand_items(leads: int) -> list[dict[str, Any]]:
    types = ["page_view", "pricing_page_view", "content_download", "email_click", "webinar_attended"]
    return [
        item(
            n,
            email=f"person{n % leads}@company{n % leads}.example",
            type=types[n % len(types)],
            lead={"first_name": f"P{n}", "job_title": "Head of Growth"},
            utm={"utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": f"c{n % 3}"},
            properties={"url": f"/page/{n}", "topic": "pipeline"},
        )
        for n in range(1000)
    ]


@pytest.mark.parametrize("leads", [1, 100, 1000])
def test_a_thousand_item_batch_is_taken_in_a_fixed_number_of_queries(marketer, django_assert_max_num_queries, leads):
    LeadFactory(email="person0@company0.example")  # one lead exists, the others are new
    client = token_client(marketer)
    body = _thousand_items(leads)
    # Set-based whatever the batch: the token and permissions (3), the activity types, leads,
    # companies, campaigns, stage history, activities and rescore requests, each one statement
    # or two, and the savepoints around them. SQLite takes at most 999 parameters a statement in
    # Django 5.2, so there the 22-column lead rows of 1,000 new leads need ~23 INSERTs.
    limit = 30 if leads <= 100 or connection.vendor == "postgresql" else 70

    with django_assert_max_num_queries(limit):
        response = post_batch(client, body)

    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert Activity.objects.count() == 1000
    assert Lead.objects.count() == leads


@pytest.mark.parametrize("size", [1, 1000])
def test_a_batch_for_known_leads_takes_the_same_queries_whatever_its_size(marketer, django_assert_num_queries, size):
    for n in range(50):
        LeadFactory(email=f"person{n}@company{n}.example")
    client = token_client(marketer)
    body = [
        item(n, email=f"person{n % 50}@company{n % 50}.example", external_id="" if n % 10 == 9 else f"evt-{n}")
        for n in range(size)
    ]
    # The token (1) and permissions (1); the activity types, the leads by email, one INSERT of the
    # activities skipping stored ones, the rescore requests; the savepoint around them (2).
    with django_assert_num_queries(8):
        response = post_batch(client, body)

    assert response.json()["created"] == size
    assert Activity.objects.count() == size

    # Sent again: every item is a duplicate, found with one more query (one per source system).
    with django_assert_num_queries(8):
        again = post_batch(client, [row for row in body if row["external_id"]])

    assert again.json()["duplicates"] == len([row for row in body if row["external_id"]])
    assert Activity.objects.count() == size


def test_a_batch_over_the_limit_is_400_naming_items_and_writes_nothing(marketer):
    too_many = [item(n) for n in range(ingestion.MAX_ITEMS_PER_BATCH + 1)]

    response = post_batch(token_client(marketer), too_many)

    assert response.status_code == 400
    assert response.json() == {"items": ["At most 5000 activities per request (got 5001); split the batch."]}
    assert not Activity.objects.exists()
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"email": "ada@analytical.io", "type": "page_view"}, "items", "This field is required."),
        ({"items": {"email": "ada@analytical.io"}}, "items", "got an object"),
        ({"items": [], "source": "x"}, "source", "Unknown field."),
        ("page_view", "items", "got a string"),
        (42, "items", "got a number"),
        (None, "items", "got null"),
    ],
)
def test_a_body_that_is_not_a_batch_is_400_with_a_clear_message(marketer, body, field, message):
    response = token_client(marketer).post(ACTIVITIES, json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert 'Send a JSON list of activities, or an object {"items": [...]}' in response.json()[field][0]


def test_malformed_json_is_400(marketer):
    response = token_client(marketer).post(ACTIVITIES, '[{"email": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_an_empty_body_is_400_naming_items(marketer):
    response = token_client(marketer).post(ACTIVITIES, "", content_type="application/json")

    assert response.status_code == 400
    assert "items" in response.json()


def test_form_encoded_activities_are_415(marketer):
    response = token_client(marketer).post(ACTIVITIES, {"email": "ada@analytical.io"})

    assert response.status_code == 415


def test_a_body_over_the_size_limit_is_413(marketer, monkeypatch):
    monkeypatch.setattr(api, "ACTIVITY_BATCH_MAX_BYTES", 100)

    response = post_batch(token_client(marketer), [item(n) for n in range(3)])

    assert response.status_code == 413
    assert "at most 100 are accepted" in response.json()["detail"]
    assert not Activity.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "manager", "sdr"])
def test_roles_holding_add_activity_may_push(request, role):
    LeadFactory(email="ada@analytical.io")  # an SDR records activities of known leads only
    response = post_batch(client_for(request.getfixturevalue(role)), [item()])

    assert response.status_code == 200
    assert response.json()["created"] == 1


def test_a_user_without_a_role_is_403_and_nothing_is_written(no_role_user):
    response = post_batch(token_client(no_role_user), [item()])

    assert response.status_code == 403
    assert not Activity.objects.exists()


def test_anonymous_pushes_are_401_with_a_token_challenge():
    response = post_batch(APIClient(), [item()])

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert not Activity.objects.exists()


def test_pushed_activities_are_scored_shortly_after(marketer, django_capture_on_commit_callbacks):
    CompanyFactory(domain="analytical.io", size=CompanySize.S_201_1000, industry=Industry.SOFTWARE)
    now = timezone.now().isoformat()  # today: no decay
    items = [
        item(1, type="demo_request", occurred_at=now, lead={"job_title": "VP Marketing"}),
        item(2, type="pricing_page_view", occurred_at=now),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        post_batch(token_client(marketer), items)

    lead = Lead.objects.get(email="ada@analytical.io")
    assert (lead.fit_score, lead.engagement_score) == (55, 48)
    assert lead.stage == Stage.MQL
    assert lead.is_hot


# --- PUT /api/v1/leads/upsert/ ---------------------------------------------------------------


def test_upsert_creates_a_lead_with_its_attribution(marketer):
    response = client_for(marketer).put(
        UPSERT,
        {
            "email": " Ada@Analytical.IO",
            "first_name": "Ada",
            "job_title": "CTO",
            "company_name": "Analytical Engines",
            "utm": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "q4-brand"},
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    body = response.json()
    assert body["id"] == lead.pk
    assert response["Location"].endswith(f"{LEADS}{lead.pk}/")
    assert (body["email"], body["first_name"], body["job_title"]) == ("ada@analytical.io", "Ada", "CTO")
    assert body["company"]["name"] == "Analytical Engines"
    assert body["source_channel"] == Channel.PAID_SEARCH
    assert body["source_detail"] == "google / cpc"
    assert body["campaign"]["slug"] == "q4-brand"
    assert body["stage"] == Stage.LEAD
    assert lead.transitions.get().actor_user == marketer


def test_upsert_updates_the_given_fields_and_keeps_the_first_touch(manager):
    campaign = CampaignFactory(slug="spring")
    lead = LeadFactory(
        email="ada@analytical.io",
        first_name="Ada",
        job_title="Engineer",
        source_channel=Channel.EVENT,
        campaign=campaign,
    )

    response = client_for(manager).put(
        UPSERT,
        {
            "email": "ADA@analytical.io",
            "first_name": "",
            "job_title": "CTO",
            "phone": "+44 20 7946 0000",
            "utm": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "other"},
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert "Location" not in response
    lead.refresh_from_db()
    assert (lead.first_name, lead.job_title, lead.phone) == ("Ada", "CTO", "+44 20 7946 0000")
    assert (lead.source_channel, lead.campaign) == (Channel.EVENT, campaign)
    assert not Campaign.objects.filter(slug="other").exists()
    assert Lead.objects.count() == 1
    assert response.json()["job_title"] == "CTO"


def test_upserting_the_same_body_twice_creates_once(marketer):
    client = client_for(marketer)
    body = {"email": "ada@analytical.io", "job_title": "CTO"}

    assert client.put(UPSERT, body, format="json").status_code == 201
    assert client.put(UPSERT, body, format="json").status_code == 200
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "not a valid email address"),
        ({"first_name": "Ada"}, "email", "This field is required."),
        ({"email": "a@b.io", "job_title": "x" * 201}, "job_title", "no more than 200 characters"),
        ({"email": "a@b.io", "stage": "mql"}, "stage", "The stage cannot be written"),
        ({"email": "a@b.io", "fit_score": 90}, "fit_score", "Scores are computed"),
        ({"email": "a@b.io", "colour": "blue"}, "colour", "Unknown field"),
        ({"email": "a@b.io", "utm": {"utm_colour": "x"}}, "utm", "Unknown field"),
    ],
)
def test_bad_upserts_are_400_naming_the_field_and_write_nothing(marketer, payload, field, message):
    response = client_for(marketer).put(UPSERT, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert message in json.dumps(response.json()[field], ensure_ascii=False)
    assert not Lead.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("sdr", 403), ("no_role_user", 403), (None, 401)])
def test_upsert_needs_add_and_change_lead(request, role, status):
    client = client_for(request.getfixturevalue(role) if role else None)

    response = client.put(UPSERT, {"email": "ada@analytical.io"}, format="json")

    assert response.status_code == status
    assert not Lead.objects.exists()


# --- POST /api/v1/forms/capture/ --------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_throttle_counts(monkeypatch):
    """Each test counts form submissions from zero.

    The throttles get a cache of their own rather than the shared one being cleared: in the live
    pass the default cache is the Redis database that also holds the Celery broker's queues.
    """
    counts = LocMemCache("form-capture-throttle-test", {})
    counts.clear()  # LocMemCache instances of one name share their storage
    monkeypatch.setattr(api._FormCaptureThrottle, "cache", counts)


@pytest.fixture
def throttle_rates(settings):
    def set_rates(*, per_key: str = "100/min", per_ip: str = "100/min") -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"form_capture_key": per_key, "form_capture_ip": per_ip},
        }

    return set_rates


@pytest.fixture
def form_source() -> tuple[FormSource, str]:
    campaign = CampaignFactory(slug="contact-us-2026")
    return ingestion.form_source_create(
        name="Website – contact us", campaign=campaign, default_channel=Channel.ORGANIC_SEARCH
    )


def form(**overrides: Any) -> dict[str, Any]:
    data = {
        "email": "ada@analytical.io",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "message": "Please call me",
        "utm_source": "newsletter",
        "utm_medium": "email",
    }
    data.update(overrides)
    return data


def capture(data: Any, *, key: str | None = None, encoding: str = "json", **extra: Any) -> Any:
    client = APIClient(enforce_csrf_checks=True)  # a website has no CSRF token to send
    if key is not None:
        extra["HTTP_X_BATON_FORM_KEY"] = key
    if encoding == "urlencoded":  # what a plain HTML <form method="post"> sends
        return client.post(
            CAPTURE, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded", **extra
        )
    return client.post(CAPTURE, data, format=encoding, **extra)


def test_a_json_submission_with_the_key_in_the_header_is_captured(form_source):
    source, key = form_source

    response = capture(form(), key=key)

    assert response.status_code == 201
    assert response.json() == {"status": "received"}
    lead = Lead.objects.get(email="ada@analytical.io")
    assert (lead.first_name, lead.last_name, lead.company.name) == ("Ada", "Lovelace", "Analytical Engines")
    assert (lead.source_channel, lead.source_detail) == (Channel.EMAIL, "newsletter / email")
    assert lead.campaign.slug == "contact-us-2026"
    activity = Activity.objects.get()
    assert (activity.lead, activity.type_id) == (lead, "form_submit")
    assert activity.source_system == f"form:{source.pk}"
    assert activity.properties == {
        "form": "Website – contact us",
        "message": "Please call me",
        "utm_source": "newsletter",
        "utm_medium": "email",
    }
    assert lead.transitions.get().actor_rule == "Web form: Website – contact us"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_plain_html_form_posts_the_key_as_a_field(form_source, encoding):
    _, key = form_source

    response = capture(form(form_key=key, interests=["pricing", "integrations"]), encoding=encoding)

    assert response.status_code == 201, response.json()
    activity = Activity.objects.get()
    assert "form_key" not in activity.properties
    assert key not in json.dumps(activity.properties)
    assert activity.properties["interests"] == "pricing, integrations"
    assert Lead.objects.get().first_name == "Ada"


def test_the_answer_is_the_same_for_a_new_and_a_known_email(form_source):
    _, key = form_source

    new = capture(form(email="new@analytical.io", submission_id="s-1"), key=key)
    LeadFactory(email="known@analytical.io")
    known = capture(form(email="known@analytical.io", submission_id="s-2"), key=key)

    assert new.status_code == known.status_code == 201
    assert new.json() == known.json() == {"status": "received"}
    assert Activity.objects.count() == 2


def test_a_missing_key_is_401_saying_how_to_send_one(form_source):
    response = capture(form())

    assert response.status_code == 401
    assert "X-Baton-Form-Key" in response.json()["detail"]
    assert "form_key" in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'FormKey header="X-Baton-Form-Key"'
    assert not Lead.objects.exists()


def test_a_wrong_key_is_403(form_source):
    response = capture(form(), key="bfk_not-the-key")

    assert response.status_code == 403
    assert "unknown, or its form source has been deactivated" in response.json()["detail"]
    assert not Lead.objects.exists()


def test_the_key_of_an_inactive_source_is_403(form_source):
    source, key = form_source
    FormSource.objects.filter(pk=source.pk).update(is_active=False)

    response = capture(form(), key=key)

    assert response.status_code == 403
    assert not Lead.objects.exists()


def test_a_bad_email_is_400_naming_the_field(form_source):
    response = capture(form(email="not-an-address"), key=form_source[1])

    assert response.status_code == 400
    assert "not a valid email address" in response.json()["email"][0]
    assert not Activity.objects.exists()


def test_a_submission_that_is_not_an_object_is_400(form_source):
    response = capture([form()], key=form_source[1])

    assert response.status_code == 400
    assert "JSON object, or form-encoded" in response.json()["non_field_errors"][0]


def test_a_submission_over_the_size_limit_is_413(form_source, monkeypatch):
    monkeypatch.setattr(api, "FORM_CAPTURE_MAX_BYTES", 100)

    response = capture(form(message="x" * 200), key=form_source[1])

    assert response.status_code == 413
    assert not Lead.objects.exists()


def test_a_filled_honeypot_is_answered_but_not_stored(form_source):
    response = capture(form(baton_hp="http://spam.example"), key=form_source[1])

    assert response.status_code == 201
    assert response.json() == {"status": "received"}
    assert not Lead.objects.exists()


def test_an_empty_honeypot_is_not_kept(form_source):
    capture(form(baton_hp=""), key=form_source[1])

    assert "baton_hp" not in Activity.objects.get().properties


def test_submissions_are_limited_per_client_address(form_source, throttle_rates):
    throttle_rates(per_ip="2/min")
    _, key = form_source

    answers = [capture(form(email=f"p{n}@analytical.io"), key=key).status_code for n in range(3)]
    other_address = capture(form(email="p9@analytical.io"), key=key, REMOTE_ADDR="198.51.100.7")

    assert answers == [201, 201, 429]
    assert other_address.status_code == 201
    assert Lead.objects.count() == 3


def test_a_wrong_key_counts_against_the_address_too(form_source, throttle_rates):
    throttle_rates(per_ip="2/min")

    answers = [capture(form(), key="bfk_guess").status_code for _ in range(3)]

    assert answers == [403, 403, 429]


def test_submissions_are_limited_per_form_key(form_source, throttle_rates):
    throttle_rates(per_key="2/min")
    _, key = form_source
    _, other_key = ingestion.form_source_create(name="Webinar sign-up")

    answers = [
        capture(form(email=f"p{n}@analytical.io"), key=key, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(3)
    ]
    other_form = capture(form(email="p9@analytical.io"), key=other_key, REMOTE_ADDR="198.51.100.9")

    assert answers == [201, 201, 429]
    assert other_form.status_code == 201
    throttled = capture(form(), key=key, REMOTE_ADDR="198.51.100.10")
    assert int(throttled["Retry-After"]) > 0


# --- Scores and their explanation in the lead API ---------------------------------------------


@pytest.fixture
def scored_lead() -> Lead:
    """A VP at a mid-market software company in the US who asked for a demo, scored by model v1."""
    lead = LeadFactory(
        email="ada@analytical.io",
        job_title="VP Marketing",
        company=CompanyFactory(
            domain="analytical.io", size=CompanySize.S_201_1000, industry=Industry.SOFTWARE, country="US"
        ),
    )
    for code in ["pricing_page_view", "pricing_page_view", "page_view", "demo_request", "careers_page_view"]:
        ActivityFactory(lead=lead, type_id=code)
    services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    return lead


def _assert_explained(row: dict[str, Any]) -> None:
    parts = row["score_explanation"]
    assert parts, row
    assert sum(p["points"] for p in parts if p["kind"] == "fit") == row["fit_score"]
    assert sum(p["points"] for p in parts if p["kind"] == "engagement") == row["engagement_score"]
    assert row["total_score"] == row["fit_score"] + row["engagement_score"]
    for part in parts:
        assert set(part) == {"kind", "rule", "label", "points"}


def test_a_lead_shows_its_scores_explained_in_detail_and_list(sdr, scored_lead):
    client = client_for(sdr)

    detail = client.get(f"{LEADS}{scored_lead.pk}/").json()
    (row,) = client.get(LEADS).json()["results"]

    assert detail == row
    _assert_explained(detail)
    assert (detail["fit_score"], detail["engagement_score"]) == (55, 52)
    # Fit first, biggest first; then engagement, biggest first (negative parts last).
    assert [(p["kind"], p["label"], p["points"]) for p in detail["score_explanation"]] == [
        ("fit", "C-level or VP", 25),
        ("fit", "Mid-market or enterprise", 15),
        ("fit", "Target industry", 10),
        ("fit", "Core territory", 5),
        ("engagement", "Demo request", 40),
        ("engagement", "Pricing page view", 16),
        ("engagement", "Page view", 1),
        ("engagement", "Careers page view", -5),
    ]
    assert detail["is_hot"] is True
    assert detail["hot_signal_at"] is not None
    assert detail["scoring_model_version"] == 1
    assert detail["scored_at"] is not None


def test_an_unscored_lead_has_an_empty_explanation(sdr):
    lead = LeadFactory()

    body = client_for(sdr).get(f"{LEADS}{lead.pk}/").json()

    assert body["score_explanation"] == []
    assert (body["is_hot"], body["hot_signal_at"], body["scoring_model_version"], body["scored_at"]) == (
        False,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("n", [3, 25])
def test_scored_lead_list_query_count_does_not_grow_with_the_page(marketer, django_assert_num_queries, n):
    leads = [LeadFactory(job_title="Director of Ops") for _ in range(n)]
    for lead in leads:
        ActivityFactory(lead=lead)
    services.scoring_rescore_leads(lead_ids=[lead.pk for lead in leads])
    client = client_for(marketer)

    with django_assert_num_queries(3):  # the same as for unscored leads: the model is joined
        response = client.get(LEADS)

    rows = response.json()["results"]
    assert len(rows) == n
    assert {row["scoring_model_version"] for row in rows} == {1}
    for row in rows:
        _assert_explained(row)


def test_the_list_shows_the_version_that_scored_each_lead(marketer, scored_lead):
    v2 = services.scoring_draft_create(user=marketer)
    services.fit_rule_save(
        model_id=v2.pk, label="Free mail, v2", attribute="free_mail", operator="is_true", values=[], points=-20
    )
    services.scoring_model_publish(model_id=v2.pk, user=marketer)  # its rescore-all job is not run here
    other = LeadFactory(email="someone@gmail.com", job_title="CEO")
    services.scoring_rescore_leads(lead_ids=[other.pk])

    rows = {row["id"]: row for row in client_for(marketer).get(LEADS).json()["results"]}

    assert rows[scored_lead.pk]["scoring_model_version"] == 1
    assert rows[other.pk]["scoring_model_version"] == v2.version
    _assert_explained(rows[other.pk])


@pytest.mark.parametrize("field", ["score_explanation", "is_hot", "scored_at", "scoring_model_version"])
def test_scores_and_their_explanation_cannot_be_written(marketer, field):
    lead = LeadFactory()

    response = client_for(marketer).patch(f"{LEADS}{lead.pk}/", {field: None}, format="json")

    assert response.status_code == 400
    assert response.json()[field] == ["Scores are computed by the scoring model and cannot be written."]


# --- Duplicates and merging ------------------------------------------------------------------


@pytest.fixture
def ada_and_twins() -> dict[str, Lead]:
    company = CompanyFactory(domain="analytical.io", name="Analytical Engines")
    return {
        "ada": LeadFactory(
            email="ada@analytical.io", first_name="Ada", last_name="Lovelace", company=company, phone=""
        ),
        "same_name": LeadFactory(
            email="a.lovelace@analytical.io", first_name="ada", last_name="LOVELACE", company=company
        ),
        "same_phone": LeadFactory(
            email="countess@gmail.com",
            first_name="A.",
            last_name="King",
            company=None,
            phone="+44 20 7946 0000",
        ),
        "other": LeadFactory(email="babbage@analytical.io", first_name="Charles", last_name="Babbage"),
    }


def test_duplicates_lists_likely_twins_oldest_first(sdr, ada_and_twins):
    ada = ada_and_twins["ada"]
    services.lead_update(lead_id=ada.pk, actor=Actor(user=sdr), phone="+44 (20) 7946-0000")

    response = client_for(sdr).get(f"{LEADS}{ada.pk}/duplicates/")

    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [ada_and_twins["same_name"].pk, ada_and_twins["same_phone"].pk]
    assert rows[0]["company"]["name"] == "Analytical Engines"
    assert rows[0]["full_name"] == "ada LOVELACE"
    assert rows[1]["company"] is None
    assert rows[0]["stage"] == Stage.LEAD


def test_a_lead_without_twins_has_no_duplicates(sdr, ada_and_twins):
    response = client_for(sdr).get(f"{LEADS}{ada_and_twins['other'].pk}/duplicates/")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("n", [1, 6])
def test_duplicates_query_count_does_not_grow_with_the_twins(sdr, django_assert_num_queries, n):
    company = CompanyFactory()
    lead = LeadFactory(first_name="Ada", last_name="Lovelace", company=company)
    for _ in range(n):
        LeadFactory(first_name="Ada", last_name="Lovelace", company=company, owner=sdr)
    client = client_for(sdr)

    # + the lead, + the ids of its duplicates (by the company and phone indexes), + those with company and owner
    with django_assert_num_queries(5):
        response = client.get(f"{LEADS}{lead.pk}/duplicates/")

    assert len(response.json()) == n


def test_merge_moves_the_duplicate_into_the_lead_and_records_who(marketer, ada_and_twins):
    ada, twin = ada_and_twins["ada"], ada_and_twins["same_name"]
    moved = ActivityFactory(lead=twin)

    response = client_for(marketer).post(f"{LEADS}{ada.pk}/merge/", {"duplicate": twin.pk}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["id"] == ada.pk
    assert not Lead.objects.filter(pk=twin.pk).exists()
    moved.refresh_from_db()
    assert moved.lead_id == ada.pk
    merge = LeadMerge.objects.get()
    assert (merge.survivor, merge.merged_email, merge.actor) == (ada, "a.lovelace@analytical.io", marketer)
    assert ada.transitions.count() == 2  # both creations, now in the survivor's history


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"duplicate": "self"}, "cannot be merged into itself"),
        ({"duplicate": 999_999}, "no longer exists"),
        ({"duplicate": "abc"}, "A valid integer is required."),
        ({}, "This field is required."),
    ],
)
def test_bad_merges_are_400_naming_duplicate_and_change_nothing(marketer, ada_and_twins, payload, message):
    ada = ada_and_twins["ada"]
    if payload.get("duplicate") == "self":
        payload = {"duplicate": ada.pk}

    response = client_for(marketer).post(f"{LEADS}{ada.pk}/merge/", payload, format="json")

    assert response.status_code == 400
    assert message in response.json()["duplicate"][0]
    assert Lead.objects.count() == 4
    assert not LeadMerge.objects.exists()


def test_merging_into_an_unknown_lead_is_404(marketer, ada_and_twins):
    response = client_for(marketer).post(f"{LEADS}999999/merge/", {"duplicate": ada_and_twins["ada"].pk}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(("role", "status"), [("sdr", 403), ("no_role_user", 403), (None, 401)])
def test_merge_needs_change_lead(request, ada_and_twins, role, status):
    ada, twin = ada_and_twins["ada"], ada_and_twins["same_name"]
    client = client_for(request.getfixturevalue(role) if role else None)

    response = client.post(f"{LEADS}{ada.pk}/merge/", {"duplicate": twin.pk}, format="json")

    assert response.status_code == status
    assert Lead.objects.filter(pk=twin.pk).exists()
    assert not LeadMerge.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("no_role_user", 403), (None, 401)])
def test_duplicates_need_view_lead(request, ada_and_twins, role, status):
    client = client_for(request.getfixturevalue(role) if role else None)

    assert client.get(f"{LEADS}{ada_and_twins['ada'].pk}/duplicates/").status_code == status
