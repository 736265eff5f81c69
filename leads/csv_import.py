"""CSV import of leads and of activities: upload, map columns, run as a job, report failures.

The upload is checked up front (encoding, header, row count) so a file that cannot be read is
refused with a clear message before anything starts. The import itself streams the file in
chunks of rows through the same services as the API (`leads.ingestion`), so a 100,000-row file
needs neither a long request nor much memory. A bad row never stops the import: it goes to a
downloadable failures file with the reason, next to its original values.
"""

from __future__ import annotations

import codecs
import csv
import io
import secrets
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm import csv_cells
from crm.queue import enqueue_on_commit
from leads import ingestion, jobs, services
from leads.lifecycle import Actor
from leads.models import CsvImport, ImportKind, Job, JobStatus, Lead

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
CHUNK_ROWS = 1_000
ENCODINGS: dict[str, str] = {
    "utf-8-sig": "UTF-8 (“CSV UTF-8”)",
    "cp1252": "Windows-1252 (Excel on Windows)",
    "latin-1": "ISO-8859-1 (Latin-1)",
    "utf-16": "UTF-16",
}
DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    required: bool = False
    aliases: tuple[str, ...] = ()


_LEAD_TARGETS = (
    Target("email", "Email", True, ("email", "e-mail", "email address", "work email", "mail")),
    Target("first_name", "First name", False, ("first name", "firstname", "given name", "first")),
    Target("last_name", "Last name", False, ("last name", "lastname", "surname", "family name", "last")),
    Target("job_title", "Job title", False, ("job title", "title", "position", "role")),
    Target("phone", "Phone", False, ("phone", "phone number", "telephone", "mobile")),
    Target("company_name", "Company", False,
           ("company", "company name", "organization", "organisation", "account")),
    Target("utm_source", "UTM source", False, ("utm source", "utm_source", "source")),
    Target("utm_medium", "UTM medium", False, ("utm medium", "utm_medium", "medium")),
    Target("utm_campaign", "UTM campaign", False, ("utm campaign", "utm_campaign", "campaign")),
)  # fmt: skip
TARGETS: dict[str, tuple[Target, ...]] = {
    ImportKind.LEADS: _LEAD_TARGETS,
    ImportKind.ACTIVITIES: (
        _LEAD_TARGETS[0],
        Target("type", "Activity type", True, ("type", "activity", "activity type", "event", "event type")),
        Target("occurred_at", "When", False, ("occurred at", "date", "timestamp", "time", "datetime", "when")),
        Target("external_id", "External id", False, ("external id", "id", "event id", "activity id")),
        *_LEAD_TARGETS[1:],
    ),
}


def _normalise_header(value: str) -> str:
    return " ".join(value.replace("_", " ").replace("-", " ").strip().lower().split())


