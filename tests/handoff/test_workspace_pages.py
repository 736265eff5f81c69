"""The SDR workspace as a rep uses it: "My leads", the handoff brief, touches, accept and reject,
the discovery call with BANT, conversion, opportunity progression, and the lead-page panel."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from handoff import services
from handoff.models import Assignment, DiscoveryCall, Opportunity, QualificationPolicy, SlaClock, SlaStatus
from handoff.selectors import workspace as selectors
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityType, Lead
from tests import factories
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, qualified_bant

pytestmark = pytest.mark.django_db

MY_LEADS = reverse("handoff:my_leads")


def work_url(lead: Lead, action: str = "") -> str:
    return reverse(f"handoff:work_{action}" if action else "handoff:work_lead", args=[lead.pk])


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text without tags and with collapsed whitespace, as a reader sees it."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [row.lead_id for row in response.context["rows"]]


def shift_clock(assignment: Assignment, *, minutes_ago: int) -> SlaClock:
    """Move an assignment's clock into the past (the test's stand-in for time passing)."""
    delta = timedelta(minutes=minutes_ago)
    clock = assignment.clock
    SlaClock.objects.filter(pk=clock.pk).update(
        started_at=clock.started_at - delta, warn_at=clock.warn_at - delta, due_at=clock.due_at - delta
    )
    Assignment.objects.filter(pk=assignment.pk).update(assigned_at=assignment.assigned_at - delta)
    clock.refresh_from_db()
    return clock


@pytest.fixture
def hand_off(marketer, team, mql):  # type: ignore[no-untyped-def]
    """Hand an MQL to the next rep in the team's rotation (ana, ben, cai, ana, ...)."""

    def make(**kwargs) -> Assignment:  # type: ignore[no-untyped-def]
        lead = mql(**kwargs)
        return services.lead_hand_off(lead_id=lead.pk, user=marketer)

    return make


@pytest.fixture
def ana(reps):  # type: ignore[no-untyped-def]
    return reps[0]


def hand_to(hand_off, rep, **kwargs) -> Assignment:  # type: ignore[no-untyped-def]
    """Hand off until `rep` gets one (the rotation is round robin)."""
    for _ in range(5):
        assignment = hand_off(**kwargs)
        if assignment.rep == rep:
            return assignment
    raise AssertionError("the rotation never reached the rep")


# --- My leads -------------------------------------------------------------------------------------


def test_my_leads_orders_by_sla_breached_first_then_soonest_due_then_touched(client, hand_off, ana):
    fresh = hand_to(hand_off, ana)  # due in 60 minutes
    touched = hand_to(hand_off, ana)
    services.touch_log(lead_id=touched.lead_id, user=ana, kind="email")
    at_risk = hand_to(hand_off, ana)
    shift_clock(at_risk, minutes_ago=40)  # warned at 30 of 60 minutes
    breached = hand_to(hand_off, ana)
    shift_clock(breached, minutes_ago=90)
    client.force_login(ana)

    response = client.get(MY_LEADS)

    assert response.status_code == 200
    assert listed(response) == [breached.lead_id, at_risk.lead_id, fresh.lead_id, touched.lead_id]
    statuses = [row.status for row in response.context["rows"]]
    assert statuses == [SlaStatus.BREACHED, SlaStatus.AT_RISK, SlaStatus.ON_TRACK, SlaStatus.MET]
    assert response.context["listing"].counts == {"breached": 1, "at_risk": 1, "on_track": 1, "touched": 1}
    html = response.content.decode()
    breached.clock.refresh_from_db()
    due = timezone.localtime(breached.clock.due_at).isoformat(timespec="seconds")
    assert f'data-due="{due}"' in html
    assert html.count("data-sla-clock") == 4
    assert html.count("data-sla-remaining") == 3  # the touched lead shows no countdown
    text = text_of(response)
    assert re.search(r"Breached 30m 0\ds overdue", text)
    assert re.search(r"At risk 19m [0-5]\ds left", text)
    assert "Met" in text
    assert 'src="/static/js/workspace.js"' in html


