from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcentre.domain.hours import opening_hours
from callcentre.errors import ConfigError, InvalidInput
from callcentre.scheduling.policy import load_opening_hours, read_policy
from callcentre.testing import utc

LONDON = ZoneInfo("Europe/London")
REPO = Path(__file__).resolve().parents[2]


def hours():  # type: ignore[no-untyped-def]
    return opening_hours(LONDON, {"monday": ["08:30-12:00", "13:00-17:00"], "sunday": []},
                         lambda d: d == date(2026, 11, 30))


def test_open_in_local_time_across_dst() -> None:
    h = hours()
    # Summer (BST, UTC+1): 08:30 local is 07:30 UTC.
    assert not h.is_open(utc(2026, 6, 29, 7, 29))
    assert h.is_open(utc(2026, 6, 29, 7, 30))
    # Winter (GMT): 08:30 local is 08:30 UTC.
    assert not h.is_open(utc(2026, 11, 23, 8, 29))
    assert h.is_open(utc(2026, 11, 23, 8, 30))
    assert not h.is_open(utc(2026, 11, 23, 12, 30))  # lunch
    assert not h.is_open(utc(2026, 11, 23, 17, 0))  # closing time is exclusive


def test_closed_days_and_unlisted_days() -> None:
    h = hours()
    assert not h.is_open(utc(2026, 11, 30, 10, 0))  # a closure Monday
    assert not h.is_open(utc(2026, 11, 24, 10, 0))  # Tuesday is not listed


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        hours().is_open(datetime(2026, 11, 23, 10, 0))


@pytest.mark.parametrize("spec", ["8-5", "17:00-08:30", "09:00", "nine-five"])
def test_bad_intervals(spec: str) -> None:
    with pytest.raises(InvalidInput):
        opening_hours(LONDON, {"monday": [spec]}, lambda d: False)


def test_council_policy_file_and_packaged_default_agree() -> None:
    edited = (REPO / "scheduler" / "policy.toml").read_text()
    packaged = (REPO / "callcentre" / "scheduling" / "default_policy.toml").read_text()
    assert edited == packaged


def test_policy_uses_public_holidays() -> None:
    doc, where = read_policy(REPO / "scheduler" / "policy.toml")
    h = load_opening_hours(doc, where)
    assert h.is_open(utc(2026, 12, 24, 10, 0))
    assert not h.is_open(utc(2026, 12, 25, 10, 0))  # Christmas Day
    assert not h.is_open(utc(2026, 12, 29, 10, 0))  # a local closure day
    assert not h.is_open(utc(2027, 5, 3, 10, 0))  # early May bank holiday


def test_missing_policy_falls_back_to_packaged_default(tmp_path: Path) -> None:
    _, where = read_policy(tmp_path / "nope.toml")
    assert where == "packaged default policy"


def test_bad_policy_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text('timezone = "Europe/London"\n[opening_hours]\nfunday = ["09:00-17:00"]\n')
    doc, where = read_policy(bad)
    with pytest.raises(ConfigError, match="funday"):
        load_opening_hours(doc, where)


def test_24_00_closes_at_midnight_so_a_whole_day_has_no_gap() -> None:
    h = opening_hours(LONDON, {"monday": ["00:00-24:00"]}, lambda d: False)
    assert h.is_open(utc(2026, 11, 23, 0, 0))  # Monday 00:00 GMT
    assert h.is_open(datetime(2026, 11, 23, 23, 59, 59, 999_000, tzinfo=LONDON))
    assert not h.is_open(utc(2026, 11, 24, 0, 0))  # Tuesday is not listed
    with pytest.raises(InvalidInput):
        opening_hours(LONDON, {"monday": ["24:00-24:00"]}, lambda d: False)


def test_no_country_means_no_public_holidays(tmp_path: Path) -> None:
    christmas = utc(2026, 12, 25, 10, 0)  # a Friday, a public holiday in England
    doc = {"opening_hours": {"friday": ["09:00-17:00"]}}
    assert not load_opening_hours({**doc, "holidays": {"country": "GB"}}, "t").is_open(christmas)
    assert load_opening_hours({**doc, "holidays": {"country": ""}}, "t").is_open(christmas)
    closed = {"country": "", "closures": ["2026-12-25"]}
    assert not load_opening_hours({**doc, "holidays": closed}, "t").is_open(christmas)
