from __future__ import annotations

import pytest

from handoff.models import BusinessCalendar, SlaPolicy, Team, TeamMembership
from leads.lifecycle import Stage
from tests import factories

ALWAYS_OPEN = {str(day): [["00:00", "23:59"]] for day in range(7)}


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
