from __future__ import annotations

import os

import pytest

from handoff.models import BusinessCalendar, SlaPolicy, Team, TeamMembership
from leads.lifecycle import Stage
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


# --- The handoff: a team of three SDRs under a one-hour, always-open SLA ---------------------

ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}


@pytest.fixture
def calendar_24x7(db):
    return BusinessCalendar.objects.create(name="Always open", time_zone="UTC", hours=ALWAYS_OPEN)


@pytest.fixture
def policy(calendar_24x7):
    return SlaPolicy.objects.create(name="Test 60", calendar=calendar_24x7, first_touch_minutes=60, warn_at_percent=50)


@pytest.fixture
def team(db, policy, manager):
    team = Team.objects.create(name="Inbound", manager=manager, default_sla_policy=policy)
    for username in ("sdr.ana", "sdr.ben", "sdr.cai"):
        TeamMembership.objects.create(team=team, rep=factories.sdr(username=username))
    return team


@pytest.fixture
def reps(team):
    return [m.rep for m in team.memberships.order_by("rep__username")]


@pytest.fixture
def mql(db):
    return lambda **kwargs: factories.lead_at_stage(Stage.MQL, **kwargs)
