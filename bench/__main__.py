"""`python -m bench`: Baton measured against its floor, at scale, on the configured database.

    python -m bench --leads 100000             seed (or reuse) 100k leads, run every benchmark
    python -m bench --leads 1000000 --only lead_list_first,funnel    groups and single benchmarks
    DATABASE_URL=postgres://... python -m bench --leads 1000000

Each benchmark runs `--repeat` times after a warm-up and reports the median and 90th percentile
in milliseconds and its query count; beside it the *floor* — the bare SQL that produces the same
rows or numbers, timed in the same run — and the ratio of the two, which is the headline. Results
are printed as a table and written as JSON under bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import (
    Result,
    measure,
    peak_rss_mb,
    result_of,
    run_child,
    setup_django,
)
from bench.harness import client as _client
from bench.harness import get as _get
from bench.harness import sql as _sql

RESULTS = Path(__file__).resolve().parent / "results"


def _all(*floors: Callable[[], Any]) -> Callable[[], None]:
    """A floor made of several statements, run one after the other (a page shows all of them)."""

    def run() -> None:
        for floor in floors:
            floor()

    return run


# --- benchmarks ------------------------------------------------------------------------------


Wanted = Callable[[str], bool]


def bench_pages(repeat: int, wanted: Wanted) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from crm.pagination import COUNT_CAP, KeysetPaginator
    from leads.filters import lead_sort_ordering
    from leads.models import Lead

    users = get_user_model().objects
    marketer, sdr = users.get(username="marketer"), users.get(username="sdr")
    now = connection.ops.adapt_datetimefield_value(datetime.now(UTC))
    results = []
    web = _client(marketer)
    lead_columns = (
        "l.id, l.email, l.first_name, l.last_name, l.job_title, l.stage, l.fit_score, l.engagement_score, "
        "l.source_channel, l.created_at, c.name, c.size, u.username, cp.name"
    )
    lead_joins = (
        "FROM leads_lead l LEFT JOIN leads_company c ON c.id = l.company_id "
        "LEFT JOIN auth_user u ON u.id = l.owner_id LEFT JOIN leads_campaign cp ON cp.id = l.campaign_id"
    )
    first_floor = _sql(f"SELECT {lead_columns} {lead_joins} ORDER BY l.created_at DESC, l.id DESC LIMIT 51")
    # The list pages also show how many leads match ("10,000+"): counted up to the cap.
    capped_count = _sql(f"SELECT COUNT(*) FROM (SELECT l.id FROM leads_lead l LIMIT {COUNT_CAP + 1}) c")
    if wanted("layout_page"):
        # What any page costs before its own data: a logged-in request for a page with the layout
        # (navigation, notification badge) and a small form, and next to no rows. No target, no floor.
        results.append(measure("layout_page", _get(web, "/imports/"), repeat=repeat))
    if wanted("lead_list_first"):
        results.append(
            measure("lead_list_first", _get(web, "/leads/"), repeat=repeat, floor=_all(first_floor, capped_count))
        )
    if wanted("lead_list_deep") or wanted("api_leads_deep"):
        # A page 10,000 rows deep, reached through the same keyset cursor the UI uses.
        ordering = lead_sort_ordering("newest")
        deep_row = Lead.objects.order_by(*ordering).only("id", "created_at")[10_000 - 1 : 10_000].first()
        if deep_row is not None:
            paginator = KeysetPaginator(Lead.objects.all(), ordering=ordering, per_page=50)
            cursor = paginator._encode(deep_row, direction="n", position=10_000)
            at = connection.ops.adapt_datetimefield_value(deep_row.created_at)
            deep_floor = _sql(
                f"SELECT {lead_columns} {lead_joins} WHERE l.created_at <= %s AND (l.created_at < %s OR "
                "(l.created_at = %s AND l.id < %s)) ORDER BY l.created_at DESC, l.id DESC LIMIT 51",
                [at, at, at, deep_row.pk],
            )
            for name, url, floor in (
                ("lead_list_deep", "/leads/", _all(deep_floor, capped_count)),
                ("api_leads_deep", "/api/v1/leads/", deep_floor),
            ):
                if wanted(name):
                    results.append(measure(name, _get(web, f"{url}?cursor={cursor}"), repeat=repeat, floor=floor))
    if wanted("api_leads_first"):
        results.append(measure("api_leads_first", _get(web, "/api/v1/leads/"), repeat=repeat, floor=first_floor))
    busy = (
        Lead.objects.filter(activities__isnull=False).order_by("-engagement_score").values_list("pk", flat=True).first()
        if wanted("lead_page")
        else None
    )
    if busy:
        results.append(
            measure(
                "lead_page",
                _get(web, f"/leads/{busy}/"),
                repeat=repeat,
                floor=_all(
                    _sql(f"SELECT {lead_columns} {lead_joins} WHERE l.id = %s", [busy]),
                    _sql(
                        "SELECT a.id, a.type_code, a.occurred_at, a.properties, t.name FROM leads_activity a "
                        "JOIN leads_activitytype t ON t.code = a.type_code WHERE a.lead_id = %s "
                        "ORDER BY a.occurred_at DESC, a.id DESC LIMIT 100",
                        [busy],
                    ),
                    _sql("SELECT * FROM leads_stagetransition WHERE lead_id = %s ORDER BY at, id", [busy]),
                    # The handoff panel: the open (else latest) assignment with its rep, team and
                    # clock, the discovery calls and the opportunity.
                    _sql(
                        "SELECT a.*, u.username, t.name, k.* FROM handoff_assignment a JOIN auth_user u ON "
                        "u.id = a.rep_id LEFT JOIN handoff_team t ON t.id = a.team_id LEFT JOIN handoff_slaclock k "
                        "ON k.assignment_id = a.id WHERE a.lead_id = %s ORDER BY a.is_open DESC, a.assigned_at DESC, "
                        "a.id DESC LIMIT 1",
                        [busy],
                    ),
                    _sql(
                        "SELECT c.*, u.username FROM handoff_discoverycall c JOIN auth_user u ON u.id = c.sdr_id "
                        "WHERE c.lead_id = %s ORDER BY c.held_at DESC, c.id DESC LIMIT 10",
                        [busy],
                    ),
                    _sql("SELECT * FROM handoff_opportunity WHERE lead_id = %s", [busy]),
                ),
            )
        )
    if wanted("mql_queue"):
        results.append(
            measure(
                "mql_queue",
                _get(web, "/queue/"),
                repeat=repeat,
                floor=lambda: queue_floor(lead_columns, lead_joins),
            )
        )
    if wanted("my_leads"):
        results.append(
            measure(
                "my_leads",
                _get(_client(sdr), "/my-leads/"),
                repeat=repeat,
                floor=_all(
                    # The tiles: open leads by SLA status (the touched ones are the rest).
                    _sql(
                        "SELECT COUNT(*), SUM(CASE WHEN k.due_at <= %s THEN 1 ELSE 0 END), "
                        "SUM(CASE WHEN k.due_at > %s AND k.warn_at <= %s THEN 1 ELSE 0 END) "
                        "FROM handoff_assignment a LEFT JOIN handoff_slaclock k ON k.assignment_id = a.id "
                        "AND k.first_touch_at IS NULL AND k.stopped_at IS NULL WHERE a.rep_id = %s AND a.is_open",
                        [now, now, now, sdr.pk],
                    ),
                    # The 200 most urgent: running clocks by due time (the demo SDR has more than 200).
                    _sql(
                        f"SELECT {lead_columns}, a.assigned_at, k.started_at, k.warn_at, k.due_at, k.first_touch_at "
                        f"{lead_joins} JOIN handoff_assignment a ON a.lead_id = l.id JOIN handoff_slaclock k ON "
                        "k.assignment_id = a.id WHERE a.rep_id = %s AND a.is_open AND k.first_touch_at IS NULL AND "
                        "k.stopped_at IS NULL ORDER BY k.due_at, a.assigned_at, a.id LIMIT 200",
                        [sdr.pk],
                    ),
                ),
            )
        )
    return results


def queue_floor(lead_columns: str, lead_joins: str) -> None:
    """What the MQL queue shows, by SQL: the header (how many wait, up to its cap, and since when;
    decisions in the last 7 days), the 50 oldest, and their activity topics."""
    from django.db import connection

    from handoff.selectors.queue import QUEUE_COUNT_CAP

    waiting = (
        "FROM leads_lead l WHERE l.stage = 'mql' AND NOT EXISTS (SELECT 1 FROM handoff_assignment a "
        "WHERE a.lead_id = l.id AND a.is_open)"
    )
    now = connection.ops.adapt_datetimefield_value(datetime.now(UTC))
    week_ago = connection.ops.adapt_datetimefield_value(datetime.now(UTC) - timedelta(days=7))
    _sql(
        f"SELECT COUNT(*), MIN(at) FROM (SELECT l.stage_changed_at AS at {waiting} "
        f"ORDER BY l.stage_changed_at, l.id LIMIT {QUEUE_COUNT_CAP + 1}) w"
    )()
    _sql("SELECT COUNT(*) FROM handoff_queuereview WHERE reviewed_at >= %s AND reviewed_at <= %s", [week_ago, now])()
    rows = _sql(
        f"SELECT {lead_columns}, l.stage_changed_at {lead_joins} WHERE l.stage = 'mql' AND NOT EXISTS (SELECT 1 "
        "FROM handoff_assignment a WHERE a.lead_id = l.id AND a.is_open) ORDER BY l.stage_changed_at, l.id LIMIT 51"
    )()
    ids = ", ".join(str(int(row[0])) for row in rows) or "0"
    topic = "a.properties ->> 'topic'" if connection.vendor == "postgresql" else "json_extract(a.properties, '$.topic')"
    _sql(
        f"SELECT a.lead_id, {topic} AS topic, COUNT(*) AS n FROM leads_activity a WHERE a.lead_id IN ({ids}) "
        f"AND {topic} IS NOT NULL GROUP BY a.lead_id, {topic} ORDER BY a.lead_id, n DESC, topic"
    )()


def bench_funnel(repeat: int) -> list[Result]:
    """The funnel page (/reports/) as a manager reads it, over the last 90 whole days as the period
    filter gives them: served from the pre-aggregation (reporting.funnel_facts) after applying any
    waiting changes. Floor: the bare pre-aggregated SQL of the same numbers. The reference that
    computes them from the whole stage history (reporting.funnel.funnel, what the page ran before)
    is timed beside the first two as `*_raw` (3 runs), and every case is checked equal to it."""
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from django.utils import timezone

    from reporting import funnel as f
    from reporting import funnel_facts, services
    from reporting.forms import day_start

    started = time.perf_counter()
    applied = services.funnel_facts_refresh()  # builds the store once on a database seeded before it existed
    prepared = {"leads": applied, "seconds": round(time.perf_counter() - started, 1)}
    last = timezone.localdate()
    first = last - timedelta(days=89)
    start, end = day_start(first), day_start(last + timedelta(days=1))
    web = _client(get_user_model().objects.get(username="manager"))
    cases = (
        ("funnel", f.Mode.CREATED, ""),
        ("funnel_breakdown", f.Mode.CREATED, "channel"),
        ("funnel_mql_campaign", f.Mode.MQL, "campaign"),
        ("funnel_flow_team", f.Mode.FLOW, "team"),
    )
    results = []
    for name, mode, breakdown in cases:
        fast = funnel_facts.read(start=start, end=end, mode=mode, breakdown=breakdown)
        reference = f.funnel(start=start, end=end, mode=mode, breakdown=breakdown)
        if (fast.total.counts, [(r.key, r.counts) for r in fast.rows]) != (
            reference.total.counts,
            [(r.key, r.counts) for r in reference.rows],
        ):
            raise RuntimeError(f"{name}: the pre-aggregated funnel differs from the reference")
        sql, params = funnel_facts.read_sql(start=start, end=end, mode=mode, breakdown=breakdown)
        url = f"{reverse('reporting:funnel')}?from={first}&to={last}&mode={mode}&breakdown={breakdown}"
        results.append(measure(name, _get(web, url), repeat=repeat, floor=_sql(sql, params)))
        if name in ("funnel", "funnel_breakdown"):

            def raw(mode: str = mode, breakdown: str = breakdown) -> Any:
                return f.funnel(start=start, end=end, mode=mode, breakdown=breakdown)

            results.append(measure(f"{name}_raw", raw, repeat=min(repeat, 3)))
    results[0].extra["store_refresh_before"] = prepared  # leads refreshed (or built) before measuring
    return results


def bench_ingestion(repeat: int, wanted: Wanted) -> list[Result]:
    """Activities per second through POST /api/v1/activities/ in 1,000-item batches."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from leads.models import Lead

    marketer = get_user_model().objects.get(username="marketer")
    client = _client(marketer)
    emails = list(Lead.objects.order_by("-id").values_list("email", flat=True)[:200])
    counter = iter(range(10**9))
    now = datetime.now(UTC)

    def batch() -> list[dict[str, Any]]:
        run = next(counter)
        return [
            {
                "email": emails[i % len(emails)],
                "type": "page_view",
                "source_system": "bench",
                "external_id": f"bench-{time.time_ns()}-{run}-{i}",
                "occurred_at": now.isoformat(),
                "properties": {"url": "/pricing"},
            }
            for i in range(1000)
        ]

    def post() -> None:
        response = client.post("/api/v1/activities/", data=json.dumps(batch()), content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"ingestion answered {response.status_code}: {response.content[:300]!r}")

    lead_ids = list(Lead.objects.filter(email__in=emails).values_list("pk", flat=True))

    def floor() -> None:
        rows = [
            (lead_ids[i % len(lead_ids)], "page_view", now, "{}", "bench-floor", f"f-{time.time_ns()}-{i}", now)
            for i in range(1000)
        ]
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO leads_activity (lead_id, type_code, occurred_at, properties, source_system, external_id, "
                "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        a,
                        b,
                        connection.ops.adapt_datetimefield_value(c),
                        d,
                        e,
                        f,
                        connection.ops.adapt_datetimefield_value(g),
                    )
                    for a, b, c, d, e, f, g in rows
                ],
            )

    result = measure("ingestion_1000", post, repeat=repeat, floor=floor)
    result.extra["activities_per_second"] = round(1000 / (result.median_ms / 1000))
    return [result]


