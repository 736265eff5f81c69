"""Speed-to-lead, end to end with the live Celery worker on Redis: a demo request posted to the
public form endpoint reaches the SDR's "My leads" by itself — scored, fast-tracked, routed and
assigned by the worker after commit — with its first-touch countdown running, within seconds and
without anyone clicking "Hand off".

Runs in CI's second pass (BATON_LIVE_WORKER=1); the `live_worker` fixture skips it elsewhere.
Screenshot: tests/e2e/screenshots/speed-to-lead-my-leads.png (git-ignored).
"""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from handoff.models import (
    BusinessCalendar,
    HandoffMode,
    QueueReview,
    RoutingRule,
    SlaPolicy,
    SlaStatus,
    Team,
    TeamMembership,
)
from leads import ingestion
from leads.models import Lead
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.live_worker]

ALWAYS_OPEN = {str(day): [["00:00", "24:00"]] for day in range(7)}
WITHIN_SECONDS = 20


@pytest.fixture
def inbound(transactional_db):  # type: ignore[no-untyped-def]
    """One SDR on a team whose hot leads are handed off automatically, with a 30-minute SLA, and
    a website form for demo requests."""
    calendar = BusinessCalendar.objects.create(name="Always open", time_zone="UTC", hours=ALWAYS_OPEN)
    hot = SlaPolicy.objects.create(name="Hot 30", calendar=calendar, first_touch_minutes=30)
    team = Team.objects.create(name="Inbound", manager=factories.manager(username="stl-manager"))
    sdr = factories.sdr(username="stl-sdr", first_name="Sam", last_name="Rivera")
    TeamMembership.objects.create(team=team, rep=sdr)
    RoutingRule.objects.create(
        name="Hot leads → Inbound", team=team, hot_only=True, sla_policy=hot, handoff_mode=HandoffMode.AUTOMATIC
    )
    RoutingRule.objects.create(name="Everything → Inbound", team=team, position=10)
    _, key = ingestion.form_source_create(name="Website – book a demo", activity_type_id="demo_request")
    return {"sdr": sdr, "key": key}


def test_a_demo_request_reaches_the_sdrs_my_leads_by_itself(inbound, live_worker, page, log_in, screenshot):
    log_in(page, inbound["sdr"].username)
    page.goto(reverse("handoff:my_leads"))
    expect(page.locator("tr.work-row")).to_have_count(0)

    posted = time.monotonic()
    response = page.request.post(
        "/api/v1/forms/capture/",
        data={"email": "vera@northwind.example", "first_name": "Vera", "last_name": "Lind",
              "job_title": "VP of Sales", "company": "Northwind", "message": "Can we see a demo this week?"},
        headers={"X-Baton-Form-Key": inbound["key"]},
    )  # fmt: skip
    assert response.status == 201, response.text()

    rows = page.locator("tr.work-row")
    while time.monotonic() - posted < WITHIN_SECONDS and rows.count() == 0:
        time.sleep(0.5)
        page.reload()
    assert rows.count() == 1, f"the demo request did not reach My leads within {WITHIN_SECONDS} s"
    arrived = time.monotonic() - posted

    lead = Lead.objects.get(email="vera@northwind.example")
    top = rows.first
    assert top.get_attribute("data-lead-id") == str(lead.pk)
    expect(top).to_contain_text("Vera Lind")
    clock = top.locator("[data-sla-clock]")
    expect(clock).to_have_attribute("data-status", SlaStatus.ON_TRACK)
    remaining = clock.locator("[data-sla-remaining]")
    expect(remaining).to_have_text(re.compile(r"^\d+m \d\ds left$"))
    first_reading = remaining.inner_text()
    expect(remaining).not_to_have_text(first_reading, timeout=3_000)  # the countdown runs
    review = QueueReview.objects.get(lead=lead)
    assert review.reviewer is None, "nobody clicked: the hand-off was automatic"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "speed-to-lead-my-leads")
    print(f"speed to lead (form post to My leads, with page reloads): {arrived:.1f} s")
