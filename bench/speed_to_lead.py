"""Speed-to-lead (issue 13): a hot demo request posted to the public form endpoint, until its lead
has an open assignment and the rep's "assigned" notification exists.

Every request is `POST /api/v1/forms/capture/` with the form key in `X-Baton-Form-Key`, through
Django's test client in this process (the server's work, not a network), one at a time: a new lead
(a unique e-mail) asking for a demo as "VP of Sales" — fit above the fast-track floor, no junk
rule — so the fast track hands it off whatever its scores. Two ways:

- `speed_to_lead`: tasks go to Redis, as a web process sends them, and a real Celery worker
  (`bench.worker.live_worker`: a subprocess, `--pool=threads --concurrency=4`, same database and
  Redis) runs the chain: `leads.rescore_leads_now` (rescore, promote by the fast track, hand-off
  request), then `handoff.drain_handoff_requests` (routing, round robin, SLA clock, notification).
  After the response the benchmark polls the database every 5 ms until the assignment and the
  notification exist. Figure: post to assigned (p50 = median, p90, p95, max). Needs REDIS_URL;
  without it this part is skipped with a message.
- `speed_to_lead_inprocess`: the same with CELERY_TASK_ALWAYS_EAGER on: the request returns after
  the whole chain ran after its commit. Figures: post to assigned, and the request alone.

`REQUESTS` timed requests each, after one warm-up and one whose statements are counted (for the
live part, the web request's only). The form throttles (10 a minute per address, 120 per key)
still run, on the cache as configured, with their rates raised for the run.

Set-up, with names starting "bench-stl" so that the run (or the next, after an interruption) can
take them away: a team of the demo SDRs (capacity 1,000 each), a routing rule placed first that
hands hot leads off automatically to it under the "Hot lead" SLA, and a form source for demo
requests. The leads' e-mails end with `DOMAIN` (`demo-<run>-<n>@<run>.speed-to-lead.bench.example`:
one new company per run).

Clean-up (`StlSetup.remove`): what hand-off wrote is deleted — assignments, SLA clocks and
events, notifications, queue reviews, review clocks, hand-off and rescore requests, the scoring
runs of the requests — and so are the team, rule and form source. The leads cannot be: stage
history is append-only (PostgreSQL refuses its DELETE), and a lead is not deleted while it has
history. So they stay, with their activity, scores, company and history, taken out of the funnel
(moved to `disqualified` by the rule "Benchmark clean-up (bench/speed_to_lead.py)", their owner
cleared): no queue, workspace or SLA sweep sees them, but the funnel counts them — `2 × (REQUESTS
+ 2)` leads per run, on the day of the run, channel "paid search".
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.harness import Result, counting_queries, percentile, result_of
from bench.worker import catch_up_handoffs, eager, live_worker, redis_url

REQUESTS = 200
PREFIX = "bench-stl"
DOMAIN = "speed-to-lead.bench.example"
REP_CAPACITY = 1_000
POLL_S = 0.005
TIMEOUT_S = 30.0
CLEANUP_RULE = "Benchmark clean-up (bench/speed_to_lead.py)"
CAPTURE_URL = "/api/v1/forms/capture/"
RAISED_RATE = "100000/min"


def bench_speed_to_lead(repeat: int, wanted: Callable[[str], bool]) -> list[Result]:
    """`repeat` is not used: the issue asks for `REQUESTS` requests."""
    setup = StlSetup()
    setup.create()
    try:
        results = []
        if wanted("speed_to_lead"):
            if redis_url():
                results.append(measure_live(setup, REQUESTS))
            else:
                print(
                    "speed_to_lead: no REDIS_URL, so no live worker: only the in-process path is measured "
                    "(set REDIS_URL=redis://127.0.0.1:6379/9 to measure the path through Redis and a worker)",
                    file=sys.stderr,
                )
        if wanted("speed_to_lead_inprocess"):
            results.append(measure_inprocess(setup, REQUESTS))
        if results and any(setup.caught_up.values()):
            results[0].extra["caught_up"] = setup.caught_up
        return results
    finally:
        setup.remove()


@dataclass
class Sample:
    request_ms: float
    assigned_ms: float | None  # None: not assigned within TIMEOUT_S


@dataclass
class StlSetup:
    run: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%dt%H%M%S"))
    key: str = ""
    team_id: int = 0
    last_scoring_run_id: int | None = None  # the newest scoring run before the set-up
    posted: int = 0
    load: float = 0.0
    caught_up: dict[str, int] = field(default_factory=dict)  # hand-off requests waiting before the set-up

    def create(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from crm.roles import Role
        from handoff import services
        from handoff.models import HandoffMode, RoutingRule, SlaPolicy, Team, TeamMembership
        from leads import ingestion
        from leads import services as lead_services
        from leads.lifecycle import Stage
        from leads.models import Lead, ScoringRun

        left = Lead.objects.filter(email__endswith=f".{DOMAIN}").exclude(stage=Stage.DISQUALIFIED)
        if Team.objects.filter(name=PREFIX).exists() or left.exists():
            print("speed_to_lead: removing the rows of an interrupted run", file=sys.stderr)
            self.remove()
        self.caught_up = catch_up_handoffs()
        if "demo_request" not in lead_services.hot_signal_types():
            raise SystemExit("speed_to_lead needs “demo_request” to be a hot signal of the active scoring model.")
        users = get_user_model().objects
        reps = list(users.filter(groups__name=Role.SDR.value, is_active=True).order_by("pk").distinct())
        if not reps:
            raise SystemExit("speed_to_lead needs SDRs (seed_demo creates them).")
        manager = users.filter(username="manager").first() or users.filter(groups__name=Role.MANAGER.value).first()
        active = SlaPolicy.objects.filter(is_active=True)
        standard = active.filter(name=services.FALLBACK_POLICY_NAME).first() or active.order_by("-pk").first()
        hot = active.filter(name=services.HOT_POLICY_NAME).first() or standard
        if hot is None:
            raise SystemExit("speed_to_lead needs an SLA policy (the migrations create them).")
        self.last_scoring_run_id = ScoringRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with transaction.atomic():
            team = Team.objects.create(name=PREFIX, manager=manager, default_sla_policy=standard)
            self.team_id = team.pk
            TeamMembership.objects.bulk_create(
                [TeamMembership(team=team, rep=rep, capacity=REP_CAPACITY) for rep in reps]
            )
            rule = RoutingRule.objects.create(
                name=f"{PREFIX} hot leads", team=team, position=0, hot_only=True,
                handoff_mode=HandoffMode.AUTOMATIC, sla_policy=hot,
            )  # fmt: skip
            _, self.key = ingestion.form_source_create(name=f"{PREFIX} book a demo", activity_type_id="demo_request")
        first = services.active_routing_rules()[0]
        if first.pk != rule.pk:
            self.remove()
            raise SystemExit(
                f"speed_to_lead: the routing rule “{first.name}” (position {first.position}) comes before the "
                "benchmark's, which needs to be first: give it a position above 0."
            )

    def body(self) -> dict[str, str]:
        self.posted += 1
        n = self.posted
        return {
            "email": f"demo-{self.run}-{n}@{self.run}.{DOMAIN}",
            "first_name": "Vera",
            "last_name": f"Lind {n}",
            "job_title": "VP of Sales",
            "company": "Speed-to-lead bench",
            "message": "Can we see a demo this week?",
            "utm_source": "google",
            "utm_medium": "cpc",
        }

    def post(self, web: Any, counted: list[int] | None = None) -> tuple[float, float | None]:
        """Post one demo request; (ms until the response, ms until assigned and notified or None).
        `counted` gets the request's statements (with tasks eager, those of the whole chain)."""
        from leads.models import Lead

        data = self.body()
        started = time.perf_counter()
        with counting_queries() as counter:
            response = web.post(
                CAPTURE_URL, data=json.dumps(data), content_type="application/json", HTTP_X_BATON_FORM_KEY=self.key
            )
        request_ms = (time.perf_counter() - started) * 1000
        if counted is not None:
            counted.append(counter.count)
        if response.status_code != 201:
            raise RuntimeError(f"{CAPTURE_URL} answered {response.status_code}: {response.content[:300]!r}")
        lead_id = Lead.objects.filter(email=data["email"]).values_list("pk", flat=True).get()
        while not handed_off(lead_id):
            if time.perf_counter() - started > TIMEOUT_S:
                return request_ms, None
            time.sleep(POLL_S)
        return request_ms, (time.perf_counter() - started) * 1000

    def remove(self) -> None:
        """Take out what the runs added (see the module's docstring): every lead with the marker."""
        from django.db import transaction

        from handoff.models import (
            Assignment,
            HandoffRequest,
            Notification,
            QueueReview,
            ReviewClock,
            RoutingRule,
            SlaClock,
            SlaEvent,
            Team,
        )
        from leads.lifecycle import Actor, Stage
        from leads.models import FormSource, Lead, RescoreRequest, ScoringRun, ScoringRunKind
        from leads.services import lead_transition_many

        marked = Lead.objects.filter(email__endswith=f".{DOMAIN}")
        ids = list(marked.values_list("pk", flat=True))
        with transaction.atomic():
            moving = list(marked.exclude(stage=Stage.DISQUALIFIED).values_list("pk", flat=True))
            if moving:
                lead_transition_many(
                    moves=dict.fromkeys(moving, "A benchmark's lead, taken out of the funnel"),
                    to=Stage.DISQUALIFIED,
                    actor=Actor.rule_named(CLEANUP_RULE),
                )
            if ids:
                SlaEvent.objects.filter(clock__assignment__lead_id__in=ids).delete()
                SlaClock.objects.filter(assignment__lead_id__in=ids).delete()
                Assignment.objects.filter(lead_id__in=ids).delete()
                for model in (Notification, QueueReview, ReviewClock, HandoffRequest, RescoreRequest):
                    model.objects.filter(lead_id__in=ids).delete()
                marked.filter(owner__isnull=False).update(owner=None)
            RoutingRule.objects.filter(name__startswith=PREFIX).delete()
            Team.objects.filter(name=PREFIX).delete()  # and its memberships
            FormSource.objects.filter(name__startswith=PREFIX).delete()
            if self.last_scoring_run_id is not None:  # the runs of this run's requests' rescores
                ScoringRun.objects.filter(pk__gt=self.last_scoring_run_id, kind=ScoringRunKind.INCREMENTAL).delete()


