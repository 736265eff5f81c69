"""The marketing review commitment on the MQL volume report: review time p50/p90 of the stays in
the queue a marketer ended, automatic hand-offs counted apart, the share reviewed within the review
policy's target, and the MQLs waiting past due now — the same numbers on the page, in the CSV and
in the API, per month and for the whole period, in a fixed number of queries.

Stays are made through the services (a lead reaching MQL starts its review clock; the queue's
decisions and the automatic hand-off end it); only their moments are moved, with `update`."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from handoff import automation, services
from handoff.models import (
    BusinessCalendar,
    ClosedDay,
    HandoffMode,
    ReviewAction,
    ReviewClock,
    ReviewEnd,
    ReviewPolicy,
    RoutingRule,
)
from leads.lifecycle import Stage
from reporting import selectors
from tests import factories

pytestmark = pytest.mark.django_db

FEB, MAR = datetime(2026, 2, 10, 12, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
PERIOD = {"from": "2026-02-01", "to": "2026-03-31"}
START, END = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
TARGET = 60  # minutes, on an always-open calendar: business time is wall time


@pytest.fixture
def review_policy(calendar_24x7):
    ReviewPolicy.objects.all().delete()  # the default one the migrations make
    return ReviewPolicy.objects.create(
        name="Within the hour", calendar=calendar_24x7, review_minutes=TARGET, overdue_action=ReviewAction.HAND_OFF
    )


def move(lead, *, start: datetime, minutes: float | None, due: float | None = TARGET) -> None:  # type: ignore[no-untyped-def]
    """Put the lead's (only) stay at `start`, ended `minutes` later (None: still waiting)."""
    ended = None if minutes is None else start + timedelta(minutes=minutes)
    due_at = None if due is None else start + timedelta(minutes=due)
    assert ReviewClock.objects.filter(lead=lead).update(started_at=start, ended_at=ended, due_at=due_at) == 1


@pytest.fixture
def stays(review_policy, team, marketer):  # type: ignore[no-untyped-def]
    """February: reviewed in 30, 50 and 120 minutes; handed off by a routing rule at once, and by
    the policy after the review was overdue (90 minutes). March: reviewed in 10 and 240 minutes;
    one left MQL another way after 100 minutes. Now: one waits past due, one within it."""
    RoutingRule.objects.create(name="Webinars, automatic", team=team, channels=["webinar"],
                               handoff_mode=HandoffMode.AUTOMATIC)  # fmt: skip

    def mql(**kwargs):  # type: ignore[no-untyped-def]
        return factories.lead_at_stage(Stage.MQL, **{"source_channel": "paid_search", **kwargs})

    handed = mql()
    services.lead_hand_off(lead_id=handed.pk, user=marketer)
    move(handed, start=FEB, minutes=30)
    nurtured = mql()
    services.lead_send_to_nurture(lead_id=nurtured.pk, user=marketer, reason_code="bad_timing")
    move(nurtured, start=FEB + timedelta(days=1), minutes=50)
    junk = mql()
    services.lead_disqualify_from_queue(lead_id=junk.pk, user=marketer, reason_code="student")
    move(junk, start=FEB + timedelta(days=2), minutes=120)

    by_rule = mql(source_channel="webinar")
    assert automation.leads_auto_hand_off(lead_ids=[by_rule.pk]).handed_off == 1
    move(by_rule, start=FEB + timedelta(days=3), minutes=0.2)
    overdue = mql()
    started = ReviewClock.objects.get(lead=overdue).started_at
    assert automation.review_sweep(now=started + timedelta(minutes=TARGET + 1))["handoffs_requested"] == 1
    assert automation.leads_auto_hand_off(lead_ids=[overdue.pk]).handed_off == 1
    move(overdue, start=FEB + timedelta(days=4), minutes=90)

    for day, minutes in ((0, 10), (1, 240)):
        lead = mql()
        services.lead_hand_off(lead_id=lead.pk, user=marketer)
        move(lead, start=MAR + timedelta(days=day), minutes=minutes)
    left = factories.lead_at_stage(Stage.SAL)  # through MQL to SAL without the queue
    move(left, start=MAR + timedelta(days=2), minutes=100)

    now = timezone.now()
    move(mql(), start=now - timedelta(hours=3), minutes=None)  # waiting past due
    move(mql(), start=now - timedelta(minutes=10), minutes=None)  # waiting, not yet due
    assert set(ReviewClock.objects.values_list("end", flat=True)) == {
        ReviewEnd.HANDED_OFF, ReviewEnd.NURTURE, ReviewEnd.DISQUALIFIED, ReviewEnd.AUTOMATIC, ReviewEnd.LEFT, "",
    }  # fmt: skip


