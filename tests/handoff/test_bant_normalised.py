"""BANT content that means something (issue 14, item 6): an answer is normalised — invisible and
control characters taken out, whitespace collapsed — before the completeness rule, in the service,
the form, the API and the database, so an answer made only of zero-width characters is missing."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from handoff import services
from handoff.models import CallOutcome, DiscoveryCall
from leads.lifecycle import Stage
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u200e\u202e\u00ad\x07"  # zero-width, BOM, bidi marks, soft hyphen, BEL
TEXT_FIELDS = ("decision_maker", "need_pain", "need_use_case")


@pytest.fixture
def assigned(marketer, team, mql):  # type: ignore[no-untyped-def]
    lead = mql()
    assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
    return lead, assignment.rep


# --- the normaliser -------------------------------------------------------------------------------


def test_invisible_and_control_characters_go_and_whitespace_collapses():
    assert services.bant_text(f"{INVISIBLE} Dana\u200b  Diaz,\tVP\u00a0Revenue \n") == "Dana Diaz, VP Revenue"
    assert services.bant_text(INVISIBLE) == ""
    assert services.bant_text(" \u3000\u2028 ") == ""


def test_multi_line_answers_keep_their_paragraphs():
    text = "  Leads go cold.\u200b \r\n\r\n\r\n\tSales calls  back late.\n"
    assert services.bant_text(text, multiline=True) == "Leads go cold.\n\nSales calls back late."


def test_letters_joined_by_a_joiner_stay_joined():
    # Persian "mi-khaham" with its zero-width non-joiner: the joiner is a spelling, not padding.
    assert services.bant_text("می\u200cخواهم") == "می\u200cخواهم"
    assert services.bant_text("\u200c\u200c") == ""


@given(st.text())
def test_the_normalised_text_is_stable_and_has_nothing_invisible_at_its_edges(value):
    once = services.bant_text(value, multiline=True)
    assert services.bant_text(once, multiline=True) == once
    assert once == once.strip()
    for char in once:
        if unicodedata.category(char) in ("Cf", "Cc", "Cs"):
            assert char in "\n\u200c\u200d"


# --- the service, the form, the API ------------------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_the_service_counts_an_invisible_answer_as_missing(assigned, field):
    lead, rep = assigned
    with pytest.raises(ValidationError) as error:
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant(**{field: INVISIBLE}))
    assert error.value.message_dict == {field: [f"{services.BANT_FIELDS[field]}."]}
    assert not DiscoveryCall.objects.exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_the_service_stores_the_answers_normalised(assigned):
    lead, rep = assigned
    call = services.call_log(
        lead_id=lead.pk, user=rep, data=qualified_bant(decision_maker="\u200bDana   Diaz\u2060", notes="\ufeffok ")
    )
    call.refresh_from_db()
    assert (call.decision_maker, call.notes) == ("Dana Diaz", "ok")


def test_the_form_names_an_invisible_answer_as_missing(client, assigned):
    lead, rep = assigned
    client.force_login(rep)
    data = {key: ("" if value is None else str(value)) for key, value in qualified_bant(need_pain=INVISIBLE).items()}

    response = client.post(reverse("handoff:work_call", args=[lead.pk]), data)

    assert response.status_code == 200
    assert response.context["call_form"].errors == {
        "need_pain": ["Need: describe the problem in the prospect's words."]
    }
    assert not DiscoveryCall.objects.exists()


def test_the_api_names_an_invisible_answer_as_missing(assigned):
    lead, rep = assigned
    api = APIClient()
    api.force_login(rep)
    payload: dict[str, Any] = {
        key: (str(value) if key in ("budget_amount", "expected_decision_date") else value)
        for key, value in qualified_bant(decision_maker=INVISIBLE).items()
    }

    response = api.post(f"/api/v1/leads/{lead.pk}/discovery-calls/", payload, format="json")

    assert response.status_code == 400
    assert response.json() == {"decision_maker": ["Authority: say who makes the decision."]}
    assert not DiscoveryCall.objects.exists()


# --- the database -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_the_database_refuses_a_qualified_call_whose_answer_has_nothing_visible(assigned, field):
    lead, rep = assigned
    answers = {"decision_maker": "Dana Diaz", "need_pain": "Slow", "need_use_case": "Routing"}
    answers[field] = "\u200b\u2060 \ufeff\u202e"
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscoveryCall.objects.create(
            lead=lead, sdr=rep, held_at=timezone.now(), budget_status="approved", authority_role="decision_maker",
            timeframe="3m", expected_decision_date=timezone.localdate() + timedelta(days=30),
            outcome=CallOutcome.QUALIFIED, **answers,
        )  # fmt: skip


def test_the_database_keeps_real_answers_and_unqualified_calls(assigned):
    lead, rep = assigned
    common = {"lead": lead, "sdr": rep, "held_at": timezone.now(), "budget_status": "approved",
              "authority_role": "decision_maker", "timeframe": "3m",
              "expected_decision_date": timezone.localdate() + timedelta(days=30)}  # fmt: skip
    DiscoveryCall.objects.create(
        **common, decision_maker="Émile Zola, CEO", need_pain="می\u200cخواهم", need_use_case="路由",
        outcome=CallOutcome.QUALIFIED,
    )  # fmt: skip
    DiscoveryCall.objects.create(
        **common, decision_maker="\u200b", need_pain="\u200b", need_use_case="\u200b", outcome=CallOutcome.FOLLOW_UP
    )
    assert DiscoveryCall.objects.count() == 2
    assert connection.vendor in ("postgresql", "sqlite")
