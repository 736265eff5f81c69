"""/healthz: what monitoring polls — the database, Redis, and the heartbeats of the workers and
beat, 503 naming what is down or stale; /livez: a web node's own liveness for load balancers;
and the manager's status page that shows the same.

What a user noticed before: the worker had died and nothing ran, while /healthz kept answering 200.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.heartbeats import heartbeat_record, system_status
from crm.models import Heartbeat, HeartbeatKind
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_heartbeats_yet():
    # In the live pass the real worker and beat write heartbeats to this database too.
    Heartbeat.objects.all().delete()


def alive(*, ago: timedelta = timedelta(seconds=5)) -> None:
    heartbeat_record(kind=HeartbeatKind.WORKER, name="celery@web-1", at=timezone.now() - ago)
    heartbeat_record(kind=HeartbeatKind.BEAT, name="beat@web-1", at=timezone.now() - ago)


def test_healthz_answers_503_before_any_worker_or_beat_has_reported(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["database"] == "ok"
    assert body["worker"]["status"] == body["beat"]["status"] == "missing"
    assert body["problems"] == ["no Celery worker has reported yet", "no Celery beat has reported yet"]


def test_healthz_is_200_with_fresh_heartbeats_and_says_when_each_was_seen(client):
    alive()

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["worker"]["status"] == "ok"
    assert 4 <= body["worker"]["age_seconds"] <= 10
    assert body["worker"]["processes"][0]["name"] == "celery@web-1"
    assert body["worker_last_seen"] == body["worker"]["last_seen"]


def test_a_dead_worker_turns_healthz_to_503(client, settings):
    settings.BATON_HEARTBEAT_STALE_SECONDS = 180
    alive()
    heartbeat_record(kind=HeartbeatKind.WORKER, name="celery@web-1", at=timezone.now() - timedelta(minutes=4))

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "stale"
    assert response.json()["problems"][0].startswith("no Celery worker has reported for 24")


def test_one_live_worker_of_two_is_enough(client):
    alive()
    heartbeat_record(kind=HeartbeatKind.WORKER, name="celery@retired", at=timezone.now() - timedelta(hours=2))
    body = client.get(reverse("healthz")).json()
    assert body["worker"]["status"] == "ok"
    assert [p["stale"] for p in body["worker"]["processes"]] == [False, True]


def test_redis_is_reported_when_configured(settings, monkeypatch):
    from django.core.cache import cache

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(cache, "ping", lambda: False, raising=False)
    alive()
    status = system_status()
    assert status.redis == "unavailable"
    assert not status.healthy
    assert "Redis is unavailable" in status.problems


def test_livez_needs_only_the_database(client):
    response = client.get(reverse("livez"))  # no heartbeats at all
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_never_cached_and_needs_no_login(client):
    response = client.get(reverse("healthz"))
    assert "no-cache" in response["Cache-Control"]
    assert response.status_code in (200, 503)  # anonymous: monitoring does not log in


def test_healthz_only_answers_get(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_the_status_page_shows_managers_the_same(client):
    alive()
    heartbeat_record(kind=HeartbeatKind.WORKER, name="celery@worker-2", at=timezone.now() - timedelta(minutes=10))
    client.force_login(factories.manager(username="max"))

    html = client.get(reverse("system_status")).content.decode()

    assert "Healthy." in html
    assert "celery@web-1" in html
    assert "celery@worker-2" in html
    assert "Hand-off requests waiting" in html


def test_the_status_page_names_what_is_wrong(client):
    client.force_login(factories.manager(username="max"))
    html = client.get(reverse("system_status")).content.decode()
    assert "Unhealthy:" in html
    assert "no Celery worker has reported yet" in html


def test_only_managers_see_the_status_page(client):
    client.force_login(factories.marketer(username="mia"))
    assert client.get(reverse("system_status")).status_code == 403
