"""The lead pages as a person uses them: list, lead page, create/edit, stage changes, access."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads import forms, services
from leads.forms import LeadCreateForm, add_service_errors
from leads.lifecycle import Actor, Stage
from leads.models import Channel, CompanySize, Lead
from leads.views import LeadListView
from tests.factories import ActivityFactory, CampaignFactory, CompanyFactory, LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db

LIST_URL = "/leads/"


def listed(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The emails of the leads on the page, in order."""
    return [row.email for row in response.context["rows"]]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text without tags and with collapsed whitespace, as a reader sees it."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name", "needs_lead"),
    [
        ("get", "leads:list", False),
        ("get", "leads:create", False),
        ("get", "leads:detail", True),
        ("get", "leads:edit", True),
        ("post", "leads:transition", True),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, method, name, needs_lead):
    lead = LeadFactory()
    url = reverse(name, args=[lead.pk]) if needs_lead else reverse(name)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.LEAD


def test_a_user_without_a_role_is_refused_the_list_and_told_why(client, no_role_user):
    client.force_login(no_role_user)

    response = client.get(LIST_URL)

    assert response.status_code == 403
    assert "Your account has no role yet" in text_of(response)


def test_an_sdr_reads_leads_but_cannot_create_edit_or_move_them(client, sdr):
    lead = LeadFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(sdr)

    listing = client.get(LIST_URL)
    page = client.get(lead.get_absolute_url())

    assert listing.status_code == 200
    assert "Ada Lovelace" in text_of(listing)
    assert "New lead" not in text_of(listing)
    assert page.status_code == 200
    assert reverse("leads:edit", args=[lead.pk]) not in page.content.decode()
    assert "Change stage" not in text_of(page)
    assert client.get(reverse("leads:create")).status_code == 403
    assert client.post(reverse("leads:create"), {"email": "new@acme.example"}).status_code == 403
    assert client.get(reverse("leads:edit", args=[lead.pk])).status_code == 403
    assert client.post(reverse("leads:edit", args=[lead.pk]), {"job_title": "CEO"}).status_code == 403
    moved = client.post(reverse("leads:transition", args=[lead.pk]), {"to": "mql", "reason": "keen"})
    assert moved.status_code == 403
    lead.refresh_from_db()
    assert (lead.stage, lead.job_title) == (Stage.LEAD, "Head of Marketing")
    assert not Lead.objects.filter(email="new@acme.example").exists()


@pytest.mark.parametrize("name", ["leads:detail", "leads:edit"])
def test_a_missing_lead_is_404(client, marketer, name):
    client.force_login(marketer)

    response = client.get(reverse(name, args=[999_999]))

    assert response.status_code == 404
    assert "Page not found" in text_of(response)


def test_moving_a_missing_lead_is_404(client, marketer):
    client.force_login(marketer)
    response = client.post(reverse("leads:transition", args=[999_999]), {"to": "mql", "reason": "x"})
    assert response.status_code == 404


def test_the_transition_url_only_accepts_post(client, marketer):
    lead = LeadFactory()
    client.force_login(marketer)
    assert client.get(reverse("leads:transition", args=[lead.pk])).status_code == 405


# --- the lead list ----------------------------------------------------------------------------


def test_the_list_shows_what_a_row_needs(client, marketer, sdr):
    campaign = CampaignFactory(name="Q3 Pipeline Webinar")
    company = CompanyFactory(name="Analytical Engines", domain="analytical.example", size=CompanySize.S_5000_PLUS)
    LeadFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@analytical.example",
        job_title="Chief Mathematician",
        company=company,
        source_channel=Channel.WEBINAR,
        campaign=campaign,
        owner=sdr,
        fit_score=42,
        engagement_score=17,
    )
    client.force_login(marketer)

    text = text_of(client.get(LIST_URL))

    for shown in (
        "Ada Lovelace",
        "ada@analytical.example",
        "Analytical Engines",
        "Enterprise",
        "Chief Mathematician",
        "Lead",
        "42",
        "17",
        "Webinar",
        "Q3 Pipeline Webinar",
        sdr.get_full_name(),
        "Showing 1–1 of 1 lead",
    ):
        assert shown in text, f"{shown!r} missing from the lead list"