def bench_rescore(repeat: int, wanted: Wanted) -> list[Result]:
    """Publishing a new scoring model version and rescoring every lead with it (the job), in a
    child process to read its peak memory. Between runs, what autovacuum would do after every
    lead was rewritten (untimed; only when autovacuum is off)."""
    timings = []
    peak = 0.0
    job: dict[str, Any] = {}
    for _ in range(max(1, min(repeat, 3))):
        done = run_child("rescore")
        timings.append(done["seconds"] * 1000)
        peak = max(peak, done["peak_rss_mb"])
        job = done.get("job") or {}
        maintained = maintain()
    result = result_of("rescore_all", timings, queries=None)
    result.extra["peak_rss_mb"] = peak
    result.extra.update({key: job[key] for key in ("leads", "changed", "promoted") if key in job})
    result.extra.update(maintained)
    return [result]


def child(kind: str, leads: int, job_id: int | None) -> None:
    """The far side of `run_child`: do one thing in a fresh process, print seconds and memory as JSON."""
    from bench.harness import rss_mb

    setup_django()
    start_rss = rss_mb()
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if kind == "rescore":
        from django.contrib.auth import get_user_model

        from leads.services import job_run_rescore_all, scoring_draft_create, scoring_model_publish

        # What a marketer's publish does: a new version (a copy of the active one: its rules are
        # new rows, so every lead's explanation and scoring version change and every lead is
        # rewritten), made active, then the job that rescores every lead (the task would run it;
        # here it runs in this process, timed).
        marketer = get_user_model().objects.get(username="marketer")
        draft = scoring_draft_create(user=marketer, name="Benchmark publish")
        job = scoring_model_publish(model_id=draft.pk, user=marketer)
        started = time.perf_counter()
        job_run_rescore_all(job_id=job.pk)
        job.refresh_from_db()
        extra = {"job": job.result}
    elif kind == "seed":
        from django.core.management import call_command

        call_command("seed_demo", leads=leads, verbosity=0)
    elif kind == "csv_import" and job_id is not None:
        from bench.imports import run_job_rolled_back

        extra = run_job_rolled_back(job_id)
    else:
        raise SystemExit(f"unknown child {kind!r}")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "start_rss_mb": start_rss, **extra}))


