"""Integration with a real Celery worker on Redis: tasks sent by Django are run by the worker.

These run in the second pass of `.ci/run`, which starts a worker (threads pool, test settings,
DATABASE_URL pointing at pytest's test database) and sets BATON_LIVE_WORKER=1; elsewhere the
`live_worker` fixture skips them. The worker and this process share the Redis cache, which is
how the heartbeat task reports back, and the test database, where the tests commit the rows the
worker's tasks read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from celery.result import EagerResult
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm.tasks import HEARTBEAT_KEY, heartbeat
from leads import services
from leads.models import Job, JobStatus, ScoringModel, ScoringModelStatus
from tests.factories import LeadFactory

pytestmark = pytest.mark.live_worker

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2) -> T | None:
    """Call `probe` until it returns something truthy or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    return None


@pytest.fixture
def clean_heartbeat():
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


def test_a_worker_listens_on_the_redis_broker(live_worker):
    assert live_worker.conf.broker_url.startswith("redis://")
    assert not live_worker.conf.task_always_eager

    replies = live_worker.control.ping(timeout=5.0)

    assert replies, "no Celery worker answered a ping on the broker"


def test_the_worker_runs_the_heartbeat_task_sent_by_django(live_worker, clean_heartbeat):
    sent_at = timezone.now()

    result = heartbeat.delay()

    assert not isinstance(result, EagerResult), "the task ran in-process instead of on the worker"
    seen = wait_for(lambda: cache.get(HEARTBEAT_KEY))
    assert seen, f"the worker did not run {heartbeat.name} within 30 s (see the worker log)"
    # Written by the worker's clock for this very send (allow a little clock skew).
    assert datetime.fromisoformat(seen) >= sent_at - timedelta(seconds=5)


def test_healthz_shows_the_heartbeats_the_worker_and_beat_wrote(live_worker, client):
    """The live worker (with its embedded beat) writes its heartbeat every 30 s to this database;
    a flush between tests may have just emptied the table, so give it one period to come back."""
    from crm.models import Heartbeat, HeartbeatKind

    def both() -> bool:
        return {HeartbeatKind.WORKER, HeartbeatKind.BEAT} <= set(Heartbeat.objects.values_list("kind", flat=True))

    assert wait_for(both, timeout=75), "the live worker and its beat wrote no heartbeat within 75 s"

    body = client.get(reverse("healthz")).json()

    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["worker"]["status"] == "ok"
    assert any(not process["stale"] for process in body["worker"]["processes"])
    assert body["beat"]["status"] == "ok"


def test_the_worker_rescores_leads_from_rows_this_test_committed(live_worker, marketer):
    """Publishing a scoring model enqueues `leads.run_rescore_all` after commit (the product path).

    The worker, on its own database connection, must find the Job, the model and its rule, and
    the lead that this test committed, and write the scores back where this test can read them.
    """
    # Start from no active model or draft (test setup; no service retires a model), so the new
    # version holds exactly one rule and the expected scores are known.
    ScoringModel.objects.exclude(status=ScoringModelStatus.RETIRED).update(status=ScoringModelStatus.RETIRED)
    lead = LeadFactory(job_title="Head of Live Worker Testing")
    draft = services.scoring_draft_create(user=marketer)
    services.fit_rule_save(
        model_id=draft.pk,
        label="Live worker test",
        attribute="job_title",
        operator="contains_any",
        values=["live worker testing"],
        points=7,
    )

    job = services.scoring_model_publish(model_id=draft.pk, user=marketer)

    done = [JobStatus.DONE, JobStatus.FAILED]
    finished = wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=done).first())
    assert finished, f"the worker did not finish rescoring job {job.pk} within 30 s (see the worker log)"
    assert finished.status == JobStatus.DONE, finished.error
    assert finished.result["leads"] >= 1
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == (7, 0)
    assert [(p["kind"], p["label"], p["points"]) for p in lead.score_explanation] == [
        ("fit", "Live worker test", 7)
    ]
