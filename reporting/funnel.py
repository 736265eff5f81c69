"""The funnel, computed from the stage history (never from the current stage alone).

Definitions (shown on the report page too):

- A lead *reaches* a funnel stage when a transition takes it there, or past it: a move that
  skips stages (`mql → sql`) counts the skipped ones (`sal`) as passed, as the lifecycle says
  (`leads.lifecycle.passed_stages`). A lead that was recycled and came back reaches `mql` once in
  cohort counts — and `sql` once, however often it is qualified: cohorts keep each lead's first
  reach of each stage (`LeadFunnel.<stage>_at` in the pre-aggregation).
- **Cohort** mode follows a set of leads — created in the period, or first becoming an MQL in
  the period — to wherever they got by now. Stage-to-stage conversion is the share of the cohort
  reaching one stage that also reached the next.
- **Flow** mode counts stage entries that happened in the period, whichever lead made them; a
  lead entering `mql` twice in the period counts twice. So a second pass counts here: a lead back
  from nurture and qualified again adds its new `mql`, `sal` and `sql` entries to the period in
  which they happen (each pass opens its own opportunity). Conversions in flow mode compare volumes.

`funnel()` here is the reference: one grouped SQL statement over the transition table, built from
fixed fragments; dates and filter values are parameters. The pages, the API and the exports read
the same numbers from the pre-aggregation in `reporting.funnel_facts`, which tests hold equal to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.db import connection

from leads.lifecycle import FUNNEL, Stage

RANK = {stage.value: index for index, stage in enumerate(FUNNEL)}


class Mode:
    CREATED = "created"
    MQL = "mql"
    FLOW = "flow"
    ALL = (CREATED, MQL, FLOW)
    LABELS = {CREATED: "Cohort: leads created in the period", MQL: "Cohort: leads that became MQL in the period",
              FLOW: "Flow: stage entries in the period"}  # fmt: skip


BREAKDOWNS: dict[str, str] = {
    "": "No breakdown",
    "channel": "Channel",
    "source": "Source",
    "campaign": "Campaign",
    "segment": "Segment",
    "team": "Team",
    "rep": "Rep",
}


def _rank_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{stage}' THEN {rank}" for stage, rank in RANK.items())
    return f"(CASE {column} {whens} ELSE NULL END)"


TO_RANK = _rank_sql("t.to_stage")
FROM_RANK = _rank_sql("t.from_stage")


def reached_condition(stage: str) -> str:
    """SQL: transition `t` takes its lead to `stage` or past it (counting skipped stages)."""
    rank = RANK[stage]
    return (
        f"({TO_RANK} >= {rank} AND (({FROM_RANK} IS NOT NULL AND {FROM_RANK} < {rank}) "
        f"OR ({FROM_RANK} IS NULL AND {TO_RANK} = {rank})))"
    )


def _dimension_sql(breakdown: str) -> tuple[str, str]:
    """(SQL expression of the group key on lead `l`, extra joins)."""
    if breakdown == "channel":
        return "l.source_channel", ""
    if breakdown == "source":
        return "l.source_detail", ""
    if breakdown == "campaign":
        return "CAST(l.campaign_id AS TEXT)", ""
    if breakdown == "segment":
        return (
            "(CASE WHEN c.size IN ('1-10', '11-50') THEN 'smb' WHEN c.size IN ('51-200', '201-1000') "
            "THEN 'mid_market' WHEN c.size IN ('1001-5000', '5000+') THEN 'enterprise' ELSE '' END)",
            "LEFT JOIN leads_company c ON c.id = l.company_id",
        )
    if breakdown == "rep":
        return "CAST(l.owner_id AS TEXT)", ""
    if breakdown == "team":
        return (
            "CAST(tm.team_id AS TEXT)",
            "LEFT JOIN (SELECT rep_id, MIN(team_id) AS team_id FROM handoff_teammembership GROUP BY rep_id) tm "
            "ON tm.rep_id = l.owner_id",
        )
    return "''", ""


@dataclass
class FunnelRow:
    key: str
    counts: dict[str, int]
    label: str = ""

    @property
    def conversions(self) -> dict[str, float | None]:
        """Stage-to-stage conversion into each stage from the one before (None when 0/0)."""
        result: dict[str, float | None] = {}
        for previous, stage in pairwise(FUNNEL):
            base = self.counts[previous]
            result[stage] = self.counts[stage] / base if base else None
        return result

    @property
    def mql_to_sql(self) -> float | None:
        base = self.counts[Stage.MQL]
        return self.counts[Stage.SQL] / base if base else None

    @property
    def overall(self) -> float | None:
        base = self.counts[FUNNEL[0]] or self.counts[Stage.MQL]
        return self.counts[Stage.CUSTOMER] / base if base else None


@dataclass
class FunnelResult:
    mode: str
    breakdown: str
    start: datetime
    end: datetime
    total: FunnelRow
    rows: list[FunnelRow] = field(default_factory=list)


def _params(start: datetime, end: datetime) -> list[Any]:
    return [connection.ops.adapt_datetimefield_value(start), connection.ops.adapt_datetimefield_value(end)]


def funnel_sql(*, mode: str, breakdown: str) -> str:
    """The statement for one mode and breakdown; parameters: the period's start and end (twice
    for the MQL cohort). Group key `dim`, then one count per funnel stage."""
    dimension, joins = _dimension_sql(breakdown)
    stages = [stage.value for stage in FUNNEL]
    if mode == Mode.FLOW:
        counts = ", ".join(f"SUM(CASE WHEN {reached_condition(s)} THEN 1 ELSE 0 END) AS {s}" for s in stages)
        return (
            f"SELECT {dimension} AS dim, {counts} FROM leads_stagetransition t "
            f"JOIN leads_lead l ON l.id = t.lead_id {joins} "
            "WHERE t.at >= %s AND t.at < %s GROUP BY dim"
        )
    firsts = ", ".join(f"MIN(CASE WHEN {reached_condition(s)} THEN t.at END) AS {s}" for s in stages)
    if mode == Mode.CREATED:
        cohort = "SELECT id FROM leads_lead WHERE created_at >= %s AND created_at < %s"
        condition = ""
    else:
        # Leads whose first entry into mql falls in the period.
        cohort = f"SELECT t.lead_id FROM leads_stagetransition t WHERE {reached_condition('mql')} AND t.at < %s"
        cohort = f"SELECT lead_id FROM ({cohort}) entered GROUP BY lead_id"
        condition = "WHERE r.mql >= %s"
    counts = ", ".join(f"COUNT(r.{s}) AS {s}" for s in stages)
    reach = f"SELECT t.lead_id, {firsts} FROM leads_stagetransition t WHERE t.lead_id IN ({cohort}) GROUP BY t.lead_id"
    return (
        f"SELECT {dimension} AS dim, {counts} FROM ({reach}) r JOIN leads_lead l ON l.id = r.lead_id {joins} "
        f"{condition} GROUP BY dim"
    )


def funnel(*, start: datetime, end: datetime, mode: str = Mode.CREATED, breakdown: str = "") -> FunnelResult:
    """Counts reaching each funnel stage for the period [start, end), overall and per breakdown.

    The reference: computed from the whole stage history on every call. The pages, the API and
    the CSV exports read the same numbers pre-aggregated (`reporting.funnel_facts.read`)."""
    check(mode=mode, breakdown=breakdown)
    sql = funnel_sql(mode=mode, breakdown=breakdown)
    if mode == Mode.MQL:
        params = [connection.ops.adapt_datetimefield_value(end), connection.ops.adapt_datetimefield_value(start)]
    else:
        params = _params(start, end)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.fetchall()
    return result_of(mode=mode, breakdown=breakdown, start=start, end=end, rows=raw)


def check(*, mode: str, breakdown: str) -> None:
    if mode not in Mode.ALL:
        raise ValueError(f"Unknown funnel mode {mode!r}")
    if breakdown not in BREAKDOWNS:
        raise ValueError(f"Unknown breakdown {breakdown!r}")


def result_of(
    *, mode: str, breakdown: str, start: datetime, end: datetime, rows: Iterable[Sequence[Any]]
) -> FunnelResult:
    """The result from (group key, one count per funnel stage) rows, one per group."""
    stages = [stage.value for stage in FUNNEL]
    lines = [
        FunnelRow(key=str(r[0] or ""), counts={s: int(v or 0) for s, v in zip(stages, r[1:], strict=True)})
        for r in rows
    ]
    if mode == Mode.MQL:  # the cohort starts at MQL: everything before it is not part of the question
        for line in lines:
            line.counts[Stage.LEAD] = line.counts[Stage.MQL]
    total = FunnelRow(key="", counts={s: sum(line.counts[s] for line in lines) for s in stages}, label="All leads")
    lines.sort(key=lambda line: (-line.counts[Stage.MQL], -line.counts[Stage.LEAD], line.key))
    return FunnelResult(
        mode=mode, breakdown=breakdown, start=start, end=end, total=total, rows=lines if breakdown else []
    )
