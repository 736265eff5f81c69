"""The lead list's fast rendering (leads.serializers.lead_list_representation) against DRF's own:
LeadSerializer's generic `to_representation` is the reference, byte for byte once rendered, over
leads with and without each related record, odd values, and other time zones and settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import JSONField, Value
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from crm.api import UserSummarySerializer, user_summary
from crm.roles import Role
from leads import services
from leads.lifecycle import Stage
from leads.models import ActivityType, CompanySize, Industry, Lead
from leads.serializers import LEAD_LIST_VALUES, LeadSerializer, lead_list_representation
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, LeadFactory, UserFactory, lead_at_stage

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/leads/"


@pytest.fixture
def varied_leads(sdr) -> list[Lead]:
    # Scored by the scoring service, with a hot signal: an explanation, a model version, a hot time.
    scored = LeadFactory(
        email="vp@scored.test",
        job_title="VP Marketing",
        company=CompanyFactory(industry=Industry.SOFTWARE, size=CompanySize.S_201_1000, country="US"),
        campaign=CampaignFactory(slug="spring", name="Spring webinar"),
        owner=sdr,
    )
    for code in ("pricing_page_view", "demo_request", "content_download"):
        ActivityFactory(lead=scored, type=ActivityType.objects.get(code=code))
    services.scoring_rescore_leads(lead_ids=[scored.pk])

    # Nothing related, never scored.
    bare = LeadFactory(email="someone@gmail.com", first_name="", last_name="", job_title="", company=None)

    # Blank company fields (no country, industry or size: no segment), an owner with no names (the
    # username stands in), odd characters and surrounding spaces everywhere.
    nameless = UserFactory(username="nameless", first_name="", last_name="", role=Role.SDR)  # owners have a role
    odd = LeadFactory(
        email="o'neil+tag@ødegård.test",
        first_name="  Øystein",
        last_name="O'Neil  \"the\" <b>bold</b> 😀 ",
        job_title='Chief "Everything" Officer & co',
        phone="+47 (0) 22-33\t44",
        company=CompanyFactory(name="  Ødegård & Søn  ", industry="", size="", country=""),
        campaign=CampaignFactory(slug="ünïcode", name="Ünïcode — “quoted”"),
        source_detail="utm_source=x&utm_medium=y",
        owner=nameless,
    )

    # Hand-set scores and explanation: negative parts, ties (broken by the rule id), unsorted.
    explained = lead_at_stage(
        Stage.MQL,
        email="explained@ent.test",
        first_name="Grace",
        last_name="Hopper",
        company=CompanyFactory(size=CompanySize.S_5000_PLUS, country="GB", industry=Industry.FINANCIAL_SERVICES),
        owner=UserFactory(username="rep2", first_name="Ada", last_name="", role=Role.SDR),
    )
    parts = [
        {"kind": "engagement", "rule": 9, "label": "Unsubscribed", "points": -10},
        {"kind": "fit", "rule": 3, "label": "Free-mail domain", "points": -20},
        {"kind": "engagement", "rule": 2, "label": "Webinar", "points": 15},
        {"kind": "fit", "rule": 7, "label": "Enterprise", "points": 15},
        {"kind": "fit", "rule": 1, "label": "VP", "points": 15},
    ]
    Lead.objects.filter(pk=explained.pk).update(
        fit_score=10,
        engagement_score=5,
        score_explanation=parts,
        # Whole seconds (no microseconds in the output), and long ago.
        hot_signal_at=datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
        scored_at=timezone.now() - timedelta(days=400),
    )

    # A JSON null explanation renders as an empty list.
    null_explained = LeadFactory(email="null@explained.test", company=None, fit_score=-5, engagement_score=0)
    Lead.objects.filter(pk=null_explained.pk).update(score_explanation=Value(None, JSONField()))

    # Two leads sharing a company, a campaign and an owner (rendered once, shown twice).
    shared_company = CompanyFactory(name="Shared", size=CompanySize.S_11_50, country="DE")
    shared_campaign = CampaignFactory(slug="shared")
    twins = [
        LeadFactory(email=f"twin{n}@shared.test", company=shared_company, campaign=shared_campaign, owner=sdr)
        for n in (1, 2)
    ]
    return [scored, bare, odd, explained, null_explained, *twins]


def generic(leads: list[Lead]) -> Any:
    """DRF's own rendering of LeadSerializer (the reference the fast path must equal)."""
    related = Lead.objects.select_related("company", "owner", "campaign", "scoring_model")
    return LeadSerializer(related.filter(pk__in=[lead.pk for lead in leads]).order_by("id"), many=True).data


