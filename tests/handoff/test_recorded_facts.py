"""Recorded facts are not rewritable by a date (issue 13, item 6).

A touch or a discovery call is held after the lead's current assignment began (with none, after
its latest entry into MQL) and not in the future; a decision is expected on or after the call; a
qualified call's timing window is counted from the call, and a decision date already passed does
not qualify; the budget currency is a real ISO 4217 code. A breach is a recorded fact: a late or
back-dated touch makes a breached clock "met late", never "met". Each refusal names its field, in
the service, the API and the form, and writes nothing.
"""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from handoff import services
from handoff.models import Assignment, DiscoveryCall, Opportunity, QualificationPolicy, SlaClock, SlaStatus
from handoff.selectors import settings_pages as board
from handoff.selectors.api import _clock_status
from leads.lifecycle import Stage
from leads.models import Activity, Lead
from reporting import selectors as reporting
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db

API = "/api/v1"


# --- helpers -----------------------------------------------------------------------------------


def shift_back(assignment: Assignment, delta: timedelta) -> Assignment:
    """Move an assignment and its clock into the past (the test's stand-in for time passing; the
    stage history is immutable and stays where it is)."""
    clock = assignment.clock
    SlaClock.objects.filter(pk=clock.pk).update(
        started_at=clock.started_at - delta, warn_at=clock.warn_at - delta, due_at=clock.due_at - delta
    )
    Assignment.objects.filter(pk=assignment.pk).update(assigned_at=assignment.assigned_at - delta)
    return Assignment.objects.select_related("clock", "lead", "rep").get(pk=assignment.pk)


@pytest.fixture
def breached(marketer, team, reps, mql):
    """The defect's lead: handed to the first rep 13 days and an hour ago (a one-hour SLA, so 13
    days past it), and the sweep has recorded the breach a few minutes after the due time."""
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    assert assignment.rep == reps[0]
    assignment = shift_back(assignment, timedelta(days=13, hours=1))
    clock = assignment.clock
    assert services.sla_sweep(now=clock.due_at + timedelta(minutes=5))["breaches"] == 1
    clock.refresh_from_db()
    assert clock.breached_at == clock.due_at + timedelta(minutes=5)
    assert clock.status == SlaStatus.BREACHED
    return assignment


def written(lead: Lead) -> tuple[Any, ...]:
    """Everything logging a call or a touch could have written."""
    lead.refresh_from_db()
    clock = Assignment.objects.filter(lead=lead).order_by("-id").first().clock
    return (
        lead.stage,
        lead.qualifying_call_id,
        lead.transitions.count(),
        Activity.objects.filter(lead=lead).count(),
        DiscoveryCall.objects.filter(lead=lead).count(),
        Opportunity.objects.filter(lead=lead).count(),
        SlaClock.objects.filter(pk=clock.pk).values_list("first_touch_at", "touch_recorded_at", "breached_at").get(),
    )


def refused(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def local(at: datetime) -> datetime:
    return timezone.localtime(at)


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    return {key: (str(value) if isinstance(value, (date, datetime)) or key == "budget_amount" else value)
            for key, value in data.items()}  # fmt: skip


def form_post(data: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = local(value).strftime("%Y-%m-%dT%H:%M")
        out[key] = "" if value is None else str(value)
    return out


# --- the defect, through the service -----------------------------------------------------------


def test_the_1900_call_is_refused_naming_held_at_and_nothing_is_written(breached):
    lead, rep = breached.lead, breached.rep
    before = written(lead)
    data = qualified_bant(
        held_at=datetime(1900, 1, 1, 10, tzinfo=timezone.get_current_timezone()),
        expected_decision_date=date(1900, 6, 1),
    )

    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=lead.pk, user=rep, data=data)

    errors = refused(excinfo)
    assert set(errors) == {"held_at"}
    assert errors["held_at"][0].startswith("The call cannot be held before the lead was assigned to you (")
    assert written(lead) == before  # still MQL, no call, no opportunity, the clock still breached
    breached.clock.refresh_from_db()
    assert breached.clock.status == SlaStatus.BREACHED


def test_a_call_cannot_be_held_in_the_future(breached):
    lead, rep = breached.lead, breached.rep
    before = written(lead)
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(held_at=timezone.now() + timedelta(hours=2)))
    assert refused(excinfo)["held_at"][0].startswith("The call cannot be held in the future")
    assert written(lead) == before


