"""The report API: /api/v1/reports/<report>/ — permissions as on the pages, the pages' numbers as
JSON, and 400s that name the bad parameter."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from django.urls import NoReverseMatch, include, path, reverse

from crm import urls as crm_urls
from reporting.funnel import Mode, funnel
from tests.reporting import histories as h

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 1, tzinfo=UTC)
PERIOD = {"from": "2026-03-05", "to": "2026-04-20"}
START, END = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 4, 21, tzinfo=UTC)
REPORTS = ["funnel", "velocity", "sla", "marketing", "feedback", "reps"]
MARKETER_REPORTS = {"funnel", "velocity", "marketing", "feedback"}

# The project mounts `reporting.api` at /api/v1/reports/ in crm/api_urls.py. Until it does, these
# tests mount it themselves, on top of the project's URLs, at the same place.
urlpatterns = [path("api/v1/reports/", include("reporting.api")), *crm_urls.urlpatterns]


@pytest.fixture(autouse=True)
def _report_api_mounted(settings):  # type: ignore[no-untyped-def]
    try:
        reverse("api-report-funnel")
    except NoReverseMatch:
        settings.ROOT_URLCONF = sys.modules[__name__].__name__


def api(name: str) -> str:
    return reverse(f"api-report-{name}")


@pytest.mark.parametrize("name", REPORTS)
def test_the_api_lives_under_v1(name):
    assert api(name) == f"/api/v1/reports/{name}/"


@pytest.mark.parametrize("name", REPORTS)
def test_anonymous_calls_are_asked_to_authenticate(client, name):
    response = client.get(api(name))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("name", REPORTS)
@pytest.mark.parametrize("role", ["marketer", "sdr", "manager", "no_role_user"])
def test_permission_matrix(client, request, name, role):
    client.force_login(request.getfixturevalue(role))
    allowed = role == "manager" or (role == "marketer" and name in MARKETER_REPORTS)
    assert client.get(api(name)).status_code == (200 if allowed else 403)


def test_a_token_works_as_well_as_a_session(client, manager):
    from crm.security.tokens import api_token_create

    token = api_token_create(user=manager)
    response = client.get(api("funnel"), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_funnel_json_equals_the_selector(client, manager):
    h.build(41, 60, BASE)
    client.force_login(manager)
    body = client.get(api("funnel"), {**PERIOD, "mode": "mql", "breakdown": "channel"}).json()
    expected = funnel(start=START, end=END, mode=Mode.MQL, breakdown="channel")
    assert body["period"] == {
        "from": "2026-03-05",
        "to": "2026-04-20",
        "preset": "custom",
        "label": "Mar 5 – Apr 20, 2026",
    }
    assert (body["mode"], body["breakdown"]) == ("mql", "channel")
    assert {s["stage"]: s["count"] for s in body["total"]["stages"]} == expected.total.counts
    assert body["total"]["mql_to_sql"] == expected.total.mql_to_sql
    assert [(r["key"], {s["stage"]: s["count"] for s in r["stages"]}) for r in body["rows"]] == [
        (row.key, row.counts) for row in expected.rows
    ]
    first = body["rows"][0]
    assert set(first) == {"key", "label", "stages", "mql_to_sql", "overall", "rank"}
    assert set(first["stages"][0]) == {"stage", "label", "count", "conversion", "share", "leads_url"}
    assert first["stages"][1]["leads_url"].startswith("/leads/?mql_after=")
    assert f"source_channel={first['key']}" in first["stages"][1]["leads_url"]


def test_funnel_leads_url_opens_the_same_number_of_leads(client, manager):
    h.build(42, 50, BASE)
    client.force_login(manager)
    body = client.get(api("funnel"), PERIOD).json()
    sal = next(s for s in body["total"]["stages"] if s["stage"] == "sal")
    assert client.get(sal["leads_url"]).context["total"] == sal["count"]


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("velocity", {"period", "breakdown", "total", "rows", "stalls"}),
        (
            "sla",
            {
                "period",
                "handed_off",
                "touched_in_time",
                "touched_late",
                "breached_untouched",
                "running",
                "stopped",
                "within_sla",
                "first_response_business_minutes",
                "first_response_wall_minutes",
                "by_rep",
                "by_team",
                "by_policy",
                "weekly",
            },
        ),
        (
            "marketing",
            {
                "period",
                "months",
                "delivered",
                "target",
                "attainment",
                "review",
                "review_target_minutes",
                "review_overdue_now",
                "queue_review_hours",
            },
        ),
        ("feedback", {"period", "by", "reasons", "rows", "total"}),
        ("reps", {"period", "rows"}),
    ],
)
def test_every_report_answers_json_of_its_shape(client, manager, name, keys):
    h.build(43, 30, BASE)
    client.force_login(manager)
    response = client.get(api(name), {"period": "90d"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == keys


def test_velocity_json_has_the_three_steps_and_the_stalls(client, manager):
    h.build(44, 40, BASE)
    client.force_login(manager)
    body = client.get(api("velocity"), {**PERIOD, "breakdown": "segment"}).json()
    assert [s["step"] for s in body["total"]["steps"]] == ["mql→sal", "sal→sql", "mql→sql"]
    assert {s["stage"] for s in body["stalls"]} == {"lead", "mql", "sal", "sql", "opportunity", "recycled"}
    assert all(row["key"] in {"smb", "mid_market", "enterprise", ""} for row in body["rows"])


def test_marketing_period_is_widened_to_whole_months(client, manager):
    client.force_login(manager)
    body = client.get(api("marketing"), {"from": "2026-02-10", "to": "2026-03-03"}).json()
    assert (body["period"]["from"], body["period"]["to"]) == ("2026-02-01", "2026-03-31")


@pytest.mark.parametrize(
    ("name", "params", "field", "words"),
    [
        ("funnel", {"mode": "weekly"}, "mode", "is not a mode"),
        ("funnel", {"breakdown": "colour"}, "breakdown", "is not a breakdown"),
        ("funnel", {"from": "2026-02-30"}, "from", "is not one"),
        ("funnel", {"from": "2026-04-01", "to": "2026-03-01"}, "from", "is after"),
        ("funnel", {"to": "yesterday"}, "to", "YYYY-MM-DD"),
        ("funnel", {"period": "fortnight"}, "period", "is not a period"),
        ("funnel", {"breakdwn": "channel"}, "breakdwn", "Unknown parameter"),
        ("velocity", {"mode": "flow"}, "mode", "Unknown parameter"),
        ("feedback", {"by": "colour"}, "by", "is not a grouping"),
        ("sla", {"breakdown": "rep"}, "breakdown", "Unknown parameter"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, manager, name, params, field, words):
    client.force_login(manager)
    response = client.get(api(name), params)
    assert response.status_code == 400
    body = response.json()
    assert field in body
    assert any(words in message for message in body[field])


def test_defaults_when_nothing_is_given(client, marketer):
    client.force_login(marketer)
    body = client.get(api("funnel")).json()
    assert (body["period"]["preset"], body["mode"], body["breakdown"], body["rows"]) == ("30d", "created", "", [])