# --- which benchmarks run --------------------------------------------------------------------


FUNNEL = ("funnel", "funnel_breakdown", "funnel_mql_campaign", "funnel_flow_team", "funnel_raw", "funnel_breakdown_raw")
PAGES = (
    "layout_page",
    "lead_list_first",
    "lead_list_deep",
    "api_leads_deep",
    "api_leads_first",
    "lead_page",
    "mql_queue",
    "my_leads",
)


@dataclass(frozen=True)
class Group:
    """Benchmarks that share their set-up. A selective group takes `wanted` and runs only those;
    the others run whole and their results are filtered."""

    run: Callable[..., list[Result]]
    names: tuple[str, ...]
    selective: bool = True
    only_when_named: bool = False  # it changes the data set for good: not part of a run of everything


def _groups() -> dict[str, Group]:
    from bench.imports import bench_csv_import
    from bench.mql_burst import bench_mql_burst
    from bench.sla import bench_sla_sweep
    from bench.speed_to_lead import bench_speed_to_lead

    # In the order they run: csv_import late, as it adds (and then removes) 100,000 leads, and
    # mql_burst last and only when named, as it makes 10,000 leads MQLs for good.
    return {
        "pages": Group(bench_pages, PAGES),
        "funnel": Group(bench_funnel, FUNNEL, selective=False),
        "ingestion": Group(bench_ingestion, ("ingestion_1000",)),
        "sla_sweep": Group(bench_sla_sweep, ("sla_sweep", "sla_sweep_catchup")),
        "rescore": Group(bench_rescore, ("rescore_all",)),
        "speed_to_lead": Group(bench_speed_to_lead, ("speed_to_lead", "speed_to_lead_inprocess")),
        "csv_import": Group(bench_csv_import, ("csv_upload", "csv_import")),
        "mql_burst": Group(bench_mql_burst, ("mql_burst",), only_when_named=True),
    }


