"""Journey: a marketer edits a rule in a draft, previews it on current data, publishes it and
watches the rescoring progress bar finish; then reads the explanations on the list and lead page.

Celery runs eagerly here (tasks execute inside the request), so jobs are finished when their page
loads: the finished state must render on its own. A second test moves a job along from the test
while the page polls it, to watch static/js/jobs.js follow it.

Screenshots: tests/e2e/screenshots/scoring-*.png (git-ignored).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from leads import services
from leads.models import (
    ActivityType,
    Channel,
    CompanySize,
    Industry,
    Job,
    JobStatus,
    Lead,
    ScoringModel,
    ScoringModelStatus,
)
from tests import factories
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = pytest.mark.e2e


def path_of(page) -> str:  # type: ignore[no-untyped-def]
    return urlsplit(page.url).path


@pytest.fixture
def leads(transactional_db):  # type: ignore[no-untyped-def]
    """Four VPs at mid-size software companies (fit 55) who attended two webinars and saw the
    pricing page (engagement 32, short of v1's 40), and two leads with no engagement."""
    now = timezone.now()
    webinar = ActivityType.objects.get(code="webinar_attended")
    pricing = ActivityType.objects.get(code="pricing_page_view")
    engaged = []
    for index, (first, last) in enumerate(
        [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Katherine", "Johnson"), ("Dorothy", "Vaughan")]
    ):
        company = CompanyFactory(industry=Industry.SOFTWARE, size=CompanySize.S_201_1000, country="US")
        lead = LeadFactory(
            first_name=first,
            last_name=last,
            job_title="VP Marketing",
            company=company,
            source_channel=Channel.WEBINAR if index % 2 == 0 else Channel.PAID_SEARCH,
        )
        ActivityFactory(lead=lead, type=webinar, occurred_at=now - timedelta(days=1))
        ActivityFactory(lead=lead, type=webinar, occurred_at=now - timedelta(hours=3))
        ActivityFactory(lead=lead, type=pricing, occurred_at=now - timedelta(hours=1))
        engaged.append(lead)
    cold = [LeadFactory(first_name="Alan", last_name="Turing"), LeadFactory(first_name="Edsger", last_name="Dijkstra")]
    services.scoring_rescore_leads(lead_ids=[lead.pk for lead in engaged + cold])
    return {"engaged": engaged, "cold": cold}


def test_a_marketer_edits_a_draft_previews_and_publishes_it(leads, page, log_in, screenshot):
    marketer = factories.marketer(username="e2e-scoring")
    log_in(page, marketer.username)

    # The scoring page shows the active model in words.
    page.goto(reverse("leads:scoring"))
    expect(page.get_by_role("heading", name="Active model: v1 · Baseline B2B model")).to_be_visible()
    expect(page.get_by_test_id("engagement-rules")).to_contain_text("Webinar attended")
    screenshot(page, "scoring-overview")

    # "Edit a draft" opens a copy of the active model.
    page.get_by_role("button", name="Edit a draft").click()
    page.wait_for_url("**/scoring/drafts/*/")
    draft = ScoringModel.objects.get(status=ScoringModelStatus.DRAFT)
    expect(page.get_by_role("heading", name=f"Draft v{draft.version}", exact=False).first).to_be_visible()

    # The fit rule form offers only the operators and values that suit the attribute.
    page.get_by_role("link", name="Add a fit rule").click()
    page.get_by_label("When").select_option("industry")
    operators = page.locator("select[name=operator] option:not([hidden])")
    expect(operators).to_have_text(["is one of", "is none of"])
    expect(page.get_by_text("Industries", exact=True)).to_be_visible()
    expect(page.locator("textarea[name=values_text]")).to_be_hidden()
    page.get_by_label("When").select_option("free_mail")
    expect(operators).to_have_text(["is true"])
    expect(page.get_by_text("Industries", exact=True)).to_be_hidden()
    page.get_by_label("When").select_option("job_title")
    expect(page.locator("textarea[name=values_text]")).to_be_visible()
    screenshot(page, "scoring-fit-rule-form")
    page.get_by_role("link", name="Cancel").click()

    # Raise the points for attending a webinar, so engaged leads reach the threshold.
    row = page.locator('tr[data-rule="webinar_attended"]')
    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Points").fill("25")
    page.get_by_label("Cap").fill("50")
    screenshot(page, "scoring-engagement-rule-form")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("Engagement rule for “Webinar attended” saved.")).to_be_visible()
    expect(page.locator('tr[data-rule="webinar_attended"]')).to_contain_text("+25")

    # The preview on current data: more leads would be MQL under the draft.
    page.get_by_test_id("preview-button").click()
    page.wait_for_url("**/scoring/drafts/*/#preview")
    active_mql = int(page.get_by_test_id("active-mql").inner_text())
    draft_mql = int(page.get_by_test_id("draft-mql").inner_text())
    assert (active_mql, draft_mql) == (0, 4)
    expect(page.get_by_test_id("mql-difference")).to_have_text("+4")
    expect(page.get_by_test_id("gained-count")).to_have_text("4")
    expect(page.get_by_test_id("gained-leads")).to_contain_text("Ada Lovelace")
    expect(page.get_by_test_id("preview-stale")).to_have_count(0)
    screenshot(page, "scoring-preview")

    # Editing the draft after the preview marks the preview out of date.
    page.locator('tr[data-rule="webinar_attended"]').get_by_role("link", name="Edit").click()
    page.get_by_label("Points").fill("26")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_test_id("preview-stale")).to_be_visible()
    page.get_by_test_id("preview-stale").get_by_role("button", name="Run the preview again").click()
    expect(page.get_by_test_id("preview-stale")).to_have_count(0)
    expect(page.get_by_test_id("draft-mql")).to_have_text("4")

    # Publish (after confirming): the progress bar ends finished, with what happened.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("publish-button").click()
    page.wait_for_url("**/scoring/?published=*")
    result = page.get_by_test_id("publish-result")
    expect(result).to_contain_text("Rescored 6 leads in")
    expect(result).to_contain_text("4 became MQL")
    bar = page.locator("#publish-job [data-job-bar]")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    fill = page.locator("#publish-job .progress-bar")
    expect(fill).to_have_text("100%")
    track_width, fill_width = bar.bounding_box()["width"], fill.bounding_box()["width"]
    assert fill_width == pytest.approx(track_width, abs=2), "the finished bar must be full"
    expect(page.get_by_role("heading", name=f"Active model: v{draft.version}", exact=False)).to_be_visible()
    screenshot(page, "scoring-published")
    assert Lead.objects.filter(stage="mql").count() == 4

    # The lead list explains each score in a popover, from the row's own explanation.
    ada = leads["engaged"][0]
    page.goto(reverse("leads:list"))
    page.locator(f'[data-score-explain="explain-{ada.pk}-engagement"]').hover()
    popover = page.locator(".popover.score-popover")
    expect(popover).to_be_visible()
    expect(popover).to_contain_text("Webinar attended")
    expect(popover).to_contain_text("+50")
    screenshot(page, "scoring-list-explanation")

    # The lead page lists the parts of both scores and which version scored it.
    page.goto(ada.get_absolute_url())
    expect(page.get_by_test_id("fit-parts")).to_contain_text("C-level or VP")
    expect(page.get_by_test_id("engagement-parts")).to_contain_text("Webinar attended")
    expect(page.get_by_test_id("scored-with")).to_contain_text(f"Scored with v{draft.version}")
    screenshot(page, "scoring-lead-explanation")


