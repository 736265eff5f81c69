"""The funnel, pre-aggregated: the numbers of `reporting.funnel.funnel` (the reference, which
aggregates the whole stage history on every call) read from hourly sums kept current by Celery.

Two derived tables (`reporting.models`):

- `LeadFunnel`, one row per lead with stage history: when the lead first reached each funnel
  stage (`reached_condition`, the reference's own SQL), its `created_at` and breakdown values
  (channel, source, campaign, owner, segment) copied from the lead and its company, and its stage
  entries as "<epoch hour>:<mask of the stages reached>" — everything the lead adds to the counts.
- `FunnelCount`, per mode (created, mql, flow), stored breakdown ("" for the total, channel,
  source, campaign, rep, segment), UTC hour — and again per UTC day — and group: how many leads
  (cohort modes) or stage changes (flow) fall there and how many of them reached each stage. A
  period is the sum of its whole UTC days, the whole hours around them, and the leads (or stage
  changes) of a partial first and last hour read from `LeadFunnel` (and the transitions)
  directly; periods of whole local days (the report filters) need no partial hours in any time
  zone a whole number of hours from UTC. Team is the rep sums grouped by each rep's first team at
  read time, as the reference groups it, so team changes need no refresh.

The breakdown values are copied, not joined at read time: joining the lead table (1M wide rows)
costs what the reference costs. They stay exact because triggers (migration 0002) queue a
`FunnelChange` in the same transaction as every write that can change a lead's facts — a new
transition, transitions re-pointed by a merge (both leads), a change of the lead's
created_at/channel/source/campaign/owner/company, a change of its company's size — whatever code
path makes it. `reporting.services.funnel_facts_refresh` takes the queued leads, subtracts their
old contributions, recomputes their `LeadFunnel` rows from the stage history and adds the new
ones. The page reads refresh first, so a number is never staler than the read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from leads.lifecycle import FUNNEL
from reporting.funnel import FunnelResult, Mode, _dimension_sql, check, reached_condition, result_of

STAGES = [stage.value for stage in FUNNEL]
BITS = {stage: 1 << index for index, stage in enumerate(STAGES)}
# The breakdowns FunnelCount stores; team is read from rep.
STORED = ("", "channel", "source", "campaign", "rep", "segment")
COUNT_COLUMNS = ("members", *(f"reached_{stage}" for stage in STAGES))
FACT_COLUMNS = (
    "lead_id", "created_at", *(f"{stage}_at" for stage in STAGES), "channel", "source", "campaign_id", "owner_id",
    "segment", "entries",
)  # fmt: skip
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY_HOURS = 24


# --- SQL fragments ---------------------------------------------------------------------------


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _epoch_hour_sql(column: str) -> str:
    """SQL: whole UTC hours since the epoch of a timestamp column (NULL stays NULL). On SQLite
    the statement must be run with a parameter list (the `%%` is a placeholder escape)."""
    if _postgres():
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 3600) AS BIGINT)"
    return f"(CAST(strftime('%%s', {column}) AS INTEGER) / 3600)"


def _fact_key_sql(stored: str) -> str:
    """SQL: the group key of breakdown `stored` on LeadFunnel `f`, as the reference spells it."""
    return {
        "": "''",
        "channel": "f.channel",
        "source": "f.source",
        "campaign": "COALESCE(CAST(f.campaign_id AS TEXT), '')",
        "rep": "COALESCE(CAST(f.owner_id AS TEXT), '')",
        "segment": "f.segment",
    }[stored]


def _lead_ids_sql(column: str, lead_ids: Sequence[int]) -> tuple[str, list[Any]]:
    """SQL `column` is one of `lead_ids`, as one parameter whatever the number of ids."""
    if _postgres():
        return f"{column} = ANY(%s)", [list(lead_ids)]
    if connection.vendor == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(list(lead_ids))]
    return f"{column} IN ({', '.join(['%s'] * len(lead_ids))})", list(lead_ids)


def _facts_sql(where: str) -> str:
    """SELECT of LeadFunnel rows (in FACT_COLUMNS order) of the leads whose transitions `t` match
    `where`: one grouped pass over their stage history, joined to the lead and its company."""
    firsts = ", ".join(f"MIN(CASE WHEN {reached_condition(s)} THEN t.at END) AS {s}_at" for s in STAGES)
    mask = " + ".join(f"(CASE WHEN {reached_condition(s)} THEN {BITS[s]} ELSE 0 END)" for s in STAGES)
    entry = f"CAST({_epoch_hour_sql('t.at')} AS TEXT) || ':' || CAST({mask} AS TEXT)"
    # (In no particular order on SQLite, which orders inside aggregates only from 3.44.)
    entries = f"STRING_AGG({entry}, ' ' ORDER BY t.id)" if _postgres() else f"GROUP_CONCAT({entry}, ' ')"
    segment, company_join = _dimension_sql("segment")
    reached = ", ".join(f"r.{s}_at" for s in STAGES)
    return (
        f"SELECT r.lead_id, l.created_at, {reached}, l.source_channel, l.source_detail, l.campaign_id, l.owner_id, "
        f"{segment}, r.entries "
        f"FROM (SELECT t.lead_id, {firsts}, {entries} AS entries FROM leads_stagetransition t "
        f"WHERE {where} GROUP BY t.lead_id) r "
        f"JOIN leads_lead l ON l.id = r.lead_id {company_join}"
    )


def _insert_facts_sql(where: str) -> str:
    return f"INSERT INTO reporting_leadfunnel ({', '.join(FACT_COLUMNS)}) {_facts_sql(where)}"


def _reached_flags_sql() -> str:
    return ", ".join(f"CASE WHEN f.{s}_at IS NULL THEN 0 ELSE 1 END AS reached_{s}" for s in STAGES)


def _transition_flags_sql() -> str:
    return ", ".join(f"CASE WHEN {reached_condition(s)} THEN 1 ELSE 0 END AS reached_{s}" for s in STAGES)


def _contributions_sql(mode: str) -> str:
    """SELECT, for every lead (cohort modes) or stage change (flow), its hour, every stored
    breakdown's key, and what it adds to the counts — the rebuild's input."""
    keys = ", ".join(f"{_fact_key_sql(b)} AS {b}" for b in STORED if b)
    if mode == Mode.FLOW:
        return (
            f"SELECT {_epoch_hour_sql('t.at')} AS epoch_hour, {keys}, 1 AS members, {_transition_flags_sql()} "
            "FROM leads_stagetransition t JOIN reporting_leadfunnel f ON f.lead_id = t.lead_id"
        )
    column = "f.created_at" if mode == Mode.CREATED else "f.mql_at"
    return (
        f"SELECT {_epoch_hour_sql(column)} AS epoch_hour, {keys}, 1 AS members, {_reached_flags_sql()} "
        f"FROM reporting_leadfunnel f WHERE {column} IS NOT NULL"
    )


def _insert_counts_sql(mode: str) -> str:
    """INSERT of every stored breakdown's hourly sums for `mode` (parameter: the mode, once per
    breakdown on SQLite). PostgreSQL sums all breakdowns in one pass with grouping sets."""
    columns = f"mode, breakdown, hours, epoch_hour, group_key, {', '.join(COUNT_COLUMNS)}"
    sums = ", ".join(f"SUM(c.{column})" for column in COUNT_COLUMNS)
    source = _contributions_sql(mode)
    dimensions = [b for b in STORED if b]
    if _postgres():
        family = " ".join(f"WHEN GROUPING(c.{b}) = 0 THEN '{b}'" for b in dimensions)
        key = f"COALESCE({', '.join(f'c.{b}' for b in dimensions)}, '')"
        sets = ", ".join(["(c.epoch_hour)", *(f"(c.epoch_hour, c.{b})" for b in dimensions)])
        return (
            f"INSERT INTO reporting_funnelcount ({columns}) "
            f"SELECT %s, CASE {family} ELSE '' END, 1, c.epoch_hour, {key}, {sums} "
            f"FROM ({source}) c GROUP BY GROUPING SETS ({sets})"
        )
    parts = [f"SELECT %s, '', 1, c.epoch_hour, '', {sums} FROM ({source}) c GROUP BY c.epoch_hour"]
    parts += [
        f"SELECT %s, '{b}', 1, c.epoch_hour, c.{b}, {sums} FROM ({source}) c GROUP BY c.epoch_hour, c.{b}"
        for b in dimensions
    ]
    return f"INSERT INTO reporting_funnelcount ({columns}) {' UNION ALL '.join(parts)}"


def _insert_daily_counts_sql() -> str:
    """INSERT of the daily sums of the hourly rows."""
    columns = ", ".join(COUNT_COLUMNS)
    sums = ", ".join(f"SUM({column})" for column in COUNT_COLUMNS)
    return (
        f"INSERT INTO reporting_funnelcount (mode, breakdown, hours, epoch_hour, group_key, {columns}) "
        f"SELECT mode, breakdown, {DAY_HOURS}, (epoch_hour / {DAY_HOURS}) * {DAY_HOURS}, group_key, {sums} "
        f"FROM reporting_funnelcount WHERE hours = 1 GROUP BY mode, breakdown, epoch_hour / {DAY_HOURS}, group_key"
    )


# --- Building and refreshing (called by reporting.services, inside its transaction and lock) ---


def rebuild() -> dict[str, int]:
    """Recompute both tables from the whole stage history, set-based. The queue is emptied first:
    the statements after it see every change it held."""
    with connection.cursor() as cursor:
        if _postgres():  # room to group in memory, for this transaction only
            cursor.execute("SET LOCAL work_mem = '128MB'", [])
        cursor.execute("DELETE FROM reporting_funnelchange", [])
        if _postgres():
            cursor.execute("TRUNCATE reporting_leadfunnel, reporting_funnelcount", [])
        else:
            cursor.execute("DELETE FROM reporting_leadfunnel", [])
            cursor.execute("DELETE FROM reporting_funnelcount", [])
        cursor.execute(_insert_facts_sql("1 = 1"), [])
        leads = cursor.rowcount
        for mode in Mode.ALL:
            cursor.execute(_insert_counts_sql(mode), [mode] * (1 if _postgres() else len(STORED)))
        cursor.execute(_insert_daily_counts_sql(), [])
        if _postgres():
            cursor.execute("ANALYZE reporting_leadfunnel, reporting_funnelcount", [])
        cursor.execute("SELECT COUNT(*) FROM reporting_funnelcount", [])
        counts = cursor.fetchone()[0]
    return {"leads": leads, "counts": counts}


def status() -> tuple[bool, bool]:
    """(whether the store was ever built, whether changes wait in the queue), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT built_at FROM reporting_funnelfactsstate WHERE id = 1), "
            "EXISTS (SELECT 1 FROM reporting_funnelchange)",
            [],
        )
        built_at, pending = cursor.fetchone()
    return built_at is not None, bool(pending)


