"""Finding and merging duplicate leads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils import timezone

from leads import selectors, services
from leads.lifecycle import Actor, Stage
from leads.models import Activity, Channel, Lead, LeadMerge
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory, lead_at_stage

pytestmark = pytest.mark.django_db


def test_same_name_at_the_same_company_or_same_phone_are_likely_duplicates():
    company = CompanyFactory()
    lead = LeadFactory(first_name="Ada", last_name="Lovelace", company=company, phone="+44 20 7946 0000")
    same_name = LeadFactory(first_name="ada", last_name="LOVELACE", company=company, email="a.l@other.example")
    same_phone = LeadFactory(first_name="Someone", last_name="Else", phone="(44) 20-7946-0000")
    LeadFactory(first_name="Ada", last_name="Lovelace")  # same name, another company
    LeadFactory(first_name="Bob", last_name="Byron", company=company)

    assert {d.pk for d in selectors.lead_duplicates(lead=lead)} == {same_name.pk, same_phone.pk}


def test_merge_moves_activities_and_history_and_records_it(marketer):
    survivor = lead_at_stage(Stage.MQL, first_name="Ada", job_title="")
    duplicate = LeadFactory(first_name="Ada", job_title="CTO", phone="555 0100 22")
    ActivityFactory.create_batch(3, lead=duplicate)
    ActivityFactory(lead=survivor)

    merged = services.lead_merge(survivor_id=survivor.pk, duplicate_id=duplicate.pk, actor=Actor(user=marketer))

    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    assert Activity.objects.filter(lead=merged).count() == 4
    assert merged.transitions.count() == 3  # survivor's two plus the duplicate's creation
    assert (merged.job_title, merged.phone_digits, merged.stage) == ("CTO", "555010022", Stage.MQL)
    record = LeadMerge.objects.get()
    assert (record.merged_email, record.activities_moved, record.transitions_moved, record.actor) == (
        duplicate.email, 3, 1, marketer,
    )  # fmt: skip


def test_the_earlier_first_touch_wins(marketer):
    survivor = LeadFactory(source_channel=Channel.PAID_SEARCH)
    duplicate = LeadFactory(source_channel=Channel.EVENT, created_at=timezone.now() - timedelta(days=40))
    merged = services.lead_merge(survivor_id=survivor.pk, duplicate_id=duplicate.pk, actor=Actor(user=marketer))
    assert merged.source_channel == Channel.EVENT
    assert merged.created_at == duplicate.created_at


def test_merge_refuses_nonsense(marketer):
    lead = LeadFactory()
    with pytest.raises(ValidationError, match="into itself"):
        services.lead_merge(survivor_id=lead.pk, duplicate_id=lead.pk, actor=Actor(user=marketer))
    with pytest.raises(ValidationError, match="no longer exists"):
        services.lead_merge(survivor_id=lead.pk, duplicate_id=lead.pk + 999, actor=Actor(user=marketer))


def test_leads_with_history_cannot_simply_be_deleted():
    with pytest.raises(ProtectedError):
        LeadFactory().delete()
