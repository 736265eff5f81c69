"""The funnel's pre-aggregation (reporting.funnel_facts) gives exactly the reference's numbers
(reporting.funnel.funnel, computed from the whole history) for every mode and breakdown — after a
build, and after refreshes interleaved with new stage changes, breakdown changes and merges —
and the report page reads it, applying waiting changes first."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from handoff.models import Team, TeamMembership
from leads import services as lead_services
from leads.lifecycle import ALLOWED, FUNNEL, SALES_QUALIFIED, Actor, Stage
from leads.models import Company, Lead, StageTransition
from reporting import funnel_facts, services, tasks
from reporting.funnel import BREAKDOWNS, Mode, funnel
from reporting.models import FunnelChange, FunnelCount, FunnelFactsState, LeadFunnel
from tests import factories
from tests.factories import CampaignFactory
from tests.reporting import histories as h

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 1, tzinfo=UTC)
PERIODS = [
    (BASE - timedelta(days=1), BASE + timedelta(days=120)),  # everything, whole hours
    (BASE + timedelta(days=10), BASE + timedelta(days=40)),  # whole days
    (BASE + timedelta(days=10, hours=5), BASE + timedelta(days=40, hours=5)),  # local days at UTC-5
    # partial first and last hours
    (BASE + timedelta(days=10, hours=7, minutes=13, seconds=5), BASE + timedelta(days=41, hours=3, minutes=59)),
    (BASE + timedelta(days=20, hours=5, minutes=10), BASE + timedelta(days=20, hours=5, minutes=50)),  # one hour
    (BASE + timedelta(days=20), BASE + timedelta(days=20)),  # empty
]


def numbers(result):  # type: ignore[no-untyped-def]
    return result.total.counts, [(row.key, row.counts) for row in result.rows]


def assert_equal_to_the_reference(periods=PERIODS) -> None:  # type: ignore[no-untyped-def]
    for start, end in periods:
        for mode in Mode.ALL:
            for breakdown in BREAKDOWNS:
                fast = funnel_facts.read(start=start, end=end, mode=mode, breakdown=breakdown)
                reference = funnel(start=start, end=end, mode=mode, breakdown=breakdown)
                assert numbers(fast) == numbers(reference), (mode, breakdown, start, end)


def stored() -> tuple[set, set]:  # type: ignore[type-arg]
    """Both tables' contents, to compare an incrementally refreshed store with a rebuilt one."""
    facts = {
        (*row[:-1], tuple(sorted(row[-1].split())))  # entries, in any order
        for row in LeadFunnel.objects.values_list(*(f.attname for f in LeadFunnel._meta.fields))
    }
    counts = set(FunnelCount.objects.values_list(*(f.attname for f in FunnelCount._meta.fields if f.name != "id")))
    return facts, counts


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    """Generated histories (recycles, skips, disqualifications) over leads with channels, sources,
    campaigns, company sizes and owners in teams (one rep in two teams, one in none)."""
    histories, _ = h.build(41, 120, BASE)
    rng = random.Random(41)
    campaigns = [CampaignFactory(name="Spring webinar"), CampaignFactory(name="Paid search Q1")]
    reps = [factories.sdr(username=f"rep{i}") for i in range(4)]
    north, south = Team.objects.create(name="North"), Team.objects.create(name="South")
    TeamMembership.objects.create(team=north, rep=reps[0])
    TeamMembership.objects.create(team=south, rep=reps[1])
    TeamMembership.objects.create(team=north, rep=reps[1])  # in two teams: counted under the first
    TeamMembership.objects.create(team=south, rep=reps[2])  # reps[3] is in no team
    for lead_id in histories:
        Lead.objects.filter(pk=lead_id).update(
            campaign=rng.choice([*campaigns, None]),
            owner=rng.choice([*reps, None]),
            source_detail=rng.choice(["google", "linkedin", ""]),
        )
    Lead.objects.create(email="no-history@example.org", created_at=BASE, stage_changed_at=BASE)  # counts nowhere
    return {"reps": reps, "teams": (north, south), "campaigns": campaigns}


