"""The lead page's "Change stage" and SQL: a manager sees SQL exists and what it needs (a logged
discovery call with complete BANT), with a link to the call form, and a posted `sql` (or any
move the page does not make) answers with the lifecycle's own rule, writing nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from handoff.services import sql_guard
from leads import lifecycle
from leads.lifecycle import Stage
from leads.models import Lead
from tests.factories import CampaignFactory, lead_at_stage

pytestmark = pytest.mark.django_db

BANT_RULE = "No lead becomes an SQL without a logged discovery call whose BANT is complete and qualifies"
SQL_HINT = "SQL needs a logged discovery call with complete BANT: log the discovery call."


def text_of(html: str) -> str:
    """The page's text without tags and with collapsed whitespace, as a reader sees it."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()
    return re.sub(r" ([.,:;])", r"\1", text)  # a link or a tag ending before the stop


def stage_card(html: str) -> str:
    """The "Change stage" card of a lead page."""
    match = re.search(r'<section[^>]*id="stage-change".*?</section>', html, flags=re.S)
    assert match, "no Change stage card on the page"
    return match.group(0)


def tag(html: str, pattern: str) -> str:
    match = re.search(pattern, html, flags=re.S)
    assert match, f"{pattern!r} not found"
    return match.group(0)


def describedby(element: str) -> list[str]:
    match = re.search(r'aria-describedby="([^"]*)"', element)
    return match.group(1).split() if match else []


def history_of(lead: Lead) -> list[tuple[str, str]]:
    return list(lead.transitions.order_by("at", "id").values_list("from_stage", "to_stage"))


def post_move(client, lead: Lead, to: str, reason: str = ""):  # type: ignore[no-untyped-def]
    return client.post(reverse("leads:transition", args=[lead.pk]), {"to": to, "reason": reason})


# --- the page shows SQL, disabled, and what it needs --------------------------------------------


@pytest.mark.parametrize("stage", [Stage.SAL, Stage.MQL])
def test_a_manager_sees_sql_disabled_with_the_reason_and_a_link_to_the_call_form(client, manager, stage):
    lead = lead_at_stage(stage)
    client.force_login(manager)

    card = stage_card(client.get(lead.get_absolute_url()).content.decode())

    select = tag(card, r'<select name="to"[^>]*>')
    option = tag(card, r'<option value="sql"[^>]*>[^<]*</option>')
    assert " disabled" in option
    assert "SQL" in text_of(option)
    hint = tag(card, r'<p[^>]*id="stage-change-sql-hint"[^>]*>.*?</p>')
    assert text_of(hint) == SQL_HINT
    # Both the disabled option and the select are described by the hint.
    assert describedby(option) == ["stage-change-sql-hint"]
    assert "stage-change-sql-hint" in describedby(select)
    link = tag(hint, r'<a href="([^"]+)"')
    assert unescape(link.split('"')[1]) == reverse("handoff:work_lead", args=[lead.pk]) + "#discovery-call"
    # SQL is shown, never offered: the enabled options are the moves the page makes.
    enabled = re.findall(r'<option value="([^"]+)"(?![^>]*disabled)', card)
    assert enabled == ["recycled", "disqualified"]


def test_the_reason_is_shown_without_the_link_to_who_may_not_open_the_call_form(client, marketer):
    lead = lead_at_stage(Stage.SAL)
    client.force_login(marketer)  # changes leads, but does not work them in handoff

    card = stage_card(client.get(lead.get_absolute_url()).content.decode())

    hint = tag(card, r'<p[^>]*id="stage-change-sql-hint"[^>]*>.*?</p>')
    assert text_of(hint).startswith("SQL needs a logged discovery call with complete BANT:")
    assert "<a " not in hint
    assert reverse("handoff:work_lead", args=[lead.pk]) not in card


