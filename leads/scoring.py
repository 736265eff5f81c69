"""The scoring engine: one set-based SQL statement scores any set of leads.

Bulk rescoring (after publishing a model, nightly decay) and incremental rescoring (after new
activities) run the *same* statement, only over different lead sets (an id range, or a list of
ids), so they cannot disagree. Each lead's explanation is built by the same statement from the
same contributions its scores are summed from, so the parts always add up to the score. A lead
whose result is what it already holds is not written again (see `rescore`).

Semantics (the reference implementation in tests/leads/scoring_reference.py mirrors these):
- Fit: every fit rule whose condition holds adds its points once. Text comparisons are
  ASCII case-insensitive; company attributes of a lead without a company never match.
- Engagement: for each engagement rule, the sum over the lead's activities of that type up to
  `as_of` of `points * 0.5 ** (age_days / half_life)` (age in whole UTC days; no decay when the
  model or rule says so), clamped to ±max_points, then rounded half up to an integer.
- Hot: the latest activity of a hot-signal type within `hot_signal_window_days` of `as_of`.
- A lead back from nurture (`engagement_since` set) counts only the activities after that moment,
  for engagement and the hot signal alike: the old points do not bring it back.

The SQL is assembled from fixed fragments; every value that comes from a rule or a lead goes in
as a query parameter, never into the SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from leads.domains import FREE_MAIL_DOMAINS
from leads.models import EngagementRule, FitAttribute, FitOperator, FitRule, ScoringModel

# Seniority from the job title: the first group whose keyword the title contains wins.
SENIORITY_LEVELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("student", "Student", ("student", "intern", "phd candidate")),
    ("vp", "VP", ("vice president", "vp ", "vp,", "svp", "evp")),
    (
        "c_level",
        "C-level",
        ("chief", "ceo", "cto", "cfo", "coo", "cmo", "cio", "founder", "owner", "president"),
    ),
    ("director", "Director", ("director", "head of")),
    ("manager", "Manager", ("manager", "team lead")),
)
SENIORITY_DEFAULT = ("individual", "Individual contributor")
SENIORITY_CHOICES: list[tuple[str, str]] = [(code, label) for code, label, _ in SENIORITY_LEVELS] + [SENIORITY_DEFAULT]

# Which operators make sense for which attribute; rule validation enforces this.
OPERATORS_FOR: dict[str, tuple[str, ...]] = {
    FitAttribute.JOB_TITLE: (FitOperator.CONTAINS_ANY, FitOperator.IN, FitOperator.NOT_IN),
    FitAttribute.SENIORITY: (FitOperator.IN, FitOperator.NOT_IN),
    FitAttribute.INDUSTRY: (FitOperator.IN, FitOperator.NOT_IN),
    FitAttribute.COMPANY_SIZE: (FitOperator.IN, FitOperator.NOT_IN),
    FitAttribute.COUNTRY: (FitOperator.IN, FitOperator.NOT_IN),
    FitAttribute.EMAIL_DOMAIN: (FitOperator.IN, FitOperator.NOT_IN, FitOperator.ENDS_WITH_ANY),
    FitAttribute.FREE_MAIL: (FitOperator.IS_TRUE,),
}
# Attributes compared lower-cased; the rest are choice codes compared as stored.
LOWERCASE_ATTRIBUTES = frozenset({FitAttribute.JOB_TITLE, FitAttribute.EMAIL_DOMAIN})


def seniority_of(job_title: str) -> str:
    """Python twin of the SQL CASE below (used for display and by the reference tests)."""
    title = ascii_lower(job_title or "") + " "
    for code, _label, keywords in SENIORITY_LEVELS:
        if any(keyword in title for keyword in keywords):
            return code
    return SENIORITY_DEFAULT[0]


def ascii_lower(value: str) -> str:
    """Lower-case ASCII letters only, exactly like SQLite's LOWER()."""
    return value.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_rule_value(attribute: str, value: str) -> str:
    value = str(value).strip()
    if attribute in LOWERCASE_ATTRIBUTES:
        return ascii_lower(value)
    if attribute == FitAttribute.COUNTRY:
        return value.upper()
    return value


