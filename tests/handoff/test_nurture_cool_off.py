"""Nurture has a cool-off: a lead sent back to nurture stays there until its "nurture until"
date, and then only what it did since the recycling brings it back.

What a user noticed before: a lead an SDR sent to nurture ("not now, call back in Q3") was back
at MQL seconds later, after one e-mail open, by the scoring rule, skipping every human review.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from handoff import services
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityType, Lead
from tests import factories

pytestmark = pytest.mark.django_db

ENGAGED = ("webinar_attended", "webinar_attended", "pricing_page_view", "pricing_page_view", "content_download")


def act(lead: Lead, code: str, *, when=None) -> None:  # type: ignore[no-untyped-def]
    factories.ActivityFactory(
        lead=lead, type=ActivityType.objects.get(code=code), occurred_at=when or timezone.now()
    )


@pytest.fixture
def engaged_mql(team):  # type: ignore[no-untyped-def]
    """A lead the scoring model made an MQL: good fit, plenty of engagement."""
    lead = factories.LeadFactory(job_title="VP of Marketing")
    for code in ENGAGED:
        act(lead, code, when=timezone.now() - timedelta(days=1))
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    return lead


def rejected_by_the_sdr(lead: Lead, marketer, **kwargs) -> Lead:  # type: ignore[no-untyped-def]
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    services.lead_reject(
        lead_id=lead.pk, user=assignment.rep, to=Stage.RECYCLED, reason_code="bad_timing", note="Call back in Q3",
        **kwargs,
    )  # fmt: skip
    lead.refresh_from_db()
    return lead


def test_one_email_open_does_not_bring_a_nurtured_lead_straight_back(engaged_mql, marketer):
    lead = rejected_by_the_sdr(engaged_mql, marketer)
    act(lead, "email_open")
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED


def test_the_cool_off_defaults_to_the_reasons_days(engaged_mql, marketer):
    before = timezone.now()
    lead = rejected_by_the_sdr(engaged_mql, marketer)
    assert before + timedelta(days=90) <= lead.nurture_until <= timezone.now() + timedelta(days=90)
    assert lead.engagement_since >= before
    assert "nurture until" in lead.transitions.latest().reason

    other = factories.lead_at_stage(Stage.MQL)
    services.lead_send_to_nurture(lead_id=other.pk, user=marketer, reason_code="no_budget")
    other.refresh_from_db()
    assert (other.nurture_until - other.engagement_since).days == 180


def test_the_dialog_and_the_api_can_choose_the_date(engaged_mql, marketer, team):
    chosen = timezone.localdate() + timedelta(days=30)
    lead = rejected_by_the_sdr(engaged_mql, marketer, nurture_until=chosen)
    assert timezone.localtime(lead.nurture_until).date() == chosen

    other = factories.lead_at_stage(Stage.MQL)
    client = APIClient()
    client.force_authenticate(marketer)
    response = client.post(
        "/api/v1/queue/nurture/",
        {"leads": [other.pk], "reason": "bad_timing", "nurture_until": str(chosen + timedelta(days=1))},
        format="json",
    )
    assert response.status_code == 200, response.content
    other.refresh_from_db()
    assert timezone.localtime(other.nurture_until).date() == chosen + timedelta(days=1)


def test_a_cool_off_ending_in_the_past_is_refused_naming_the_field(marketer, team):
    lead = factories.lead_at_stage(Stage.MQL)
    with pytest.raises(ValidationError) as refused:
        services.lead_send_to_nurture(
            lead_id=lead.pk, user=marketer, reason_code="bad_timing", nurture_until=timezone.localdate() - timedelta(1)
        )
    assert "in the past" in refused.value.message_dict["nurture_until"][0]
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL, "nothing was written"


def test_after_the_cool_off_old_points_do_not_count_but_new_engagement_does(engaged_mql, marketer):
    lead = rejected_by_the_sdr(engaged_mql, marketer, nurture_until=timezone.localdate() + timedelta(days=1))
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.engagement_score == 0, "only engagement since the recycling counts"

    Lead.objects.filter(pk=lead.pk).update(nurture_until=timezone.now() - timedelta(minutes=1))  # the date came
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED, "the old webinars and pricing views must not bring it back"

    for code in ENGAGED:
        act(lead, code)
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert lead.transitions.latest().reason.startswith("Back from nurture (return 1): Fit ")


def test_the_queue_marks_a_lead_back_from_nurture_with_how_often_and_why(engaged_mql, marketer, client):
    lead = rejected_by_the_sdr(engaged_mql, marketer, nurture_until=timezone.localdate() + timedelta(days=1))
    Lead.objects.filter(pk=lead.pk).update(nurture_until=timezone.now() - timedelta(minutes=1))
    for code in ENGAGED:
        act(lead, code)
    lead_services.scoring_rescore_leads(lead_ids=[lead.pk])
    client.force_login(marketer)

    html = client.get("/queue/").content.decode()

    assert "Back from nurture" in html
    assert "last rejected: Not now / timing" in html


def test_the_lead_page_shows_the_cool_off(engaged_mql, marketer, client):
    until = timezone.localdate() + timedelta(days=30)
    lead = rejected_by_the_sdr(engaged_mql, marketer, nurture_until=until)
    client.force_login(marketer)
    html = client.get(lead.get_absolute_url()).content.decode()
    assert f"In nurture until {until:%a} {until.day} {until:%b %Y}" in html
    assert "no rescoring brings it back before then" in html
