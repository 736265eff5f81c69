"""The lists people keep open all day fit a 1280-pixel-wide window: on "My leads", in the MQL
queue and in the lead list, every column and the row's own action (Open, Hand off with its
routing menu) is on screen without scrolling the table sideways, even with the long values real
data has: a clock weeks overdue, an assignment months old, long titles, campaigns, e-mail
addresses and topics.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from handoff import services
from handoff.models import Assignment, BusinessCalendar, SlaClock, SlaPolicy, Team, TeamMembership
from leads.lifecycle import Stage
from leads.models import ActivityType
from tests import factories
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, lead_at_stage

pytestmark = pytest.mark.e2e

ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}
LONG_CAMPAIGN = "Webinar: From MQL to SQL in 48 hours, with the revenue operations team"
LONG_TITLE = "Senior Director of Revenue Operations and Demand Generation Strategy"


def long_lead(number: int):  # type: ignore[no-untyped-def]
    lead = lead_at_stage(
        Stage.MQL,
        first_name="Maximiliana",
        last_name=f"Vandenberghe-Oyelaran {number}",
        email=f"maximiliana.vandenberghe-oyelaran.{number}@northpointsoftwareconsulting.example",
        job_title=LONG_TITLE,
        company=CompanyFactory(name=f"Northpoint Software Consulting Partners {number}", size="1001-5000"),
        campaign=CampaignFactory(name=f"{LONG_CAMPAIGN} ({number})"),
        source_channel="content_syndication",
        source_detail="netline / the complete handbook of lead routing and response-time SLAs",
    )
    download = ActivityType.objects.get(code="content_download")
    for topic in ("Account-based marketing", "Revenue operations", "Lead routing at scale"):
        ActivityFactory(lead=lead, type=download, properties={"topic": topic, "asset": f"{topic} guide"})
    return lead


@pytest.fixture
def long_rows(transactional_db):  # type: ignore[no-untyped-def]
    calendar = BusinessCalendar.objects.create(name="Always open", time_zone="UTC", hours=ALWAYS_OPEN)
    policy = SlaPolicy.objects.create(name="Inbound hour", calendar=calendar, first_touch_minutes=60)
    team = Team.objects.create(
        name="Inbound", manager=factories.manager(username="e2e-manager"), default_sla_policy=policy
    )
    sdr = factories.sdr(username="e2e-sdr")
    TeamMembership.objects.create(team=team, rep=sdr)
    marketer = factories.marketer(username="e2e-marketer")
    for number in range(3):
        long_lead(number)  # waiting in the queue
    handed = long_lead(9)
    assignment = services.lead_hand_off(lead_id=handed.pk, user=marketer)
    # Handed off 9 weeks ago and never touched: the longest texts the clock and the age take.
    weeks_ago = timezone.now() - timedelta(weeks=9, days=3, hours=13, minutes=41)
    Assignment.objects.filter(pk=assignment.pk).update(assigned_at=weeks_ago)
    SlaClock.objects.filter(assignment=assignment).update(
        started_at=weeks_ago,
        warn_at=weeks_ago + timedelta(minutes=45),
        due_at=weeks_ago + timedelta(hours=1),
        warned_at=weeks_ago + timedelta(minutes=45),
        breached_at=weeks_ago + timedelta(hours=1),
    )
    return {"sdr": sdr, "marketer": marketer}


def assert_fits(page, action: str) -> None:  # type: ignore[no-untyped-def]
    table = page.locator(".table-responsive").first
    scroll_width, client_width = table.evaluate("t => [t.scrollWidth, t.clientWidth]")
    assert scroll_width <= client_width, f"the table is {scroll_width - client_width}px wider than the page"
    width = page.viewport_size["width"]
    elements = page.locator(action).all()
    assert elements, f"no {action} on the page"
    for element in elements:
        box = element.bounding_box()
        assert box is not None, f"{action} is not shown"
        assert box["x"] + box["width"] <= width, f"{action} is cut off at the right"


def test_my_leads_fits_a_1280_pixel_window(long_rows, page, log_in):  # type: ignore[no-untyped-def]
    log_in(page, "e2e-sdr")
    page.goto(reverse("handoff:my_leads"))
    expect(page.locator("tr.work-row")).to_have_count(1)
    expect(page.locator("tr.work-row").first).to_contain_text("overdue")
    expect(page.locator("tr.work-row").first).to_contain_text("months")
    assert_fits(page, "tr.work-row a.btn:has-text('Open')")


def test_the_mql_queue_fits_a_1280_pixel_window(long_rows, page, log_in):  # type: ignore[no-untyped-def]
    log_in(page, "e2e-marketer")
    page.goto(reverse("handoff:queue"))
    expect(page.get_by_role("link", name="Maximiliana Vandenberghe-Oyelaran 0")).to_be_visible()
    assert_fits(page, ".dropdown-toggle-split")


def test_the_lead_list_fits_a_1280_pixel_window(long_rows, page, log_in):  # type: ignore[no-untyped-def]
    log_in(page, "e2e-marketer")
    page.goto(reverse("leads:list"))
    expect(page.get_by_role("link", name="Maximiliana Vandenberghe-Oyelaran 9")).to_be_visible()
    assert_fits(page, ".lead-table tbody tr td:last-child")  # the date the lead came in
