"""Business-time arithmetic: weekends, holidays, time zones, DST. No database needed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.business_time import Calendar, CalendarError

NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(5)}
NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


def calendar(tz="America/New_York", hours=None, country="", closed=()):
    return Calendar.build(
        time_zone=tz, hours=hours or NINE_TO_FIVE, holiday_country=country, closed_days=frozenset(closed)
    )


def local(tz, *args):
    return datetime(*args, tzinfo=tz)


def test_friday_afternoon_plus_an_hour_is_monday_morning():
    due = calendar().add_minutes(local(NY, 2026, 11, 20, 16, 30), 60)  # a Friday
    assert due == local(NY, 2026, 11, 23, 9, 30)


def test_saturday_handoff_starts_counting_on_monday():
    assert calendar().add_minutes(local(NY, 2026, 11, 21, 11, 0), 30) == local(NY, 2026, 11, 23, 9, 30)


def test_before_opening_counts_from_opening():
    assert calendar().add_minutes(local(NY, 2026, 11, 18, 6, 0), 15) == local(NY, 2026, 11, 18, 9, 15)


def test_public_holidays_are_closed():
    # Thanksgiving 2026 is Thursday 26 November; the Friday after is a normal working day.
    due = calendar(country="US").add_minutes(local(NY, 2026, 11, 25, 16, 0), 120)
    assert due == local(NY, 2026, 11, 27, 10, 0)


def test_custom_closed_days_are_closed():
    due = calendar(closed=[date(2026, 11, 23)]).add_minutes(local(NY, 2026, 11, 20, 16, 30), 60)
    assert due == local(NY, 2026, 11, 24, 9, 30)


def test_time_zones_use_the_calendars_local_hours():
    # 15:30 UTC is 16:30 in Paris: half an hour left that day.
    due = calendar(tz="Europe/Paris").add_minutes(datetime(2026, 11, 18, 15, 30, tzinfo=UTC), 60)
    assert due == local(PARIS, 2026, 11, 19, 9, 30)


def test_spring_forward_night_does_not_change_a_working_day():
    # US DST starts Sunday 8 March 2026; Friday 16:00 + 2h business = Monday 10:00 local.
    due = calendar().add_minutes(local(NY, 2026, 3, 6, 16, 0), 120)
    assert due == local(NY, 2026, 3, 9, 10, 0)
    assert due.astimezone(UTC).hour == 14  # EDT is UTC-4 on Monday, EST was UTC-5 on Friday


def test_a_window_across_a_dst_change_is_as_long_as_the_wall_clock_says():
    # A 24-hour support desk open all Sunday: on 8 March 2026 that day has 23 hours in New York.
    all_day = {"6": [["00:00", "23:59"]]}
    cal = calendar(hours=all_day)
    minutes = cal.minutes_between(local(NY, 2026, 3, 8, 0, 0), local(NY, 2026, 3, 8, 23, 59))
    assert minutes == 24 * 60 - 1 - 60  # 23:59 on the wall, one hour of which never happened


def test_a_window_closing_at_midnight_runs_into_the_next_day_without_a_gap():
    round_the_clock = {str(day): [["00:00", "24:00"]] for day in range(7)}
    cal = calendar(tz="UTC", hours=round_the_clock)
    evening = datetime(2026, 12, 6, 23, 15, tzinfo=UTC)
    assert cal.add_minutes(evening, 60) == evening + timedelta(hours=1)
    assert cal.minutes_between(evening, evening + timedelta(days=3)) == 3 * 24 * 60
    late_shift = calendar(hours={"0": [["18:00", "00:00"]], "1": [["00:00", "02:00"]]})  # "00:00" as an end: midnight
    assert late_shift.add_minutes(local(NY, 2026, 11, 23, 23, 0), 120) == local(NY, 2026, 11, 24, 1, 0)


def test_a_window_cannot_open_at_midnight_at_the_end_of_the_day():
    with pytest.raises(CalendarError, match="is not a window like"):
        calendar(hours={"0": [["24:00", "24:00"]]})


def test_minutes_between_skips_nights_and_weekends():
    cal = calendar()
    assert cal.minutes_between(local(NY, 2026, 11, 20, 16, 30), local(NY, 2026, 11, 23, 9, 30)) == 60
    assert cal.minutes_between(local(NY, 2026, 11, 23, 10, 0), local(NY, 2026, 11, 23, 9, 0)) == 0


def test_split_shifts():
    cal = calendar(hours={"0": [["09:00", "12:00"], ["13:00", "17:00"]]})
    assert cal.add_minutes(local(NY, 2026, 11, 23, 11, 30), 60) == local(NY, 2026, 11, 23, 13, 30)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"7": [["09:00", "17:00"]]}, "out of range"),
        ({"0": [["17:00", "09:00"]]}, "end after it starts"),
        ({"0": [["09:00", "13:00"], ["12:00", "17:00"]]}, "must not overlap"),
        ({"0": [["9am", "5pm"]]}, "not a window"),
        ({"mon": [["09:00", "17:00"]]}, "not a weekday number"),
    ],
)
def test_bad_calendars_are_refused_with_a_clear_message(hours, message):
    with pytest.raises(CalendarError, match=message):
        calendar(hours=hours)


def test_a_calendar_that_is_never_open_is_an_error():
    with pytest.raises(CalendarError, match="no working hours"):
        Calendar.build(time_zone="UTC", hours={}).add_minutes(datetime(2026, 1, 1, tzinfo=UTC), 5)


def test_unknown_time_zone():
    with pytest.raises(CalendarError, match="not a time zone"):
        calendar(tz="Mars/Olympus")


moments = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds; values get UTC
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=200, deadline=None)
@given(start=moments, a=st.integers(0, 5000), b=st.integers(0, 5000), tz=st.sampled_from(
    ["America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Sydney"]))  # fmt: skip
def test_adding_is_monotonic_and_inverts_minutes_between(start, a, b, tz):
    cal = calendar(tz=tz, country="US")
    first, second = cal.add_minutes(start, a), cal.add_minutes(start, a + b)
    assert start <= first <= second
    assert cal.minutes_between(start, second) == pytest.approx(a + b, abs=1e-6)
    assert cal.add_minutes(first, b) == second or b == 0 or cal.minutes_between(first, second) == pytest.approx(b)
    assert second - start >= timedelta(minutes=a + b)