def test_the_progress_bar_follows_a_running_job_to_its_end(leads, page, log_in, screenshot):
    marketer = factories.marketer(username="e2e-watcher")
    model = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    job = Job.objects.create(
        kind="rescore_all",
        status=JobStatus.RUNNING,
        total=4,
        done=1,
        params={"model_id": model.pk},
        created_by=marketer,
        started_at=timezone.now(),
    )
    log_in(page, marketer.username)

    page.goto(f"{reverse('leads:scoring')}?published={job.pk}")
    bar = page.locator("#publish-job [data-job-bar]")
    expect(bar).to_have_attribute("aria-valuenow", "25")
    expect(page.locator("#publish-job [data-job-count]")).to_have_text("1 of 4 batches")
    screenshot(page, "scoring-progress-running")

    Job.objects.filter(pk=job.pk).update(done=3)
    expect(bar).to_have_attribute("aria-valuenow", "75")

    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        done=4,
        finished_at=timezone.now(),
        result={"leads": 12345, "promoted": 67, "seconds": 4.2},
    )
    expect(page.get_by_test_id("publish-result")).to_have_text(
        "Rescored 12,345 leads in 4.2 s; 67 became MQL.", use_inner_text=True
    )
    expect(page.locator("#publish-job [data-job-bar]")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#publish-job")).to_have_attribute("data-job-finished", "true")
    assert path_of(page) == reverse("leads:scoring")  # swapped in place, not navigated
    screenshot(page, "scoring-progress-finished")
