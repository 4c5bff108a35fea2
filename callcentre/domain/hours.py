"""Opening hours in council time. Pure and timezone-aware: the moment comes in as an argument.

Holidays and local closure days come in as a predicate on dates, so the domain
needs no calendar library (the scheduling adapter builds it from ``holidays``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from callcentre.errors import InvalidInput

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Interval:
    start: time
    end: time

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end


def parse_interval(text: str) -> Interval:
    """``"08:30-17:00"`` -> Interval (``24:00`` ends at midnight: ``"00:00-24:00"`` is the
    whole day); raises InvalidInput for anything else."""
    try:
        a, b = (part.strip() for part in text.split("-"))
        start = time.fromisoformat(a)
        end = time.max if b == "24:00" else time.fromisoformat(b)
    except ValueError as err:
        raise InvalidInput(f"opening hours {text!r} must look like 08:30-17:00") from err
    if start >= end:
        raise InvalidInput(f"opening hours {text!r}: the start must be before the end")
    return Interval(start, end)


@dataclass(frozen=True)
class OpeningHours:
    tz: ZoneInfo
    weekly: Mapping[int, tuple[Interval, ...]]  # weekday() -> intervals, in local time
    is_closed_day: Callable[[date], bool]  # public holidays and local closures

    def is_open(self, at: datetime) -> bool:
        """Whether the contact centre was open at ``at`` (aware datetime, any zone)."""
        if at.tzinfo is None:
            raise ValueError("naive datetime: times must be timezone-aware")
        local = at.astimezone(self.tz)
        if self.is_closed_day(local.date()):
            return False
        t = local.time().replace(tzinfo=None)
        return any(i.contains(t) for i in self.weekly.get(local.weekday(), ()))


def opening_hours(
    tz: ZoneInfo,
    by_day: Mapping[str, Sequence[str]],
    is_closed_day: Callable[[date], bool],
) -> OpeningHours:
    """Build from ``{"monday": ["08:30-17:00"], ...}``; days not named are closed."""
    unknown = set(by_day) - set(WEEKDAYS)
    if unknown:
        raise InvalidInput(f"unknown weekday(s) in opening hours: {sorted(unknown)}")
    weekly = {
        WEEKDAYS.index(day): tuple(sorted((parse_interval(s) for s in spans),
                                          key=lambda i: i.start))
        for day, spans in by_day.items()
    }
    return OpeningHours(tz, weekly, is_closed_day)


def always_open(tz: ZoneInfo) -> OpeningHours:
    day = (Interval(time(0), time.max),)
    return OpeningHours(tz, dict.fromkeys(range(7), day), lambda d: False)
