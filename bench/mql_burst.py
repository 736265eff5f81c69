"""MQL burst (issue 13): a scoring model publish that promotes about 10,000 leads at once into
automatic routing rules — every one handed off, the round robin fair, capacity respected — timed
from the publish to the last assignment.

Set-up (untimed):

- Thresholds. From the stored scores, the leads a publish could promote (at `lead`, or `recycled`
  past their cool-off; no hot signal) are counted by (company size, fit, engagement) in one
  query. `choose_thresholds` lowers the engagement bar of the active model first, then the fit
  bar, until about `BURST` more of them qualify. A draft copied from the active model (its rules
  unchanged) gets those thresholds: "Benchmark burst: fit ≥ F, engagement ≥ E".
- Routing. Three teams, "bench-burst enterprise", "bench-burst mid-market" and "bench-burst other"
  (the manager as manager, the "Standard" SLA), each of `REPS_PER_TEAM` reps of their own
  (users "bench-burst-<team>-NN", SDRs), and one automatic routing rule per team placed before
  every other rule: by segment for the first two, everything else for the third. Each rep's
  capacity is set to their open leads in the team plus their share of the team's expected leads
  and 10 %, so that capacity is real but nobody is refused.

Timed: `scoring_model_publish` of the draft, then the rescore job over every lead, whose batches
promote the leads that qualify (each writes their hand-off requests), then the drain that hands
them off (`handoff.automation`: routing, round robin with capacity, SLA clock, notification).

- With REDIS_URL, as in production: the publish, in this process, enqueues the job on Redis; a
  real worker (`bench.worker.live_worker`, 4 threads) runs it, and drains the hand-off requests
  as each batch commits them, while the job goes on. The benchmark polls the database every
  0.1 s until the job is done and no hand-off request is still waiting for its first drain.
- Without it, in this process: the job (`job_run_rescore_all`), then `handoff_requests_drain`.

Checked afterwards (`checks_ok`, part of the target): every lead the publish promoted (its
history names the model) has exactly one open assignment — but for hot leads the fast track holds
for review (`held_for_review`: a hot signal during a nurture cool-off, or junk fit; any publish
promotes them, whatever its thresholds, and they wait in the queue by design) — none waits with
a hand-off error, each team's reps got numbers of leads that differ by at most one, and no rep
holds more open leads in a team than their capacity.

It changes the data set for good: the promoted leads stay MQLs, assigned to the bench reps with
their SLA clocks running (stage history is append-only, and undoing the hand-offs would only put
them in the MQL queue); the teams, reps and rules stay too (the rules deactivated), and the next
run reuses them. So it runs last, and only when named (`--only mql_burst`). Afterwards the
previous model's thresholds are restored the cheapest correct way: a publish of a copy with them,
and its rescore job (`restore_s`), so that every lead is scored by the active model again; it
promotes nobody the burst did not. A run interrupted before the restore is restored by the next.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Result, result_of
from bench.worker import broker, catch_up_handoffs, eager, live_worker, redis_url

BURST = 10_000
PREFIX = "bench-burst"
TEAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("enterprise", ("enterprise",)),
    ("mid-market", ("mid_market",)),
    ("other", ()),  # every other lead: SMB, no size, no company
)
REPS_PER_TEAM = 8
CAPACITY_SLACK = 0.10
BURST_NAME = "Benchmark burst"
RESTORE_MARK = "bench-restore: "
POLL_S = 0.1
TIMEOUT_S = 900.0
MEMORY_BROKER = "memory://localhost/"


def bench_mql_burst(repeat: int, wanted: Callable[[str], bool]) -> list[Result]:
    """One run whatever `repeat` says: each run changes the data set."""
    burst = Burst()
    burst.prepare()
    try:
        if redis_url():
            with live_worker() as worker:
                burst.run_live()
            burst.notes.update(worker_start_s=worker.started_s, worker_settle_s=worker.settle_s)
        else:
            burst.run_inprocess()
        result = burst.result()
    finally:
        burst.restore()
    result.extra["restore_s"] = burst.restore_s
    return [result]


def choose_thresholds(
    cells: Iterable[tuple[int, int, int]], *, fit: int, engagement: int, target: int
) -> tuple[int, int, int]:
    """Thresholds at or below (`fit`, `engagement`) under which about `target` of the leads in
    `cells` — (fit score, engagement score, how many leads) — qualify: the engagement bar lowered
    first, value by value, then the fit bar. Returns (fit, engagement, how many qualify)."""
    cells = list(cells)

    def admitted(fit_bar: int, engagement_bar: int) -> int:
        return sum(n for f, e, n in cells if f >= fit_bar and e >= engagement_bar)

    steps = [(fit, engagement)]
    steps += [(fit, e) for e in sorted({e for _, e, _ in cells if e < engagement}, reverse=True)]
    lowest = steps[-1][1]
    steps += [(f, lowest) for f in sorted({f for f, _, _ in cells if f < fit}, reverse=True)]
    previous = (fit, engagement, admitted(fit, engagement))
    for fit_bar, engagement_bar in steps:
        count = admitted(fit_bar, engagement_bar)
        if count >= target:
            return previous if target - previous[2] < count - target else (fit_bar, engagement_bar, count)
        previous = (fit_bar, engagement_bar, count)
    return previous


def _team_of(size: str | None) -> str:
    from leads.models import segment_of

    segment = segment_of(size or "")
    return next((label for label, segments in TEAMS if segment in segments), TEAMS[-1][0])


@dataclass
class Burst:
    marketer: Any = None
    original_id: int = 0
    draft_id: int = 0
    job_id: int = 0
    thresholds: str = ""
    expected: dict[str, int] = field(default_factory=dict)
    bars: tuple[int, int] = (0, 0)  # the burst's (fit, engagement) thresholds
    team_ids: dict[str, int] = field(default_factory=dict)
    last_assignment_id: int = 0
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    restore_s: float | None = None

    def prepare(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models import Count, Q
        from django.utils import timezone

        from crm.roles import Role
        from handoff.models import Assignment
        from leads.lifecycle import Stage
        from leads.models import Lead, ScoringModel, ScoringModelStatus

        users = get_user_model().objects
        self.marketer = (
            users.filter(username="marketer").first() or users.filter(groups__name=Role.MARKETER.value).first()
        )
        active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
        if active is not None and active.name.startswith(BURST_NAME):
            print("mql_burst: restoring the scoring model an interrupted run left active", file=sys.stderr)
            self._restore_model(active)
            active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
        if active is None:
            raise SystemExit("mql_burst needs an active scoring model.")
        draft = ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).first()
        if draft is not None and not draft.name.startswith("Benchmark"):
            raise SystemExit(
                f"mql_burst publishes a draft of its own, and “{draft.name}” is being edited: publish it first."
            )
        self.original_id = active.pk
        self.notes["caught_up"] = catch_up_handoffs()

        now = timezone.now()
        candidates = Lead.objects.filter(
            Q(nurture_until__isnull=True) | Q(nurture_until__lte=now),
            stage__in=[Stage.LEAD, Stage.RECYCLED],
            hot_signal_at__isnull=True,
        )
        rows = list(
            candidates.values_list("company__size", "fit_score", "engagement_score").annotate(n=Count("id")).order_by()
        )
        fit, engagement, admitted = choose_thresholds(
            ((f, e, n) for _, f, e, n in rows),
            fit=active.mql_fit_threshold,
            engagement=active.mql_engagement_threshold,
            target=BURST,
        )
        if abs(admitted - BURST) > BURST * 0.1:
            print(f"mql_burst: the closest cut admits {admitted:,} leads, not {BURST:,}", file=sys.stderr)
        self.expected = dict.fromkeys((label for label, _ in TEAMS), 0)
        for size, f, e, n in rows:
            if f >= fit and e >= engagement:
                self.expected[_team_of(size)] += n
        hot = Lead.objects.filter(stage__in=[Stage.LEAD, Stage.RECYCLED], hot_signal_at__isnull=False).count()
        self.notes["expected"] = admitted + hot
        self.thresholds = (
            f"fit {active.mql_fit_threshold}→{fit}, engagement {active.mql_engagement_threshold}→{engagement}"
        )
        self.bars = (fit, engagement)
        self._routing()
        self.last_assignment_id = Assignment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def draft(self) -> int:
        """The draft to publish: a copy of the active model with the burst's thresholds, and in its
        notes the model to restore (made just before the publish, so a run that fails before
        leaves no draft behind)."""
        from leads.services import scoring_draft_create, scoring_draft_update

        fit, engagement = self.bars
        name = f"{BURST_NAME}: fit ≥ {fit}, engagement ≥ {engagement}"
        draft = scoring_draft_create(user=self.marketer, name=name)
        scoring_draft_update(
            model_id=draft.pk,
            name=name,
            mql_fit_threshold=fit,
            mql_engagement_threshold=engagement,
            notes=RESTORE_MARK + json.dumps({"model_id": self.original_id}),
        )
        self.draft_id = draft.pk
        return draft.pk

    def _routing(self) -> None:
        """The bench teams, their reps and capacities, and their automatic rules placed first."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db import transaction
        from django.db.models import Count

        from crm.roles import Role
        from handoff import services
        from handoff.models import Assignment, HandoffMode, RoutingRule, SlaPolicy, Team, TeamMembership

        users = get_user_model().objects
        manager = users.filter(username="manager").first() or users.filter(groups__name=Role.MANAGER.value).first()
        active = SlaPolicy.objects.filter(is_active=True)
        standard = active.filter(name=services.FALLBACK_POLICY_NAME).first() or active.order_by("-pk").first()
        sdrs = Group.objects.filter(name=Role.SDR.value).first()
        with transaction.atomic():
            for position, (label, segments) in enumerate(TEAMS):
                team, _ = Team.objects.get_or_create(
                    name=f"{PREFIX} {label}", defaults={"manager": manager, "default_sla_policy": standard}
                )
                self.team_ids[label] = team.pk
                held = dict(
                    Assignment.objects.filter(team=team, is_open=True)
                    .values("rep")
                    .annotate(n=Count("id"))
                    .values_list("rep", "n")
                )
                share = math.ceil(self.expected[label] * (1 + CAPACITY_SLACK) / REPS_PER_TEAM) + 2
                for i in range(1, REPS_PER_TEAM + 1):
                    username = f"{PREFIX}-{label}-{i:02d}"
                    rep = users.filter(username=username).first() or users.create_user(
                        username=username, email=f"{username}@bench.example", first_name="Bench",
                        last_name=f"{label.title()} {i:02d}",
                    )  # fmt: skip
                    if sdrs is not None:
                        rep.groups.add(sdrs)
                    TeamMembership.objects.update_or_create(
                        team=team,
                        rep=rep,
                        defaults={"capacity": held.get(rep.pk, 0) + share, "is_active": True, "away_until": None},
                    )
                RoutingRule.objects.update_or_create(
                    name=f"{PREFIX} {label}",
                    defaults={
                        "team": team, "position": position, "segments": list(segments), "countries": [],
                        "channels": [], "hot_only": False, "sla_policy": None, "handoff_mode": HandoffMode.AUTOMATIC,
                        "is_active": True,
                    },
                )  # fmt: skip
        first = [rule.name for rule in services.active_routing_rules()[: len(TEAMS)]]
        if first != [f"{PREFIX} {label}" for label, _ in TEAMS]:
            RoutingRule.objects.filter(name__startswith=PREFIX).update(is_active=False)
            raise SystemExit(
                f"mql_burst: its routing rules must come first, and the active rules begin with {first}: "
                "give the others positions above 2."
            )

    def run_live(self) -> None:
        """Publish here (its job goes to Redis); the worker rescores and hands off; poll."""
        from django.utils import timezone

        from handoff.models import HandoffRequest
        from leads.models import Job, JobStatus
        from leads.services import scoring_model_publish

        with eager(False):
            draft_id = self.draft()
            self.notes["load_1m"] = round(os.getloadavg()[0], 1)
            started = time.perf_counter()
            job = scoring_model_publish(model_id=draft_id, user=self.marketer)
            self.job_id = job.pk
            job_done = None
            while True:
                status, error = Job.objects.filter(pk=job.pk).values_list("status", "error").get()
                if status == JobStatus.FAILED:
                    raise RuntimeError(f"mql_burst: the rescore job failed: {error}")
                if status == JobStatus.DONE:
                    job_done = job_done or time.perf_counter() - started
                    # Every request drained once: handed off (deleted) or failed (attempts counted).
                    # One put off because its lead was locked waits for the beat, which is not
                    # running: it is not waited for, and shows as `waiting`.
                    if not HandoffRequest.objects.filter(attempts=0, next_attempt_at__lte=timezone.now()).exists():
                        break
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"mql_burst: not done after {TIMEOUT_S:g} s (job {status})")
                time.sleep(POLL_S)
            self.seconds = time.perf_counter() - started
        self.notes.update(
            path="publish here, job and drains in a worker (Redis, 4 threads)", job_done_s=round(job_done, 1)
        )

    def run_inprocess(self) -> None:
        """Publish, run the job, drain: all in this process (tasks go to a broker nobody reads)."""
        from handoff import automation
        from leads.services import job_run_rescore_all, scoring_model_publish

        with broker(MEMORY_BROKER) as app, eager(False):
            draft_id = self.draft()
            self.notes["load_1m"] = round(os.getloadavg()[0], 1)
            started = time.perf_counter()
            job = scoring_model_publish(model_id=draft_id, user=self.marketer)
            self.job_id = job.pk
            job_run_rescore_all(job_id=job.pk)
            job_done = time.perf_counter() - started
            automation.handoff_requests_drain()
            self.seconds = time.perf_counter() - started
            app.control.purge()
        self.notes.update(path="in-process: the job, then the drain", job_done_s=round(job_done, 1))

    def result(self) -> Result:
        from django.db.models import Count

        from handoff import automation
        from handoff.automation import lead_handoff_preview
        from handoff.models import Assignment, HandoffRequest, TeamMembership
        from leads.lifecycle import Stage
        from leads.models import Job, Lead, ScoringModel, StageTransition

        model = ScoringModel.objects.get(pk=self.draft_id)
        job = Job.objects.get(pk=self.job_id)
        promoted_ids = StageTransition.objects.filter(to_stage=Stage.MQL, actor_rule=model.rule_name).values("lead_id")
        promoted = promoted_ids.count()
        held = list(
            Assignment.objects.filter(is_open=True, lead_id__in=promoted_ids)
            .values("lead_id")
            .annotate(n=Count("id"))
            .values_list("n", flat=True)
        )
        bench_teams = list(self.team_ids.values())
        to_bench = Assignment.objects.filter(is_open=True, lead_id__in=promoted_ids, team_id__in=bench_teams).count()
        # Leads the burst did not promote that the bench rules took meanwhile: requests that had
        # failed before (nobody free on their team) and came due again during the run.
        others = (
            Assignment.objects.filter(pk__gt=self.last_assignment_id, team_id__in=bench_teams)
            .exclude(lead_id__in=promoted_ids)
            .count()
        )
        spreads, capacity_ok = {}, True
        for label, team_id in self.team_ids.items():
            members = list(TeamMembership.objects.filter(team_id=team_id, is_active=True))
            given = dict(
                Assignment.objects.filter(pk__gt=self.last_assignment_id, team_id=team_id)
                .values("rep")
                .annotate(n=Count("id"))
                .values_list("rep", "n")
            )
            counts = [given.get(member.rep_id, 0) for member in members]
            spreads[label] = f"{min(counts)}–{max(counts)}" if counts else "—"
            holding = dict(
                Assignment.objects.filter(team_id=team_id, is_open=True)
                .values("rep")
                .annotate(n=Count("id"))
                .values_list("rep", "n")
            )
            capacity_ok &= all(holding.get(member.rep_id, 0) <= member.capacity for member in members)
            self.notes[f"spread_{label}"] = max(counts) - min(counts) if counts else 0
        waiting = HandoffRequest.objects.filter(lead_id__in=promoted_ids)
        error = waiting.exclude(last_error="").values_list("last_error", flat=True).first()
        assigned = sum(1 for n in held if n == 1)
        # A hot lead the fast track holds for review (junk fit, or a cool-off) waits in the queue by
        # design: promoted by any publish whatever its scores, and never handed off automatically.
        unassigned = Lead.objects.filter(pk__in=promoted_ids, stage=Stage.MQL).exclude(
            pk__in=Assignment.objects.filter(is_open=True).values("lead_id")
        )
        context = automation.preview_context()
        for_review = sum(
            1 for lead in unassigned.select_related("company") if lead_handoff_preview(lead, context).fast_track.held
        )
        fair = all(self.notes[f"spread_{label}"] <= 1 for label in self.team_ids)
        result = result_of("mql_burst", [self.seconds * 1000], queries=None)
        result.extra.update(
            promoted=promoted,
            assigned=assigned,
            held_for_review=for_review,
            to_bench_teams=to_bench,
            others_taken=others,
            more_than_one=sum(1 for n in held if n > 1),
            waiting=waiting.count(),
            per_rep={label: spreads[label] for label in self.team_ids},
            fair=fair,
            capacity_ok=capacity_ok,
            thresholds=self.thresholds,
            expected=self.notes.get("expected"),
            job_s=(job.result or {}).get("seconds"),
            job_done_s=self.notes.get("job_done_s"),
            path=self.notes.get("path"),
            reps=REPS_PER_TEAM * len(TEAMS),
        )
        for key in ("worker_start_s", "worker_settle_s"):
            if key in self.notes:
                result.extra[key] = self.notes[key]
        result.extra["load_1m"] = self.notes.get("load_1m")  # as the publish began: other work skews it
        if any(self.notes["caught_up"].values()):
            result.extra["caught_up"] = self.notes["caught_up"]
        if error:
            result.extra["error"] = error
        result.extra["checks_ok"] = bool(
            promoted and assigned + for_review == promoted and fair and capacity_ok and not result.extra["waiting"]
        )
        return result

    def restore(self) -> None:
        """The bench rules off; the previous model's thresholds back (if the burst model was published)."""
        from handoff.models import RoutingRule
        from leads.models import ScoringModel, ScoringModelStatus

        RoutingRule.objects.filter(name__startswith=PREFIX).update(is_active=False)
        active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
        if active is not None and active.name.startswith(BURST_NAME):
            self._restore_model(active)

    def _restore_model(self, burst_model: Any) -> None:
        """Publish a copy of the burst model (the same rules) with the thresholds, name and notes
        of the model it replaced, and rescore every lead with it; then hand off whatever it
        promoted, as the beat's drain would (through the remaining rules)."""
        from handoff import automation
        from leads.models import ScoringModel
        from leads.services import (
            job_run_rescore_all,
            scoring_draft_create,
            scoring_draft_update,
            scoring_model_publish,
        )

        notes = burst_model.notes or ""
        marked = notes[notes.find(RESTORE_MARK) + len(RESTORE_MARK) :] if RESTORE_MARK in notes else "{}"
        before = ScoringModel.objects.filter(pk=json.loads(marked).get("model_id")).first()
        started = time.perf_counter()
        with broker(MEMORY_BROKER) as app, eager(False):
            draft = scoring_draft_create(user=self.marketer, name=before.name if before else "Scoring model")
            if before is not None:
                scoring_draft_update(
                    model_id=draft.pk,
                    name=before.name,
                    mql_fit_threshold=before.mql_fit_threshold,
                    mql_engagement_threshold=before.mql_engagement_threshold,
                    notes=before.notes,
                )
            job = scoring_model_publish(model_id=draft.pk, user=self.marketer)
            job_run_rescore_all(job_id=job.pk)
            automation.handoff_requests_drain()
            app.control.purge()
        self.restore_s = round(time.perf_counter() - started, 1)
