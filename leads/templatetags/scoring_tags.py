"""How scores, their explanations and scoring rules read on pages.

Everything here works from what is already loaded (the lead row, the rule rows): no tag runs a
query, so the lead list can show every row's explanation at no extra cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from django import template
from django.utils.safestring import SafeString
from django_countries import countries

from leads.models import (
    CompanySize,
    EngagementRule,
    FitAttribute,
    FitOperator,
    FitRule,
    Industry,
    Job,
    JobStatus,
    Lead,
)
from leads.scoring import SENIORITY_CHOICES, sort_explanation

register = template.Library()

MINUS = "\u2212"  # a real minus sign: "−15" reads better than "-15" next to "+15"

# Labels of the coded values a fit rule compares with, per attribute.
VALUE_LABELS: dict[str, dict[str, str]] = {
    FitAttribute.SENIORITY: dict(SENIORITY_CHOICES),
    FitAttribute.INDUSTRY: dict(Industry.choices),
    FitAttribute.COMPANY_SIZE: dict(CompanySize.choices),
}


@register.filter
def signed(points: Any) -> str:
    """15 -> "+15", -15 -> "−15", 0 -> "0"."""
    try:
        value = int(points)
    except (TypeError, ValueError):
        return ""
    if value > 0:
        return f"+{value}"
    if value < 0:
        return f"{MINUS}{-value}"
    return "0"


@register.filter
def tone_of(points: Any) -> str:
    """ "positive", "negative" or "zero": a CSS modifier for signed numbers."""
    try:
        value = int(points)
    except (TypeError, ValueError):
        return "zero"
    return "positive" if value > 0 else "negative" if value < 0 else "zero"


@register.filter
def seconds(value: Any) -> str:
    """4.2 -> "4.2", 0.0134 -> "0.01", 12.0 -> "12": a duration without trailing zeros."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("0", "-0") or number == 0 else "< 0.01"


def value_label(attribute: str, value: str) -> str:
    if attribute == FitAttribute.COUNTRY:
        return countries.name(value) or value
    return VALUE_LABELS.get(attribute, {}).get(value, value)


@register.filter
def fit_rule_condition(rule: FitRule) -> str:
    """ "Job title contains any of vp, director" — the condition of a fit rule, in words."""
    if rule.attribute == FitAttribute.FREE_MAIL:
        return "Email is a free-mail address (gmail.com, outlook.com…)"
    try:
        attribute = FitAttribute(rule.attribute).label
    except ValueError:
        attribute = rule.attribute
    try:
        operator = FitOperator(rule.operator).label
    except ValueError:
        operator = rule.operator
    values = ", ".join(value_label(rule.attribute, str(v)) for v in rule.values or [])
    return f"{attribute} {operator} {values}".strip()


@register.filter
def fit_rule_text(rule: FitRule) -> str:
    """ "Job title contains any of vp, director → +15"."""
    return f"{fit_rule_condition(rule)} → {signed(rule.points)}"


@register.filter
def engagement_rule_text(rule: EngagementRule) -> str:
    """ "Webinar attended: +12 each, capped at 24, fading with age"."""
    parts = [f"{signed(rule.points)} each"]
    if rule.max_points:
        parts.append(f"capped at {rule.max_points}")
    parts.append("fading with age" if rule.decays else "does not fade")
    return f"{rule.activity_type.name}: {', '.join(parts)}"


@dataclass
class Explanation:
    """A lead's score parts, fit then engagement, biggest first. Each part is a dict with `kind`,
    `rule`, `label`, `points` and, ready for the page, `signed` ("+15", "−15") and `tone`."""

    fit: list[dict[str, Any]] = field(default_factory=list)
    engagement: list[dict[str, Any]] = field(default_factory=list)
    fit_score: int = 0
    engagement_score: int = 0

    @property
    def fit_sum(self) -> int:
        return sum(part["points"] for part in self.fit)

    @property
    def engagement_sum(self) -> int:
        return sum(part["points"] for part in self.engagement)

    @property
    def fit_adds_up(self) -> bool:
        return self.fit_sum == self.fit_score

    @property
    def engagement_adds_up(self) -> bool:
        return self.engagement_sum == self.engagement_score

    @property
    def adds_up(self) -> bool:
        """False for scores set some other way than scoring (they are corrected by the next rescore)."""
        return self.fit_adds_up and self.engagement_adds_up


