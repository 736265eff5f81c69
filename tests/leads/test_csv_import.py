"""CSV import of leads and activities (services and the job)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from leads import csv_import
from leads.models import Activity, JobStatus, Lead, RescoreRequest
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(text: str | bytes, name: str = "leads.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def create(text, *, kind="leads", encoding="utf-8-sig", user):
    return csv_import.csv_import_create(upload=upload(text), kind=kind, encoding=encoding, user=user)


def run(record, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = csv_import.csv_import_start(import_id=record.pk)
    job.refresh_from_db()
    record.refresh_from_db()
    return job


def failures(record) -> list[dict[str, str]]:
    with record.failures_file.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode())))


def test_upload_reads_the_header_counts_rows_and_guesses_the_mapping(marketer):
    record = create(
        "E-mail;First Name;Company;Job Title\na@x.example;Ann;X;CTO\n\nb@y.example;Bo;Y;VP\n", user=marketer
    )
    assert record.delimiter == ";"
    assert record.headers == ["E-mail", "First Name", "Company", "Job Title"]
    assert record.row_count == 2
    assert record.mapping == {
        "email": "E-mail", "first_name": "First Name", "job_title": "Job Title", "company_name": "Company",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        ("email,name\n", "no data rows"),
        ("email,email\na,b\n", "must be unique; repeated: email"),
        ("email,\na,b\n", "Column(s) 2 of the header row have no name"),
        ("Ã©mail,n\r\n".encode()[:0] + b"email,name\nj\xe9r\xf4me@x.example,J\n", "not valid UTF-8"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(marketer, content, message):
    with pytest.raises(ValidationError) as error:
        create(content, user=marketer)
    assert message in error.value.message_dict["file"][0]


def test_a_windows_1252_file_imports_when_its_encoding_is_chosen(marketer, django_capture_on_commit_callbacks):
    record = create("email,first name\nj@x.example,J\xe9r\xf4me\n".encode("cp1252"), encoding="cp1252", user=marketer)
    job = run(record, django_capture_on_commit_callbacks)
    assert job.result["created"] == 1
    assert Lead.objects.get().first_name == "Jérôme"


@pytest.mark.parametrize(
    ("mapping", "field", "message"),
    [
        ({"first_name": "name"}, "email", "Choose the column that holds the email"),
        ({"email": "mail"}, "email", "no column “mail”"),
        ({"email": "email", "first_name": "email"}, "first_name", "already mapped"),
        ({"email": "email", "shoe_size": "name"}, "shoe_size", "Not a field"),
    ],
)
def test_bad_mappings_are_refused_naming_the_field(marketer, mapping, field, message):
    record = create("email,name\na@x.example,A\n", user=marketer)
    with pytest.raises(ValidationError) as error:
        csv_import.csv_import_map(import_id=record.pk, mapping=mapping)
    assert message in " ".join(error.value.message_dict[field])


def test_an_unknown_time_zone_is_refused(marketer):
    record = create("email,name\na@x.example,A\n", user=marketer)
    with pytest.raises(ValidationError, match="not a time zone"):
        csv_import.csv_import_map(import_id=record.pk, mapping={"email": "email"}, time_zone="Mars/Olympus")


def test_lead_import_creates_updates_and_reports_failed_rows(marketer, django_capture_on_commit_callbacks):
    LeadFactory(email="known@x.example", job_title="Old title")
    text = (
        "email,first name,title\n"
        "new@y.example,Nia,CTO\n"
        "KNOWN@x.example,,New title\n"
        "not-an-email,Bad,CEO\n"
        "new@y.example,Dup,CEO\n"
        "short@z.example,Only two\n"
        "same@x.example,S," + "t" * 201 + "\n"
    )
    record = create(text, user=marketer)
    csv_import.csv_import_map(import_id=record.pk, mapping={"email": "email", "first_name": "first name",
                                                            "job_title": "title"})  # fmt: skip
    job = run(record, django_capture_on_commit_callbacks)

    assert job.status == JobStatus.DONE
    assert (job.done, job.percent) == (6, 100)
    assert job.result == {"created": 1, "updated": 1, "unchanged": 0, "duplicate": 0, "failed": 4}
    assert Lead.objects.get(email="new@y.example").job_title == "CTO"
    assert Lead.objects.get(email="known@x.example").job_title == "New title"
    rows = {row["row"]: row["error"] for row in failures(record)}
    assert "not a valid email" in rows["4"]
    assert "Repeats row 2" in rows["5"]
    assert "has 2 values but the header has 3 columns" in rows["6"]
    assert "job_title: At most 200 characters" in rows["7"]
    assert not RescoreRequest.objects.exists()  # new leads were scored after commit


def test_activity_import_uses_the_ingestion_rules_and_time_zone(marketer, django_capture_on_commit_callbacks):
    text = (
        "Email,Activity,Date,Topic\n"
        "a@x.example,content_download,2026-03-01 09:30,pricing\n"
        "a@x.example,telepathy,2026-03-01,\n"
        "b@y.example,webinar_attended,2026-03-02T10:00:00+00:00,\n"
        "c@y.example,page_view,1 March,\n"
    )
    record = create(text, kind="activities", user=marketer)
    assert record.mapping == {"email": "Email", "type": "Activity", "occurred_at": "Date"}
    csv_import.csv_import_map(import_id=record.pk, mapping=record.mapping, time_zone="Europe/Paris")
    job = run(record, django_capture_on_commit_callbacks)

    assert job.result["created"] == 2
    assert job.result["failed"] == 2
    download = Activity.objects.get(type_id="content_download")
    assert download.occurred_at == datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert download.properties == {"Topic": "pricing"}
    errors = " ".join(row["error"] for row in failures(record))
    assert "not an activity type" in errors
    assert "“1 March” is not a date-time" in errors


def test_running_the_same_job_again_does_not_duplicate(marketer, django_capture_on_commit_callbacks):
    record = create("email,type\na@x.example,page_view\n", kind="activities", user=marketer)
    job = run(record, django_capture_on_commit_callbacks)
    assert csv_import.csv_import_start(import_id=record.pk) == job
    job.status = JobStatus.RUNNING  # as if the worker died and the task was redelivered
    job.save()
    csv_import.job_run_csv_import(job_id=job.pk)
    assert Activity.objects.count() == 1
