"""Working-time arithmetic in council time. Pure: every moment comes in as an argument.

Works on ``OpeningHours`` (hours.py) for both the council's opening hours and the
hours in which residents may be called. Durations are real elapsed time inside the
open spans, so a span that crosses a DST change is as long as the clock says it is.
Promise rules (``"4 working hours"``, ``"end of next working day"``) are parsed here
from the words a council writes in scheduler/policy.toml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from callcentre.domain.hours import OpeningHours
from callcentre.errors import InvalidInput

SEARCH_DAYS = 400  # a calendar that is never open within this many days is a config error


def _aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")


def _local(hours: OpeningHours, day: date, t: time) -> datetime:
    # fold=0: an ambiguous wall time (the repeated hour in autumn) means its first occurrence
    return datetime.combine(day, t, tzinfo=hours.tz)


def day_spans(hours: OpeningHours, day: date) -> list[tuple[datetime, datetime]]:
    """The open spans of a local ``day`` as UTC datetimes (empty on a closed day)."""
    if hours.is_closed_day(day):
        return []
    spans = []
    for interval in hours.weekly.get(day.weekday(), ()):
        start = _local(hours, day, interval.start).astimezone(UTC)
        end = _local(hours, day, interval.end).astimezone(UTC)
        if end > start:
            spans.append((start, end))
    return spans


def spans_from(hours: OpeningHours, at: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open spans from ``at`` onwards, the first one clipped to start at ``at``."""
    _aware(at)
    at = at.astimezone(UTC)
    day = at.astimezone(hours.tz).date() - timedelta(days=1)  # a span may cross midnight UTC
    for offset in range(SEARCH_DAYS):
        for start, end in day_spans(hours, day + timedelta(days=offset)):
            if end > at:
                yield max(start, at), end
    raise InvalidInput(f"no open hours within {SEARCH_DAYS} days: check the policy's hours")


def next_open(hours: OpeningHours, at: datetime) -> datetime:
    """The earliest moment at or after ``at`` inside ``hours`` (``at`` itself when open)."""
    return next(spans_from(hours, at))[0]


def add_working_time(hours: OpeningHours, at: datetime, amount: timedelta) -> datetime:
    """``at`` plus ``amount`` of open time. Ends at a closing time rather than the next
    opening when the amount runs out exactly there."""
    left = amount
    for start, end in spans_from(hours, at):
        if end - start >= left:
            return start + left
        left -= end - start
    raise AssertionError("unreachable: spans_from raises first")


def is_working_day(hours: OpeningHours, day: date) -> bool:
    return bool(day_spans(hours, day))


def end_of_working_day(hours: OpeningHours, day: date) -> datetime:
    """The last closing time of a working ``day``; raises InvalidInput on a closed day."""
    spans = day_spans(hours, day)
    if not spans:
        raise InvalidInput(f"{day} is not a working day")
    return spans[-1][1]


def working_day_after(hours: OpeningHours, day: date, n: int = 1) -> date:
    """The ``n``-th working day after ``day`` (n >= 1)."""
    found = 0
    for offset in range(1, SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if is_working_day(hours, candidate):
            found += 1
            if found == n:
                return candidate
    raise InvalidInput(f"no working day within {SEARCH_DAYS} days: check the policy's hours")


@dataclass(frozen=True, slots=True)
class PromiseRule:
    """How far ahead a promise falls. ``kind``: ``hours`` (``amount`` working hours from
    the request, counted from the next opening when closed) or ``days`` (the end of the
    ``amount``-th working day after the day of the request; 0 = the same day if it is a
    working day and still open, else the next)."""

    kind: str
    amount: float
    text: str

    def due(self, hours: OpeningHours, at: datetime) -> datetime:
        _aware(at)
        if self.kind == "hours":
            return add_working_time(hours, at, timedelta(hours=self.amount))
        day = at.astimezone(hours.tz).date()
        n = int(self.amount)
        if n == 0:
            if is_working_day(hours, day) and end_of_working_day(hours, day) > at:
                return end_of_working_day(hours, day)
            n = 1
        return end_of_working_day(hours, working_day_after(hours, day, n))


_HOURS = re.compile(r"(?:within\s+)?(\d+(?:\.\d+)?)\s+working\s+hours?")
_NEXT_DAY = re.compile(r"(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?next\s+working\s+day")
_SAME_DAY = re.compile(r"(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?working\s+day")
_DAYS = re.compile(r"(?:by\s+)?(?:the\s+)?end\s+of\s+(\d+)\s+working\s+days?")


def parse_rule(text: str) -> PromiseRule:
    """``"within 4 working hours"``, ``"end of next working day"``, ``"end of working day"``,
    ``"end of 3 working days"``; raises InvalidInput naming the accepted forms."""
    clean = " ".join(text.lower().split())
    if m := _HOURS.fullmatch(clean):
        return PromiseRule("hours", float(m[1]), text)
    if _NEXT_DAY.fullmatch(clean):
        return PromiseRule("days", 1, text)
    if _SAME_DAY.fullmatch(clean):
        return PromiseRule("days", 0, text)
    if m := _DAYS.fullmatch(clean):
        return PromiseRule("days", int(m[1]), text)
    raise InvalidInput(
        f"promise rule {text!r}: write e.g. 'within 4 working hours', 'end of working day', "
        "'end of next working day' or 'end of 3 working days'")
