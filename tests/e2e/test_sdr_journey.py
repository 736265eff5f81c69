"""Journey 2, the sales side: the assigned SDR sees the handed-off lead at the top of "My leads"
with a live countdown, opens its brief, logs a first touch (the SLA clock shows Met), tries to
log the discovery call with an incomplete BANT form and is told exactly what is missing,
completes it, and converts the lead: the opportunity exists.

The marketer's part (filtering the MQL queue and handing off in the browser) is its own journey;
here the hand-off goes through the same service, `handoff.services.lead_hand_off`.

Screenshots: tests/e2e/screenshots/sdr-*.png (git-ignored).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from handoff import services
from handoff.models import BusinessCalendar, DiscoveryCall, Opportunity, SlaPolicy, SlaStatus, Team, TeamMembership
from leads.lifecycle import Stage
from leads.models import ActivityType, Lead
from tests import factories
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, lead_at_stage

pytestmark = pytest.mark.e2e

ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}


def shoot(screenshot, page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot from the top, so the sticky navbar does not cover the page."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)


@pytest.fixture
def handed_off(transactional_db):  # type: ignore[no-untyped-def]
    """A team of one SDR (with the factories' known password), an SLA of one business hour, an
    older lead the SDR has already touched, and a fresh MQL handed off by a marketer."""
    calendar = BusinessCalendar.objects.create(name="Always open", time_zone="UTC", hours=ALWAYS_OPEN)
    policy = SlaPolicy.objects.create(name="Inbound hour", calendar=calendar, first_touch_minutes=60)
    manager = factories.manager(username="e2e-manager")
    team = Team.objects.create(name="Inbound", manager=manager, default_sla_policy=policy)
    sdr = factories.sdr(username="e2e-sdr", first_name="Sam", last_name="Rivera")
    TeamMembership.objects.create(team=team, rep=sdr)
    marketer = factories.marketer(username="e2e-marketer")

    older = lead_at_stage(Stage.MQL, first_name="Olive", last_name="Older", email="olive@older.example")
    services.lead_hand_off(lead_id=older.pk, user=marketer)
    services.touch_log(lead_id=older.pk, user=sdr, kind="email", note="Intro sent")

    lead = lead_at_stage(
        Stage.MQL,
        first_name="Grace",
        last_name="Hopper",
        email="grace@globex.example",
        job_title="VP Revenue Operations",
        company=CompanyFactory(name="Globex", domain="globex.example", size="1001-5000"),
        campaign=CampaignFactory(name="Revenue Ops Playbook"),
        source_channel="paid_social",
        source_detail="linkedin / lead-gen",
    )
    download = ActivityType.objects.get(code="content_download")
    for topic in ("Lead routing", "SLA design", "Lead routing"):
        ActivityFactory(lead=lead, type=download, properties={"topic": topic, "asset": f"{topic} guide"})
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    assert assignment.rep == sdr
    return {"sdr": sdr, "lead": lead, "older": older, "assignment": assignment}


def test_the_sdr_qualifies_a_handed_off_lead_and_converts_it(handed_off, page, log_in, screenshot):
    sdr, lead = handed_off["sdr"], handed_off["lead"]

    # Sign in and open My leads: the new lead is at the top, its countdown running.
    log_in(page, sdr.username)
    page.goto(reverse("handoff:my_leads"))
    rows = page.locator("tr.work-row")
    expect(rows).to_have_count(2)
    top = rows.first
    assert top.get_attribute("data-lead-id") == str(lead.pk)
    expect(top).to_contain_text("Grace Hopper")
    expect(top).to_contain_text("Globex")
    clock = top.locator("[data-sla-clock]")
    expect(clock).to_have_attribute("data-status", SlaStatus.ON_TRACK)
    due = handed_off["assignment"].clock.due_at
    assert clock.get_attribute("data-due") == timezone.localtime(due).isoformat(timespec="seconds")
    remaining = clock.locator("[data-sla-remaining]")
    expect(remaining).to_have_text(re.compile(r"^\d+m \d\ds left$"))
    first_reading = remaining.inner_text()
    expect(remaining).not_to_have_text(first_reading, timeout=3_000)  # workspace.js ticks every second
    expect(rows.nth(1).locator("[data-sla-clock]")).to_have_attribute("data-status", SlaStatus.MET)
    shoot(screenshot, page, "sdr-my-leads")

    # One click opens the handoff brief.
    top.get_by_role("link", name="Grace Hopper", exact=True).click()
    page.wait_for_url(f"**{reverse('handoff:work_lead', args=[lead.pk])}")
    expect(page.get_by_role("heading", name="Grace Hopper", level=1)).to_be_visible()
    expect(page.get_by_test_id("topics")).to_contain_text("Lead routing ×2")
    expect(page.locator("main")).to_contain_text("Revenue Ops Playbook")
    shoot(screenshot, page, "sdr-brief")

    # Log a first touch: the clock stops and shows Met.
    page.get_by_placeholder("Note, e.g. left a voicemail").fill("Called, booked the discovery call for today")
    with page.expect_navigation():
        page.get_by_role("button", name="Log touch").click()
    expect(page.locator(".messages")).to_contain_text("First touch: the SLA clock stopped — SLA met.")
    expect(page.locator("#sla [data-sla-clock]")).to_have_attribute("data-status", SlaStatus.MET)
    expect(page.locator("#sla")).to_contain_text("Met")
    shoot(screenshot, page, "sdr-first-touch")

    # The discovery call with an incomplete BANT form: told exactly what is missing, nothing saved.
    form = page.locator("form[data-bant-form]")
    form.locator("#id_budget_status").select_option("approved")
    form.locator("#id_budget_amount").fill("48000")
    form.locator("#id_authority_role").select_option("decision_maker")
    form.locator("#id_need_pain").fill("Leads go cold before anyone calls them back.")
    form.locator("#id_timeframe").select_option("3m")
    form.get_by_label("Qualified — convert to SQL").check()
    expect(form.locator("[data-call-submit]")).to_have_text("Log the call and convert to SQL")
    with page.expect_navigation():
        form.locator("[data-call-submit]").click()
    summary = page.locator("#bant-errors")
    expect(summary).to_contain_text("The call was not logged: 3 things to fix.")
    expect(summary.get_by_role("listitem")).to_have_text(
        [
            "Authority: say who makes the decision.",
            "Need: describe what they would use the product for.",
            "Timing: give the expected decision date.",
        ]
    )
    for field, message in (
        ("decision_maker", "Authority: say who makes the decision."),
        ("need_use_case", "Need: describe what they would use the product for."),
        ("expected_decision_date", "Timing: give the expected decision date."),
    ):
        expect(page.locator(f"#id_{field}")).to_have_class(re.compile(r"\bis-invalid\b"))
        expect(page.locator(f"#div_id_{field}")).to_contain_text(message)
    expect(page.locator("#id_need_pain")).to_have_value("Leads go cold before anyone calls them back.")
    assert not DiscoveryCall.objects.filter(lead=lead).exists()
    shoot(screenshot, page, "sdr-bant-incomplete")

    # Complete it and convert.
    form = page.locator("form[data-bant-form]")
    form.locator("#id_decision_maker").fill("Dana Diaz, VP Revenue")
    form.locator("#id_need_use_case").fill("Route and track every inbound demo request")
    decision = timezone.localdate() + timedelta(days=45)
    form.locator("#id_expected_decision_date").fill(decision.isoformat())
    with page.expect_navigation():
        form.locator("[data-call-submit]").click()
    opportunity = Opportunity.objects.get(lead=lead)
    expect(page.locator(".messages")).to_contain_text(f"Converted to SQL — opportunity {opportunity.name} created")
    card = page.locator("#opportunity")
    expect(card).to_contain_text(opportunity.name)
    expect(card).to_contain_text("48,000 USD")
    expect(card).to_contain_text("Sam Rivera")
    expect(card.get_by_role("button", name="Mark as Opportunity")).to_be_visible()
    assert urlsplit(page.url).path == reverse("handoff:work_lead", args=[lead.pk])
    shoot(screenshot, page, "sdr-converted")

    # In the database: an SQL with its qualifying call and the opportunity, owned by the rep.
    lead = Lead.objects.get(pk=lead.pk)
    assert lead.stage == Stage.SQL
    assert lead.qualifying_call_id == opportunity.discovery_call_id
    assert (opportunity.owner, opportunity.amount, opportunity.expected_close) == (sdr, 48000, decision)

    # The converted lead has left My leads; the older one is still there.
    page.goto(reverse("handoff:my_leads"))
    expect(page.locator("tr.work-row")).to_have_count(1)
    expect(page.locator("tr.work-row").first).to_contain_text("Olive Older")
