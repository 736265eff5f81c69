"""Incremental scoring with a real Celery worker on Redis: a burst of activities through the API
ends in one correct score, a handful of rescores at most, and an MQL with the rule in its history.

Runs in the second pass of `.ci/run` (PostgreSQL, Redis, a live worker; BATON_LIVE_WORKER=1);
elsewhere the `live_worker` fixture skips it. This process and the worker share the test
database and the Redis cache, which is where the "a drain is already scheduled" flag lives that
coalesces the burst.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from crm.security.tokens import api_token_create
from leads import scoring, services
from leads.lifecycle import Stage
from leads.models import (
    Activity,
    CompanySize,
    Industry,
    Lead,
    RescoreRequest,
    ScoringModel,
    ScoringModelStatus,
    ScoringRun,
)
from tests.factories import CompanyFactory

pytestmark = pytest.mark.live_worker

T = TypeVar("T")

EMAIL = "vp.marketing@burst.example"
BATCHES, BATCH_SIZE = 5, 100
# 500 activities: one demo request, 20 pricing page views, 20 content downloads, page views.
MIX = ["demo_request"] + ["pricing_page_view"] * 20 + ["content_download"] * 20 + ["page_view"] * 459


def wait_for(probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.25) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    return None


@pytest.fixture
def scoring_v1(transactional_db) -> ScoringModel:  # type: ignore[no-untyped-def]
    """The activity types and scoring model v1 exactly as migrations 0003 and 0005 create them.

    Transactional tests empty every table when they finish (including rows that data migrations
    seeded), so whichever of them ran before this one, put the seed back the migrations' way.
    """
    for migration in ("0003_activity_types", "0005_default_scoring_model"):
        importlib.import_module(f"leads.migrations.{migration}").create(django_apps, None)
    return ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)


def _item(n: int, code: str, occurred_at: str, run: str) -> dict[str, Any]:
    return {
        "email": EMAIL,
        "type": code,
        "occurred_at": occurred_at,
        "source_system": "live-burst",
        "external_id": f"{run}-{n}",
        "properties": {"url": f"/page/{n}"},
        "lead": {"first_name": "Vera", "last_name": "Burst", "job_title": "VP Marketing"},
    }


def _drain_running(app: Any) -> bool:
    active = app.control.inspect(timeout=1.0).active() or {}
    return any(task["name"] == "leads.drain_rescore_requests" for tasks in active.values() for task in tasks)


def test_a_burst_of_500_activities_ends_in_one_correct_score_and_an_mql(live_worker, scoring_v1, marketer):
    assert scoring_v1.version == 1
    # A flag left by an earlier test would make this burst wait for the beat's safety net.
    cache.delete(services.RESCORE_DRAIN_KEY)
    CompanyFactory(domain="burst.example", size=CompanySize.S_201_1000, industry=Industry.SOFTWARE, country="US")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=marketer).key}")
    run = uuid.uuid4().hex[:12]
    occurred_at = timezone.now().isoformat()
    # The demo request lands in the middle of the burst, not first.
    codes = MIX[1:250] + MIX[:1] + MIX[250:]
    items = [_item(n, code, occurred_at, run) for n, code in enumerate(codes)]

    burst_started = timezone.now()
    clock = time.monotonic()
    for start in range(0, BATCHES * BATCH_SIZE, BATCH_SIZE):
        response = client.post("/api/v1/activities/", items[start : start + BATCH_SIZE], format="json")
        assert response.status_code == 200, response.content
        assert response.json()["created"] == BATCH_SIZE, response.json()
    burst_seconds = time.monotonic() - clock
    assert burst_seconds < 5, f"posting the burst took {burst_seconds:.1f} s; it should take about one"

    lead_id = Lead.objects.values_list("pk", flat=True).get(email=EMAIL)

    def settled() -> Lead | None:
        # No rescore waiting or scheduled for the lead, and the run that wrote its scores finished
        # (the ScoringRun row is written last, after the MQL promotion).
        if RescoreRequest.objects.filter(lead_id=lead_id).exists() or cache.get(services.RESCORE_DRAIN_KEY):
            return None
        lead = Lead.objects.get(pk=lead_id)
        if lead.scored_at is None or not ScoringRun.objects.filter(started_at=lead.scored_at).exists():
            return None
        return None if _drain_running(live_worker) else lead

    lead = wait_for(settled)
    assert lead is not None, (
        f"lead {lead_id} was not rescored within 30 s of the burst "
        f"({RescoreRequest.objects.filter(lead_id=lead_id).count()} rescore requests left; see the worker log)"
    )

    # One correct score: what the scoring engine computes now, from all 500 activities.
    assert Activity.objects.filter(lead_id=lead_id).count() == BATCHES * BATCH_SIZE
    spec = scoring.ScoringSpec.load(scoring_v1)
    (fresh,) = scoring.compute(spec, scoring.LeadSet.of([lead_id]), as_of=lead.scored_at)
    assert (lead.fit_score, lead.engagement_score) == (fresh["fit"], fresh["engagement"])
    assert scoring.sort_explanation(lead.score_explanation) == fresh["explanation"]
    assert lead.hot_signal_at == fresh["hot_at"] is not None
    assert lead.scoring_model_id == scoring_v1.pk
    later = timezone.now()
    (again,) = scoring.compute(spec, scoring.LeadSet.of([lead_id]), as_of=later)
    assert again["fit"] == lead.fit_score
    if later.date() == lead.scored_at.date():  # engagement decays per whole UTC day
        assert again["engagement"] == lead.engagement_score
    # VP (25) at a 201–1,000 (15) software (10) company in the US (5); capped engagement:
    # page views 15, pricing 24, downloads 32, the demo request 40.
    assert lead.fit_score == 55
    if lead.scored_at.date() == burst_started.date():
        assert lead.engagement_score == 15 + 24 + 32 + 40

    # Coalesced: a few rescores at most, not 500 (nor 5).
    runs = ScoringRun.objects.filter(started_at__gte=burst_started - timedelta(seconds=1))
    assert 1 <= runs.count() <= 5, list(runs.values("started_at", "lead_count", "promoted_count"))

    # The lead crossed both thresholds and became an MQL through the lifecycle, the rule named.
    assert lead.stage == Stage.MQL
    became_mql = lead.transitions.order_by("at", "id").last()
    assert became_mql.to_stage == Stage.MQL
    assert (became_mql.actor_user, became_mql.actor_rule) == (None, "Scoring model v1")
    assert became_mql.reason.startswith("Fit "), became_mql.reason
    assert lead.transitions.filter(to_stage=Stage.MQL).count() == 1