def test_when_running_clocks_fill_the_page_the_most_urgent_come_first_and_counts_cover_all(hand_off, ana):
    fresh = hand_to(hand_off, ana)
    touched = hand_to(hand_off, ana)
    services.touch_log(lead_id=touched.lead_id, user=ana, kind="call")
    at_risk = hand_to(hand_off, ana)
    shift_clock(at_risk, minutes_ago=40)
    breached = hand_to(hand_off, ana)
    shift_clock(breached, minutes_ago=90)
    scope = selectors.workspace_scope(user=ana)

    for limit, shown in ((2, [breached, at_risk]), (3, [breached, at_risk, fresh])):  # read from the running clocks
        listing = selectors.my_leads(scope=scope, limit=limit)
        assert [row.lead_id for row in listing.rows] == [a.lead_id for a in shown]
        assert listing.counts == {"breached": 1, "at_risk": 1, "on_track": 1, "touched": 1}
        assert (listing.total, listing.truncated) == (4, True)
    every = selectors.my_leads(scope=scope, limit=4)  # the touched one too: sorted together
    assert [row.lead_id for row in every.rows] == [a.lead_id for a in (breached, at_risk, fresh, touched)]


def test_the_status_is_derived_when_read_even_if_the_sweep_never_ran(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    shift_clock(assignment, minutes_ago=61)
    assert SlaClock.objects.get(pk=assignment.clock.pk).breached_at is None  # no worker ran
    client.force_login(ana)
    response = client.get(MY_LEADS)
    assert response.context["rows"][0].status == SlaStatus.BREACHED
    assert 'data-status="breached"' in response.content.decode()


def test_an_sdr_sees_only_their_own_open_assignments(client, hand_off, reps):
    ana, ben, _ = reps
    mine = hand_to(hand_off, ana)
    theirs = hand_to(hand_off, ben)
    client.force_login(ana)

    response = client.get(MY_LEADS)
    assert listed(response) == [mine.lead_id]
    assert response.context["scope"].is_manager is False
    assert 'name="rep"' not in response.content.decode()  # no rep picker for SDRs
    # Asking for someone else's list shows your own.
    assert listed(client.get(MY_LEADS, {"rep": ben.pk})) == [mine.lead_id]
    assert theirs.lead_id not in listed(client.get(MY_LEADS, {"rep": "all"}))


def test_closed_assignments_leave_the_list(client, hand_off, ana):
    kept = hand_to(hand_off, ana)
    rejected = hand_to(hand_off, ana)
    services.lead_reject(lead_id=rejected.lead_id, user=ana, to=Stage.RECYCLED, reason_code="bad_timing")
    client.force_login(ana)
    assert listed(client.get(MY_LEADS)) == [kept.lead_id]


def test_a_manager_sees_their_teams_and_picks_a_rep(client, hand_off, reps, manager):
    ana, ben, cai = reps
    by_rep = {rep.pk: hand_to(hand_off, rep).lead_id for rep in (ana, ben, cai)}
    client.force_login(manager)

    response = client.get(MY_LEADS)
    assert sorted(listed(response)) == sorted(by_rep.values())
    assert response.context["scope"].title == "Team leads"
    html = response.content.decode()
    assert 'name="rep"' in html
    for rep in reps:
        assert f'<option value="{rep.pk}"' in html

    response = client.get(MY_LEADS, {"rep": ben.pk})
    assert listed(response) == [by_rep[ben.pk]]
    assert response.context["scope"].rep.id == ben.pk
    assert f'<option value="{ben.pk}" selected>' in response.content.decode()

    response = client.get(MY_LEADS, {"rep": "999999"})
    assert "not in any team" in text_of(response)
    assert sorted(listed(response)) == sorted(by_rep.values())


def test_a_manager_without_a_team_sees_every_open_assignment(client, hand_off, reps):
    other_manager = factories.manager(username="mo.manager")
    assignment = hand_off()
    client.force_login(other_manager)
    response = client.get(MY_LEADS)
    assert listed(response) == [assignment.lead_id]
    assert response.context["scope"].title == "All open leads"


@pytest.mark.parametrize("url_name", ["handoff:my_leads", "handoff:work_lead"])
def test_marketers_and_people_without_a_role_get_403_and_anonymous_people_sign_in(
    client, hand_off, marketer, no_role_user, url_name
):
    assignment = hand_off()
    url = reverse(url_name, args=[assignment.lead_id] if url_name.endswith("work_lead") else [])

    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    for user in (marketer, no_role_user):
        client.force_login(user)
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("count", [3, 15])
def test_my_leads_runs_a_fixed_number_of_queries(client, hand_off, ana, count, django_assert_num_queries):
    for _ in range(count):
        hand_to(hand_off, ana, campaign=CampaignFactory())
    client.force_login(ana)

    # user, permissions, roles for the menu, the rows (with lead, company, campaign,
    # rep, team and clock joined), the counts by SLA status.
    with django_assert_num_queries(6):
        response = client.get(MY_LEADS)
    assert len(response.context["rows"]) == count


@pytest.mark.parametrize("count", [3, 15])
def test_the_manager_view_runs_a_fixed_number_of_queries(client, hand_off, manager, count, django_assert_num_queries):
    for _ in range(count):
        hand_off()
    client.force_login(manager)
    # as for an SDR, + the team memberships (with rep and team) for the rep picker and the scope
    with django_assert_num_queries(7):
        response = client.get(MY_LEADS)
    assert len(response.context["rows"]) == count


# --- the brief --------------------------------------------------------------------------------------


def test_the_brief_shows_source_campaign_role_company_topics_score_and_timeline(client, hand_off, ana):
    campaign = CampaignFactory(name="Revenue Ops Playbook")
    company = CompanyFactory(name="Globex", domain="globex.example", size="1001-5000", country="DE")
    assignment = hand_to(
        hand_off, ana, campaign=campaign, company=company, job_title="VP Sales Operations",
        source_channel="paid_social", source_detail="linkedin / lead-gen",
    )  # fmt: skip
    lead = assignment.lead
    download = ActivityType.objects.get(code="content_download")
    for topic in ["Lead routing", "SLA design", "Lead routing", "Lead routing", "SLA design", "Attribution"]:
        ActivityFactory(lead=lead, type=download, properties={"topic": topic, "asset": "Guide"})
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    client.force_login(ana)

    response = client.get(work_url(lead))

    assert response.status_code == 200
    text = text_of(response)
    for expected in ("Paid social", "linkedin / lead-gen", "Revenue Ops Playbook", "VP Sales Operations", "VP",
                     "Globex", "Enterprise", "Germany"):  # fmt: skip
        assert expected in text
    brief = response.context["brief"]
    assert [(t.name, t.count) for t in brief.topics] == [("Lead routing", 3), ("SLA design", 2), ("Attribution", 1)]
    assert "Lead routing ×3" in text
    # The explanation's parts add up to the scores shown.
    assert sum(part.points for part in brief.fit) == lead.fit_score
    assert sum(part.points for part in brief.engagement) == lead.engagement_score
    assert brief.engagement
    assert brief.engagement[0].label in text
    assert text.count("Content download") >= 6  # the timeline
    assert "First touch" in text
    assert "data-sla-clock" in response.content.decode()
    # The actions: touch, accept, reject, and the discovery call with the policy's criteria.
    for label in ("Log touch", "Accept", "Reject", "Discovery call", "What counts as qualified", "Log the call"):
        assert label in text
    assert "Approved budget or Planned / being requested" in text
    assert "A decision within 12 months" in text


def test_my_leads_links_each_row_to_its_brief(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    assert f'href="{work_url(assignment.lead)}"' in client.get(MY_LEADS).content.decode()


@pytest.mark.parametrize("activities", [2, 12])
def test_the_brief_runs_a_fixed_number_of_queries(client, hand_off, ana, activities, django_assert_num_queries):
    assignment = hand_to(hand_off, ana, campaign=CampaignFactory())
    download = ActivityType.objects.get(code="content_download")
    for n in range(activities):
        ActivityFactory(lead=assignment.lead, type=download, properties={"topic": f"Topic {n % 3}"})
    services.call_log(lead_id=assignment.lead_id, user=ana, data=qualified_bant(outcome="follow_up"))
    client.force_login(ana)
    # user, permissions, roles, lead (+company, campaign, owner), assignment (+rep, team,
    # clock, policy), topics, timeline, calls (+sdr), opportunity, qualification policy, reasons.
    with django_assert_num_queries(12):
        response = client.get(work_url(assignment.lead))
    assert len(response.context["brief"].timeline) == activities + 1  # + the logged call


# --- touches, accept, reject -----------------------------------------------------------------------


def test_the_first_touch_stops_the_clock_and_the_page_says_met(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)

    response = client.post(work_url(assignment.lead, "touch"), {"kind": "call", "note": "Left a voicemail"})

    assert response.status_code == 302
    assert messages_of(response) == ["Call logged. First touch: the SLA clock stopped — SLA met."]
    assignment.clock.refresh_from_db()
    assert assignment.clock.status == SlaStatus.MET
    page = client.get(response.url)
    assert 'data-status="met"' in page.content.decode()
    assert "Left a voicemail" in text_of(page)
    # A second touch is just a touch.
    response = client.post(work_url(assignment.lead, "touch"), {"kind": "email"})
    assert messages_of(response) == ["Email logged."]


def test_a_touch_after_the_due_time_is_met_late(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    shift_clock(assignment, minutes_ago=75)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "touch"), {"kind": "meeting"})
    assert messages_of(response) == ["Meeting logged. First touch: the SLA clock stopped — SLA met late."]


def test_a_touch_needs_a_kind(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "touch"), {"kind": "fax"})
    assert response.status_code == 200
    assert "Select a valid choice" in text_of(response)
    assert not assignment.lead.activities.filter(type__category="sales_touch").exists()


