"""Jobs finish or say why: a job nobody works on is restarted by the stale job sweep, or failed
with the reason, and a job whose wake-up the broker lost is sent again.

What a user noticed before: a worker killed in the middle of a rescoring job left the job
"running" for up to the broker's visibility timeout (an hour), and nothing swept such jobs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from leads import jobs, services
from leads.models import Job, JobStatus, ScoringModel, ScoringModelStatus
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def rescore_job(**fields) -> Job:  # type: ignore[no-untyped-def]
    model = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    return Job.objects.create(kind="rescore_all", params={"model_id": model.pk}, **fields)


def abandoned(minutes: int = 15, attempts: int = 1) -> Job:
    """A job a worker started and then stopped working on (it was killed)."""
    then = timezone.now() - timedelta(minutes=minutes)
    return rescore_job(status=JobStatus.RUNNING, started_at=then, progress_at=then, attempts=attempts, total=5, done=2)


def test_a_job_abandoned_by_its_worker_is_restarted_and_finishes(settings):
    settings.BATON_STALE_JOB_MINUTES = 10
    LeadFactory()
    job = abandoned()

    done = jobs.jobs_sweep()  # tasks run eagerly here: the restarted job runs at once

    assert done == {"restarted": 1, "failed": 0, "resent": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.attempts == 2
    assert len(job.notes) == 1
    assert "restarted, no progress for 15 min (its worker stopped)" in job.notes[0]


def test_after_three_runs_the_job_fails_and_says_why(settings):
    settings.BATON_STALE_JOB_MINUTES = 10
    job = abandoned(attempts=3)

    assert jobs.jobs_sweep()["failed"] == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.finished_at is not None
    assert job.error.startswith("Stopped: the worker running it stopped making progress (15 min without any), 3 times.")


def test_a_job_making_progress_is_left_alone(settings):
    settings.BATON_STALE_JOB_MINUTES = 10
    job = abandoned(minutes=3)
    assert jobs.jobs_sweep() == {"restarted": 0, "failed": 0, "resent": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_a_queued_job_whose_wake_up_was_lost_is_sent_again():
    LeadFactory()
    job = rescore_job(created_at=timezone.now() - timedelta(minutes=5))  # queued; its message never came

    assert jobs.jobs_sweep()["resent"] == 1

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.notes == []


def test_a_second_delivery_of_a_running_jobs_message_does_not_run_it_twice():
    job = abandoned(minutes=1)
    before = Job.objects.get(pk=job.pk)
    services.job_run_rescore_all(job_id=job.pk)  # the broker delivered the message again
    after = Job.objects.get(pk=job.pk)
    assert (after.status, after.attempts, after.done) == (JobStatus.RUNNING, before.attempts, before.done)


def test_the_job_page_shows_the_restart(client, marketer, settings):
    from django.urls import reverse

    settings.BATON_STALE_JOB_MINUTES = 10
    draft = services.scoring_draft_create(user=marketer)
    job = services.scoring_preview_start(model_id=draft.pk, user=marketer)
    then = timezone.now() - timedelta(minutes=20)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=then, progress_at=then, attempts=1)
    jobs.jobs_sweep()
    client.force_login(marketer)

    data = client.get(reverse("leads:job", kwargs={"pk": job.pk})).json()

    assert data["status"] == "done"
    assert data["attempts"] == 2
    assert "restarted, no progress for 20 min" in data["notes"][0]
