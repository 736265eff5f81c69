"""The CSV import pages: upload, map the columns, run, results and the failed rows download."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads import csv_import
from leads.models import Activity, CsvImport, Job, JobStatus, Lead
from tests import factories
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

LEADS_CSV = (
    "E-mail,First Name,Last Name,Job Title,Company\n"
    "ada@analytical.example,Ada,Lovelace,VP Engineering,Analytical Engines\n"
    "grace@navy.example,Grace,Hopper,Director,US Navy\n"
    "not-an-email,Bad,Row,,\n"
    "alan@acm.example,Alan,Turing,Researcher,ACM\n"
    "ada@analytical.example,Ada,Again,,\n"
    "linus@kernel.example,Linus,T,Maintainer,Kernel\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def csv_file(content: str | bytes, name: str = "leads.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def upload(client, content: str | bytes, *, kind: str = "leads", encoding: str = "utf-8-sig", name: str = "leads.csv"):  # type: ignore[no-untyped-def]
    return client.post(reverse("leads:imports"), {"file": csv_file(content, name), "kind": kind, "encoding": encoding})


def uploaded(client, content: str = LEADS_CSV, **kwargs) -> CsvImport:  # type: ignore[no-untyped-def]
    response = upload(client, content, **kwargs)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return CsvImport.objects.latest("created_at")


def start(client, record: CsvImport, data: dict, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("leads:import_map", kwargs={"pk": record.pk}), data)


# --- access -----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("leads:imports"))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_sdrs_cannot_import(client, sdr):
    client.force_login(sdr)

    assert client.get(reverse("leads:imports")).status_code == 403
    assert upload(client, LEADS_CSV).status_code == 403
    assert not CsvImport.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "manager"])
def test_marketers_and_managers_see_the_upload_form(client, role, request):
    client.force_login(request.getfixturevalue(role))

    response = client.get(reverse("leads:imports"))

    assert response.status_code == 200
    text = text_of(response)
    assert "Upload a file" in text
    assert "Email required" in text  # the columns Baton reads, the required ones marked
    assert "Activity type required" in text
    assert [value for value, _ in response.context["form"].fields["encoding"].choices] == list(csv_import.ENCODINGS)


# --- upload -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "encoding", "message"),
    [
        (b"", "utf-8-sig", "The file is empty."),
        ("Email,Name\nzoë@x.example,Zoë\n".encode("cp1252"), "utf-8-sig", "The file is not valid UTF-8"),
        (",,\na@x.example,b,c\n", "utf-8-sig", "The first row must name the columns (a header row)."),
        ("Email,Name\n", "utf-8-sig", "The file has a header row but no data rows."),
        ("Email,Email\na@x.example,b\n", "utf-8-sig", "Column names must be unique; repeated: Email."),
    ],
)
def test_unreadable_files_are_refused_on_the_file_field(client, marketer, content, encoding, message):
    client.force_login(marketer)

    response = upload(client, content, encoding=encoding)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["file"]
    assert message in errors["file"][0]
    assert message in text_of(response)
    assert "is-invalid" in response.content.decode()
    assert not CsvImport.objects.exists()


def test_a_file_over_the_size_limit_is_refused(client, marketer, monkeypatch):
    monkeypatch.setattr(csv_import, "MAX_UPLOAD_BYTES", 1024 * 1024)
    client.force_login(marketer)

    response = upload(client, "Email\n" + "a@x.example\n" * 100_000)

    assert "The file is larger than 1 MB; split it." in response.context["form"].errors["file"]


def test_a_missing_file_or_unknown_encoding_is_refused_on_its_field(client, marketer):
    client.force_login(marketer)

    no_file = client.post(reverse("leads:imports"), {"kind": "leads", "encoding": "utf-8-sig"})
    bad_encoding = upload(client, LEADS_CSV, encoding="ebcdic")

    assert list(no_file.context["form"].errors) == ["file"]
    assert list(bad_encoding.context["form"].errors) == ["encoding"]


def test_a_windows_file_uploads_when_its_encoding_is_chosen(client, marketer):
    client.force_login(marketer)

    record = uploaded(client, "Email;Name\nzoë@x.example;Zoë\n".encode("cp1252"), encoding="cp1252")

    assert (record.encoding, record.delimiter, record.row_count) == ("cp1252", ";", 1)


# --- mapping ----------------------------------------------------------------------------------


def test_the_mapping_page_is_prefilled_with_the_guess_and_previews_the_first_rows(client, marketer):
    client.force_login(marketer)

    response = client.get(reverse("leads:import_map", kwargs={"pk": uploaded(client).pk}))

    form = response.context["form"]
    assert form["email"].value() == "E-mail"
    assert form["job_title"].value() == "Job Title"
    assert form["company_name"].value() == "Company"
    assert form["phone"].value() in (None, "")
    assert "time_zone" not in form.fields  # leads have no dates
    assert len(response.context["rows"]) == 5
    assert response.context["rows"][0][:2] == ["ada@analytical.example", "Ada"]
    text = text_of(response)
    assert "Email required" in text
    assert "6 rows, 5 columns" in text
    assert "linus@kernel.example" not in text  # the sixth row is not previewed


def test_activity_imports_ask_for_the_time_zone_of_their_dates(client, marketer):
    client.force_login(marketer)
    record = uploaded(client, "Email,Activity,Date\na@x.example,page_view,2026-11-02 10:00\n", kind="activities")

    form = client.get(reverse("leads:import_map", kwargs={"pk": record.pk})).context["form"]

    assert form["type"].value() == "Activity"
    assert form["occurred_at"].value() == "Date"
    assert form["time_zone"].value() == "UTC"
    assert ("Europe/Paris", "Europe/Paris") in form.fields["time_zone"].choices


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": ""}, "email", "Choose the column that holds the email."),
        ({"first_name": "E-mail"}, "first_name", "The column “E-mail” is already mapped to Email."),
        ({"phone": "Fax"}, "phone", "Select a valid choice"),
    ],
)
def test_mapping_errors_are_shown_on_their_field_and_nothing_starts(
    client, marketer, data, field, message, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    record = uploaded(client)

    response = start(client, record, {**record.mapping, **data}, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert "The import did not start" in text_of(response)
    assert 'aria-invalid="true"' in response.content.decode()
    record.refresh_from_db()
    assert record.job is None
    assert not Job.objects.exists()


def test_an_unknown_time_zone_is_refused(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    record = uploaded(client, "Email,Activity\na@x.example,page_view\n", kind="activities")

    response = start(
        client, record, {**record.mapping, "time_zone": "Mars/Olympus"}, django_capture_on_commit_callbacks
    )

    assert "time_zone" in response.context["form"].errors
    assert CsvImport.objects.get(pk=record.pk).job is None


# --- running, results, failed rows ------------------------------------------------------------


def test_a_lead_import_runs_and_reports_its_counts_and_failed_rows(
    client, marketer, django_capture_on_commit_callbacks
):
    LeadFactory(email="grace@navy.example", first_name="Grace", last_name="Hopper", job_title="Rear Admiral")
    client.force_login(marketer)
    record = uploaded(client)

    response = start(client, record, record.mapping, django_capture_on_commit_callbacks)

    assert response["Location"] == reverse("leads:import_detail", kwargs={"pk": record.pk})
    record.refresh_from_db()
    assert record.job.status == JobStatus.DONE
    page = client.get(response["Location"])
    counts = {count["key"]: count["value"] for count in page.context["counts"]}
    assert counts == {"created": 3, "updated": 1, "unchanged": 0, "duplicate": 0, "failed": 2}
    text = text_of(page)
    for shown in ("Created 3", "Updated 1", "Failed 2"):
        assert shown in text
    assert "Download failed rows" in text
    html = page.content.decode()
    assert 'data-job-finished="true"' in html
    assert 'aria-valuenow="100"' in html
    assert Lead.objects.filter(email="ada@analytical.example", first_name="Ada").exists()

    download = client.get(reverse("leads:import_failures", kwargs={"pk": record.pk}))
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    assert 'filename="leads-failed-rows.csv"' in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(row["row"], row["E-mail"]) for row in rows] == [("4", "not-an-email"), ("6", "ada@analytical.example")]
    assert "not a valid email address" in rows[0]["error"]
    assert "Repeats row 2" in rows[1]["error"]


def test_an_activity_import_uses_the_chosen_time_zone(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    record = uploaded(
        client,
        "Email,Activity,Date\nada@analytical.example,webinar_attended,2026-11-02 10:00\n",
        kind="activities",
        name="webinars.csv",
    )

    start(client, record, {**record.mapping, "time_zone": "Europe/Paris"}, django_capture_on_commit_callbacks)

    activity = Activity.objects.get(lead__email="ada@analytical.example")
    assert activity.occurred_at.isoformat() == "2026-11-02T09:00:00+00:00"
    page = client.get(reverse("leads:import_detail", kwargs={"pk": record.pk}))
    assert "Every row was imported." in text_of(page)
    assert "Europe/Paris" in text_of(page)
    assert client.get(reverse("leads:import_failures", kwargs={"pk": record.pk})).status_code == 404


def test_a_started_import_cannot_be_mapped_again(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    record = uploaded(client)
    start(client, record, record.mapping, django_capture_on_commit_callbacks)

    again = client.get(reverse("leads:import_map", kwargs={"pk": record.pk}))
    repost = client.post(reverse("leads:import_map", kwargs={"pk": record.pk}), record.mapping)

    assert again["Location"] == repost["Location"] == reverse("leads:import_detail", kwargs={"pk": record.pk})
    assert Job.objects.filter(kind="csv_import").count() == 1


def test_an_import_not_yet_started_shows_its_mapping_page(client, marketer):
    client.force_login(marketer)
    record = uploaded(client)

    response = client.get(reverse("leads:import_detail", kwargs={"pk": record.pk}))

    assert response["Location"] == reverse("leads:import_map", kwargs={"pk": record.pk})


def test_a_running_import_shows_a_polling_progress_bar(client, marketer):
    client.force_login(marketer)
    record = uploaded(client)
    job = Job.objects.create(kind="csv_import", created_by=marketer, total=6, done=3, status=JobStatus.RUNNING)
    CsvImport.objects.filter(pk=record.pk).update(job=job)

    response = client.get(reverse("leads:import_detail", kwargs={"pk": record.pk}))

    html = response.content.decode()
    assert 'data-job-finished="false"' in html
    assert f'data-job-url="{reverse("leads:job", kwargs={"pk": job.pk})}"' in html
    assert "3 of 6 rows" in text_of(response)
    assert response.context["counts"] == []


def test_imports_are_private_to_the_importer_and_managers(
    client, marketer, manager, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    record = uploaded(client)
    start(client, record, record.mapping, django_capture_on_commit_callbacks)
    other = factories.marketer(username="otto.other")

    client.force_login(other)
    for name in ("leads:import_detail", "leads:import_map", "leads:import_failures"):
        assert client.get(reverse(name, kwargs={"pk": record.pk})).status_code == 404, name
    assert record.original_name not in text_of(client.get(reverse("leads:imports")))

    client.force_login(manager)
    assert client.get(reverse("leads:import_failures", kwargs={"pk": record.pk})).status_code == 200
    listing = client.get(reverse("leads:imports"))
    assert [r.pk for r in listing.context["imports"]] == [record.pk]
    assert "Done" in text_of(listing)


def test_the_list_shows_recent_imports_with_their_status(client, marketer, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    done = uploaded(client, name="done.csv")
    start(client, done, done.mapping, django_capture_on_commit_callbacks)
    uploaded(client, name="waiting.csv")

    text = text_of(client.get(reverse("leads:imports")))

    assert re.search(r"waiting\.csv Leads 6 Waiting for mapping", text), text
    assert re.search(r"done\.csv Leads 6 Done 2 failed", text), text
