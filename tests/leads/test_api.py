"""The REST API for leads: filters, sorting, keyset pages, writes through services, the lifecycle
endpoint, permissions per role (session and token), and pinned query counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from crm.api import validation_error_detail
from crm.security.models import ApiToken
from crm.security.tokens import api_token_create
from leads.lifecycle import Stage
from leads.models import ActivityType, Campaign, Channel, Company, CompanySize, Lead, StageTransition
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"


def client_for(user: Any = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def lead_url(lead: Lead, action: str = "") -> str:
    return f"{LEADS}{lead.pk}/{action + '/' if action else ''}"


def ids(response: Any) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def walk(client: APIClient, url: str, key: str = "next") -> list[list[int]]:
    """Follow `key` links from `url`; the ids of every page, in order."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        pages.append(ids(response))
        url = response.json()[key]
    return pages


# --- Reading: list, filters, sort ------------------------------------------------------------


def test_list_shows_leads_newest_first_with_company_campaign_and_owner(marketer, sdr):
    campaign = CampaignFactory(slug="spring-webinar", name="Spring webinar")
    older = LeadFactory(email="old@acme.test")
    newer = LeadFactory(email="new@globex.test", campaign=campaign, owner=sdr, company=CompanyFactory(name="Globex"))

    response = client_for(marketer).get(LEADS)

    assert response.status_code == 200
    body = response.json()
    assert ids(response) == [newer.pk, older.pk]
    assert body["next"] is None
    assert body["previous"] is None
    row = body["results"][0]
    assert row["email"] == "new@globex.test"
    assert row["company"]["name"] == "Globex"
    assert row["company"]["segment"] == "mid_market"
    assert row["campaign"] == {"id": campaign.pk, "slug": "spring-webinar", "name": "Spring webinar"}
    assert row["owner"] == {"id": sdr.pk, "name": sdr.get_full_name()}
    assert row["stage"] == "lead"
    assert body["results"][1]["campaign"] is None
    assert body["results"][1]["owner"] is None


@pytest.fixture
def assorted_leads(sdr) -> dict[str, Lead]:
    webinar = CampaignFactory(slug="webinar")
    return {
        "ada": LeadFactory(
            email="ada@analytical.test",
            first_name="Ada",
            last_name="Lovelace",
            source_channel=Channel.WEBINAR,
            campaign=webinar,
            owner=sdr,
            company=CompanyFactory(name="Analytical Engines", size=CompanySize.S_5000_PLUS),
            fit_score=80,
            engagement_score=10,
        ),
        "grace": lead_at_stage(
            Stage.MQL,
            email="grace@navy.test",
            first_name="Grace",
            last_name="Hopper",
            source_channel=Channel.PAID_SEARCH,
            company=CompanyFactory(name="Navy Labs", size=CompanySize.S_1_10),
            fit_score=50,
            engagement_score=70,
        ),
        "alan": LeadFactory(
            email="alan@bletchley.test",
            first_name="Alan",
            last_name="Turing",
            source_channel=Channel.PAID_SEARCH,
            company=CompanyFactory(name="Bletchley", size=CompanySize.S_51_200),
            fit_score=20,
            engagement_score=40,
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ada@"}, {"ada"}),
        ({"q": "hopper"}, {"grace"}),
        ({"q": "bletch"}, {"alan"}),
        ({"stage": "mql"}, {"grace"}),
        ({"stage": ["mql", "lead"]}, {"ada", "grace", "alan"}),
        ({"source_channel": "paid_search"}, {"grace", "alan"}),
        ({"segment": "enterprise"}, {"ada"}),
        ({"segment": "smb"}, {"grace"}),
        ({"fit_min": "50"}, {"ada", "grace"}),
        ({"fit_max": "49"}, {"alan"}),
        ({"engagement_min": "40", "engagement_max": "69"}, {"alan"}),
        ({"owner": "null"}, {"grace", "alan"}),
    ],
)
def test_filters_select_the_right_leads(marketer, assorted_leads, params, expected):
    response = client_for(marketer).get(LEADS, params)

    assert response.status_code == 200, response.json()
    by_id = {lead.pk: name for name, lead in assorted_leads.items()}
    assert {by_id[pk] for pk in ids(response)} == expected