def test_the_count_of_leads_reads_ids_only(client, marketer):
    """At a million leads, counting ten thousand whole rows (joins and explanations) took 20 ms,
    and their ids through the rows' joins 25 ms (the table read); the ids alone take 4 ms."""
    LeadFactory.create_batch(3, company=CompanyFactory(), campaign=CampaignFactory())
    client.force_login(marketer)
    with CaptureQueriesContext(connection) as captured:
        assert "Showing 1–3 of 3 leads" in text_of(client.get(LIST_URL))
    (count,) = [query["sql"] for query in captured if query["sql"].startswith("SELECT COUNT(*) FROM (SELECT")]
    # The ids alone, without the rows' joins: with them, PostgreSQL counted by reading the table.
    assert count.startswith('SELECT COUNT(*) FROM (SELECT "leads_lead"."id" AS "pk" FROM "leads_lead" ')
    assert "JOIN" not in count


def test_a_row_without_company_campaign_or_owner_says_so(client, marketer):
    LeadFactory(first_name="", last_name="", email="nobody@gmail.com", company=None, campaign=None, owner=None,
                job_title="")  # fmt: skip
    client.force_login(marketer)

    row = squash(text_of(client.get(LIST_URL)).split("Created", 1)[1])

    assert row.startswith("nobody@gmail.com nobody@gmail.com Lead — — Lead 0")  # the name falls back to the email
    assert "Unassigned" in row
    assert "None" not in row


def test_search_finds_leads_by_name_email_or_company(client, marketer):
    ada = LeadFactory(first_name="Ada", last_name="Lovelace", email="ada@engines.example")
    grace = LeadFactory(first_name="Grace", last_name="Hopper", email="grace@navy.example")
    alan = LeadFactory(
        first_name="Alan",
        last_name="Turing",
        email="alan@bletchley.example",
        company=CompanyFactory(name="Bletchley Park", domain="bletchley.example"),
    )
    client.force_login(marketer)

    assert listed(client.get(LIST_URL, {"q": "lovelace"})) == [ada.email]
    assert listed(client.get(LIST_URL, {"q": "grace@navy"})) == [grace.email]
    assert listed(client.get(LIST_URL, {"q": "bletchley park"})) == [alan.email]
    response = client.get(LIST_URL, {"q": "nobody-like-this"})
    assert listed(response) == []
    assert "No leads match these filters" in text_of(response)


def test_stage_filter_takes_several_stages(client, marketer):
    new = LeadFactory()
    mql = lead_at_stage(Stage.MQL)
    sal = lead_at_stage(Stage.SAL)
    client.force_login(marketer)

    response = client.get(LIST_URL, {"stage": ["mql", "sal"]})

    assert sorted(listed(response)) == sorted([mql.email, sal.email])
    assert new.email not in listed(response)
    assert "Stage: MQL" in text_of(response)  # the active filters are shown as removable chips


def test_owner_filter_finds_unassigned_leads(client, marketer, sdr):
    mine = LeadFactory(owner=sdr)
    nobodys = LeadFactory()
    client.force_login(marketer)

    assert listed(client.get(LIST_URL, {"owner": "null"})) == [nobodys.email]
    assert listed(client.get(LIST_URL, {"owner": sdr.pk})) == [mine.email]


def test_score_ranges_channel_campaign_and_segment_filters(client, marketer):
    campaign = CampaignFactory()
    small = CompanyFactory(size=CompanySize.S_1_10)
    cold = LeadFactory(fit_score=5, engagement_score=5)
    warm = LeadFactory(fit_score=40, engagement_score=20, source_channel=Channel.EVENT, company=small)
    hot = LeadFactory(fit_score=80, engagement_score=90, campaign=campaign)
    client.force_login(marketer)

    assert listed(client.get(LIST_URL, {"fit_min": 30, "fit_max": 50})) == [warm.email]
    assert sorted(listed(client.get(LIST_URL, {"engagement_min": 20}))) == sorted([warm.email, hot.email])
    assert listed(client.get(LIST_URL, {"engagement_max": 10})) == [cold.email]
    assert listed(client.get(LIST_URL, {"source_channel": "event"})) == [warm.email]
    assert listed(client.get(LIST_URL, {"campaign": campaign.pk})) == [hot.email]
    assert listed(client.get(LIST_URL, {"segment": "smb"})) == [warm.email]


