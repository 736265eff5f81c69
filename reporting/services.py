"""Reporting's only writes: keeping the funnel pre-aggregation (`reporting.funnel_facts`) current.

`funnel_facts_refresh` applies the queued changes — run every minute by Celery beat, and by the
funnel's reads before they read (normally a handful of leads), so what a page shows is never
staler than the page. `funnel_facts_rebuild` recomputes everything, set-based: the management
command `funnel_facts_rebuild`, the end of `seed_demo`, and a refresh that finds the store never
built or the queue huge (a bulk load) use it. Refreshes take a row lock, so they run one at a time.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from reporting import funnel_facts
from reporting.models import FunnelFactsState

# Leads recomputed per statement group; above REBUILD_ABOVE queued leads a whole rebuild is faster.
CHUNK = 5_000
REBUILD_ABOVE = 100_000


def _locked_state() -> FunnelFactsState:
    state = FunnelFactsState.objects.select_for_update().filter(pk=1).first()
    if state is None:
        FunnelFactsState.objects.bulk_create([FunnelFactsState(pk=1)], ignore_conflicts=True)
        state = FunnelFactsState.objects.select_for_update().get(pk=1)
    return state


def _rebuild(state: FunnelFactsState) -> dict[str, Any]:
    started = time.monotonic()
    summary: dict[str, Any] = funnel_facts.rebuild()
    state.built_at = timezone.now()
    state.save(update_fields=["built_at"])
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


@transaction.atomic
def funnel_facts_rebuild() -> dict[str, Any]:
    """Recompute the funnel facts and counts from the whole stage history. Returns the number of
    leads with facts, of count rows, and the seconds it took."""
    return _rebuild(_locked_state())


def funnel_facts_refresh() -> int:
    """Apply the queued changes (building the store if it never was). Returns the number of leads
    recomputed. Cheap when nothing is queued: one query."""
    built, pending = funnel_facts.status()
    if built and not pending:
        return 0
    with transaction.atomic():
        state = _locked_state()
        if state.built_at is None:
            return _rebuild(state)["leads"]
        lead_ids = funnel_facts.claim_changes()
        if len(lead_ids) > REBUILD_ABOVE:
            _rebuild(state)
        else:
            for start in range(0, len(lead_ids), CHUNK):
                funnel_facts.recompute(lead_ids[start : start + CHUNK])
        return len(lead_ids)
