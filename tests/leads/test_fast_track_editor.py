"""The fast track on the scoring pages: the draft editor shows and edits its floor and lists the
fit rules that hold a hot lead for review; the overview says the same of the active model; the
preview counts hot leads fast-tracked and held under both models, as leads.fast_track decides."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads import scoring, services
from leads.fast_track import fast_track_verdict
from leads.lifecycle import Actor, Stage
from leads.models import ActivityType, Channel, Job, Lead, ScoringModel, ScoringModelStatus
from tests.factories import ActivityFactory, LeadFactory, lead_at_stage
from tests.leads.test_scoring_pages import settings_data
from tests.leads.test_scoring_pages import text_of as page_text

pytestmark = pytest.mark.django_db

# The default model's fit rules with negative points, most negative first.
DEFAULT_JUNK = "Competitor −60, Student or intern −30, Academic address −25, Free-mail address −15"


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text as it reads: no space where a tag ended next to a bracket or a comma."""
    return re.sub(r"\(\s+", "(", re.sub(r"\s+([),:])", r"\1", page_text(response)))


def active_model() -> ScoringModel:
    return ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)


def editor_url(draft: ScoringModel) -> str:
    return reverse("leads:scoring_draft", kwargs={"pk": draft.pk})


def hot_lead(**kwargs) -> Lead:  # type: ignore[no-untyped-def]
    """A lead that asked for a demo (scored, so it is an MQL by the fast track)."""
    lead = LeadFactory(**kwargs)
    ActivityFactory(lead=lead, type=ActivityType.objects.get(code="demo_request"))
    services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    return lead


# --- the editor and the overview ---------------------------------------------------------------


def test_the_editor_explains_the_fast_track_with_its_floor_and_the_drafts_negative_rules(client, marketer):
    draft = services.scoring_draft_create(user=marketer)
    client.force_login(marketer)

    response = client.get(editor_url(draft))

    text = text_of(response)
    assert (
        "A hot signal makes a lead an MQL and hands it to sales at once, whatever its scores — unless its fit "
        f"is below 10 or it matches a fit rule with negative points ({DEFAULT_JUNK}): then it waits in the "
        "queue for review."
    ) in text
    assert "Never fast-track below fit" in text
    html = response.content.decode()
    assert 'name="fast_track_min_fit" value="10"' in html
    assert "data-fast-track-floor-input" in html
    assert "js/scoring.js" in html
    # Hot signal types and their window are edited in the same section.
    section = html[html.index('data-testid="fast-track-settings"') :]
    assert 'name="hot_signal_types"' in section
    assert 'name="hot_signal_window_days"' in section


def test_the_list_of_negative_rules_is_the_drafts_own(client, marketer):
    draft = services.scoring_draft_create(user=marketer)
    services.scoring_rule_delete(model_id=draft.pk, kind="fit", rule_id=draft.fit_rules.get(label="Competitor").pk)
    services.fit_rule_save(
        model_id=draft.pk, rule_id=None, label="Job seeker", attribute="job_title", operator="contains_any",
        values=["looking for work"], points=-40,
    )  # fmt: skip
    client.force_login(marketer)

    editor = text_of(client.get(editor_url(draft)))
    overview = text_of(client.get(reverse("leads:scoring")))

    assert "(Job seeker −40, Student or intern −30, Academic address −25, Free-mail address −15)" in editor
    assert f"({DEFAULT_JUNK})" in overview  # the active model is unchanged


def test_a_draft_without_hot_signals_or_negative_rules_says_so(client, marketer):
    draft = services.scoring_draft_create(user=marketer)
    draft.hot_signal_types.clear()
    for rule in draft.fit_rules.filter(points__lt=0):
        services.scoring_rule_delete(model_id=draft.pk, kind="fit", rule_id=rule.pk)
    client.force_login(marketer)

    text = text_of(client.get(editor_url(draft)))

    assert "No activity is a hot signal, so no lead is fast-tracked" in text
    assert "unless its fit is below 10: then it waits in the queue for review." in text
    assert "No fit rule has negative points" in text


def test_the_overview_and_a_version_page_show_the_active_models_fast_track(client, marketer):
    client.force_login(marketer)

    for url in (reverse("leads:scoring"), reverse("leads:scoring_version", kwargs={"pk": active_model().pk})):
        text = text_of(client.get(url))
        assert "Fast track · never below fit 10" in text
        assert f"unless its fit is below 10 or it matches a fit rule with negative points ({DEFAULT_JUNK})" in text
        assert "Never fast-track below fit" not in text  # read-only: no field


