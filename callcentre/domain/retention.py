"""How long residents' personal data is kept, and what anonymising a record leaves.

Pure. The council's policy (scheduler/policy.toml ``[retention]``) gives a period per kind
of record; ``cutoff`` turns a period and the current time (given, never read) into the
moment before which a record's personal data goes. Anonymising keeps every fact a
published figure is computed from (outcome, waits, times, repeat flag, results, the
ledger's verdict) and drops who it was: numbers, names, free text and case links. The
storage adapter (storage/retention_repository.py) applies the same rule to every table.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcentre.errors import InvalidInput


class Kind(enum.StrEnum):
    """The kinds of record that hold personal data (also the metric's ``kind`` label)."""

    CALLS = "calls"
    CALLBACKS = "callbacks"
    CASES = "cases"
    LEDGER_LINES = "ledger_lines"


@dataclass(frozen=True, slots=True)
class Period:
    amount: int
    unit: str  # "days" or "months"

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


UNITS = ("days", "months")


def parse_period(text: str) -> Period:
    """``"13 months"``, ``"400 days"`` (singular too) -> Period; raises InvalidInput."""
    parts = text.split()
    unit = parts[1].lower().rstrip("s") + "s" if len(parts) == 2 else ""
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1 or unit not in UNITS:
        raise InvalidInput(f"{text!r}: a period is 'N days' or 'N months', N >= 1")
    return Period(int(parts[0]), unit)


# see scheduler/policy.toml [retention] for why (the packaged default says the same)
DEFAULT_PERIODS: dict[Kind, Period] = {
    Kind.CALLS: Period(13, "months"),
    Kind.CALLBACKS: Period(13, "months"),
    Kind.CASES: Period(24, "months"),
    Kind.LEDGER_LINES: Period(13, "months"),
}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """A period per kind. Defaults: what a UK council commonly keeps contact records for
    (the current year and the last, for complaints and the Ombudsman)."""

    periods: dict[Kind, Period] = field(default_factory=lambda: dict(DEFAULT_PERIODS))

    def cutoff(self, kind: Kind, now: datetime) -> datetime:
        return cutoff(self.periods[kind], now)


def cutoff(period: Period, now: datetime) -> datetime:
    """The moment ``period`` before ``now`` (timezone-aware). Months are calendar months,
    the day clamped to the month's last (31 March less one month is 28/29 February)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    if period.unit == "days":
        return now - timedelta(days=period.amount)
    months = now.year * 12 + now.month - 1 - period.amount
    year, month = divmod(months, 12)
    return now.replace(year=year, month=month + 1, day=min(now.day, _days_in(year, month + 1)))


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def blank_caller_id(event: str, data: str) -> str:
    """A queue_log line's data without the caller's number: ENTERQUEUE's data is
    ``url|callerid|position``; other events carry no caller id and are returned as they are."""
    if event != "ENTERQUEUE":
        return data
    fields = data.split("|")
    if len(fields) > 1:
        fields[1] = ""
    return "|".join(fields)


@dataclass(frozen=True, slots=True)
class Changed:
    """How many records of each kind a purge or an erasure anonymised."""

    counts: dict[Kind, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return ", ".join(f"{k.value} {self.counts.get(k, 0)}" for k in Kind)
