"""The lifecycle graph and check() as plain Python: no database."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from leads import lifecycle
from leads.lifecycle import Actor, Stage, TransitionRefused, TransitionRequest


@pytest.fixture(autouse=True)
def no_registered_guards(monkeypatch):
    """The graph alone: guards other apps register (handoff's BANT rule) need a database."""
    monkeypatch.setattr(lifecycle, "_guards", {})


def request(from_stage: Stage, to_stage: Stage, *, reason: str = "", actor: Actor | None = None):
    return TransitionRequest(
        lead=SimpleNamespace(pk=1, stage=from_stage),
        from_stage=from_stage,
        to_stage=to_stage,
        actor=actor or Actor.rule_named("MQL threshold"),
        reason=reason,
        context={},
    )


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Stage.LEAD, Stage.MQL),
        (Stage.MQL, Stage.SAL),
        (Stage.MQL, Stage.SQL),
        (Stage.SAL, Stage.SQL),
        (Stage.SQL, Stage.OPPORTUNITY),
        (Stage.OPPORTUNITY, Stage.CUSTOMER),
        (Stage.RECYCLED, Stage.MQL),
    ],
)
def test_forward_moves_in_the_graph_are_allowed(source, target):
    lifecycle.check(request(source, target))


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Stage.LEAD, Stage.SQL),
        (Stage.LEAD, Stage.CUSTOMER),
        (Stage.SAL, Stage.MQL),
        (Stage.CUSTOMER, Stage.RECYCLED),
        (Stage.DISQUALIFIED, Stage.MQL),
        (Stage.RECYCLED, Stage.SAL),
    ],
)
def test_moves_outside_the_graph_are_refused_naming_the_allowed_ones(source, target):
    with pytest.raises(TransitionRefused) as refused:
        lifecycle.check(request(source, target, reason="because"))
    assert refused.value.code == "not_allowed"
    assert f"cannot move to {target.label}" in refused.value.message


def test_moving_to_the_same_stage_is_refused():
    with pytest.raises(TransitionRefused, match="already at MQL"):
        lifecycle.check(request(Stage.MQL, Stage.MQL))


@pytest.mark.parametrize("target", [Stage.RECYCLED, Stage.DISQUALIFIED])
def test_leaving_the_funnel_needs_a_reason(target):
    with pytest.raises(TransitionRefused) as refused:
        lifecycle.check(request(Stage.SAL, target, reason="   "))
    assert refused.value.field == "reason"
    lifecycle.check(request(Stage.SAL, target, reason="No budget this year"))


def test_a_person_making_an_mql_needs_a_reason_but_the_scoring_rule_does_not():
    person = Actor(user=SimpleNamespace(get_username=lambda: "mia"))
    with pytest.raises(TransitionRefused, match="reason is required"):
        lifecycle.check(request(Stage.LEAD, Stage.MQL, actor=person))
    lifecycle.check(request(Stage.LEAD, Stage.MQL, actor=Actor.rule_named("MQL threshold")))


def test_registered_guard_can_refuse_and_is_only_asked_for_its_stage():
    calls = []

    def needs_call(req: TransitionRequest) -> None:
        calls.append(req.to_stage)
        raise TransitionRefused("Log a discovery call with complete BANT first.", code="bant")

    lifecycle.register_guard(Stage.SQL, needs_call)
    try:
        lifecycle.check(request(Stage.MQL, Stage.SAL))
        with pytest.raises(TransitionRefused, match="discovery call"):
            lifecycle.check(request(Stage.SAL, Stage.SQL))
    finally:
        lifecycle.unregister_guard(Stage.SQL, needs_call)
    assert calls == [Stage.SQL]


def test_an_actor_is_a_user_or_a_rule_never_both_or_neither():
    with pytest.raises(ValueError, match="either a user or a named rule"):
        Actor()
    with pytest.raises(ValueError, match="either a user or a named rule"):
        Actor(user=SimpleNamespace(), rule="x")


@pytest.mark.parametrize(
    ("source", "target", "passed"),
    [
        ("", Stage.LEAD, (Stage.LEAD,)),
        (Stage.LEAD, Stage.MQL, (Stage.MQL,)),
        (Stage.MQL, Stage.SQL, (Stage.SAL, Stage.SQL)),
        (Stage.RECYCLED, Stage.MQL, (Stage.MQL,)),
        (Stage.SAL, Stage.DISQUALIFIED, ()),
    ],
)
def test_passed_stages_counts_skipped_funnel_stages(source, target, passed):
    assert lifecycle.passed_stages(source, target) == passed