def select(only: str, groups: dict[str, Group]) -> dict[str, frozenset[str] | None]:
    """Group -> the benchmarks wanted from it (None: the whole group), in running order.

    `--only` takes group names and benchmark names, comma-separated; a name that is both (funnel,
    sla_sweep, speed_to_lead, csv_import, mql_burst) means the group. Without `--only`, every group
    but those that run only when named (mql_burst)."""
    tokens = [token.strip() for token in only.split(",") if token.strip()]
    if not tokens:
        return {name: None for name, group in groups.items() if not group.only_when_named}
    chosen: dict[str, set[str] | None] = {}
    for token in tokens:
        if token in groups:
            chosen[token] = None
            continue
        owner = next((name for name, group in groups.items() if token in group.names), None)
        if owner is None:
            every = ", ".join(name for group in groups.values() for name in group.names)
            raise SystemExit(f"--only: no benchmark {token!r}. Groups: {', '.join(groups)}. Benchmarks: {every}.")
        if owner not in chosen:
            chosen[owner] = set()
        wanted = chosen[owner]
        if wanted is not None:
            wanted.add(token)
    return {name: None if chosen[name] is None else frozenset(chosen[name] or ()) for name in groups if name in chosen}


def run_group(group: Group, wanted: frozenset[str] | None, repeat: int) -> list[Result]:
    def is_wanted(name: str) -> bool:
        return wanted is None or name in wanted

    results = group.run(repeat, is_wanted) if group.selective else group.run(repeat)
    return [result for result in results if is_wanted(result.name)]