def guess_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Baton field -> CSV column, by common header names; each column used once."""
    by_name = {_normalise_header(h): h for h in headers}
    mapping: dict[str, str] = {}
    for target in TARGETS[kind]:
        for alias in (target.name, *target.aliases):
            column = by_name.get(_normalise_header(alias))
            if column and column not in mapping.values():
                mapping[target.name] = column
                break
    return mapping


# --- Upload --------------------------------------------------------------------------------


def _check_encoding(upload: UploadedFile, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    position = 0
    upload.seek(0)
    for chunk in upload.chunks(1024 * 1024):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = chunk[exc.start : exc.start + 1].hex()
            raise ValidationError(
                {
                    "file": f"The file is not valid {ENCODINGS[encoding]}: byte 0x{bad} at position "
                    f"{position + exc.start} cannot be read. Choose the file's encoding (for example "
                    "Windows-1252 for Excel on Windows) or save it as “CSV UTF-8”."
                }
            ) from exc
        position += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": f"The file ends in the middle of a {ENCODINGS[encoding]} character."}) from exc


def _text_stream(fileobj: Any, encoding: str) -> io.TextIOWrapper:
    fileobj.seek(0)
    return io.TextIOWrapper(fileobj, encoding=encoding, newline="")


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


@transaction.atomic
def csv_import_create(*, upload: UploadedFile, kind: str, encoding: str, user: Any) -> CsvImport:
    """Check an uploaded CSV and keep it, with a guessed column mapping, ready to be mapped."""
    if kind not in ImportKind.values:
        raise ValidationError({"kind": "Choose what the file contains: leads or activities."})
    if encoding not in ENCODINGS:
        raise ValidationError({"encoding": f"Choose one of: {', '.join(ENCODINGS.values())}."})
    if upload.size == 0:
        raise ValidationError({"file": "The file is empty."})
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."})
    _check_encoding(upload, encoding)
    stream = _text_stream(upload, encoding)
    delimiter = _sniff_delimiter(stream.read(64 * 1024))
    stream.seek(0)
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        headers = [h.strip() for h in next(reader)]
        rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    except StopIteration:
        headers, rows = [], 0
    except csv.Error as exc:
        raise ValidationError({"file": f"The file is not a readable CSV: {exc}."}) from exc
    finally:
        stream.detach()
    if not any(headers):
        raise ValidationError({"file": "The first row must name the columns (a header row)."})
    blanks = [str(i + 1) for i, h in enumerate(headers) if not h]
    if blanks:
        raise ValidationError({"file": f"Column(s) {', '.join(blanks)} of the header row have no name."})
    repeated = sorted({h for h in headers if headers.count(h) > 1})
    if repeated:
        raise ValidationError({"file": f"Column names must be unique; repeated: {', '.join(repeated)}."})
    if rows == 0:
        raise ValidationError({"file": "The file has a header row but no data rows."})
    token = secrets.token_hex(16)
    record = CsvImport(
        token=token,
        kind=kind,
        original_name=(upload.name or "upload.csv")[:255],
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        row_count=rows,
        mapping=guess_mapping(kind, headers),
        created_by=user,
    )
    upload.seek(0)
    record.file.save(f"{token}.csv", upload, save=False)
    record.save()
    return record


@transaction.atomic
def csv_import_map(*, import_id: int, mapping: Mapping[str, str], time_zone: str = "UTC") -> CsvImport:
    """Set which column feeds which Baton field; refuses unknown columns and missing required fields."""
    record = CsvImport.objects.select_for_update().get(pk=import_id)
    if record.job_id:
        raise ValidationError({"mapping": "This import has started; its mapping can no longer change."})
    targets = {t.name: t for t in TARGETS[record.kind]}
    errors: dict[str, list[str]] = {}
    cleaned = {field: column for field, column in mapping.items() if column}
    for field, column in cleaned.items():
        if field not in targets:
            errors[field] = ["Not a field this import can fill."]
        elif column not in record.headers:
            errors[field] = [f"The file has no column “{column}”."]
    for target in targets.values():
        if target.required and target.name not in cleaned:
            errors[target.name] = [f"Choose the column that holds the {target.label.lower()}."]
    used: dict[str, str] = {}
    for field, column in cleaned.items():
        if column in used:
            errors.setdefault(field, []).append(f"The column “{column}” is already mapped to {used[column]}.")
        used[column] = targets[field].label if field in targets else field
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [f"“{time_zone}” is not a time zone, e.g. Europe/Paris or UTC."]
    if errors:
        raise ValidationError(errors)
    record.mapping, record.time_zone = cleaned, time_zone
    record.save(update_fields=["mapping", "time_zone"])
    return record


@transaction.atomic
def csv_import_start(*, import_id: int) -> Job:
    """Start importing (a Job to watch). Starting twice returns the same job."""
    from leads import tasks

    record = CsvImport.objects.select_for_update().get(pk=import_id)
    if record.job_id:
        return record.job
    csv_import_map(import_id=record.pk, mapping=record.mapping, time_zone=record.time_zone)
    job = Job.objects.create(
        kind="csv_import",
        total=record.row_count,
        params={"import_id": record.pk},
        created_by=record.created_by,
    )
    record.job = job
    record.save(update_fields=["job"])
    enqueue_on_commit(tasks.run_csv_import, job_id=job.pk)
    return job


# --- The import job -------------------------------------------------------------------------


def _rows(record: CsvImport) -> Iterator[tuple[int, list[str]]]:
    """(line number, values) for every non-blank data row, streamed from storage."""
    with record.file.open("rb") as raw:
        stream = io.TextIOWrapper(raw, encoding=record.encoding, newline="")
        reader = csv.reader(stream, delimiter=record.delimiter)
        next(reader, None)
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row


def _chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_csv_timestamp(value: str, tz: zoneinfo.ZoneInfo) -> datetime:
    """ISO 8601 date-times (with or without a zone) or plain dates; a missing zone means `tz`."""
    text = value.strip()
    parsed = parse_datetime(text if len(text) > 10 else f"{text}T00:00:00") if text else None
    if parsed is None:
        raise ValidationError(
            {"occurred_at": f"“{value}” is not a date-time like 2026-11-22 09:30 or 2026-11-22T09:30:00Z."}
        )
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=tz)


def _errors_text(errors: Mapping[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


class _Failures:
    """Collects failed rows into an in-memory CSV (bounded by the number of failures)."""

    def __init__(self, headers: list[str]) -> None:
        self.buffer = io.StringIO()
        self.writer = csv_cells.writer(self.buffer)  # the rows' own values: no cell may run as a formula
        self.writer.writerow(["row", "error", *headers])
        self.count = 0

    def add(self, line: int, error: str, values: list[str]) -> None:
        self.writer.writerow([line, error, *values])
        self.count += 1


def job_run_csv_import(*, job_id: int) -> Job:
    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return job
    record = CsvImport.objects.select_related("created_by").get(pk=job.params["import_id"])
    # A restarted import runs from its first row again: what it stored before is found again
    # (leads by e-mail, activities by their line's external id) and counted as unchanged or duplicate.
    if jobs.job_claim(job_id=job.pk) is None:  # another run is at it
        return Job.objects.get(pk=job.pk)
    failures = _Failures(record.headers)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "duplicate": 0, "failed": 0}
    done = 0
    try:
        for chunk in _chunks(_rows(record), CHUNK_ROWS):
            if record.kind == ImportKind.ACTIVITIES:
                _import_activities(record, chunk, counts, failures)
            else:
                _import_leads(record, chunk, counts, failures)
            done += len(chunk)
            jobs.job_progress(job_id=job.pk, done=done)
    except Exception as exc:
        jobs.job_fail(job_id=job.pk, error=f"The import stopped: {exc}")
        raise
    counts["failed"] = failures.count
    if failures.count:
        record.failures_file.save(f"{record.token}-failures.csv", ContentFile(failures.buffer.getvalue().encode()))
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        finished_at=timezone.now(),
        done=done,
        total=max(done, job.total),
        result=counts,
    )
    job.refresh_from_db()
    return job


def _row_dict(record: CsvImport, values: list[str]) -> dict[str, str] | str:
    if len(values) != len(record.headers):
        return f"row: has {len(values)} values but the header has {len(record.headers)} columns."
    return dict(zip(record.headers, values, strict=True))


def _import_activities(
    record: CsvImport, chunk: list[tuple[int, list[str]]], counts: dict[str, int], failures: _Failures
) -> None:
    tz = zoneinfo.ZoneInfo(record.time_zone)
    mapping = record.mapping
    mapped_columns = set(mapping.values())
    items: list[dict[str, Any]] = []
    lines: list[tuple[int, list[str]]] = []
    for line, values in chunk:
        row = _row_dict(record, values)
        if isinstance(row, str):
            failures.add(line, row, values)
            continue
        item: dict[str, Any] = {
            "email": row[mapping["email"]],
            "type": row[mapping["type"]].strip(),
            "external_id": row[mapping["external_id"]] if "external_id" in mapping else f"line-{line}",
            "properties": {k: v for k, v in row.items() if k not in mapped_columns and v.strip()},
            "lead": {f: row[mapping[f]] for f in ingestion.LEAD_FIELDS if f in mapping},
            "utm": {f: row[mapping[f]] for f in ingestion.UTM_FIELDS if f in mapping},
        }
        if mapping.get("occurred_at") and row[mapping["occurred_at"]].strip():
            try:
                item["occurred_at"] = parse_csv_timestamp(row[mapping["occurred_at"]], tz)
            except ValidationError as exc:
                failures.add(line, _errors_text(exc.message_dict), values)
                continue
        items.append(item)
        lines.append((line, values))
    results = ingestion.activities_ingest(
        items=items, actor=Actor(user=record.created_by), default_source_system=f"csv:{record.token}"
    )
    for (line, values), result in zip(lines, results, strict=True):
        if result.status == "error":
            failures.add(line, _errors_text(result.errors), values)
        else:
            counts[result.status] += 1


def _import_leads(
    record: CsvImport, chunk: list[tuple[int, list[str]]], counts: dict[str, int], failures: _Failures
) -> None:
    mapping = record.mapping
    actor = Actor(user=record.created_by)
    valid: dict[str, tuple[int, dict[str, str], dict[str, str]]] = {}
    for line, values in chunk:
        row = _row_dict(record, values)
        if isinstance(row, str):
            failures.add(line, row, values)
            continue
        errors: dict[str, list[str]] = {}
        email = ""
        try:
            email = services.normalise_email(row[mapping["email"]])
        except ValidationError as exc:
            errors.update(exc.message_dict)
        fields = {}
        for name, max_length in ingestion.LEAD_FIELDS.items():
            if name in mapping:
                value = row[mapping[name]].strip()
                if len(value) > max_length:
                    errors[name] = [f"At most {max_length} characters (got {len(value)})."]
                fields[name] = value
        utm = {name: row[mapping[name]].strip()[:200] for name in ingestion.UTM_FIELDS if name in mapping}
        if not errors and email in valid:
            errors["email"] = [f"Repeats row {valid[email][0]} of this file."]
        if errors:
            failures.add(line, _errors_text(errors), values)
            continue
        valid[email] = (line, fields, utm)
    if not valid:
        return
    with transaction.atomic():
        now = timezone.now()
        existing = dict(Lead.objects.filter(email__in=list(valid)).values_list("email", "pk"))
        ids, created = ingestion.leads_get_or_create_bulk(
            specs={e: (f, u) for e, (_, f, u) in valid.items() if e not in existing}, actor=actor, now=now
        )
        counts["created"] += len(created)
        services.rescore_request(lead_ids=[ids[email] for email in created])
        if existing:
            current = {lead.email: lead for lead in Lead.objects.filter(pk__in=existing.values())}
            for email, lead_id in existing.items():
                _, fields, _ = valid[email]
                lead = current[email]
                changed = {
                    name: value
                    for name, value in fields.items()
                    if name in ingestion.UPSERT_FIELDS and value and getattr(lead, name) != value
                }
                if changed:
                    services.lead_update(lead_id=lead_id, actor=actor, **changed)
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