def handed_off(lead_id: int) -> bool:
    """Whether the lead has an open assignment and its rep's "assigned" notification (one query)."""
    from django.db.models import Exists, OuterRef

    from handoff.models import Assignment, Notification, NotificationKind
    from leads.models import Lead

    assigned = Assignment.objects.filter(lead_id=OuterRef("pk"), is_open=True)
    told = Notification.objects.filter(lead_id=OuterRef("pk"), kind=NotificationKind.ASSIGNED)
    row = Lead.objects.filter(pk=lead_id).values_list(Exists(assigned), Exists(told)).first()
    return bool(row and all(row))


def _raised_throttles() -> Any:
    """The form throttles keep running (their cache reads and writes are timed), at a rate that
    lets `REQUESTS` requests from one address and one key through."""
    from django.conf import settings
    from django.test.utils import override_settings

    rest = {**settings.REST_FRAMEWORK}
    rest["DEFAULT_THROTTLE_RATES"] = {**rest.get("DEFAULT_THROTTLE_RATES", {})}
    for scope in ("form_capture_key", "form_capture_ip"):
        rest["DEFAULT_THROTTLE_RATES"][scope] = RAISED_RATE
    return override_settings(REST_FRAMEWORK=rest)


def _run(setup: StlSetup, requests: int) -> tuple[list[Sample], int]:
    """A warm-up, one request with its statements counted, then `requests` timed ones."""
    from django.test import Client

    web = Client()
    setup.load = round(os.getloadavg()[0], 1)
    setup.post(web)
    counted: list[int] = []
    setup.post(web, counted)
    samples = [Sample(*setup.post(web)) for _ in range(requests)]
    return samples, counted[0]


