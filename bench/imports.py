"""CSV import at scale (issue 3: "a 100,000-row file imports without timing out the request or
exhausting memory"), measured in two parts.

- `csv_upload`: `POST /imports/` with the file, through Django's test client as the demo marketer
  (the multipart body is encoded once beforehand, so only the server's work is timed): the page
  checks the encoding, counts the rows, keeps the file and redirects to the mapping page. Then the
  mapping page's POST starts the import (a Job; its Celery task goes to the benchmark's in-process
  broker, see `harness.setup_django`), timed once (`start_ms`).
- `csv_import`: the job itself, `leads.csv_import.job_run_csv_import` (what the Celery task
  `leads.run_csv_import` calls), in a child process whose peak resident memory is reported.

The file (`write_csv`) has realistic columns, 1,000 rows of existing leads with their current
values (left unchanged), 50 bad rows (an invalid email, a job title too long, a missing column, an
email repeated in the file) and new leads on new, existing and free-mail domains for the rest.

Nothing stays behind: the child runs the job inside one transaction that it rolls back after
reading the job's result (stage history is append-only — a trigger refuses deletes on PostgreSQL
— so rolling back is the only clean way to take 100,000 created leads back). The job's chunks
become savepoints instead of commits: about 100 commits not paid. The uploaded files, the import
records and their jobs are deleted afterwards.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from bench.harness import Result, counting_queries, result_of, run_child

ROWS = 100_000
EXISTING = 1_000  # rows naming existing leads, with their current values
MARK = "+csvbench"  # in the local part of every new email, so none exists already
BAD_EVERY = 2_000
UPLOAD_URL = "/imports/"
BOUNDARY = "BatonBenchBoundary"
HEADERS = [
    "Email", "First Name", "Last Name", "Job Title", "Company", "Phone", "Country", "UTM Source", "UTM Medium",
    "UTM Campaign",
]  # fmt: skip
FIRST = ["Ana", "José", "Zoë", "Mei", "Omar", "Priya", "Lukas", "Chloé", "Sven", "Aisha", "Diego", "Hannah", "Kenji"]
LAST = ["Silva", "García", "Müller", "Chen", "Okafor", "Nguyen", "Kowalski", "Dubois", "Larsen", "Khan", "Rossi"]
TITLES = [
    "VP Marketing", "Head of Sales Operations", "Marketing Manager", "CTO", "Software Engineer", "Student",
    "Director of Demand Generation", "Chief Revenue Officer", "Procurement Specialist", "",
]  # fmt: skip
UTM = [("google", "cpc"), ("linkedin", "paid-social"), ("newsletter", "email"), ("", ""), ("partner", "referral")]
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com"]


def bench_csv_import(repeat: int, wanted: Any) -> list[Result]:
    from django.contrib.auth import get_user_model

    from bench.harness import client

    marketer = get_user_model().objects.get(username="marketer")
    records: list[int] = []
    results = []
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        path = Path(folder) / "leads-100k.csv"
        expected = write_csv(path)
        body = _multipart(path)
        web = client(marketer)
        try:
            upload, record_id = _upload(web, body, repeat, records)
            upload.extra.update(rows=ROWS, file_mb=round(path.stat().st_size / 2**20, 1))
            started = time.perf_counter()
            _start(web, record_id)
            upload.extra["start_ms"] = round((time.perf_counter() - started) * 1000, 1)
            if wanted("csv_upload"):
                results.append(upload)
            if wanted("csv_import"):
                results.append(_import(record_id, expected))
        finally:
            _remove(records)
    return results


def write_csv(path: Path) -> dict[str, int]:
    """The 100,000-row leads file; returns the counts a correct import reports."""
    from leads.models import Campaign, Company, Lead

    rng = random.Random(20261122)
    existing = list(
        Lead.objects.exclude(email__contains=MARK)
        .order_by("-pk")
        .values_list("email", "first_name", "last_name", "job_title", "company__name", "phone")[:EXISTING]
    )
    known_domains = list(Company.objects.order_by("pk").values_list("domain", flat=True)[:500]) or ["example.com"]
    campaigns = [*Campaign.objects.order_by("pk").values_list("slug", flat=True)[:5], ""]
    counts = {"created": 0, "unchanged": 0, "failed": 0}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        recent: list[str] = []
        for i in range(ROWS):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            kind = rng.random()
            if kind < 0.4:
                domain = rng.choice(known_domains)
            elif kind < 0.8:
                domain = f"firm{rng.randrange(2_000)}.csvbench.example"
            else:
                domain = rng.choice(FREE_MAIL)
            local = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode().lower()
            email = f"{local}{MARK}{i}@{domain}"
            source, medium = rng.choice(UTM)
            row = [
                email, first, last, rng.choice(TITLES), domain.split(".")[0].title(), f"+1 555 {i:07d}",
                rng.choice(["US", "GB", "DE", "FR", "IN", ""]), source, medium, rng.choice(campaigns),
            ]  # fmt: skip
            if i % 100 == 37 and existing:  # an existing lead, as it is: left unchanged
                email, first_name, last_name, title, company, phone = existing[(i // 100) % len(existing)]
                row[:6] = [email, first_name, last_name, title, company or "", phone]
                counts["unchanged"] += 1
            elif i % BAD_EVERY == BAD_EVERY * 3 // 4:  # a bad row, four kinds in turn
                bad = (i // BAD_EVERY) % 4
                if bad == 0:
                    row[0] = f"not-an-email-{i}"
                elif bad == 1:
                    row[3] = "Senior " * 40
                elif bad == 2:
                    row = row[:-1]
                else:
                    row[0] = recent[-5]  # repeats a row of the same 1,000-row chunk
                counts["failed"] += 1
            else:
                counts["created"] += 1
            recent = [*recent[-9:], row[0]]
            writer.writerow(row)
    return counts


def _multipart(path: Path) -> bytes:
    from django.test.client import encode_multipart

    with path.open("rb") as handle:
        return encode_multipart(BOUNDARY, {"file": handle, "kind": "leads", "encoding": "utf-8-sig"})


def _upload(web: Any, body: bytes, repeat: int, records: list[int]) -> tuple[Result, int]:
    """Time the upload request (a warm-up, one counted, then up to 3 timed); keep the last upload."""
    from leads.models import CsvImport

    def post() -> int:
        response = web.post(UPLOAD_URL, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")
        if response.status_code != 302:
            raise RuntimeError(f"POST {UPLOAD_URL} answered {response.status_code}: {response.content[:500]!r}")
        record_id = CsvImport.objects.order_by("-pk").values_list("pk", flat=True).first()
        records.append(record_id)
        return record_id

    post()
    with counting_queries() as counted:
        post()
    timings = []
    for _ in range(max(1, min(repeat, 3))):
        started = time.perf_counter()
        record_id = post()
        timings.append((time.perf_counter() - started) * 1000)
    return result_of("csv_upload", timings, queries=counted.count), record_id


def _start(web: Any, record_id: int) -> None:
    """The mapping page's POST: keep the guessed mapping and start the job."""
    from leads.models import CsvImport

    record = CsvImport.objects.get(pk=record_id)
    response = web.post(f"/imports/{record_id}/map/", {**record.mapping, "time_zone": "UTC"})
    record.refresh_from_db()
    if response.status_code != 302 or record.job_id is None:
        raise RuntimeError(f"starting the import answered {response.status_code}; mapping {record.mapping}")