def ensure_data(leads: int) -> dict[str, Any]:
    """Reuse the database when it already has the leads; otherwise seed it (measuring the seed)."""
    from django.core.management import call_command

    from leads.models import Lead

    call_command("migrate", interactive=False, verbosity=0)  # a fresh database gets its tables
    have = Lead.objects.count()
    data: dict[str, Any]
    if have >= leads * 0.95:
        data = {"reused": True, "leads": have}
    elif have:
        raise SystemExit(
            f"The database has {have:,} leads, not {leads:,}: point DATABASE_URL at an empty database or a "
            f"database seeded with --leads {leads}."
        )
    else:
        seeded = run_child("seed", "--leads", str(leads))
        data = {
            "reused": False,
            "leads": Lead.objects.count(),
            "seed_seconds": round(seeded["seconds"], 1),
            "seed_peak_rss_mb": seeded["peak_rss_mb"],
        }
    # Above 100,000 leads the seeder leaves the leads unscored, as an import does. Production data
    # is scored: the first scoring (publishing a model over unscored leads) runs once, measured as
    # a figure of its own, so that the pages show and `rescore_all` rewrites scored leads.
    if Lead.objects.filter(scoring_model__isnull=True).exists():
        maintain()
        scored = run_child("rescore")
        data["first_scoring_seconds"] = round(scored["seconds"], 1)
        data["first_scoring_peak_rss_mb"] = scored["peak_rss_mb"]
    return {**data, **maintain()}


