"""Discovery calls with BANT, the qualification policy, conversion — and the rule that no lead
reaches SQL without a qualifying call, whatever path tries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from handoff import services
from handoff.models import CallOutcome, DiscoveryCall, Opportunity, QualificationPolicy
from leads import services as lead_services
from leads.lifecycle import Actor, Stage, TransitionRefused
from leads.models import Lead
from tests import factories
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned(marketer, team, mql):
    lead = mql(company=factories.CompanyFactory(name="Globex"))
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    return lead, assignment.rep


def test_every_bant_field_is_required_and_named(assigned):
    lead, rep = assigned
    with pytest.raises(ValidationError) as error:
        services.call_log(lead_id=lead.pk, user=rep, data={"budget_status": "approved", "outcome": "qualified"})
    errors = error.value.message_dict
    assert set(errors) == {"authority_role", "decision_maker", "need_pain", "need_use_case", "timeframe",
                           "expected_decision_date"}  # fmt: skip
    assert errors["decision_maker"] == ["Authority: say who makes the decision."]
    assert errors["expected_decision_date"] == ["Timing: give the expected decision date."]
    assert not DiscoveryCall.objects.exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_a_qualified_call_converts_and_opens_the_opportunity(assigned):
    lead, rep = assigned
    call = services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())

    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert lead.qualifying_call_id == call.pk
    opportunity = Opportunity.objects.get(lead=lead)
    assert opportunity.amount == 48000
    assert opportunity.expected_close == call.expected_decision_date
    assert opportunity.owner == rep
    assert opportunity.name.startswith("Globex — Route and track")
    history = list(lead.transitions.values_list("to_stage", flat=True))
    assert history[-1] == Stage.SQL
    assert lead.assignments.get().end_reason == "converted"


def test_the_policy_says_which_criterion_failed(assigned):
    lead, rep = assigned
    data = qualified_bant(budget_status="none", authority_role="end_user", timeframe="later")
    with pytest.raises(ValidationError) as error:
        services.call_log(lead_id=lead.pk, user=rep, data=data)
    messages = error.value.message_dict["outcome"]
    assert messages[0] == "Not qualified under the qualification policy:"
    assert "Budget: “No budget” does not qualify" in messages[1]
    assert "Authority: an end user does not qualify" in messages[2]
    assert "Timing: “More than a year” is too far out" in messages[3]
    assert not DiscoveryCall.objects.exists()


def test_managers_tune_the_policy(assigned):
    lead, rep = assigned
    QualificationPolicy.objects.update(min_budget_amount=100_000)
    with pytest.raises(ValidationError, match="at least 100,000"):
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
    QualificationPolicy.objects.update(min_budget_amount=None, accepted_budget_statuses=["approved", "planned", "none"])
    services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(budget_status="none", budget_amount=None))
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_a_follow_up_call_is_logged_without_converting(assigned):
    lead, rep = assigned
    call = services.call_log(
        lead_id=lead.pk, user=rep, data=qualified_bant(outcome="follow_up", budget_status="unknown")
    )
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert call.policy_verdict  # the criteria not met yet are kept on the call


def test_marketers_cannot_log_calls(assigned, marketer):
    lead, _ = assigned
    with pytest.raises(PermissionDenied):
        services.call_log(lead_id=lead.pk, user=marketer, data=qualified_bant())


def test_amount_needs_a_currency(assigned):
    lead, rep = assigned
    with pytest.raises(ValidationError) as error:
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(budget_currency="dollars"))
    assert "three-letter code" in error.value.message_dict["budget_currency"][0]


# --- the rule holds on every path -------------------------------------------------------------


def test_the_lifecycle_service_refuses_sql_without_a_call():
    lead = factories.lead_at_stage(Stage.SAL)
    with pytest.raises(TransitionRefused, match="without a logged discovery call"):
        lead_services.lead_transition(lead_id=lead.pk, to=Stage.SQL, actor=Actor.rule_named("shortcut"))


def test_the_database_refuses_a_direct_orm_update_to_sql():
    lead = factories.lead_at_stage(Stage.SAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(stage=Stage.SQL)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_the_database_refuses_pointing_at_a_call_that_did_not_qualify(assigned):
    lead, rep = assigned
    call = services.call_log(
        lead_id=lead.pk, user=rep, data=qualified_bant(outcome="not_qualified", budget_status="none")
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(stage=Stage.SQL, qualifying_call_id=call.pk)
    other = factories.lead_at_stage(Stage.SQL)
    with pytest.raises(DatabaseError), transaction.atomic():  # another lead's qualifying call
        Lead.objects.filter(pk=lead.pk).update(stage=Stage.SQL, qualifying_call_id=other.qualifying_call_id)


def test_a_qualified_call_without_complete_bant_cannot_exist(assigned):
    lead, rep = assigned
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscoveryCall.objects.create(
            lead=lead, sdr=rep, held_at=timezone.now(), budget_status="approved", authority_role="decision_maker",
            decision_maker="", need_pain="x", need_use_case="y", timeframe="3m",
            expected_decision_date=timezone.localdate() + timedelta(days=30), outcome=CallOutcome.QUALIFIED,
        )  # fmt: skip


def test_a_qualifying_call_cannot_be_edited_or_deleted_afterwards():
    lead = factories.lead_at_stage(Stage.SQL)
    with pytest.raises(DatabaseError), transaction.atomic():
        DiscoveryCall.objects.filter(pk=lead.qualifying_call_id).update(outcome="not_qualified")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE handoff_discoverycall SET need_pain = '' WHERE id = %s", [lead.qualifying_call_id])


def test_stages_after_sql_keep_needing_the_call():
    lead = factories.lead_at_stage(Stage.CUSTOMER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.filter(pk=lead.pk).update(qualifying_call_id=None)


def test_recycled_and_back_needs_a_fresh_call(manager):
    lead = factories.lead_at_stage(Stage.SQL)
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.RECYCLED, actor=Actor(user=manager), reason="Went quiet")
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("Scoring model v1"))
    with pytest.raises(TransitionRefused, match="predates"):
        lead_services.lead_transition(lead_id=lead.pk, to=Stage.SQL, actor=Actor(user=manager))
