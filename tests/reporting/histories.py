"""Generated stage histories for report tests, and an independent calculation over them."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from leads.lifecycle import ALLOWED, FUNNEL, Stage, passed_stages
from leads.models import Lead, StageTransition
from tests.factories import CompanyFactory


def random_walk(rng: random.Random, start: datetime, steps: int) -> list[tuple[str, str, datetime]]:
    """A path through the allowed graph: skips, recycles, disqualifications all possible."""
    moves = [("", Stage.LEAD.value, start)]
    stage, at = Stage.LEAD, start
    for _ in range(steps):
        options = sorted(ALLOWED[stage])
        if not options:
            break
        target = rng.choice(options)
        at = at + timedelta(hours=rng.randint(1, 24 * 20))
        moves.append((stage.value, target.value, at))
        stage = target
    return moves


def build(seed: int, leads: int, base: datetime) -> tuple[dict[int, list], dict[int, datetime]]:
    """Leads with random histories written straight into the tables (reports read only these).

    Returns (histories by lead id, created_at by lead id).
    """
    rng = random.Random(seed)
    companies = [CompanyFactory(size=size) for size in ("1-10", "201-1000", "5000+")]
    new = []
    walks = []
    for index in range(leads):
        created = base + timedelta(hours=rng.randint(0, 24 * 60))
        new.append(
            Lead(
                email=f"h{seed}-{index}@example.org",
                source_channel=rng.choice(["paid_search", "webinar", "event"]),
                company=rng.choice(companies),
                created_at=created,
                stage_changed_at=created,
            )
        )
        walks.append(random_walk(rng, created, rng.randint(0, 7)))
    Lead.objects.bulk_create(new)
    saved = {lead.email: lead.pk for lead in Lead.objects.filter(email__in=[lead.email for lead in new])}
    histories, created_at, rows = {}, {}, []
    for lead, walk in zip(new, walks, strict=True):
        lead_id = saved[lead.email]
        histories[lead_id], created_at[lead_id] = walk, lead.created_at
        rows += [
            StageTransition(lead_id=lead_id, from_stage=f, to_stage=t, at=at, actor_rule="test") for f, t, at in walk
        ]
    StageTransition.objects.bulk_create(rows)
    return histories, created_at


def reached(walk: list[tuple[str, str, datetime]]) -> dict[str, datetime]:
    """First time the lead reached each funnel stage, by the lifecycle's own definition."""
    first: dict[str, datetime] = {}
    for source, target, at in walk:
        for stage in passed_stages(source, target):
            first.setdefault(stage.value, at)
    return first


def expected_cohort(histories, start, end, *, created: dict[int, datetime], key=lambda lead_id: "") -> dict:
    counts: dict[str, Counter] = {}
    for lead_id, walk in histories.items():
        if not (start <= created[lead_id] < end):
            continue
        bucket = counts.setdefault(key(lead_id), Counter())
        for stage in reached(walk):
            bucket[stage] += 1
    return {k: {s.value: c[s.value] for s in FUNNEL} for k, c in counts.items()}


def expected_mql_cohort(histories, start, end) -> dict[str, int]:
    total: Counter = Counter()
    for walk in histories.values():
        first = reached(walk)
        if "mql" in first and start <= first["mql"] < end:
            for stage in first:
                total[stage] += 1
    total["lead"] = total["mql"]
    return {s.value: total[s.value] for s in FUNNEL}


def expected_flow(histories, start, end) -> dict[str, int]:
    total: Counter = Counter()
    for walk in histories.values():
        for source, target, at in walk:
            if start <= at < end:
                for stage in passed_stages(source, target):
                    total[stage.value] += 1
    return {s.value: total[s.value] for s in FUNNEL}
