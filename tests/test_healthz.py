"""/healthz: what load balancers and operators poll — database, cache and the worker heartbeat."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from crm.tasks import HEARTBEAT_KEY, heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_heartbeat_yet():
    # In the Redis pass the cache is shared with the live worker, so start from a known state.
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


def test_healthz_reports_the_database_and_no_worker_before_any_heartbeat(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"database": "ok", "cache": "ok", "worker_last_seen": None}


def test_healthz_reports_when_the_worker_last_ran_the_heartbeat(client):
    heartbeat.delay()  # eager in the test settings: the task body runs here, as a worker would

    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert body["worker_last_seen"] == cache.get(HEARTBEAT_KEY)
    assert datetime.fromisoformat(body["worker_last_seen"]).tzinfo is not None


def test_healthz_is_never_cached_and_needs_no_login(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200  # anonymous: load balancers do not log in
    assert "no-cache" in response["Cache-Control"]


def test_healthz_only_answers_get(client):
    assert client.post(reverse("healthz")).status_code == 405
