from __future__ import annotations

import os

import pytest

from tests import factories


@pytest.fixture
def marketer(db):  # type: ignore[no-untyped-def]
    return factories.marketer(username="mia.marketer")


@pytest.fixture
def sdr(db):  # type: ignore[no-untyped-def]
    return factories.sdr(username="sam.sdr")


@pytest.fixture
def manager(db):  # type: ignore[no-untyped-def]
    return factories.manager(username="max.manager")


@pytest.fixture
def no_role_user(db):  # type: ignore[no-untyped-def]
    return factories.UserFactory(username="nora.norole")


@pytest.fixture
def live_worker(transactional_db, django_db_serialized_rollback):  # type: ignore[no-untyped-def]
    """Send tasks to the real Celery worker that `.ci/run` starts on Redis (skips without it).

    The worker connects to this test run's database, so tests using it see committed data only:
    that is why it needs `transactional_db` (with serialized rollback, so the rows migrations
    create — activity types, the default scoring model — are back for the tests that follow).
    """
    if os.environ.get("BATON_LIVE_WORKER") != "1":
        pytest.skip("needs the live Celery worker on Redis started by .ci/run (BATON_LIVE_WORKER=1)")
    from crm.celery import app

    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = True
