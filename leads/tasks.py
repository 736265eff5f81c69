"""Celery entry points for leads. Thin: take ids, call a service, idempotent, bounded retries."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from leads import services


@shared_task(
    name="leads.drain_rescore_requests",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def drain_rescore_requests() -> int:
    return services.rescore_requests_drain()


@shared_task(
    name="leads.rescore_leads_now",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def rescore_leads_now(*, lead_ids: list[int]) -> None:
    """A hot signal arrived: rescore these leads at once (speed-to-lead), not after the coalescing delay."""
    services.rescore_leads_now(lead_ids=lead_ids)


@shared_task(name="leads.run_rescore_all", ignore_result=True, acks_late=True)
def run_rescore_all(*, job_id: int) -> None:
    services.job_run_rescore_all(job_id=job_id)


@shared_task(name="leads.decay_scores", ignore_result=True)
def decay_scores() -> None:
    services.scoring_decay_all()


@shared_task(name="leads.run_scoring_preview", ignore_result=True)
def run_scoring_preview(*, job_id: int) -> None:
    services.job_run_scoring_preview(job_id=job_id)


@shared_task(name="leads.run_csv_import", ignore_result=True, acks_late=True)
def run_csv_import(*, job_id: int) -> None:
    from leads import csv_import

    csv_import.job_run_csv_import(job_id=job_id)


@shared_task(name="leads.sweep_stale_jobs", ignore_result=True)
def sweep_stale_jobs() -> dict[str, int]:
    """Every minute: restart or fail the jobs no worker is working on (leads.jobs)."""
    from leads import jobs

    return jobs.jobs_sweep()