def test_accept_moves_the_lead_to_sal(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "accept"))
    assert response.status_code == 302
    assignment.lead.refresh_from_db()
    assert assignment.lead.stage == Stage.SAL
    assert any("is now a sales accepted lead" in m for m in messages_of(response))
    # Accepted leads stay on the list (until converted or rejected), touched.
    page = client.get(MY_LEADS)
    assert listed(page) == [assignment.lead_id]
    assert page.context["rows"][0].status == SlaStatus.MET
    brief = client.get(work_url(assignment.lead))
    assert brief.context["can"]["accept"] is False  # no second acceptance
    assert reverse("handoff:work_accept", args=[assignment.lead_id]) not in brief.content.decode()


def test_reject_needs_a_reason_and_says_so(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)

    response = client.post(work_url(assignment.lead, "reject"), {"to": "recycled", "reason": "", "note": "Q3"})

    assert response.status_code == 200
    text = text_of(response)
    assert "Choose a reason: it tells marketing why" in text
    assert response.context["reject_open"] is True
    assignment.lead.refresh_from_db()
    assert assignment.lead.stage == Stage.MQL
    assert Assignment.objects.get(pk=assignment.pk).is_open


def test_a_reason_that_does_not_fit_the_target_is_refused_with_the_services_words(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "reject"), {"to": "recycled", "reason": "student"})
    assert response.status_code == 200
    assert "“Student” is not a reason to" in text_of(response)
    html = response.content.decode()
    assert 'data-use="disqualify"' in html
    assert 'data-use="recycle"' in html