# (reviewed, p50, p90, automatic, automatic after due, left, judged, within target) in minutes
FEBRUARY = (3, 50, 120, 2, 1, 0, 4, 2)  # judged: the three reviews and the overdue hand-off
MARCH = (2, 125, 240, 0, 0, 1, 3, 1)  # p50 of two: their mean; judged: two reviews and the late leaver
PERIOD_TOTAL = (5, 50, 240, 2, 1, 1, 7, 3)


def numbers(review: selectors.ReviewTimes) -> tuple:  # type: ignore[type-arg]
    b = review.business_minutes
    return (review.reviewed, b.p50, b.p90, review.automatic, review.automatic_late, review.left, review.judged,
            review.within_target)  # fmt: skip


def test_the_selector_counts_reviews_automatic_hand_offs_and_the_target(stays):
    result = selectors.review_commitment(start=START, end=END)
    assert numbers(result.months[FEB.date().replace(day=1)]) == FEBRUARY
    assert numbers(result.months[MAR.date().replace(day=1)]) == MARCH
    assert numbers(result.total) == PERIOD_TOTAL
    assert result.total.within_target_share == pytest.approx(3 / 7)
    assert (result.total.wall_minutes.p50, result.total.wall_minutes.p90) == (50, 240)  # 24×7: the same
    assert result.overdue_now == 1
    assert result.policy.review_minutes == TARGET


def test_the_page_shows_the_commitment_per_month_and_for_the_period(client, manager, stays):
    client.force_login(manager)
    response = client.get(reverse("reporting:marketing"), PERIOD)
    data = response.context["data"]
    # Neither month delivered MQLs (the leads were made today): the reviews still get their rows.
    assert [(m.month.month, m.delivered) for m in data.months] == [(2, 0), (3, 0)]
    assert [numbers(m.review) for m in data.months] == [FEBRUARY, MARCH]
    assert numbers(data.review) == PERIOD_TOTAL
    assert (data.review_overdue_now, data.review_target_minutes) == (1, TARGET)

    html = unescape(response.content.decode())
    tile = lambda testid: re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html).group(1)  # noqa: E731
    assert tile("review-p50") == "50 min"
    assert tile("review-within") == "43%"
    assert tile("review-automatic") == "automatic: 2"
    assert tile("review-overdue-now") == "1 waiting past due now"
    assert "3 of 7 within the 60 min business-time target" in html
    table = html[html.index('data-testid="review-table"') :]
    table = table[: table.index("</table>")]
    assert re.findall(r'<td class="text-end num">([^<]*)</td>', table) == [
        "3", "2", "50 min", "2.0 h",  # February
        "2", "0", "2.1 h", "4.0 h",  # March
        "5", "2", "50 min", "4.0 h",  # the whole period
    ]  # fmt: skip
    assert "1 of them after the review was due" in html

    # The chart: the same months, in business hours, with the target and the share within it.
    spec = json.loads(re.search(r'<script id="chart-review" type="application/json">(.*?)</script>', html).group(1))
    assert spec["labels"] == ["Feb 2026", "Mar 2026"]
    series = {dataset["label"]: dataset["data"] for dataset in spec["datasets"]}
    assert series == {
        "Median review time": [0.83, 2.08],
        "90th percentile": [2.0, 4.0],
        "Target": [1.0, 1.0],
        "Reviewed within target (%)": [50.0, 33.3],
    }
    assert '<canvas data-chart="chart-review"' in html


def test_the_csv_has_the_pages_numbers(client, manager, stays):
    client.force_login(manager)
    response = client.get(reverse("reporting:marketing"), {**PERIOD, "format": "csv", "table": "review"})
    assert response.status_code == 200
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert header[:4] == ["Month", "Reviewed by a marketer", "Median review, business time (minutes)",
                          "p90 review, business time (minutes)"]  # fmt: skip
    assert header[-3:] == ["Reviewed within target", "Within target (%)", "Waiting past due now"]
    assert rows == [
        ["2026-02-01", "3", "50.00", "120.00", "50.00", "120.00", "2", "1", "0", "4", "2", "50.00", ""],
        ["2026-03-01", "2", "125.00", "240.00", "125.00", "240.00", "0", "0", "1", "3", "1", "33.33", ""],
        ["Whole period", "5", "50.00", "240.00", "50.00", "240.00", "2", "1", "1", "7", "3", "42.86", "1"],
    ]