def maintain() -> dict[str, Any]:
    """Measure a database in the state production keeps it in. With PostgreSQL's autovacuum off
    (some development servers), a rescore leaves a dead copy of every lead row and no visibility
    map, which would make every later read slower than any maintained server: vacuum first."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        if autovacuum == "on":
            return {"autovacuum": "on"}
        started = time.perf_counter()
        cursor.execute("VACUUM (ANALYZE)")
    return {"autovacuum": "off", "vacuum_seconds": round(time.perf_counter() - started, 1)}


# The server settings that decide how a scan or a rewrite of a million rows goes.
POSTGRESQL_SETTINGS = ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit")


def database_description() -> dict[str, Any]:
    """The database the figures were taken on: its engine, version and, on PostgreSQL, the settings
    that most change them (results from servers with different memory are not comparable)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"vendor": connection.vendor, "version": connection.Database.sqlite_version}
    with connection.cursor() as cursor:
        settings = {}
        for name in POSTGRESQL_SETTINGS:
            cursor.execute(f"SHOW {name}")  # names from the constant above, never from input
            settings[name] = cursor.fetchone()[0]
    return {"vendor": connection.vendor, "version": str(connection.pg_version), "settings": settings}


def positive(text: str) -> int:
    """A whole number of at least 1 (leads to seed, times to run)."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=positive, default=100_000, help="leads in the data set (default 100000)")
    parser.add_argument("--repeat", type=positive, default=15, help="timed runs of each benchmark (default 15)")
    parser.add_argument(
        "--only",
        default="",
        help="Comma-separated groups (pages, funnel, ingestion, sla_sweep, rescore, speed_to_lead, csv_import, "
        "mql_burst) and/or single benchmarks (e.g. lead_page, my_leads, sla_sweep_catchup, csv_upload). Default: "
        "everything but mql_burst, which changes the data set for good and runs only when named.",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--job-id", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = arguments()
    if args.child:
        child(args.child, args.leads, args.job_id)
        return
    groups = _groups()
    chosen = select(args.only, groups)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from bench.harness import drop_enqueued

    data = ensure_data(args.leads)
    # Production serves fingerprinted static files (DEBUG off): collect them, as a deploy does.
    call_command("collectstatic", interactive=False, verbosity=0)
    results: list[Result] = []
    for step in ("seed", "first_scoring"):  # done by this run: its time and peak memory are results too
        if f"{step}_seconds" in data:
            done = result_of(step, [data[f"{step}_seconds"] * 1000], queries=None)
            done.extra["peak_rss_mb"] = data[f"{step}_peak_rss_mb"]
            results.append(done)
    for name, wanted in chosen.items():
        print(f"… {name}" + (f" ({', '.join(sorted(wanted))})" if wanted else ""), file=sys.stderr, flush=True)
        results.extend(run_group(groups[name], wanted, args.repeat))
        drop_enqueued()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "database": database_description(),
        "data": data,
        "repeat": args.repeat,
        "results": [r.as_dict() for r in results],
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{connection.vendor}-{args.leads}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    print(f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def _cell(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def print_table(report: dict[str, Any]) -> None:
    data = report["data"]
    print(
        f"\n{report['database']['vendor']} {report['database']['version']} · {data['leads']:,} leads · "
        f"{report['machine']['cpus']} CPUs · median of {report['repeat']} runs"
    )
    if report["database"].get("settings"):
        print(" · ".join(f"{name} {value}" for name, value in report["database"]["settings"].items()))
    if "seed_seconds" in data:
        print(f"seeding: {data['seed_seconds']} s, peak {data['seed_peak_rss_mb']} MiB")
    columns = ("benchmark", "median ms", "p90 ms", "queries", "floor ms", "ratio", "target", "met")
    widths = (20, 11, 10, 9, 10, 8, 23, 4)
    header = "".join(
        f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    print(header + "  notes")
    print("-" * (len(header) + 7))
    for r in report["results"]:
        target = r["target"]
        met = {True: "✓", False: "✗", None: ""}[r["met"]]
        cells = (r["name"], r["median_ms"], r["p90_ms"], r["queries"], r["floor_median_ms"], r["ratio"], target, met)
        line = "".join(
            f"{_cell(v):<{w}}" if i == 0 else f"{_cell(v):>{w}}"
            for i, (v, w) in enumerate(zip(cells, widths, strict=True))
        )
        print(line + "  " + ", ".join(f"{k}={v}" for k, v in r["extra"].items()))


if __name__ == "__main__":
    main()