def test_sorting_by_fit_and_by_name(client, marketer):
    low = LeadFactory(first_name="Zed", last_name="Zimmer", fit_score=1)
    high = LeadFactory(first_name="Amy", last_name="Adams", fit_score=90)
    mid = LeadFactory(first_name="Max", last_name="Miller", fit_score=50)
    client.force_login(marketer)

    assert listed(client.get(LIST_URL, {"sort": "fit"})) == [high.email, mid.email, low.email]
    assert listed(client.get(LIST_URL, {"sort": "name"})) == [high.email, mid.email, low.email]
    assert listed(client.get(LIST_URL, {"sort": "oldest"})) == [low.email, high.email, mid.email]
    # An unknown sort falls back to newest first rather than failing.
    assert listed(client.get(LIST_URL, {"sort": "bogus"})) == [mid.email, high.email, low.email]


def test_next_and_previous_pages_keep_the_filters(client, marketer, monkeypatch):
    monkeypatch.setattr(LeadListView, "per_page", 2)
    leads = [LeadFactory(fit_score=score) for score in (10, 20, 30, 40, 50)]
    LeadFactory(fit_score=1)  # filtered out by fit_min below
    by_fit = [lead.email for lead in sorted(leads, key=lambda lead: -lead.fit_score)]
    client.force_login(marketer)

    first = client.get(LIST_URL, {"sort": "fit", "fit_min": 5})
    assert listed(first) == by_fit[:2]
    assert "Showing 1–2 of 5 leads" in text_of(first)
    next_cursor = first.context["page"].next_cursor

    second = client.get(LIST_URL, {"sort": "fit", "fit_min": 5, "cursor": next_cursor})
    assert listed(second) == by_fit[2:4]
    assert "Showing 3–4 of 5 leads" in text_of(second)
    # The links carry the sort and the filters along with the cursor.
    html = second.content.decode()
    previous_link = re.search(r'rel="prev" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    for link in (previous_link, next_link):
        assert "sort=fit" in link
        assert "fit_min=5" in link

    third = client.get(LIST_URL + next_link)
    assert listed(third) == by_fit[4:]
    assert "Showing 5–5 of 5 leads" in text_of(third)
    back = client.get(LIST_URL + previous_link)
    assert listed(back) == by_fit[:2]


def test_a_bad_cursor_says_so_and_links_to_the_first_page(client, marketer):
    LeadFactory()
    client.force_login(marketer)

    response = client.get(LIST_URL, {"cursor": "not-a-real-cursor", "stage": "lead"})

    assert response.status_code == 200
    text = text_of(response)
    assert "The page cursor is invalid or out of date" in text
    assert "Go to the first page" in text
    assert 'href="?stage=lead"' in response.content.decode()


def test_a_bad_filter_value_is_shown_next_to_the_filter(client, marketer):
    LeadFactory()
    client.force_login(marketer)

    response = client.get(LIST_URL, {"fit_min": "lots", "stage": "nonsense"})

    assert response.status_code == 200
    text = text_of(response)
    assert "Minimum: Enter a number." in text
    assert "Select a valid choice. nonsense is not one of the available choices." in text
    assert "Fix the highlighted fields" in text
    assert response.context["page"] is None


def test_empty_list_invites_creating_a_lead(client, marketer):
    client.force_login(marketer)
    text = text_of(client.get(LIST_URL))
    assert "No leads yet" in text
    assert "New lead" in text


def _leads_with_everything(count: int, owner) -> None:  # type: ignore[no-untyped-def]
    campaign = CampaignFactory()
    for _ in range(count):
        LeadFactory(owner=owner, campaign=campaign)


@pytest.mark.parametrize("count", [5, 30])
def test_the_list_runs_a_fixed_number_of_queries(client, marketer, sdr, count, django_assert_num_queries):
    _leads_with_everything(count, owner=sdr)
    client.force_login(marketer)

    # user, user's permissions, roles for the menu, page rows, capped count,
    # campaign and owner choices for the filter form.
    with django_assert_num_queries(8):
        response = client.get(LIST_URL, {"sort": "fit"})
    assert len(listed(response)) == count


def test_filtering_by_campaign_and_owner_adds_only_their_lookups(client, marketer, sdr, django_assert_num_queries):
    _leads_with_everything(12, owner=sdr)
    campaign = Lead.objects.first().campaign
    client.force_login(marketer)

    with django_assert_num_queries(10):  # + validating the campaign and the owner ids
        response = client.get(LIST_URL, {"campaign": campaign.pk, "owner": sdr.pk})
    assert len(listed(response)) == 12


# --- the lead page ----------------------------------------------------------------------------


def test_the_lead_page_shows_profile_company_scores_attribution_timeline_and_history(client, marketer, sdr):
    campaign = CampaignFactory(name="Brand search EMEA")
    company = CompanyFactory(name="Analytical Engines", domain="analytical.example", country="GB")
    lead = lead_at_stage(
        Stage.MQL,
        actor_user=marketer,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@analytical.example",
        job_title="Chief Mathematician",
        phone="+44 20 7946 0018",
        company=company,
        source_channel=Channel.PAID_SEARCH,
        source_detail="utm_source=google / cpc",
        campaign=campaign,
        owner=sdr,
        fit_score=33,
        engagement_score=21,
    )
    ActivityFactory(lead=lead, properties={"topic": "Lead scoring 101", "url": "/ebooks/scoring"})
    client.force_login(marketer)

    response = client.get(lead.get_absolute_url())

    assert response.status_code == 200
    text = text_of(response)
    for shown in (
        "Ada Lovelace",
        "ada@analytical.example",
        "Chief Mathematician",
        "+44 20 7946 0018",
        "Analytical Engines",
        "analytical.example",
        "Software & SaaS",
        "51–200 employees",
        "Mid-market",
        "United Kingdom",
        "33",
        "21",
        "Paid search",
        "utm_source=google / cpc",
        "Brand search EMEA",
        sdr.get_full_name(),
        "Page view",
        "Lead scoring 101",
        "/ebooks/scoring",
        marketer.get_full_name(),
        "test: to mql",
        "Rule: test factory",
        "Created",
    ):
        assert shown in text, f"{shown!r} missing from the lead page"
    steps = {step.stage: step.state for step in response.context["funnel"]}
    assert (steps[Stage.LEAD], steps[Stage.MQL], steps[Stage.SAL]) == ("done", "current", "todo")


def test_a_recycled_lead_shows_where_it_got_to_and_why_it_left(client, marketer):
    lead = lead_at_stage(Stage.SAL)
    services.lead_transition(lead_id=lead.pk, to=Stage.RECYCLED, actor=Actor(user=marketer), reason="No budget")
    client.force_login(marketer)

    response = client.get(lead.get_absolute_url())

    steps = {step.stage: step.state for step in response.context["funnel"]}
    assert (steps[Stage.MQL], steps[Stage.SAL], steps[Stage.SQL]) == ("done", "done", "todo")
    text = text_of(response)
    assert "Recycled since" in text
    assert "No budget" in text


def test_the_lead_page_runs_a_fixed_number_of_queries(client, marketer, sdr, django_assert_num_queries):
    lead = lead_at_stage(Stage.SAL, actor_user=marketer, owner=sdr, campaign=CampaignFactory())
    for _ in range(6):
        ActivityFactory(lead=lead)
    client.force_login(marketer)

    # user, permissions, roles, unread notifications, the lead with company/owner/campaign,
    # stage history with actors, activities with their types, likely duplicates, merges, and the
    # handoff panel (assignment with its clock, calls, opportunity).
    with django_assert_num_queries(12):
        response = client.get(lead.get_absolute_url())
    assert len(response.context["timeline"]) == 6


# --- create and edit --------------------------------------------------------------------------


def test_a_marketer_creates_a_lead(client, marketer, sdr):
    campaign = CampaignFactory(name="Q3 Webinar")
    client.force_login(marketer)

    response = client.post(
        reverse("leads:create"),
        {
            "email": "  Grace.Hopper@Navy.Example ",
            "first_name": "Grace",
            "last_name": "Hopper",
            "job_title": "Rear Admiral",
            "phone": "+1 415 555 0100",
            "company_name": "US Navy",
            "source_channel": "event",
            "source_detail": "Booth at SaaStr",
            "campaign": campaign.pk,
            "owner": sdr.pk,
        },
        follow=True,
    )

    lead = Lead.objects.get(email="grace.hopper@navy.example")
    assert response.redirect_chain[-1][0] == lead.get_absolute_url()
    assert "Lead Grace Hopper created." in text_of(response)
    assert (lead.company.name, lead.company.domain) == ("US Navy", "navy.example")
    assert (lead.source_channel, lead.campaign, lead.owner, lead.stage) == (
        "event",
        campaign,
        sdr,
        Stage.LEAD,
    )
    (created,) = lead.transitions.all()
    assert created.actor_user == marketer


def test_a_manager_may_create_leads_too(client, manager):
    client.force_login(manager)
    response = client.post(reverse("leads:create"), {"email": "lin@acme.example", "source_channel": "other"})
    assert response.status_code == 302
    assert Lead.objects.filter(email="lin@acme.example").exists()


def test_creating_a_lead_whose_email_exists_says_so_on_the_email_field(client, marketer):
    LeadFactory(email="ada@engines.example")
    client.force_login(marketer)

    response = client.post(
        reverse("leads:create"),
        {"email": "ADA@engines.example", "first_name": "Ada", "source_channel": "other"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["A lead with the email ada@engines.example already exists."]
    assert "already exists" in text_of(response)
    assert 'value="Ada"' in response.content.decode()  # what was typed is kept
    assert Lead.objects.count() == 1


def test_create_form_errors_name_their_fields_and_write_nothing(client, marketer):
    client.force_login(marketer)

    response = client.post(
        reverse("leads:create"),
        {"email": "not-an-email", "phone": "call me maybe", "source_channel": "carrier-pigeon"},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"email", "phone", "source_channel"}
    assert "Enter a valid email address." in text_of(response)
    assert "Nothing was saved: fix the highlighted fields below." in text_of(response)
    assert not Lead.objects.exists()


def test_service_errors_for_fields_the_form_lacks_go_above_the_form():
    form = LeadCreateForm(data={"email": "a@b.example", "source_channel": "other"})
    assert form.is_valid()

    add_service_errors(form, ValidationError({"email": "Taken.", "company": "Company is archived."}))

    assert form.errors["email"] == ["Taken."]
    assert form.non_field_errors() == ["Company: Company is archived."]


def test_a_marketer_edits_a_lead(client, marketer, sdr):
    lead = LeadFactory(first_name="Ada", job_title="Analyst")
    client.force_login(marketer)
    form = client.get(reverse("leads:edit", args=[lead.pk]))
    assert form.status_code == 200
    data = dict(form.context["form"].initial)
    data.update({"job_title": "Chief Mathematician", "owner": sdr.pk, "campaign": ""})

    response = client.post(reverse("leads:edit", args=[lead.pk]), data, follow=True)

    assert response.redirect_chain[-1][0] == lead.get_absolute_url()
    assert f"Changes to {lead} saved." in text_of(response)
    lead.refresh_from_db()
    assert (lead.job_title, lead.owner, lead.first_name, lead.stage) == (
        "Chief Mathematician",
        sdr,
        "Ada",
        "lead",
    )


def test_saving_an_unchanged_lead_says_nothing_changed(client, marketer):
    lead = LeadFactory()
    client.force_login(marketer)
    initial = client.get(reverse("leads:edit", args=[lead.pk])).context["form"].initial
    data = {key: "" if value is None else value for key, value in initial.items()}

    response = client.post(reverse("leads:edit", args=[lead.pk]), data)

    assert response.status_code == 302
    assert messages_of(response) == ["Nothing changed."]


def test_an_edit_with_a_bad_value_names_the_field_and_changes_nothing(client, marketer):
    lead = LeadFactory(job_title="Analyst", phone="")
    client.force_login(marketer)

    response = client.post(
        reverse("leads:edit", args=[lead.pk]),
        {"job_title": "CTO", "phone": "ring ring", "source_channel": "other"},
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["phone"]
    lead.refresh_from_db()
    assert (lead.job_title, lead.phone) == ("Analyst", "")


# --- stage changes ----------------------------------------------------------------------------


def test_a_marketer_moves_a_lead_to_mql_with_a_reason(client, marketer):
    lead = LeadFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(marketer)

    response = client.post(
        reverse("leads:transition", args=[lead.pk]),
        {"to": "mql", "reason": "Asked for pricing at the booth"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == lead.get_absolute_url()
    assert "Ada Lovelace moved to MQL." in text_of(response)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    last = lead.transitions.last()
    assert (last.actor_user, last.reason) == (marketer, "Asked for pricing at the booth")
    assert "Asked for pricing at the booth" in text_of(response)


def test_a_refused_stage_change_shows_why_and_keeps_the_stage(client, manager):
    lead = LeadFactory()
    client.force_login(manager)

    response = client.post(reverse("leads:transition", args=[lead.pk]), {"to": "disqualified", "reason": "  "})

    assert response.status_code == 200
    assert "A reason is required to move a lead to Disqualified." in text_of(response)
    assert re.search(r'<textarea name="reason"[^>]*class="form-control is-invalid"', response.content.decode())
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    assert lead.transitions.count() == 1


def test_a_move_the_lead_can_no_longer_make_is_refused_with_the_rule(client, marketer):
    lead = lead_at_stage(Stage.DISQUALIFIED)  # someone disqualified it after the page was opened
    client.force_login(marketer)

    response = client.post(reverse("leads:transition", args=[lead.pk]), {"to": "mql", "reason": "Looks keen"})

    text = text_of(response)
    assert "A lead at Disqualified cannot move to MQL" in text
    assert "Looks keen" in text  # the typed reason is kept in the form
    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED


def test_an_unknown_target_is_refused_by_the_form(client, marketer):
    lead = lead_at_stage(Stage.MQL)
    client.force_login(marketer)

    response = client.post(reverse("leads:transition", args=[lead.pk]), {"to": "sql", "reason": "skip"})

    assert "The stage was not changed" in text_of(response)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


@pytest.mark.parametrize(
    ("stage", "offered"),
    [
        (Stage.LEAD, ["mql", "recycled", "disqualified"]),
        (Stage.MQL, ["recycled", "disqualified"]),
        (Stage.SAL, ["recycled", "disqualified"]),
        (Stage.RECYCLED, ["mql", "disqualified"]),
        (Stage.DISQUALIFIED, ["recycled"]),
    ],
)
def test_the_stage_form_offers_only_the_moves_allowed_from_here(client, marketer, stage, offered):
    lead = lead_at_stage(stage)
    client.force_login(marketer)

    html = client.get(lead.get_absolute_url()).content.decode()

    select = re.search(r'<select name="to"[^>]*>(.*?)</select>', html, flags=re.S)
    assert re.findall(r'<option value="([^"]+)"(?![^>]*disabled)', select.group(1)) == offered


def test_a_lead_with_no_manual_moves_left_says_so_instead_of_a_form(client, marketer, monkeypatch):
    # Customer is the only such stage today; pretend only MQL is manual, which SAL cannot reach.
    monkeypatch.setattr(forms, "MANUAL_TARGETS", (Stage.MQL,))
    lead = lead_at_stage(Stage.SAL)
    client.force_login(marketer)

    response = client.get(lead.get_absolute_url())

    assert '<select name="to"' not in response.content.decode()
    assert "A lead at SAL cannot be moved from this page." in text_of(response)


# --- error pages ------------------------------------------------------------------------------


def test_an_unknown_address_gets_the_baton_404_page(client, marketer):
    client.force_login(marketer)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing at /no/such/page/" in text_of(response)


def test_the_500_page_renders_without_a_request():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