def test_the_api_has_the_pages_numbers(client, manager, stays):
    client.force_login(manager)
    body = client.get(reverse("api-report-marketing"), PERIOD).json()
    review = body["review"]
    assert review == {
        "reviewed": 5,
        "business_minutes": {"count": 5, "p50": 50.0, "p90": 240.0},
        "wall_minutes": {"count": 5, "p50": 50.0, "p90": 240.0},
        "automatic": 2,
        "automatic_late": 1,
        "left": 1,
        "judged": 7,
        "within_target": 3,
        "within_target_share": pytest.approx(3 / 7),
    }
    assert [(m["month"], m["review"]["reviewed"], m["review"]["business_minutes"]["p50"],
             m["review"]["within_target_share"]) for m in body["months"]] == [
        ("2026-02-01", 3, 50.0, 0.5), ("2026-03-01", 2, 125.0, pytest.approx(1 / 3)),
    ]  # fmt: skip
    assert (body["review_overdue_now"], body["review_target_minutes"]) == (1, TARGET)
    assert body["queue_review_hours"] == {"count": 5, "p50": pytest.approx(50 / 60), "p90": 4.0}


def test_review_time_is_counted_in_the_policys_business_hours(client, manager, team, marketer):
    """Friday 16:00 to Monday 10:00 is 66 wall-clock hours but two business hours, on a calendar
    open 09:00–17:00 on weekdays; a stay begun with no policy is timed on the wall clock only."""
    weekdays = BusinessCalendar.objects.create(
        name="Weekdays", time_zone="UTC", hours={str(d): [["09:00", "17:00"]] for d in range(5)}
    )
    ClosedDay.objects.create(calendar=weekdays, date=date(2026, 3, 9), label="Closed Monday")
    ReviewPolicy.objects.all().delete()
    ReviewPolicy.objects.create(name="Four business hours", calendar=weekdays, review_minutes=240)
    friday = datetime(2026, 3, 6, 16, tzinfo=UTC)
    lead = factories.lead_at_stage(Stage.MQL)
    services.lead_hand_off(lead_id=lead.pk, user=marketer)
    # Due Tuesday 12:00 (Monday is closed); reviewed Tuesday 10:00: 2 business hours, 90 on the wall.
    ReviewClock.objects.filter(lead=lead).update(
        started_at=friday, due_at=friday + timedelta(days=4, hours=-4), ended_at=friday + timedelta(days=4, hours=-6)
    )
    unpoliced = factories.lead_at_stage(Stage.MQL)
    services.lead_hand_off(lead_id=unpoliced.pk, user=marketer)
    ReviewClock.objects.filter(lead=unpoliced).update(
        policy=None, due_at=None, started_at=friday, ended_at=friday + timedelta(hours=1)
    )

    result = selectors.review_commitment(start=START, end=END)
    assert result.total.business_minutes.count == 1
    assert result.total.business_minutes.p50 == pytest.approx(120)
    assert sorted([result.total.wall_minutes.p50, result.total.wall_minutes.p90]) == [(60 + 90 * 60) / 2, 90 * 60]
    assert (result.total.judged, result.total.within_target) == (1, 1)  # the stay with no due time is not judged

    client.force_login(manager)
    html = unescape(client.get(reverse("reporting:marketing"), PERIOD).content.decode())
    assert 'data-testid="review-p50">2.0 h<' in html


def test_the_report_reads_a_fixed_number_of_queries(client, manager, stays, team, marketer,
                                                    django_assert_num_queries):  # fmt: skip
    client.force_login(manager)
    path = reverse("reporting:marketing")
    client.get(path, PERIOD)  # warm the session and content types
    # the user, the permissions, the roles for the menu, the unread notifications; first MQLs,
    # targets; review policies with calendars, their closed days, the stays, the overdue count
    with django_assert_num_queries(10) as few:
        assert client.get(path, PERIOD).status_code == 200
    # More stays over more months, another policy with a calendar of its own and closed days.
    other = BusinessCalendar.objects.create(name="Berlin", time_zone="Europe/Berlin", hours={"0": [["09:00", "17:00"]]})
    ClosedDay.objects.create(calendar=other, date=date(2026, 1, 5))
    old = ReviewPolicy.objects.create(name="Old", calendar=other, review_minutes=30, is_active=False)
    for month in (1, 2, 3):
        for minutes in (5, 50, 500):
            lead = factories.lead_at_stage(Stage.MQL)
            services.lead_hand_off(lead_id=lead.pk, user=marketer)
            ReviewClock.objects.filter(lead=lead).update(policy=old)
            move(lead, start=datetime(2026, month, 12, 9, tzinfo=UTC), minutes=minutes, due=30)
    with django_assert_num_queries(len(few)):
        response = client.get(path, {"from": "2026-01-01", "to": "2026-03-31"})
    assert [m.review.reviewed for m in response.context["data"].months] == [3, 6, 5]
