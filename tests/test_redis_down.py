"""With Redis down, Baton keeps answering: signed-in pages read their sessions from the database,
committed ingestion batches answer 200 (their wake-ups are logged as not sent, the rows wait for
the sweeps), and when the broker is back the sweeps do the work.

What a user noticed before: with Redis down, signed-in pages and already-committed ingestion
batches answered 500.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from crm.celery import app as celery_app
from crm.settings.base import redis_caches
from handoff import tasks as handoff_tasks
from handoff.models import Assignment, HandoffMode, HandoffRequest, RoutingRule
from leads import ingestion
from leads import tasks as lead_tasks
from leads.models import Activity, Lead, RescoreRequest
from tests import factories

pytestmark = pytest.mark.django_db

NOBODY_LISTENS = "redis://127.0.0.1:1/0"  # a loopback port nothing listens on: connection refused
DEAD_CACHE = redis_caches(NOBODY_LISTENS)  # the cache the settings build for REDIS_URL, on a dead port


@pytest.fixture
def broker_down():
    """The broker unreachable, tasks really sent (not run in-process, as the test settings do)."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager, conf.broker_transport)
    conf.broker_url, conf.task_always_eager, conf.broker_transport = NOBODY_LISTENS, False, "crm.broker:Transport"
    _new_broker_connections()
    yield
    conf.broker_url, conf.task_always_eager, conf.broker_transport = saved
    _new_broker_connections()


@pytest.fixture
def redis_down(broker_down):
    """The cache (Redis) unreachable too: sessions, throttles and cached figures."""
    with override_settings(CACHES=DEAD_CACHE):
        yield


def test_signed_in_pages_keep_working_from_the_database(redis_down, client, django_capture_on_commit_callbacks):
    marketer = factories.marketer(username="mia")
    client.force_login(marketer)  # the session is written to the database (the cache write is skipped)
    for url in ("/leads/", "/queue/", "/reports/"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    assert response.wsgi_request.user == marketer


def test_a_committed_ingestion_batch_answers_200_and_the_sweeps_catch_up_later(
    redis_down, team, reps, django_capture_on_commit_callbacks
):
    RoutingRule.objects.create(name="All (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)
    marketer = factories.marketer(username="mia")
    api = APIClient()
    api.force_authenticate(marketer)
    items = [
        {"email": "new.lead@acme.example", "type": "page_view", "external_id": "rd-1"},
        {"email": "demo@acme.example", "type": "demo_request", "external_id": "rd-2"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/activities/", items, format="json")

    assert response.status_code == 200, response.content
    assert [result["status"] for result in response.json()["results"]] == ["created", "created"]
    assert Activity.objects.filter(external_id__in=["rd-1", "rd-2"]).count() == 2
    waiting = set(RescoreRequest.objects.values_list("lead__email", flat=True))
    assert waiting == {"new.lead@acme.example", "demo@acme.example"}, "the work waits in the database"


def test_the_beat_sweeps_do_the_waiting_work_once_the_broker_is_back(team, reps, django_capture_on_commit_callbacks):
    RoutingRule.objects.create(name="All (auto)", team=team, handoff_mode=HandoffMode.AUTOMATIC)
    _, key = ingestion.form_source_create(name="Book a demo", activity_type_id="demo_request")
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = NOBODY_LISTENS, False
    _new_broker_connections()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = APIClient().post(
                "/api/v1/forms/capture/",
                {"email": "vera@northwind.example", "job_title": "VP of Sales"},
                format="json",
                HTTP_X_BATON_FORM_KEY=key,
            )
        assert response.status_code == 201
    finally:
        conf.broker_url, conf.task_always_eager = saved
        _new_broker_connections()
    lead = Lead.objects.get(email="vera@northwind.example")
    assert not Assignment.objects.filter(lead=lead).exists(), "nothing ran: the broker was down"

    lead_tasks.drain_rescore_requests()  # what beat sends every minute, once the broker is back
    handoff_tasks.drain_handoff_requests()

    assert Assignment.objects.filter(lead=lead, is_open=True).exists()
    assert not HandoffRequest.objects.exists()


def _new_broker_connections() -> None:
    """Drop the pooled broker connections, so the next task sent connects to the broker URL now set."""
    from kombu import pools

    pools.reset()  # closes every pooled connection and forgets the pools
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