def test_reject_with_a_reason_recycles_the_lead_and_returns_to_my_leads(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(
        work_url(assignment.lead, "reject"), {"to": "disqualified", "reason": "competitor", "note": "Works at Initech"}
    )
    assert response.status_code == 302
    assert response.url == MY_LEADS
    lead = Lead.objects.get(pk=assignment.lead_id)
    assert lead.stage == Stage.DISQUALIFIED
    assert lead.transitions.latest().reason == "Competitor: Works at Initech"
    assert messages_of(response) == [f"{lead} sent out of the funnel (Disqualified): Competitor."]


# --- the discovery call ------------------------------------------------------------------------------


def call_post(**overrides) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = qualified_bant(**overrides)
    return {key: ("" if value is None else str(value)) for key, value in data.items()}


def test_an_incomplete_bant_form_names_exactly_what_is_missing_and_writes_nothing(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    data = call_post(decision_maker="", need_use_case="   ", timeframe="", expected_decision_date="")

    response = client.post(work_url(assignment.lead, "call"), data)

    assert response.status_code == 200
    form = response.context["call_form"]
    assert form.errors == {
        "decision_maker": ["Authority: say who makes the decision."],
        "need_use_case": ["Need: describe what they would use the product for."],
        "timeframe": ["Timing: choose the timeframe."],
        "expected_decision_date": ["Timing: give the expected decision date."],
    }
    text = text_of(response)
    assert "The call was not logged: 4 things to fix." in text
    for message in [m for messages in form.errors.values() for m in messages]:
        assert text.count(message) == 2  # in the summary at the top and under the field
    html = response.content.decode()
    assert 'href="#id_decision_maker"' in html
    assert 'id="id_decision_maker"' in html
    assert "is-invalid" in html
    assert "Leads go cold before sales calls them back." in html  # what was typed is kept
    assert not DiscoveryCall.objects.exists()
    assignment.lead.refresh_from_db()
    assert assignment.lead.stage == Stage.MQL


def test_an_empty_bant_form_names_every_field_and_the_outcome(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "call"), {"budget_currency": "USD"})
    errors = response.context["call_form"].errors
    assert set(errors) == {*services.BANT_FIELDS, "outcome"}
    assert errors["outcome"] == ["Choose the outcome of the call."]


def test_a_bad_date_is_named_together_with_the_missing_fields(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(
        work_url(assignment.lead, "call"), call_post(expected_decision_date="next spring", decision_maker="")
    )
    errors = response.context["call_form"].errors
    assert errors["expected_decision_date"] == ["Enter a valid date."]
    assert errors["decision_maker"] == ["Authority: say who makes the decision."]
    assert "Expected decision date: Enter a valid date." in text_of(response)
    assert not DiscoveryCall.objects.exists()


def test_an_amount_without_a_currency_is_refused_on_the_currency_field(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "call"), call_post(budget_currency=""))
    assert "three-letter code" in response.context["call_form"].errors["budget_currency"][0]
    assert "Currency: Give the budget" in text_of(response)


def test_the_policy_refusal_is_shown_prominently_with_its_criteria(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)

    response = client.post(
        work_url(assignment.lead, "call"), call_post(budget_status="none", authority_role="end_user", timeframe="later")
    )

    assert response.status_code == 200
    form = response.context["call_form"]
    assert form.refused_sections == {"budget", "authority", "timing"}
    assert len(form.policy_refusal) == 3
    html = response.content.decode()
    refusal = html[html.index('id="policy-refusal"') : html.index("</ul>", html.index('id="policy-refusal"'))]
    assert "Not qualified under the qualification policy" in refusal
    assert "Budget: “No budget” does not qualify" in unescape(refusal)
    assert "Authority: an end user does not qualify" in unescape(refusal)
    assert "Timing: “More than a year” is too far out" in unescape(refusal)
    assert "is-refused" in html
    assert "refuses “qualified” for these answers" in form.errors["outcome"][0]
    assert not DiscoveryCall.objects.exists()


def test_a_qualified_call_converts_and_the_brief_shows_the_opportunity(client, hand_off, ana):
    assignment = hand_to(hand_off, ana, company=CompanyFactory(name="Globex"))
    client.force_login(ana)

    response = client.post(work_url(assignment.lead, "call"), call_post())

    opportunity = Opportunity.objects.get(lead=assignment.lead)
    assert response.status_code == 302
    assert response.url == work_url(assignment.lead) + "#opportunity"
    assert messages_of(response) == [f"Converted to SQL — opportunity {opportunity.name} created"]
    assignment.lead.refresh_from_db()
    assert assignment.lead.stage == Stage.SQL
    # The rep still opens the brief (the assignment closed on conversion; they own the deal).
    page = client.get(work_url(assignment.lead))
    assert page.status_code == 200
    text = text_of(page)
    assert opportunity.name in text
    assert "48,000 USD" in text
    close = opportunity.expected_close
    assert f"{close:%b} {close.day}, {close.year}" in text
    assert ana.get_full_name() in text
    assert "Mark as Opportunity" in text
    assert page.context["call_form"] is None  # no second qualifying call on an SQL
    # The converted lead left "My leads".
    assert listed(client.get(MY_LEADS)) == []


def test_a_follow_up_call_is_logged_without_converting(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    response = client.post(work_url(assignment.lead, "call"), call_post(outcome="follow_up", budget_status="unknown"))
    assert response.status_code == 302
    assert messages_of(response) == [f"Discovery call logged (needs a follow-up call). {assignment.lead} stays at MQL."]
    assert not Opportunity.objects.exists()
    page = client.get(response.url)
    assert "Follow-up" in text_of(page)
    assert "Not yet qualifying" in text_of(page)


def test_managers_tune_the_policy_and_the_form_shows_it(client, hand_off, ana):
    QualificationPolicy.objects.update(min_budget_amount=100_000, max_timeframe_months=6)
    assignment = hand_to(hand_off, ana)
    client.force_login(ana)
    text = text_of(client.get(work_url(assignment.lead)))
    assert "at least 100,000" in text
    assert "A decision within 6 months" in text


# --- who may act -------------------------------------------------------------------------------------


def test_another_sdr_gets_403_on_a_lead_not_assigned_to_them(client, hand_off, reps):
    ana, ben, _ = reps
    assignment = hand_to(hand_off, ana)
    lead = assignment.lead
    client.force_login(ben)

    assert client.get(work_url(lead)).status_code == 403
    assert client.post(work_url(lead, "touch"), {"kind": "call"}).status_code == 403
    assert client.post(work_url(lead, "accept")).status_code == 403
    assert client.post(work_url(lead, "reject"), {"to": "recycled", "reason": "bad_timing"}).status_code == 403
    assert client.post(work_url(lead, "reject"), {"to": "recycled", "reason": ""}).status_code == 403
    assert client.post(work_url(lead, "call"), call_post()).status_code == 403
    assert client.post(work_url(lead, "call"), {"decision_maker": ""}).status_code == 403
    assert not DiscoveryCall.objects.exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert not lead.activities.filter(type__category="sales_touch").exists()


def test_a_manager_works_any_lead(client, hand_off, ana, manager):
    assignment = hand_to(hand_off, ana)
    client.force_login(manager)
    assert client.get(work_url(assignment.lead)).status_code == 200
    response = client.post(work_url(assignment.lead, "call"), call_post())
    assert response.status_code == 302
    assert Opportunity.objects.get(lead=assignment.lead).owner == ana  # the rep keeps the deal


def test_a_missing_lead_is_404(client, ana, team):
    client.force_login(ana)
    assert client.get(reverse("handoff:work_lead", args=[999999])).status_code == 404


# --- opportunity progression -------------------------------------------------------------------------


def test_the_owner_moves_the_opportunity_on_and_a_manager_recycles_it(client, hand_off, ana, manager):
    assignment = hand_to(hand_off, ana)
    services.call_log(lead_id=assignment.lead_id, user=ana, data=qualified_bant())
    lead = assignment.lead
    client.force_login(ana)

    response = client.post(work_url(lead, "advance"), {"to": "opportunity"})
    assert messages_of(response) == [f"{lead} moved to Opportunity."]
    page = client.get(work_url(lead))
    assert "Mark as Customer" in text_of(page)
    assert page.context["reject_form"] is None  # SDRs cannot recycle after conversion (services rule)

    client.force_login(manager)
    page = client.get(work_url(lead))
    assert "Recycle or disqualify" in text_of(page)
    response = client.post(work_url(lead, "reject"), {"to": "recycled", "reason": "no_budget", "note": "Froze"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED


def test_advancing_to_customer_and_no_further(client, hand_off, ana):
    assignment = hand_to(hand_off, ana)
    services.call_log(lead_id=assignment.lead_id, user=ana, data=qualified_bant())
    services.lead_advance(lead_id=assignment.lead_id, user=ana, to=Stage.OPPORTUNITY)
    client.force_login(ana)
    client.post(work_url(assignment.lead, "advance"), {"to": "customer"})
    assignment.lead.refresh_from_db()
    assert assignment.lead.stage == Stage.CUSTOMER
    page = client.get(work_url(assignment.lead))
    assert page.context["advance_to"] is None
    response = client.post(work_url(assignment.lead, "advance"), {"to": "customer"})
    assert "did not move" in messages_of(response)[0]


# --- the lead-page panel -----------------------------------------------------------------------------

PANEL = Template("{% load handoff_tags %}{% lead_handoff_panel lead user %}")


def render_panel(lead: Lead, user) -> str:  # type: ignore[no-untyped-def]
    lead = Lead.objects.select_related("company", "owner", "campaign").get(pk=lead.pk)
    html = PANEL.render(Context({"lead": lead, "user": user}))
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_panel_shows_assignment_clock_calls_opportunity_and_a_link(hand_off, ana, reps):
    assignment = hand_to(hand_off, ana)
    lead = assignment.lead
    html = PANEL.render(Context({"lead": lead, "user": ana}))
    assert f'href="{work_url(lead)}"' in html
    assert "data-sla-clock" in html
    assert 'data-status="on_track"' in html
    text = render_panel(lead, ana)
    assert ana.get_full_name() in text
    assert "Inbound" in text
    assert "On track" in text

    services.call_log(lead_id=lead.pk, user=ana, data=qualified_bant(outcome="follow_up"))
    services.call_log(lead_id=lead.pk, user=ana, data=qualified_bant())
    text = render_panel(lead, ana)
    opportunity = Opportunity.objects.get(lead=lead)
    assert opportunity.name in text
    assert "48,000 USD" in text
    assert "Qualified" in text
    assert "Follow-up" in text
    assert "Approved budget, 48,000 USD" in text
    assert "Decision maker; decides: Dana Diaz, VP Revenue" in text
    assert "Converted" in text  # the assignment ended on conversion
    assert "Met" in text

    # Another SDR reads the panel, without the link to work the lead.
    other = PANEL.render(Context({"lead": Lead.objects.get(pk=lead.pk), "user": reps[1]}))
    assert work_url(lead) not in other


def test_the_panel_for_a_lead_not_handed_off(marketer, mql):
    text = render_panel(mql(), marketer)
    assert "Not handed to sales yet. It waits in the MQL queue." in text


def test_the_panel_runs_three_queries(hand_off, ana, django_assert_num_queries):
    assignment = hand_to(hand_off, ana)
    services.call_log(lead_id=assignment.lead_id, user=ana, data=qualified_bant())
    lead = Lead.objects.select_related("company", "owner", "campaign").get(pk=assignment.lead_id)
    ana.has_perm("handoff.work_leads")  # the lead page has already loaded the user's permissions
    with django_assert_num_queries(3):  # assignment with rep/team/clock, calls with their SDR, opportunity
        PANEL.render(Context({"lead": lead, "user": ana}))


def test_policy_criteria_in_words():
    policy = QualificationPolicy(
        accepted_budget_statuses=["approved"], accepted_authority_roles=["decision_maker", "budget_holder"],
        max_timeframe_months=3, min_budget_amount=25000,
    )  # fmt: skip
    assert [c.text for c in selectors.policy_criteria(policy)] == [
        "Approved budget, at least 25,000",
        "The contact is a decision maker or budget holder",
        "The pain and the use case, in the prospect's words",
        "A decision within 3 months",
    ]


def test_remaining_text_matches_the_javascript_format():
    assert selectors.remaining_text(timedelta(seconds=65)) == "1m 05s"
    assert selectors.remaining_text(timedelta(hours=1, minutes=2, seconds=5)) == "1h 02m 05s"
    assert selectors.remaining_text(timedelta(days=2, hours=3, minutes=15, seconds=9)) == "2d 03h 15m"
    assert selectors.remaining_text(-timedelta(minutes=4, seconds=9)) == "4m 09s"
