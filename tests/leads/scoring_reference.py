"""An independent, plain-Python calculation of the scoring semantics in leads/scoring.py.

Written from the documented rules, not from the SQL, so tests can compare the two.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from leads.domains import FREE_MAIL_DOMAINS
from leads.scoring import ascii_lower, normalise_rule_value, seniority_of


def _attribute(rule: Any, lead: Any) -> str | None:
    company = lead.company
    attribute = rule.attribute
    if attribute == "job_title":
        return ascii_lower(lead.job_title or "")
    if attribute == "seniority":
        return seniority_of(lead.job_title)
    if attribute in ("email_domain", "free_mail"):
        return lead.email.split("@", 1)[1]
    if company is None:
        return None
    return {"industry": company.industry, "company_size": company.size, "country": str(company.country)}[attribute]


def fit_matches(rule: Any, lead: Any) -> bool:
    value = _attribute(rule, lead)
    if rule.attribute == "free_mail":
        return value in FREE_MAIL_DOMAINS
    values = [normalise_rule_value(rule.attribute, v) for v in rule.values]
    if not values or value is None:
        return False
    if rule.operator == "in":
        return value in values
    if rule.operator == "not_in":
        return value != "" and value not in values
    if rule.operator == "contains_any":
        return any(v in value for v in values)
    if rule.operator == "ends_with_any":
        return any(value.endswith(v) for v in values)
    raise AssertionError(rule.operator)


def expected_scores(model: Any, lead: Any, activities: list[Any], as_of: datetime) -> dict[str, Any]:
    # Back from nurture: only what the lead did after the recycling counts.
    since = getattr(lead, "engagement_since", None)
    if since is not None:
        activities = [a for a in activities if a.occurred_at > since]
    parts = []
    for rule in model.fit_rules.all():
        if fit_matches(rule, lead) and rule.points:
            parts.append({"kind": "fit", "rule": rule.pk, "points": rule.points})
    for rule in model.engagement_rules.all():
        relevant = [a for a in activities if a.type_id == rule.activity_type_id and a.occurred_at <= as_of]
        if not relevant:
            continue
        total = 0.0
        for activity in relevant:
            factor = 1.0
            if model.decay_half_life_days and rule.decays:
                days = (as_of.date() - activity.occurred_at.astimezone(as_of.tzinfo).date()).days
                factor = 0.5 ** (days / model.decay_half_life_days)
            total += rule.points * factor
        if rule.max_points is not None:
            total = min(total, rule.max_points) if total > 0 else max(total, -rule.max_points)
        points = math.floor(total + 0.5)
        if points:
            parts.append({"kind": "engagement", "rule": rule.pk, "points": points})
    hot_types = set(model.hot_signal_types.values_list("code", flat=True))
    window_start = as_of - timedelta(days=model.hot_signal_window_days)
    hot = [a.occurred_at for a in activities if a.type_id in hot_types and window_start < a.occurred_at <= as_of]
    return {
        "fit": sum(p["points"] for p in parts if p["kind"] == "fit"),
        "engagement": sum(p["points"] for p in parts if p["kind"] == "engagement"),
        "parts": sorted((p["kind"], p["rule"], p["points"]) for p in parts),
        "hot_at": max(hot) if hot else None,
    }