def test_a_managers_call_names_the_rep_the_lead_is_assigned_to(breached, manager):
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(
            lead_id=breached.lead_id,
            user=manager,
            data=qualified_bant(held_at=breached.assigned_at - timedelta(minutes=1)),
        )
    rep = breached.rep
    assert (
        f"before the lead was assigned to {rep.get_full_name() or rep.get_username()} ("
        in refused(excinfo)["held_at"][0]
    )


def test_without_an_open_assignment_a_call_is_held_since_the_lead_became_an_mql(manager, mql):
    lead = mql()
    became_mql = lead.transitions.get(to_stage=Stage.MQL).at
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=lead.pk, user=manager, data=qualified_bant(held_at=became_mql - timedelta(minutes=5)))
    assert refused(excinfo)["held_at"][0].startswith("The call cannot be held before the lead last became an MQL")
    assert not DiscoveryCall.objects.exists()

    call = services.call_log(lead_id=lead.pk, user=manager, data=qualified_bant(held_at=became_mql))
    assert call.held_at == became_mql


@pytest.mark.parametrize("outcome", ["qualified", "follow_up", "not_qualified"])
def test_a_decision_date_before_the_call_is_refused_naming_it_for_any_outcome(breached, outcome):
    lead, rep = breached.lead, breached.rep
    held_at = timezone.now() - timedelta(days=3)
    before = written(lead)
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(
            lead_id=lead.pk,
            user=rep,
            data=qualified_bant(
                outcome=outcome, held_at=held_at, expected_decision_date=local(held_at).date() - timedelta(days=1)
            ),
        )
    errors = refused(excinfo)
    assert set(errors) == {"expected_decision_date"}
    assert errors["expected_decision_date"][0].startswith("The expected decision date cannot be before the call")
    assert written(lead) == before


def test_a_decision_on_the_day_of_the_call_is_fine_for_a_follow_up(breached):
    held_at = timezone.now() - timedelta(days=3)
    call = services.call_log(
        lead_id=breached.lead_id,
        user=breached.rep,
        data=qualified_bant(outcome="follow_up", held_at=held_at, expected_decision_date=local(held_at).date()),
    )
    assert call.expected_decision_date == local(held_at).date()
    # ... though such a date, now past, is noted against qualifying.
    assert any("has passed" in failure for failure in call.policy_verdict)


@pytest.mark.parametrize("code", ["ABC", "XTS", "US", "EURO", "HRK"])
def test_a_currency_must_be_a_real_iso_4217_code(breached, code):
    lead, rep = breached.lead, breached.rep
    before = written(lead)
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(budget_currency=code))
    errors = refused(excinfo)
    assert set(errors) == {"budget_currency"}
    assert "ISO 4217" in errors["budget_currency"][0]
    assert written(lead) == before


@pytest.mark.parametrize(("given", "stored"), [("usd", "USD"), (" eur ", "EUR"), ("CHF", "CHF"), ("jpy", "JPY")])
def test_a_real_currency_is_accepted_in_any_case(breached, given, stored):
    call = services.call_log(
        lead_id=breached.lead_id, user=breached.rep, data=qualified_bant(budget_currency=given), convert=False
    )
    assert call.budget_currency == stored


def test_every_bad_value_is_named_at_once(breached):
    held_at = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as excinfo:
        services.call_log(
            lead_id=breached.lead_id,
            user=breached.rep,
            data=qualified_bant(held_at=held_at, budget_currency="ABC", decision_maker=""),
        )
    assert set(refused(excinfo)) == {"held_at", "budget_currency", "decision_maker"}


