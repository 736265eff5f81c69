from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse

from leads.lifecycle import Stage
from leads.models import (
    Activity,
    ActivityType,
    Campaign,
    Company,
    CsvImport,
    FormSource,
    Job,
    Lead,
    LeadMerge,
    RescoreRequest,
    ScoringModel,
    ScoringRun,
    StageTransition,
)
from tests.factories import ActivityFactory, CampaignFactory, LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db


def url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:leads_{model._meta.model_name}_{view}", args=args)


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def lead():  # type: ignore[no-untyped-def]
    lead = lead_at_stage(Stage.MQL, campaign=CampaignFactory())
    ActivityFactory(lead=lead)
    return lead


@pytest.mark.parametrize("model", [ActivityType, Campaign, Company, Lead, Activity, StageTransition])
def test_every_model_has_a_working_changelist_and_change_page(admin_client, lead, model):
    obj = model.objects.first()

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": lead.email}).status_code == 200
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200


def test_user_admin_shows_roles(admin_client, marketer):
    response = admin_client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 200
    assert "Marketer" in response.content.decode()


def test_lead_changelist_runs_a_fixed_number_of_queries(admin_client, django_assert_num_queries, sdr):
    changelist = url(Lead, "changelist")
    LeadFactory(owner=sdr, campaign=CampaignFactory())
    admin_client.get(changelist)  # warm caches (content types, sessions)

    # user, the user's roles (navigation), count, one page of leads with company, campaign
    # and owner joined, and the campaign and owner filter choices: whatever the number of rows.
    with django_assert_num_queries(6):
        assert admin_client.get(changelist).status_code == 200
    for _ in range(30):
        LeadFactory(owner=sdr, campaign=CampaignFactory())
    with django_assert_num_queries(6):
        response = admin_client.get(changelist)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 31


def test_activity_changelist_for_one_lead_runs_a_fixed_number_of_queries(admin_client, django_assert_num_queries, lead):
    changelist = url(Activity, "changelist")
    admin_client.get(changelist, {"lead__id__exact": lead.pk})
    ActivityFactory.create_batch(20, lead=lead)
    with django_assert_num_queries(5):
        response = admin_client.get(changelist, {"lead__id__exact": lead.pk})
    assert response.context["cl"].result_count == 21


def test_stage_and_scores_are_read_only(admin_client, lead):
    change = url(Lead, "change", lead.pk)
    page = admin_client.get(change).content.decode()
    for field in ("stage", "stage_changed_at", "fit_score", "engagement_score", "email"):
        assert f'name="{field}"' not in page

    form = admin_client.get(change).context["adminform"].form
    data = {**{name: form[name].value() or "" for name in form.fields}, "stage": Stage.CUSTOMER}
    data.update(_inline_management(admin_client.get(change)))
    data["job_title"] = "VP Revenue Operations"
    response = admin_client.post(change, data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.job_title == "VP Revenue Operations"
    assert lead.stage == Stage.MQL
    assert lead.transitions.count() == 2


def _inline_management(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = {}
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.formset.forms:
            pk = form.instance.pk
            data[form.add_prefix(form._meta.model._meta.pk.name)] = pk
            data[form.add_prefix(formset.formset.fk.name)] = formset.formset.instance.pk
    return data


def test_adding_a_lead_goes_through_the_service(admin_client, admin_user):
    response = admin_client.post(
        url(Lead, "add"),
        {"email": "  Ada.Lovelace@Analytical.IO ", "first_name": "Ada", "source_channel": "event"},
    )

    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.email == "ada.lovelace@analytical.io"
    assert lead.company.domain == "analytical.io"
    created = lead.transitions.get()
    assert (created.from_stage, created.to_stage, created.actor_user) == ("", Stage.LEAD, admin_user)
    assert response["Location"] == url(Lead, "changelist")


def test_adding_a_duplicate_lead_is_refused_on_the_form(admin_client, lead):
    response = admin_client.post(url(Lead, "add"), {"email": lead.email.upper(), "source_channel": "event"})

    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])
    assert Lead.objects.count() == 1


def test_move_to_stage_action_writes_transitions_and_reports_refusals(admin_client, admin_user):
    mql = lead_at_stage(Stage.MQL)
    new = LeadFactory()
    changelist = url(Lead, "changelist")

    response = admin_client.post(
        changelist,
        {
            "action": "move_to_stage",
            "_selected_action": [mql.pk, new.pk],
            "to_stage": "mql",
            "reason": "Called",
        },
        follow=True,
    )

    mql.refresh_from_db()
    new.refresh_from_db()
    assert (mql.stage, new.stage) == (Stage.MQL, Stage.MQL)
    moved = new.transitions.latest()
    assert (moved.from_stage, moved.to_stage, moved.actor_user, moved.reason) == (
        "lead",
        "mql",
        admin_user,
        "Called",
    )
    notes = messages_of(response)
    assert "Moved 1 lead to MQL." in notes
    assert any("already at MQL" in note and mql.email in note for note in notes)
    assert mql.transitions.count() == 2


def test_move_to_stage_action_leaves_sal_to_the_acceptance(admin_client):
    """SAL is the assigned rep's acceptance (issue 14): the admin says where it is made."""
    mql = lead_at_stage(Stage.MQL)

    response = admin_client.post(
        url(Lead, "changelist"),
        {"action": "move_to_stage", "_selected_action": [mql.pk], "to_stage": "sal", "reason": "Called"},
        follow=True,
    )

    assert any(
        "A lead becomes SAL when the rep it is assigned to accepts it" in note and mql.email in note
        for note in messages_of(response)
    )
    mql.refresh_from_db()
    assert mql.stage == Stage.MQL


