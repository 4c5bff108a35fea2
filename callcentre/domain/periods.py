"""Reporting periods in council time: a day, an ISO week, a calendar month."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class PeriodKind(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first_day: date  # council-local
    end_day: date  # exclusive

    def days(self) -> list[date]:
        n = (self.end_day - self.first_day).days
        return [self.first_day + timedelta(days=i) for i in range(n)]

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Aware [start, end) instants: local midnights, so DST days are 23 or 25 hours."""
        return (datetime.combine(self.first_day, time(0), tz),
                datetime.combine(self.end_day, time(0), tz))

    def label(self) -> str:
        if self.kind is PeriodKind.DAY:
            return self.first_day.strftime("%A %d %B %Y")
        if self.kind is PeriodKind.WEEK:
            last = self.end_day - timedelta(days=1)
            return f"week of {self.first_day:%d %B} to {last:%d %B %Y}"
        return self.first_day.strftime("%B %Y")

    def previous(self) -> Period:
        return period_containing(self.kind, self.first_day - timedelta(days=1))


def period_containing(kind: PeriodKind, day: date) -> Period:
    if kind is PeriodKind.DAY:
        return Period(kind, day, day + timedelta(days=1))
    if kind is PeriodKind.WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=7))
    start = day.replace(day=1)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return Period(kind, start, nxt)


def recent(kind: PeriodKind, day: date, count: int) -> list[Period]:
    """``count`` periods ending with the one containing ``day``, oldest first."""
    periods = [period_containing(kind, day)]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods[::-1]