# --- SQL dialect ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    vendor: str

    @property
    def is_postgres(self) -> bool:
        return self.vendor == "postgresql"

    def lower(self, expression: str) -> str:
        # PostgreSQL's LOWER folds non-ASCII letters too, except under the "C" collation, where it
        # folds A-Z only, like SQLite's (and much faster than TRANSLATE, which did the same).
        if self.is_postgres:
            return f'LOWER({expression} COLLATE "C")'
        return f"LOWER({expression})"

    def email_domain(self, email: str) -> str:
        if self.is_postgres:
            return f"SPLIT_PART({email}, '@', 2)"
        return f"SUBSTR({email}, INSTR({email}, '@') + 1)"

    def age_days(self, timestamp: str) -> str:
        """Whole UTC days from the timestamp's date to the as-of date (a parameter)."""
        if self.is_postgres:
            return f"(CAST(%s AS date) - CAST(({timestamp} AT TIME ZONE 'UTC') AS date))"
        return f"CAST(julianday(%s) - julianday(date({timestamp})) AS INTEGER)"

    @property
    def double(self) -> str:
        return "double precision" if self.is_postgres else "REAL"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.is_postgres else f"MIN({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.is_postgres else f"MAX({a}, {b})"

    def distinct(self, a: str, b: str) -> str:
        """`a` differs from `b`, NULL being a value like any other."""
        return f"{a} IS DISTINCT FROM {b}" if self.is_postgres else f"{a} IS NOT {b}"

    @property
    def null_timestamp(self) -> str:
        return "CAST(NULL AS timestamp with time zone)" if self.is_postgres else "NULL"

    def concat_when(self, parts: Sequence[tuple[str, str]]) -> str:
        """The texts whose conditions hold, concatenated in order (one call on PostgreSQL, whose
        CONCAT skips NULLs; SQLite before 3.44 has no CONCAT)."""
        if self.is_postgres:
            return f"CONCAT({', '.join(f'CASE WHEN {when} THEN {text} END' for when, text in parts)})"
        return " || ".join(f"CASE WHEN {when} THEN {text} ELSE '' END" for when, text in parts)

    def json_value(self, text: str) -> str:
        """JSON text as the explanation column stores it (jsonb on PostgreSQL)."""
        return f"CAST({text} AS jsonb)" if self.is_postgres else text

    def json_as_text(self, column: str) -> str:
        """A JSON column's value as text (PostgreSQL prints its jsonb)."""
        return f"CAST({column} AS text)" if self.is_postgres else column

    def unindexed(self, column: str) -> str:
        """`column`, kept from choosing the index: SQLite would read a batch's activities through
        the activity type index (every activity of those types, 10M at 1M leads, for each batch)
        instead of the (lead, occurred_at) one; a unary + is its way to say "not by this index"."""
        return column if self.is_postgres else f"+{column}"

    def like_escape(self) -> str:
        return "ESCAPE '\\'"


def current_dialect() -> Dialect:
    return Dialect(connection.vendor)


def _like_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- Lead sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadSet:
    """Which leads a statement scores: an inclusive id range, or explicit ids."""

    id_range: tuple[int, int] | None = None
    ids: tuple[int, ...] = ()

    @classmethod
    def between(cls, low: int, high: int) -> LeadSet:
        return cls(id_range=(low, high))

    @classmethod
    def of(cls, ids: Sequence[int]) -> LeadSet:
        return cls(ids=tuple(sorted(set(ids))))

    def sql(self, column: str) -> tuple[str, list[Any]]:
        if self.id_range is not None:
            return f"{column} BETWEEN %s AND %s", list(self.id_range)
        if not self.ids:
            return "1 = 0", []
        return f"{column} IN ({', '.join(['%s'] * len(self.ids))})", list(self.ids)


# --- Statement building --------------------------------------------------------------------


def _seniority_sql(title_column: str, dialect: Dialect) -> tuple[str, list[Any]]:
    """CASE over an already lower-cased title column: the first matching level wins."""
    title = f"({title_column} || ' ')"
    whens, params = [], []
    for code, _label, keywords in SENIORITY_LEVELS:
        condition = " OR ".join([f"{title} LIKE %s {dialect.like_escape()}"] * len(keywords))
        whens.append(f"WHEN {condition} THEN %s")
        params += [f"%{_like_literal(k)}%" for k in keywords] + [code]
    return f"(CASE {' '.join(whens)} ELSE %s END)", [*params, SENIORITY_DEFAULT[0]]


