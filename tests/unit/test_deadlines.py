"""Working-time arithmetic: weekends, holidays, after-hours requests, DST in both directions."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.deadlines import (
    add_working_time,
    end_of_working_day,
    next_open,
    parse_rule,
    working_day_after,
)
from callcentre.domain.hours import opening_hours
from callcentre.errors import InvalidInput
from callcentre.testing import utc

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = {d: ["08:30-17:00"] for d in ("monday", "tuesday", "wednesday", "thursday")}
HOLIDAY = date(2026, 12, 25)  # Friday


def hours():  # type: ignore[no-untyped-def]
    return opening_hours(LONDON, {**WEEKDAYS, "friday": ["08:30-16:30"]},
                         lambda d: d == HOLIDAY)


def test_within_the_same_day() -> None:
    assert add_working_time(hours(), utc(2026, 11, 23, 9), timedelta(hours=4)) == utc(2026, 11, 23, 13)


def test_ends_at_closing_time_rather_than_next_opening() -> None:
    assert add_working_time(hours(), utc(2026, 11, 23, 13), timedelta(hours=4)) == utc(2026, 11, 23, 17)


def test_carries_over_to_the_next_morning() -> None:
    # Mon 15:00 + 4 h: 2 h on Monday, 2 h from Tuesday 08:30
    assert add_working_time(hours(), utc(2026, 11, 23, 15), timedelta(hours=4)) == utc(2026, 11, 24, 10, 30)


def test_request_after_hours_counts_from_next_opening() -> None:
    assert add_working_time(hours(), utc(2026, 11, 23, 20), timedelta(hours=4)) == utc(2026, 11, 24, 12, 30)


def test_weekend_is_skipped() -> None:
    # Friday 15:30 (closes 16:30): 1 h Friday, 3 h Monday
    assert add_working_time(hours(), utc(2026, 11, 27, 15, 30), timedelta(hours=4)) == utc(2026, 11, 30, 11, 30)
    assert next_open(hours(), utc(2026, 11, 28, 12)) == utc(2026, 11, 30, 8, 30)


def test_holiday_is_skipped() -> None:
    # Thu 24 Dec 16:00 + 4 h: 1 h Thursday, Friday 25th is a holiday, 3 h Monday 28th
    assert add_working_time(hours(), utc(2026, 12, 24, 16), timedelta(hours=4)) == utc(2026, 12, 28, 11, 30)


def test_spring_forward() -> None:
    # Clocks go forward on Sunday 29 March 2026. Friday 27th 15:30 GMT (=UTC) + 4 h:
    # 1 h Friday, 3 h Monday from 08:30 BST = 07:30 UTC, so 10:30 UTC.
    assert add_working_time(hours(), utc(2026, 3, 27, 15, 30), timedelta(hours=4)) == utc(2026, 3, 30, 10, 30)


def test_fall_back() -> None:
    # Clocks go back on Sunday 25 October 2026. Fri 23rd 14:30 BST (13:30 UTC) + 4 h:
    # 2 h Friday to 16:30 BST, 2 h Monday from 08:30 GMT = 08:30 UTC.
    assert add_working_time(hours(), utc(2026, 10, 23, 13, 30), timedelta(hours=4)) == utc(2026, 10, 26, 10, 30)


def test_hours_that_span_the_change_itself() -> None:
    night = opening_hours(LONDON, {"sunday": ["00:00-04:00"]}, lambda d: False)
    # On 29 March 2026 00:00-04:00 local is only 3 real hours (01:00 -> 02:00 skipped).
    assert add_working_time(night, utc(2026, 3, 29, 0), timedelta(hours=3)) == utc(2026, 3, 29, 3)
    # On 25 October 2026 it is 5 real hours.
    assert add_working_time(night, utc(2026, 10, 24, 23), timedelta(hours=5)) == utc(2026, 10, 25, 4)


@pytest.mark.parametrize(("at", "due"), [
    (utc(2026, 11, 23, 10), utc(2026, 11, 24, 17)),  # Monday -> Tuesday close
    (utc(2026, 11, 23, 20), utc(2026, 11, 24, 17)),  # Monday after hours -> Tuesday
    (utc(2026, 11, 27, 10), utc(2026, 11, 30, 17)),  # Friday -> Monday
    (utc(2026, 11, 28, 10), utc(2026, 11, 30, 17)),  # Saturday -> Monday
    (utc(2026, 12, 24, 10), utc(2026, 12, 28, 17)),  # Thursday before a holiday Friday
    (utc(2026, 3, 27, 10), utc(2026, 3, 30, 16)),  # across spring forward: 17:00 BST
])
def test_end_of_next_working_day(at, due) -> None:  # type: ignore[no-untyped-def]
    assert parse_rule("end of next working day").due(hours(), at) == due


def test_end_of_working_day_same_day_or_next() -> None:
    rule = parse_rule("by the end of working day")
    assert rule.due(hours(), utc(2026, 11, 23, 10)) == utc(2026, 11, 23, 17)
    assert rule.due(hours(), utc(2026, 11, 23, 18)) == utc(2026, 11, 24, 17)
    assert parse_rule("end of 3 working days").due(hours(), utc(2026, 11, 26, 10)) == utc(2026, 12, 1, 17)


def test_working_day_helpers() -> None:
    assert working_day_after(hours(), date(2026, 12, 24)) == date(2026, 12, 28)
    assert end_of_working_day(hours(), date(2026, 11, 27)) == utc(2026, 11, 27, 16, 30)
    with pytest.raises(InvalidInput):
        end_of_working_day(hours(), date(2026, 11, 28))


@pytest.mark.parametrize("text", ["soon", "4 hours", "end of next week"])
def test_unknown_rules_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="working hours"):
        parse_rule(text)


def test_never_open_is_an_error_not_a_hang() -> None:
    closed = opening_hours(LONDON, {}, lambda d: False)
    with pytest.raises(InvalidInput, match="no open hours"):
        next_open(closed, utc(2026, 11, 23))
