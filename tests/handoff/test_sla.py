"""SLA clocks: derived status, the sweep's side effects exactly once, escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import services
from handoff.models import BreachAction, Notification, NotificationKind, SlaEvent, SlaStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_off(marketer, team, mql):
    def make():
        lead = mql()
        return services.lead_hand_off(lead_id=lead.pk, user=marketer)

    return make


def test_status_is_derived_from_timestamps_when_read(handed_off):
    clock = handed_off().clock
    start = clock.started_at
    assert clock.status_at(start + timedelta(minutes=10)) == SlaStatus.ON_TRACK
    assert clock.status_at(start + timedelta(minutes=30)) == SlaStatus.AT_RISK
    assert clock.status_at(start + timedelta(minutes=61)) == SlaStatus.BREACHED
    clock.first_touch_at = start + timedelta(minutes=70)
    assert clock.status_at(start + timedelta(hours=5)) == SlaStatus.MET_LATE


def test_sweep_warns_then_breaches_each_once_and_notifies_the_manager(handed_off, manager):
    assignment = handed_off()
    clock = assignment.clock
    assert services.sla_sweep(now=clock.started_at + timedelta(minutes=10)) == {
        "warnings": 0,
        "breaches": 0,
        "reassigned": 0,
        "escalated": 0,
    }
    assert services.sla_sweep(now=clock.started_at + timedelta(minutes=31))["warnings"] == 1
    assert services.sla_sweep(now=clock.started_at + timedelta(minutes=32))["warnings"] == 0
    assert services.sla_sweep(now=clock.due_at + timedelta(seconds=5))["breaches"] == 1
    assert services.sla_sweep(now=clock.due_at + timedelta(minutes=5))["breaches"] == 0

    assert list(SlaEvent.objects.filter(clock=clock).values_list("kind", flat=True)) == ["warning", "breach"]
    assert Notification.objects.get(kind=NotificationKind.SLA_WARNING).recipient == assignment.rep
    breach = Notification.objects.get(kind=NotificationKind.SLA_BREACH)
    assert breach.recipient == manager
    assert str(assignment.rep) in breach.body


def test_a_touched_lead_is_never_breached(handed_off):
    assignment = handed_off()
    services.touch_log(lead_id=assignment.lead_id, user=assignment.rep, kind="call")
    assert services.sla_sweep(now=assignment.clock.due_at + timedelta(hours=1))["breaches"] == 0


def test_breach_with_reassign_moves_the_lead_to_the_next_rep_with_a_new_clock(handed_off, policy, reps):
    policy.breach_action = BreachAction.BOTH
    policy.save()
    assignment = handed_off()
    now = assignment.clock.due_at + timedelta(seconds=1)

    assert services.sla_sweep(now=now) == {"warnings": 0, "breaches": 1, "reassigned": 1, "escalated": 0}

    assignment.refresh_from_db()
    assert not assignment.is_open
    new = assignment.lead.assignments.get(is_open=True)
    assert new.rep != assignment.rep
    assert new.clock.status == SlaStatus.ON_TRACK
    assert SlaEvent.objects.filter(clock=assignment.clock, kind="reassigned").exists()
    # the old clock is stopped; the sweep leaves it alone from now on
    assert services.sla_sweep(now=now + timedelta(minutes=5)) == {
        "warnings": 0,
        "breaches": 0,
        "reassigned": 0,
        "escalated": 0,
    }


def test_a_clock_whose_warning_was_missed_is_only_breached(handed_off):
    clock = handed_off().clock
    assert services.sla_sweep(now=clock.due_at + timedelta(minutes=1)) == {
        "warnings": 0,
        "breaches": 1,
        "reassigned": 0,
        "escalated": 0,
    }
    assert not SlaEvent.objects.filter(kind="warning").exists()


def test_the_sweep_runs_from_the_beat_task(handed_off):
    from handoff import tasks

    clock = handed_off().clock
    clock.__class__.objects.filter(pk=clock.pk).update(
        started_at=timezone.now() - timedelta(hours=2),
        warn_at=timezone.now() - timedelta(hours=1, minutes=30),
        due_at=timezone.now() - timedelta(hours=1),
    )
    assert tasks.sla_sweep.delay().get()["breaches"] == 1


def test_the_sweep_does_a_fixed_number_of_queries_whatever_the_number_of_due_clocks(
    handed_off, django_assert_num_queries
):
    """Warnings and breaches are marked, recorded and notified a batch at a time: one locking
    read, one update, one insert of events and one of notifications per kind (and a savepoint)."""
    for count in (1, 3):
        clocks = [handed_off().clock for _ in range(count)]
        with django_assert_num_queries(9):
            assert services.sla_sweep(now=max(c.warn_at for c in clocks) + timedelta(seconds=1))["warnings"] == count
        with django_assert_num_queries(9):
            assert services.sla_sweep(now=max(c.due_at for c in clocks) + timedelta(seconds=1))["breaches"] == count
    assert SlaEvent.objects.filter(kind="warning").count() == SlaEvent.objects.filter(kind="breach").count() == 4
    assert Notification.objects.filter(kind=NotificationKind.SLA_WARNING).count() == 4
    assert Notification.objects.filter(kind=NotificationKind.SLA_BREACH).count() == 4


def test_only_reassignments_add_queries_to_a_sweep(handed_off, policy):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    policy.breach_action = BreachAction.BOTH
    policy.save()
    counted = []
    for count in (1, 2):
        clocks = [handed_off().clock for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            done = services.sla_sweep(now=max(c.due_at for c in clocks) + timedelta(seconds=1))
        assert done == {"warnings": 0, "breaches": count, "reassigned": count, "escalated": 0}
        counted.append(len(queries))
    per_reassignment = counted[1] - counted[0]
    # Besides the reassignments: the due clocks' read and the warnings' read, each in a savepoint here.
    assert counted[0] - per_reassignment == 6


def test_breach_notifications_are_emailed_one_each_after_commit(
    handed_off, manager, django_capture_on_commit_callbacks, mailoutbox
):
    clocks = [handed_off().clock for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sla_sweep(now=max(c.due_at for c in clocks) + timedelta(seconds=1))["breaches"] == 2
    notifications = Notification.objects.filter(kind=NotificationKind.SLA_BREACH)
    assert sorted(n.recipient_id for n in notifications) == [manager.pk, manager.pk]
    assert all(n.emailed_at for n in notifications)
    assert sorted(m.subject for m in mailoutbox) == sorted(f"[Baton] {n.title}" for n in notifications)


def test_a_team_without_a_manager_has_its_breaches_told_to_every_manager(handed_off, team, manager):
    from tests import factories

    other = factories.manager(username="mo.manager")
    team.manager = None
    team.save()
    clocks = [handed_off().clock for _ in range(2)]
    assert services.sla_sweep(now=max(c.due_at for c in clocks) + timedelta(seconds=1))["breaches"] == 2
    recipients = Notification.objects.filter(kind=NotificationKind.SLA_BREACH).values_list("recipient", flat=True)
    assert sorted(recipients) == sorted([manager.pk, other.pk] * 2)
    texts = Notification.objects.filter(kind=NotificationKind.SLA_BREACH, recipient=other)
    assert {n.lead_id for n in texts} == {c.assignment.lead_id for c in clocks}
    assert all("under the “Test 60” policy" in n.body for n in texts)
