"""The hand-off benchmarks of issue 13 (bench/speed_to_lead.py, bench/mql_burst.py) at tiny sizes,
on committed data (the benchmarks work after commit, as the code they measure does): what their
set-up makes, that every request or promoted lead is handed off, what their clean-up leaves, and
the shape of their result rows. No timings are asserted; the live-worker path is not run here
(it starts a worker of its own against the configured database)."""

from __future__ import annotations

import pytest

from bench import mql_burst, speed_to_lead, worker
from bench.mql_burst import choose_thresholds
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
    TeamMembership,
)
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityType, FormSource, Lead, RescoreRequest, ScoringModel, ScoringModelStatus, ScoringRun
from tests import factories


@pytest.fixture
def committed(transactional_db, django_db_serialized_rollback):  # type: ignore[no-untyped-def]
    """Committed rows (serialized rollback brings back what migrations create: activity types,
    SLA policies, the scoring model), a manager, a marketer and two SDRs."""
    factories.manager(username="manager")
    factories.marketer(username="marketer")
    for username in ("sdr.ana", "sdr.ben"):
        factories.sdr(username=username)


def _counts() -> dict[str, int]:
    models = (
        Assignment, SlaClock, SlaEvent, Notification, QueueReview, ReviewClock, HandoffRequest, RescoreRequest,
        Team, TeamMembership, RoutingRule, FormSource, ScoringRun,
    )  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


# --- speed_to_lead -----------------------------------------------------------------------------


def test_speed_to_lead_hands_every_request_off_and_leaves_only_its_leads_out_of_the_funnel(
    committed, monkeypatch, capsys
):
    monkeypatch.setattr(speed_to_lead, "REQUESTS", 3)
    monkeypatch.setattr(speed_to_lead, "redis_url", lambda: "")
    before = _counts()

    results = speed_to_lead.bench_speed_to_lead(15, lambda name: True)

    assert "no REDIS_URL" in capsys.readouterr().err  # the live part is skipped, and says so
    [result] = results
    assert result.name == "speed_to_lead_inprocess"
    assert result.runs == 3
    assert result.queries > 0  # the whole chain's statements: it ran inside the request
    assert result.extra["requests"] == result.extra["assigned"] == 3
    assert {"p95_ms", "max_ms", "request_p50_ms", "request_p95_ms"} <= set(result.extra)
    assert result.as_dict()["target"] == "p95 ≤100 ms"
    assert _counts() == before
    leads = Lead.objects.filter(email__endswith=f".{speed_to_lead.DOMAIN}")
    assert leads.count() == 5  # the warm-up, the counted request and the 3 timed ones
    for lead in leads:
        assert lead.stage == Stage.DISQUALIFIED
        assert lead.owner_id is None
        assert [t.to_stage for t in lead.transitions.order_by("at", "id")] == [
            Stage.LEAD, Stage.MQL, Stage.DISQUALIFIED,
        ]  # fmt: skip
        assert lead.transitions.latest().actor_rule == speed_to_lead.CLEANUP_RULE


def test_speed_to_lead_first_removes_what_an_interrupted_run_left(committed, monkeypatch):
    from django.test import Client

    before = _counts()
    interrupted = speed_to_lead.StlSetup(run="20260101t000000")
    interrupted.create()
    with worker.eager(True):
        interrupted.post(Client())
    assert Assignment.objects.count() == before["Assignment"] + 1

    again = speed_to_lead.StlSetup()
    again.create()
    assert Team.objects.filter(name=speed_to_lead.PREFIX).count() == 1
    assert Lead.objects.get(email__startswith="demo-20260101t000000-").stage == Stage.DISQUALIFIED
    again.remove()
    after = _counts()
    assert after.pop("ScoringRun") > before.pop("ScoringRun")  # the interrupted run's request's, as documented
    assert after == before


def test_hand_offs_left_waiting_are_caught_up_through_the_existing_rules_before_the_set_up(committed):
    from handoff.models import HandoffMode

    inbound = Team.objects.create(name="Inbound")
    for username in ("sdr.cai", "sdr.dan"):
        TeamMembership.objects.create(team=inbound, rep=factories.sdr(username=username))
    RoutingRule.objects.create(name="Everything (auto)", team=inbound, position=10, handoff_mode=HandoffMode.AUTOMATIC)
    with worker.broker("memory://localhost/"), worker.eager(False):  # a wake-up nobody received
        lead = factories.lead_at_stage(Stage.MQL)
    assert HandoffRequest.objects.filter(lead=lead).exists()

    setup = speed_to_lead.StlSetup()
    setup.create()
    setup.remove()

    assert setup.caught_up["handed_off"] == 1
    assert Assignment.objects.get(lead=lead, is_open=True).team == inbound  # not the benchmark's team
    assert not HandoffRequest.objects.exists()


def test_speed_to_lead_refuses_when_another_rule_comes_first(committed):
    team = Team.objects.create(name="Inbound")
    RoutingRule.objects.create(name="Everything first", team=team, position=0)
    before = _counts()

    with pytest.raises(SystemExit, match=r"“Everything first” .* comes before"):
        speed_to_lead.StlSetup().create()
    assert _counts() == before


# --- mql_burst -------------------------------------------------------------------------------


def test_thresholds_lower_the_engagement_bar_first_then_fit_to_the_closest_count():
    cells = [(30, 40, 5), (30, 20, 10), (30, 10, 10), (20, 0, 50), (35, 0, 5)]  # (fit, engagement, leads)

    assert choose_thresholds(cells, fit=30, engagement=40, target=15) == (30, 20, 15)
    assert choose_thresholds(cells, fit=30, engagement=40, target=26) == (30, 10, 25)  # 25 is closer than 30
    assert choose_thresholds(cells, fit=30, engagement=40, target=28) == (30, 0, 30)
    assert choose_thresholds(cells, fit=30, engagement=40, target=60) == (20, 0, 80)  # then the fit bar
    assert choose_thresholds(cells, fit=30, engagement=40, target=1_000) == (20, 0, 80)  # all there are


