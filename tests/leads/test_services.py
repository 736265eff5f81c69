from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q

from leads import lifecycle, services
from leads.lifecycle import Actor, Stage, TransitionRefused
from leads.models import Company, Lead, StageTransition
from tests.factories import LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db


def test_creating_a_lead_normalises_email_finds_its_company_and_records_creation(marketer):
    lead = services.lead_create(email="  Ada.Lovelace@Analytical.IO ", first_name="Ada", actor=Actor(user=marketer))

    assert lead.email == "ada.lovelace@analytical.io"
    assert lead.company.domain == "analytical.io"
    assert lead.stage == Stage.LEAD
    (created,) = lead.transitions.all()
    assert (created.from_stage, created.to_stage, created.actor_user) == ("", Stage.LEAD, marketer)


def test_free_mail_leads_get_no_company():
    lead = services.lead_create(email="someone@gmail.com", actor=Actor.rule_named("import"))
    assert lead.company is None
    assert not Company.objects.filter(domain="gmail.com").exists()


def test_email_is_unique_whatever_its_case():
    services.lead_create(email="dup@acme.test", actor=Actor.rule_named("import"))
    with pytest.raises(ValidationError) as error:
        services.lead_create(email="DUP@Acme.Test", actor=Actor.rule_named("import"))
    assert "already exists" in error.value.message_dict["email"][0]
    assert Lead.objects.count() == 1


def test_a_bad_email_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as error:
        services.lead_create(email="not-an-email", actor=Actor.rule_named("import"))
    assert "not a valid email" in error.value.message_dict["email"][0]
    assert not Lead.objects.exists()


def test_stage_cannot_be_set_through_create_or_update():
    lead = LeadFactory()
    with pytest.raises(ValidationError) as error:
        services.lead_update(lead_id=lead.pk, actor=Actor.rule_named("x"), stage=Stage.SQL)
    assert "stage" in error.value.message_dict
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD


def test_transition_writes_history_and_stage_together(marketer):
    lead = LeadFactory()
    services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor(user=marketer), reason="Asked for pricing")

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    last = lead.transitions.latest()
    assert (last.from_stage, last.to_stage, last.actor_user, last.reason) == (
        Stage.LEAD,
        Stage.MQL,
        marketer,
        "Asked for pricing",
    )
    assert lead.stage_changed_at == last.at


def test_refused_transition_writes_nothing():
    lead = LeadFactory()
    with pytest.raises(TransitionRefused, match="cannot move to SQL"):
        services.lead_transition(lead_id=lead.pk, to=Stage.SQL, actor=Actor.rule_named("x"))
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    assert lead.transitions.count() == 1


def test_a_guard_refusal_rolls_back_inside_the_service():
    lead = lead_at_stage(Stage.SAL)

    def refuse(request):
        raise TransitionRefused("No qualifying discovery call with complete BANT.", code="bant")

    lifecycle.register_guard(Stage.SQL, refuse)
    try:
        with pytest.raises(TransitionRefused, match="BANT"):
            services.lead_transition(lead_id=lead.pk, to=Stage.SQL, actor=Actor.rule_named("x"))
    finally:
        lifecycle.unregister_guard(Stage.SQL, refuse)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert not lead.transitions.filter(to_stage=Stage.SQL).exists()


def test_unknown_stage_is_a_clear_refusal():
    lead = LeadFactory()
    with pytest.raises(TransitionRefused, match="“won” is not a stage"):
        services.lead_transition(lead_id=lead.pk, to="won", actor=Actor.rule_named("x"))


def test_after_transition_callbacks_run_on_commit(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    seen = []
    callback = services.on_transition(lambda lead_id, src, dst: seen.append((lead_id, src, dst)))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("score"))
    finally:
        services._after_transition.remove(callback)
    assert seen == [(lead.pk, "lead", "mql")]


def test_walking_the_whole_funnel_keeps_a_complete_ordered_history():
    lead = lead_at_stage(Stage.CUSTOMER)
    path = list(lead.transitions.order_by("at", "id").values_list("to_stage", flat=True))
    assert path == ["lead", "mql", "sal", "sql", "opportunity", "customer"]


def test_stage_history_cannot_be_edited_or_deleted_through_the_orm():
    transition = LeadFactory().transitions.get()
    transition.reason = "rewritten"
    with pytest.raises(TypeError, match="immutable"):
        transition.save()
    with pytest.raises(TypeError, match="immutable"):
        transition.delete()
    with pytest.raises(TypeError, match="immutable"):
        StageTransition.objects.filter(pk=transition.pk).update(reason="rewritten")
    with pytest.raises(TypeError, match="immutable"):
        StageTransition.objects.all().delete()


def test_database_trigger_refuses_editing_history_even_bypassing_the_orm():
    from django.db import connection

    transition = LeadFactory().transitions.get()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE leads_stagetransition SET to_stage = %s WHERE id = %s", ["customer", transition.pk])
    transition.refresh_from_db()
    assert transition.to_stage == Stage.LEAD


def test_moving_many_leads_checks_each_move_and_records_each_in_the_history(django_capture_on_commit_callbacks):
    fresh, recycled, in_sales = LeadFactory(), lead_at_stage(Stage.RECYCLED), lead_at_stage(Stage.SQL)
    seen = []
    callback = services.on_transition(lambda lead_id, src, dst: seen.append((lead_id, src, dst)))
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            moved = services.lead_transition_many(
                moves={fresh.pk: "Fit 40", recycled.pk: "Fit 50", in_sales.pk: "Fit 60"},
                to=Stage.MQL,
                actor=Actor.rule_named("Scoring model v2"),
            )
    finally:
        services._after_transition.remove(callback)
    assert sorted(moved) == sorted([fresh.pk, recycled.pk])  # sql → mql is not a move the lifecycle allows
    for lead, reason, source in [(fresh, "Fit 40", "lead"), (recycled, "Fit 50", "recycled")]:
        lead.refresh_from_db()
        last = lead.transitions.latest()
        assert (lead.stage, last.from_stage, last.to_stage, last.reason) == (Stage.MQL, source, "mql", reason)
        assert (last.actor_rule, last.at) == ("Scoring model v2", lead.stage_changed_at)
    in_sales.refresh_from_db()
    assert in_sales.stage == Stage.SQL
    assert sorted(seen) == sorted([(fresh.pk, "lead", "mql"), (recycled.pk, "recycled", "mql")])


def test_moving_many_leads_leaves_those_no_longer_matching_the_condition():
    keep, move = LeadFactory(fit_score=10), LeadFactory(fit_score=90)
    with transaction.atomic():
        moved = services.lead_transition_many(
            moves={keep.pk: "r", move.pk: "r"},
            to=Stage.MQL,
            actor=Actor.rule_named("score"),
            where=Q(fit_score__gte=50),
        )
    assert moved == [move.pk]
    assert Lead.objects.get(pk=keep.pk).stage == Stage.LEAD