def claim_changes() -> list[int]:
    """Take every queued change visible now; the leads they name, in order. Changes committed
    meanwhile stay queued for the next refresh."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM reporting_funnelchange RETURNING lead_id", [])
        return sorted({row[0] for row in cursor.fetchall()})


def recompute(lead_ids: Sequence[int]) -> None:
    """Replace these leads' facts from their stage history and move the counts by the difference
    (leads without stage history any more — merged away — lose their row). A fixed number of
    statements, whatever the number of leads."""
    condition, params = _lead_ids_sql("f.lead_id", lead_ids)
    with connection.cursor() as cursor:
        old = _read_facts(cursor, condition, params)
        cursor.execute(f"DELETE FROM reporting_leadfunnel WHERE {_lead_ids_sql('lead_id', lead_ids)[0]}", params)
        cursor.execute(_insert_facts_sql(_lead_ids_sql("t.lead_id", lead_ids)[0]), params)
        new = _read_facts(cursor, condition, params)
        # Leads whose facts did not change contribute nothing to the difference.
        contributions: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
        _contribute(contributions, [row for lead, row in old.items() if new.get(lead) != row], sign=-1)
        _contribute(contributions, [row for lead, row in new.items() if old.get(lead) != row], sign=+1)
        _apply(cursor, _by_breakdown(contributions))


def _read_facts(cursor: Any, condition: str, params: list[Any]) -> dict[int, tuple[Any, ...]]:
    """Fact rows by lead: created hour, first MQL hour, a reached flag per stage, each stored
    breakdown's key but the total's, entries."""
    keys = ", ".join(_fact_key_sql(b) for b in STORED if b)
    cursor.execute(
        f"SELECT f.lead_id, {_epoch_hour_sql('f.created_at')}, {_epoch_hour_sql('f.mql_at')}, "
        f"{_reached_flags_sql()}, {keys}, f.entries FROM reporting_leadfunnel f WHERE {condition}",
        params,
    )
    return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _contribute(sums: dict[tuple[Any, ...], list[int]], rows: Iterable[tuple[Any, ...]], *, sign: int) -> None:
    """Add (sign +1) or take out (-1) what each fact row contributes, by (mode, hour, keys)."""
    width = len(STAGES)
    for row in rows:
        created_hour, mql_hour = row[0], row[1]
        reached = [sign, *(sign * flag for flag in row[2 : 2 + width])]
        keys = tuple(row[2 + width : -1])
        contributions = [((Mode.CREATED, created_hour), reached)]
        if mql_hour is not None:
            contributions.append(((Mode.MQL, mql_hour), reached))
        for entry in row[-1].split():
            hour, mask = entry.split(":")
            bits = int(mask)
            contributions.append(((Mode.FLOW, hour), [sign, *(sign * ((bits >> i) & 1) for i in range(width))]))
        for (mode, hour), vector in contributions:
            total = sums[(mode, int(hour), keys)]
            total[:] = [a + b for a, b in zip(total, vector, strict=True)]


def _by_breakdown(sums: dict[tuple[Any, ...], list[int]]) -> dict[tuple[str, str, int, int, str], list[int]]:
    """(mode, hour, keys) sums spread over the count rows: (mode, breakdown, hours, start, key)."""
    rows: dict[tuple[str, str, int, int, str], list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
    for (mode, hour, keys), vector in sums.items():
        if not any(vector):
            continue
        for hours, start in ((1, hour), (DAY_HOURS, hour - hour % DAY_HOURS)):
            for stored, key in zip(STORED, ("", *keys), strict=True):
                total = rows[(mode, stored, hours, start, key)]
                total[:] = [a + b for a, b in zip(total, vector, strict=True)]
    return rows


PLACE_COLUMNS = ("mode", "breakdown", "hours", "epoch_hour", "group_key")
PLACE_TYPES = ("varchar", "varchar", "smallint", "bigint", "varchar")


def _rows_sql(columns: Sequence[str], types: Sequence[str]) -> str:
    """SELECT of rows passed as one parameter per column (PostgreSQL arrays) or as one JSON
    parameter (SQLite): the statement's text is the same for 1 row or 100,000."""
    if _postgres():
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        return f"SELECT * FROM UNNEST({arrays}) AS d({', '.join(columns)})"
    values = ", ".join(f"json_extract(value, '$[{index}]') AS {column}" for index, column in enumerate(columns))
    return f"SELECT {values} FROM json_each(%s) WHERE 1 = 1"


