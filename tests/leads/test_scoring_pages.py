"""The scoring page as marketers use it: the active model, a draft's editor, preview, publish,
the job progress endpoint, and score explanations on the lead page and the lead list."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads import services
from leads.lifecycle import Stage
from leads.models import (
    ActivityType,
    Channel,
    CompanySize,
    EngagementRule,
    FitRule,
    Industry,
    Job,
    JobStatus,
    Lead,
    ScoringModel,
    ScoringModelStatus,
)
from tests import factories
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page's visible text, tags stripped and whitespace collapsed (templates left out)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in get_messages(response.wsgi_request)]


def active_model() -> ScoringModel:
    return ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)


def make_draft(user) -> ScoringModel:  # type: ignore[no-untyped-def]
    return services.scoring_draft_create(user=user)


def webinar_rule(model: ScoringModel) -> EngagementRule:
    return model.engagement_rules.get(activity_type_id="webinar_attended")


def engaged_lead(*, webinars: int = 2, channel: str = Channel.WEBINAR, **kwargs) -> Lead:  # type: ignore[no-untyped-def]
    """A VP at a mid-size software company in the US (fit 55 under v1) who attended webinars and
    saw the pricing page: engagement 12·2 + 8 = 32 under v1, short of its 40 threshold."""
    company = CompanyFactory(industry=Industry.SOFTWARE, size=CompanySize.S_201_1000, country="US")
    lead = LeadFactory(job_title="VP Marketing", company=company, source_channel=channel, **kwargs)
    now = timezone.now()
    webinar = ActivityType.objects.get(code="webinar_attended")
    for index in range(webinars):
        ActivityFactory(lead=lead, type=webinar, occurred_at=now - timedelta(minutes=index + 1))
    ActivityFactory(lead=lead, type=ActivityType.objects.get(code="pricing_page_view"), occurred_at=now)
    services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    return lead


# --- access -----------------------------------------------------------------------------------

# (method, url name, which kwargs it needs)
SCORING_URLS = [
    ("get", "leads:scoring", ""),
    ("get", "leads:scoring_version", "model"),
    ("post", "leads:scoring_draft_create", ""),
    ("get", "leads:scoring_draft", "draft"),
    ("post", "leads:scoring_draft", "draft"),
    ("get", "leads:scoring_fit_rule_add", "draft"),
    ("get", "leads:scoring_fit_rule_edit", "fit_rule"),
    ("get", "leads:scoring_engagement_rule_add", "draft"),
    ("post", "leads:scoring_rule_delete", "delete"),
    ("post", "leads:scoring_preview", "draft"),
    ("post", "leads:scoring_publish", "draft"),
]


def url_for(name: str, needs: str, draft: ScoringModel) -> str:
    rule = draft.fit_rules.first()
    kwargs = {
        "": {},
        "model": {"pk": active_model().pk},
        "draft": {"pk": draft.pk},
        "fit_rule": {"pk": draft.pk, "rule_id": rule.pk},
        "delete": {"pk": draft.pk, "kind": "fit", "rule_id": rule.pk},
    }[needs]
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize(("method", "name", "needs"), SCORING_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, marketer, method, name, needs):
    draft = make_draft(marketer)

    response = getattr(client, method)(url_for(name, needs, draft))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert ScoringModel.objects.get(pk=draft.pk).status == ScoringModelStatus.DRAFT


@pytest.mark.parametrize(("method", "name", "needs"), SCORING_URLS)
def test_sdrs_are_refused_every_scoring_page(client, marketer, sdr, method, name, needs):
    draft = make_draft(marketer)
    rules = draft.fit_rules.count()
    client.force_login(sdr)

    response = getattr(client, method)(url_for(name, needs, draft))

    assert response.status_code == 403
    assert draft.fit_rules.count() == rules
    assert not Job.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "manager"])
def test_marketers_and_managers_open_the_scoring_pages(client, role, request):
    user = request.getfixturevalue(role)
    draft = make_draft(user)
    client.force_login(user)

    for method, name, needs in SCORING_URLS:
        if method == "get":
            response = client.get(url_for(name, needs, draft))
            assert response.status_code == 200, name


def test_the_navigation_links_are_for_the_roles_that_may_use_them(marketer, sdr):
    assert marketer.has_perm("leads.change_scoringmodel")
    assert marketer.has_perm("leads.add_csvimport")
    assert not sdr.has_perm("leads.change_scoringmodel")


# --- the overview -----------------------------------------------------------------------------


def test_the_overview_shows_the_active_model_in_words_runs_and_versions(client, marketer):
    engaged_lead()
    client.force_login(marketer)

    response = client.get(reverse("leads:scoring"))

    text = text_of(response)
    for shown in (
        "Active model: v1 · Baseline B2B model",
        "Fit ≥ 30 and engagement ≥ 40",
        "Halves every 30 days",
        "Demo request",  # a hot signal
        "C-level or VP",
        "Seniority (from job title) is one of C-level, VP",
        "+25",
        "Email domain ends with any of .edu, .ac.uk",
        "Free-mail address",
        "−15",
        "Webinar attended",
        "capped at 24",
        "Unsubscribe",
        "does not fade",
        "New activities · v1",  # a rescoring run
        "1 lead in",
        "Edit a draft",
    ):
        assert shown in text, f"{shown!r} missing from the scoring page"
    assert [v.version for v in response.context["versions"]] == [1]


def test_edit_a_draft_copies_the_active_model_once_and_then_reopens_it(client, marketer):
    client.force_login(marketer)

    first = client.post(reverse("leads:scoring_draft_create"))
    draft = ScoringModel.objects.get(status=ScoringModelStatus.DRAFT)
    again = client.post(reverse("leads:scoring_draft_create"))

    assert first["Location"] == again["Location"] == reverse("leads:scoring_draft", kwargs={"pk": draft.pk})
    assert draft.version == 2
    assert draft.created_by == marketer
    assert draft.fit_rules.count() == active_model().fit_rules.count()
    assert ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).count() == 1
    overview = text_of(client.get(reverse("leads:scoring")))
    assert "Continue draft v2" in overview


def test_a_published_or_retired_version_cannot_be_opened_in_the_editor(client, marketer):
    client.force_login(marketer)

    response = client.get(reverse("leads:scoring_draft", kwargs={"pk": active_model().pk}))

    assert response.status_code == 302
    assert response["Location"] == reverse("leads:scoring")
    assert "only a draft can be edited" in messages_of(response)[0]


# --- draft settings ---------------------------------------------------------------------------


def settings_data(draft: ScoringModel, **overrides) -> dict:  # type: ignore[no-untyped-def]
    data = {
        "name": draft.name,
        "mql_fit_threshold": draft.mql_fit_threshold,
        "mql_engagement_threshold": draft.mql_engagement_threshold,
        "decay_half_life_days": draft.decay_half_life_days or "",
        "hot_signal_window_days": draft.hot_signal_window_days,
        "hot_signal_types": list(draft.hot_signal_types.values_list("code", flat=True)),
        "fast_track_min_fit": draft.fast_track_min_fit,
        "notes": draft.notes,
    }
    data.update(overrides)
    return data


def test_saving_the_draft_settings(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.post(
        reverse("leads:scoring_draft", kwargs={"pk": draft.pk}),
        settings_data(
            draft,
            mql_fit_threshold=35,
            mql_engagement_threshold=45,
            decay_half_life_days="",
            hot_signal_types=["demo_request"],
        ),
    )

    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.mql_fit_threshold, draft.mql_engagement_threshold, draft.decay_half_life_days) == (35, 45, None)
    assert list(draft.hot_signal_types.values_list("code", flat=True)) == ["demo_request"]
    assert active_model().mql_fit_threshold == 30  # live scores untouched


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"decay_half_life_days": 0}, "decay_half_life_days", "A half-life is at least 1 day"),
        ({"hot_signal_window_days": -3}, "hot_signal_window_days", "greater than or equal to 0"),
        ({"mql_fit_threshold": "many"}, "mql_fit_threshold", "Enter a whole number"),
        ({"name": ""}, "name", "This field is required"),
        ({"hot_signal_types": ["nonsense"]}, "hot_signal_types", "Select a valid choice"),
    ],
)
def test_bad_settings_are_refused_on_their_field(client, marketer, overrides, field, message):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.post(reverse("leads:scoring_draft", kwargs={"pk": draft.pk}), settings_data(draft, **overrides))

    assert response.status_code == 200
    errors = response.context["settings_form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert "Nothing was saved" in text_of(response)
    assert ScoringModel.objects.get(pk=draft.pk).decay_half_life_days == 30


# --- fit rules --------------------------------------------------------------------------------


def fit_url(draft: ScoringModel, rule: FitRule | None = None) -> str:
    if rule is None:
        return reverse("leads:scoring_fit_rule_add", kwargs={"pk": draft.pk})
    return reverse("leads:scoring_fit_rule_edit", kwargs={"pk": draft.pk, "rule_id": rule.pk})


def test_adding_a_job_title_rule_with_comma_and_line_separated_values(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.post(
        fit_url(draft),
        {
            "label": "Revenue leaders",
            "attribute": "job_title",
            "operator": "contains_any",
            "values_text": "VP, Director\nhead of",
            "points": "15",
        },
    )

    assert response.status_code == 302
    assert response["Location"].endswith("#fit-rules")
    rule = draft.fit_rules.get(label="Revenue leaders")
    assert (rule.values, rule.points) == (["director", "head of", "vp"], 15)
    editor = text_of(client.get(reverse("leads:scoring_draft", kwargs={"pk": draft.pk})))
    assert "Job title contains any of director, head of, vp" in editor
    assert "Revenue leaders" not in text_of(client.get(reverse("leads:scoring")))  # the active model is untouched


def test_choice_attributes_take_their_values_from_the_multi_select(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    client.post(
        fit_url(draft),
        {
            "label": "Regulated industries",
            "attribute": "industry",
            "operator": "in",
            "values_industry": ["healthcare", "financial_services"],
            "values_text": "ignored",
            "points": "7",
        },
    )

    rule = draft.fit_rules.get(label="Regulated industries")
    assert rule.values == ["financial_services", "healthcare"]
    form = client.get(fit_url(draft, rule)).context["form"]
    assert form.initial["values_industry"] == ["financial_services", "healthcare"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"attribute": "industry", "operator": "contains_any", "values_industry": ["software"]},
            "operator",
            "Industry can be compared with: is one of, is none of.",
        ),
        (
            {"attribute": "free_mail", "operator": "in"},
            "operator",
            "Free-mail address (gmail.com…) can be compared with: is true.",
        ),
        ({"attribute": "country", "operator": "in"}, "values_country", "Give at least one value to compare with."),
        (
            {"attribute": "job_title", "operator": "contains_any", "values_text": " , \n"},
            "values_text",
            "Give at least one value",
        ),
        (
            {"attribute": "seniority", "operator": "in", "values_seniority": ["vp"], "label": "  "},
            "label",
            "Give the rule a label",
        ),
        ({"attribute": "seniority", "operator": "in", "values_seniority": ["pope"]}, "values_seniority", "valid"),
        ({"attribute": "job_title", "operator": "contains_any", "values_text": "vp", "points": "x"}, "points", "whole"),
    ],
)
def test_fit_rule_errors_are_shown_on_their_field(client, marketer, data, field, message):
    draft = make_draft(marketer)
    count = draft.fit_rules.count()
    client.force_login(marketer)

    response = client.post(fit_url(draft), {"label": "A rule", "points": "5", **data})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert draft.fit_rules.count() == count


def test_the_fit_rule_form_carries_the_operators_each_attribute_allows(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.get(fit_url(draft))

    html = response.content.decode()
    assert 'id="fit-operators"' in html
    assert response.context["operators_for"]["free_mail"] == ["is_true"]
    assert "data-fit-attribute" in html
    assert 'data-values-for="country"' in html
    assert "js/scoring.js" in html


def test_editing_and_deleting_a_fit_rule(client, marketer):
    draft = make_draft(marketer)
    rule = draft.fit_rules.get(label="Director")
    client.force_login(marketer)

    form = client.get(fit_url(draft, rule)).context["form"]
    assert form.initial["values_seniority"] == ["director"]
    client.post(
        fit_url(draft, rule),
        {
            "label": "Director",
            "attribute": "seniority",
            "operator": "in",
            "values_seniority": ["director"],
            "points": 20,
        },
    )
    assert FitRule.objects.get(pk=rule.pk).points == 20

    response = client.post(
        reverse("leads:scoring_rule_delete", kwargs={"pk": draft.pk, "kind": "fit", "rule_id": rule.pk})
    )
    assert response.status_code == 302
    assert not FitRule.objects.filter(pk=rule.pk).exists()
    assert active_model().fit_rules.filter(label="Director").exists()


def test_rules_of_the_active_model_cannot_be_edited_or_deleted(client, marketer):
    make_draft(marketer)
    active = active_model()
    rule = active.fit_rules.first()
    client.force_login(marketer)

    edit = client.post(fit_url(active, rule), {"label": "x", "attribute": "job_title", "operator": "in", "points": 1})
    delete = client.post(
        reverse("leads:scoring_rule_delete", kwargs={"pk": active.pk, "kind": "fit", "rule_id": rule.pk})
    )

    assert edit.status_code == delete.status_code == 302
    assert FitRule.objects.get(pk=rule.pk).label == rule.label


def test_a_rule_of_another_model_is_not_found_in_a_draft(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.get(fit_url(draft, active_model().fit_rules.first()))

    assert response.status_code == 404


# --- engagement rules -------------------------------------------------------------------------


def engagement_url(draft: ScoringModel, rule: EngagementRule | None = None) -> str:
    if rule is None:
        return reverse("leads:scoring_engagement_rule_add", kwargs={"pk": draft.pk})
    return reverse("leads:scoring_engagement_rule_edit", kwargs={"pk": draft.pk, "rule_id": rule.pk})


def test_changing_an_engagement_rule(client, marketer):
    draft = make_draft(marketer)
    rule = webinar_rule(draft)
    client.force_login(marketer)

    response = client.post(
        engagement_url(draft, rule),
        {"activity_type": "webinar_attended", "points": "25", "max_points": "50", "decays": "on", "label": ""},
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.points, rule.max_points, rule.decays) == (25, 50, True)
    assert webinar_rule(active_model()).points == 12


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"activity_type": "webinar_attended"}, "activity_type", "already has a rule for that activity type"),
        ({"activity_type": "sales_call", "max_points": "0"}, "max_points", "A cap must be a positive number"),
        ({"activity_type": "sales_call", "max_points": "-5"}, "max_points", "A cap must be a positive number"),
        ({"activity_type": "no_such_type"}, "activity_type", "Select a valid choice"),
        ({"activity_type": "sales_call", "points": ""}, "points", "This field is required"),
    ],
)
def test_engagement_rule_errors_are_shown_on_their_field(client, marketer, data, field, message):
    draft = make_draft(marketer)
    count = draft.engagement_rules.count()
    client.force_login(marketer)

    response = client.post(engagement_url(draft), {"points": "5", **data})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert draft.engagement_rules.count() == count


def test_adding_and_deleting_an_engagement_rule(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    form = client.get(engagement_url(draft)).context["form"]
    assert ("webinar_attended", "Webinar attended (already has a rule)") in form.fields["activity_type"].choices
    client.post(engagement_url(draft), {"activity_type": "sales_meeting", "points": "6", "label": "Met sales"})
    rule = draft.engagement_rules.get(activity_type_id="sales_meeting")
    assert (rule.points, rule.max_points, rule.decays, rule.label) == (6, None, False, "Met sales")

    client.post(reverse("leads:scoring_rule_delete", kwargs={"pk": draft.pk, "kind": "engagement", "rule_id": rule.pk}))
    assert not draft.engagement_rules.filter(activity_type_id="sales_meeting").exists()


def test_deleting_a_rule_that_is_not_in_the_draft_says_so(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)

    response = client.post(
        reverse("leads:scoring_rule_delete", kwargs={"pk": draft.pk, "kind": "engagement", "rule_id": 999_999})
    )

    assert "That rule is not part of this draft." in messages_of(response)
    bad_kind = client.post(reverse("leads:scoring_rule_delete", kwargs={"pk": draft.pk, "kind": "other", "rule_id": 1}))
    assert bad_kind.status_code == 404


# --- preview ----------------------------------------------------------------------------------


def raise_webinar_points(draft: ScoringModel) -> None:
    rule = webinar_rule(draft)
    services.engagement_rule_save(
        model_id=draft.pk, rule_id=rule.pk, activity_type="webinar_attended", points=25, max_points=50
    )


def test_the_preview_compares_draft_and_active_by_channel_and_lists_changed_leads(
    client, marketer, django_capture_on_commit_callbacks
):
    webinar_leads = [engaged_lead() for _ in range(2)]
    event_lead = engaged_lead(channel=Channel.EVENT, webinars=1)  # 25 + 8 = 33 < 40: stays out
    LeadFactory()  # no activity at all
    draft = make_draft(marketer)
    raise_webinar_points(draft)
    client.force_login(marketer)
    editor = reverse("leads:scoring_draft", kwargs={"pk": draft.pk})

    assert "Run Preview on current data" in text_of(client.get(editor))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("leads:scoring_preview", kwargs={"pk": draft.pk}))
    assert response["Location"] == f"{editor}#preview"
    job = Job.objects.get(kind="scoring_preview")
    assert job.status == JobStatus.DONE
    assert job.created_by == marketer

    page = client.get(editor)
    preview = page.context["preview"]
    assert not preview["stale"]
    assert (preview["result"]["active_mql"], preview["result"]["draft_mql"], preview["difference"]) == (0, 2, 2)
    webinar_row = next(row for row in preview["channels"] if row.label == "Webinar")
    assert (webinar_row.leads, webinar_row.active, webinar_row.draft, webinar_row.difference) == (2, 0, 2, 2)
    assert {item.lead for item in preview["gained"]} == set(webinar_leads)
    assert event_lead not in {item.lead for item in preview["gained"]}
    assert preview["gained"][0].active == (55, 32)
    assert preview["gained"][0].draft == (55, 58)
    text = text_of(page)
    for shown in ("MQL under active v1 0", "MQL under draft v2 2 +2", "Would become MQL 2", "Webinar 2 0 2 +2"):
        assert shown in text, f"{shown!r} missing from the preview"
    html = page.content.decode()
    for lead in webinar_leads:
        assert f'href="{lead.get_absolute_url()}"' in html
    assert not Lead.objects.filter(stage=Stage.MQL).exists()  # a preview writes nothing


def test_editing_the_draft_after_a_preview_marks_it_stale(client, marketer, django_capture_on_commit_callbacks):
    engaged_lead()
    draft = make_draft(marketer)
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("leads:scoring_preview", kwargs={"pk": draft.pk}))
    editor = reverse("leads:scoring_draft", kwargs={"pk": draft.pk})
    assert "out of date" not in text_of(client.get(editor))

    raise_webinar_points(draft)

    page = client.get(editor)
    assert page.context["preview"]["stale"]
    assert "The draft changed after this preview, so these numbers are out of date." in text_of(page)


def test_a_running_preview_shows_a_progress_bar_that_polls(client, marketer):
    draft = make_draft(marketer)
    client.force_login(marketer)
    job = services.scoring_preview_start(model_id=draft.pk, user=marketer)  # no on-commit: still queued
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, total=4, done=1)

    page = client.get(reverse("leads:scoring_draft", kwargs={"pk": draft.pk}))

    html = page.content.decode()
    assert f'data-job-url="{reverse("leads:job", kwargs={"pk": job.pk})}"' in html
    assert 'data-job-finished="false"' in html
    assert 'aria-valuenow="25"' in html
    assert "1 of 4 batches" in text_of(page)
    assert "js/jobs.js" in html


# --- publish ----------------------------------------------------------------------------------


def test_publishing_rescores_every_lead_and_reports_it(client, marketer, django_capture_on_commit_callbacks):
    leads = [engaged_lead() for _ in range(3)]
    draft = make_draft(marketer)
    raise_webinar_points(draft)
    client.force_login(marketer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("leads:scoring_publish", kwargs={"pk": draft.pk}))

    job = Job.objects.get(kind="rescore_all")
    assert response["Location"] == f"{reverse('leads:scoring')}?published={job.pk}"
    assert job.status == JobStatus.DONE
    draft.refresh_from_db()
    assert draft.status == ScoringModelStatus.ACTIVE
    assert draft.published_by == marketer
    for lead in leads:
        lead.refresh_from_db()
        assert (lead.engagement_score, lead.stage, lead.scoring_model_id) == (58, Stage.MQL, draft.pk)
        assert lead.transitions.last().actor_rule == "Scoring model v2"

    page = client.get(response["Location"])
    text = text_of(page)
    assert "Version 2 is now active" in " ".join(messages_of(page))
    assert re.search(r"Rescored 3 leads in (< )?[\d.]+ s; 3 became MQL\.", text), text
    assert "Active model: v2" in text
    html = page.content.decode()
    assert 'data-job-finished="true"' in html
    assert 'aria-valuenow="100"' in html
    assert "bg-success w-100" in html


def test_a_model_without_rules_is_not_published(client, marketer):
    draft = make_draft(marketer)
    FitRule.objects.filter(scoring_model=draft).delete()
    EngagementRule.objects.filter(scoring_model=draft).delete()
    client.force_login(marketer)

    response = client.post(reverse("leads:scoring_publish", kwargs={"pk": draft.pk}))

    assert response["Location"] == reverse("leads:scoring_draft", kwargs={"pk": draft.pk})
    assert "A model needs at least one rule before it is published." in messages_of(response)[0]
    assert ScoringModel.objects.get(pk=draft.pk).status == ScoringModelStatus.DRAFT


# --- the job progress endpoint ----------------------------------------------------------------


def test_the_job_endpoint_reports_progress_to_who_may_watch(client, marketer, manager, sdr):
    draft = make_draft(marketer)
    job = services.scoring_preview_start(model_id=draft.pk, user=marketer)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, total=8, done=2)
    url = reverse("leads:job", kwargs={"pk": job.pk})

    assert client.get(url).status_code == 401
    client.force_login(marketer)
    data = client.get(url).json()
    assert data == {
        "id": job.pk,
        "kind": "scoring_preview",
        "status": "running",
        "status_label": "Running",
        "finished": False,
        "done": 2,
        "total": 8,
        "percent": 25,
        "result": None,
        "error": "",
        "attempts": 0,
        "notes": [],
    }
    client.force_login(manager)  # not the creator, but may use the scoring page
    assert client.get(url).status_code == 200
    client.force_login(sdr)
    assert client.get(url).status_code == 404
    assert client.get(reverse("leads:job", kwargs={"pk": 999_999})).status_code == 404


def test_a_finished_job_carries_its_result(client, marketer, django_capture_on_commit_callbacks):
    engaged_lead()
    draft = make_draft(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.scoring_model_publish(model_id=draft.pk, user=marketer)
    client.force_login(marketer)

    data = client.get(reverse("leads:job", kwargs={"pk": job.pk})).json()

    assert (data["status"], data["finished"], data["percent"]) == ("done", True, 100)
    assert data["result"]["leads"] == 1
    assert client.get(reverse("leads:job", kwargs={"pk": job.pk})).headers["Cache-Control"].startswith("max-age=0")


def test_another_marketers_import_job_is_hidden_but_a_manager_sees_it(client, marketer, manager):
    other = factories.marketer(username="otto.other")
    job = Job.objects.create(kind="csv_import", created_by=other, total=10)
    url = reverse("leads:job", kwargs={"pk": job.pk})

    client.force_login(marketer)
    assert client.get(url).status_code == 404
    client.force_login(other)
    assert client.get(url).status_code == 200
    client.force_login(manager)
    assert client.get(url).status_code == 200


# --- explanations -----------------------------------------------------------------------------


def test_the_lead_page_lists_the_parts_of_each_score(client, marketer):
    lead = engaged_lead()
    client.force_login(marketer)

    response = client.get(lead.get_absolute_url())

    text = text_of(response)
    assert "Fit 55 C-level or VP +25 Mid-market or enterprise +15 Target industry +10 Core territory +5" in text
    assert "Engagement 32 Webinar attended +24 Pricing page view +8" in text
    parts = lead.score_explanation
    assert sum(p["points"] for p in parts if p["kind"] == "fit") == lead.fit_score == 55
    assert sum(p["points"] for p in parts if p["kind"] == "engagement") == lead.engagement_score == 32
    assert "Scored with v1 at" in text
    assert "Hot" not in re.findall(r"\bHot\b", text)


def test_a_hot_lead_gets_a_hot_badge_and_negative_parts_read_as_negative(client, marketer):
    lead = LeadFactory(email="someone@gmail.com", job_title="Student", company=None)
    ActivityFactory(lead=lead, type=ActivityType.objects.get(code="demo_request"), occurred_at=timezone.now())
    services.scoring_rescore_leads(lead_ids=[lead.pk])
    client.force_login(marketer)

    response = client.get(lead.get_absolute_url())

    text = text_of(response)
    assert 'data-testid="hot-badge"' in response.content.decode()
    assert "Student or intern −30" in text
    assert "Free-mail address −15" in text
    assert "Fit -45" in text  # the total, as the score tile shows it
    assert "Demo request +40" in text


def test_scores_set_outside_scoring_say_their_breakdown_is_missing(client, marketer):
    lead = LeadFactory(fit_score=33, engagement_score=21)
    client.force_login(marketer)

    text = text_of(client.get(lead.get_absolute_url()))

    assert "set before their breakdown was recorded" in text


def test_the_version_that_scored_a_lead_shows_when_loaded_with_it(marketer):
    lead = engaged_lead()
    template = Template("{% load scoring_tags %}{% scored_with_version lead as v %}[{{ v|default:'' }}]")

    joined = Lead.objects.select_related("scoring_model").get(pk=lead.pk)
    plain = Lead.objects.get(pk=lead.pk)

    assert template.render(Context({"lead": joined})) == "[1]"
    assert template.render(Context({"lead": plain})) == "[]"  # never a query of its own


def queries_for(client, url: str, params: dict | None = None) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


def test_the_explanation_adds_no_query_to_the_lead_page(client, marketer, django_assert_num_queries):
    bare = LeadFactory()
    Lead.objects.filter(pk=bare.pk).update(score_explanation=[], scored_at=None, scoring_model=None)
    lead = engaged_lead()
    client.force_login(marketer)
    baseline = queries_for(client, bare.get_absolute_url())  # nothing to explain, not scored

    with django_assert_num_queries(baseline):
        response = client.get(lead.get_absolute_url())
    assert len(response.context["timeline"]) == 3
    assert "Webinar attended +24" in text_of(response)


def test_the_lead_list_explains_scores_without_extra_queries(client, marketer, django_assert_num_queries):
    for lead in [LeadFactory(), LeadFactory()]:
        Lead.objects.filter(pk=lead.pk).update(score_explanation=[])
    client.force_login(marketer)
    baseline = queries_for(client, reverse("leads:list"), {"sort": "fit"})  # two rows, nothing to explain
    leads = [engaged_lead() for _ in range(12)]

    with django_assert_num_queries(baseline):
        response = client.get(reverse("leads:list"), {"sort": "fit"})

    html = response.content.decode()
    for lead in leads:
        assert f'data-score-explain="explain-{lead.pk}-fit"' in html
        assert f'<template id="explain-{lead.pk}-engagement">' in html
    template = re.search(rf'<template id="explain-{leads[0].pk}-engagement">(.*?)</template>', html, re.S).group(1)
    template_text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", template))).strip()
    assert template_text == "Engagement 32 Webinar attended +24 Pricing page view +8"
    assert "js/scoring.js" in html