def test_saving_a_floor_changes_the_draft_only(client, marketer):
    draft = services.scoring_draft_create(user=marketer)
    client.force_login(marketer)

    response = client.post(editor_url(draft), settings_data(draft, fast_track_min_fit=25))

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.fast_track_min_fit == 25
    assert active_model().fast_track_min_fit == 10
    page = text_of(client.get(editor_url(draft)))
    assert "unless its fit is below 25 or it matches" in page


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "The fast-track floor is a whole number of fit points, e.g. 10."),
        ("12.5", "The fast-track floor is a whole number of fit points, e.g. 10."),
        ("", "Give the fit below which a hot lead is never fast-tracked, e.g. 10."),
    ],
)
def test_a_floor_that_is_not_a_whole_number_is_refused_on_its_field(client, marketer, value, message):
    draft = services.scoring_draft_create(user=marketer)
    client.force_login(marketer)

    response = client.post(editor_url(draft), settings_data(draft, fast_track_min_fit=value, mql_fit_threshold=35))

    assert response.status_code == 200
    errors = response.context["settings_form"].errors
    assert list(errors) == ["fast_track_min_fit"]
    assert errors["fast_track_min_fit"] == [message]
    assert message in text_of(response)
    assert "Nothing was saved" in text_of(response)
    draft.refresh_from_db()
    assert (draft.fast_track_min_fit, draft.mql_fit_threshold) == (10, 30)


def test_changing_the_floor_after_a_preview_makes_it_stale(client, marketer, django_capture_on_commit_callbacks):
    draft = services.scoring_draft_create(user=marketer)
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("leads:scoring_preview", kwargs={"pk": draft.pk}))
    assert not client.get(editor_url(draft)).context["preview"]["stale"]

    client.post(editor_url(draft), settings_data(draft, fast_track_min_fit=20))

    assert client.get(editor_url(draft)).context["preview"]["stale"]


# --- the preview -------------------------------------------------------------------------------


def hot_leads() -> dict[str, Lead]:
    """Demo requests from: an engineer (fit 23: under the thresholds, over the floor), a VP (48),
    a student (−55: a negative rule), a director on free mail (26, with −15 for free mail), an
    engineer with no company (fit 0: under the floor); and a VP who only attended a webinar."""
    leads = {
        "engineer": hot_lead(job_title="Engineer", source_channel=Channel.PAID_SEARCH),
        "vp": hot_lead(job_title="VP Sales", source_channel=Channel.PAID_SEARCH),
        "student": hot_lead(job_title="Student", email="kid@uni.edu", company=None,
                            source_channel=Channel.ORGANIC_SEARCH),
        "free_mail": hot_lead(job_title="Head of Marketing", email="pat@gmail.com",
                              source_channel=Channel.ORGANIC_SEARCH),
        "no_company": hot_lead(job_title="Engineer", company=None, source_channel=Channel.PAID_SEARCH),
    }  # fmt: skip
    cold = LeadFactory(job_title="VP Sales", source_channel=Channel.WEBINAR)
    ActivityFactory(lead=cold, type=ActivityType.objects.get(code="webinar_attended"))
    services.scoring_rescore_leads(lead_ids=[cold.pk])
    leads["cold"] = cold
    return leads


def lenient_draft(user) -> ScoringModel:  # type: ignore[no-untyped-def]
    """A draft with no floor (0) and no free-mail rule: only the student is still held."""
    draft = services.scoring_draft_create(user=user)
    services.scoring_draft_update(model_id=draft.pk, fast_track_min_fit=0)
    free_mail = draft.fit_rules.get(label="Free-mail address")
    services.scoring_rule_delete(model_id=draft.pk, kind="fit", rule_id=free_mail.pk)
    draft.refresh_from_db()
    return draft


def run_preview(client, draft, capture) -> Job:  # type: ignore[no-untyped-def]
    with capture(execute=True):
        client.post(reverse("leads:scoring_preview", kwargs={"pk": draft.pk}))
    return Job.objects.get(kind="scoring_preview", params__model_id=draft.pk)


