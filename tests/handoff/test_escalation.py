"""Breach escalation is bounded: a lead is reassigned on breach at most as often as its policy
allows, then escalated to the team's manager once, and left for the manager to decide.

What a user noticed before: a breached lead whose policy reassigns was passed between two reps
nine times in 17 minutes (35 notifications), and would have gone on forever.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from handoff import services
from handoff.models import Assignment, BreachAction, Notification, NotificationKind, SlaEvent, SlaPolicy, TeamMembership
from handoff.selectors import settings_pages

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_reps(team, reps):
    """Two reps in the rotation, as in the report, on a policy that reassigns on breach."""
    TeamMembership.objects.filter(team=team, rep=reps[2]).update(is_active=False)
    SlaPolicy.objects.filter(pk=team.default_sla_policy_id).update(breach_action=BreachAction.BOTH)
    return reps[:2]


def sweep_until_quiet(lead_id: int, *, rounds: int = 12) -> list[dict[str, int]]:
    """Sweep after each new clock's due time, as beat would minute after minute."""
    done = []
    for _ in range(rounds):
        assignment = Assignment.objects.filter(lead_id=lead_id, is_open=True).select_related("clock").first()
        done.append(services.sla_sweep(now=assignment.clock.due_at + timedelta(seconds=1)))
    return done


def test_reassignment_on_breach_stops_at_the_bound_and_escalates_once(two_reps, marketer, manager, mql):
    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)

    sweeps = sweep_until_quiet(lead.pk)

    assert sum(done["reassigned"] for done in sweeps) == 2, "the policy's default allows two reassignments"
    assert sum(done["escalated"] for done in sweeps) == 1
    assert Assignment.objects.filter(lead=lead).count() == 3
    escalations = Notification.objects.filter(kind=NotificationKind.ESCALATED, lead=lead)
    assert [note.recipient for note in escalations] == [manager]
    assert "Reassigned on breach 2 times" in escalations[0].body
    # Each reassignment tells the two reps; the manager hears of the first two breaches and the escalation.
    assert Notification.objects.filter(lead=lead, kind=NotificationKind.REASSIGNED).count() == 4
    assert Notification.objects.filter(lead=lead, kind=NotificationKind.SLA_BREACH).count() == 2
    clock = Assignment.objects.get(lead=lead, is_open=True).clock
    assert clock.escalated_at is not None
    assert SlaEvent.objects.filter(clock=clock, kind=SlaEvent.Kind.ESCALATED).count() == 1


def test_a_policy_allowing_no_reassignment_escalates_the_first_breach(two_reps, marketer, mql, team):
    SlaPolicy.objects.filter(pk=team.default_sla_policy_id).update(max_reassignments=0)
    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    sweeps = sweep_until_quiet(lead.pk, rounds=3)
    assert [done["escalated"] for done in sweeps] == [1, 0, 0]
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_the_sla_board_shows_an_escalated_lead_as_needing_a_decision(two_reps, marketer, manager, mql, client):
    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    sweep_until_quiet(lead.pk, rounds=4)
    client.force_login(manager)

    html = client.get("/sla/").content.decode()

    assert "Needs a decision" in html
    assert settings_pages.escalations_waiting() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_reassign_within_the_bound_and_escalate_exactly_once(two_reps, marketer, manager, mql):
    if connection.vendor != "postgresql":
        pytest.skip("row-lock races need PostgreSQL (run with DATABASE_URL=postgres://...)")
    lead = mql()
    services.lead_hand_off(lead_id=lead.pk, user=marketer)

    for _ in range(6):
        due = Assignment.objects.filter(lead=lead, is_open=True).select_related("clock").get().clock.due_at
        barrier = threading.Barrier(2)

        def sweep(moment=due + timedelta(seconds=1), barrier=barrier):  # type: ignore[no-untyped-def]
            try:
                barrier.wait()
                services.sla_sweep(now=moment)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert SlaEvent.objects.filter(kind=SlaEvent.Kind.REASSIGNED, clock__assignment__lead=lead).count() == 2
    assert SlaEvent.objects.filter(kind=SlaEvent.Kind.ESCALATED, clock__assignment__lead=lead).count() == 1
    assert Notification.objects.filter(kind=NotificationKind.ESCALATED, lead=lead).count() == 1
    assert Assignment.objects.filter(lead=lead).count() == 3