def _rows_params(rows: Sequence[Sequence[Any]], width: int) -> list[Any]:
    if _postgres():
        return [[row[index] for row in rows] for index in range(width)]
    return [json.dumps([list(row) for row in rows])]


def _apply(cursor: Any, rows: dict[tuple[str, str, int, int, str], list[int]]) -> None:
    """Upsert the non-zero differences; drop count rows left with no members."""
    changed = [(*place, *sums) for place, sums in rows.items() if any(sums)]
    if changed:
        columns = (*PLACE_COLUMNS, *COUNT_COLUMNS)
        source = _rows_sql(columns, (*PLACE_TYPES, *["bigint"] * len(COUNT_COLUMNS)))
        increments = ", ".join(f"{c} = reporting_funnelcount.{c} + excluded.{c}" for c in COUNT_COLUMNS)
        cursor.execute(
            f"INSERT INTO reporting_funnelcount ({', '.join(columns)}) {source} "
            f"ON CONFLICT ({', '.join(PLACE_COLUMNS)}) DO UPDATE SET {increments}",
            _rows_params(changed, len(columns)),
        )
    emptied = [place for place, sums in rows.items() if sums[0] < 0]
    if emptied:
        places = ", ".join(PLACE_COLUMNS)
        cursor.execute(
            f"DELETE FROM reporting_funnelcount WHERE members = 0 AND ({places}) IN "
            f"(SELECT {places} FROM ({_rows_sql(PLACE_COLUMNS, PLACE_TYPES)}) d)",
            _rows_params(emptied, len(PLACE_COLUMNS)),
        )