def move_some_leads(rng: random.Random, count: int) -> None:
    """Stage changes through the lifecycle service, at times inside the generated period."""
    leads = list(Lead.objects.order_by("pk"))
    for lead in rng.sample(leads, count):
        options = sorted(stage for stage in ALLOWED[Stage(lead.stage)] if stage not in SALES_QUALIFIED)
        if not options:
            continue
        at = BASE + timedelta(days=rng.randint(0, 89), minutes=rng.randint(0, 24 * 60))
        lead_services.lead_transition(
            lead_id=lead.pk, to=rng.choice(options), actor=Actor.rule_named("test"), reason="Test", at=at
        )


def test_a_build_equals_the_reference_for_every_mode_breakdown_and_period(world):
    assert services.funnel_facts_refresh() > 0  # never built: the first refresh builds it
    assert FunnelFactsState.objects.get().built_at is not None
    assert not FunnelChange.objects.exists()
    assert_equal_to_the_reference()


@pytest.mark.parametrize("seed", [1, 2])
def test_refreshes_interleaved_with_changes_and_merges_stay_equal_to_the_reference(world, manager, seed):
    rng = random.Random(seed)
    services.funnel_facts_refresh()

    # New histories in bulk, stage changes through the service, breakdown values changed by
    # services and by plain updates, a company resized, a rep moved between teams.
    h.build(100 + seed, 40, BASE + timedelta(days=15))
    move_some_leads(rng, 25)
    leads = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    for lead_id in rng.sample(leads, 10):
        lead_services.lead_update(
            lead_id=lead_id, actor=Actor(user=manager), source_detail=rng.choice(["partner", "google"])
        )
    Lead.objects.filter(pk__in=rng.sample(leads, 15)).update(owner=world["reps"][3])
    Lead.objects.filter(pk__in=rng.sample(leads, 10)).update(campaign=world["campaigns"][1], source_channel="event")
    Company.objects.filter(size="1-10").update(size="5000+")
    TeamMembership.objects.filter(rep=world["reps"][2]).update(team=world["teams"][0])
    assert FunnelChange.objects.exists()
    assert services.funnel_facts_refresh() > 0
    assert not FunnelChange.objects.exists()
    assert_equal_to_the_reference()

    # Merges: the duplicate's history moves to the survivor (and, when the duplicate is older,
    # its creation time and attribution too); the duplicate is deleted.
    with_history = list(LeadFunnel.objects.order_by("pk").values_list("pk", flat=True))
    for survivor_id, duplicate_id in zip(with_history[5:11:2], with_history[6:12:2], strict=True):
        lead_services.lead_merge(survivor_id=survivor_id, duplicate_id=duplicate_id, actor=Actor(user=manager))
    by_age = list(Lead.objects.filter(pk__in=with_history[20:40]).order_by("created_at").values_list("pk", flat=True))
    oldest, newest = by_age[0], by_age[-1]
    oldest_created = Lead.objects.get(pk=oldest).created_at
    lead_services.lead_merge(survivor_id=newest, duplicate_id=oldest, actor=Actor(user=manager))
    assert Lead.objects.get(pk=newest).created_at == oldest_created
    move_some_leads(rng, 10)
    services.funnel_facts_refresh()
    assert not LeadFunnel.objects.filter(pk=oldest).exists()
    assert_equal_to_the_reference()

    # The incremental store is the one a rebuild makes (zero rows dropped, nothing left over).
    incremental = stored()
    services.funnel_facts_rebuild()
    assert stored() == incremental