def test_move_to_stage_action_needs_a_stage_and_the_lifecycle_reason(admin_client):
    lead = LeadFactory()
    changelist = url(Lead, "changelist")

    response = admin_client.post(changelist, {"action": "move_to_stage", "_selected_action": [lead.pk]}, follow=True)
    assert "Choose the stage" in " ".join(messages_of(response))

    response = admin_client.post(
        changelist,
        {"action": "move_to_stage", "_selected_action": [lead.pk], "to_stage": "disqualified"},
        follow=True,
    )
    assert "A reason is required" in " ".join(messages_of(response))
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD


def test_move_stage_page_offers_allowed_moves_and_calls_the_service(admin_client, admin_user):
    lead = lead_at_stage(Stage.SAL)
    page = reverse("admin:leads_lead_move_stage", args=[lead.pk])

    response = admin_client.get(page)
    assert response.status_code == 200
    choices = [value for value, _ in response.context["form"].fields["to_stage"].choices]
    assert choices == ["sql", "recycled", "disqualified"]
    assert page in admin_client.get(url(Lead, "change", lead.pk)).content.decode()

    response = admin_client.post(page, {"to_stage": "recycled", "reason": ""})
    assert response.status_code == 200
    assert "A reason is required" in response.content.decode()

    response = admin_client.post(page, {"to_stage": "recycled", "reason": "Not ready this quarter"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED
    assert lead.transitions.latest().actor_user == admin_user


def test_stage_history_cannot_be_added_changed_or_deleted_even_by_a_superuser(admin_client, admin_user, lead):
    transition = lead.transitions.first()
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site._registry[StageTransition]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, transition)
    assert not model_admin.has_delete_permission(request, transition)

    assert admin_client.get(url(StageTransition, "add")).status_code == 403
    assert admin_client.get(url(StageTransition, "delete", transition.pk)).status_code == 403
    assert admin_client.post(url(StageTransition, "change", transition.pk), {"reason": "x"}).status_code == 403
    page = admin_client.get(url(StageTransition, "change", transition.pk)).content.decode()
    assert 'name="reason"' not in page
    transition.refresh_from_db()
    assert transition.reason == "Created"


def test_leads_cannot_be_deleted_in_the_admin(admin_client, lead):
    assert admin_client.get(url(Lead, "delete", lead.pk)).status_code == 403
    assert "delete_selected" not in admin_client.get(url(Lead, "changelist")).content.decode()


def test_lead_page_shows_only_recent_activities_and_links_to_the_rest(admin_client, lead):
    ActivityFactory.create_batch(14, lead=lead)

    response = admin_client.get(url(Lead, "change", lead.pk))

    activity_inline = next(f for f in response.context["inline_admin_formsets"] if f.opts.model is Activity)
    assert len(activity_inline.formset.forms) == 10
    assert f"{url(Activity, 'changelist')}?lead__id__exact={lead.pk}" in response.content.decode()


def test_company_domain_is_normalised_and_used_companies_cannot_be_deleted(admin_client, lead):
    response = admin_client.post(url(Company, "add"), {"name": "Acme", "domain": "https://WWW.Acme.COM/about"})
    assert response.status_code == 302
    assert Company.objects.filter(domain="acme.com").exists()
    assert admin_client.get(url(Company, "delete", lead.company_id)).status_code == 403


def test_adding_an_activity_goes_through_ingestion(admin_client, lead):
    add = url(Activity, "add")
    data = {
        "lead": lead.pk,
        "type": "content_download",
        "occurred_at_0": "2026-01-05",
        "occurred_at_1": "10:30:00",
        "properties": '{"topic": "lead scoring"}',
        "source_system": "admin",
        "external_id": "",
    }

    response = admin_client.post(add, data)

    assert response.status_code == 302
    activity = lead.activities.get(type_id="content_download")
    assert activity.properties == {"topic": "lead scoring"}
    assert RescoreRequest.objects.filter(lead=lead).exists()  # ingestion asked for a rescore

    response = admin_client.post(add, {**data, "occurred_at_0": "2999-01-01"})
    assert response.status_code == 200
    assert "in the future" in str(response.context["adminform"].form.errors["occurred_at"])


def test_activities_cannot_be_edited_or_deleted_in_the_admin(admin_client, lead):
    activity = lead.activities.first()
    assert admin_client.get(url(Activity, "change", activity.pk)).status_code == 200  # to read
    assert 'name="properties"' not in admin_client.get(url(Activity, "change", activity.pk)).content.decode()
    assert admin_client.get(url(Activity, "delete", activity.pk)).status_code == 403


@pytest.mark.parametrize("model", [ScoringModel, ScoringRun, Job, RescoreRequest, FormSource, LeadMerge, CsvImport])
def test_service_owned_models_are_listed_read_only(admin_client, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == 403


def test_the_scoring_model_page_shows_its_rules(admin_client):
    model = ScoringModel.objects.first()
    page = admin_client.get(url(ScoringModel, "change", model.pk)).content.decode()
    assert model.fit_rules.first().label in page