# --- qualification: the timing window from the call, and a decision still to come ---------------


def test_a_qualified_call_whose_decision_date_has_passed_is_not_qualified(breached):
    lead, rep = breached.lead, breached.rep
    held_at = timezone.now() - timedelta(days=10)
    data = qualified_bant(held_at=held_at, expected_decision_date=timezone.localdate() - timedelta(days=5))
    before = written(lead)

    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=lead.pk, user=rep, data=data)

    messages = refused(excinfo)["outcome"]
    assert messages[0] == "Not qualified under the qualification policy:"
    assert any(m.startswith("Timing: the expected decision date (") and "has passed" in m for m in messages)
    assert written(lead) == before
    # As a follow-up it is a fact worth keeping.
    call = services.call_log(lead_id=lead.pk, user=rep, data={**data, "outcome": "follow_up"})
    assert call.outcome == "follow_up"


def test_the_timing_window_is_counted_from_the_call(breached):
    QualificationPolicy.objects.filter(is_active=True).delete()
    QualificationPolicy.objects.create(
        name="Three months", is_active=True, accepted_budget_statuses=["approved", "planned"],
        accepted_authority_roles=["decision_maker", "budget_holder", "champion", "influencer"],
        max_timeframe_months=3,
    )  # fmt: skip
    held_at = timezone.now() - timedelta(days=12)
    # 40 days from today, 52 from the call: within three months either way.
    decision = timezone.localdate() + timedelta(days=40)
    data = qualified_bant(held_at=held_at, expected_decision_date=decision, timeframe="3m")
    policy = services.qualification_policy()
    held_on = local(held_at).date()
    assert services.qualification_failures(data, policy, timezone.localdate(), held_on=held_on) == []
    # 85 days from today is within 93 days of today, but 97 days after the call: outside.
    late = timezone.localdate() + timedelta(days=85)
    assert services.qualification_failures({**data, "expected_decision_date": late}, policy, timezone.localdate()) == []
    failures = services.qualification_failures(
        {**data, "expected_decision_date": late}, policy, timezone.localdate(), held_on=held_on
    )
    assert failures == ["Timing: the expected decision date is more than 3 months away from the call."]

    with pytest.raises(ValidationError) as excinfo:
        services.call_log(lead_id=breached.lead_id, user=breached.rep, data={**data, "expected_decision_date": late})
    assert failures[0] in refused(excinfo)["outcome"]
    call = services.call_log(lead_id=breached.lead_id, user=breached.rep, data=data)
    assert call.outcome == "qualified"
    assert Opportunity.objects.get(lead=breached.lead).expected_close == decision


def test_converting_later_refuses_a_call_whose_decision_date_has_since_passed(breached):
    call = services.call_log(
        lead_id=breached.lead_id,
        user=breached.rep,
        data=qualified_bant(expected_decision_date=timezone.localdate() + timedelta(days=1)),
        convert=False,
    )
    before = written(breached.lead)
    later = timezone.now() + timedelta(days=3)
    with mock.patch("django.utils.timezone.now", return_value=later), pytest.raises(ValidationError) as excinfo:
        services.lead_convert_to_sql(lead_id=breached.lead_id, call_id=call.pk, user=breached.rep)
    assert "has passed" in refused(excinfo)["call"][0]
    assert written(breached.lead) == before


# --- a breach is a recorded fact -------------------------------------------------------------------


def clock_of(assignment: Assignment) -> SlaClock:
    return SlaClock.objects.get(pk=assignment.clock.pk)


def assert_breached_then_met_late(assignment: Assignment, touched_at: datetime, breached_at: datetime) -> SlaClock:
    clock = clock_of(assignment)
    assert clock.status == SlaStatus.MET_LATE
    assert not clock.met_in_time
    assert clock.first_touch_at == touched_at  # when the touch happened, for response times
    assert clock.touch_recorded_at > clock.due_at  # when Baton heard of it
    assert clock.breached_at == breached_at  # the breach is kept
    return clock


