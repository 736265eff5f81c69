"""One way to change a stage (issue 14, item 4): every stage pair walked through every door — the
lead page's POST, the API's transition endpoint, the admin's bulk action and its move-stage page —
and compared with the handoff's own door for the move (the queue's decisions, the rep's reject,
advance), for a marketer and for a manager: the same outcome (made, or refused with the same
words) and the same side effects (assignments ended, SLA clocks stopped, opportunities closed,
review clocks ended, rejections and queue reviews recorded).

Each lead is put in its state once, through the services; each door then tries each target inside
a savepoint that is rolled back, so every door starts from the very same rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from handoff import services
from handoff.models import (
    Assignment,
    HandoffRequest,
    Opportunity,
    QueueReview,
    Rejection,
    ReviewClock,
    SlaClock,
)
from leads import lifecycle
from leads import services as lead_services
from leads.lifecycle import Actor, Stage
from leads.models import Lead, StageTransition
from tests import factories
from tests.factories import qualified_bant

pytestmark = pytest.mark.django_db

REASON = "Checked on the phone"
TARGETS = list(Stage)
STATES = ("lead", "mql", "mql handed off", "sal", "sql", "opportunity", "customer", "recycled", "disqualified")
SALES_HELD = ("mql handed off", "sal", "sql", "opportunity", "customer")
OUT = (Stage.RECYCLED, Stage.DISQUALIFIED)

Outcome = tuple[bool, str]  # (made, the refusal's words)


# --- putting a lead in a state, through the services --------------------------------------------


def lead_in(state: str, *, marketer: Any) -> Lead:
    if state == "lead":
        return factories.LeadFactory()
    lead = factories.lead_at_stage(Stage.MQL)
    if state == "recycled":
        return services.lead_send_to_nurture(lead_id=lead.pk, user=marketer, reason_code="bad_timing")
    if state == "disqualified":
        return services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="student")
    if state == "mql":
        return lead
    rep = services.lead_hand_off(lead_id=lead.pk, user=marketer).rep
    if state == "sal":
        services.lead_accept(lead_id=lead.pk, user=rep)
    if state in ("sql", "opportunity", "customer"):
        services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
    if state in ("opportunity", "customer"):
        services.lead_advance(lead_id=lead.pk, user=rep, to=Stage.OPPORTUNITY)
    if state == "customer":
        services.lead_advance(lead_id=lead.pk, user=rep, to=Stage.CUSTOMER, reason="Signed")
    return Lead.objects.get(pk=lead.pk)


def effects(lead: Lead, since: int) -> dict[str, Any]:
    """What a move leaves behind on the lead, without timestamps."""
    row = Lead.objects.get(pk=lead.pk)
    return {
        "stage": row.stage,
        "owner": row.owner_id,
        "moves": list(
            StageTransition.objects.filter(lead=lead, pk__gt=since)
            .order_by("id")
            .values_list("from_stage", "to_stage", "actor_user", "reason")
        ),
        "assignments": list(Assignment.objects.filter(lead=lead).order_by("id").values_list("is_open", "end_reason")),
        "clocks": [
            (clock.first_touch_at is not None, clock.stopped_at is not None)
            for clock in SlaClock.objects.filter(assignment__lead=lead).order_by("id")
        ],
        "opportunities": list(Opportunity.objects.filter(lead=lead).order_by("id").values_list("status", "owner")),
        "review_clocks": list(ReviewClock.objects.filter(lead=lead).order_by("id").values_list("end", flat=True)),
        "rejections": list(
            Rejection.objects.filter(lead=lead)
            .order_by("id")
            .values_list("side", "reason__code", "note", "from_stage", "to_stage", "actor")
        ),
        "queue_reviews": list(QueueReview.objects.filter(lead=lead).order_by("id").values_list("action", "reviewer")),
        "handoff_requests": HandoffRequest.objects.filter(lead=lead).count(),
    }


# --- the doors ---------------------------------------------------------------------------------------


def _refusal_in_messages(response: Any, prefix: str = "") -> str:
    notes = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert len(notes) == 1, notes
    return notes[0].removeprefix(prefix)


def page_door(client: Client, lead: Lead, target: Stage) -> Outcome:
    response = client.post(reverse("leads:transition", args=[lead.pk]), {"to": target.value, "reason": REASON})
    if response.status_code == 302:
        return True, ""
    assert response.status_code == 200
    return False, _refusal_in_messages(response, "The stage was not changed. ")


def api_door(api: APIClient, lead: Lead, target: Stage) -> Outcome:
    response = api.post(f"/api/v1/leads/{lead.pk}/transition/", {"to": target.value, "reason": REASON}, format="json")
    body = response.json()
    if response.status_code == 200:
        assert body["stage"] == target.value
        return True, ""
    assert response.status_code in (400, 403, 409), (response.status_code, body)
    if response.status_code == 400:
        return False, " ".join(message for messages in body.values() for message in messages)
    return False, body["detail"]


def admin_action_door(client: Client, lead: Lead, target: Stage) -> Outcome:
    response = client.post(
        reverse("admin:leads_lead_changelist"),
        {"action": "move_to_stage", "_selected_action": [lead.pk], "to_stage": target.value, "reason": REASON},
        follow=True,
    )
    notes = [str(m) for m in get_messages(response.wsgi_request)]
    if f"Moved 1 lead to {target.label}." in notes:
        return True, ""
    label = f"{lead.full_name} <{lead.email}>" if lead.full_name else lead.email
    return False, _refusal_in_messages(response, f"{label}: ")


def admin_page_door(client: Client, lead: Lead, target: Stage) -> Outcome | None:
    """None: the page does not offer the move (the lifecycle's graph does not have it)."""
    if target not in lifecycle.allowed_targets(lead.stage):
        return None
    response = client.post(
        reverse("admin:leads_lead_move_stage", args=[lead.pk]), {"to_stage": target.value, "reason": REASON}
    )
    if response.status_code == 302:
        return True, ""
    return False, _refusal_in_messages(response)


def handoff_door(state: str, target: Stage, user: Any, lead: Lead) -> Callable[[], Any] | None:
    """The handoff's own door for this person and move — the one its pages and endpoints call —
    or None where the move is no handoff decision (to MQL; out of the funnel before sales)."""
    if target in (Stage.OPPORTUNITY, Stage.CUSTOMER):
        return lambda: services.lead_advance(lead_id=lead.pk, user=user, to=target, reason=REASON)
    if target not in OUT or state in ("lead", "recycled", "disqualified"):
        return None
    sales = state in SALES_HELD and not (state == "mql handed off" and not user.has_perm("handoff.act_on_any_lead"))
    if sales:  # the rep's (or a manager's) reject, from the work page or POST …/reject/
        return lambda: services.lead_reject(lead_id=lead.pk, user=user, to=target, reason_code="other", note=REASON)
    queue = services.lead_send_to_nurture if target == Stage.RECYCLED else services.lead_disqualify_from_queue
    return lambda: queue(lead_id=lead.pk, user=user, reason_code="other", note=REASON)


def run(door: Callable[[], Any]) -> Outcome:
    try:
        with transaction.atomic():
            door()
    except lead_services.MOVE_REFUSALS as exc:
        return False, lead_services.move_refusal(exc).message
    return True, ""


# --- the walk ------------------------------------------------------------------------------------------


@pytest.fixture
def people(marketer, manager, team):  # type: ignore[no-untyped-def]
    for user in (marketer, manager):
        user.is_staff = True  # the admin's doors; permissions are the role's
        user.save(update_fields=["is_staff"])
    return {"marketer": marketer, "manager": manager}


def walk(state: str, who: str, people: dict[str, Any]) -> dict[Stage, dict[str, tuple[Outcome, dict[str, Any]]]]:
    """For every target, every door's outcome and effects, from the same starting rows."""
    user = people[who]
    lead = lead_in(state, marketer=people["marketer"])
    since = StageTransition.objects.filter(lead=lead).order_by("-id").values_list("id", flat=True).first()
    before = effects(lead, since)
    client, api = Client(), APIClient()
    client.force_login(user)
    api.force_login(user)
    seen: dict[Stage, dict[str, tuple[Outcome, dict[str, Any]]]] = {}
    for target in TARGETS:
        doors: dict[str, Callable[[], Outcome | None]] = {
            "page": lambda t=target: page_door(client, lead, t),
            "api": lambda t=target: api_door(api, lead, t),
            "admin action": lambda t=target: admin_action_door(client, lead, t),
            "admin page": lambda t=target: admin_page_door(client, lead, t),
        }
        own = handoff_door(state, target, user, lead)
        if own is not None:
            doors["handoff"] = lambda own=own: run(own)
        seen[target] = {}
        for name, door in doors.items():
            savepoint = transaction.savepoint()
            try:
                outcome = door()
                if outcome is not None:
                    after = effects(lead, since)
                    if not outcome[0]:
                        assert after == before, (state, who, target, name, outcome)  # a refusal writes nothing
                    seen[target][name] = (outcome, after)
            finally:
                transaction.savepoint_rollback(savepoint)
    return seen


@pytest.mark.parametrize("who", ["marketer", "manager"])
@pytest.mark.parametrize("state", STATES)
def test_every_door_makes_or_refuses_every_move_alike(state, who, people):
    seen = walk(state, who, people)

    for target, doors in seen.items():
        reference = doors["page"]
        for name, result in doors.items():
            assert result == reference, f"{state} → {target} by the {who}: {name} differs from the page"
        made, words = reference[0]
        after = reference[1]
        # What every door must agree on, besides agreeing with each other:
        if target in (Stage.SAL, Stage.SQL):
            assert not made, (state, target)
            if target in lifecycle.allowed_targets(Stage(after["stage"])) and not words.startswith("No lead becomes"):
                assert "POST /api/v1/leads/" in words, words  # names the door that makes the move
        if made and target in OUT:
            assert not any(is_open for is_open, _ in after["assignments"])
            assert all(touched or stopped for touched, stopped in after["clocks"])
            assert all(status != "open" for status, _ in after["opportunities"])
            assert all(end for end in after["review_clocks"])
        if who == "marketer" and state in SALES_HELD and target in (*OUT, Stage.OPPORTUNITY, Stage.CUSTOMER):
            assert not made, f"a marketer moved a lead sales holds: {state} → {target}"


# --- what the walk found, spelled out -----------------------------------------------------------------


def test_what_each_person_may_do_from_each_state(people):
    """The table the walk compares, for the moves that matter: made (✓) or refused (the rule)."""
    manager_on = {state: walk(state, "manager", people) for state in ("mql handed off", "sal", "sql")}
    marketer_on = {state: walk(state, "marketer", people) for state in ("mql", "mql handed off", "sql")}

    def outcome(seen: dict, target: Stage) -> Outcome:
        return seen[target]["page"][0]

    # A manager rejects from sales' hands: the assignment ends as rejected, its clock stops, a sales
    # rejection is recorded with "Other" and the words given.
    for state, seen in manager_on.items():
        made, after = seen[Stage.DISQUALIFIED]["api"]
        assert made == (True, ""), state
        assert ("rejected" in [end for _, end in after["assignments"]]) == (state != "sql")  # sql: converted before
        assert after["rejections"][-1][:3] == ("sales", "other", REASON)
    assert manager_on["sql"][Stage.RECYCLED]["page"][1]["opportunities"][0][0] == "lost"
    assert outcome(manager_on["sql"], Stage.OPPORTUNITY) == (True, "")
    # A marketer decides in the queue — and only there.
    made, after = marketer_on["mql"][Stage.RECYCLED]["admin action"]
    assert made == (True, "")
    assert [action for action, _ in after["queue_reviews"]] == ["nurture"]
    assert after["rejections"][-1][0] == "marketing"
    refusal = outcome(marketer_on["mql handed off"], Stage.DISQUALIFIED)
    assert refusal[0] is False
    assert re.fullmatch(
        r"This lead is already handed off to \S+; the rep \(or a manager\) rejects it now\.", refusal[1]
    )
    assert outcome(marketer_on["sql"], Stage.OPPORTUNITY) == (
        False,
        "Only the lead's owner or a manager can move its opportunity on.",
    )
    assert outcome(marketer_on["sql"], Stage.RECYCLED) == (
        False,
        "Only the rep this lead is assigned to (or a manager) can reject it.",
    )
    assert outcome(manager_on["sal"], Stage.SQL)[1].startswith("No lead becomes an SQL without a logged discovery call")
    sal = outcome(marketer_on["mql handed off"], Stage.SAL)
    assert sal[0] is False
    assert sal[1].startswith("A lead becomes SAL when the rep it is assigned to accepts it")


def test_the_doors_sal_and_sql_are_left_to_make_them(people, marketer):
    """What the refusals name: acceptance makes SAL (a first touch: the clock stops, the
    assignment stays), the qualifying call makes SQL (the assignment converts, the opportunity
    opens)."""
    lead = lead_in("mql handed off", marketer=marketer)
    rep = Assignment.objects.get(lead=lead, is_open=True).rep

    services.lead_accept(lead_id=lead.pk, user=rep)
    accepted = effects(lead, 0)
    services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
    converted = effects(lead, 0)

    assert (accepted["stage"], accepted["assignments"], accepted["clocks"]) == ("sal", [(True, "")], [(True, False)])
    assert (converted["stage"], converted["assignments"]) == ("sql", [(False, "converted")])
    assert converted["opportunities"] == [("open", rep.pk)]


def test_a_move_to_mql_by_hand_is_the_lifecycles_for_whoever_changes_leads(people, sdr):
    lead = factories.LeadFactory()

    lead = lead_services.lead_move(lead_id=lead.pk, to=Stage.MQL, actor=Actor(user=people["marketer"]), reason=REASON)

    assert lead.stage == Stage.MQL
    assert ReviewClock.objects.filter(lead=lead, ended_at__isnull=True).exists()  # in the queue now
    other = factories.LeadFactory()
    with pytest.raises(lead_services.MOVE_REFUSALS) as refused:
        lead_services.lead_move(lead_id=other.pk, to=Stage.MQL, actor=Actor(user=sdr), reason=REASON)
    assert lead_services.move_refusal(refused.value).message == (
        "Only marketers and managers change a lead's stage by hand."
    )
