"""Journey 1: each role signs in, lands on its first page, opens the lead list and a lead page.

Screenshots: tests/e2e/screenshots/<role>-<page>.png (git-ignored).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from crm.navigation import landing_url_for
from crm.roles import Role
from leads.lifecycle import Stage
from tests import factories
from tests.factories import LeadFactory, lead_at_stage

pytestmark = pytest.mark.e2e

ROLES = {"marketer": factories.marketer, "sdr": factories.sdr, "manager": factories.manager}
ROLE_NAMES = {"marketer": Role.MARKETER, "sdr": Role.SDR, "manager": Role.MANAGER}
# Who may create and edit leads (leads.add_lead, leads.change_lead): they see "New lead" on the
# list and "Change stage" on a lead's page; SDRs only read them.
CAN_EDIT_LEADS = {"marketer": True, "sdr": False, "manager": True}


@pytest.fixture
def leads(transactional_db):  # type: ignore[no-untyped-def]
    """A lead fresh in, an MQL and a sales-accepted lead, each with its recorded history."""
    return {
        "new": LeadFactory(first_name="Ada", last_name="Lovelace", email="ada@analytical.example"),
        "mql": lead_at_stage(Stage.MQL, first_name="Grace", last_name="Hopper", email="grace@navy.example"),
        "sal": lead_at_stage(Stage.SAL, first_name="Alan", last_name="Turing", email="alan@acm.example"),
    }


def path_of(page) -> str:  # type: ignore[no-untyped-def]
    return urlsplit(page.url).path


def bootstrap_is_applied(page) -> bool:  # type: ignore[no-untyped-def]
    """True when Bootstrap's stylesheet (node_modules, served as static files) is in effect."""
    script = "getComputedStyle(document.documentElement).getPropertyValue('--bs-body-font-family')"
    value = page.evaluate(script)
    return bool(value.strip())


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_signs_in_and_reads_the_lead_list_and_a_lead_page(role, leads, page, log_in, screenshot):
    user = ROLES[role](username=f"e2e-{role}")

    # Sign in through the login form and land on the role's first page.
    page.goto(reverse("leads:list"))
    assert path_of(page) == reverse("login"), "an anonymous visitor must be sent to sign in"
    assert bootstrap_is_applied(page), "Bootstrap's CSS did not load (static files)"
    screenshot(page, f"{role}-login")
    log_in(page, user.username)
    assert path_of(page) in {reverse("leads:list"), landing_url_for(user)}

    # The lead list, reached from the navigation, shows every lead.
    if path_of(page) != reverse("leads:list"):
        page.get_by_role("navigation").get_by_role("link", name="Leads", exact=True).click()
    page.wait_for_url(f"**{reverse('leads:list')}*")
    for lead in leads.values():
        expect(page.get_by_role("link", name=lead.full_name)).to_be_visible()
    screenshot(page, f"{role}-lead-list")

    # Only roles that may create leads are offered "New lead".
    new_lead = page.get_by_role("link", name="New lead")
    assert (new_lead.count() > 0) is CAN_EDIT_LEADS[role]
    if CAN_EDIT_LEADS[role]:
        assert new_lead.first.get_attribute("href") == reverse("leads:create")

    # A lead page shows the profile and the stage history the lifecycle recorded.
    lead = leads["sal"]
    page.get_by_role("link", name=lead.full_name).first.click()
    page.wait_for_url(f"**{reverse('leads:detail', args=[lead.pk])}")
    expect(page.get_by_role("heading", name=lead.full_name, level=1)).to_be_visible()
    expect(page.get_by_text(lead.email).first).to_be_visible()
    history = page.locator("#stage-history")
    expect(history.get_by_role("heading", name="Stage history")).to_be_visible()
    # Newest first: every move the lifecycle service recorded, with its actor and reason.
    expect(history.get_by_role("listitem")).to_contain_text(["test: to sal", "test: to mql", "Created"])
    assert (page.locator("#stage-change").count() > 0) is CAN_EDIT_LEADS[role]
    screenshot(page, f"{role}-lead-detail")

    # The user menu names the role; signing out leads back to the login page.
    page.locator(".user-menu .dropdown-toggle").click()
    expect(page.get_by_test_id("user-roles").get_by_text(ROLE_NAMES[role].value, exact=True)).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert path_of(page) == reverse("login")
