"""The benchmark harness (bench/): what it counts and selects, and that the SLA sweep's set-up
gives every run the same work and leaves nothing behind. No timings are asserted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import bench.__main__ as bench_main
from bench import sla
from bench.harness import measure
from handoff import services
from handoff.models import Assignment, Notification, SlaClock, SlaEvent, Team, TeamMembership
from leads.lifecycle import Stage
from leads.models import Lead
from tests import factories


def test_measure_counts_the_queries_of_a_test_client_request(client, marketer):
    factories.LeadFactory.create_batch(3)
    client.force_login(marketer)
    with CaptureQueriesContext(connection) as captured:
        client.get("/leads/")
    pinned = len(captured)  # read now: the next request's `request_started` empties the log it reads

    result = measure("lead_list", lambda: client.get("/leads/"), repeat=2)

    assert len(captured) == 0  # what `measure` used to report for every page
    assert result.queries == pinned == 8  # as tests/leads/test_pages.py pins it


def test_only_takes_group_and_benchmark_names():
    groups = bench_main._groups()

    everything = bench_main.select("", groups)
    assert everything == dict.fromkeys(name for name in groups if name != "mql_burst")  # it changes the data
    assert list(groups)[-1] == "mql_burst"  # and runs last when named
    assert bench_main.select("mql_burst,speed_to_lead", groups) == {"speed_to_lead": None, "mql_burst": None}
    assert bench_main.select("speed_to_lead_inprocess", groups) == {
        "speed_to_lead": frozenset({"speed_to_lead_inprocess"})
    }
    assert bench_main.select("sla_sweep,csv_import", groups) == {"sla_sweep": None, "csv_import": None}
    assert bench_main.select("my_leads,lead_page,funnel", groups) == {
        "pages": frozenset({"my_leads", "lead_page"}),
        "funnel": None,
    }
    with pytest.raises(SystemExit, match="no benchmark 'lead_lists'"):
        bench_main.select("lead_lists", groups)


@pytest.fixture
def small_sweep(monkeypatch, manager, marketer):
    """600 leads, three SDRs; clocks started over 5 hours so a sweep finds work at this size."""
    monkeypatch.setattr(sla, "OPEN_CLOCKS", 600)
    monkeypatch.setattr(sla, "TEAMS", 3)
    monkeypatch.setattr(sla, "STANDARD_SPAN", timedelta(hours=5))
    monkeypatch.setattr(sla, "drop_enqueued", lambda: None)
    for username in ("sdr.ana", "sdr.ben", "sdr.cai"):
        factories.sdr(username=username)
    now = timezone.now()
    Lead.objects.bulk_create(
        [Lead(email=f"lead{i}@firm{i}.example", stage=Stage.MQL, stage_changed_at=now) for i in range(600)]
    )


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Assignment, SlaClock, SlaEvent, Notification, Team, TeamMembership)
    }


def test_the_sweep_setup_repeats_the_same_work_and_leaves_nothing(small_sweep):
    before = _counts()
    leads = list(Lead.objects.order_by("pk").values_list("pk", "owner_id", "updated_at"))
    setup = sla.SweepSetup()
    setup.create()
    assert setup.open_clocks == 600
    assert SlaClock.objects.filter(policy__name=services.HOT_POLICY_NAME).count() == 6

    hot_due = SlaClock.objects.filter(
        policy__name=services.HOT_POLICY_NAME, due_at__gt=setup.t_prev, due_at__lte=setup.t0
    ).count()
    work = {}
    for now in (setup.t_prev + sla.TICK, setup.t0):
        first = services.sla_sweep(now=now)
        setup.undo(now)
        assert services.sla_sweep(now=now) == first
        setup.undo(now)
        work[now] = first
    setup.remove()

    routine, catch_up = work.values()
    assert routine["warnings"] + routine["breaches"] > 0
    assert catch_up["breaches"] > routine["breaches"]
    assert catch_up["reassigned"] == hot_due > 0  # hot clocks are reassigned on breach
    assert _counts() == before
    assert list(Lead.objects.order_by("pk").values_list("pk", "owner_id", "updated_at")) == leads


def test_a_target_holds_only_when_every_part_of_it_does():
    from bench.harness import Result

    def page(median: float, floor: float) -> Result:
        return Result("lead_list_first", runs=9, median_ms=median, p90_ms=median, queries=10,
                      floor_median_ms=floor, ratio=round(median / floor, 1))  # fmt: skip

    assert page(20, 8).met is True
    assert page(20, 5).met is False  # under 50 ms, but 4× the bare SQL of the same rows
    assert page(60, 30).met is False  # within 3×, but over 50 ms
    ingestion = Result("ingestion_1000", runs=9, median_ms=150, p90_ms=160, queries=8)
    ingestion.extra["activities_per_second"] = 6_667
    assert ingestion.met is True
    ingestion.extra["activities_per_second"] = 4_999
    assert ingestion.met is False
    rescore = Result("rescore_all", runs=1, median_ms=40_000, p90_ms=40_000, queries=None)
    assert rescore.met is False  # no peak memory measured: not shown to hold
    rescore.extra["peak_rss_mb"] = 300
    assert rescore.met is True
    assert rescore.as_dict()["target"] == "≤60000 ms, ≤1024 MiB"
    assert Result("funnel_raw", runs=3, median_ms=1, p90_ms=1, queries=1).met is None
    speed = Result("speed_to_lead", runs=200, median_ms=900, p90_ms=1_500, queries=20, extra={"p95_ms": 1_900})
    assert speed.met is True
    speed.extra["p95_ms"] = 2_100
    assert speed.met is False  # the issue asks for the 95th percentile, whatever the median
    burst = Result("mql_burst", runs=1, median_ms=30_000, p90_ms=30_000, queries=None, extra={"checks_ok": False})
    assert burst.met is False  # in time, but not every lead handed off fairly
    burst.extra["checks_ok"] = True
    assert burst.met is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeat", "0"], "argument --repeat: 0 is less than 1"),
        (["--leads", "-5"], "argument --leads: -5 is less than 1"),
        (["--leads", "a million"], "argument --leads: 'a million' is not a whole number"),
    ],
)
def test_sizes_and_repeats_below_one_are_refused_by_name(argv, message, capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        bench_main.arguments(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_sizes_may_be_written_with_separators():
    assert bench_main.arguments(["--leads", "1_000_000", "--repeat", "3"]).leads == 1_000_000
    assert bench_main.arguments(["--leads", "100,000"]).leads == 100_000