def test_a_back_dated_touch_after_the_breach_is_met_late_and_keeps_the_breach(breached):
    clock = breached.clock
    breached_at = clock_of(breached).breached_at
    touched_at = clock.started_at + timedelta(minutes=10)  # "I called them ten minutes in"

    services.touch_log(lead_id=breached.lead_id, user=breached.rep, kind="call", at=touched_at)

    clock = assert_breached_then_met_late(breached, touched_at, breached_at)
    # A later touch changes nothing either.
    services.touch_log(lead_id=breached.lead_id, user=breached.rep, kind="email")
    assert clock_of(breached).first_touch_at == touched_at
    assert clock_of(breached).status == SlaStatus.MET_LATE
    # Every reader says the same: the API's status filter, the SLA board, the SLA report.
    assert not SlaClock.objects.filter(SlaClock.met_in_time_q(), pk=clock.pk).exists()
    assert SlaClock.objects.filter(_clock_status(SlaStatus.MET_LATE, timezone.now()), pk=clock.pk).exists()
    assert not SlaClock.objects.filter(_clock_status(SlaStatus.MET, timezone.now()), pk=clock.pk).exists()
    counts = board.sla_board_counts(board.BoardFilters(), now=timezone.now())
    assert (counts[SlaStatus.MET], counts[SlaStatus.MET_LATE]) == (0, 1)
    summary = reporting.sla_summary(start=clock.started_at, end=timezone.now())
    assert (summary.touched_in_time, summary.touched_late) == (0, 1)


def test_a_discovery_call_back_dated_after_the_breach_is_met_late_too(breached):
    breached_at = clock_of(breached).breached_at
    held_at = breached.clock.started_at + timedelta(minutes=20)
    services.call_log(
        lead_id=breached.lead_id, user=breached.rep, data=qualified_bant(outcome="follow_up", held_at=held_at)
    )
    assert_breached_then_met_late(breached, held_at, breached_at)


def test_a_touch_recorded_by_the_due_time_is_met(marketer, team, mql):
    assignment = services.lead_hand_off(lead_id=mql().pk, user=marketer)
    services.touch_log(lead_id=assignment.lead_id, user=assignment.rep, kind="call")
    clock = clock_of(assignment)
    assert clock.touch_recorded_at is not None
    assert clock.touch_recorded_at <= clock.due_at
    assert clock.status == SlaStatus.MET
    assert SlaClock.objects.filter(SlaClock.met_in_time_q(), pk=clock.pk).exists()
    # The sweep never breaches it afterwards.
    assert services.sla_sweep(now=clock.due_at + timedelta(hours=1))["breaches"] == 0
    assert clock_of(assignment).status == SlaStatus.MET


def test_a_touch_logged_after_the_due_time_but_back_dated_before_it_is_met_late_without_a_sweep(breached):
    # Even where the sweep has not run (workers lag), a touch logged after the due time is late.
    SlaClock.objects.filter(pk=breached.clock.pk).update(breached_at=None)
    touched_at = breached.clock.started_at + timedelta(minutes=5)
    services.touch_log(lead_id=breached.lead_id, user=breached.rep, kind="call", at=touched_at)
    clock = clock_of(breached)
    assert (clock.status, clock.breached_at) == (SlaStatus.MET_LATE, None)


@pytest.mark.parametrize(
    ("first", "recorded", "breach", "met"),
    [
        (10, 10, None, True),
        (10, 59, None, True),
        (10, 70, None, False),  # back-dated, logged late
        (70, 70, None, False),  # simply late
        (10, 70, 65, False),  # back-dated after the breach
        (10, None, None, False),  # a touch with no record of when it was logged is not proven in time
    ],
)
def test_the_met_rule_is_the_same_in_python_and_sql(breached, first, recorded, breach, met):
    clock = breached.clock
    start = clock.started_at
    SlaClock.objects.filter(pk=clock.pk).update(
        first_touch_at=start + timedelta(minutes=first),
        touch_recorded_at=start + timedelta(minutes=recorded) if recorded is not None else None,
        breached_at=start + timedelta(minutes=breach) if breach is not None else None,
    )
    clock = clock_of(breached)
    assert clock.met_in_time is met
    assert clock.status == (SlaStatus.MET if met else SlaStatus.MET_LATE)
    assert SlaClock.objects.filter(SlaClock.met_in_time_q(), pk=clock.pk).exists() is met
    annotated = SlaClock.objects.annotate(**board.sla_status_annotations(timezone.now())).get(pk=clock.pk)
    assert annotated.board_status == clock.status