def test_the_preview_counts_fast_tracked_and_held_hot_leads_under_both_models(
    client, marketer, django_capture_on_commit_callbacks
):
    leads = hot_leads()
    assert (leads["engineer"].fit_score, leads["free_mail"].fit_score, leads["no_company"].fit_score) == (23, 26, 0)
    assert leads["engineer"].stage == Stage.MQL  # the fast track, below the thresholds
    draft = lenient_draft(marketer)
    client.force_login(marketer)

    job = run_preview(client, draft, django_capture_on_commit_callbacks)

    result = job.result
    # Active: the engineer and the VP go at once; student, free mail and fit 0 wait for review.
    # Draft: everyone but the student goes at once.
    assert (result["active_fast_track"], result["draft_fast_track"]) == (2, 4)
    assert (result["active_held"], result["draft_held"]) == (3, 1)
    assert result["fast_track_by_channel"] == {
        Channel.PAID_SEARCH: {"active": 2, "draft": 3, "active_held": 1, "draft_held": 0},
        Channel.ORGANIC_SEARCH: {"active": 0, "draft": 1, "active_held": 2, "draft_held": 1},
    }
    assert result["by_channel"][Channel.WEBINAR] == {"active": 0, "draft": 0, "leads": 1}  # unchanged shape
    page = client.get(editor_url(draft))
    text = text_of(page)
    assert "Fast track: 2 → 4 +2 · held for review: 3 → 1 −2" in text
    # Leads; MQL under active, draft, difference; fast-tracked and held, active → draft.
    assert "Paid search 3 1 1 0 2 → 3 1 → 0" in text
    assert "Organic search 2 0 1 +1 0 → 1 2 → 1" in text  # free mail: fit 41 in the draft, an MQL
    assert "All channels 6 1 2 +1 2 → 4 3 → 1" in text
    assert "Hot, active → draft" in text


def test_bulk_preview_numbers_are_what_the_fast_track_says_of_each_lead(marketer, django_capture_on_commit_callbacks):
    leads = hot_leads()
    # Back to nurture, then asking again during the cool-off: held under either model.
    recycled = lead_at_stage(Stage.MQL, job_title="VP Sales", source_channel=Channel.EVENT)
    services.lead_transition(lead_id=recycled.pk, to=Stage.RECYCLED, actor=Actor(user=marketer), reason="Not now")
    ActivityFactory(lead=recycled, type=ActivityType.objects.get(code="demo_request"))
    services.scoring_rescore_leads(lead_ids=[recycled.pk])
    leads["recycled"] = Lead.objects.get(pk=recycled.pk)
    assert leads["recycled"].hot_signal_at is not None
    assert leads["recycled"].nurture_until > timezone.now()
    draft = lenient_draft(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.scoring_preview_start(model_id=draft.pk, user=marketer)
    job.refresh_from_db()
    as_of = datetime.fromisoformat(job.result["as_of"])
    ids = [lead.pk for lead in leads.values()]

    expected: dict[str, Counter] = {"active": Counter(), "draft": Counter()}
    for side, model in (("active", active_model()), ("draft", draft)):
        rows = scoring.compute(scoring.ScoringSpec.load(model), scoring.LeadSet.of(ids), as_of=as_of)
        for row in rows:
            lead = Lead.objects.get(pk=row["lead_id"])
            if side == "active":  # what the lead holds is what the active model gives it
                assert (lead.fit_score, lead.is_hot) == (row["fit"], row["hot_at"] is not None)
            verdict = fast_track_verdict(
                model=model, fit_score=row["fit"], explanation=row["explanation"], hot_signal_at=row["hot_at"],
                nurture_until=lead.nurture_until, now=as_of,
            )  # fmt: skip
            if verdict.hot:
                state = "fast_track" if verdict.fast_tracked else "held"
                expected[side][state] += 1
                expected[side][(lead.source_channel, state)] += 1

    result = job.result
    for side in ("active", "draft"):
        assert (result[f"{side}_fast_track"], result[f"{side}_held"]) == (
            expected[side]["fast_track"],
            expected[side]["held"],
        )
        for channel, counts in result["fast_track_by_channel"].items():
            assert counts[side] == expected[side][(channel, "fast_track")], (side, channel)
            assert counts[f"{side}_held"] == expected[side][(channel, "held")], (side, channel)
    assert result["active_held"] == 4  # the recycled lead is held by its cool-off
    assert result["fast_track_by_channel"][Channel.EVENT] == {
        "active": 0,
        "draft": 0,
        "active_held": 1,
        "draft_held": 1,
    }


def test_scores_sql_keeps_its_columns_unless_asked_for_the_junk_flag():
    spec = scoring.ScoringSpec.load(active_model())
    student = LeadFactory(job_title="Student")
    clean = LeadFactory(job_title="VP Sales")
    dialect = scoring.current_dialect()
    for junk, columns in ((False, ["lead_id", "fit", "engagement", "explanation", "hot_at"]),
                          (True, ["lead_id", "fit", "engagement", "explanation", "hot_at", "junk"])):  # fmt: skip
        sql, params = scoring.scores_sql(
            spec, scoring.LeadSet.of([student.pk, clean.pk]), timezone.now(), dialect, explain=False, junk=junk
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            assert [column[0] for column in cursor.description] == columns
            rows = {row[0]: row for row in cursor.fetchall()}
        if junk:
            assert (rows[student.pk][-1], rows[clean.pk][-1]) == (1, 0)
