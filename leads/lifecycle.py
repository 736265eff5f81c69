"""The lead lifecycle as plain Python: stages, the allowed moves, guards, and `check()`.

No database is needed to use or test this module. `leads.services.lead_transition` is the only
code that writes a lead's stage, and it calls `check()` first. Other apps add guards for the
moves they own (for example `handoff` guards `sql` with its BANT rule) through `register_guard`,
so `leads` never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class Stage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    RECYCLED = "recycled", "Recycled"
    DISQUALIFIED = "disqualified", "Disqualified"


# The funnel, in order. Recycled and disqualified are side stages outside it.
FUNNEL: tuple[Stage, ...] = (
    Stage.LEAD,
    Stage.MQL,
    Stage.SAL,
    Stage.SQL,
    Stage.OPPORTUNITY,
    Stage.CUSTOMER,
)
SIDE_STAGES: frozenset[Stage] = frozenset({Stage.RECYCLED, Stage.DISQUALIFIED})
# Leaving the funnel needs a reason; so does a person (not a rule) making a lead an MQL.
REASON_REQUIRED: frozenset[Stage] = frozenset({Stage.RECYCLED, Stage.DISQUALIFIED})
# Stages at which sales owns the lead: later guards (the qualifying call) apply from here on.
SALES_QUALIFIED: frozenset[Stage] = frozenset({Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER})

_EXITS = {Stage.RECYCLED, Stage.DISQUALIFIED}

ALLOWED: dict[Stage, frozenset[Stage]] = {
    Stage.LEAD: frozenset({Stage.MQL, *_EXITS}),
    # mql -> sql is a skip: a qualifying call on a lead nobody formally accepted implies the
    # acceptance, and reports count the lead as having passed `sal` (see `passed_stages`).
    Stage.MQL: frozenset({Stage.SAL, Stage.SQL, *_EXITS}),
    Stage.SAL: frozenset({Stage.SQL, *_EXITS}),
    Stage.SQL: frozenset({Stage.OPPORTUNITY, *_EXITS}),
    Stage.OPPORTUNITY: frozenset({Stage.CUSTOMER, *_EXITS}),
    Stage.CUSTOMER: frozenset(),
    # Back from nurture: re-scored into mql, or given up on.
    Stage.RECYCLED: frozenset({Stage.MQL, Stage.DISQUALIFIED}),
    # A disqualification found to be wrong goes back to nurture, never straight back to sales.
    Stage.DISQUALIFIED: frozenset({Stage.RECYCLED}),
}


@dataclass(frozen=True)
class Actor:
    """Who moves a lead: a signed-in user, or a named automatic rule (exactly one)."""

    user: AbstractBaseUser | None = None
    rule: str = ""

    def __post_init__(self) -> None:
        if (self.user is None) == (not self.rule):
            raise ValueError("An actor is either a user or a named rule, not both or neither")

    @classmethod
    def rule_named(cls, name: str) -> Actor:
        return cls(rule=name)

    @property
    def is_rule(self) -> bool:
        return self.user is None

    def __str__(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return f"rule: {self.rule}"


class TransitionRefused(Exception):  # noqa: N818 - a domain outcome, not a programming error
    """A stage change broke a rule. The message says which, in words a user understands."""

    def __init__(self, message: str, *, code: str = "refused", field: str = "stage") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass(frozen=True)
class TransitionRequest:
    """What a guard sees: the lead (any object with `.pk` and `.stage`), the move and who asks."""

    lead: Any
    from_stage: Stage
    to_stage: Stage
    actor: Actor
    reason: str
    context: dict[str, Any]


Guard = Callable[[TransitionRequest], None]
_guards: dict[Stage, list[Guard]] = {}


def register_guard(to_stage: Stage, guard: Guard) -> Guard:
    """Add a guard that must hold (raise TransitionRefused otherwise) to enter `to_stage`."""
    guards = _guards.setdefault(Stage(to_stage), [])
    if guard not in guards:
        guards.append(guard)
    return guard


def unregister_guard(to_stage: Stage, guard: Guard) -> None:
    guards = _guards.get(Stage(to_stage), [])
    if guard in guards:
        guards.remove(guard)


def guards_for(to_stage: Stage) -> tuple[Guard, ...]:
    return tuple(_guards.get(Stage(to_stage), ()))


def allowed_targets(from_stage: str) -> frozenset[Stage]:
    return ALLOWED[Stage(from_stage)]


def check(request: TransitionRequest) -> None:
    """Raise TransitionRefused unless the move is in the graph and every guard holds."""
    current, target = request.from_stage, request.to_stage
    if target == current:
        raise TransitionRefused(f"The lead is already at {target.label}.", code="same_stage")
    if target not in ALLOWED[current]:
        allowed = ", ".join(s.label for s in sorted(ALLOWED[current], key=_order)) or "nothing"
        raise TransitionRefused(
            f"A lead at {current.label} cannot move to {target.label}; from {current.label} it can move to: {allowed}.",
            code="not_allowed",
        )
    needs_reason = target in REASON_REQUIRED or (target == Stage.MQL and not request.actor.is_rule)
    if needs_reason and not request.reason.strip():
        raise TransitionRefused(
            f"A reason is required to move a lead to {target.label}.",
            code="reason_required",
            field="reason",
        )
    for guard in guards_for(target):
        guard(request)


def passed_stages(from_stage: str, to_stage: str) -> tuple[Stage, ...]:
    """Funnel stages a move counts as reaching, in order, including any it skips.

    `mql -> sql` passes `sal` and `sql`; `recycled -> mql` passes `mql`; leaving the funnel
    passes nothing.
    """
    target = Stage(to_stage)
    if target not in FUNNEL:
        return ()
    source = Stage(from_stage) if from_stage else None
    if source is None or source not in FUNNEL:
        return (target,)
    start, end = FUNNEL.index(source), FUNNEL.index(target)
    return FUNNEL[start + 1 : end + 1]


def _order(stage: Stage) -> int:
    return FUNNEL.index(stage) if stage in FUNNEL else len(FUNNEL) + sorted(SIDE_STAGES).index(stage)
