"""Business-time arithmetic: working hours per weekday, a time zone, public holidays (from the
`holidays` library), and custom closed days.

Windows are built in the calendar's local time and all durations are measured in UTC, so a
daylight-saving change shortens or lengthens the day exactly as the clock on the wall does.
Example: with 09:00–17:00 Monday to Friday, a lead handed off Friday 16:30 with a one-hour
target is due Monday 09:30 (or Tuesday 09:30 when Monday is a holiday).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib

MAX_DAYS_AHEAD = 3 * 366  # a calendar with no open day in three years is a configuration error

# A window may close at midnight, the end of its day: written "24:00", or "00:00" as a time input
# gives it (so "00:00"–"00:00" is the whole day and seven of them are round the clock, with no
# minute lost at each midnight). Parsed to this, which sorts after every other time of the day.
END_OF_DAY = time.max
MIDNIGHT_ENDS = frozenset({"24:00", "00:00"})


class CalendarError(ValueError):
    def __init__(self, message: str, *, field: str = "hours") -> None:
        super().__init__(message)
        self.field = field


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    try:
        found = holidays_lib.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError as exc:
        raise CalendarError(f"No public holiday data for “{country}”.", field="holiday_country") from exc
    return frozenset(found.keys())


def clock_text(moment: time) -> str:
    """A window's time as stored and shown: "09:00", and "24:00" for midnight at the day's end."""
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


def parse_hours(raw: Mapping[str, Sequence[Sequence[str]]]) -> dict[int, tuple[tuple[time, time], ...]]:
    """{"0": [["09:00", "17:00"]]} -> {0: ((09:00, 17:00),)}; refuses bad or overlapping windows."""
    parsed: dict[int, tuple[tuple[time, time], ...]] = {}
    for key, windows in (raw or {}).items():
        try:
            weekday = int(key)
        except (TypeError, ValueError) as exc:
            raise CalendarError(f"“{key}” is not a weekday number (0 = Monday … 6 = Sunday).") from exc
        if not 0 <= weekday <= 6:
            raise CalendarError(f"Weekday {weekday} is out of range (0 = Monday … 6 = Sunday).")
        spans = []
        for window in windows:
            try:
                opening, closing = window
                start = time.fromisoformat(opening)
                end = END_OF_DAY if closing in MIDNIGHT_ENDS else time.fromisoformat(closing)
            except (TypeError, ValueError) as exc:
                raise CalendarError(f'“{window}” is not a window like ["09:00", "17:00"].') from exc
            if start >= end:
                raise CalendarError(f"A working window must end after it starts ({start:%H:%M}–{end:%H:%M}).")
            spans.append((start, end))
        spans.sort()
        for (_, previous_end), (next_start, _) in pairwise(spans):
            if next_start < previous_end:
                raise CalendarError("Working windows of one day must not overlap.")
        if spans:
            parsed[weekday] = tuple(spans)
    return parsed


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    holiday_country: str = ""
    holiday_subdivision: str = ""
    closed_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        *,
        time_zone: str,
        hours: Mapping[str, Any],
        holiday_country: str = "",
        holiday_subdivision: str = "",
        closed_days: frozenset[date] = frozenset(),
    ) -> Calendar:
        try:
            tz = ZoneInfo(time_zone)
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"“{time_zone}” is not a time zone.", field="time_zone") from exc
        return cls(tz, parse_hours(hours), str(holiday_country or ""), holiday_subdivision or "", closed_days)

    @classmethod
    def from_model(cls, calendar: Any) -> Calendar:
        return cls.build(
            time_zone=calendar.time_zone,
            hours=calendar.hours,
            holiday_country=str(calendar.holiday_country or ""),
            holiday_subdivision=calendar.holiday_subdivision,
            closed_days=frozenset(calendar.closed_days.values_list("date", flat=True)),
        )

    def is_open_day(self, day: date) -> bool:
        if day.weekday() not in self.hours or day in self.closed_days:
            return False
        if not self.holiday_country:
            return True
        return day not in _public_holidays(self.holiday_country, self.holiday_subdivision, day.year)

    def windows(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The day's working windows as UTC datetimes."""
        if not self.is_open_day(day):
            return
        for start, end in self.hours[day.weekday()]:
            closing = (
                datetime.combine(day + timedelta(days=1), time.min, tzinfo=self.tz)
                if end == END_OF_DAY
                else datetime.combine(day, end, tzinfo=self.tz)
            )
            yield datetime.combine(day, start, tzinfo=self.tz).astimezone(UTC), closing.astimezone(UTC)

    def _days_from(self, moment: datetime) -> Iterator[date]:
        # Start a day early: in UTC a local window may begin on the previous date.
        day = moment.astimezone(self.tz).date() - timedelta(days=1)
        for offset in range(MAX_DAYS_AHEAD):
            yield day + timedelta(days=offset)
        raise CalendarError("This calendar has no working hours in the next three years.")

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` business minutes after `start`."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        cursor = start.astimezone(UTC)
        remaining = timedelta(minutes=minutes)
        if not remaining:
            return cursor
        for day in self._days_from(cursor):
            for window_start, window_end in self.windows(day):
                if window_end <= cursor:
                    continue
                begin = max(window_start, cursor)
                available = window_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        raise CalendarError("unreachable")  # pragma: no cover - _days_from raises first

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """Business minutes from `start` to `end` (0 when end is not after start)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return 0.0
        total = timedelta()
        for day in self._days_from(start):
            if datetime.combine(day, time.min, tzinfo=self.tz).astimezone(UTC) > end:
                break
            for window_start, window_end in self.windows(day):
                overlap = min(window_end, end) - max(window_start, start)
                if overlap > timedelta():
                    total += overlap
        return total.total_seconds() / 60
