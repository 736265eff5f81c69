"""The manager pages: handoff settings (routing, teams, SLA policies and calendars, qualification,
rejection reasons) and the SLA board, as a manager uses them; access for every role."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import unescape
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from handoff import services, services_settings
from handoff.business_time import Calendar
from handoff.models import (
    Assignment,
    AssignmentEnd,
    BusinessCalendar,
    ClosedDay,
    QualificationPolicy,
    RejectionReason,
    RoutingRule,
    SlaClock,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
)
from handoff.selectors import settings_pages as selectors
from leads.lifecycle import Stage
from leads.models import Channel, CompanySize
from tests import factories

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {str(day): [["09:00", "17:00"]] for day in range(5)}


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


def errors_of(response, form: str = "form") -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {name: list(errors) for name, errors in response.context[form].errors.items()}


@pytest.fixture
def rule(team, policy, manager):
    return services_settings.routing_rule_save(
        user=manager, name="Enterprise US", team_id=team.pk, segments=["enterprise"], countries=["US"]
    )


@pytest.fixture
def us_calendar(db):
    return BusinessCalendar.objects.get(name="US business hours")


# --- Access ------------------------------------------------------------------------------------

GET_PAGES = [
    ("handoff:settings", None),
    ("handoff:settings_routing", None),
    ("handoff:settings_rule_create", None),
    ("handoff:settings_rule_edit", "rule"),
    ("handoff:settings_teams", None),
    ("handoff:settings_team_create", None),
    ("handoff:settings_team", "team"),
    ("handoff:settings_sla", None),
    ("handoff:settings_policy_create", None),
    ("handoff:settings_policy_edit", "policy"),
    ("handoff:settings_review", None),
    ("handoff:settings_calendar_create", None),
    ("handoff:settings_calendar_edit", "calendar"),
    ("handoff:settings_qualification", None),
    ("handoff:settings_reasons", None),
    ("handoff:settings_reason_edit", "reason"),
    ("handoff:sla_board", None),
]
POST_ENDPOINTS = [
    ("handoff:settings_rule_create", None),
    ("handoff:settings_rule_move", "rule"),
    ("handoff:settings_rule_delete", "rule"),
    ("handoff:settings_team_create", None),
    ("handoff:settings_team", "team"),
    ("handoff:settings_member_add", "team"),
    ("handoff:settings_member_update", "membership"),
    ("handoff:settings_member_away", "membership"),
    ("handoff:settings_member_remove", "membership"),
    ("handoff:settings_policy_edit", "policy"),
    ("handoff:settings_review_off", None),
    ("handoff:settings_calendar_edit", "calendar"),
    ("handoff:settings_closed_day_add", "calendar"),
    ("handoff:settings_closed_day_remove", "closed_day"),
    ("handoff:settings_qualification", None),
    ("handoff:settings_reasons", None),
    ("handoff:settings_reason_move", "reason"),
    ("handoff:settings_reason_toggle", "reason"),
    ("handoff:sla_reassign", "assignment"),
]


@pytest.fixture
def objects(rule, team, policy, calendar_24x7, marketer, mql, manager):  # type: ignore[no-untyped-def]
    closed = services_settings.closed_day_add(
        user=manager, calendar_id=calendar_24x7.pk, date=timezone.localdate() + timedelta(days=30), label="Offsite"
    )
    assignment = services.lead_hand_off(lead_id=mql().pk, user=marketer)
    return {
        "rule": rule,
        "team": team,
        "membership": team.memberships.first(),
        "policy": policy,
        "calendar": calendar_24x7,
        "closed_day": closed,
        "reason": RejectionReason.objects.first(),
        "assignment": assignment,
    }


def _url(name: str, key: str | None, objects: dict) -> str:
    return reverse(name, args=[objects[key].pk]) if key else reverse(name)


@pytest.mark.parametrize(("name", "key"), GET_PAGES)
def test_a_manager_opens_every_page(client, manager, objects, name, key):
    client.force_login(manager)
    response = client.get(_url(name, key, objects))
    assert response.status_code == 200


@pytest.mark.parametrize(("name", "key"), GET_PAGES + POST_ENDPOINTS)
@pytest.mark.parametrize("role", ["marketer", "sdr"])
def test_marketers_and_sdrs_are_refused(client, request, objects, name, key, role):
    client.force_login(request.getfixturevalue(role))
    url = _url(name, key, objects)
    method = "post" if (name, key) in POST_ENDPOINTS and (name, key) not in GET_PAGES else "get"
    response = getattr(client, method)(url, {"direction": "up", "away": "back", "reason": "x"})
    assert response.status_code == 403
    assert RoutingRule.objects.filter(pk=objects["rule"].pk).exists()
    assert Assignment.objects.get(pk=objects["assignment"].pk).is_open


@pytest.mark.parametrize(("name", "key"), GET_PAGES + POST_ENDPOINTS)
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name, key):
    url = _url(name, key, objects)
    response = client.post(url) if (name, key) in POST_ENDPOINTS else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_the_services_refuse_people_who_may_not_change_settings(sdr, team):
    with pytest.raises(PermissionDenied):
        services_settings.team_save(user=sdr, name="Rogue team")
    with pytest.raises(PermissionDenied):
        services_settings.routing_rule_save(user=sdr, name="Rogue", team_id=team.pk)


def test_settings_home_summarises_each_section(client, manager, rule, team):
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings")))
    assert "1 active rule" in text
    assert "1 team · 3 reps in rotation" in text
    assert "Budget: approved budget or planned / being requested." in text
    assert "12 offered" in text


# --- Routing rules -----------------------------------------------------------------------------


def test_a_manager_creates_a_rule_that_goes_last(client, manager, rule, team, policy):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_rule_create"),
        {
            "name": "  Hot leads in Europe ",
            "team": team.pk,
            "sla_policy": policy.pk,
            "segments": ["smb", "mid_market"],
            "channels": [Channel.PAID_SEARCH],
            "countries": ["DE", "FR"],
            "hot_only": "on",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    created = RoutingRule.objects.get(name="Hot leads in Europe")
    assert (created.position, created.segments, created.countries) == (2, ["smb", "mid_market"], ["DE", "FR"])
    assert (created.channels, created.hot_only, created.sla_policy, created.team) == (
        ["paid_search"], True, policy, team,
    )  # fmt: skip
    page = text_of(client.get(reverse("handoff:settings_routing")))
    assert "Segment: SMB, Mid-market" in page
    assert "Country: Germany, France" in page
    assert "Hot leads only" in page


def test_rule_errors_name_the_field_and_save_nothing(client, manager, team):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_rule_create"), {"name": " ", "countries": ["XX"]})
    assert response.status_code == 200
    errors = errors_of(response)
    assert set(errors) == {"name", "team", "countries"}
    assert "Nothing was saved" in text_of(response)
    assert not RoutingRule.objects.exists()


def test_the_service_names_the_field_it_refuses(manager, team, policy):
    SlaPolicy.objects.filter(pk=policy.pk).update(is_active=False)
    with pytest.raises(ValidationError) as refused:
        services_settings.routing_rule_save(
            user=manager, name="X", team_id=team.pk, sla_policy_id=policy.pk, segments=["giant"], countries=["zz"]
        )
    assert set(refused.value.message_dict) == {"sla_policy", "segments", "countries"}
    assert "switched off" in refused.value.message_dict["sla_policy"][0]


def test_editing_a_rule_keeps_its_place(client, manager, rule, team):
    client.force_login(manager)
    form = client.get(reverse("handoff:settings_rule_edit", args=[rule.pk])).context["form"]
    assert form.initial["countries"] == ["US"]
    response = client.post(
        reverse("handoff:settings_rule_edit", args=[rule.pk]),
        {"name": "Enterprise anywhere", "team": team.pk, "segments": ["enterprise"]},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.countries, rule.is_active, rule.position) == ("Enterprise anywhere", [], False, 1)


def test_rules_move_up_and_down_and_deleting_renumbers(client, manager, team):
    client.force_login(manager)
    a, _, c = (services_settings.routing_rule_save(user=manager, name=n, team_id=team.pk) for n in "abc")
    client.post(reverse("handoff:settings_rule_move", args=[c.pk]), {"direction": "up"})
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["a", "c", "b"]
    client.post(reverse("handoff:settings_rule_move", args=[a.pk]), {"direction": "up"})  # already first
    client.post(reverse("handoff:settings_rule_move", args=[a.pk]), {"direction": "down"})
    assert list(RoutingRule.objects.values_list("name", flat=True)) == ["c", "a", "b"]
    response = client.post(reverse("handoff:settings_rule_delete", args=[c.pk]))
    assert messages_of(response) == ["Routing rule “c” deleted."]
    assert list(RoutingRule.objects.values_list("name", "position")) == [("a", 1), ("b", 2)]


def test_a_rule_behind_a_catch_all_is_flagged(client, manager, team):
    services_settings.routing_rule_save(user=manager, name="Everyone", team_id=team.pk)
    services_settings.routing_rule_save(user=manager, name="SMB", team_id=team.pk, segments=["smb"])
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_routing")))
    assert "Never reached: “Everyone” above takes every lead first." in text


@pytest.mark.parametrize("by", ["id", "email"])
def test_the_routing_helper_shows_where_a_lead_would_go(client, manager, team, policy, mql, by):
    other = Team.objects.create(name="Enterprise desk", default_sla_policy=policy)
    TeamMembership.objects.create(team=other, rep=factories.sdr(username="sdr.eve"))
    services_settings.routing_rule_save(user=manager, name="Hot only", team_id=team.pk, hot_only=True)
    enterprise = services_settings.routing_rule_save(
        user=manager, name="Enterprise US", team_id=other.pk, segments=["enterprise"], countries=["US"]
    )
    lead = mql(company=factories.CompanyFactory(size=CompanySize.S_5000_PLUS, country="US"))
    client.force_login(manager)

    response = client.get(reverse("handoff:settings_routing"), {"lead": lead.pk if by == "id" else lead.email.upper()})

    preview = response.context["preview"]
    assert preview.rule == enterprise == services.routing_rule_for(lead)
    assert preview.team == other
    assert preview.next_rep == selectors.person(other.memberships.get().rep)
    assert [check.misses for check in preview.checks] == [["not a hot lead"], []]
    text = text_of(response)
    assert "by rule “Enterprise US”" in text
    assert "Routes it" in text
    assert not Assignment.objects.exists()


def test_the_routing_helper_says_when_no_lead_matches(client, manager):
    client.force_login(manager)
    response = client.get(reverse("handoff:settings_routing"), {"lead": "nobody@nowhere.test"})
    assert response.context["preview"] is None
    assert errors_of(response, "test_form") == {"lead": ["No lead with that id or email address."]}


def test_the_routing_helper_explains_an_unrouted_lead_and_a_full_team(client, manager, team, mql):
    TeamMembership.objects.filter(team=team).update(is_active=False)
    lead = mql()
    client.force_login(manager)
    response = client.get(reverse("handoff:settings_routing"), {"lead": lead.pk})
    preview = response.context["preview"]
    assert (preview.rule, preview.team, preview.next_rep) == (None, team, "")
    assert "Nobody in Inbound can take a lead now" in text_of(response)


# --- Teams -------------------------------------------------------------------------------------


def test_a_manager_creates_a_team_and_adds_a_rep(client, manager, policy):
    rep = factories.sdr(username="sdr.new", first_name="Nia", last_name="New")
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_team_create"),
        {"name": "Outbound", "manager": manager.pk, "default_sla_policy": policy.pk},
    )
    team = Team.objects.get(name="Outbound")
    assert response["Location"] == reverse("handoff:settings_team", args=[team.pk])
    assert (team.manager, team.default_sla_policy) == (manager, policy)

    add_form = client.get(response["Location"]).context["add_form"]
    assert rep in add_form.fields["rep"].queryset
    response = client.post(reverse("handoff:settings_member_add", args=[team.pk]), {"rep": rep.pk, "capacity": 20})
    assert response.status_code == 302
    assert messages_of(response) == ["Nia New joined Outbound: next in the rotation."]
    assert team.memberships.get().capacity == 20


def test_team_errors_name_the_field(client, manager, team):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_team_create"), {"name": "inbound"})
    assert errors_of(response) == {"name": ["There is already a team called “inbound”."]}
    marketer_user = factories.marketer(username="not.an.sdr")
    with pytest.raises(ValidationError) as refused:
        services_settings.team_membership_add(user=manager, team_id=team.pk, rep_id=marketer_user.pk)
    assert "give them the SDR role" in refused.value.message_dict["rep"][0]
    with pytest.raises(ValidationError) as refused:
        services_settings.team_membership_add(user=manager, team_id=team.pk, rep_id=team.memberships.first().rep_id)
    assert "already in this team" in refused.value.message_dict["rep"][0]


def test_a_reps_row_saves_capacity_away_and_rotation(client, manager, team):
    member = team.memberships.order_by("pk").first()
    client.force_login(manager)
    away = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)
    response = client.post(
        reverse("handoff:settings_member_update", args=[member.pk]),
        {f"m{member.pk}-capacity": 7, f"m{member.pk}-away_until": away.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.capacity, member.away_until, member.is_active) == (7, away, False)


def test_a_reps_row_with_bad_values_shows_the_errors_on_the_row(client, manager, team):
    member = team.memberships.order_by("pk").first()
    client.force_login(manager)
    past = timezone.localtime() - timedelta(days=1)
    response = client.post(
        reverse("handoff:settings_member_update", args=[member.pk]),
        {f"m{member.pk}-capacity": 0, f"m{member.pk}-away_until": past.strftime("%Y-%m-%dT%H:%M"),
         f"m{member.pk}-is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    row = next(row for row in response.context["rows"] if row["member"].pk == member.pk)
    assert set(row["form"].errors) == {"capacity"}  # the form stops at capacity < 1
    response = client.post(
        reverse("handoff:settings_member_update", args=[member.pk]),
        {f"m{member.pk}-capacity": 5, f"m{member.pk}-away_until": past.strftime("%Y-%m-%dT%H:%M")},
    )
    row = next(row for row in response.context["rows"] if row["member"].pk == member.pk)
    assert row["form"].errors == {"away_until": ["Pick a time in the future, or clear it to mark the rep as back."]}
    member.refresh_from_db()
    assert (member.capacity, member.away_until) == (50, None)


def test_quick_away_marks_today_this_week_and_back_in_the_teams_time_zone(client, manager, team, us_calendar):
    team.default_sla_policy = SlaPolicy.objects.get(name="Standard")
    team.save()
    member = team.memberships.order_by("pk").first()
    client.force_login(manager)
    wednesday_evening = datetime(2026, 3, 4, 23, 30, tzinfo=NEW_YORK)  # already Thursday in UTC
    url = reverse("handoff:settings_member_away", args=[member.pk])
    with mock.patch("django.utils.timezone.now", return_value=wednesday_evening):
        client.post(url, {"away": "today"})
        member.refresh_from_db()
        assert member.away_until == datetime(2026, 3, 5, tzinfo=NEW_YORK)
        response = client.post(url, {"away": "week"})
        member.refresh_from_db()
        assert member.away_until == datetime(2026, 3, 9, tzinfo=NEW_YORK)
        assert "is away until Mon 09 Mar 00:00: routing skips them." in messages_of(response)[-1]
    client.post(url, {"away": "back"})
    member.refresh_from_db()
    assert member.away_until is None


def test_removing_a_rep_keeps_their_open_leads_and_says_so(client, manager, team, marketer, mql):
    assignment = services.lead_hand_off(lead_id=mql().pk, user=marketer)
    member = TeamMembership.objects.get(team=team, rep=assignment.rep)
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_member_remove", args=[member.pk]))
    assert "Their 1 open lead stay with them" in messages_of(response)[0]
    assert not TeamMembership.objects.filter(pk=member.pk).exists()
    assert Assignment.objects.get(pk=assignment.pk).is_open


def test_the_team_page_shows_open_leads_against_capacity_in_one_query(
    client, manager, team, marketer, mql, django_assert_num_queries
):
    for _ in range(4):
        services.lead_hand_off(lead_id=mql().pk, user=marketer)
    with django_assert_num_queries(1):
        members = selectors.team_memberships(team)
        counts = {m.rep.username: (m.open_leads, m.last_assigned_at is not None) for m in members}
    assert counts == {"sdr.ana": (2, True), "sdr.ben": (1, True), "sdr.cai": (1, True)}
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_team", args=[team.pk])))
    assert "2 of 50" in text
    assert "Taking leads" in text


# --- SLA policies ------------------------------------------------------------------------------


def test_a_policy_target_is_typed_in_hours_and_minutes(client, manager, us_calendar):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_policy_create"),
        {
            "name": "Partner leads",
            "calendar": us_calendar.pk,
            "target_hours": 1,
            "target_minutes": 30,
            "warn_at_percent": 60,
            "breach_action": "both",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(name="Partner leads")
    assert (policy.first_touch_minutes, policy.warn_at_percent, policy.breach_action) == (90, 60, "both")
    edit = client.get(reverse("handoff:settings_policy_edit", args=[policy.pk]))
    assert (edit.context["form"].initial["target_hours"], edit.context["form"].initial["target_minutes"]) == (1, 30)
    assert "A lead handed off now is due" in text_of(edit)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"target_hours": 0, "target_minutes": 0}, "target_hours", "at least one business minute"),
        ({"warn_at_percent": 100}, "warn_at_percent", "less than or equal to 99"),
        ({"name": "Urgent"}, "name", "“Hot lead” keeps its name"),
        ({"calendar": ""}, "calendar", "This field is required"),
    ],
)
def test_policy_errors_name_the_field(client, manager, changes, field, message):
    hot = SlaPolicy.objects.get(name="Hot lead")
    client.force_login(manager)
    initial = client.get(reverse("handoff:settings_policy_edit", args=[hot.pk])).context["form"].initial
    data = {**initial, "is_active": "on", **changes}
    response = client.post(reverse("handoff:settings_policy_edit", args=[hot.pk]), data)
    assert response.status_code == 200
    errors = errors_of(response)
    assert list(errors) == [field]
    assert message in errors[field][0]
    hot.refresh_from_db()
    assert (hot.name, hot.first_touch_minutes) == ("Hot lead", 30)


def test_a_policy_in_use_cannot_be_switched_off(manager, team, policy):
    with pytest.raises(ValidationError) as refused:
        services_settings.sla_policy_save(
            user=manager, policy_id=policy.pk, name=policy.name, calendar_id=policy.calendar_id,
            first_touch_minutes=60, warn_at_percent=50, is_active=False,
        )  # fmt: skip
    assert refused.value.message_dict["is_active"] == [
        "Still used by team “Inbound”: choose another policy there first."
    ]


def test_the_sla_page_lists_policies_and_calendars(client, manager, team, policy):
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_sla")))
    assert "Hot lead Built in: hot leads get it when no routing rule names a policy. 30 min business 75%" in text
    assert "neither their rule nor their team names a policy. 4 h business 75% Notify the manager" in text
    assert "Test 60 1 h business 50%" in text
    assert "US business hours America/New_York Mon–Fri 09:00–17:00 United States" in text
    assert "team Inbound" in text


# --- Business calendars ------------------------------------------------------------------------


def calendar_post(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {"name": "Berlin office", "time_zone": "Europe/Berlin", "holiday_country": "DE"}
    for day in range(5):
        data |= {f"d{day}_open": "on", f"d{day}_start1": "09:00", f"d{day}_end1": "17:00"}
    data |= overrides
    return {k: v for k, v in data.items() if v is not None}


def test_the_hours_editor_saves_hours_json(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_calendar_create"),
        calendar_post(
            d0_start1="08:30", d0_end1="12:00", d0_start2="13:00", d0_end2="17:30",
            d4_open=None,  # Friday closed: its times are ignored
            d5_open="on", d5_start1="10:00", d5_end1="14:00", holiday_subdivision="BE",
        ),
    )  # fmt: skip
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    assert response["Location"] == reverse("handoff:settings_calendar_edit", args=[calendar.pk])
    assert calendar.hours == {
        "0": [["08:30", "12:00"], ["13:00", "17:30"]],
        "1": [["09:00", "17:00"]],
        "2": [["09:00", "17:00"]],
        "3": [["09:00", "17:00"]],
        "5": [["10:00", "14:00"]],
    }
    assert (calendar.time_zone, str(calendar.holiday_country), calendar.holiday_subdivision) == (
        "Europe/Berlin", "DE", "BE",
    )  # fmt: skip
    form = client.get(response["Location"]).context["form"]
    assert (form.initial["d0_start2"], form.initial["d4_open"], form.initial["d6_open"]) == ("13:00", False, False)


def test_closing_at_00_00_is_closing_at_midnight(client, manager):
    """A support desk open round the clock: 00:00–00:00 every day, with no minute lost at midnight."""
    client.force_login(manager)
    every_day = {f"d{day}_{part}": value for day in range(7) for part, value in
                 (("open", "on"), ("start1", "00:00"), ("end1", "00:00"))}  # fmt: skip
    response = client.post(reverse("handoff:settings_calendar_create"), calendar_post(**every_day))
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    assert calendar.hours == {str(day): [["00:00", "24:00"]] for day in range(7)}
    late = datetime(2026, 12, 7, 23, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert Calendar.from_model(calendar).add_minutes(late, 60) == late + timedelta(hours=1)
    form = client.get(response["Location"]).context["form"]
    assert (form.initial["d6_start1"], form.initial["d6_end1"]) == ("00:00", "00:00")  # what a time input shows


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "“Mars/Olympus_Mons” is not a time zone Baton knows."),
        ({"d1_start1": "17:00", "d1_end1": "09:00"}, "d1_start1", "Tuesday: A working window must end after it starts"),
        (
            {"d2_start2": "12:00", "d2_end2": "18:00"},
            "d2_start1",
            "Wednesday: Working windows of one day must not overlap.",
        ),
        (
            {"d3_start1": None, "d3_end1": None},
            "d3_start1",
            "Thursday: give the opening hours, or mark the day closed.",
        ),
        ({"d0_end1": None}, "d0_end1", "Monday: give both the opening and the closing time."),
        ({"holiday_subdivision": "XX"}, "holiday_subdivision", "“XX” is not a subdivision of Germany"),
        ({"name": "US Business Hours"}, "name", "There is already a calendar called"),
    ],
)
def test_calendar_errors_name_the_field_and_save_nothing(client, manager, overrides, field, message):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_calendar_create"), calendar_post(**overrides))
    assert response.status_code == 200
    errors = errors_of(response)
    assert list(errors) == [field], errors
    assert errors[field][0].startswith(message)
    assert not BusinessCalendar.objects.exclude(name="US business hours").exists()


def test_the_calendar_service_reports_a_bad_time_zone_on_its_field(manager):
    with pytest.raises(ValidationError) as refused:
        services_settings.business_calendar_save(user=manager, name="X", time_zone="Nowhere/Land", hours={})
    assert refused.value.message_dict == {"time_zone": ["“Nowhere/Land” is not a time zone."]}
    with pytest.raises(ValidationError) as refused:
        services_settings.business_calendar_save(
            user=manager, name="X", time_zone="UTC", hours={"9": [["09:00", "17:00"]]}
        )
    assert list(refused.value.message_dict) == ["hours"]


def test_next_closed_days_are_holidays_and_custom_days_on_working_days(us_calendar, manager):
    ClosedDay.objects.create(calendar=us_calendar, date=date(2026, 12, 28), label="Year-end shutdown")
    ClosedDay.objects.create(calendar=us_calendar, date=date(2026, 12, 27), label="A Sunday: changes nothing")
    ahead = selectors.closed_days_ahead(us_calendar, today=date(2026, 12, 20), limit=4)
    assert [(d.day, d.label, d.kind) for d in ahead] == [
        (date(2026, 12, 25), "Christmas Day", "holiday"),
        (date(2026, 12, 28), "Year-end shutdown", "custom"),
        (date(2027, 1, 1), "New Year's Day", "holiday"),
        (date(2027, 1, 18), "Martin Luther King Jr. Day", "holiday"),
    ]


def test_the_calendar_page_shows_the_next_ten_closed_days_and_the_due_preview(client, manager, us_calendar):
    client.force_login(manager)
    response = client.get(reverse("handoff:settings_calendar_edit", args=[us_calendar.pk]))
    assert len(response.context["closed_ahead"]) == 10
    text = text_of(response)
    assert "Next closed days it skips" in text
    assert "A lead handed off now under “Hot lead” (30 min) is due" in text
    assert "under “Standard” (4 h) is due" in text


def test_the_due_preview_counts_business_time(us_calendar):
    friday_1630 = datetime(2026, 3, 6, 16, 30, tzinfo=NEW_YORK)
    previews, error = selectors.due_previews(us_calendar, now=friday_1630)
    assert error == ""
    by_name = {p.label: p for p in previews}
    assert by_name["Hot lead"].due == datetime(2026, 3, 6, 17, 0, tzinfo=NEW_YORK)  # 30 min: still Friday
    assert by_name["Hot lead"].warn == datetime(2026, 3, 6, 16, 52, 30, tzinfo=NEW_YORK)
    assert by_name["Standard"].due == datetime(2026, 3, 9, 12, 30, tzinfo=NEW_YORK)  # 4 h: Monday 12:30
    SlaPolicy.objects.create(name="One hour", calendar=us_calendar, first_touch_minutes=60)
    previews, _ = selectors.due_previews(us_calendar, now=friday_1630)
    assert {p.label: p.due for p in previews}["One hour"] == datetime(2026, 3, 9, 9, 30, tzinfo=NEW_YORK)


def test_closed_days_are_added_and_removed_with_errors_named(client, manager, us_calendar):
    client.force_login(manager)
    url = reverse("handoff:settings_closed_day_add", args=[us_calendar.pk])
    day = timezone.localdate() + timedelta(days=40)
    response = client.post(url, {"date": day.isoformat(), "label": "Offsite"})
    assert response.status_code == 302
    closed = ClosedDay.objects.get(calendar=us_calendar)
    assert (closed.date, closed.label) == (day, "Offsite")

    response = client.post(url, {"date": day.isoformat()})
    assert errors_of(response, "closed_form") == {"date": [f"{day:%a %d %b %Y} is already closed in this calendar."]}
    response = client.post(url, {"date": (timezone.localdate() - timedelta(days=3)).isoformat()})
    assert errors_of(response, "closed_form") == {"date": ["That day has passed: closing it changes nothing."]}

    client.post(reverse("handoff:settings_closed_day_remove", args=[closed.pk]))
    assert not ClosedDay.objects.exists()


# --- Qualification policy ----------------------------------------------------------------------


def test_a_manager_tunes_what_counts_as_qualified(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_qualification"),
        {
            "accepted_budget_statuses": ["approved"],
            "min_budget_amount": "25000",
            "accepted_authority_roles": ["decision_maker", "budget_holder"],
            "max_timeframe_months": "6",
        },
    )
    assert response.status_code == 302
    policy = QualificationPolicy.objects.get(is_active=True)
    assert QualificationPolicy.objects.count() == 1
    assert (policy.accepted_budget_statuses, policy.min_budget_amount, policy.max_timeframe_months) == (
        ["approved"], Decimal("25000"), 6,
    )  # fmt: skip
    assert policy.updated_by == manager
    page = client.get(reverse("handoff:settings_qualification"))
    assert page.context["summary"] == [
        "Budget: approved budget.",
        "Budget amount: at least 25,000 (in the currency the rep records; amounts are not converted).",
        "Authority: the contact is a decision maker or budget holder.",
        "Timing: a decision within 6 months (within a month, 1–3 months or 3–6 months), "
        "with an expected decision date no more than 186 days away.",
    ]
    # The examples are the policy's own words, from handoff.services.qualification_failures.
    assert page.context["refusals"] == services.qualification_failures(
        {"budget_status": "unknown", "budget_amount": None, "authority_role": "end_user", "timeframe": "later",
         "expected_decision_date": timezone.localdate() + timedelta(days=500)},
        policy, timezone.localdate(),
    )  # fmt: skip
    assert "Budget: the amount must be at least 25,000." in text_of(page)


def test_the_new_policy_decides_the_next_call(client, manager):
    client.force_login(manager)
    client.post(
        reverse("handoff:settings_qualification"),
        {"accepted_budget_statuses": ["approved"], "accepted_authority_roles": ["decision_maker"]},
    )
    lead = factories.lead_at_stage(Stage.SAL)
    with pytest.raises(ValidationError) as refused:
        services.call_log(lead_id=lead.pk, user=manager, data=factories.qualified_bant(budget_status="planned"))
    assert "Budget: “Planned / being requested” does not qualify" in refused.value.message_dict["outcome"][1]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"accepted_authority_roles": ["champion"]}, "accepted_budget_statuses"),
        (
            {"accepted_budget_statuses": ["none"], "accepted_authority_roles": ["champion"], "min_budget_amount": "5"},
            "min_budget_amount",
        ),
        ({"accepted_budget_statuses": ["approved"], "accepted_authority_roles": ["x"]}, "accepted_authority_roles"),
        (
            {
                "accepted_budget_statuses": ["approved"],
                "accepted_authority_roles": ["champion"],
                "max_timeframe_months": "0",
            },
            "max_timeframe_months",
        ),
    ],
)
def test_qualification_errors_name_the_field(client, manager, data, field):
    before = QualificationPolicy.objects.get(is_active=True)
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_qualification"), data)
    assert list(errors_of(response)) == [field]
    assert QualificationPolicy.objects.get(is_active=True).accepted_budget_statuses == before.accepted_budget_statuses


# --- Rejection reasons -------------------------------------------------------------------------


def test_a_manager_adds_a_reason_at_the_end_with_a_code_from_its_label(client, manager):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_reasons"), {"label": "Wrong region", "use": "recycle"})
    assert response.status_code == 302
    reason = RejectionReason.objects.get(label="Wrong region")
    assert (reason.code, reason.use, reason.is_active) == ("wrong_region", "recycle", False)
    assert reason.position == RejectionReason.objects.exclude(pk=reason.pk).order_by("-position").first().position + 1
    response = client.post(reverse("handoff:settings_reasons"), {"label": "wrong REGION", "use": "both"})
    assert errors_of(response) == {"label": ["“wrong REGION” is already in the list."]}


def test_a_reason_is_relabelled_its_code_stays_and_it_switches_off(client, manager, marketer):
    reason = RejectionReason.objects.get(code="student")
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_reason_edit", args=[reason.pk]),
        {"label": "Student or academic", "use": "disqualify", "code": "hacked", "is_active": "on"},
    )
    assert response.status_code == 302
    reason.refresh_from_db()
    assert (reason.label, reason.code) == ("Student or academic", "student")
    client.post(reverse("handoff:settings_reason_toggle", args=[reason.pk]))
    reason.refresh_from_db()
    assert reason.is_active is False
    lead = factories.lead_at_stage(Stage.MQL)
    with pytest.raises(ValidationError):  # no longer offered to marketers
        services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="student")


def test_the_last_reason_for_a_use_cannot_be_switched_off(client, manager):
    RejectionReason.objects.exclude(code__in=["student", "bad_timing"]).update(is_active=False)
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_reason_toggle", args=[RejectionReason.objects.get(code="student").pk])
    )
    assert messages_of(response) == ["“Student” was not changed: Keep at least one active reason to disqualify with."]
    assert RejectionReason.objects.get(code="student").is_active


def test_reasons_move_up_and_down(client, manager):
    client.force_login(manager)
    first, second = RejectionReason.objects.order_by("position")[:2]
    client.post(reverse("handoff:settings_reason_move", args=[second.pk]), {"direction": "up"})
    assert list(RejectionReason.objects.order_by("position")[:2]) == [second, first]


# --- The SLA board -----------------------------------------------------------------------------


@pytest.fixture
def board(marketer, team, mql):
    """Four leads handed off at different times under the 60-minute, warn-at-50% policy:
    breached, at risk, on track, and met (touched)."""
    now = timezone.now()
    made = {}
    for name, ago in (("breached", 180), ("on_track", 5), ("at_risk", 40), ("met", 20)):
        with mock.patch("django.utils.timezone.now", return_value=now - timedelta(minutes=ago)):
            made[name] = services.lead_hand_off(lead_id=mql(first_name=name).pk, user=marketer)
    services.touch_log(lead_id=made["met"].lead_id, user=made["met"].rep, kind="call")
    return made


def board_statuses(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.status for row in response.context["rows"]]


def test_the_board_lists_breached_first_with_counts(client, manager, board):
    client.force_login(manager)
    response = client.get(reverse("handoff:sla_board"))
    assert board_statuses(response) == ["breached", "at_risk", "on_track", "met"]
    assert {tile["status"]: tile["count"] for tile in response.context["tiles"]} == {
        "breached": 1, "at_risk": 1, "on_track": 1, "met_late": 0, "met": 1,
    }  # fmt: skip
    text = text_of(response)
    assert "overdue by 2 h" in text
    assert "touched in time" in text


def test_the_boards_sql_status_matches_status_at(board):
    now = timezone.now()
    clocks = selectors.sla_board_clocks(selectors.BoardFilters(), now=now)
    assert [(c.board_status, c.status_at(now)) for c in clocks] == [
        (s, s) for s in ("breached", "at_risk", "on_track", "met")
    ]


def test_the_board_filters_by_team_rep_and_status(client, manager, board, team):
    client.force_login(manager)
    url = reverse("handoff:sla_board")
    assert board_statuses(client.get(url, {"status": "at_risk"})) == ["at_risk"]
    rep = board["breached"].rep
    rows = client.get(url, {"rep": rep.pk}).context["rows"]
    assert {row.assignment.rep for row in rows} == {rep}
    assert len(client.get(url, {"team": team.pk}).context["rows"]) == 4
    other = Team.objects.create(name="Empty")
    response = client.get(url, {"team": other.pk})
    assert response.context["rows"] == []
    assert "No open assignments match" in text_of(response)


def test_reassigning_from_the_board_starts_a_new_clock_and_stops_the_old(client, manager, board, team):
    old = board["breached"]
    target = TeamMembership.objects.filter(team=team).exclude(rep=old.rep).first().rep
    client.force_login(manager)
    response = client.post(
        reverse("handoff:sla_reassign", args=[old.pk]),
        {"rep": target.pk, "reason": "Out sick", "next": "/sla/?status=breached"},
    )
    assert response["Location"] == "/sla/?status=breached"
    old.refresh_from_db()
    assert (old.is_open, old.end_reason) == (False, AssignmentEnd.REASSIGNED)
    assert SlaClock.objects.get(assignment=old).stopped_at is not None
    new = Assignment.objects.get(lead_id=old.lead_id, is_open=True)
    assert new.rep == target
    assert new.clock.status == SlaStatus.ON_TRACK
    assert new.clock.started_at == old.ended_at
    assert f"reassigned from {selectors.person(old.rep)} to {selectors.person(target)}" in messages_of(response)[0]


def test_reassigning_to_the_next_in_rotation(client, manager, board):
    old = board["at_risk"]
    client.force_login(manager)
    client.post(reverse("handoff:sla_reassign", args=[old.pk]), {"rep": "", "reason": "Rebalance"})
    new = Assignment.objects.get(lead_id=old.lead_id, is_open=True)
    assert new.rep != old.rep


def test_reassigning_needs_a_reason_and_an_open_assignment(client, manager, board):
    old = board["on_track"]
    client.force_login(manager)
    response = client.post(reverse("handoff:sla_reassign", args=[old.pk]), {"rep": ""})
    assert "Say why you reassign the lead" in messages_of(response)[0]
    assert Assignment.objects.get(pk=old.pk).is_open
    client.post(reverse("handoff:sla_reassign", args=[old.pk]), {"reason": "first"})
    response = client.post(reverse("handoff:sla_reassign", args=[old.pk]), {"reason": "again"})
    assert "has already ended" in messages_of(response)[-1]
    assert Assignment.objects.filter(lead_id=old.lead_id).count() == 2


def test_the_board_runs_a_fixed_number_of_queries(client, manager, board, marketer, mql, django_assert_num_queries):
    client.force_login(manager)
    url = reverse("handoff:sla_board")
    client.get(url)  # warm the session and content types
    # user, the user's permissions (own and groups', one query), the user's roles (navigation), the
    # teams and the reps of every team (filters and reassign menus), the counts by status (which
    # are also the page count), and the page's rows with everything they show joined.
    with django_assert_num_queries(8):
        assert len(client.get(url).context["rows"]) == 4
    for _ in range(8):
        services.lead_hand_off(lead_id=mql().pk, user=marketer)
    with django_assert_num_queries(8):
        assert len(client.get(url, {"status": "on_track"}).context["rows"]) == 9


@pytest.mark.parametrize(
    "name",
    ["handoff:settings", "handoff:settings_routing", "handoff:settings_teams", "handoff:settings_sla",
     "handoff:settings_reasons"],
)  # fmt: skip
def test_settings_lists_run_a_fixed_number_of_queries(client, manager, team, policy, name):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    made = iter(range(100))

    def grow(n: int) -> None:
        for _ in range(n):
            i = next(made)
            extra = services_settings.team_save(user=manager, name=f"Team {i}", default_sla_policy_id=policy.pk)
            services_settings.team_membership_add(
                user=manager, team_id=extra.pk, rep_id=factories.sdr(username=f"rep-{extra.pk}").pk
            )
            services_settings.routing_rule_save(user=manager, name=f"Rule {i}", team_id=extra.pk, countries=["US"])
            services_settings.rejection_reason_save(user=manager, label=f"Reason {extra.pk}", use="both")
            calendar = services_settings.business_calendar_save(
                user=manager, name=f"Calendar {extra.pk}", time_zone="UTC", hours={"0": [["09:00", "17:00"]]}
            )
            services_settings.sla_policy_save(
                user=manager, name=f"Policy {extra.pk}", calendar_id=calendar.pk, first_touch_minutes=60
            )

    client.force_login(manager)
    url = reverse(name)
    client.get(url)
    grow(1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    grow(4)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
