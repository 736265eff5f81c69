"""The report pages: who may read them, numbers equal to the report selectors', drill-down links that
open exactly the leads behind a number, CSV exports, bad filters, and fixed query counts."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from handoff import services
from handoff.models import MqlTarget, Team, TeamMembership
from leads.lifecycle import Stage
from leads.models import Lead
from reporting import selectors
from reporting.forms import ReportFilterForm, preset_dates
from reporting.funnel import Mode, funnel
from reporting.services import funnel_facts_refresh
from tests import factories
from tests.factories import CampaignFactory, qualified_bant
from tests.reporting import histories as h

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 1, tzinfo=UTC)
FROM, TO = "2026-03-05", "2026-04-20"  # inside the generated histories (created over 60 days from BASE)
START, END = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 4, 21, tzinfo=UTC)
PERIOD = {"from": FROM, "to": TO}

PAGES = {
    "funnel": "reporting:funnel",
    "velocity": "reporting:velocity",
    "sla": "reporting:sla",
    "marketing": "reporting:marketing",
    "feedback": "reporting:feedback",
    "reps": "reporting:reps",
}
MARKETER_PAGES = {"funnel", "velocity", "marketing", "feedback"}


def url(name: str, **params: str) -> str:
    from urllib.parse import urlencode

    return reverse(PAGES[name]) + (f"?{urlencode(params)}" if params else "")


def lead_list_total(client, link: str) -> int:  # type: ignore[no-untyped-def]
    response = client.get(link)
    assert response.status_code == 200, link
    assert not response.context["filter_errors"], (link, response.context["form"].errors)
    assert not response.context["total_capped"]
    return response.context["total"]


@pytest.fixture
def generated(db):  # type: ignore[no-untyped-def]
    """Random stage histories (recycles, skips, disqualifications) over leads with a channel, a
    company size, and — for some — a campaign and an owner in a team."""
    histories, created = h.build(31, 90, BASE)
    rng = random.Random(31)
    campaigns = [CampaignFactory(name="Spring webinar"), CampaignFactory(name="Paid search Q1")]
    reps = [factories.sdr(username=f"rep{i}") for i in range(3)]
    north = Team.objects.create(name="North")
    south = Team.objects.create(name="South")
    TeamMembership.objects.create(team=north, rep=reps[0])
    TeamMembership.objects.create(team=north, rep=reps[1])
    TeamMembership.objects.create(team=south, rep=reps[2])
    for lead_id in histories:
        Lead.objects.filter(pk=lead_id).update(
            campaign=rng.choice([*campaigns, None]),
            owner=rng.choice([*reps, None]),
            source_detail=rng.choice(["google", "linkedin", ""]),
        )
    return histories, created


@pytest.fixture
def handoffs(marketer, manager, team, reps, mql):  # type: ignore[no-untyped-def]
    """Hand-offs through the services: touched in time, late, never; rejected; qualified."""
    from handoff.models import SlaClock

    rng = random.Random(5)
    for index in range(8):
        lead = mql(source_channel=rng.choice(["paid_search", "webinar"]))
        if index == 7:
            services.lead_disqualify_from_queue(lead_id=lead.pk, user=marketer, reason_code="student")
            continue
        assignment = services.lead_hand_off(lead_id=lead.pk, user=marketer)
        rep = assignment.rep
        if index % 4 == 3:
            continue  # never touched: breaches once due
        services.touch_log(lead_id=lead.pk, user=rep, kind="call")
        if index % 4 == 2:
            SlaClock.objects.filter(pk=assignment.clock.pk).update(
                first_touch_at=assignment.clock.started_at + timedelta(minutes=90)
            )
        if index % 4 == 1:
            services.lead_reject(lead_id=lead.pk, user=rep, to=Stage.RECYCLED, reason_code="no_budget")
        elif index % 4 == 0:
            services.call_log(lead_id=lead.pk, user=rep, data=qualified_bant())
    MqlTarget.objects.create(month=timezone.localdate().replace(day=1), target=10)


def today_period() -> dict[str, str]:
    today = timezone.localdate()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


# --- Who may read what ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PAGES))
def test_anonymous_people_are_sent_to_sign_in(client, name):
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("role", ["marketer", "sdr", "manager", "no_role_user"])
def test_permission_matrix(client, request, name, role):
    client.force_login(request.getfixturevalue(role))
    allowed = role == "manager" or (role == "marketer" and name in MARKETER_PAGES)
    assert client.get(url(name)).status_code == (200 if allowed else 403)
    assert client.get(url(name, format="csv")).status_code == (200 if allowed else 403)


def test_the_report_tabs_show_only_the_reports_the_user_may_read(client, marketer, manager):
    client.force_login(marketer)
    tabs = [tab["info"].name for tab in client.get(url("funnel")).context["tabs"]]
    assert tabs == ["funnel", "velocity", "marketing", "feedback"]
    client.force_login(manager)
    tabs = [tab["info"].name for tab in client.get(url("funnel", period="7d", breakdown="rep")).context["tabs"]]
    assert tabs == ["funnel", "velocity", "sla", "marketing", "feedback", "reps"]
    links = {
        tab["info"].name: tab["url"] for tab in client.get(url("funnel", period="7d", breakdown="rep")).context["tabs"]
    }
    assert links["velocity"] == url("velocity", period="7d", breakdown="rep")  # the period and breakdown travel
    assert links["sla"] == url("sla", period="7d")


# --- The funnel -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode.ALL))
def test_funnel_page_shows_the_selectors_numbers(client, manager, generated, mode):
    client.force_login(manager)
    response = client.get(url("funnel", **PERIOD, mode=mode))
    expected = funnel(start=START, end=END, mode=mode)
    report = response.context["data"]
    assert {cell.stage: cell.count for cell in report.total.stages} == expected.total.counts
    assert [cell.conversion for cell in report.total.stages][1:] == list(expected.total.conversions.values())
    assert report.total.overall == expected.total.overall
    html = unescape(response.content.decode())
    for stage, count in expected.total.counts.items():
        assert f'data-testid="stage-{stage}" title="See these leads in the lead list">{count:,}</a>' in html
    assert "How these numbers are counted" in html
    assert 'data-chart="chart-funnel"' in html
    assert 'id="chart-funnel"' in html


@pytest.mark.parametrize("mode", [Mode.CREATED, Mode.MQL])
def test_every_funnel_bar_links_to_exactly_its_leads(client, manager, generated, mode):
    client.force_login(manager)
    report = client.get(url("funnel", **PERIOD, mode=mode)).context["data"]
    assert report.total.count(Stage.MQL) > 0
    for cell in report.total.stages:
        assert lead_list_total(client, cell.leads_url) == cell.count, (mode, cell.stage)


def test_flow_links_open_the_distinct_leads_that_made_the_entries(client, manager, generated):
    histories, _ = generated
    client.force_login(manager)
    report = client.get(url("funnel", **PERIOD, mode="flow")).context["data"]
    for cell in report.total.stages:
        distinct = sum(
            1
            for walk in histories.values()
            if any(START <= at < END and cell.stage in [s.value for s in h.passed_stages(f, t)] for f, t, at in walk)
        )
        assert lead_list_total(client, cell.leads_url) == distinct <= cell.count


@pytest.mark.parametrize("breakdown", ["channel", "source", "campaign", "segment", "team", "rep"])
def test_breakdown_rows_equal_the_selector_and_link_to_their_leads(client, manager, generated, breakdown):
    client.force_login(manager)
    response = client.get(url("funnel", **PERIOD, breakdown=breakdown))
    report = response.context["data"]
    expected = funnel(start=START, end=END, mode=Mode.CREATED, breakdown=breakdown)
    assert [(row.key, {c.stage: c.count for c in row.stages}) for row in report.rows] == [
        (row.key, row.counts) for row in expected.rows
    ]
    assert [row.mql_to_sql for row in report.rows] == [row.mql_to_sql for row in expected.rows]
    for row in report.rows:
        if not row.linkable:
            assert row.key == ""
            assert breakdown != "rep"
            continue
        for cell in row.stages:
            if cell.stage in ("lead", "mql", "sql"):
                assert lead_list_total(client, cell.leads_url) == cell.count, (breakdown, row.key, cell.stage)
    labels = {row.key: row.label for row in report.rows}
    if breakdown == "campaign":
        assert set(labels.values()) <= {"Spring webinar", "Paid search Q1", "No campaign"}
    if breakdown == "team":
        assert set(labels.values()) <= {"North", "South", "No team"}
    if breakdown == "channel":
        assert set(labels.values()) <= {"Paid search", "Webinar", "Events"}


def test_best_and_worst_groups_are_marked_among_groups_with_enough_mqls(client, manager, generated):
    client.force_login(manager)
    report = client.get(url("funnel", **PERIOD, breakdown="channel")).context["data"]
    ranked = [row for row in report.rows if row.mql_to_sql is not None and row.count("mql") >= 5]
    rates = {row.mql_to_sql for row in ranked}
    if len(rates) >= 2:
        assert {row.key for row in report.rows if row.rank == "best"} == {
            row.key for row in ranked if row.mql_to_sql == max(rates)
        }
        assert {row.key for row in report.rows if row.rank == "worst"} == {
            row.key for row in ranked if row.mql_to_sql == min(rates)
        }
    assert all(not row.rank for row in report.rows if row not in ranked)


# --- Velocity and stalls ----------------------------------------------------------------------------


def test_velocity_page_shows_the_selectors_numbers_and_links(client, manager, generated):
    client.force_login(manager)
    report = client.get(url("velocity", **PERIOD, breakdown="segment")).context["data"]
    total, rows = selectors.velocity(start=START, end=END, breakdown="segment")
    for step in report.total.steps:
        assert (step.count, step.p50_hours, step.p90_hours) == (
            total.steps[step.step].count,
            total.steps[step.step].p50,
            total.steps[step.step].p90,
        )
        assert lead_list_total(client, step.leads_url) == step.count
    assert [row.key for row in report.rows] == [row.key for row in rows]
    for line, expected in zip(report.rows, rows, strict=True):
        assert [s.count for s in line.steps] == [expected.steps[s.step].count for s in line.steps]
        if line.key:
            assert lead_list_total(client, line.steps[2].leads_url) == line.steps[2].count


def test_stalls_link_to_the_open_leads_of_each_stage(client, manager, generated):
    client.force_login(manager)
    report = client.get(url("velocity")).context["data"]
    expected = {row.stage: row for row in selectors.stalls()}
    for row in report.stalls:
        assert row.count == expected[row.stage].count
        assert row.p50_days == pytest.approx(expected[row.stage].p50_days, abs=0.01)
        assert lead_list_total(client, row.leads_url) == row.count


# --- SLA, marketing, feedback, reps ------------------------------------------------------------------


def test_sla_page_shows_the_selectors_numbers(client, manager, handoffs):
    client.force_login(manager)
    response = client.get(url("sla", **today_period()))
    report = response.context["data"]
    today = timezone.localdate()
    expected = selectors.sla_summary(
        start=datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=timezone.get_current_timezone()),
        end=datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=timezone.get_current_timezone()),
    )
    s = report.summary
    assert (s.handed_off, s.touched_in_time, s.touched_late, s.breached_untouched, s.running) == (
        expected.handed_off,
        expected.touched_in_time,
        expected.touched_late,
        expected.breached_untouched,
        expected.running,
    )
    assert s.handed_off == 7
    assert s.touched_in_time == 4
    assert s.touched_late == 2
    assert [(g.key, g.handed_off, g.breaches) for g in report.by_rep] == [
        (str(e["key"]), e["handed_off"], e["breaches"]) for e in expected.by_rep
    ]
    assert sum(w.handed_off for w in report.weekly) == 7
    html = unescape(response.content.decode())
    assert "Touched within SLA" in html
    assert "Breaches by rep" in html
    assert 'id="chart-weekly"' in html


def test_marketing_page_compares_mqls_with_the_target_and_links_each_month(client, manager, handoffs):
    client.force_login(manager)
    response = client.get(url("marketing", period="this_month"))
    report = response.context["data"]
    month = timezone.localdate().replace(day=1)
    row = next(m for m in report.months if m.month == month)
    assert (row.delivered, row.target) == (8, 10)
    assert row.attainment == pytest.approx(0.8)
    assert lead_list_total(client, row.leads_url) == 8
    assert report.review.reviewed == 8  # seven hand-offs and one disqualification from the queue
    params = response.context["params"]
    assert params.first_day == month
    assert params.last_day.month == month.month


def test_feedback_page_shows_the_selectors_numbers(client, manager, handoffs):
    client.force_login(manager)
    report = client.get(url("feedback", **today_period(), by="channel")).context["data"]
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    expected = selectors.feedback(
        start=datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=tz),
        end=datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz),
        by="channel",
    )
    assert report.reasons == expected["reasons"] == ["No budget", "Student"]
    assert [(r.key, r.by_reason, r.sales_rejected, r.handed_off, r.sales_reject_share) for r in report.rows] == [
        (e["key"], e["reasons"], e["sales_rejected"], e["handed_off"], e["sales_reject_share"])
        for e in expected["rows"]
    ]
    assert report.total.sales_rejected == 2
    assert report.total.handed_off == 7


def test_reps_page_shows_the_leaderboard(client, manager, handoffs, reps):
    client.force_login(manager)
    rows = client.get(url("reps", **today_period())).context["data"]
    now = timezone.now()
    expected = selectors.leaderboard(start=now - timedelta(days=2), end=now + timedelta(days=2))
    assert [(r.rep_id, r.assigned, r.touches, r.calls, r.sqls) for r in rows] == [
        (e["rep"].pk, e["assigned"], e["touches"], e["calls"], e["sqls"]) for e in expected
    ]
    assert sum(r.sqls for r in rows) == 2


# --- CSV ------------------------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_funnel_csv_has_a_header_and_plain_numbers(client, manager, generated):
    client.force_login(manager)
    response = client.get(url("funnel", **PERIOD, mode="mql", breakdown="channel", format="csv"))
    assert response["Content-Disposition"] == (
        'attachment; filename="baton-funnel-stages-mql-channel-2026-03-05-to-2026-04-20.csv"'
    )
    rows = read_csv(response)
    expected = funnel(start=START, end=END, mode=Mode.MQL)
    assert rows[0] == ["Stage", "Leads", "Conversion from previous stage (%)", "Share of first stage (%)"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == [(Stage(s).label, n) for s, n in expected.total.counts.items()]
    sql = rows[4]
    rate = expected.total.conversions["sql"]
    assert sql[2] == (f"{rate * 100:.2f}" if rate is not None else "")

    response = client.get(url("funnel", **PERIOD, breakdown="channel", format="csv", table="breakdown"))
    rows = read_csv(response)
    assert rows[0][:4] == ["Key", "Group", "Lead", "MQL"]
    assert rows[0][-2:] == ["MQL→SQL (%)", "Overall (%)"]
    by_channel = funnel(start=START, end=END, mode=Mode.CREATED, breakdown="channel")
    assert {r[0]: [int(v) for v in r[2:8]] for r in rows[1:]} == {
        row.key: list(row.counts.values()) for row in by_channel.rows
    }


@pytest.mark.parametrize(
    ("name", "tables"),
    [
        ("velocity", ["velocity", "stalls"]),
        ("sla", ["outcomes", "response", "reps", "teams", "policies", "weekly"]),
        ("marketing", ["volume", "review"]),
        ("feedback", ["reasons"]),
        ("reps", ["reps"]),
    ],
)
def test_every_table_downloads_as_csv(client, manager, handoffs, name, tables):
    client.force_login(manager)
    for table in tables:
        response = client.get(url(name, **today_period(), format="csv", table=table))
        rows = read_csv(response)
        assert rows[0], table  # a header row
        assert all(rows[0]), table  # every column named
        assert f"baton-{name}-{table}" in response["Content-Disposition"]
        page = client.get(url(name, **today_period()))
        assert len(rows) - 1 == len(page.context["tables"][table].rows)
    assert client.get(url(name, format="csv", table="nope")).status_code == 404


def test_csv_of_the_reps_table_matches_the_page(client, manager, handoffs):
    client.force_login(manager)
    rows = read_csv(client.get(url("reps", **today_period(), format="csv")))
    page = client.get(url("reps", **today_period())).context["data"]
    assert [[r[0], int(r[2]), int(r[5])] for r in rows[1:]] == [[r.name, r.assigned, r.sqls] for r in page]


def test_csv_with_bad_filters_is_refused_naming_the_field(client, manager):
    client.force_login(manager)
    response = client.get(url("funnel", mode="weekly", format="csv"))
    assert response.status_code == 400
    assert "mode" in response.content.decode()
    assert "weekly" in response.content.decode()


def test_csv_quotes_cells_a_spreadsheet_would_run(client, manager):
    from reporting.exports import Column, Table, csv_response

    response = csv_response(
        Table("t", "T", [Column("Name", "text"), Column("N")], [["=HYPERLINK(1)", 3]]), filename="t.csv"
    )
    assert response.content.decode().splitlines() == ["Name,N", "'=HYPERLINK(1),3"]


# --- Bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"mode": "weekly"}, "Count", "“weekly” is not a mode"),
        ({"breakdown": "colour"}, "Break down by", "“colour” is not a breakdown"),
        ({"period": "fortnight"}, "Period", "“fortnight” is not a period"),
        ({"from": "2026-02-30"}, "From", "“2026-02-30” is not one"),
        ({"from": "2026-04-01", "to": "2026-03-01"}, "From", "is after “To”"),
        ({"period": "custom", "to": "2026-03-01"}, "From", "Give a start date"),
        ({"from": "1899-01-01"}, "From", "must be between"),
    ],
)
def test_bad_filters_show_an_error_naming_the_field_and_the_page_uses_defaults(client, manager, params, field, words):
    client.force_login(manager)
    response = client.get(url("funnel", **params))
    assert response.status_code == 200
    assert any(words in message for f, message in response.context["form_errors"] if f == field)
    html = unescape(response.content.decode())
    assert "Some filters could not be used" in html
    assert words in html
    used = response.context["params"]
    if field in ("Period", "From"):
        assert (used.period, used.last_day - used.first_day) == ("30d", timedelta(days=29))
    if field == "Count":
        assert used.mode == "created"
    if field == "Break down by":
        assert used.breakdown == ""


def test_period_presets_and_custom_dates():
    today = date(2026, 5, 14)
    assert preset_dates("7d", today) == (date(2026, 5, 8), today)
    assert preset_dates("this_month", today) == (date(2026, 5, 1), today)
    assert preset_dates("last_month", today) == (date(2026, 4, 1), date(2026, 4, 30))
    assert preset_dates("this_quarter", today) == (date(2026, 4, 1), today)
    assert preset_dates("90d", today) == (date(2026, 2, 14), today)
    params = ReportFilterForm({"from": "2026-01-10"}, today=today).resolve()
    assert (params.period, params.first_day, params.last_day) == ("custom", date(2026, 1, 10), today)
    params = ReportFilterForm({"period": "last_month", "from": "2020-01-01"}, today=today).resolve()
    assert (params.first_day, params.last_day) == (date(2026, 4, 1), date(2026, 4, 30))  # the preset wins
    assert params.whole_months().last_day == date(2026, 4, 30)
    assert ReportFilterForm({"from": "2026-02-10", "to": "2026-02-11"}, today=today).resolve().whole_months() \
        .last_day == date(2026, 2, 28)  # fmt: skip
    end = ReportFilterForm({"from": "2026-03-29", "to": "2026-03-29"}).resolve().end
    assert end - ReportFilterForm({"from": "2026-03-29", "to": "2026-03-29"}).resolve().start == timedelta(days=1)


# --- Query counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "queries"),
    [
        # session, user, 2 × permissions, the roles for the menu, the unread notifications for the
        # bell, then the report's own queries
        # the funnel: whether changes wait for its pre-aggregation, then one statement reading it
        # (applying waiting changes: tests/reporting/test_funnel_facts.py)
        ("funnel", {"mode": "created"}, 8),
        ("funnel", {"mode": "mql", "breakdown": "campaign"}, 9),  # + campaign names
        ("funnel", {"mode": "flow", "breakdown": "rep"}, 9),  # + rep names
        # velocity, team names; stalls: 1 + 2 per open stage that has leads (at most 6 stages: 20 in all)
        ("velocity", {"breakdown": "team"}, 17),
        ("sla", {}, 9),  # clocks with rep, team, policy and calendar; the calendar's closed days; rep names
        # first MQLs, targets; the review commitment: review policies with their calendars, the
        # calendars' closed days, the stays that ended, the count waiting past due now
        ("marketing", {}, 12),
        ("feedback", {"by": "campaign"}, 8),  # rejections, hand-offs
        ("reps", {}, 12),  # reps, assigned, touches, calls, SQLs, response times
    ],
)
def test_each_page_runs_a_fixed_number_of_queries(
    client, manager, generated, handoffs, django_assert_max_num_queries, name, params, queries
):
    client.force_login(manager)
    client.get(url(name, **params))  # warm caches (content types, the session)
    with django_assert_max_num_queries(queries):
        assert client.get(url(name, **{"from": "2026-03-01"}, **params)).status_code == 200
    # The same count with more data.
    h.build(32, 40, BASE)
    for _ in range(3):
        lead = factories.lead_at_stage(Stage.MQL)
        services.lead_hand_off(lead_id=lead.pk, user=factories.marketer(username=f"m{lead.pk}"))
    funnel_facts_refresh()  # what the beat task does every minute
    with django_assert_max_num_queries(queries):
        assert client.get(url(name, **{"from": "2026-03-01"}, **params)).status_code == 200


def test_csv_links_carry_the_parameters_the_page_used(client, manager, generated):
    client.force_login(manager)
    response = client.get(url("funnel", **PERIOD, breakdown="channel", mode="weekly"))  # a bad mode: default
    html = unescape(response.content.decode())
    link = f"?from={FROM}&to={TO}&mode=created&breakdown=channel&format=csv&table=breakdown"
    assert f'href="{link}"' in html
    assert client.get(reverse("reporting:funnel") + link).status_code == 200
    preset = unescape(client.get(url("velocity", period="7d", breakdown="team")).content.decode())
    assert 'href="?period=7d&breakdown=team&format=csv&table=stalls"' in preset
