"""The SLA sweep over 100,000 open clocks (issue 6): set-up, timed sweeps, their floor, the undo.

The seeded data has about one open clock per 50 leads, so the benchmark adds its own, committed
(the sweep commits once per clock, and a commit costs a WAL flush that a savepoint would hide):

- `TEAMS` teams named "bench-sla NNN" (about 500 open assignments each, the demo SDRs as members,
  the demo manager as manager), and one open assignment with its running clock on each lead that
  has none, newest leads first, until 100,000 clocks run (fewer when the database has fewer leads;
  the one-open-assignment-per-lead constraint holds). Rows are written with multi-row INSERTs.
- Clocks follow the seeded policies ("Standard": warn at 75 % of 240 minutes, notify on breach;
  "Hot lead", one clock in 100: 30 minutes, notify and reassign), counted in wall-clock minutes.
  Standard clocks started evenly over the last 48 hours (many are long overdue and stay open, as
  untouched leads do); hot clocks over the last 45 minutes (older ones would have been reassigned).
- Warnings and breaches due before `t0 - 15 min` are marked as the sweep would have recorded them.

Two sweeps are measured, both on the same clocks:

- `sla_sweep`: the routine sweep, a minute (the beat interval) after the last one: it warns,
  breaches and reassigns what came due in that minute (about 55 warnings, 55 breaches, 20
  reassignments).
- `sla_sweep_catchup`: a sweep after 15 minutes without one (a worker restart): more than a batch
  is due, so it does a full batch (500 breaches, 500 warnings).

Each sweep runs at a fixed `now`; afterwards everything it wrote to the benchmark's rows is undone
(markers equal to that `now` cleared, its events, notifications and the assignments it created
deleted, reassigned assignments reopened, their leads' owner restored), so every run does the same
work — which is checked. Clocks of the seeded data due by `t0` are swept once, for real, before the
set-up (what the beat would have done), so they take no part. At the end the benchmark's teams,
assignments, clocks, events and notifications are deleted.

The floor is the set-based SQL of the same work in one transaction: mark the due clocks, insert
their events and notifications, the same for warnings (no reassignment), rolled back.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import Result, counting_queries, drop_enqueued, result_of

OPEN_CLOCKS = 100_000
TEAMS = 200
TEAM_PREFIX = "bench-sla "
REP_CAPACITY = 1_000
HOT_EVERY = 100
STANDARD_SPAN = timedelta(hours=48)
TICK = timedelta(seconds=60)  # the beat interval (CELERY_BEAT_SCHEDULE["sla-sweep"])
CATCH_UP = timedelta(minutes=15)
CATCH_UP_RUNS = 5
STRIDE = 7919  # a prime: (i * STRIDE) % span spreads start offsets evenly over the span


def bench_sla_sweep(repeat: int, wanted: Any) -> list[Result]:
    setup = SweepSetup()
    setup.create()
    try:
        results = []
        for name, now in (("sla_sweep", setup.t_prev + TICK), ("sla_sweep_catchup", setup.t0)):
            if wanted(name):
                results.append(_measure(name, now, setup, repeat))
        return results
    finally:
        setup.remove()


def _measure(name: str, now: datetime, setup: SweepSetup, repeat: int) -> Result:
    from handoff import services

    def sweep() -> dict[str, int]:
        return services.sla_sweep(now=now)

    first = sweep()  # warm-up
    setup.undo(now)
    with counting_queries() as counted:
        sweep()
    setup.undo(now)
    timings, floor_timings = [], []
    # A catch-up sweep does a thousand clocks' work: a few runs tell its median.
    for _ in range(repeat if name == "sla_sweep" else max(1, min(repeat, CATCH_UP_RUNS))):
        started = time.perf_counter()
        floor_sweep(now)
        floor_timings.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        done = sweep()
        timings.append((time.perf_counter() - started) * 1000)
        setup.undo(now)
        drop_enqueued()
        if done != first:
            raise RuntimeError(f"{name}: a run did {done}, the first {first}: the undo between runs is incomplete")
    result = result_of(name, timings, queries=counted.count, floor_timings=floor_timings)
    clocks = first["warnings"] + first["breaches"]
    result.extra.update(
        open_clocks=setup.open_clocks,
        warnings=first["warnings"],
        breaches=first["breaches"],
        reassigned=first["reassigned"],
        clocks_per_s=round(clocks / (result.median_ms / 1000)) if clocks else 0,
    )
    if name == "sla_sweep" or not setup.reported:
        result.extra.update(
            setup_s=setup.seconds, seeded_swept=setup.caught_up["warnings"] + setup.caught_up["breaches"]
        )
        setup.reported = True
    return result


@dataclass
class SweepSetup:
    t0: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    team_ids: list[int] = field(default_factory=list)
    last_assignment_id: int = 0
    last_notification_id: int = 0
    owners: dict[int, tuple[int | None, datetime]] = field(default_factory=dict)  # reassignable leads
    open_clocks: int = 0
    seconds: float = 0.0
    caught_up: dict[str, int] = field(default_factory=dict)
    reported: bool = False

    @property
    def t_prev(self) -> datetime:
        """When the sweep last ran, as the set-up's markers say."""
        return self.t0 - CATCH_UP

    def create(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from crm.roles import Role
        from handoff import services
        from handoff.models import Assignment, BreachAction, Notification, SlaClock, SlaPolicy, Team, TeamMembership
        from leads.models import Lead

        started = time.perf_counter()
        if Team.objects.filter(name__startswith=TEAM_PREFIX).exists():
            print("sla_sweep: removing the rows of an interrupted run", file=sys.stderr)
            self.remove()
        # The seeded clocks due by t0 are swept now, for real, as the beat would have.
        self.caught_up = {"warnings": 0, "breaches": 0, "reassigned": 0, "escalated": 0}
        for _ in range(1000):
            done = services.sla_sweep(now=self.t0)
            for key, value in done.items():
                self.caught_up[key] += value
            if not done["warnings"] and not done["breaches"]:
                break
        drop_enqueued()

        users = get_user_model().objects
        reps = list(users.filter(groups__name=Role.SDR.value, is_active=True).order_by("pk").distinct())
        if len(reps) < 2:
            raise SystemExit("sla_sweep needs the demo SDRs (seed_demo creates them).")
        manager = users.filter(username="manager").first() or users.filter(groups__name=Role.MANAGER.value).first()
        marketer = users.filter(username="marketer").first()
        active = SlaPolicy.objects.filter(is_active=True)
        standard = active.filter(name=services.FALLBACK_POLICY_NAME).first() or active.order_by("-pk").first()
        hot = active.filter(name=services.HOT_POLICY_NAME).first() or standard
        if standard is None:
            raise SystemExit("sla_sweep needs an SLA policy (the migrations create them).")

        running = SlaClock.objects.filter(
            first_touch_at__isnull=True, stopped_at__isnull=True, assignment__is_open=True
        )
        wanted = max(OPEN_CLOCKS - running.count(), 0)
        with transaction.atomic():
            Team.objects.bulk_create(
                [Team(name=f"{TEAM_PREFIX}{i:03d}", manager=manager, default_sla_policy=standard) for i in range(TEAMS)]
            )
            self.team_ids = list(
                Team.objects.filter(name__startswith=TEAM_PREFIX).order_by("pk").values_list("pk", flat=True)
            )
            TeamMembership.objects.bulk_create(
                [TeamMembership(team_id=t, rep=rep, capacity=REP_CAPACITY) for t in self.team_ids for rep in reps]
            )
            self._insert(wanted, [rep.pk for rep in reps], marketer.pk if marketer else None, standard, hot)
            reassigning = [p.pk for p in (standard, hot) if p.breach_action != BreachAction.NOTIFY]
            for pk, owner_id, updated_at in Lead.objects.filter(
                assignments__team_id__in=self.team_ids, assignments__clock__policy_id__in=reassigning
            ).values_list("pk", "owner_id", "updated_at"):
                self.owners[pk] = (owner_id, updated_at)
        self.last_assignment_id = Assignment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.last_notification_id = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.open_clocks = running.count()
        _analyze()
        self.seconds = round(time.perf_counter() - started, 1)

    def _insert(self, wanted: int, reps: list[int], marketer: int | None, standard: Any, hot: Any) -> None:
        """The assignments and clocks, one INSERT … SELECT each. Leads are numbered n = 1, 2, … newest
        first; lead n goes to team n % TEAMS and rep (n // TEAMS) % reps, and its clock is "hot" when
        n % HOT_EVERY == 0. Start offsets are (i * STRIDE) % span seconds before t0, i counting the
        clocks of one policy, so starts spread evenly over the policy's span."""
        from django.db import connection

        ops = connection.ops
        t0, t_prev = ops.adapt_datetimefield_value(self.t0), ops.adapt_datetimefield_value(self.t_prev)
        hot_span = hot.first_touch_minutes * 60 + int(CATCH_UP.total_seconds())
        numbered = (
            "SELECT l.id AS lead_id, ROW_NUMBER() OVER (ORDER BY l.id DESC) AS n FROM leads_lead l WHERE NOT EXISTS "
            "(SELECT 1 FROM handoff_assignment a WHERE a.lead_id = l.id AND a.is_open) ORDER BY l.id DESC LIMIT %s"
        )
        # A literal % is written %% in SQL that takes parameters.
        offset = (
            f"CASE WHEN c.n %% {HOT_EVERY} = 0 THEN (c.n / {HOT_EVERY} * {STRIDE}) %% %s "
            f"ELSE (c.n * {STRIDE}) %% %s END"
        )
        reps_in = ", ".join(["%s"] * len(reps))
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO handoff_assignment (lead_id, rep_id, team_id, routing_rule_id, assigned_by_id, "
                "assigned_at, is_open, ended_at, end_reason) "
                f"SELECT c.lead_id, r.id, t.id, NULL, %s, {_plus_seconds('%s', f'-({offset})')}, %s, NULL, '' "
                f"FROM ({numbered}) c "
                "JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM handoff_team WHERE name LIKE %s) t "
                f"ON t.k = c.n %% {TEAMS} "
                f"JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM auth_user WHERE id IN ({reps_in})) r "
                f"ON r.k = (c.n / {TEAMS}) %% %s",
                [
                    marketer, t0, hot_span, int(STANDARD_SPAN.total_seconds()), True, wanted,
                    f"{TEAM_PREFIX}%", *reps, len(reps),
                ],
            )  # fmt: skip
            policy, warn, due = (f"CASE WHEN c.n %% {HOT_EVERY} = 0 THEN %s ELSE %s END" for _ in range(3))
            clocks = (
                f"SELECT c.assignment_id, {policy} AS policy_id, c.started_at, "
                f"{_plus_seconds('c.started_at', warn)} AS warn_at, {_plus_seconds('c.started_at', due)} AS due_at "
                "FROM (SELECT a.id AS assignment_id, a.assigned_at AS started_at, "
                "ROW_NUMBER() OVER (ORDER BY a.lead_id DESC) AS n FROM handoff_assignment a "
                "JOIN handoff_team t ON t.id = a.team_id WHERE t.name LIKE %s) c"
            )
            cursor.execute(
                "INSERT INTO handoff_slaclock (assignment_id, policy_id, started_at, warn_at, due_at, first_touch_at, "
                "stopped_at, warned_at, breached_at, escalated_at) "
                "SELECT k.assignment_id, k.policy_id, k.started_at, k.warn_at, k.due_at, NULL, NULL, "
                "CASE WHEN k.warn_at <= %s AND k.warn_at < k.due_at THEN k.warn_at END, "
                "CASE WHEN k.due_at <= %s THEN k.due_at END, NULL "
                f"FROM ({clocks}) k",
                [
                    t_prev, t_prev, hot.pk, standard.pk,
                    _warn_seconds(hot), _warn_seconds(standard),
                    hot.first_touch_minutes * 60, standard.first_touch_minutes * 60,
                    f"{TEAM_PREFIX}%",
                ],
            )  # fmt: skip

    def undo(self, now: datetime) -> None:
        """Take back what a sweep at `now` wrote to the benchmark's rows."""
        from django.db import transaction

        from handoff.models import Assignment, Notification, SlaClock, SlaEvent
        from leads.models import Lead

        with transaction.atomic():
            bench = Assignment.objects.filter(team_id__in=self.team_ids)
            added = bench.filter(pk__gt=self.last_assignment_id)
            SlaEvent.objects.filter(clock__assignment__in=added).delete()
            SlaClock.objects.filter(assignment__in=added).delete()
            added.delete()
            ended = bench.filter(is_open=False, ended_at=now)
            reopened = list(ended.values_list("lead_id", flat=True))
            ended.update(is_open=True, ended_at=None, end_reason="")
            clocks = SlaClock.objects.filter(assignment__team_id__in=self.team_ids)
            for marker in ("warned_at", "breached_at", "escalated_at", "stopped_at"):
                clocks.filter(**{marker: now}).update(**{marker: None})
            SlaEvent.objects.filter(at=now, clock__assignment__team_id__in=self.team_ids).delete()
            Notification.objects.filter(pk__gt=self.last_notification_id).delete()
            restored = [
                Lead(pk=pk, owner_id=self.owners[pk][0], updated_at=self.owners[pk][1])
                for pk in reopened
                if pk in self.owners
            ]
            if restored:
                Lead.objects.bulk_update(restored, ["owner", "updated_at"])

    def remove(self) -> None:
        """Delete the benchmark's teams and all they own (and the notifications of this run)."""
        from django.db import connection, transaction

        from handoff.models import Notification, Team
        from leads.models import Lead

        like = [f"{TEAM_PREFIX}%"]
        with transaction.atomic(), connection.cursor() as cursor:
            teams = "SELECT id FROM handoff_team WHERE name LIKE %s"
            assignments = f"SELECT id FROM handoff_assignment WHERE team_id IN ({teams})"
            clocks = f"SELECT id FROM handoff_slaclock WHERE assignment_id IN ({assignments})"
            cursor.execute(f"DELETE FROM handoff_slaevent WHERE clock_id IN ({clocks})", like)
            cursor.execute(f"DELETE FROM handoff_slaclock WHERE id IN ({clocks})", like)
            cursor.execute(f"DELETE FROM handoff_assignment WHERE id IN ({assignments})", like)
            if self.last_notification_id:
                Notification.objects.filter(pk__gt=self.last_notification_id).delete()
            Team.objects.filter(name__startswith=TEAM_PREFIX).delete()  # and their memberships
            if self.owners:  # in case a run was interrupted before its undo
                restored = [Lead(pk=pk, owner_id=owner, updated_at=at) for pk, (owner, at) in self.owners.items()]
                Lead.objects.bulk_update(restored, ["owner", "updated_at"], batch_size=500)
        _analyze()


def _warn_seconds(policy: Any) -> int:
    return int(policy.first_touch_minutes * 60 * policy.warn_at_percent / 100)


def _plus_seconds(timestamp: str, seconds: str) -> str:
    """SQL for a timestamp plus a number of seconds (both SQL expressions), on either database."""
    from django.db import connection

    if connection.vendor == "postgresql":
        stamp = "CAST(%s AS timestamptz)" if timestamp == "%s" else timestamp
        return f"({stamp} + ({seconds}) * INTERVAL '1 second')"
    return f"datetime({timestamp}, ({seconds}) || ' seconds')"


def _analyze() -> None:
    """Fresh planner statistics after adding or removing 100,000 rows, as autovacuum would give."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE handoff_assignment, handoff_slaclock")


# --- the floor -------------------------------------------------------------------------------

_RUNNING = "k.first_touch_at IS NULL AND k.stopped_at IS NULL AND a.is_open"
_MARK_BREACHED = (
    "UPDATE handoff_slaclock SET breached_at = %s WHERE id IN (SELECT k.id FROM handoff_slaclock k JOIN "
    f"handoff_assignment a ON a.id = k.assignment_id WHERE {_RUNNING} AND k.breached_at IS NULL AND k.due_at <= %s "
    "ORDER BY k.due_at, k.id LIMIT 500) RETURNING id"
)
_MARK_WARNED = (
    "UPDATE handoff_slaclock SET warned_at = %s WHERE id IN (SELECT k.id FROM handoff_slaclock k JOIN "
    f"handoff_assignment a ON a.id = k.assignment_id WHERE {_RUNNING} AND k.warned_at IS NULL AND k.warn_at <= %s "
    "AND k.due_at > %s ORDER BY k.due_at, k.id LIMIT 500) RETURNING id"
)


def floor_sweep(now: datetime) -> None:
    """The sweep's writes, set-based, in one transaction that is rolled back."""
    from django.db import connection, transaction

    at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_BREACHED, [at, at])
        _record(cursor, [row[0] for row in cursor.fetchall()], at, "breach", "t.manager_id", "SLA breached: ")
        cursor.execute(_MARK_WARNED, [at, at, at])
        _record(cursor, [row[0] for row in cursor.fetchall()], at, "warning", "a.rep_id", "First touch due soon: ")
        transaction.set_rollback(True)


def _record(cursor: Any, ids: list[int], at: Any, kind: str, recipient: str, title: str) -> None:
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(
        f"INSERT INTO handoff_slaevent (clock_id, kind, at, detail) SELECT id, %s, %s, '' FROM handoff_slaclock "
        f"WHERE id IN ({marks})",
        [kind, at, *ids],
    )
    notification_kind = "sla_breach" if kind == "breach" else "sla_warning"
    cursor.execute(
        "INSERT INTO handoff_notification (recipient_id, kind, title, body, lead_id, created_at) "
        f"SELECT {recipient}, %s, %s || l.email, '', l.id, %s FROM handoff_slaclock k "
        "JOIN handoff_assignment a ON a.id = k.assignment_id JOIN handoff_team t ON t.id = a.team_id "
        f"JOIN leads_lead l ON l.id = a.lead_id WHERE k.id IN ({marks}) AND {recipient} IS NOT NULL",
        [notification_kind, title, at, *ids],
    )
