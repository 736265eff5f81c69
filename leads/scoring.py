"""The scoring engine: one set-based SQL statement scores any set of leads.

Bulk rescoring (after publishing a model, nightly decay) and incremental rescoring (after new
activities) run the *same* statement, only over different lead sets (an id range, or a list of
ids), so they cannot disagree. Each lead's explanation is built by the same statement from the
same contributions its scores are summed from, so the parts always add up to the score.

Semantics (the reference implementation in tests/leads/scoring_reference.py mirrors these):
- Fit: every fit rule whose condition holds adds its points once. Text comparisons are
  ASCII case-insensitive; company attributes of a lead without a company never match.
- Engagement: for each engagement rule, the sum over the lead's activities of that type up to
  `as_of` of `points * 0.5 ** (age_days / half_life)` (age in whole UTC days; no decay when the
  model or rule says so), clamped to ±max_points, then rounded half up to an integer.
- Hot: the latest activity of a hot-signal type within `hot_signal_window_days` of `as_of`.

The SQL is assembled from fixed fragments; every value that comes from a rule or a lead goes in
as a query parameter, never into the SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from leads.domains import FREE_MAIL_DOMAINS
from leads.models import FitAttribute, FitOperator, FitRule, ScoringModel

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
        # PostgreSQL's LOWER folds non-ASCII letters too; TRANSLATE keeps it to ASCII like SQLite.
        if self.is_postgres:
            return f"TRANSLATE({expression}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
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

    def json_explanation(self) -> str:
        fields = "'kind', kind, 'rule', rule_id, 'label', label, 'points', points"
        if self.is_postgres:
            return f"jsonb_agg(jsonb_build_object({fields}))"
        return f"json_group_array(json_object({fields}))"

    @property
    def empty_json(self) -> str:
        return "'[]'::jsonb" if self.is_postgres else "'[]'"

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
        f"{dialect.email_domain('l.email')} AS domain, c.industry, c.size, c.country "
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

    @classmethod
    def load(cls, model: ScoringModel) -> ScoringSpec:
        return cls(
            model=model,
            fit_rules=tuple(model.fit_rules.all()),
            hot_types=tuple(sorted(model.hot_signal_types.values_list("code", flat=True))),
        )


def scores_sql(
    spec: ScoringSpec, leads: LeadSet, as_of: datetime, dialect: Dialect, *, explain: bool = True
) -> tuple[str, list[Any]]:
    """A SELECT of (lead_id, fit, engagement, explanation, hot_at) for every lead in the set.

    Two passes over the data, whatever the number of rules: `fit_base` reads each lead (and its
    company) once and computes every attribute the fit rules test; `act` reads each lead's
    activities once, through the (lead, occurred_at) index, summing them per activity type. The
    rules are then cheap filters and joins over those two small materialized tables.
    `explain=False` leaves the explanation out (NULL), for previews that only count.
    """
    model = spec.model
    as_of_value = connection.ops.adapt_datetimefield_value(as_of)
    ctes: list[str] = []
    cte_params: list[Any] = []
    parts: list[str] = []
    params: list[Any] = []

    if spec.fit_rules:
        fit_ctes, fit_params = fit_base_ctes(spec.fit_rules, leads, dialect)
        ctes += fit_ctes
        cte_params += fit_params
    for rule in spec.fit_rules:
        condition, condition_params = fit_condition_sql(rule, dialect)
        parts.append(
            "SELECT b.lead_id AS lead_id, 'fit' AS kind, CAST(%s AS BIGINT) AS rule_id, "
            "CAST(%s AS TEXT) AS label, CAST(%s AS INTEGER) AS points "
            f"FROM fit_base b WHERE {condition}"
        )
        params += [rule.pk, rule.label, rule.points, *condition_params]

    # Per lead and activity type: the decayed sum, the plain count and the latest time. One rule
    # per type and model, so a rule's total is its points times one of the first two.
    if model.decay_half_life_days:
        age = f"CAST({dialect.age_days('a.occurred_at')} AS {dialect.double})"
        decayed = f"SUM(POWER(0.5, {age} / %s))"
        decay_params: list[Any] = [connection.ops.adapt_datefield_value(as_of.date()), model.decay_half_life_days]
    else:
        decayed, decay_params = f"CAST(COUNT(*) AS {dialect.double})", []
    lead_filter, lead_params = leads.sql("a.lead_id")
    ctes.append(
        "act AS MATERIALIZED (SELECT a.lead_id, a.type_code, "
        f"{decayed} AS decayed, COUNT(*) AS n, MAX(a.occurred_at) AS last_at "
        f"FROM leads_activity a WHERE {lead_filter} AND a.occurred_at <= %s GROUP BY a.lead_id, a.type_code)"
    )
    cte_params += [*decay_params, *lead_params, as_of_value]
    clamped = (
        "CASE WHEN e.max_points IS NULL THEN e.total "
        f"WHEN e.total > 0 THEN {dialect.least('e.total', 'e.max_points')} "
        f"ELSE {dialect.greatest('e.total', '-e.max_points')} END"
    )
    parts.append(
        "SELECT e.lead_id AS lead_id, 'engagement' AS kind, e.rule_id AS rule_id, e.label AS label, "
        f"CAST(FLOOR({clamped} + 0.5) AS INTEGER) AS points "
        "FROM (SELECT act.lead_id, r.id AS rule_id, COALESCE(NULLIF(r.label, ''), t.name) AS label, r.max_points, "
        "r.points * (CASE WHEN r.decays THEN act.decayed ELSE act.n END) AS total "
        "FROM act JOIN leads_engagementrule r ON r.activity_type_id = act.type_code AND r.scoring_model_id = %s "
        "JOIN leads_activitytype t ON t.code = r.activity_type_id) e"
    )
    params.append(model.pk)

    contributions = " UNION ALL ".join(parts)
    lead_filter, lead_params = leads.sql("l.id")
    if spec.hot_types:
        hot_join = (
            "LEFT JOIN (SELECT lead_id, MAX(last_at) AS hot_at FROM act "
            f"WHERE type_code IN ({', '.join(['%s'] * len(spec.hot_types))}) AND last_at > %s "
            "GROUP BY lead_id) hot ON hot.lead_id = l.id"
        )
        window_start = connection.ops.adapt_datetimefield_value(as_of - timedelta(days=model.hot_signal_window_days))
        hot_params = [*spec.hot_types, window_start]
        hot_column = "hot.hot_at"
    else:
        hot_join, hot_params = "", []
        hot_column = "CAST(NULL AS timestamp with time zone)" if dialect.is_postgres else "NULL"

    explanation_column = f"COALESCE(agg.explanation, {dialect.empty_json})" if explain else "NULL"
    sql = (
        f"WITH {', '.join(ctes)} "
        f"SELECT l.id AS lead_id, COALESCE(agg.fit, 0) AS fit, COALESCE(agg.engagement, 0) AS engagement, "
        f"{explanation_column} AS explanation, {hot_column} AS hot_at "
        "FROM leads_lead l "
        "LEFT JOIN ("
        "SELECT lead_id, "
        "SUM(CASE WHEN kind = 'fit' THEN points ELSE 0 END) AS fit, "
        "SUM(CASE WHEN kind = 'engagement' THEN points ELSE 0 END) AS engagement, "
        f"{dialect.json_explanation() if explain else 'NULL'} AS explanation "
        f"FROM (SELECT * FROM ({contributions}) contrib_all WHERE points <> 0 "
        "ORDER BY lead_id, kind DESC, points DESC, rule_id) contrib "
        "GROUP BY lead_id"
        ") agg ON agg.lead_id = l.id "
        f"{hot_join} "
        f"WHERE {lead_filter}"
    )
    return sql, [*cte_params, *params, *hot_params, *lead_params]


# --- Execution -----------------------------------------------------------------------------

DEFAULT_BATCH_SIZE = 20_000


def rescore(spec: ScoringSpec, leads: LeadSet, *, as_of: datetime) -> int:
    """Write scores, explanation and hot flag for every lead in the set, in one statement."""
    dialect = current_dialect()
    select_sql, select_params = scores_sql(spec, leads, as_of, dialect)
    # The target's own filter lets the database reach the batch's rows by primary key instead of
    # scanning the whole table to join them with the scores.
    target_filter, target_params = leads.sql("leads_lead.id")
    sql = (
        "UPDATE leads_lead SET fit_score = s.fit, engagement_score = s.engagement, "
        "score_explanation = s.explanation, hot_signal_at = s.hot_at, "
        "scoring_model_id = %s, scored_at = %s "
        f"FROM ({select_sql}) s WHERE leads_lead.id = s.lead_id AND {target_filter}"
    )
    params = [spec.model.pk, connection.ops.adapt_datetimefield_value(as_of), *select_params, *target_params]
    with connection.cursor() as cursor:
        if dialect.is_postgres and connection.in_atomic_block:
            # Sorts and hashes of a batch (a few hundred thousand activities) fit in memory.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        return cursor.rowcount


def compute(spec: ScoringSpec, leads: LeadSet, *, as_of: datetime) -> Iterator[dict[str, Any]]:
    """The same numbers `rescore` would write, without writing (previews, checks)."""
    import json

    dialect = current_dialect()
    sql, params = scores_sql(spec, leads, as_of, dialect)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for lead_id, fit, engagement, explanation, hot_at in cursor.fetchall():
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
    """Per lead: channel, active fit/engagement, draft fit/engagement — for draft previews."""
    active_sql, active_params = scores_sql(active, leads, as_of, dialect, explain=False)
    draft_sql, draft_params = scores_sql(draft, leads, as_of, dialect, explain=False)
    sql = (
        "SELECT l.id, l.source_channel, a.fit, a.engagement, d.fit, d.engagement "
        f"FROM leads_lead l JOIN ({active_sql}) a ON a.lead_id = l.id "
        f"JOIN ({draft_sql}) d ON d.lead_id = l.id"
    )
    return sql, [*active_params, *draft_params]


def preview_batch(
    active: ScoringSpec, draft: ScoringSpec, leads: LeadSet, *, as_of: datetime, summary: dict[str, Any]
) -> None:
    """Add one batch of leads to a preview summary (see leads.services.job_run_scoring_preview)."""
    a_model, d_model = active.model, draft.model
    sql, params = compare_sql(active, draft, leads, as_of, current_dialect())
    by_channel = summary.setdefault("by_channel", {})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for lead_id, channel, a_fit, a_eng, d_fit, d_eng in cursor.fetchall():
            was = a_fit >= a_model.mql_fit_threshold and a_eng >= a_model.mql_engagement_threshold
            now = d_fit >= d_model.mql_fit_threshold and d_eng >= d_model.mql_engagement_threshold
            counts = by_channel.setdefault(channel, {"active": 0, "draft": 0, "leads": 0})
            counts["leads"] += 1
            counts["active"] += was
            counts["draft"] += now
            summary["leads"] = summary.get("leads", 0) + 1
            summary["active_mql"] = summary.get("active_mql", 0) + was
            summary["draft_mql"] = summary.get("draft_mql", 0) + now
            if was != now:
                key = "gained" if now else "lost"
                summary[f"{key}_count"] = summary.get(f"{key}_count", 0) + 1
                sample = summary.setdefault(key, [])
                if len(sample) < PREVIEW_SAMPLE:
                    sample.append({"lead_id": lead_id, "active": [a_fit, a_eng], "draft": [d_fit, d_eng]})


PREVIEW_SAMPLE = 25