def explanation_of(lead: Lead) -> Explanation:
    return explanation_from(lead.score_explanation, fit_score=lead.fit_score, engagement_score=lead.engagement_score)


def explanation_from(stored: Any, *, fit_score: int, engagement_score: int) -> Explanation:
    """A lead's parts from its stored explanation (a list of dicts; anything else is no parts)."""
    raw = stored if isinstance(stored, list) else []
    parts = [
        {"kind": p.get("kind"), "rule": p.get("rule") or 0, "label": p.get("label") or "", "points": int(p["points"])}
        for p in raw
        if isinstance(p, dict) and isinstance(p.get("points"), int | float)
    ]
    ordered = sort_explanation(parts)
    for part in ordered:
        part["signed"] = signed(part["points"])
        part["tone"] = tone_of(part["points"])
    return Explanation(
        fit=[p for p in ordered if p["kind"] == "fit"],
        engagement=[p for p in ordered if p["kind"] == "engagement"],
        fit_score=fit_score,
        engagement_score=engagement_score,
    )


EXPLAIN_GROUPS = (("fit", "Fit", "No fit rule matched"), ("engagement", "Engagement", "No engagement that counts"))
EXPLAIN_NOTE = "These scores were set before their breakdown was recorded; the next rescore brings it back."


@register.simple_tag
def score_parts(explanation: Explanation, only: str = "") -> SafeString:
    """`{% score_parts explanation %}`: the parts a lead's scores are made of, fit then engagement,
    each biggest first, summing to the scores shown; `only` ("fit" or "engagement") shows one
    score's parts.

    Written out here, not in an include: the lead list shows two a row, and an include (or
    format_html, whose escaping goes through several wrappers) per part cost more than the rest
    of the row. Every value put in is escaped, a number, or one of our own words."""
    html = ['<div class="score-explanation">']
    for kind, title, nothing in EXPLAIN_GROUPS:
        if only and only != kind:
            continue
        score = int(getattr(explanation, f"{kind}_score"))
        html.append(
            f'<div class="explain-group"><div class="explain-heading"><span>{title}</span>'
            f'<span class="explain-total">{score}</span></div><ul class="explain-list" data-testid="{kind}-parts">'
        )
        parts = getattr(explanation, kind)
        html.extend(
            f'<li><span class="explain-label">{escape(part["label"])}</span>'
            f'<span class="explain-points tone-{part["tone"]}">{part["signed"]}</span></li>'
            for part in parts
        )
        if not parts:
            html.append(f'<li class="explain-none">{nothing}</li>')
        html.append("</ul></div>")
    if not (getattr(explanation, f"{only}_adds_up") if only else explanation.adds_up):
        html.append(f'<div class="explain-note">{EXPLAIN_NOTE}</div>')
    html.append("</div>")
    return SafeString("".join(html))


@register.simple_tag
def score_explanation(lead: Lead) -> Explanation:
    """`{% score_explanation lead as explanation %}`: the lead's parts, fit first, biggest first."""
    return explanation_of(lead)


@register.simple_tag
def scored_with_version(lead: Lead) -> int | None:
    """The version that scored the lead, when the page loaded it with the lead (no query here)."""
    if lead.scoring_model_id and Lead.scoring_model.is_cached(lead):
        return lead.scoring_model.version
    return None


@register.filter
def job_state(job: Job) -> str:
    """ "running", "done", "failed" or "queued": the modifier the progress bar is drawn with."""
    return str(job.status) if job.status in JobStatus.values else "queued"
