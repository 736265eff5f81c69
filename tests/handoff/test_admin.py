"""The handoff admin: every model listed; service-written records read-only for everyone; the
reassign action; settings forms validating and saving through the settings services."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from handoff import services, services_settings
from handoff.models import (
    Assignment,
    AssignmentEnd,
    BusinessCalendar,
    ClosedDay,
    DiscoveryCall,
    MqlTarget,
    Notification,
    Opportunity,
    QualificationPolicy,
    QueueReview,
    Rejection,
    RejectionReason,
    RoutingRule,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    Team,
    TeamMembership,
)
from leads.lifecycle import Stage
from tests import factories

pytestmark = pytest.mark.django_db

READ_ONLY = [Assignment, SlaClock, SlaEvent, QueueReview, Rejection, DiscoveryCall, Opportunity, Notification]
SETTINGS = [
    Team,
    TeamMembership,
    RoutingRule,
    SlaPolicy,
    BusinessCalendar,
    ClosedDay,
    QualificationPolicy,
    RejectionReason,
    MqlTarget,
]


def url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:handoff_{model._meta.model_name}_{view}", args=args)


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def history(marketer, team, mql, manager):  # type: ignore[no-untyped-def]
    """One of everything: hand-offs (assignment, clock, queue review, notifications), a breach
    (SLA event), a converted lead (discovery call, opportunity), a closed day, a rule."""
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(hours=2)):
        assignment = services.lead_hand_off(lead_id=mql().pk, user=marketer)
    services.sla_sweep()
    converted = services.lead_hand_off(lead_id=mql().pk, user=marketer)
    services.call_log(lead_id=converted.lead_id, user=converted.rep, data=factories.qualified_bant())
    ClosedDay.objects.create(calendar=team.default_sla_policy.calendar, date=timezone.localdate() + timedelta(days=9))
    RoutingRule.objects.create(name="All", team=team, position=1)
    services.lead_disqualify_from_queue(lead_id=mql().pk, user=marketer, reason_code="student")
    services_settings.mql_target_save(user=manager, month=timezone.localdate(), target=40)
    return assignment


@pytest.mark.parametrize("model", READ_ONLY + SETTINGS)
def test_every_model_has_a_working_changelist_and_change_page(admin_client, history, model):
    obj = model.objects.first()
    assert obj is not None, model
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", [Assignment, SlaClock, QueueReview, DiscoveryCall, Opportunity])
def test_lead_searches_are_exact_and_index_backed(admin_client, history, model):
    lead = history.lead
    found = admin_client.get(url(model, "changelist"), {"q": lead.email.upper()})
    assert found.status_code == 200
    assert (
        found.context["cl"].result_count
        == model.objects.filter(**{"assignment__lead" if model is SlaClock else "lead": lead}).count()
    )
    vague = admin_client.get(url(model, "changelist"), {"q": "acme"})
    assert vague.context["cl"].result_count == 0
    assert "Search by the lead's exact email address or id." in messages_of(vague)


@pytest.mark.parametrize("model", READ_ONLY)
def test_service_written_records_are_read_only_even_for_superusers(admin_client, admin_user, history, model):
    obj = model.objects.first()
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = admin_client.get(url(model, "change", obj.pk))
    assert 'name="_save"' not in page.content.decode()  # a view page, nothing to submit
    before = model.objects.count()
    admin_client.post(url(model, "change", obj.pk), {})
    assert model.objects.count() == before


def test_the_assignment_list_shows_the_derived_sla_status_and_filters_by_it(admin_client, history):
    listing = admin_client.get(url(Assignment, "changelist"), {"sla_status": "breached"})
    assert listing.context["cl"].result_count == 1
    assert "Breached" in listing.content.decode()
    clocks = admin_client.get(url(SlaClock, "changelist"), {"sla_status": "met"})
    assert clocks.context["cl"].result_count == 1


def test_reassign_to_next_rep_action_calls_the_service(admin_client, history):
    old = history
    response = admin_client.post(
        url(Assignment, "changelist"),
        {"action": "reassign_to_next_rep", "_selected_action": [old.pk]},
    )
    assert response.status_code == 302
    assert "Reassigned 1 lead to the next rep." in messages_of(response)
    old.refresh_from_db()
    assert (old.is_open, old.end_reason) == (False, AssignmentEnd.REASSIGNED)
    old_clock = SlaClock.objects.get(assignment=old)
    assert old_clock.stopped_at is not None
    assert old_clock.breached_at is not None  # the breach stays on record
    new = Assignment.objects.get(lead=old.lead, is_open=True)
    assert new.rep != old.rep
    assert new.clock.first_touch_at is None

    again = admin_client.post(
        url(Assignment, "changelist"), {"action": "reassign_to_next_rep", "_selected_action": [old.pk]}
    )
    assert any("this assignment has ended" in m for m in messages_of(again))


def test_the_reassign_action_needs_the_reassign_permission(client, history):
    staff_marketer = factories.marketer(username="staff.marketer", is_staff=True)
    client.force_login(staff_marketer)
    response = client.get(url(Assignment, "changelist"))
    assert response.status_code == 200
    assert "reassign_to_next_rep" not in response.content.decode()


# --- Settings forms validate through the services ----------------------------------------------


def calendar_data(**overrides: object) -> dict[str, object]:
    data = {
        "name": "Sydney",
        "time_zone": "Australia/Sydney",
        "hours": '{"0": [["09:00", "17:00"]], "1": [["09:00", "17:00"]]}',
        "holiday_country": "AU",
        "holiday_subdivision": "NSW",
        "closed_days-TOTAL_FORMS": "1",
        "closed_days-INITIAL_FORMS": "0",
        "closed_days-0-date": (timezone.localdate() + timedelta(days=20)).isoformat(),
        "closed_days-0-label": "Offsite",
    }
    data.update(overrides)
    return data


def test_a_calendar_added_in_the_admin_is_saved_through_the_service(admin_client):
    response = admin_client.post(url(BusinessCalendar, "add"), calendar_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    calendar = BusinessCalendar.objects.get(name="Sydney")
    assert calendar.hours == {"0": [["09:00", "17:00"]], "1": [["09:00", "17:00"]]}
    assert list(calendar.closed_days.values_list("label", flat=True)) == ["Offsite"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"time_zone": "Mars/Base"}, "time_zone", "“Mars/Base” is not a time zone."),
        ({"hours": '{"0": [["17:00", "09:00"]]}'}, "hours", "A working window must end after it starts"),
        ({"hours": '{"monday": [["09:00", "17:00"]]}'}, "hours", "“monday” is not a weekday number"),
        ({"hours": '[["09:00", "17:00"]]'}, "hours", 'Give the hours as {"0": [["09:00", "17:00"]], …}'),
        ({"holiday_subdivision": "ZZ"}, "holiday_subdivision", "“ZZ” is not a subdivision of Australia"),
    ],
)
def test_admin_calendar_errors_land_on_the_field(admin_client, overrides, field, message):
    response = admin_client.post(url(BusinessCalendar, "add"), calendar_data(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert errors[field][0].startswith(message)
    assert not BusinessCalendar.objects.filter(name="Sydney").exists()


def test_a_closed_day_inline_in_the_past_is_refused(admin_client):
    response = admin_client.post(
        url(BusinessCalendar, "add"),
        calendar_data(**{"closed_days-0-date": (timezone.localdate() - timedelta(days=2)).isoformat()}),
    )
    assert response.status_code == 200
    assert "That day has passed" in str(response.context["inline_admin_formsets"][0].formset.errors)


def test_a_calendar_in_use_is_not_deleted(admin_client):
    calendar = BusinessCalendar.objects.get(name="US business hours")
    confirm = admin_client.get(url(BusinessCalendar, "delete", calendar.pk))
    assert "Used by Hot lead, Standard" in confirm.content.decode()
    admin_client.post(url(BusinessCalendar, "delete", calendar.pk), {"post": "yes"})
    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()


def test_the_admin_refuses_to_rename_a_built_in_policy(admin_client):
    hot = SlaPolicy.objects.get(name="Hot lead")
    response = admin_client.post(
        url(SlaPolicy, "change", hot.pk),
        {"name": "Fast", "calendar": hot.calendar_id, "first_touch_minutes": 30, "warn_at_percent": 75,
         "breach_action": "both", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "“Hot lead” keeps its name" in response.context["adminform"].form.errors["name"][0]
    response = admin_client.post(
        url(SlaPolicy, "change", hot.pk),
        {"name": "Hot lead", "calendar": hot.calendar_id, "first_touch_minutes": 15, "warn_at_percent": 80,
         "breach_action": "both", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    hot.refresh_from_db()
    assert (hot.first_touch_minutes, hot.warn_at_percent) == (15, 80)


def test_team_memberships_are_edited_inline_through_the_services(admin_client, team, reps):
    members = list(team.memberships.order_by("pk"))
    newcomer = factories.sdr(username="sdr.dee")
    data = {
        "name": team.name,
        "manager": team.manager_id,
        "default_sla_policy": team.default_sla_policy_id,
        "memberships-TOTAL_FORMS": "4",
        "memberships-INITIAL_FORMS": "3",
    }
    for index, member in enumerate(members):
        data |= {
            f"memberships-{index}-id": member.pk,
            f"memberships-{index}-team": team.pk,
            f"memberships-{index}-rep": member.rep_id,
            f"memberships-{index}-capacity": member.capacity,
            f"memberships-{index}-is_active": "on",
        }
    data["memberships-0-capacity"] = 0
    data |= {"memberships-3-team": team.pk, "memberships-3-rep": newcomer.pk, "memberships-3-capacity": 10,
             "memberships-3-is_active": "on"}  # fmt: skip
    response = admin_client.post(url(Team, "change", team.pk), data)
    assert response.status_code == 200
    assert "Capacity must be at least 1" in str(response.context["inline_admin_formsets"][0].formset.errors)
    assert not TeamMembership.objects.filter(rep=newcomer).exists()

    data["memberships-0-capacity"] = 5
    data["memberships-2-DELETE"] = "on"
    response = admin_client.post(url(Team, "change", team.pk), data)
    assert response.status_code == 302
    assert TeamMembership.objects.get(pk=members[0].pk).capacity == 5
    assert TeamMembership.objects.get(team=team, rep=newcomer).capacity == 10
    assert not TeamMembership.objects.filter(pk=members[2].pk).exists()


def test_a_membership_needs_a_rep_who_can_work_leads(admin_user, team):
    marketer_user = factories.marketer(username="m.arketer")
    request = RequestFactory().get("/")
    request.user = admin_user
    form = admin.site._registry[TeamMembership].get_form(request)(
        data={"team": team.pk, "rep": marketer_user.pk, "capacity": 5, "is_active": "on"}
    )
    assert not form.is_valid()
    assert list(form.errors) == ["rep"]


def test_activating_a_qualification_policy_switches_the_other_off(admin_client, admin_user):
    old = QualificationPolicy.objects.get(is_active=True)
    response = admin_client.post(
        url(QualificationPolicy, "add"),
        {"name": "Strict", "is_active": "on", "accepted_budget_statuses": ["approved"],
         "accepted_authority_roles": ["decision_maker"], "max_timeframe_months": 3},
    )  # fmt: skip
    assert response.status_code == 302
    strict = QualificationPolicy.objects.get(name="Strict")
    assert strict.is_active
    assert strict.updated_by == admin_user
    old.refresh_from_db()
    assert old.is_active is False
    assert services.qualification_policy() == strict


def test_qualification_policy_errors_land_on_the_field(admin_client):
    response = admin_client.post(
        url(QualificationPolicy, "add"),
        {"name": "Odd", "is_active": "on", "accepted_budget_statuses": ["none"], "min_budget_amount": "100",
         "accepted_authority_roles": ["champion"]},
    )  # fmt: skip
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["min_budget_amount"]


def test_routing_rules_are_saved_and_deleted_through_the_services(admin_client, team):
    response = admin_client.post(
        url(RoutingRule, "add"),
        {"name": "Nordics", "team": team.pk, "countries": ["SE", "NO", "DK"], "segments": ["smb"], "is_active": "on"},
    )
    assert response.status_code == 302
    rule = RoutingRule.objects.get(name="Nordics")
    assert (rule.position, rule.countries, rule.segments) == (1, ["SE", "NO", "DK"], ["smb"])
    response = admin_client.post(url(RoutingRule, "add"), {"name": "", "team": ""})
    assert set(response.context["adminform"].form.errors) == {"name", "team"}
    admin_client.post(url(RoutingRule, "delete", rule.pk), {"post": "yes"})
    assert not RoutingRule.objects.exists()


def test_rejection_reasons_are_never_deleted_and_keep_their_code(admin_client):
    reason = RejectionReason.objects.get(code="competitor")
    assert admin_client.post(url(RejectionReason, "delete", reason.pk), {"post": "yes"}).status_code == 403
    response = admin_client.post(
        url(RejectionReason, "change", reason.pk), {"label": "Competitor (any)", "use": "disqualify", "is_active": "on"}
    )
    assert response.status_code == 302
    reason.refresh_from_db()
    assert (reason.code, reason.label) == ("competitor", "Competitor (any)")


def test_staff_without_the_settings_permission_only_read_settings(client, team):
    staff_sdr = factories.sdr(username="staff.sdr", is_staff=True)
    client.force_login(staff_sdr)
    assert client.get(url(Team, "change", team.pk)).status_code == 200
    assert client.post(url(Team, "change", team.pk), {"name": "Hijacked"}).status_code == 403
    assert Team.objects.get(pk=team.pk).name == "Inbound"


def test_a_converted_lead_is_visible_but_untouchable(admin_client, history):
    lead = factories.lead_at_stage(Stage.SQL)
    call = DiscoveryCall.objects.get(lead=lead)
    page = admin_client.get(url(DiscoveryCall, "change", call.pk))
    assert page.status_code == 200
    assert admin_client.post(url(DiscoveryCall, "delete", call.pk), {"post": "yes"}).status_code == 403
    assert DiscoveryCall.objects.filter(pk=call.pk).exists()


def test_an_mql_target_is_stored_for_the_first_of_the_month(admin_client):
    response = admin_client.post(url(MqlTarget, "add"), {"month": "2027-03-17", "target": 120})
    assert response.status_code == 302
    assert MqlTarget.objects.get().month.isoformat() == "2027-03-01"
    again = admin_client.post(url(MqlTarget, "add"), {"month": "2027-03-02", "target": 5})
    assert again.context["adminform"].form.errors == {"month": ["March 2027 already has a target: change that one."]}