def _import(record_id: int, expected: dict[str, int]) -> Result:
    from leads.models import CsvImport

    job_id = CsvImport.objects.values_list("job_id", flat=True).get(pk=record_id)
    done = run_child("csv_import", "--job-id", str(job_id))
    if done["status"] != "done":
        raise RuntimeError(f"the import job ended {done['status']}: {done['error']}")
    counts = done["result"]
    got = {key: counts.get(key, 0) for key in expected}
    if got != expected:
        raise RuntimeError(f"the import reported {counts}, expected {expected}")
    result = result_of("csv_import", [done["seconds"] * 1000], queries=done["queries"])
    result.extra.update(
        rows=done["done"],
        rows_per_s=round(done["done"] / done["seconds"]),
        peak_rss_mb=done["peak_rss_mb"],
        start_rss_mb=done["start_rss_mb"],
        **got,
    )
    return result


def run_job_rolled_back(job_id: int) -> dict[str, Any]:
    """In the child: run the import job as its Celery task would, count its queries, read its
    result, then roll everything it wrote back (see the module docstring)."""
    from django.db import transaction

    from leads.csv_import import job_run_csv_import
    from leads.models import CsvImport

    with transaction.atomic(), counting_queries() as counted:
        job = job_run_csv_import(job_id=job_id)
        record = CsvImport.objects.get(job_id=job_id)
        if record.failures_file:
            record.failures_file.delete(save=False)
        transaction.set_rollback(True)
    return {"status": job.status, "done": job.done, "result": job.result, "error": job.error, "queries": counted.count}


def _remove(records: list[int]) -> None:
    """Delete the benchmark's uploads: their files, records and jobs."""
    from leads.models import CsvImport, Job

    for record in CsvImport.objects.filter(pk__in=records):
        for stored in (record.file, record.failures_file):
            if stored:
                stored.delete(save=False)
        job_id = record.job_id
        record.delete()
        if job_id:
            Job.objects.filter(pk=job_id).delete()