def test_a_touch_before_the_assignment_or_in_the_future_is_refused(breached):
    before = written(breached.lead)
    for at, words in (
        (breached.assigned_at - timedelta(seconds=1), "A touch cannot come before the lead was assigned to you ("),
        (timezone.now() + timedelta(minutes=5), "A touch cannot be in the future"),
    ):
        with pytest.raises(ValidationError) as excinfo:
            services.touch_log(lead_id=breached.lead_id, user=breached.rep, kind="call", at=at)
        assert refused(excinfo)["at"][0].startswith(words)
    assert written(breached.lead) == before


def test_a_conversion_does_not_back_date_a_new_assignments_touch(breached, marketer, reps):
    # A qualified call logged (not converted) under the first rep; the lead is then reassigned.
    call = services.call_log(lead_id=breached.lead_id, user=breached.rep, data=qualified_bant(), convert=False)
    new = services.lead_reassign(lead_id=breached.lead_id, user=None, reason="test", rep_id=reps[1].pk)
    services.lead_convert_to_sql(lead_id=breached.lead_id, call_id=call.pk, user=reps[1])
    clock = clock_of(new)
    assert clock.first_touch_at >= new.assigned_at
    assert clock.status == SlaStatus.MET


def test_the_migration_backfills_when_existing_touches_were_recorded(breached):
    touched = breached.clock.started_at + timedelta(minutes=7)
    SlaClock.objects.filter(pk=breached.clock.pk).update(first_touch_at=touched, touch_recorded_at=None)
    migration = importlib.import_module("handoff.migrations.0007_slaclock_touch_recorded")
    migration.backfill_touch_recorded(apps, None)
    assert clock_of(breached).touch_recorded_at == touched


# --- the same through the API -------------------------------------------------------------------


def test_api_refuses_the_1900_call_naming_held_at(breached):
    before = written(breached.lead)
    payload = as_json(qualified_bant(held_at="1900-01-01T10:00:00Z", expected_decision_date=date(1900, 6, 1)))
    response = api_for(breached.rep).post(f"{API}/leads/{breached.lead_id}/discovery-calls/", payload, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert set(body) == {"held_at"}
    assert body["held_at"][0].startswith("The call cannot be held before the lead was assigned to you")
    assert written(breached.lead) == before


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"budget_currency": "ABC"}, "budget_currency", "ISO 4217"),
        ({"expected_decision_date": "2000-01-01"}, "expected_decision_date", "cannot be before the call"),
    ],
)
def test_api_refuses_bad_values_naming_the_field(breached, overrides, field, words):
    before = written(breached.lead)
    response = api_for(breached.rep).post(
        f"{API}/leads/{breached.lead_id}/discovery-calls/", as_json(qualified_bant(**overrides)), format="json"
    )
    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert written(breached.lead) == before


