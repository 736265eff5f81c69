"""Journey 3: a manager reads the funnel — opens it, changes the date range and the breakdown with
the form, clicks a bar through to the lead list and finds the same number of leads there, follows
a breakdown row's number the same way, and downloads the table as CSV.

Screenshots: tests/e2e/screenshots/manager-*.png (git-ignored).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.reporting import histories

pytestmark = pytest.mark.e2e


@pytest.fixture
def funnel_data(transactional_db):  # type: ignore[no-untyped-def]
    """Leads created over the 60 days from 80 days ago, with random stage histories."""
    base = timezone.now() - timedelta(days=80)
    histories.build(51, 120, base)
    return base


def top(page):  # type: ignore[no-untyped-def]
    """Scroll back up, so a full-page screenshot does not show the sticky navbar mid-page."""
    page.evaluate("window.scrollTo(0, 0)")
    return page


def shown_total(page) -> int:  # type: ignore[no-untyped-def]
    """The lead list's "Showing 1–50 of N leads" count (0 for the empty state)."""
    if page.get_by_test_id("showing").count() == 0:
        return 0
    text = page.get_by_test_id("showing").inner_text()
    return int(re.search(r"of ([\d,]+)", text).group(1).replace(",", ""))


def test_manager_reads_the_funnel_drills_down_and_downloads_csv(funnel_data, page, log_in, screenshot, tmp_path):
    manager = factories.manager(username="grace.manager", first_name="Grace", last_name="Kim")
    log_in(page, manager.username)

    # The funnel opens on the last 30 days.
    page.goto(reverse("reporting:funnel"))
    expect(page.locator("h1")).to_have_text("Funnel")
    expect(page.locator("#report-period")).to_have_value("30d")
    expect(page.locator("canvas[data-chart='chart-funnel']")).to_be_visible()
    screenshot(top(page), "manager-funnel")

    # Change the date range (the period switches to custom dates) and the breakdown, with the form.
    first_day = (funnel_data + timedelta(days=5)).date().isoformat()
    last_day = (funnel_data + timedelta(days=55)).date().isoformat()
    page.fill("#report-from", first_day)
    page.fill("#report-to", last_day)
    expect(page.locator("#report-period")).to_have_value("custom")
    with page.expect_navigation():
        page.select_option("#report-breakdown", "channel")  # applies at once
    query = parse_qs(urlsplit(page.url).query)
    assert query["from"] == [first_day]
    assert query["to"] == [last_day]
    assert query["breakdown"] == ["channel"]
    assert query["period"] == ["custom"]
    expect(page.get_by_test_id("breakdown-table")).to_be_visible()
    expect(page.get_by_test_id("breakdown-row")).not_to_have_count(0)
    screenshot(top(page), "manager-funnel-by-channel")

    # The definitions are on the page, folded.
    page.get_by_text("How these numbers are counted").click()
    expect(page.get_by_test_id("definitions")).to_contain_text("counts as having passed it")

    # Click the MQL bar: the lead list shows the leads behind it, as many as the bar says.
    spec = json.loads(page.locator("#chart-funnel").text_content())
    mql_index = spec["labels"].index("MQL")
    mql_count = spec["datasets"][0]["data"][mql_index]
    assert mql_count > 0
    expect(page.get_by_test_id("stage-mql")).to_have_text(f"{mql_count:,}")
    canvas = page.locator("canvas[data-chart='chart-funnel']")
    canvas.scroll_into_view_if_needed()
    point = canvas.evaluate(
        "(canvas, index) => { const bar = canvas.baton.getDatasetMeta(0).data[index];"
        " return {x: bar.x, y: (bar.y + bar.base) / 2}; }",
        mql_index,
    )
    with page.expect_navigation():
        canvas.click(position=point)
    assert urlsplit(page.url).path == reverse("leads:list")
    assert parse_qs(urlsplit(page.url).query)["reached"] == ["mql"]
    assert shown_total(page) == mql_count
    screenshot(top(page), "manager-lead-list-from-bar")
    page.go_back()

    # A breakdown row's number opens that group's leads, as many as the number says.
    row = page.get_by_test_id("breakdown-row").first
    sql_link = row.locator("td a").nth(1)  # the row's MQL count (Lead, MQL, SAL, ...)
    count = int(sql_link.inner_text().replace(",", ""))
    with page.expect_navigation():
        sql_link.click()
    assert "source_channel" in parse_qs(urlsplit(page.url).query)
    assert shown_total(page) == count
    page.go_back()

    # Download the breakdown table as CSV: same period and breakdown, a header row, plain numbers.
    with page.expect_download() as download_info:
        page.get_by_test_id("csv-breakdown").click()
    download = download_info.value
    assert download.suggested_filename == f"baton-funnel-breakdown-created-channel-{first_day}-to-{last_day}.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["Key", "Group", "Lead", "MQL"]
    on_page = page.get_by_test_id("breakdown-row").count()
    assert len(rows) - 1 == on_page
    assert sum(int(r[3]) for r in rows[1:]) == mql_count  # the groups' MQLs add up to the bar
    screenshot(top(page), "manager-funnel-after-download")
