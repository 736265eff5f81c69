"""Speed-to-lead in the manager's settings: a routing rule's hand-off mode (and what the routing
preview says about it), the bounded reassignment of SLA policies, the cool-off of nurture
reasons, marketing's review target, and their admin pages — as a manager uses them."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff import automation, services_settings
from handoff.models import (
    BusinessCalendar,
    HandoffMode,
    HandoffRequest,
    RejectionReason,
    ReviewAction,
    ReviewClock,
    ReviewPolicy,
    RoutingRule,
    SlaPolicy,
)
from leads.lifecycle import Stage
from tests import factories

pytestmark = pytest.mark.django_db


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def errors_of(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


def rule_post(rule: RoutingRule, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {"name": rule.name, "team": rule.team_id, "segments": rule.segments, "is_active": "on"}
    return {**data, **changes}


def policy_post(policy: SlaPolicy, **changes: object) -> dict[str, object]:
    hours, minutes = divmod(policy.first_touch_minutes, 60)
    data: dict[str, object] = {
        "name": policy.name, "calendar": policy.calendar_id, "target_hours": hours, "target_minutes": minutes,
        "warn_at_percent": policy.warn_at_percent, "breach_action": policy.breach_action,
        "max_reassignments": policy.max_reassignments, "is_active": "on",
    }  # fmt: skip
    return {**data, **changes}


@pytest.fixture
def rule(team, manager):
    return services_settings.routing_rule_save(user=manager, name="Everything → Inbound", team_id=team.pk)


@pytest.fixture
def review_policy(db):
    return ReviewPolicy.objects.get(is_active=True)  # "Marketing review", from the data migration


@pytest.fixture
def us_calendar(db):
    return BusinessCalendar.objects.get(name="US business hours")


# --- Routing rules: hand-off mode ----------------------------------------------------------------


def test_a_manager_makes_a_rule_automatic_and_the_list_says_so(client, manager, rule, team):
    services_settings.routing_rule_save(user=manager, name="SMB", team_id=team.pk, segments=["smb"])
    client.force_login(manager)
    form = client.get(reverse("handoff:settings_rule_edit", args=[rule.pk])).context["form"]
    assert form.initial["handoff_mode"] == HandoffMode.REVIEW
    assert "Automatically, the moment it becomes an MQL" in form.fields["handoff_mode"].choices[0][1]

    response = client.post(
        reverse("handoff:settings_rule_edit", args=[rule.pk]), rule_post(rule, handoff_mode="automatic")
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.handoff_mode == HandoffMode.AUTOMATIC
    page = text_of(client.get(reverse("handoff:settings_routing")))
    assert "Everything → Inbound Automatic" in page
    assert "SMB Reviewed" in page


def test_a_rule_keeps_its_mode_when_the_form_does_not_send_one(client, manager, rule):
    RoutingRule.objects.filter(pk=rule.pk).update(handoff_mode=HandoffMode.AUTOMATIC)
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_rule_edit", args=[rule.pk]), rule_post(rule, name="All"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.handoff_mode) == ("All", HandoffMode.AUTOMATIC)


def test_a_bad_mode_is_refused_naming_the_field(client, manager, rule, team):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_rule_edit", args=[rule.pk]), rule_post(rule, handoff_mode="asap"))
    assert list(errors_of(response)) == ["handoff_mode"]
    with pytest.raises(ValidationError) as refused:
        services_settings.routing_rule_save(user=manager, name="X", team_id=team.pk, handoff_mode="asap")
    assert list(refused.value.message_dict) == ["handoff_mode"]
    rule.refresh_from_db()
    assert rule.handoff_mode == HandoffMode.REVIEW
    assert RoutingRule.objects.count() == 1


def test_the_preview_says_an_automatic_rules_lead_hands_off_by_itself(client, manager, rule, mql):
    RoutingRule.objects.filter(pk=rule.pk).update(handoff_mode=HandoffMode.AUTOMATIC)
    lead = mql()
    client.force_login(manager)
    response = client.get(reverse("handoff:settings_routing"), {"lead": lead.pk})
    preview = response.context["preview"]
    assert preview.automatic
    assert preview.handoff == f"Hands off by itself — {automation.lead_handoff_preview(lead).why}"
    text = text_of(response)
    assert "Hands off by itself — routing rule “Everything → Inbound”" in text
    assert "hands its leads off automatically, the moment they become MQLs" in text


def test_the_preview_says_a_reviewed_rules_lead_waits_with_the_review_target(client, manager, rule, mql):
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_routing"), {"lead": mql().pk}))
    assert "Waits for marketing review in the MQL queue" in text
    assert "“Everything → Inbound” waits for a marketer" in text
    assert "Review target: 4 h of business time (Marketing review)." in text


def test_the_preview_says_why_a_hot_lead_is_held_for_review(client, manager, rule, mql):
    RoutingRule.objects.filter(pk=rule.pk).update(handoff_mode=HandoffMode.AUTOMATIC)
    lead = mql()
    explanation = [{"kind": "fit", "label": "Competitor domain", "points": -40}]
    type(lead).objects.filter(pk=lead.pk).update(hot_signal_at=timezone.now(), score_explanation=explanation)
    client.force_login(manager)
    response = client.get(reverse("handoff:settings_routing"), {"lead": lead.pk})
    assert not response.context["preview"].automatic
    text = text_of(response)
    assert "Waits for marketing review in the MQL queue" in text
    assert "Hot, but held for review (even though “Everything → Inbound” is automatic)" in text
    assert "matches “Competitor domain” (-40)" in text


def test_the_preview_says_a_hot_lead_is_fast_tracked_past_a_reviewed_rule(client, manager, rule, mql):
    lead = mql()
    type(lead).objects.filter(pk=lead.pk).update(hot_signal_at=timezone.now(), fit_score=40)  # above the floor
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_routing"), {"lead": lead.pk}))
    assert "Hands off by itself — fast track: hot signal" in text


# --- SLA policies: bounded reassignment ------------------------------------------------------------


def test_a_manager_bounds_reassignment_and_the_list_says_it(client, manager, policy):
    client.force_login(manager)
    assert (
        client.get(reverse("handoff:settings_policy_edit", args=[policy.pk]))
        .context["form"]
        .initial["max_reassignments"]
        == 2
    )
    response = client.post(
        reverse("handoff:settings_policy_edit", args=[policy.pk]),
        policy_post(policy, breach_action="both", max_reassignments=3),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.breach_action, policy.max_reassignments) == ("both", 3)
    text = text_of(client.get(reverse("handoff:settings_sla")))
    assert "Notify and reassign Reassign on breach at most 3 times, then escalate to the manager." in text


def test_a_notifying_policy_says_nothing_about_reassignment(client, manager, policy):
    client.force_login(manager)
    page = client.get(reverse("handoff:settings_sla"))
    row = next(row for row in page.context["policies"] if row.policy == policy)
    assert (row.policy.breach_action, row.escalation) == ("notify", "")
    SlaPolicy.objects.filter(pk=policy.pk).update(breach_action="reassign", max_reassignments=0)
    policy.refresh_from_db()
    assert services_settings.selectors.reassignment_words(policy) == (
        "Never reassigned: the first breach escalates to the manager"
    )


@pytest.mark.parametrize("bad", [-1, 21, "many"])
def test_a_bad_reassignment_bound_is_refused_naming_the_field(client, manager, policy, bad):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_policy_edit", args=[policy.pk]),
        policy_post(policy, breach_action="reassign", max_reassignments=bad, target_hours=9),
    )
    assert response.status_code == 200
    assert list(errors_of(response)) == ["max_reassignments"]
    assert "Nothing was saved" in text_of(response)
    policy.refresh_from_db()
    assert (policy.first_touch_minutes, policy.breach_action, policy.max_reassignments) == (60, "notify", 2)


def test_the_policy_service_refuses_a_bad_bound_and_keeps_it_when_not_given(manager, policy):
    with pytest.raises(ValidationError) as refused:
        services_settings.sla_policy_save(
            user=manager, policy_id=policy.pk, name=policy.name, calendar_id=policy.calendar_id,
            first_touch_minutes=30, max_reassignments=25,
        )  # fmt: skip
    assert list(refused.value.message_dict) == ["max_reassignments"]
    assert "between 0 and 20" in refused.value.message_dict["max_reassignments"][0]
    SlaPolicy.objects.filter(pk=policy.pk).update(max_reassignments=5)
    saved = services_settings.sla_policy_save(
        user=manager, policy_id=policy.pk, name=policy.name, calendar_id=policy.calendar_id, first_touch_minutes=30
    )
    assert (saved.first_touch_minutes, saved.max_reassignments) == (30, 5)


# --- Rejection reasons: cool-off -----------------------------------------------------------------


def reason_post(reason: RejectionReason, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {"label": reason.label, "use": reason.use, "is_active": "on"}
    return {**data, **changes}


def test_a_manager_sets_a_reasons_cool_off_and_the_list_shows_it(client, manager):
    timing = RejectionReason.objects.get(code="bad_timing")
    client.force_login(manager)
    assert (
        client.get(reverse("handoff:settings_reason_edit", args=[timing.pk])).context["form"].initial["nurture_days"]
        == timing.nurture_days
    )
    response = client.post(
        reverse("handoff:settings_reason_edit", args=[timing.pk]), reason_post(timing, nurture_days=45)
    )
    assert response.status_code == 302
    timing.refresh_from_db()
    assert timing.nurture_days == 45

    client.post(reverse("handoff:settings_reason_edit", args=[timing.pk]), reason_post(timing, nurture_days=""))
    timing.refresh_from_db()
    assert timing.nurture_days is None
    page = client.get(reverse("handoff:settings_reasons"))
    cool_offs = dict(re.findall(r'id="reason-(\d+)".*?data-testid="cool-off">(.*?)</td>', page.content.decode(), re.S))
    assert text_of_fragment(cool_offs[str(timing.pk)]) == "90 days (default)"
    no_budget = RejectionReason.objects.get(code="no_budget")
    assert text_of_fragment(cool_offs[str(no_budget.pk)]) == f"{no_budget.nurture_days} days"
    student = RejectionReason.objects.get(code="student")  # disqualifies only: no cool-off
    assert text_of_fragment(cool_offs[str(student.pk)]) == "—"


def text_of_fragment(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


@pytest.mark.parametrize("bad", [0, 1096, "soon"])
def test_a_bad_cool_off_is_refused_naming_the_field(client, manager, bad):
    timing = RejectionReason.objects.get(code="bad_timing")
    before = (timing.label, timing.nurture_days)
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_reason_edit", args=[timing.pk]),
        reason_post(timing, label="Timing, renamed", nurture_days=bad),
    )
    assert response.status_code == 200
    assert list(errors_of(response)) == ["nurture_days"]
    timing.refresh_from_db()
    assert (timing.label, timing.nurture_days) == before


def test_the_reason_service_refuses_a_cool_off_out_of_range_or_on_a_disqualify_reason(manager):
    timing = RejectionReason.objects.get(code="bad_timing")
    for use, days, words in (("recycle", 2000, "between 1 and 1,095 days"), ("disqualify", 30, "leave it empty")):
        with pytest.raises(ValidationError) as refused:
            services_settings.rejection_reason_save(
                user=manager, reason_id=timing.pk, label=timing.label, use=use, code=timing.code, nurture_days=days
            )
        assert list(refused.value.message_dict) == ["nurture_days"]
        assert words in refused.value.message_dict["nurture_days"][0]


def test_switching_a_reason_off_and_on_keeps_its_cool_off(client, manager):
    no_budget = RejectionReason.objects.get(code="no_budget")
    days = no_budget.nurture_days
    assert days
    client.force_login(manager)
    client.post(reverse("handoff:settings_reason_toggle", args=[no_budget.pk]))
    client.post(reverse("handoff:settings_reason_toggle", args=[no_budget.pk]))
    no_budget.refresh_from_db()
    assert (no_budget.is_active, no_budget.nurture_days) == (True, days)


def test_a_new_reason_gets_its_cool_off(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("handoff:settings_reasons"), {"label": "Wrong region", "use": "recycle", "nurture_days": 30}
    )
    assert response.status_code == 302
    assert RejectionReason.objects.get(label="Wrong region").nurture_days == 30


# --- Marketing review target ---------------------------------------------------------------------


def review_post(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"target_hours": 2, "target_minutes": 30, "overdue_action": "hand_off"}
    return {**data, **changes}


def test_the_sla_page_shows_the_review_target(client, manager, mql):
    mql()
    client.force_login(manager)
    text = text_of(client.get(reverse("handoff:settings_sla")))
    assert "Marketing review of the MQL queue" in text
    assert "Marketers review every MQL within 4 h of business time in US business hours" in text
    assert "When a review is overdue: notify the marketers" in text
    assert "In the queue now: 1 MQL with a review due." in text


def test_a_manager_changes_the_review_target(client, manager, review_policy, us_calendar):
    client.force_login(manager)
    form = client.get(reverse("handoff:settings_review")).context["form"]
    assert (form.initial["target_hours"], form.initial["target_minutes"], form.initial["calendar"]) == (
        4, 0, review_policy.calendar_id,
    )  # fmt: skip
    response = client.post(reverse("handoff:settings_review"), review_post(calendar=us_calendar.pk))
    assert response.status_code == 302
    assert response["Location"].endswith("#review")
    saved = ReviewPolicy.objects.get(is_active=True)
    assert (saved.pk, saved.review_minutes, saved.overdue_action) == (review_policy.pk, 150, ReviewAction.HAND_OFF)
    text = text_of(client.get(reverse("handoff:settings_sla")))
    assert "within 2 h 30 min of business time" in text
    assert "notify the marketers and hand the lead off automatically" in text


def test_an_mql_entering_the_queue_is_due_by_the_new_target(client, manager, calendar_24x7, mql):
    client.force_login(manager)
    client.post(reverse("handoff:settings_review"), review_post(calendar=calendar_24x7.pk, target_hours=1))
    clock = ReviewClock.objects.get(lead=mql())
    assert (clock.due_at - clock.started_at).total_seconds() == 90 * 60


def test_the_review_target_is_turned_off_and_set_again(client, manager, review_policy, us_calendar):
    client.force_login(manager)
    response = client.post(reverse("handoff:settings_review_off"))
    assert response.status_code == 302
    assert not ReviewPolicy.objects.filter(is_active=True).exists()
    assert automation.review_policy() is None
    text = text_of(client.get(reverse("handoff:settings_sla")))
    assert "No review target. MQLs wait in the queue with no due time" in text
    assert "Set a review target" in text
    page = client.get(reverse("handoff:settings_review"))
    assert "There is no review target now" in text_of(page)
    assert page.context["form"].initial["target_hours"] == 4  # the last policy's values, to start from

    response = client.post(reverse("handoff:settings_review"), review_post(calendar=us_calendar.pk, target_hours=8))
    assert response.status_code == 302
    active = ReviewPolicy.objects.get(is_active=True)
    assert (active.pk, active.review_minutes) == (review_policy.pk, 8 * 60 + 30)
    assert ReviewPolicy.objects.count() == 1


def test_a_review_target_is_created_when_there_was_none(client, manager, us_calendar):
    ReviewPolicy.objects.all().delete()
    client.force_login(manager)
    assert client.get(reverse("handoff:settings_review")).context["form"].initial == {"calendar": us_calendar.pk}
    client.post(reverse("handoff:settings_review"), review_post(calendar=us_calendar.pk))
    created = ReviewPolicy.objects.get()
    assert (created.name, created.is_active, created.review_minutes) == ("Marketing review", True, 150)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_hours": 0, "target_minutes": 0}, "target_hours"),
        ({"target_minutes": 75}, "target_minutes"),
        ({"calendar": ""}, "calendar"),
        ({"overdue_action": "panic"}, "overdue_action"),
    ],
)
def test_review_target_errors_name_the_field_and_save_nothing(client, manager, review_policy, changes, field):
    client.force_login(manager)
    data = review_post(**{"calendar": review_policy.calendar_id, **changes})
    response = client.post(reverse("handoff:settings_review"), data)
    assert response.status_code == 200
    assert list(errors_of(response)) == [field]
    assert "Nothing was saved" in text_of(response)
    review_policy.refresh_from_db()
    assert (review_policy.review_minutes, review_policy.overdue_action, review_policy.is_active) == (
        240,
        "notify",
        True,
    )


def test_the_review_service_names_the_field_it_refuses(manager, review_policy):
    for kwargs, field in (
        ({"review_minutes": 0, "calendar_id": review_policy.calendar_id}, "review_minutes"),
        ({"review_minutes": 60 * 24 * 31, "calendar_id": review_policy.calendar_id}, "review_minutes"),
        ({"review_minutes": 60, "calendar_id": None}, "calendar"),
        ({"review_minutes": 60, "calendar_id": review_policy.calendar_id, "overdue_action": "x"}, "overdue_action"),
    ):
        with pytest.raises(ValidationError) as refused:
            services_settings.review_policy_save(user=manager, policy_id=review_policy.pk, **kwargs)
        assert list(refused.value.message_dict) == [field]
    review_policy.refresh_from_db()
    assert review_policy.review_minutes == 240


def test_saving_a_second_review_policy_switches_the_first_off(manager, review_policy, calendar_24x7):
    second = services_settings.review_policy_save(
        user=manager, name="Weekend cover", calendar_id=calendar_24x7.pk, review_minutes=30
    )
    assert list(ReviewPolicy.objects.filter(is_active=True)) == [second]
    with pytest.raises(ValidationError) as refused:
        services_settings.review_policy_save(
            user=manager, name="weekend COVER", calendar_id=calendar_24x7.pk, review_minutes=30
        )
    assert list(refused.value.message_dict) == ["name"]


# --- Who may change these ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketer", "sdr"])
def test_marketers_and_sdrs_may_not_change_these_settings(client, request, role, rule, policy, review_policy):
    client.force_login(request.getfixturevalue(role))
    timing = RejectionReason.objects.get(code="bad_timing")
    before = timing.nurture_days
    attempts = [
        (reverse("handoff:settings_rule_edit", args=[rule.pk]), rule_post(rule, handoff_mode="automatic")),
        (reverse("handoff:settings_policy_edit", args=[policy.pk]), policy_post(policy, max_reassignments=9)),
        (reverse("handoff:settings_reason_edit", args=[timing.pk]), reason_post(timing, nurture_days=7)),
        (reverse("handoff:settings_review"), review_post(calendar=review_policy.calendar_id)),
        (reverse("handoff:settings_review_off"), {}),
    ]
    for url, data in attempts:
        assert client.post(url, data).status_code == 403, url
    assert client.get(reverse("handoff:settings_review")).status_code == 403
    rule.refresh_from_db()
    policy.refresh_from_db()
    timing.refresh_from_db()
    review_policy.refresh_from_db()
    assert rule.handoff_mode == HandoffMode.REVIEW
    assert policy.max_reassignments == 2
    assert timing.nurture_days == before
    assert (review_policy.is_active, review_policy.review_minutes) == (True, 240)


def test_the_review_services_refuse_people_who_may_not_change_settings(marketer, review_policy):
    with pytest.raises(PermissionDenied):
        services_settings.review_policy_save(
            user=marketer, policy_id=review_policy.pk, calendar_id=review_policy.calendar_id, review_minutes=10
        )
    with pytest.raises(PermissionDenied):
        services_settings.review_policy_switch_off(user=marketer)
    assert ReviewPolicy.objects.get(pk=review_policy.pk).is_active


# --- Fixed query counts ------------------------------------------------------------------------------


def test_the_sla_page_counts_the_queue_in_a_fixed_number_of_queries(client, manager, team):
    client.force_login(manager)
    url = reverse("handoff:settings_sla")
    factories.lead_at_stage(Stage.MQL)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).context["review"].waiting == 1
    for _ in range(6):
        factories.lead_at_stage(Stage.MQL)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).context["review"].waiting == 7
    assert len(many) == len(few)


def test_the_routing_preview_runs_a_fixed_number_of_queries(client, manager, team, mql):
    client.force_login(manager)
    url = reverse("handoff:settings_routing")
    lead = mql()
    services_settings.routing_rule_save(user=manager, name="Rule 0", team_id=team.pk, countries=["DE"])
    client.get(url, {"lead": lead.pk})
    with CaptureQueriesContext(connection) as few:
        client.get(url, {"lead": lead.pk})
    for i in range(1, 6):
        services_settings.routing_rule_save(user=manager, name=f"Rule {i}", team_id=team.pk, countries=["DE"])
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url, {"lead": lead.pk}).context["preview"].checks) == 6
    assert len(many) == len(few)


# --- The admin -----------------------------------------------------------------------------------------


def admin_url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:handoff_{model._meta.model_name}_{view}", args=args)


def test_the_review_policy_is_edited_in_the_admin_through_the_service(admin_client, review_policy, calendar_24x7):
    assert admin_client.get(admin_url(ReviewPolicy, "changelist")).status_code == 200
    response = admin_client.post(
        admin_url(ReviewPolicy, "add"),
        {"name": "Fast review", "calendar": calendar_24x7.pk, "review_minutes": 45, "overdue_action": "hand_off",
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    assert ReviewPolicy.objects.get(is_active=True).name == "Fast review"
    review_policy.refresh_from_db()
    assert review_policy.is_active is False
    refused = admin_client.post(
        admin_url(ReviewPolicy, "change", review_policy.pk),
        {"name": "Marketing review", "calendar": calendar_24x7.pk, "review_minutes": 0, "overdue_action": "notify"},
    )
    assert list(refused.context["adminform"].form.errors) == ["review_minutes"]


def test_admin_edits_keep_the_new_settings_they_do_not_show(admin_client, manager, policy, team):
    """The admin forms name the new fields; a post without them keeps the stored values."""
    SlaPolicy.objects.filter(pk=policy.pk).update(max_reassignments=4)
    response = admin_client.post(
        admin_url(SlaPolicy, "change", policy.pk),
        {"name": policy.name, "calendar": policy.calendar_id, "first_touch_minutes": 45, "warn_at_percent": 50,
         "breach_action": "both", "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.first_touch_minutes, policy.max_reassignments) == (45, 4)
    response = admin_client.post(
        admin_url(RoutingRule, "add"),
        {"name": "Auto", "team": team.pk, "handoff_mode": "automatic", "is_active": "on"},
    )
    assert response.status_code == 302
    assert RoutingRule.objects.get(name="Auto").handoff_mode == HandoffMode.AUTOMATIC


@pytest.mark.parametrize("model", [ReviewClock, HandoffRequest])
def test_review_clocks_and_handoff_requests_are_read_only_lists_searched_by_email(admin_client, mql, model):
    lead, other = mql(), mql()
    assert model.objects.filter(lead=lead).exists()
    listing = admin_client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == model.objects.count() >= 2
    found = admin_client.get(admin_url(model, "changelist"), {"q": lead.email.upper()})
    assert [row.lead_id for row in found.context["cl"].result_list] == [lead.pk]
    obj = model.objects.get(lead=other)
    page = admin_client.get(admin_url(model, "change", obj.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_the_review_clock_list_filters_by_state(admin_client, mql):
    lead = mql()
    past = timezone.now() - timedelta(hours=5)
    ReviewClock.objects.filter(lead=lead).update(started_at=past, due_at=past + timedelta(hours=4))
    mql()
    overdue = admin_client.get(admin_url(ReviewClock, "changelist"), {"state": "overdue"})
    assert [clock.lead_id for clock in overdue.context["cl"].result_list] == [lead.pk]
    waiting = admin_client.get(admin_url(ReviewClock, "changelist"), {"state": "waiting"})
    assert waiting.context["cl"].result_count == 1
