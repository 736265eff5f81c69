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

    assert services.sla_sweep(now=now) == {"warnings": 0, "breaches": 1, "reassigned": 1}

    assignment.refresh_from_db()
    assert not assignment.is_open
    new = assignment.lead.assignments.get(is_open=True)
    assert new.rep != assignment.rep
    assert new.clock.status == SlaStatus.ON_TRACK
    assert SlaEvent.objects.filter(clock=assignment.clock, kind="reassigned").exists()
    # the old clock is stopped; the sweep leaves it alone from now on
    assert services.sla_sweep(now=now + timedelta(minutes=5)) == {"warnings": 0, "breaches": 0, "reassigned": 0}


def test_a_clock_whose_warning_was_missed_is_only_breached(handed_off):
    clock = handed_off().clock
    assert services.sla_sweep(now=clock.due_at + timedelta(minutes=1)) == {
        "warnings": 0,
        "breaches": 1,
        "reassigned": 0,
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