def fast(leads: list[Lead]) -> list[dict[str, Any]]:
    rows = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("id").values(*LEAD_LIST_VALUES)
    return lead_list_representation(rows)


def rendered(data: Any) -> bytes:
    return JSONRenderer().render(data)


def test_the_fixture_covers_what_it_claims(varied_leads):
    reference = {row["email"]: row for row in generic(varied_leads)}
    scored = reference["vp@scored.test"]
    assert scored["is_hot"] is True
    assert scored["scoring_model_version"] is not None
    assert len(scored["score_explanation"]) > 1
    assert reference["someone@gmail.com"]["company"] is None
    assert reference["someone@gmail.com"]["scoring_model_version"] is None
    assert reference["o'neil+tag@ødegård.test"]["owner"]["name"] == "nameless"
    assert reference["o'neil+tag@ødegård.test"]["company"]["segment"] == ""
    assert reference["explained@ent.test"]["hot_signal_at"] == "2001-02-03T04:05:06Z"
    assert reference["null@explained.test"]["score_explanation"] == []


@pytest.mark.parametrize("zone", [None, "America/New_York", "Asia/Kolkata"])
def test_fast_rows_equal_drf_byte_for_byte(varied_leads, zone):
    with timezone.override(zone):  # None: the default (settings.TIME_ZONE)
        expected, actual = generic(varied_leads), fast(varied_leads)
    assert actual == expected
    assert rendered(actual) == rendered(expected)


def test_explanations_are_sorted_as_the_serializer_sorts_them(varied_leads):
    explained = next(row for row in fast(varied_leads) if row["email"] == "explained@ent.test")
    assert [(p["kind"], p["rule"]) for p in explained["score_explanation"]] == [
        ("fit", 1),
        ("fit", 7),
        ("fit", 3),
        ("engagement", 2),
        ("engagement", 9),
    ]


def test_other_datetime_settings_fall_back_to_drf_field_rendering(varied_leads, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_FORMAT": "%d/%m/%Y %H:%M"}
    expected, actual = generic(varied_leads), fast(varied_leads)
    assert expected[0]["created_at"].count("/") == 2
    assert rendered(actual) == rendered(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "oldest"},
        {"sort": "name"},
        {"reached": "mql"},  # an EXISTS filter
        {"mql_after": "2000-01-01T00:00:00Z"},  # an annotation the rows do not show
        {"q": "hopper", "segment": "enterprise"},  # a join the rows also read
    ],
)
def test_the_endpoint_answers_what_drf_would(marketer, varied_leads, params):
    client = APIClient()
    client.force_login(marketer)

    response = client.get(LEADS, {**params, "page_size": 200})

    assert response.status_code == 200
    shown = [row["id"] for row in response.json()["results"]]
    assert shown
    by_id = {row["id"]: row for row in generic(varied_leads)}
    expected = {"next": None, "previous": None, "results": [by_id[pk] for pk in shown]}
    assert response.content == rendered(expected)


def test_the_list_reads_only_what_it_shows(marketer, varied_leads):
    client = APIClient()
    client.force_login(marketer)
    client.get(LEADS)  # the session and permissions, loaded once

    with CaptureQueriesContext(connection) as queries:
        client.get(LEADS)

    lead_query = next(q["sql"] for q in queries.captured_queries if '"leads_lead"' in q["sql"])
    for unshown in ("password", "phone_digits", "qualifying_call_id", '"notes"', "date_joined"):
        assert unshown not in lead_query


@pytest.mark.parametrize(("first", "last"), [("Ada", "Lovelace"), ("", ""), ("  ", ""), ("Ada", "")])
def test_user_summary_equals_the_serializer(first, last):
    user = UserFactory(username=f"u-{first.strip()}-{last}", first_name=first, last_name=last)
    assert user_summary(user) == UserSummarySerializer(user).data