@pytest.mark.parametrize("stage", [Stage.LEAD, Stage.RECYCLED, Stage.DISQUALIFIED])
def test_sql_is_not_shown_where_the_lifecycle_does_not_lead_to_it(client, manager, stage):
    lead = lead_at_stage(stage)
    client.force_login(manager)

    card = stage_card(client.get(lead.get_absolute_url()).content.decode())

    assert 'value="sql"' not in card
    assert "stage-change-sql-hint" not in card


def test_the_managers_lead_page_runs_as_many_queries_as_before(client, manager, sdr, django_assert_num_queries):
    lead = lead_at_stage(Stage.SAL, owner=sdr, campaign=CampaignFactory())
    client.force_login(manager)

    # As for a marketer (tests/leads/test_pages.py): the hint and its link cost no query.
    with django_assert_num_queries(12):
        response = client.get(lead.get_absolute_url())
    assert "stage-change-sql-hint" in response.content.decode()


# --- a posted `sql` answers the BANT rule ---------------------------------------------------------


def test_posting_sql_without_a_call_answers_the_bant_rule_on_the_form_and_writes_nothing(client, manager):
    lead = lead_at_stage(Stage.SAL)
    before = history_of(lead)
    client.force_login(manager)

    response = post_move(client, lead, "sql", reason="Trust me, they are ready")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" not in html
    card = stage_card(html)
    error = tag(card, r'<div class="invalid-feedback[^"]*" id="id_to_error">.*?</div>')
    assert text_of(error).startswith(BANT_RULE)
    select = tag(card, r'<select name="to"[^>]*>')
    assert 'aria-invalid="true"' in select
    assert "is-invalid" in select
    assert "id_to_error" in describedby(select)
    assert "Trust me, they are ready" in card  # what was typed is kept
    # The refused SQL is not shown as the choice: a second submit must not send nothing.
    assert " selected" not in tag(card, r'<option value="sql"[^>]*>')
    assert f"The stage was not changed. {BANT_RULE}" in text_of(html)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert lead.qualifying_call_id is None
    assert history_of(lead) == before


def test_posting_sql_from_mql_answers_the_bant_rule_too(client, manager):
    lead = lead_at_stage(Stage.MQL)
    client.force_login(manager)

    response = post_move(client, lead, "sql")

    assert BANT_RULE in text_of(stage_card(response.content.decode()))
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_even_a_move_to_sql_the_lifecycle_would_allow_is_left_to_the_call(client, manager):
    """With the BANT guard out of the way, the page still does not convert: logging the call
    does, which also opens the opportunity. The manager is told where."""
    lead = lead_at_stage(Stage.SAL)
    before = history_of(lead)
    client.force_login(manager)
    lifecycle.unregister_guard(Stage.SQL, sql_guard)
    try:
        response = post_move(client, lead, "sql")
    finally:
        lifecycle.register_guard(Stage.SQL, sql_guard)

    error = tag(stage_card(response.content.decode()), r'<div[^>]*id="id_to_error">.*?</div>')
    assert "A lead becomes SQL when its qualifying discovery call is logged" in text_of(error)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert history_of(lead) == before


# --- other moves the page does not make answer the lifecycle too ---------------------------------


def test_posting_customer_from_mql_answers_the_lifecycle_rule(client, manager):
    lead = lead_at_stage(Stage.MQL)
    before = history_of(lead)
    client.force_login(manager)

    response = post_move(client, lead, "customer", reason="Signed already")

    html = response.content.decode()
    assert "Select a valid choice" not in html
    error = tag(stage_card(html), r'<div[^>]*id="id_to_error">.*?</div>')
    assert text_of(error) == (
        "A lead at MQL cannot move to Customer; from MQL it can move to: SAL, SQL, Disqualified, Recycled."
    )
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert history_of(lead) == before


def test_a_value_that_is_no_stage_is_still_refused_by_the_form(client, manager):
    lead = lead_at_stage(Stage.MQL)
    client.force_login(manager)

    response = post_move(client, lead, "banana")

    card = stage_card(response.content.decode())
    assert "Select a valid choice" in text_of(card)
    assert 'aria-invalid="true"' in tag(card, r'<select name="to"[^>]*>')
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
