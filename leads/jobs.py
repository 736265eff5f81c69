"""Jobs that finish or say why.

A Job row (rescoring after a publish, a preview, a CSV import) is the source of truth; the Celery
message that runs it is only a wake-up. A run claims the job (`job_claim`: one run at a time, even
when the broker delivers the message twice), records progress as it goes (`job_progress`), and
ends it DONE or FAILED. Every minute the stale job sweep (`jobs_sweep`, beat) looks for jobs
nobody is working on:

- a RUNNING job with no progress for BATON_STALE_JOB_MINUTES (its worker was killed, or lost
  Redis): queued again and its task re-sent, up to MAX_ATTEMPTS runs; then FAILED, saying so;
- a QUEUED job no worker started within QUEUED_GRACE (its message was lost while Redis
  restarted): its task re-sent.

Every job kind here is safe to run again from the start: rescoring writes the same numbers,
imports find what they already stored (leads by e-mail, activities by their line's external id).
The job page shows the notes ("restarted at 10:05: no progress for 10 minutes").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from crm.queue import enqueue
from leads.models import Job, JobStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
QUEUED_GRACE = timedelta(minutes=2)


def stale_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "BATON_STALE_JOB_MINUTES", 10))


def _tasks() -> dict[str, Any]:
    """The task that runs each kind of job (imported late: tasks import the services)."""
    from leads import tasks

    return {
        "rescore_all": tasks.run_rescore_all,
        "scoring_preview": tasks.run_scoring_preview,
        "csv_import": tasks.run_csv_import,
    }


def job_claim(*, job_id: int, total: int | None = None) -> Job | None:
    """Start (or restart) running the job, unless it is finished or another run is at it (a
    RUNNING job that made progress recently). Returns the job, or None: then do nothing."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and (job.progress_at or job.started_at or now) > now - stale_after():
            return None
        changes: dict[str, Any] = {
            "status": JobStatus.RUNNING,
            "started_at": job.started_at or now,
            "progress_at": now,
            "attempts": job.attempts + 1,
            "done": 0,
        }
        if total is not None:
            changes["total"] = total
        Job.objects.filter(pk=job.pk).update(**changes)
        for name, value in changes.items():
            setattr(job, name, value)
        return job


def job_progress(*, job_id: int, done: int | None = None, add: int = 0, **fields: Any) -> None:
    """Record progress: `done` (or `add` to it), and that the job is alive."""
    changes: dict[str, Any] = {"progress_at": timezone.now(), **fields}
    if done is not None:
        changes["done"] = done
    elif add:
        changes["done"] = models.F("done") + add
    Job.objects.filter(pk=job_id).update(**changes)


def job_fail(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=error[:2000], finished_at=timezone.now())


def jobs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Restart or fail the jobs no worker is working on, and re-send the wake-ups a broker lost."""
    now = now or timezone.now()
    limit = stale_after()
    done = {"restarted": 0, "failed": 0, "resent": 0}
    resend: list[tuple[Callable[..., Any], int]] = []
    tasks = _tasks()
    with transaction.atomic():
        stale = Job.objects.select_for_update(skip_locked=True).filter(
            Q(progress_at__lt=now - limit) | Q(progress_at__isnull=True, started_at__lt=now - limit),
            status=JobStatus.RUNNING,
        )
        for job in stale:
            silent = int((now - (job.progress_at or job.started_at)).total_seconds() // 60)
            if job.attempts >= MAX_ATTEMPTS or job.kind not in tasks:
                reason = (
                    f"Stopped: the worker running it stopped making progress ({silent} min without any), "
                    f"{job.attempts} time{'s' if job.attempts != 1 else ''}. "
                    "Start it again once the workers are healthy."
                )
                Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error=reason, finished_at=now)
                done["failed"] += 1
                continue
            when = f"{timezone.localtime(now):%d %b %H:%M}"
            note = f"{when}: restarted, no progress for {silent} min (its worker stopped)"
            Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, notes=[*job.notes, note], progress_at=now)
            resend.append((tasks[job.kind], job.pk))
            done["restarted"] += 1
        # Queued and not started since the last wake-up was sent (at creation, or by this sweep).
        waiting = Q(progress_at__lt=now - QUEUED_GRACE) | Q(progress_at__isnull=True, created_at__lt=now - QUEUED_GRACE)
        lost = Job.objects.select_for_update(skip_locked=True).filter(waiting, status=JobStatus.QUEUED)
        for job in lost.filter(kind__in=list(tasks)).exclude(pk__in=[pk for _, pk in resend]):
            Job.objects.filter(pk=job.pk).update(progress_at=now)
            resend.append((tasks[job.kind], job.pk))
            done["resent"] += 1
    for task, pk in resend:
        if not enqueue(task, job_id=pk):
            break  # the broker is still away: the next sweep tries again
    return done
