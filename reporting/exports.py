"""CSV export of every report table: the same rows the page shows, as plain numbers.

Each report page lists its tables (`<report>_tables`); `?format=csv&table=<name>` on the page's
own URL (same querystring, so the same period, mode and breakdown) downloads one of them.
Conventions: a header row; counts as integers; rates as percentages with two decimals
(the header says "(%)"); durations in the unit the header names; an empty cell for "no value"
(for example a rate of 0/0); cells that a spreadsheet would run as a formula, headers included,
start with `'` (crm.csv_cells).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.http import HttpResponse

from crm import csv_cells
from reporting.selectors import ReviewTimes
from reporting.selectors_extra import (
    FeedbackReport,
    FunnelReport,
    MarketingReport,
    RepLine,
    SlaGroup,
    SlaReport,
    VelocityReport,
)


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "int"  # int, rate (a share 0..1, written as %), number (2 decimals), text, date


@dataclass
class Table:
    name: str  # the `table=` value
    title: str
    columns: list[Column]
    rows: list[list[Any]]


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "rate":
        return f"{value * 100:.2f}"
    if kind == "number":
        return f"{value:.2f}"
    if kind == "int":
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)  # the writer escapes a cell a spreadsheet would run as a formula


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(table: Table, *, filename: str) -> HttpResponse:
    writer = csv_cells.writer(_Echo())  # headers too: some are labels managers choose (rejection reasons)
    lines = [writer.writerow([column.header for column in table.columns])]
    for row in table.rows:
        lines.append(writer.writerow([_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def filename(report: str, table: str, *parts: str) -> str:
    words = [report, table, *(p for p in parts if p)]
    safe = "-".join(w.replace("_", "-") for w in words)
    return f"baton-{safe}.csv"


# --- The tables of each report --------------------------------------------------------------------


def funnel_tables(report: FunnelReport) -> list[Table]:
    stages = Table(
        "stages",
        "Leads reaching each stage",
        [
            Column("Stage", "text"),
            Column("Leads"),
            Column("Conversion from previous stage (%)", "rate"),
            Column("Share of first stage (%)", "rate"),
        ],
        [[cell.label, cell.count, cell.conversion, cell.share] for cell in report.total.stages],
    )
    tables = [stages]
    if report.breakdown:
        stage_columns = [Column(label) for _, label in report.stages]
        tables.append(
            Table(
                "breakdown",
                "By group",
                [
                    Column("Key", "text"),
                    Column("Group", "text"),
                    *stage_columns,
                    Column("MQL→SQL (%)", "rate"),
                    Column("Overall (%)", "rate"),
                ],
                [
                    [row.key, row.label, *(cell.count for cell in row.stages), row.mql_to_sql, row.overall]
                    for row in report.rows
                ],
            )
        )
    return tables


def velocity_tables(report: VelocityReport) -> list[Table]:
    columns = [Column("Group", "text")]
    for _, label in report.steps:
        columns += [Column(f"{label}: leads"), Column(f"{label}: median (hours)", "number"),
                    Column(f"{label}: p90 (hours)", "number")]  # fmt: skip
    lines = [report.total, *report.rows]
    velocity = Table(
        "velocity",
        "Time between stages",
        columns,
        [[line.label, *(v for s in line.steps for v in (s.count, s.p50_hours, s.p90_hours))] for line in lines],
    )
    stalls = Table(
        "stalls",
        "Where open leads wait",
        [
            Column("Stage", "text"),
            Column("Open leads"),
            Column("Median wait (days)", "number"),
            Column("p90 wait (days)", "number"),
        ],
        [[row.label, row.count, row.p50_days, row.p90_days] for row in report.stalls],
    )
    return [velocity, stalls]


def _sla_groups(name: str, title: str, what: str, groups: Iterable[SlaGroup]) -> Table:
    return Table(
        name,
        title,
        [
            Column(what, "text"),
            Column("Handed off"),
            Column("Touched in time"),
            Column("Breaches"),
            Column("Within SLA (%)", "rate"),
        ],
        [[g.label, g.handed_off, g.in_time, g.breaches, g.within_sla] for g in groups],
    )


def sla_tables(report: SlaReport) -> list[Table]:
    s = report.summary
    outcomes = Table(
        "outcomes",
        "Hand-offs by SLA outcome",
        [Column("Outcome", "text"), Column("Hand-offs")],
        [
            ["Touched within SLA", s.touched_in_time],
            ["Touched late", s.touched_late],
            ["Breached, not touched", s.breached_untouched],
            ["Clock running", s.running],
            ["Reassigned before due", s.stopped],
            ["All hand-offs", s.handed_off],
        ],
    )
    response = Table(
        "response",
        "First response time",
        [
            Column("Measured in", "text"),
            Column("Touched leads"),
            Column("Median (minutes)", "number"),
            Column("p90 (minutes)", "number"),
        ],
        [
            ["Business minutes", s.business_minutes.count, s.business_minutes.p50, s.business_minutes.p90],
            ["Wall-clock minutes", s.wall_minutes.count, s.wall_minutes.p50, s.wall_minutes.p90],
        ],
    )
    weekly = Table(
        "weekly",
        "Week by week",
        [
            Column("Week of", "date"),
            Column("Handed off"),
            Column("Outcome known"),
            Column("Touched in time"),
            Column("Within SLA (%)", "rate"),
        ],
        [[w.week, w.handed_off, w.decided, w.in_time, w.within_sla] for w in report.weekly],
    )
    return [
        outcomes,
        response,
        _sla_groups("reps", "By rep", "Rep", report.by_rep),
        _sla_groups("teams", "By team", "Team", report.by_team),
        _sla_groups("policies", "By SLA policy", "Policy", report.by_policy),
        weekly,
    ]


def marketing_tables(report: MarketingReport) -> list[Table]:
    volume = Table(
        "volume",
        "MQLs delivered against target",
        [Column("Month", "date"), Column("MQLs delivered"), Column("Target"), Column("Attainment (%)", "rate")],
        [[m.month, m.delivered, m.target, m.attainment] for m in report.months],
    )

    def line(month: Any, r: ReviewTimes, overdue_now: int | None) -> list[Any]:
        b, w = r.business_minutes, r.wall_minutes
        return [month, r.reviewed, b.p50, b.p90, w.p50, w.p90, r.automatic, r.automatic_late, r.left, r.judged,
                r.within_target, r.within_target_share, overdue_now]  # fmt: skip

    review = Table(
        "review",
        "MQL queue review commitment",
        [
            Column("Month", "date"),
            Column("Reviewed by a marketer"),
            Column("Median review, business time (minutes)", "number"),
            Column("p90 review, business time (minutes)", "number"),
            Column("Median review, wall clock (minutes)", "number"),
            Column("p90 review, wall clock (minutes)", "number"),
            Column("Handed off automatically"),
            Column("Automatically, after due"),
            Column("Left the queue otherwise"),
            Column("Judged against target"),
            Column("Reviewed within target"),
            Column("Within target (%)", "rate"),
            Column("Waiting past due now"),
        ],
        [*(line(m.month, m.review, None) for m in report.months), line("Whole period", report.review,
                                                                       report.review_overdue_now)],
    )  # fmt: skip
    return [volume, review]


def feedback_tables(report: FeedbackReport) -> list[Table]:
    return [
        Table(
            "reasons",
            "Rejections by reason",
            [
                Column(report.by_label, "text"),
                Column("Handed off to sales"),
                Column("Rejected by sales"),
                Column("Sales reject share (%)", "rate"),
                Column("Rejected by marketing"),
                *(Column(reason) for reason in report.reasons),
            ],
            [
                [row.key, row.handed_off, row.sales_rejected, row.sales_reject_share, row.marketing, *row.reasons]
                for row in report.rows
            ],
        )
    ]


def rep_tables(rows: list[RepLine]) -> list[Table]:
    return [
        Table(
            "reps",
            "Rep leaderboard",
            [
                Column("Rep", "text"),
                Column("Username", "text"),
                Column("Leads assigned"),
                Column("Touches"),
                Column("Discovery calls"),
                Column("SQLs"),
                Column("Conversion to SQL (%)", "rate"),
                Column("Median first response (minutes)", "number"),
            ],
            [
                [r.name, r.username, r.assigned, r.touches, r.calls, r.sqls, r.conversion, r.median_response_minutes]
                for r in rows
            ],
        )
    ]


TABLES: dict[str, Callable[[Any], list[Table]]] = {
    "funnel": funnel_tables,
    "velocity": velocity_tables,
    "sla": sla_tables,
    "marketing": marketing_tables,
    "feedback": feedback_tables,
    "reps": rep_tables,
}