def test_filter_by_campaign_and_owner_ids(marketer, sdr, assorted_leads):
    campaign = Campaign.objects.get(slug="webinar")
    client = client_for(marketer)

    assert ids(client.get(LEADS, {"campaign": campaign.pk})) == [assorted_leads["ada"].pk]
    assert ids(client.get(LEADS, {"owner": sdr.pk})) == [assorted_leads["ada"].pk]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("fit", ["ada", "grace", "alan"]),
        ("engagement", ["grace", "alan", "ada"]),
        ("name", ["grace", "ada", "alan"]),  # Hopper, Lovelace, Turing
        ("oldest", ["ada", "grace", "alan"]),
        ("newest", ["alan", "grace", "ada"]),
    ],
)
def test_sort_orders_the_list(marketer, assorted_leads, sort, expected):
    response = client_for(marketer).get(LEADS, {"sort": sort})

    assert ids(response) == [assorted_leads[name].pk for name in expected]


def test_updated_sort_puts_the_last_edited_lead_first(marketer, assorted_leads):
    client = client_for(marketer)
    client.patch(lead_url(assorted_leads["ada"]), {"job_title": "Countess"}, format="json")

    assert ids(client.get(LEADS, {"sort": "updated"}))[0] == assorted_leads["ada"].pk


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fit_min": "lots"}, "fit_min"),
        ({"engagement_max": "1.2.3"}, "engagement_max"),
        ({"stage": "promoted"}, "stage"),
        ({"source_channel": "carrier_pigeon"}, "source_channel"),
        ({"segment": "galactic"}, "segment"),
        ({"owner": "999999"}, "owner"),
        ({"campaign": "nope"}, "campaign"),
        ({"sort": "random"}, "sort"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(marketer, params, field):
    LeadFactory()
    response = client_for(marketer).get(LEADS, params)

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert errors[field]
    assert all(isinstance(message, str) and message for message in errors[field])


def test_filter_errors_carry_only_the_messages(marketer):
    response = client_for(marketer).get(LEADS, {"fit_min": "lots"})

    assert response.json() == {"fit_min": ["Enter a number."]}


def test_sort_error_names_the_choices(marketer):
    response = client_for(marketer).get(LEADS, {"sort": "random"})

    assert "newest" in response.json()["sort"][0]


# --- Keyset pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["newest", "oldest", "fit", "name"])
def test_next_and_previous_links_walk_the_whole_list_without_gaps_or_duplicates(marketer, sort):
    # Equal scores and names force the id tiebreaker to do its job.
    leads = [LeadFactory(first_name="Sam", last_name="Same" if n % 2 else "Other", fit_score=n % 3) for n in range(11)]
    client = client_for(marketer)
    everything = ids(client.get(LEADS, {"sort": sort, "page_size": 50}))
    assert sorted(everything) == sorted(lead.pk for lead in leads)

    forward = walk(client, f"{LEADS}?sort={sort}&page_size=3")

    assert [len(page) for page in forward] == [3, 3, 3, 2]
    assert [pk for page in forward for pk in page] == everything

    last_page = client.get(f"{LEADS}?sort={sort}&page_size=3")
    for _ in range(3):
        last_page = client.get(last_page.json()["next"])
    backward = walk(client, last_page.json()["previous"], key="previous")

    assert backward == forward[-2::-1]


def test_links_keep_the_filters(marketer):
    for _ in range(3):
        LeadFactory(source_channel=Channel.EVENT)
    LeadFactory(source_channel=Channel.EMAIL)

    response = client_for(marketer).get(LEADS, {"source_channel": "event", "page_size": 2})

    assert "source_channel=event" in response.json()["next"]
    assert len(walk(client_for(marketer), response.json()["next"])[0]) == 1


# --- Reading one lead ------------------------------------------------------------------------


def test_retrieve_a_lead(sdr):
    lead = LeadFactory(email="one@acme.test")

    response = client_for(sdr).get(lead_url(lead))

    assert response.status_code == 200
    assert response.json()["email"] == "one@acme.test"
    assert response.json()["total_score"] == 0


def test_unknown_lead_is_404(sdr):
    response = client_for(sdr).get(f"{LEADS}999999/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Lead not found."}


def test_a_lead_id_that_is_not_a_number_is_404(sdr):
    assert client_for(sdr).get(f"{LEADS}abc/").status_code == 404


# --- Creating --------------------------------------------------------------------------------


def test_create_normalises_email_derives_company_and_records_who_created_it(marketer, sdr):
    CampaignFactory(slug="launch", name="Launch")

    response = client_for(marketer).post(
        LEADS,
        {
            "email": "  Ada.Lovelace@Analytical.IO ",
            "first_name": "Ada",
            "company_name": "Analytical Engines",
            "campaign": "launch",
            "owner": sdr.pk,
            "source_channel": "webinar",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    lead = Lead.objects.get()
    assert body["id"] == lead.pk
    assert response["Location"].endswith(f"{LEADS}{lead.pk}/")
    assert body["email"] == lead.email == "ada.lovelace@analytical.io"
    assert body["company"]["domain"] == "analytical.io"
    assert body["company"]["name"] == "Analytical Engines"
    assert body["campaign"]["slug"] == "launch"
    assert body["owner"]["id"] == sdr.pk
    assert (body["stage"], body["source_channel"]) == ("lead", "webinar")
    (created,) = lead.transitions.all()
    assert (created.to_stage, created.actor_user) == (Stage.LEAD, marketer)


def test_create_with_a_company_id(marketer):
    company = CompanyFactory(name="Initech")

    response = client_for(marketer).post(LEADS, {"email": "p@gmail.com", "company": company.pk}, format="json")

    assert response.status_code == 201
    assert response.json()["company"]["id"] == company.pk


def test_free_mail_lead_gets_no_company(manager):
    response = client_for(manager).post(LEADS, {"email": "someone@gmail.com"}, format="json")

    assert response.status_code == 201
    assert response.json()["company"] is None


@pytest.mark.parametrize("email", ["dup@acme.test", "DUP@Acme.Test", " Dup@ACME.test "])
def test_duplicate_email_in_any_case_is_400_and_writes_nothing(marketer, email):
    LeadFactory(email="dup@acme.test")
    before = (Lead.objects.count(), Company.objects.count(), StageTransition.objects.count())

    response = client_for(marketer).post(LEADS, {"email": email, "company_name": "Other"}, format="json")

    assert response.status_code == 400
    assert "already exists" in response.json()["email"][0]
    assert (Lead.objects.count(), Company.objects.count(), StageTransition.objects.count()) == before


@pytest.mark.parametrize("email", ["not-an-email", "a@b@c.test", "", "   "])
def test_bad_email_is_400_naming_the_field_and_writes_nothing(marketer, email):
    response = client_for(marketer).post(LEADS, {"email": email}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert not Lead.objects.exists()
    assert not Company.objects.exists()


def test_missing_email_is_400(marketer):
    response = client_for(marketer).post(LEADS, {"first_name": "Nobody"}, format="json")

    assert response.status_code == 400
    assert response.json()["email"] == ["This field is required."]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"stage": "sql"}, "stage", "transition"),
        ({"fit_score": 99}, "fit_score", "scoring model"),
        ({"engagement_score": 99}, "engagement_score", "scoring model"),
        ({"id": 7}, "id", "read-only"),
        ({"favourite_colour": "blue"}, "favourite_colour", "Unknown field"),
        ({"campaign": "no-such-campaign"}, "campaign", "does not exist"),
        ({"owner": 999999}, "owner", "does not exist"),
        ({"company": 999999}, "company", "does not exist"),
        ({"source_channel": "fax"}, "source_channel", "not a valid choice"),
        ({"company": None, "company_name": "X", "first_name": "x" * 101}, "first_name", "100 characters"),
    ],
)
def test_create_refuses_read_only_unknown_and_invalid_fields_and_writes_nothing(marketer, payload, field, message):
    response = client_for(marketer).post(LEADS, {"email": "new@acme.test", **payload}, format="json")

    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not Lead.objects.exists()


