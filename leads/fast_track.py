"""The fast track: whether a lead's hot signal (demo request, contact sales, price quote…) hands
it to sales at once, or holds it for marketing review because its fit marks it as junk.

Plain functions of a lead's values and the scoring model, so the queue, the lead page, the
hand-off service and the model preview all give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from leads.models import ScoringModel


@dataclass(frozen=True)
class FastTrack:
    hot: bool
    holds: tuple[str, ...] = ()  # why a hot lead is held for review; empty: it is fast-tracked

    @property
    def fast_tracked(self) -> bool:
        return self.hot and not self.holds

    @property
    def held(self) -> bool:
        return self.hot and bool(self.holds)

    @property
    def hold_text(self) -> str:
        return "; ".join(self.holds)


def junk_parts(explanation: Any) -> list[tuple[str, int]]:
    """The fit rules with negative points that a lead matches (competitor, student, free mail…)."""
    parts = []
    for item in explanation if isinstance(explanation, list) else []:
        if not isinstance(item, dict) or item.get("kind") != "fit":
            continue
        try:
            points = int(item.get("points") or 0)
        except (TypeError, ValueError):
            continue
        if points < 0:
            parts.append((str(item.get("label") or "Fit rule"), points))
    return parts


def fast_track_verdict(
    *,
    model: ScoringModel | None,
    fit_score: int,
    explanation: Any,
    hot_signal_at: datetime | None,
    nurture_until: datetime | None = None,
    now: datetime,
) -> FastTrack:
    """A lead with a hot signal is fast-tracked unless its fit is below the model's floor, it
    matches a negative fit rule, or it asked while in a nurture cool-off: then it is held."""
    if hot_signal_at is None:
        return FastTrack(hot=False)
    holds = []
    if model is not None and fit_score < model.fast_track_min_fit:
        holds.append(f"fit {fit_score} is below the fast-track floor of {model.fast_track_min_fit}")
    holds += [f"matches “{label}” ({points:+d})" for label, points in junk_parts(explanation)]
    if nurture_until is not None and nurture_until > now:
        holds.append(f"asked during its nurture cool-off (until {timezone.localtime(nurture_until):%d %b %Y})")
    return FastTrack(hot=True, holds=tuple(holds))
