"""Re-qualification (issue 14, item 7): a lead that comes back from nurture and passes a new
discovery call becomes an SQL again, with a new opportunity — its first one stays closed as lost —
under the same rule as the first time (no SQL without a qualifying call since the latest entry into
MQL), and the history and the funnel count the second pass."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff import services
from handoff.models import Assignment, Opportunity, OpportunityStatus
from handoff.selectors import workspace
from leads import services as lead_services
from leads.lifecycle import Actor, Stage, TransitionRefused
from leads.models import Lead
from reporting import funnel_facts
from reporting import services as reporting_services
from reporting.funnel import Mode, funnel
from tests import factories
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db

SCORING = Actor.rule_named("Scoring model v1")


def qualify(lead: Lead, marketer: Any, **bant: Any) -> tuple[Any, Any]:
    """Hand the MQL off and have its rep log a qualifying call: (the rep, the call)."""
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    rep = Assignment.objects.get(lead=lead, is_open=True).rep
    return rep, services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(**bant))


@pytest.fixture
def twice(marketer, team, mql):  # type: ignore[no-untyped-def]
    """A lead qualified, rejected back to nurture, back in MQL by scoring, and qualified again."""
    lead = mql()
    rep, first = qualify(lead, marketer)
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=SCORING)
    _, second = qualify(lead, marketer, need_use_case="Route the new region's demo requests")
    return Lead.objects.get(pk=lead.pk), first, second


def test_the_second_pass_opens_a_new_opportunity_and_the_first_stays_lost(twice):
    lead, first, second = twice

    assert (lead.stage, lead.qualifying_call_id) == (Stage.SQL, second.pk)
    opportunities = list(Opportunity.objects.filter(lead=lead).order_by("created_at", "id"))
    assert [(o.discovery_call_id, o.status) for o in opportunities] == [
        (first.pk, OpportunityStatus.LOST),
        (second.pk, OpportunityStatus.OPEN),
    ]
    assert opportunities[0].closed_at == lead.transitions.get(to_stage=Stage.RECYCLED).at
    assert opportunities[1].closed_at is None
    assert opportunities[1].name.endswith("Route the new region's demo requests")


def test_the_work_page_shows_the_opportunity_in_play(marketer, team, mql):
    lead = mql()
    rep, _ = qualify(lead, marketer)
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    assert workspace.lead_opportunity(lead=lead) is None  # the lost one is history
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=SCORING)
    _, second = qualify(lead, marketer)

    assert workspace.lead_opportunity(lead=lead).discovery_call_id == second.pk


def test_the_history_keeps_both_passes(twice):
    lead, _, _ = twice

    history = list(lead.transitions.order_by("at", "id").values_list("from_stage", "to_stage"))

    assert history == [
        ("", "lead"),
        ("lead", "mql"),
        ("mql", "sql"),
        ("sql", "recycled"),
        ("recycled", "mql"),
        ("mql", "sql"),
    ]


def test_the_first_call_does_not_qualify_the_second_pass(marketer, team, mql):
    """The rule is the first time's: a qualifying call since the latest entry into MQL."""
    lead = mql()
    rep, first = qualify(lead, marketer)
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=SCORING)
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    rep = Assignment.objects.get(lead=lead, is_open=True).rep

    with pytest.raises(TransitionRefused) as refused:
        services.lead_convert_to_sql(lead_id=lead.pk, call_id=first.pk, user=rep)

    assert refused.value.code == "bant_stale"
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert not Opportunity.objects.filter(lead=lead, status=OpportunityStatus.OPEN).exists()


def test_a_disqualified_opportunity_is_lost_and_a_customer_wins_it(manager):
    lost = factories.lead_at_stage(Stage.OPPORTUNITY)
    services.lead_reject(lead_id=lost.pk, user=manager, to=Stage.DISQUALIFIED, reason_code="no_budget")
    won = factories.lead_at_stage(Stage.CUSTOMER)

    assert Opportunity.objects.get(lead=lost).status == OpportunityStatus.LOST
    assert Opportunity.objects.get(lead=won).status == OpportunityStatus.WON
    assert Opportunity.objects.get(lead=won).closed_at == won.transitions.get(to_stage=Stage.CUSTOMER).at


def test_one_open_opportunity_per_lead_in_the_database(twice):
    _, first, _ = twice
    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.filter(discovery_call=first).update(status=OpportunityStatus.OPEN, closed_at=None)


def test_a_lead_with_an_open_opportunity_is_not_converted_again(marketer, team, mql):
    """Only data from before re-qualification can hold an open opportunity out of sales."""
    lead = mql()
    rep, _ = qualify(lead, marketer)
    services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    Opportunity.objects.filter(lead=lead).update(status=OpportunityStatus.OPEN, closed_at=None)
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=SCORING)

    with pytest.raises(ValidationError) as error:
        qualify(lead, marketer)

    assert error.value.message_dict == {"lead": ["This lead already has an open opportunity."]}


# --- the funnel -----------------------------------------------------------------------------------


def test_flow_counts_every_pass_and_cohorts_count_the_lead_once(twice, team, mql, marketer):
    once = mql()
    qualify(once, marketer)
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    reporting_services.funnel_facts_refresh()

    for read in (funnel, funnel_facts.read):
        flow = read(start=start, end=end, mode=Mode.FLOW).total.counts
        created = read(start=start, end=end, mode=Mode.CREATED).total.counts
        mql_cohort = read(start=start, end=end, mode=Mode.MQL).total.counts
        # Flow counts stage entries: the re-qualified lead entered MQL, SAL (passed on the way)
        # and SQL twice.
        assert (flow["mql"], flow["sal"], flow["sql"]) == (3, 3, 3), read
        # A cohort follows leads to wherever they got: each reached SQL, once.
        assert (created["lead"], created["mql"], created["sql"]) == (2, 2, 2), read
        assert (mql_cohort["mql"], mql_cohort["sql"]) == (2, 2), read


# --- the migration that frees the leads qualified before --------------------------------------------


def test_the_migration_closes_the_opportunities_of_leads_that_left_sales(marketer, team, mql, manager):
    migration = importlib.import_module("handoff.migrations.0010_opportunity_requalification")
    recycled = mql()
    rep, _ = qualify(recycled, marketer)
    services.lead_reject(lead_id=recycled.pk, user=rep, to=Stage.RECYCLED, reason_code="bad_timing")
    customer = factories.lead_at_stage(Stage.CUSTOMER)
    sql = factories.lead_at_stage(Stage.SQL)
    # As they were before opportunities had a status: all open.
    Opportunity.objects.update(status=OpportunityStatus.OPEN, closed_at=None)

    migration.close_finished(apps, None)

    def fate(lead: Lead) -> tuple[str, Any]:
        opportunity = Opportunity.objects.get(lead=lead)
        return opportunity.status, opportunity.closed_at

    assert fate(recycled) == (OpportunityStatus.LOST, recycled.transitions.get(to_stage=Stage.RECYCLED).at)
    assert fate(customer) == (OpportunityStatus.WON, customer.transitions.get(to_stage=Stage.CUSTOMER).at)
    assert fate(sql) == (OpportunityStatus.OPEN, None)