# --- Reading -----------------------------------------------------------------------------------


def epoch_hour(moment: datetime) -> int:
    """Whole hours from the epoch to `moment`, rounded down."""
    return (moment - EPOCH) // HOUR


def hour_start(hour: int) -> datetime:
    return EPOCH + hour * HOUR


def _edge_sql(mode: str, stored: str) -> str:
    """SELECT of the contributions made in a partial hour (parameters: its start and end)."""
    key = _fact_key_sql(stored)
    if mode == Mode.FLOW:
        return (
            f"SELECT {key} AS group_key, 1 AS members, {_transition_flags_sql()} FROM leads_stagetransition t "
            "JOIN reporting_leadfunnel f ON f.lead_id = t.lead_id WHERE t.at >= %s AND t.at < %s"
        )
    column = "f.created_at" if mode == Mode.CREATED else "f.mql_at"
    return (
        f"SELECT {key} AS group_key, 1 AS members, {_reached_flags_sql()} FROM reporting_leadfunnel f "
        f"WHERE {column} >= %s AND {column} < %s"
    )


def read_sql(*, start: datetime, end: datetime, mode: str, breakdown: str) -> tuple[str, list[Any]]:
    """The statement reading one funnel from the store, and its parameters: group key, members,
    then one count per funnel stage, one row per group that has members."""
    check(mode=mode, breakdown=breakdown)
    stored = "rep" if breakdown == "team" else breakdown
    adapt = connection.ops.adapt_datetimefield_value
    first, last = -(-(start - EPOCH) // HOUR), epoch_hour(end)  # the whole hours inside [start, end)
    counts = (
        f"SELECT group_key, {', '.join(COUNT_COLUMNS)} FROM reporting_funnelcount "
        "WHERE mode = %s AND breakdown = %s AND hours = %s AND epoch_hour >= %s AND epoch_hour < %s"
    )
    parts: list[str] = []
    params: list[Any] = []
    edges = [(start, end)]
    if first < last:
        days = (-(-first // DAY_HOURS) * DAY_HOURS, last // DAY_HOURS * DAY_HOURS)  # the whole days inside
        spans = [(1, first, last)]
        if days[0] < days[1]:
            spans = [(1, first, days[0]), (DAY_HOURS, *days), (1, days[1], last)]
        for hours, low, high in spans:
            if low < high:
                parts.append(counts)
                params += [mode, stored, hours, low, high]
        edges = [(start, hour_start(first)), (hour_start(last), end)]
    for low, high in edges:
        if low < high:
            parts.append(_edge_sql(mode, stored))
            params += [adapt(low), adapt(high)]
    if not parts:  # an empty period
        parts.append(f"SELECT '' AS group_key, {', '.join(f'0 AS {c}' for c in COUNT_COLUMNS)} WHERE 1 = 0")
    key, join = "x.group_key", ""
    if breakdown == "team":  # each rep's first team, as the reference groups it
        key = "CAST(tm.team_id AS TEXT)"
        join = (
            "LEFT JOIN (SELECT CAST(rep_id AS TEXT) AS rep_key, MIN(team_id) AS team_id "
            "FROM handoff_teammembership GROUP BY rep_id) tm ON tm.rep_key = x.group_key"
        )
    sums = ", ".join(f"SUM(x.{column})" for column in COUNT_COLUMNS)
    union = " UNION ALL ".join(parts)
    return f"SELECT {key} AS dim, {sums} FROM ({union}) x {join} GROUP BY {key} HAVING SUM(x.members) > 0", params


def read(*, start: datetime, end: datetime, mode: str = Mode.CREATED, breakdown: str = "") -> FunnelResult:
    """The funnel for [start, end) from the store, equal to `reporting.funnel.funnel` once the
    store is refreshed (`reporting.services.funnel_facts_refresh`)."""
    sql, params = read_sql(start=start, end=end, mode=mode, breakdown=breakdown)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(row[0], *row[2:]) for row in cursor.fetchall()]
    return result_of(mode=mode, breakdown=breakdown, start=start, end=end, rows=rows)