# The lead attributes fit rules test, each computed once per lead in the `fit_base` table
# expression, then read by every rule as `b.<column>`.
_ATTRIBUTE_COLUMNS: dict[str, str] = {
    FitAttribute.JOB_TITLE: "title",
    FitAttribute.SENIORITY: "seniority",
    FitAttribute.INDUSTRY: "industry",
    FitAttribute.COMPANY_SIZE: "size",
    FitAttribute.COUNTRY: "country",
    FitAttribute.EMAIL_DOMAIN: "domain",
    FitAttribute.FREE_MAIL: "domain",
}


def fit_base_ctes(rules: Sequence[FitRule], leads: LeadSet, dialect: Dialect) -> tuple[list[str], list[Any]]:
    """Table expressions `fit_lead` (lead, company: the raw attributes, lower-cased once) and
    `fit_base` (plus seniority, derived from the lower-cased title), one row per lead in the set.
    Both are materialized so each expression is evaluated once per lead, not once per rule."""
    lead_filter, lead_params = leads.sql("l.id")
    fit_lead = (
        f"fit_lead AS MATERIALIZED (SELECT l.id AS lead_id, {dialect.lower('l.job_title')} AS title, "
        f"{dialect.email_domain('l.email')} AS domain, c.industry, c.size, c.country, l.engagement_since AS since "
        f"FROM leads_lead l LEFT JOIN leads_company c ON c.id = l.company_id WHERE {lead_filter})"
    )
    if any(rule.attribute == FitAttribute.SENIORITY for rule in rules):
        seniority, seniority_params = _seniority_sql("f.title", dialect)
    else:
        seniority, seniority_params = "''", []
    fit_base = f"fit_base AS MATERIALIZED (SELECT f.*, {seniority} AS seniority FROM fit_lead f)"
    return [fit_lead, fit_base], [*lead_params, *seniority_params]


def fit_condition_sql(rule: FitRule, dialect: Dialect) -> tuple[str, list[Any]]:
    """The condition under which `rule` adds its points, over a `fit_base` row `b`."""
    expression = f"b.{_ATTRIBUTE_COLUMNS[rule.attribute]}"
    values = [normalise_rule_value(rule.attribute, v) for v in rule.values]
    operator = rule.operator
    if rule.attribute == FitAttribute.FREE_MAIL:
        free = sorted(FREE_MAIL_DOMAINS)
        return f"{expression} IN ({', '.join(['%s'] * len(free))})", free
    if not values:
        return "1 = 0", []
    known = f"COALESCE({expression}, '') <> ''"
    if operator == FitOperator.IN:
        return f"{expression} IN ({', '.join(['%s'] * len(values))})", values
    if operator == FitOperator.NOT_IN:
        return (
            f"({known} AND {expression} NOT IN ({', '.join(['%s'] * len(values))}))",
            values,
        )
    if operator in (FitOperator.CONTAINS_ANY, FitOperator.ENDS_WITH_ANY):
        prefix, suffix = "%", "%" if operator == FitOperator.CONTAINS_ANY else ""
        likes = " OR ".join([f"{expression} LIKE %s {dialect.like_escape()}"] * len(values))
        like_params: list[Any] = []
        for value in values:
            like_params.append(f"{prefix}{_like_literal(value)}{suffix}")
        return f"({likes})", like_params
    raise ValueError(f"Operator {operator!r} does not apply to {rule.attribute!r}")


@dataclass(frozen=True)
class ScoringSpec:
    """Everything a statement needs from one model version, loaded once."""

    model: ScoringModel
    fit_rules: tuple[FitRule, ...]
    hot_types: tuple[str, ...]
    engagement_rules: tuple[EngagementRule, ...]

    @classmethod
    def load(cls, model: ScoringModel) -> ScoringSpec:
        return cls(
            model=model,
            fit_rules=tuple(model.fit_rules.all()),
            hot_types=tuple(sorted(model.hot_signal_types.values_list("code", flat=True))),
            engagement_rules=tuple(model.engagement_rules.select_related("activity_type").order_by("pk")),
        )


