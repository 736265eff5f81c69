"""The OpenAPI schema generates without warnings, and the docs page serves Swagger UI from the
sidecar package (our own static files), never a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/leads/": {"get", "post"},
    "/api/v1/leads/{id}/": {"get", "put", "patch"},
    "/api/v1/leads/{id}/activities/": {"get"},
    "/api/v1/leads/{id}/history/": {"get"},
    "/api/v1/leads/{id}/transition/": {"post"},
    "/api/v1/activity-types/": {"get"},
    "/api/v1/campaigns/": {"get", "post"},
    "/api/v1/campaigns/{slug}/": {"get"},
    "/api/v1/activities/": {"post"},
    "/api/v1/forms/capture/": {"post"},
    "/api/v1/leads/upsert/": {"put"},
    "/api/v1/leads/{id}/duplicates/": {"get"},
    "/api/v1/leads/{id}/merge/": {"post"},
    "/api/v1/queue/": {"get"},
    "/api/v1/queue/hand-off/": {"post"},
    "/api/v1/queue/nurture/": {"post"},
    "/api/v1/queue/disqualify/": {"post"},
    "/api/v1/assignments/": {"get"},
    "/api/v1/leads/{id}/reassign/": {"post"},
    "/api/v1/leads/{id}/touches/": {"post"},
    "/api/v1/leads/{id}/accept/": {"post"},
    "/api/v1/leads/{id}/reject/": {"post"},
    "/api/v1/leads/{id}/convert/": {"post"},
    "/api/v1/leads/{id}/advance/": {"post"},
    "/api/v1/leads/{id}/discovery-calls/": {"get", "post"},
    "/api/v1/opportunities/": {"get"},
    "/api/v1/rejection-reasons/": {"get"},
    "/api/v1/notifications/": {"get"},
    "/api/v1/notifications/read/": {"post"},
}


def test_schema_generates_and_validates_without_warnings(tmp_path: Path):
    target = tmp_path / "schema.yml"

    # --fail-on-warn turns any drf-spectacular warning into a SystemExit.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    documented = {path: set(operations) for path, operations in schema["paths"].items()}
    for path, operations in ENDPOINTS.items():  # every endpoint is documented (others may be too)
        assert documented.get(path, set()) >= operations, path
    lead_list = schema["paths"]["/api/v1/leads/"]["get"]
    parameters = {parameter["name"] for parameter in lead_list["parameters"]}
    assert parameters == {
        "q",
        "stage",
        "source_channel",
        "campaign",
        "owner",
        "segment",
        "fit_min",
        "fit_max",
        "engagement_min",
        "engagement_max",
        "source_detail",
        "team",
        "created_after",
        "created_before",
        "reached",
        "entered",
        "entered_after",
        "entered_before",
        "mql_after",
        "mql_before",
        "sort",
        "cursor",
        "page_size",
    }
    lead = schema["components"]["schemas"]["Lead"]
    assert lead["properties"]["stage"]["readOnly"] is True
    write = schema["components"]["schemas"]["LeadCreateRequest"]["properties"]
    assert "stage" not in write
    assert "fit_score" not in write
    assert "409" in schema["paths"]["/api/v1/leads/{id}/transition/"]["post"]["responses"]


def test_schema_endpoint_serves_signed_in_users(sdr):
    client = APIClient()
    client.force_login(sdr)

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/leads/" in response.json()["paths"]


def test_schema_and_docs_refuse_anonymous_users():
    client = APIClient()

    # 403 while SessionAuthentication is the first authentication class (no challenge to send).
    assert client.get("/api/schema/").status_code in {401, 403}
    assert client.get("/api/docs/").status_code in {401, 403}


def test_docs_page_serves_swagger_ui_from_the_sidecar_not_a_cdn(sdr):
    client = APIClient()
    client.force_login(sdr)

    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in html
    external = re.findall(r"""(?:src|href)=["'](https?:)?//[^"']+""", html)
    assert external == []
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"):
        assert cdn not in html
    # ... and the files it names are ours to serve.
    for asset in re.findall(r"/static/(drf_spectacular_sidecar/[^\"']+)", html):
        assert finders.find(asset), asset
