"""Activity ingestion, lead upsert and website-form capture (services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads import ingestion
from leads.lifecycle import Actor, Stage
from leads.models import Activity, Campaign, Channel, Company, Lead, RescoreRequest, ScoringRun
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db
API = Actor.rule_named("API: test")


def item(**overrides):
    data = {
        "email": "ada@analytical.io",
        "type": "page_view",
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "source_system": "web",
        "external_id": "evt-1",
        "properties": {"url": "/pricing"},
    }
    data.update(overrides)
    return data


def test_new_email_creates_the_lead_company_campaign_and_attribution():
    (result,) = ingestion.activities_ingest(
        items=[
            item(
                lead={"first_name": "Ada", "job_title": "CTO", "company_name": "Analytical Engines"},
                utm={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "q4-brand"},
            )
        ],
        actor=API,
    )
    assert result.status == "created"
    assert result.lead_created
    lead = Lead.objects.get(email="ada@analytical.io")
    assert (lead.first_name, lead.job_title, lead.source_channel) == ("Ada", "CTO", Channel.PAID_SEARCH)
    assert lead.source_detail == "google / cpc"
    assert lead.campaign == Campaign.objects.get(slug="q4-brand")
    assert lead.company == Company.objects.get(domain="analytical.io", name="Analytical Engines")
    assert lead.transitions.get().to_stage == Stage.LEAD
    assert Activity.objects.get(pk=result.activity_id).lead == lead


def test_existing_lead_is_matched_by_normalised_email_and_keeps_its_attribution():
    lead = LeadFactory(email="grace@navy.mil", source_channel=Channel.EVENT)
    (result,) = ingestion.activities_ingest(
        items=[item(email="  Grace@NAVY.mil", utm={"utm_source": "google", "utm_medium": "cpc"})], actor=API
    )
    assert (result.status, result.lead_id, result.lead_created) == ("created", lead.pk, False)
    lead.refresh_from_db()
    assert lead.source_channel == Channel.EVENT


def test_resending_is_safe_and_in_batch_repeats_are_duplicates():
    first = ingestion.activities_ingest(items=[item(), item(external_id="evt-2")], actor=API)
    again = ingestion.activities_ingest(items=[item(), item(external_id="evt-3"), item(external_id="evt-3")], actor=API)
    assert [r.status for r in first] == ["created", "created"]
    assert [r.status for r in again] == ["duplicate", "created", "duplicate"]
    assert again[0].activity_id == first[0].activity_id
    assert again[2].activity_id == again[1].activity_id
    assert Activity.objects.count() == 3


def test_the_same_external_id_from_another_system_is_not_a_duplicate():
    ingestion.activities_ingest(items=[item(source_system="web")], actor=API)
    (result,) = ingestion.activities_ingest(items=[item(source_system="marketo")], actor=API)
    assert result.status == "created"


def test_every_item_is_answered_with_its_own_activity_in_a_mixed_batch():
    stored = ingestion.activities_ingest(items=[item(external_id="old", properties={"n": "old"})], actor=API)[0]
    items = [
        item(external_id="", properties={"n": 0}),
        item(external_id="a", properties={"n": 1}),
        item(external_id="", properties={"n": 2}, email="grace@navy.mil"),
        item(external_id="old", properties={"n": 3}),
        item(external_id="a", properties={"n": 4}),
        item(external_id="", properties={"n": 5}),
        item(external_id="b", properties={"n": 6}, source_system="marketo"),
    ]

    results = ingestion.activities_ingest(items=items, actor=API)

    assert [r.status for r in results] == [
        "created",
        "created",
        "created",
        "duplicate",
        "duplicate",
        "created",
        "created",
    ]
    activities = Activity.objects.in_bulk([r.activity_id for r in results])
    for n in (0, 1, 2, 5, 6):  # each created item points at the activity holding its own data
        activity = activities[results[n].activity_id]
        assert activity.properties == {"n": n}
        assert activity.lead_id == results[n].lead_id
        assert (activity.source_system, activity.external_id) == (items[n]["source_system"], items[n]["external_id"])
    assert activities[results[2].activity_id].lead.email == "grace@navy.mil"
    assert results[3].activity_id == stored.activity_id  # sent before: the stored one, unchanged
    assert activities[stored.activity_id].properties == {"n": "old"}
    assert results[4].activity_id == results[1].activity_id  # repeated in the batch: its first occurrence
    assert Activity.objects.count() == 6


def test_activities_are_stored_as_sent():
    now = timezone.now()
    properties = {"url": "/prix?é=1", "tags": ["a", "b"], "nested": {"n": 1.5, "ok": True, "none": None}}
    (result,) = ingestion.activities_ingest(
        items=[item(occurred_at="2026-01-05T10:30:00.123456+02:00", properties=properties, type="content_download")],
        actor=API,
    )
    activity = Activity.objects.get(pk=result.activity_id)
    assert activity.occurred_at == datetime(2026, 1, 5, 8, 30, 0, 123456, tzinfo=UTC)  # the same instant
    assert activity.properties == properties
    assert Activity.objects.filter(properties__url="/prix?é=1", properties__nested__ok=True).get() == activity
    assert (activity.type_id, activity.source_system, activity.external_id) == ("content_download", "web", "evt-1")
    assert activity.user is None
    assert now <= activity.created_at <= timezone.now()
    # Ordered among the ORM's own rows by time: a row from the ORM an hour later sorts after it.
    later = ActivityFactory(lead=activity.lead, occurred_at=activity.occurred_at + timedelta(hours=1))
    assert list(Activity.objects.filter(occurred_at__gt=activity.occurred_at)) == [later]


def test_an_item_without_occurred_at_happened_now():
    before = timezone.now()
    (result,) = ingestion.activities_ingest(items=[item(occurred_at=None)], actor=API)
    assert before <= Activity.objects.get(pk=result.activity_id).occurred_at <= timezone.now()


def test_properties_that_are_not_json_are_an_error_naming_the_field():
    results = ingestion.activities_ingest(
        items=[item(external_id="nan", properties={"score": float("nan")}), item(external_id="ok")], actor=API
    )
    assert results[0].status == "error"
    assert "JSON values" in results[0].errors["properties"][0]
    assert results[1].status == "created"
    assert Activity.objects.count() == 1


def test_a_resent_batch_asks_for_no_rescore():
    ingestion.activities_ingest(items=[item(), item(external_id="evt-2")], actor=API)
    RescoreRequest.objects.all().delete()

    results = ingestion.activities_ingest(items=[item(), item(external_id="evt-2")], actor=API)

    assert {r.status for r in results} == {"duplicate"}
    assert not RescoreRequest.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"email": None}, "email", "required"),
        ({"type": "telepathy"}, "type", "not an activity type"),
        ({"type": None}, "type", "required"),
        ({"occurred_at": "yesterday"}, "occurred_at", "not an ISO 8601"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at", "time zone"),
        ({"occurred_at": "2999-01-01T10:00:00Z"}, "occurred_at", "future"),
        ({"properties": ["a"]}, "properties", "JSON object"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"lead": {"first_name": "x" * 101}}, "lead.first_name", "At most 100"),
        ({"lead": {"shoe": "42"}}, "lead.shoe", "Unknown field"),
        ({"utm": {"utm_campaign": 5.5, "utm_x": "1"}}, "utm.utm_x", "Unknown field"),
    ],
)
def test_bad_items_get_errors_naming_the_field_and_good_ones_still_land(overrides, field, message):
    results = ingestion.activities_ingest(items=[item(external_id="ok"), item(**overrides)], actor=API)
    assert results[0].status == "created"
    assert results[1].status == "error"
    assert message in results[1].errors[field][0]
    assert Activity.objects.count() == 1


def test_an_item_that_is_not_an_object_is_an_error():
    (result,) = ingestion.activities_ingest(items=["hello"], actor=API)
    assert result.errors == {"non_field_errors": ["Each item must be a JSON object."]}


def test_oversize_batches_are_refused_whole():
    with pytest.raises(ValidationError, match="At most 5000 activities"):
        ingestion.activities_ingest(items=[item()] * 5001, actor=API)
    assert not Activity.objects.exists()


def test_a_batch_of_many_leads_writes_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    items = [item(email=f"p{i}@corp{i % 10}.example", external_id=f"e{i}") for i in range(300)]
    with django_assert_max_num_queries(25):
        results = ingestion.activities_ingest(items=items, actor=API)
    assert {r.status for r in results} == {"created"}
    assert Lead.objects.count() == 300
    assert Company.objects.count() == 10


def test_ingested_activities_are_rescored_once_per_lead(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingestion.activities_ingest(
            items=[item(type="demo_request", external_id=f"d{i}") for i in range(20)], actor=API
        )
    lead = Lead.objects.get()
    assert ScoringRun.objects.count() == 1
    assert not RescoreRequest.objects.exists()
    assert lead.engagement_score == 40  # capped at one demo request's worth


@pytest.mark.parametrize(
    ("source", "medium", "channel"),
    [
        ("google", "cpc", Channel.PAID_SEARCH),
        ("linkedin", "paid_social", Channel.PAID_SOCIAL),
        ("linkedin", "", Channel.ORGANIC_SOCIAL),
        ("newsletter", "email", Channel.EMAIL),
        ("bing", "organic", Channel.ORGANIC_SEARCH),
        ("", "", Channel.DIRECT),
        ("partnerco", "partner", Channel.PARTNER),
        ("zzz", "yyy", Channel.OTHER),
    ],
)
def test_channel_from_utm(source, medium, channel):
    assert ingestion.channel_from_utm(source, medium) == channel


def test_upsert_creates_then_updates_only_given_profile_fields():
    lead, created = ingestion.lead_upsert(
        email="Linus@Kernel.org", actor=API, fields={"first_name": "Linus", "job_title": "Maintainer"},
        utm={"utm_source": "newsletter", "utm_medium": "email"},
    )  # fmt: skip
    assert created
    again, created = ingestion.lead_upsert(
        email="linus@kernel.org", actor=API, fields={"phone": "+1 555 0100"}, utm={"utm_medium": "cpc"}
    )
    assert (again.pk, created) == (lead.pk, False)
    again.refresh_from_db()
    assert (again.first_name, again.phone, again.source_channel) == ("Linus", "+1 555 0100", Channel.EMAIL)


def test_upsert_refuses_unknown_or_too_long_fields():
    with pytest.raises(ValidationError) as error:
        ingestion.lead_upsert(email="a@b.example", actor=API, fields={"stage": "sql", "phone": "1" * 41})
    assert set(error.value.message_dict) == {"stage", "phone"}
    assert not Lead.objects.exists()


def test_form_capture_records_submission_attribution_and_is_idempotent():
    source, key = ingestion.form_source_create(name="Website demo form", activity_type_id="demo_request",
                                               default_channel=Channel.DIRECT)  # fmt: skip
    assert ingestion.form_source_for_key(key) == source
    assert ingestion.form_source_for_key(key + "x") is None
    data = {
        "email": "Buyer@BigCo.example", "first_name": "Bea", "company": "BigCo", "message": "Call me",
        "utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "abm-q4",
        "submission_id": "s-1",
    }  # fmt: skip
    lead, activity, created = ingestion.form_capture(source=source, data=data)
    assert created
    assert (lead.email, lead.source_channel, lead.campaign.slug) == (
        "buyer@bigco.example",
        Channel.PAID_SOCIAL,
        "abm-q4",
    )
    assert lead.company.name == "BigCo"
    assert activity.type_id == "demo_request"
    assert activity.properties == {
        "form": "Website demo form", "message": "Call me",
        "utm_source": "linkedin", "utm_medium": "paid_social", "utm_campaign": "abm-q4",
    }  # fmt: skip
    _, again, created = ingestion.form_capture(source=source, data=data)
    assert (again.pk, created) == (activity.pk, False)


def test_form_without_utm_uses_the_sources_channel():
    source, _ = ingestion.form_source_create(name="Events form", default_channel=Channel.EVENT)
    lead, _, _ = ingestion.form_capture(source=source, data={"email": "x@y.example"})
    lead.refresh_from_db()
    assert lead.source_channel == Channel.EVENT


def test_form_capture_with_a_bad_email_writes_nothing():
    source, _ = ingestion.form_source_create(name="Website")
    with pytest.raises(ValidationError) as error:
        ingestion.form_capture(source=source, data={"email": "nope"})
    assert "email" in error.value.message_dict
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()


def test_a_public_form_fills_blanks_but_never_overwrites_a_known_lead():
    lead = LeadFactory(email="ceo@bigco.example", first_name="Real", job_title="")
    source, _ = ingestion.form_source_create(name="Website")
    ingestion.form_capture(source=source, data={"email": "ceo@bigco.example", "first_name": "Prankster",
                                                "job_title": "CEO"})  # fmt: skip
    lead.refresh_from_db()
    assert (lead.first_name, lead.job_title) == ("Real", "CEO")