@pytest.fixture
def small_burst(committed, monkeypatch):  # type: ignore[no-untyped-def]
    """Nine leads at `lead` with fit ≥ 30 and engagement 3, 9 or 15 (e-mail clicks), three per
    team (an enterprise, a mid-market and an SMB company), scored by the active model."""
    monkeypatch.setattr(mql_burst, "REPS_PER_TEAM", 2)
    monkeypatch.setattr(mql_burst, "redis_url", lambda: "")
    click = ActivityType.objects.get(code="email_click")
    ids = []
    for size, name in (("1001-5000", "big"), ("51-200", "mid"), ("1-10", "small")):
        for clicks in (1, 3, 5):
            company = factories.CompanyFactory(domain=f"{name}{clicks}.example", size=size)
            lead = factories.LeadFactory(email=f"vp@{name}{clicks}.example", job_title="VP of Sales", company=company)
            factories.ActivityFactory.create_batch(clicks, lead=lead, type=click)
            ids.append(lead.pk)
    lead_services.scoring_rescore_leads(lead_ids=ids)
    assert not Lead.objects.filter(pk__in=ids).exclude(stage=Stage.LEAD).exists()
    return ids


def _burst(monkeypatch, size: int):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(mql_burst, "BURST", size)
    [result] = mql_burst.bench_mql_burst(15, lambda name: True)
    return result


def test_a_burst_hands_every_promoted_lead_off_fairly_and_restores_the_model(small_burst, monkeypatch):
    original = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)

    result = _burst(monkeypatch, 6)

    assert result.name == "mql_burst"
    assert result.runs == 1
    extra = result.extra
    assert extra["thresholds"] == "fit 30→30, engagement 40→9"
    assert extra["expected"] == extra["promoted"] == extra["assigned"] == extra["to_bench_teams"] == 6
    assert extra["held_for_review"] == extra["waiting"] == extra["more_than_one"] == extra["others_taken"] == 0
    assert extra["per_rep"] == {"enterprise": "1–1", "mid-market": "1–1", "other": "1–1"}
    assert extra["fair"] is extra["capacity_ok"] is extra["checks_ok"] is True
    assert extra["path"] == "in-process: the job, then the drain"
    assert extra["restore_s"] is not None
    assert result.as_dict()["target"] == "≤60000 ms, checks pass"

    promoted = Lead.objects.filter(pk__in=small_burst, stage=Stage.MQL)
    assert promoted.count() == 6
    assert Assignment.objects.filter(lead__in=promoted, is_open=True, team__name__startswith="bench-burst").count() == 6
    active = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    assert (active.name, active.mql_fit_threshold, active.mql_engagement_threshold, active.version) == (
        original.name, original.mql_fit_threshold, original.mql_engagement_threshold, original.version + 2,
    )  # fmt: skip
    assert not ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).exists()
    assert not Lead.objects.exclude(scoring_model=active).exists()  # every lead rescored by the restored model
    rules = RoutingRule.objects.filter(name__startswith="bench-burst")
    assert rules.count() == 3
    assert not rules.filter(is_active=True).exists()
    assert not HandoffRequest.objects.exists()


def test_a_second_burst_reuses_the_teams_and_the_rotation_goes_on(small_burst, monkeypatch):
    _burst(monkeypatch, 6)
    teams, reps = Team.objects.count(), TeamMembership.objects.count()

    result = _burst(monkeypatch, 3)

    assert result.extra["thresholds"] == "fit 30→30, engagement 40→3"
    assert result.extra["promoted"] == result.extra["assigned"] == 3
    assert result.extra["per_rep"] == {"enterprise": "0–1", "mid-market": "0–1", "other": "0–1"}
    assert result.extra["checks_ok"] is True
    assert (Team.objects.count(), TeamMembership.objects.count()) == (teams, reps)
    for team in Team.objects.filter(name__startswith="bench-burst"):
        held = [Assignment.objects.filter(team=team, rep=m.rep, is_open=True).count() for m in team.memberships.all()]
        assert sorted(held) == [1, 2]  # three leads over two reps, in turn
        assert all(m.capacity >= n for m, n in zip(team.memberships.all(), held, strict=True))


def test_a_burst_model_left_active_by_an_interrupted_run_is_restored_first(small_burst, monkeypatch):
    original = ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE)
    burst = mql_burst.Burst()
    monkeypatch.setattr(mql_burst, "BURST", 6)
    burst.prepare()
    with worker.broker("memory://localhost/"), worker.eager(False):
        lead_services.scoring_model_publish(model_id=burst.draft(), user=None)  # and then interrupted

    again = mql_burst.Burst()
    again.prepare()
    assert ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE).mql_engagement_threshold == (
        original.mql_engagement_threshold
    )
    again.restore()
    assert ScoringModel.objects.get(status=ScoringModelStatus.ACTIVE).name == original.name
    assert not ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).exists()


# --- the worker switches ---------------------------------------------------------------------


def test_the_broker_and_eager_switches_put_everything_back():
    from crm.celery import app

    url, eager = app.conf.broker_url, app.conf.task_always_eager
    with worker.broker("memory://elsewhere/"), worker.eager(not eager):
        assert app.conf.broker_url == "memory://elsewhere/"
        assert app.conf.task_always_eager is not eager
    assert (app.conf.broker_url, app.conf.task_always_eager) == (url, eager)
    assert app._pool is None  # the next task connects with the restored configuration