def _result(name: str, samples: list[Sample], queries: int, load: float) -> Result:
    reached = [s.assigned_ms for s in samples if s.assigned_ms is not None]
    if not reached:
        raise RuntimeError(f"{name}: no demo request was assigned within {TIMEOUT_S:g} s")
    result = result_of(name, reached, queries=queries)
    requests = [s.request_ms for s in samples]
    result.extra.update(
        p95_ms=round(percentile(reached, 0.95), 1),
        max_ms=round(max(reached), 1),
        requests=len(samples),
        assigned=len(reached),
        request_p50_ms=round(statistics.median(requests), 1),
        request_p95_ms=round(percentile(requests, 0.95), 1),
        load_1m=load,  # the machine's load average as the requests began (other work skews the figures)
    )
    return result


def measure_inprocess(setup: StlSetup, requests: int) -> Result:
    """Tasks eager: the response comes after the whole chain ran; e-mails to memory, and Celery's
    line per task run not logged (a web process enqueues, it does not log task runs)."""
    from django.core import mail
    from django.test.utils import override_settings

    with (
        _quiet("celery.app.trace"),
        eager(True),
        _raised_throttles(),
        override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
    ):
        samples, queries = _run(setup, requests)
    mail.outbox = []
    result = _result("speed_to_lead_inprocess", samples, queries, setup.load)
    result.extra["path"] = "test client, tasks eager in the request"
    return result


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    log = logging.getLogger(logger)
    saved = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(saved)


def measure_live(setup: StlSetup, requests: int) -> Result:
    """Tasks to Redis, a worker subprocess runs them; the benchmark polls the database."""
    with live_worker() as worker, eager(False), _raised_throttles():
        samples, queries = _run(setup, requests)
    result = _result("speed_to_lead", samples, queries, setup.load)  # queries: the web request's own
    result.extra.update(
        path="test client → Redis → worker (4 threads)", worker_start_s=worker.started_s,
        worker_settle_s=worker.settle_s,
    )  # fmt: skip
    if worker.purged:
        result.extra["purged_messages"] = worker.purged
    return result