def _entry_head(kind: str, rule_id: int, label: str) -> str:
    """One explanation entry as JSON text up to its points: `{"kind": …, "label": …, "points": `.
    Python writes it (escaping the label), so the SQL only appends the number and `}`.

    Written exactly as PostgreSQL prints a jsonb value (keys in its order, ", " and ": " between
    items, the same escapes, non-ASCII as is), so that a stored explanation, printed, can be
    compared with a new one as text (see `rescore`)."""
    entry = json.dumps({"kind": kind, "rule": rule_id, "label": label, "points": 0}, ensure_ascii=False)
    return entry.removesuffix("0}")


def scores_sql(
    spec: ScoringSpec, leads: LeadSet, as_of: datetime, dialect: Dialect, *, explain: bool = True, junk: bool = False
) -> tuple[str, list[Any]]:
    """A SELECT of (lead_id, fit, engagement, explanation, hot_at) for every lead in the set; the
    explanation as JSON text. `junk=True` adds a last column, `junk`: 1 when the lead matches a
    fit rule with negative points (competitor, student, free mail…), the fit parts that
    leads.fast_track.junk_parts finds in an explanation; 0 otherwise.

    Two passes over the data, whatever the number of rules, each producing one row per lead:
    `fit` reads each lead (and its company) once and evaluates every fit rule's condition once,
    as a 0/1 flag per rule; `eng` reads the lead's activities once, through the (lead,
    occurred_at) index, with one filtered aggregate per engagement rule (the decayed sum or the
    count of that rule's activity type), each rule's points computed from it, and the latest hot
    signal.

    Each lead's explanation is written out as JSON text by the statement itself, one entry per
    rule with non-zero points, fit before engagement, each kind in a fixed rule order (points of
    the rule descending, then id): fit entries are constants (a fit rule's points are fixed),
    engagement entries the rule's constant part followed by the computed points. The scores are
    summed from exactly the same per-rule points, so the parts always add up to them.
    `explain=False` leaves the explanation out (NULL), for previews that only count.
    """
    model = spec.model
    ctes: list[str] = []
    params: list[Any] = []

    # Fit: one row per lead of the set, with a 0/1 flag per rule.
    fit_rules = sorted((rule for rule in spec.fit_rules if rule.points), key=lambda rule: (-rule.points, rule.pk))
    fit_ctes, fit_params = fit_base_ctes(fit_rules, leads, dialect)
    ctes += fit_ctes
    params += fit_params
    flags = []
    for index, rule in enumerate(fit_rules):
        condition, condition_params = fit_condition_sql(rule, dialect)
        flags.append(f", CASE WHEN {condition} THEN 1 ELSE 0 END AS m{index}")
        params += condition_params
    ctes.append(f"fit AS MATERIALIZED (SELECT b.lead_id{''.join(flags)} FROM fit_base b)")
    fit_score = " + ".join(f"%s * f.m{index}" for index in range(len(fit_rules))) or "0"
    fit_score_params: list[Any] = [rule.points for rule in fit_rules]
    # (condition, text) of each possible explanation entry, in order.
    parts: list[tuple[str, str]] = [(f"f.m{index} = 1", "%s") for index in range(len(fit_rules))]
    parts_params: list[Any] = [f"{_entry_head('fit', rule.pk, rule.label)}{rule.points}}}, " for rule in fit_rules]

    # Engagement: per lead, for each rule, the decayed sum (or the count) of the lead's activities
    # of the rule's type up to `as_of`; one rule per type and model.
    engagement_rules = sorted(spec.engagement_rules, key=lambda rule: (-rule.points, rule.pk))
    engagement_score, hot_column = "0", dialect.null_timestamp
    if engagement_rules or spec.hot_types:
        aggregates, aggregate_params = [], []
        for index, rule in enumerate(engagement_rules):
            if model.decay_half_life_days and rule.decays:
                age = f"CAST({dialect.age_days('a.occurred_at')} AS {dialect.double})"
                decayed = f"SUM(POWER(0.5, {age} / %s)) FILTER (WHERE a.type_code = %s)"
                aggregates.append(f"COALESCE({decayed}, 0) AS d{index}")
                aggregate_params += [
                    connection.ops.adapt_datefield_value(as_of.date()),
                    model.decay_half_life_days,
                    rule.activity_type_id,
                ]
            else:
                aggregates.append(f"CAST(COUNT(*) FILTER (WHERE a.type_code = %s) AS {dialect.double}) AS d{index}")
                aggregate_params.append(rule.activity_type_id)
        if spec.hot_types:
            aggregates.append(
                f"MAX(a.occurred_at) FILTER (WHERE a.type_code IN ({', '.join(['%s'] * len(spec.hot_types))}) "
                "AND a.occurred_at > %s) AS hot_at"
            )
            window_start = as_of - timedelta(days=model.hot_signal_window_days)
            aggregate_params += [*spec.hot_types, connection.ops.adapt_datetimefield_value(window_start)]
            hot_column = "e.hot_at"
        else:
            aggregates.append(f"{dialect.null_timestamp} AS hot_at")
        wanted_types = sorted({rule.activity_type_id for rule in engagement_rules} | set(spec.hot_types))
        lead_filter, lead_params = leads.sql("a.lead_id")
        points, points_params = [], []
        for index, rule in enumerate(engagement_rules):
            total = f"(%s * act.d{index})"
            if rule.max_points is None:
                clamped, clamp_params = total, [rule.points]
            else:
                clamped = (
                    f"CASE WHEN {total} > 0 THEN {dialect.least(total, '%s')} ELSE {dialect.greatest(total, '%s')} END"
                )
                clamp_params = [rule.points, rule.points, rule.max_points, rule.points, -rule.max_points]
            points.append(f", CAST(FLOOR({clamped} + 0.5) AS INTEGER) AS p{index}")
            points_params += clamp_params
        ctes.append(
            f"eng AS MATERIALIZED (SELECT act.lead_id, act.hot_at{''.join(points)} FROM ("
            f"SELECT a.lead_id, {', '.join(aggregates)} FROM leads_activity a "
            "JOIN fit_lead s ON s.lead_id = a.lead_id "
            f"WHERE {lead_filter} AND a.occurred_at <= %s AND (s.since IS NULL OR a.occurred_at > s.since) "
            f"AND {dialect.unindexed('a.type_code')} IN ({', '.join(['%s'] * len(wanted_types))}) "
            "GROUP BY a.lead_id) act)"
        )
        params += [
            *points_params,
            *aggregate_params,
            *lead_params,
            connection.ops.adapt_datetimefield_value(as_of),
            *wanted_types,
        ]
        if engagement_rules:
            engagement_score = f"COALESCE({' + '.join(f'e.p{i}' for i in range(len(engagement_rules)))}, 0)"
        parts += [
            (f"e.p{index} <> 0", f"%s || CAST(e.p{index} AS TEXT) || '}}, '") for index in range(len(engagement_rules))
        ]
        parts_params += [
            _entry_head("engagement", rule.pk, rule.label or rule.activity_type.name) for rule in engagement_rules
        ]
        engagement_join = "LEFT JOIN eng e ON e.lead_id = f.lead_id"
    else:
        engagement_join = ""

    if explain:
        explanation = f"'[' || RTRIM({dialect.concat_when(parts)}, ', ') || ']'" if parts else "'[]'"
        explanation_params = parts_params
    else:
        explanation, explanation_params = "NULL", []
    # Read from the same per-rule flags the fit score is summed from.
    negative = [f"f.m{index} = 1" for index, rule in enumerate(fit_rules) if rule.points < 0]
    junk_column = ""
    if junk:
        junk_column = f", CASE WHEN {' OR '.join(negative)} THEN 1 ELSE 0 END AS junk" if negative else ", 0 AS junk"
    sql = (
        f"WITH {', '.join(ctes)} "
        f"SELECT f.lead_id AS lead_id, {fit_score} AS fit, {engagement_score} AS engagement, "
        f"{explanation} AS explanation, {hot_column} AS hot_at{junk_column} "
        f"FROM fit f {engagement_join}"
    )
    return sql, [*params, *fit_score_params, *explanation_params]


