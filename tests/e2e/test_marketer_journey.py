"""Journey 1, the marketing side: a marketer opens the MQL queue, filters it by channel, hands the
lead off in the browser, and the assigned SDR finds it at the top of "My leads" with its
countdown running. (The SDR's qualifying call is tests/e2e/test_sdr_journey.py.)

Screenshots: tests/e2e/screenshots/marketer-*.png (git-ignored).
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from handoff.models import Assignment, BusinessCalendar, SlaPolicy, Team, TeamMembership
from leads.lifecycle import Stage
from tests import factories
from tests.factories import CompanyFactory, lead_at_stage

pytestmark = pytest.mark.e2e
ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}


@pytest.fixture
def queue(transactional_db):  # type: ignore[no-untyped-def]
    calendar = BusinessCalendar.objects.create(name="Always open", time_zone="UTC", hours=ALWAYS_OPEN)
    policy = SlaPolicy.objects.create(name="Inbound hour", calendar=calendar, first_touch_minutes=60)
    team = Team.objects.create(name="Inbound", default_sla_policy=policy)
    sdr = factories.sdr(username="e2e-sdr", first_name="Sam", last_name="Rivera")
    TeamMembership.objects.create(team=team, rep=sdr)
    marketer = factories.marketer(username="e2e-marketer")
    webinar = lead_at_stage(
        Stage.MQL, first_name="Ada", last_name="Lovelace", email="ada@analytical.example",
        source_channel="webinar", company=CompanyFactory(name="Analytical Engines", domain="analytical.example"),
    )  # fmt: skip
    lead_at_stage(Stage.MQL, first_name="Blaise", last_name="Pascal", source_channel="paid_search")
    return {"marketer": marketer, "sdr": sdr, "lead": webinar}


def test_the_marketer_filters_the_queue_and_hands_off_and_the_sdr_sees_it(queue, page, browser, live_server,
                                                                            log_in, screenshot):  # fmt: skip
    marketer, sdr, lead = queue["marketer"], queue["sdr"], queue["lead"]

    log_in(page, marketer.username)
    assert page.url.endswith(reverse("handoff:queue"))  # marketers land on the queue
    expect(page.get_by_role("link", name="Blaise Pascal")).to_be_visible()

    # Filter by channel: only the webinar lead stays.
    page.get_by_role("button", name="Filters").click()
    page.get_by_label("Webinar").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Apply filters").click()
    assert "source_channel=webinar" in page.url
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("link", name="Blaise Pascal")).to_have_count(0)
    screenshot(page, "marketer-queue-filtered")

    # Hand it off from its row: the message names the rep, and the filtered URL is kept.
    with page.expect_navigation():
        page.locator("tbody[data-queue-item]", has_text="Ada Lovelace").get_by_role(
            "button", name="Hand off"
        ).first.click()
    expect(page.get_by_text("Sam Rivera").first).to_be_visible()
    assert "source_channel=webinar" in page.url
    expect(page.locator("tbody[data-queue-item]", has_text="Ada Lovelace")).to_have_count(0)
    screenshot(page, "marketer-handed-off")
    assignment = Assignment.objects.get(lead=lead, is_open=True)
    assert assignment.rep == sdr

    # The SDR, in their own browser session, has it at the top of My leads with a countdown.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    sdr_page = context.new_page()
    log_in(sdr_page, sdr.username)
    assert sdr_page.url.endswith(reverse("handoff:my_leads"))
    first_row = sdr_page.locator("[data-due]").first
    expect(first_row).to_be_visible()
    expect(sdr_page.get_by_text("Ada Lovelace").first).to_be_visible()
    screenshot(sdr_page, "marketer-sdr-my-leads")
    context.close()