def test_api_accepts_usd_in_lower_case(breached):
    response = api_for(breached.rep).post(
        f"{API}/leads/{breached.lead_id}/discovery-calls/",
        as_json(qualified_bant(budget_currency="usd")),
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["call"]["budget_currency"] == "USD"


def test_api_back_dated_touch_after_the_breach_is_met_late(breached):
    breached_at = clock_of(breached).breached_at
    touched_at = breached.clock.started_at + timedelta(minutes=10)
    client = api_for(breached.rep)

    response = client.post(
        f"{API}/leads/{breached.lead_id}/touches/", {"kind": "call", "at": touched_at.isoformat()}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert_breached_then_met_late(breached, touched_at, breached_at)
    listed = client.get(f"{API}/assignments/", {"status": "met_late"})
    assert [row["id"] for row in listed.json()["results"]] == [breached.pk]
    assert client.get(f"{API}/assignments/", {"status": "met"}).json()["results"] == []


def test_api_refuses_a_touch_before_the_assignment_naming_at(breached):
    before = written(breached.lead)
    at = (breached.assigned_at - timedelta(days=1)).isoformat()
    response = api_for(breached.rep).post(
        f"{API}/leads/{breached.lead_id}/touches/", {"kind": "call", "at": at}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["at"][0].startswith("A touch cannot come before the lead was assigned to you")
    assert written(breached.lead) == before


# --- the same through the pages ------------------------------------------------------------------


def work_url(lead_id: int, action: str = "") -> str:
    return reverse(f"handoff:work_{action}" if action else "handoff:work_lead", args=[lead_id])


def test_form_refuses_the_1900_call_on_the_held_at_field(client, breached):
    client.force_login(breached.rep)
    before = written(breached.lead)
    data = form_post(qualified_bant(held_at="1900-01-01T10:00", expected_decision_date="1900-06-01"))

    response = client.post(work_url(breached.lead_id, "call"), data)

    assert response.status_code == 200
    errors = response.context["call_form"].errors
    assert set(errors) == {"held_at"}
    assert errors["held_at"][0].startswith("The call cannot be held before the lead was assigned to you")
    assert written(breached.lead) == before


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"budget_currency": "ABC"}, "budget_currency", "ISO 4217"),
        ({"expected_decision_date": "2000-01-01"}, "expected_decision_date", "cannot be before the call"),
    ],
)
def test_form_refuses_bad_values_on_their_fields(client, breached, overrides, field, words):
    client.force_login(breached.rep)
    before = written(breached.lead)
    response = client.post(work_url(breached.lead_id, "call"), form_post(qualified_bant(**overrides)))
    assert response.status_code == 200
    assert words in response.context["call_form"].errors[field][0]
    assert written(breached.lead) == before


def test_form_back_dated_call_after_the_breach_is_met_late_and_the_pages_keep_the_breach(client, breached, manager):
    client.force_login(breached.rep)
    breached_at = clock_of(breached).breached_at
    held_at = (breached.clock.started_at + timedelta(minutes=20)).replace(second=0, microsecond=0)
    data = form_post(qualified_bant(outcome="follow_up", held_at=held_at))

    response = client.post(work_url(breached.lead_id, "call"), data)

    assert response.status_code == 302
    assert_breached_then_met_late(breached, held_at, breached_at)
    page = client.get(work_url(breached.lead_id)).content.decode()
    assert 'data-status="met_late"' in page
    assert "breached" in page
    my_leads = client.get(reverse("handoff:my_leads")).content.decode()
    assert 'data-status="met_late"' in my_leads
    assert "sla-breached" in my_leads
    client.force_login(manager)
    board_page = client.get(reverse("handoff:sla_board"))
    row = next(r for r in board_page.context["rows"] if r.clock.pk == breached.clock.pk)
    assert row.status == SlaStatus.MET_LATE
    assert "breached" in row.due_words
    assert "in time" not in row.due_words


def test_form_touch_after_the_breach_says_met_late(client, breached):
    client.force_login(breached.rep)
    response = client.post(work_url(breached.lead_id, "touch"), {"kind": "call"})
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Call logged. First touch: the SLA clock stopped — SLA met late."
    ]
    clock = clock_of(breached)
    assert clock.status == SlaStatus.MET_LATE
    assert clock.breached_at is not None


def test_the_call_form_offers_no_time_in_the_future(client, breached):
    client.force_login(breached.rep)
    form = client.get(work_url(breached.lead_id)).context["call_form"]
    assert form.fields["held_at"].widget.attrs["max"] <= local(timezone.now()).strftime("%Y-%m-%dT%H:%M")