# --- Execution -----------------------------------------------------------------------------

DEFAULT_BATCH_SIZE = 20_000


@dataclass(frozen=True)
class Rescored:
    """What one `rescore` did: how many leads it scored, and how many of them it wrote."""

    scored: int
    written: int


def rescore(spec: ScoringSpec, leads: LeadSet, *, as_of: datetime) -> Rescored:
    """Score every lead in the set and write the scores, explanation and hot flag, in one statement.

    Only leads whose result differs from what they hold are written: a lead whose scores,
    explanation, hot flag and model are what it already has keeps its row, and its `scored_at`:
    that is when its scores were last written, not when they were last found unchanged. A
    rescore with an unchanged model (the nightly decay, a repeated run) then writes the few leads
    whose numbers moved instead of rewriting every row and every one of the table's indexes.
    """
    dialect = current_dialect()
    select_sql, select_params = scores_sql(spec, leads, as_of, dialect)
    # The target's own filter lets the database reach the batch's rows by primary key instead of
    # scanning the whole table to join them with the scores.
    target_filter, target_params = leads.sql("leads_lead.id")
    # The stored explanation is compared printed, with the new one as `scores_sql` writes it (in
    # the form PostgreSQL prints jsonb): printing is cheaper than parsing every new explanation to
    # compare jsonb values, and only the leads written have theirs parsed. Were the forms ever to
    # differ, unchanged leads would be rewritten, never changed ones skipped.
    differs = dialect.distinct
    sql = (
        "UPDATE leads_lead SET fit_score = s.fit, engagement_score = s.engagement, "
        f"score_explanation = {dialect.json_value('s.explanation')}, hot_signal_at = s.hot_at, "
        "scoring_model_id = %s, scored_at = %s "
        f"FROM ({select_sql}) s WHERE leads_lead.id = s.lead_id AND {target_filter} AND ("
        f"{differs('leads_lead.fit_score', 's.fit')} OR {differs('leads_lead.engagement_score', 's.engagement')} "
        f"OR {differs('leads_lead.hot_signal_at', 's.hot_at')} OR {differs('leads_lead.scoring_model_id', '%s')} "
        f"OR {differs(dialect.json_as_text('leads_lead.score_explanation'), 's.explanation')})"
    )
    params = [
        spec.model.pk,
        connection.ops.adapt_datetimefield_value(as_of),
        *select_params,
        *target_params,
        spec.model.pk,
    ]
    count_filter, count_params = leads.sql("id")
    with transaction.atomic(), connection.cursor() as cursor:
        _settle(cursor, dialect)
        cursor.execute(sql, params)
        written = cursor.rowcount
        cursor.execute(f"SELECT COUNT(*) FROM leads_lead WHERE {count_filter}", count_params)
        (scored,) = cursor.fetchone()
    return Rescored(scored=scored, written=written)