def test_create_reports_every_bad_field_at_once(marketer):
    response = client_for(marketer).post(
        LEADS, {"email": "new@acme.test", "stage": "sql", "source_channel": "fax"}, format="json"
    )

    assert set(response.json()) == {"stage", "source_channel"}


def test_create_refuses_company_and_company_name_together(marketer):
    company = CompanyFactory()

    response = client_for(marketer).post(
        LEADS, {"email": "new@acme.test", "company": company.pk, "company_name": "Acme"}, format="json"
    )

    assert response.status_code == 400
    assert "company_name" in response.json()


# --- Updating --------------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(marketer, sdr):
    lead = LeadFactory(first_name="Ada", job_title="Engineer")

    response = client_for(marketer).patch(lead_url(lead), {"job_title": "CTO", "owner": sdr.pk}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["job_title"], response.json()["owner"]["id"]) == ("CTO", sdr.pk)
    lead.refresh_from_db()
    assert (lead.first_name, lead.job_title, lead.owner) == ("Ada", "CTO", sdr)


def test_patch_can_clear_the_owner_and_campaign(marketer, sdr):
    lead = LeadFactory(owner=sdr, campaign=CampaignFactory())

    response = client_for(marketer).patch(lead_url(lead), {"owner": None, "campaign": None}, format="json")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.owner, lead.campaign) == (None, None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"stage": "customer"}, "stage"),
        ({"fit_score": 100, "job_title": "CEO"}, "fit_score"),
        ({"email": "other@acme.test"}, "email"),
        ({"company_name": "Acme"}, "company_name"),
    ],
)
def test_patch_refuses_stage_scores_and_email_and_changes_nothing(marketer, payload, field):
    lead = LeadFactory(job_title="Engineer")

    response = client_for(marketer).patch(lead_url(lead), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    fresh = Lead.objects.get(pk=lead.pk)
    assert (fresh.stage, fresh.fit_score, fresh.email, fresh.job_title) == (
        Stage.LEAD,
        lead.fit_score,
        lead.email,
        "Engineer",
    )
    assert fresh.updated_at == lead.updated_at


def test_put_needs_every_editable_field(marketer):
    lead = LeadFactory()

    response = client_for(marketer).put(lead_url(lead), {"job_title": "CTO"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {
        "first_name",
        "last_name",
        "phone",
        "company",
        "source_channel",
        "source_detail",
        "campaign",
        "owner",
    }


def test_put_replaces_the_editable_profile(marketer):
    lead = LeadFactory()
    payload = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "job_title": "Rear Admiral",
        "phone": "+1 555 0100",
        "company": None,
        "source_channel": "referral",
        "source_detail": "conference",
        "campaign": None,
        "owner": None,
    }

    response = client_for(marketer).put(lead_url(lead), payload, format="json")

    assert response.status_code == 200, response.json()
    lead.refresh_from_db()
    assert (lead.full_name, lead.company, lead.source_channel) == ("Grace Hopper", None, "referral")


def test_update_of_an_unknown_lead_is_404(marketer):
    assert client_for(marketer).patch(f"{LEADS}999999/", {}, format="json").status_code == 404


# --- Lifecycle -------------------------------------------------------------------------------


def test_transition_moves_the_stage_and_writes_history(marketer):
    lead = LeadFactory()

    response = client_for(marketer).post(
        lead_url(lead, "transition"), {"to": "mql", "reason": "Asked for a demo"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "mql"
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    latest = lead.transitions.latest()
    assert (latest.from_stage, latest.to_stage, latest.actor_user, latest.reason) == (
        Stage.LEAD,
        Stage.MQL,
        marketer,
        "Asked for a demo",
    )


def test_refused_transition_is_409_with_the_rule_and_writes_nothing(marketer):
    lead = LeadFactory()

    response = client_for(marketer).post(lead_url(lead, "transition"), {"to": "sql"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "not_allowed"
    assert "cannot move to SQL" in body["detail"]
    assert body["stage"] == [body["detail"]]
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    assert lead.transitions.count() == 1


def test_missing_reason_is_409_naming_the_reason_field(manager):
    lead = lead_at_stage(Stage.MQL)

    response = client_for(manager).post(lead_url(lead, "transition"), {"to": "disqualified"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "reason_required"
    assert "reason" in response.json()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"to": "promoted"}, "to"), ({}, "to"), ({"to": "mql", "stage": "sql"}, "stage")],
)
def test_malformed_transition_request_is_400(marketer, payload, field):
    lead = LeadFactory()

    response = client_for(marketer).post(lead_url(lead, "transition"), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert lead.transitions.count() == 1


def test_transition_of_an_unknown_lead_is_404(marketer):
    response = client_for(marketer).post(f"{LEADS}999999/transition/", {"to": "mql", "reason": "x"}, format="json")

    assert response.status_code == 404


# --- Activities and history ------------------------------------------------------------------


def test_activities_newest_first_with_their_type(sdr):
    lead = LeadFactory()
    now = timezone.now()
    older = ActivityFactory(lead=lead, occurred_at=now - timedelta(days=2), properties={"url": "/pricing"})
    newer = ActivityFactory(
        lead=lead,
        occurred_at=now - timedelta(hours=1),
        type=ActivityType.objects.get(code="page_view"),
        source_system="hubspot",
        external_id="hs-1",
    )
    ActivityFactory()  # another lead's

    response = client_for(sdr).get(lead_url(lead, "activities"))

    assert response.status_code == 200
    assert ids(response) == [newer.pk, older.pk]
    row = response.json()["results"][0]
    assert row["type"] == {"code": "page_view", "name": "Page view"}
    assert (row["source_system"], row["external_id"]) == ("hubspot", "hs-1")
    assert response.json()["results"][1]["properties"] == {"url": "/pricing"}


def test_activities_pages_walk_every_activity_once(sdr):
    lead = LeadFactory()
    same_moment = timezone.now() - timedelta(hours=1)
    activities = [ActivityFactory(lead=lead, occurred_at=same_moment - timedelta(minutes=n % 3)) for n in range(8)]
    expected = [a.pk for a in sorted(activities, key=lambda a: (a.occurred_at, a.pk), reverse=True)]

    pages = walk(client_for(sdr), f"{lead_url(lead, 'activities')}?page_size=3")

    assert [pk for page in pages for pk in page] == expected
    assert [len(page) for page in pages] == [3, 3, 2]


def test_activities_of_an_unknown_lead_is_404(sdr):
    assert client_for(sdr).get(f"{LEADS}999999/activities/").status_code == 404


def test_history_oldest_first_with_who_and_why(marketer):
    lead = LeadFactory()
    client = client_for(marketer)
    client.post(lead_url(lead, "transition"), {"to": "mql", "reason": "Hand-raiser"}, format="json")
    client.post(lead_url(lead, "transition"), {"to": "recycled", "reason": "No budget"}, format="json")

    response = client.get(lead_url(lead, "history"))

    assert response.status_code == 200
    rows = response.json()
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == [
        ("", "lead"),
        ("lead", "mql"),
        ("mql", "recycled"),
    ]
    created, to_mql, _ = rows
    assert created["actor"] == {"user": None, "rule": "test factory", "label": "Rule: test factory"}
    assert created["reason"] == "Created"
    assert to_mql["actor"]["user"] == {"id": marketer.pk, "name": marketer.get_full_name()}
    assert to_mql["actor"]["rule"] == ""
    assert to_mql["reason"] == "Hand-raiser"
    moments = [datetime.fromisoformat(row["at"]) for row in rows]
    assert moments == sorted(moments)


def test_history_of_an_unknown_lead_is_404(sdr):
    assert client_for(sdr).get(f"{LEADS}999999/history/").status_code == 404


# --- Activity types and campaigns ------------------------------------------------------------


def test_activity_types_list_the_managed_list(sdr):
    response = client_for(sdr).get("/api/v1/activity-types/")

    assert response.status_code == 200
    codes = {row["code"] for row in response.json()}
    assert codes == set(ActivityType.objects.values_list("code", flat=True))
    assert "page_view" in codes


def test_campaigns_list_retrieve_and_create(marketer):
    CampaignFactory(slug="b-campaign", name="B")
    CampaignFactory(slug="a-campaign", name="A")
    client = client_for(marketer)

    assert [c["slug"] for c in client.get("/api/v1/campaigns/").json()["results"]] == [
        "a-campaign",
        "b-campaign",
    ]
    assert client.get("/api/v1/campaigns/a-campaign/").json()["name"] == "A"
    assert client.get("/api/v1/campaigns/nope/").status_code == 404

    response = client.post(
        "/api/v1/campaigns/",
        {"slug": "Spring-Launch", "name": "Spring launch", "channel": "event", "starts_on": "2026-03-01"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "spring-launch"
    assert Campaign.objects.get(slug="spring-launch").channel == "event"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "TAKEN", "name": "Again"}, "slug"),
        ({"slug": "not a slug", "name": "X"}, "slug"),
        ({"slug": "new"}, "name"),
        ({"slug": "new", "name": "X", "starts_on": "2026-03-02", "ends_on": "2026-03-01"}, "ends_on"),
        ({"slug": "new", "name": "X", "channel": "fax"}, "channel"),
        ({"slug": "new", "name": "X", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_bad_campaigns_are_400_naming_the_field(manager, payload, field):
    CampaignFactory(slug="taken")

    response = client_for(manager).post("/api/v1/campaigns/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Campaign.objects.count() == 1


# --- Permissions -----------------------------------------------------------------------------

READS = ["list", "detail", "activities", "history", "activity-types", "campaigns"]


def _request(client: APIClient, what: str, lead: Lead) -> Any:
    return {
        "list": lambda: client.get(LEADS),
        "detail": lambda: client.get(lead_url(lead)),
        "activities": lambda: client.get(lead_url(lead, "activities")),
        "history": lambda: client.get(lead_url(lead, "history")),
        "activity-types": lambda: client.get("/api/v1/activity-types/"),
        "campaigns": lambda: client.get("/api/v1/campaigns/"),
        "create": lambda: client.post(LEADS, {"email": "perm@acme.test"}, format="json"),
        "patch": lambda: client.patch(lead_url(lead), {"job_title": "CEO"}, format="json"),
        "transition": lambda: client.post(lead_url(lead, "transition"), {"to": "mql", "reason": "x"}, format="json"),
        "create-campaign": lambda: client.post("/api/v1/campaigns/", {"slug": "p", "name": "P"}, format="json"),
    }[what]()


@pytest.mark.parametrize("role", ["marketer", "sdr", "manager"])
@pytest.mark.parametrize("what", READS)
def test_every_role_reads(request, role, what):
    lead = LeadFactory()

    assert _request(client_for(request.getfixturevalue(role)), what, lead).status_code == 200


@pytest.mark.parametrize(
    ("role", "what", "status"),
    [
        ("marketer", "create", 201),
        ("manager", "create", 201),
        ("sdr", "create", 403),
        ("marketer", "patch", 200),
        ("manager", "patch", 200),
        ("sdr", "patch", 403),
        ("marketer", "transition", 200),
        ("manager", "transition", 200),
        ("sdr", "transition", 403),
        ("marketer", "create-campaign", 201),
        ("manager", "create-campaign", 201),
        ("sdr", "create-campaign", 403),
    ],
)
def test_writes_by_role(request, role, what, status):
    lead = LeadFactory(job_title="Engineer")

    response = _request(client_for(request.getfixturevalue(role)), what, lead)

    assert response.status_code == status
    if status == 403:
        assert response.json()["detail"]
        lead.refresh_from_db()
        assert (lead.stage, lead.job_title) == (Stage.LEAD, "Engineer")
        assert not Lead.objects.filter(email="perm@acme.test").exists()
        assert not Campaign.objects.filter(slug="p").exists()


@pytest.mark.parametrize("what", [*READS, "create", "patch", "transition"])
def test_a_user_without_a_role_is_refused(no_role_user, what):
    assert _request(client_for(no_role_user), what, LeadFactory()).status_code == 403


@pytest.mark.parametrize("what", [*READS, "create", "patch", "transition"])
def test_anonymous_requests_are_401_with_a_token_challenge(what):
    # SessionAuthentication is listed first and has no challenge, which would make DRF answer
    # 403; crm.api.AuthenticateHeaderMixin answers 401 and says how to authenticate.
    response = _request(client_for(None), what, LeadFactory())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_sdr_cannot_write_even_to_a_lead_it_owns(sdr):
    lead = LeadFactory(owner=sdr)

    assert client_for(sdr).patch(lead_url(lead), {"job_title": "x"}, format="json").status_code == 403


# --- Token authentication --------------------------------------------------------------------

TOKEN = "/api/v1/auth/token/"


def test_obtain_a_token_and_use_it(marketer):
    response = APIClient().post(TOKEN, {"username": "mia.marketer", "password": "correct-horse-battery"})

    assert response.status_code == 200
    key = response.json()["token"]
    assert ApiToken.objects.filter(user=marketer).count() == 1  # only a digest of the key is stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(LEADS).status_code == 200
    assert client.post(LEADS, {"email": "via-token@acme.test"}, format="json").status_code == 201


def test_token_auth_applies_role_rules(sdr):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=sdr).key}")

    assert client.get(LEADS).status_code == 200
    assert client.post(LEADS, {"email": "x@acme.test"}, format="json").status_code == 403


def test_a_wrong_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get(LEADS).status_code == 401


def test_wrong_password_is_400(marketer):
    response = APIClient().post(TOKEN, {"username": "mia.marketer", "password": "wrong"})

    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert not ApiToken.objects.exists()


def test_repeated_failures_lock_the_username_out_of_the_token_endpoint(marketer, settings):
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(TOKEN, {"username": "mia.marketer", "password": "wrong"}).status_code == 400
    last_try = client.post(TOKEN, {"username": "mia.marketer", "password": "wrong"})

    response = client.post(TOKEN, {"username": "mia.marketer", "password": "correct-horse-battery"})

    assert last_try.status_code == response.status_code == 429
    assert response.json()["code"] == "locked_out"
    assert "too many login attempts" in response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_a_lockout_is_per_username(marketer, manager, settings):
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(TOKEN, {"username": "mia.marketer", "password": "wrong"})

    response = client.post(TOKEN, {"username": "max.manager", "password": "correct-horse-battery"})

    assert response.status_code == 200


# --- Query counts ----------------------------------------------------------------------------
# A request with a session costs: the user and the user's permissions with its groups' (2: the
# session itself is read from the cache); then what the endpoint itself reads.


def _leads_with_everything(n: int, owner: Any) -> None:
    campaign = CampaignFactory()
    for _ in range(n):
        LeadFactory(owner=owner, campaign=campaign)


@pytest.mark.parametrize("n", [3, 25])
def test_lead_list_query_count_does_not_grow_with_the_page(marketer, sdr, django_assert_num_queries, n):
    _leads_with_everything(n, sdr)
    client = client_for(marketer)

    with django_assert_num_queries(3):
        response = client.get(LEADS)

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [3, 25])
def test_filtered_lead_list_query_count(marketer, sdr, django_assert_num_queries, n):
    _leads_with_everything(n, sdr)
    client = client_for(marketer)
    campaign = Campaign.objects.get()

    # + the owner and campaign filter values, each checked to exist.
    with django_assert_num_queries(5):
        response = client.get(LEADS, {"owner": sdr.pk, "campaign": campaign.pk, "stage": "lead", "page_size": 10})

    assert len(response.json()["results"]) == min(n, 10)


@pytest.mark.parametrize("n", [3, 25])
def test_activities_query_count_does_not_grow_with_the_page(sdr, django_assert_num_queries, n):
    lead = LeadFactory()
    for _ in range(n):
        ActivityFactory(lead=lead)
    client = client_for(sdr)

    with django_assert_num_queries(4):  # + the lead, + its activities with their types
        response = client.get(lead_url(lead, "activities"))

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("steps", [1, 4])
def test_history_query_count_does_not_grow_with_the_history(marketer, sdr, django_assert_num_queries, steps):
    lead = LeadFactory()
    stages = [Stage.MQL, Stage.RECYCLED, Stage.MQL, Stage.DISQUALIFIED][: steps - 1]
    client = client_for(marketer)
    for stage in stages:
        client.post(lead_url(lead, "transition"), {"to": stage, "reason": "step"}, format="json")
    client = client_for(sdr)

    with django_assert_num_queries(4):  # + the lead, + its transitions with their users
        response = client.get(lead_url(lead, "history"))

    assert len(response.json()) == steps


# --- The exception handler's translation of service errors -----------------------------------


def test_service_validation_errors_become_field_errors():
    assert validation_error_detail(ValidationError({"email": "Bad.", NON_FIELD_ERRORS: "Both."})) == {
        "email": ["Bad."],
        "non_field_errors": ["Both."],
    }
    assert validation_error_detail(ValidationError("No field.")) == {"non_field_errors": ["No field."]}