def test_the_report_applies_waiting_changes_before_reading(world, manager):
    from reporting.selectors_extra import funnel_report

    services.funnel_facts_refresh()
    start, end = PERIODS[0]
    before = funnel_report(start=start, end=end, mode=Mode.FLOW, breakdown="rep").total.count(Stage.MQL)
    lead = Lead.objects.filter(stage=Stage.LEAD).order_by("pk").first()
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("test"), at=BASE)
    Lead.objects.filter(pk=lead.pk).update(owner=world["reps"][0])
    report = funnel_report(start=start, end=end, mode=Mode.FLOW, breakdown="rep")
    assert report.total.count(Stage.MQL) == before + 1
    reference = funnel(start=start, end=end, mode=Mode.FLOW, breakdown="rep")
    assert [(row.key, [cell.count for cell in row.stages]) for row in report.rows] == [
        (row.key, [row.counts[stage] for stage in FUNNEL]) for row in reference.rows
    ]


def test_the_funnel_page_pins_its_queries_with_and_without_waiting_changes(
    client, manager, world, django_assert_num_queries
):
    client.force_login(manager)
    url = reverse("reporting:funnel") + "?from=2026-03-01&to=2026-05-31&breakdown=team"
    client.get(url)  # builds the store; warms caches
    # user, permissions, roles for the menu, the bell (the session is cached); then: are changes waiting,
    # the funnel, the team names
    with django_assert_num_queries(7):
        response = client.get(url)
    assert response.status_code == 200
    shown = response.context["data"]
    reference = funnel(start=shown.start, end=shown.end, mode=Mode.CREATED, breakdown="team")
    assert [line.count(Stage.MQL) for line in shown.rows] == [row.counts["mql"] for row in reference.rows]

    # A stage change waits: the page applies it first — in a fixed number of queries (savepoint,
    # lock, claim, old facts, delete, insert, new facts, count upsert, release), then reads. (One
    # more when a count row may have emptied: not here, the lead's first MQL only adds.)
    lead = Lead.objects.filter(stage=Stage.LEAD, pk__in=LeadFunnel.objects.filter(mql_at=None).values("pk")).first()
    lead_services.lead_transition(lead_id=lead.pk, to=Stage.MQL, actor=Actor.rule_named("test"), at=BASE)
    with django_assert_num_queries(7 + 9):
        response = client.get(url)
    assert shown.start <= lead.created_at < shown.end
    assert response.context["data"].total.count(Stage.MQL) == shown.total.count(Stage.MQL) + 1


def test_the_beat_task_runs_every_minute_and_applies_the_queue(world):
    assert settings.CELERY_BEAT_SCHEDULE["refresh-funnel-facts"] == {
        "task": "reporting.refresh_funnel_facts",
        "schedule": 60.0,
    }
    assert tasks.refresh_funnel_facts.name == "reporting.refresh_funnel_facts"
    tasks.refresh_funnel_facts.delay()  # eager in tests: the worker's code path
    assert FunnelFactsState.objects.get().built_at is not None
    move_some_leads(random.Random(3), 10)
    assert FunnelChange.objects.exists()
    tasks.refresh_funnel_facts.delay()
    assert not FunnelChange.objects.exists()
    assert_equal_to_the_reference(PERIODS[:1])


def test_the_rebuild_command_builds_the_store(world):
    out = StringIO()
    call_command("funnel_facts_rebuild", stdout=out)
    assert "Funnel facts rebuilt: 120 leads with stage history" in out.getvalue()
    assert not FunnelChange.objects.exists()
    assert_equal_to_the_reference(PERIODS[:2])


def test_seed_demo_builds_the_store_at_the_end():
    call_command("seed_demo", leads=150, stdout=StringIO())
    assert FunnelFactsState.objects.get().built_at is not None
    assert not FunnelChange.objects.exists()
    assert LeadFunnel.objects.count() == Lead.objects.filter(transitions__isnull=False).distinct().count()
    first = StageTransition.objects.order_by("at").first().at
    assert_equal_to_the_reference([(first - timedelta(days=1), first + timedelta(days=120))])