def _settle(cursor: Any, dialect: Dialect) -> None:
    """Settings for one scoring statement, for the rest of the (caller's) transaction."""
    if dialect.is_postgres:
        # Sorts and hashes of a batch (a few hundred thousand activities) fit in memory. The
        # statement is long and its cost estimate high, so PostgreSQL would compile it to machine
        # code first (JIT): that took longer than running it, seconds per batch at 1M leads.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")


def compute(spec: ScoringSpec, leads: LeadSet, *, as_of: datetime) -> Iterator[dict[str, Any]]:
    """The same numbers `rescore` would write, without writing (previews, checks)."""
    dialect = current_dialect()
    sql, params = scores_sql(spec, leads, as_of, dialect)
    with transaction.atomic(), connection.cursor() as cursor:
        _settle(cursor, dialect)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for lead_id, fit, engagement, explanation, hot_at in rows:
        if isinstance(explanation, str):
            explanation = json.loads(explanation)
        yield {
            "lead_id": lead_id,
            "fit": int(fit),
            "engagement": int(engagement),
            "explanation": sort_explanation(explanation),
            "hot_at": hot_at,
        }


def sort_explanation(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fit before engagement, biggest contribution first: the order people read them in."""
    return sorted(parts, key=lambda p: (p["kind"] != "fit", -p["points"], p["rule"]))


def id_ranges(*, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[tuple[int, int]]:
    """Consecutive inclusive id ranges covering every lead, `batch_size` ids wide."""
    from django.db.models import Max, Min

    from leads.models import Lead

    bounds = Lead.objects.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return
    low = bounds["low"]
    while low <= bounds["high"]:
        yield low, low + batch_size - 1
        low += batch_size


def compare_sql(
    active: ScoringSpec, draft: ScoringSpec, leads: LeadSet, as_of: datetime, dialect: Dialect
) -> tuple[str, list[Any]]:
    """Per lead, for draft previews: channel, active fit/engagement, draft fit/engagement, then
    for the fast track: hot (0/1) and junk (0/1) under the active model, the same under the draft,
    and whether the lead is in a nurture cool-off at `as_of` (0/1)."""
    active_sql, active_params = scores_sql(active, leads, as_of, dialect, explain=False, junk=True)
    draft_sql, draft_params = scores_sql(draft, leads, as_of, dialect, explain=False, junk=True)
    sql = (
        "SELECT l.id, l.source_channel, a.fit, a.engagement, d.fit, d.engagement, "
        "CASE WHEN a.hot_at IS NULL THEN 0 ELSE 1 END, a.junk, CASE WHEN d.hot_at IS NULL THEN 0 ELSE 1 END, d.junk, "
        "CASE WHEN l.nurture_until > %s THEN 1 ELSE 0 END "
        f"FROM leads_lead l JOIN ({active_sql}) a ON a.lead_id = l.id "
        f"JOIN ({draft_sql}) d ON d.lead_id = l.id"
    )
    return sql, [connection.ops.adapt_datetimefield_value(as_of), *active_params, *draft_params]


def fast_track_state(model: ScoringModel, *, hot: bool, fit: int, junk: bool, cooling_off: bool) -> str:
    """What the fast track does with a lead under `model`: "fast_track", "held" (for review) or ""
    (not hot). leads.fast_track.fast_track_verdict, from the values a preview reads in bulk (`junk`:
    a fit rule with negative points matches; `cooling_off`: the lead is in a nurture cool-off)."""
    if not hot:
        return ""
    return "held" if fit < model.fast_track_min_fit or junk or cooling_off else "fast_track"


def preview_batch(
    active: ScoringSpec, draft: ScoringSpec, leads: LeadSet, *, as_of: datetime, summary: dict[str, Any]
) -> None:
    """Add one batch of leads to a preview summary (see leads.services.job_run_scoring_preview)."""
    a_model, d_model = active.model, draft.model
    dialect = current_dialect()
    sql, params = compare_sql(active, draft, leads, as_of, dialect)
    by_channel = summary.setdefault("by_channel", {})
    with transaction.atomic(), connection.cursor() as cursor:
        _settle(cursor, dialect)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    fast_by_channel = summary.setdefault("fast_track_by_channel", {})
    for lead_id, channel, a_fit, a_eng, d_fit, d_eng, a_hot, a_junk, d_hot, d_junk, cooling_off in rows:
        was = a_fit >= a_model.mql_fit_threshold and a_eng >= a_model.mql_engagement_threshold
        now = d_fit >= d_model.mql_fit_threshold and d_eng >= d_model.mql_engagement_threshold
        counts = by_channel.setdefault(channel, {"active": 0, "draft": 0, "leads": 0})
        counts["leads"] += 1
        counts["active"] += was
        counts["draft"] += now
        summary["leads"] = summary.get("leads", 0) + 1
        summary["active_mql"] = summary.get("active_mql", 0) + was
        summary["draft_mql"] = summary.get("draft_mql", 0) + now
        # The fast track: hot leads handed off at once (`active_fast_track`…) or held for review
        # (`active_held`…), whatever their scores; by channel in `fast_track_by_channel`.
        for side, model, hot, fit, junk in (
            ("active", a_model, a_hot, a_fit, a_junk),
            ("draft", d_model, d_hot, d_fit, d_junk),
        ):
            state = fast_track_state(model, hot=bool(hot), fit=fit, junk=bool(junk), cooling_off=bool(cooling_off))
            if state:
                key = side if state == "fast_track" else f"{side}_held"
                fast = fast_by_channel.setdefault(channel, {"active": 0, "draft": 0, "active_held": 0, "draft_held": 0})
                fast[key] += 1
                summary[f"{side}_{state}"] = summary.get(f"{side}_{state}", 0) + 1
        if was != now:
            key = "gained" if now else "lost"
            summary[f"{key}_count"] = summary.get(f"{key}_count", 0) + 1
            sample = summary.setdefault(key, [])
            if len(sample) < PREVIEW_SAMPLE:
                sample.append({"lead_id": lead_id, "active": [a_fit, a_eng], "draft": [d_fit, d_eng]})


PREVIEW_SAMPLE = 25
