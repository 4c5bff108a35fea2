"""Retention periods: parsing, cut-offs in calendar months, the policy's [retention] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcentre.domain.retention import (
    DEFAULT_PERIODS,
    Kind,
    Period,
    blank_caller_id,
    cutoff,
    parse_period,
)
from callcentre.errors import ConfigError, InvalidInput
from callcentre.scheduling.policy import load_policy
from callcentre.testing import utc

POLICY_FILE = Path(__file__).resolve().parents[2] / "scheduler" / "policy.toml"


@pytest.mark.parametrize(("text", "period"), [("13 months", Period(13, "months")),
                                              ("1 day", Period(1, "days")),
                                              ("400 Days", Period(400, "days"))])
def test_periods_parse(text: str, period: Period) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["13", "0 days", "-1 months", "2 years", "a month", ""])
def test_a_bad_period_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_period(text)


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert cutoff(Period(1, "months"), utc(2026, 3, 31, 2)) == utc(2026, 2, 28, 2)
    assert cutoff(Period(13, "months"), utc(2026, 11, 23)) == utc(2025, 10, 23)
    assert cutoff(Period(30, "days"), utc(2026, 3, 31)) == utc(2026, 3, 1)


def test_only_enterqueue_carries_the_caller_id() -> None:
    assert blank_caller_id("ENTERQUEUE", "|07700900123|1") == "||1"
    assert blank_caller_id("CONNECT", "4|c1b|1") == "4|c1b|1"


def test_the_packaged_policy_documents_every_kind_with_its_default() -> None:
    policy = load_policy(POLICY_FILE)
    assert policy.retention.periods == DEFAULT_PERIODS
    text = POLICY_FILE.read_text()
    assert all(f"\n{kind.value} = " in text for kind in Kind)


@pytest.mark.parametrize(("body", "says"), [('calls = "forever"', "calls"),
                                            ("calls = 30", "calls"),
                                            ('recordings = "1 month"', "unknown kind")])
def test_a_bad_retention_table_is_a_config_error(tmp_path: Path, body: str, says: str) -> None:
    file = tmp_path / "policy.toml"
    file.write_text(f"[retention]\n{body}\n")
    with pytest.raises(ConfigError, match=says):
        load_policy(file)


def test_a_policy_without_retention_keeps_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "policy.toml"
    file.write_text('[retention]\ncases = "6 months"\n')
    periods = load_policy(file).retention.periods
    assert periods[Kind.CASES] == Period(6, "months")
    assert periods[Kind.CALLS] == DEFAULT_PERIODS[Kind.CALLS]


class _NeverDone:
    """A repository whose every batch comes back full: a record that stays eligible."""

    def __init__(self) -> None:
        self.batches = 0
        self.runs: list[object] = []

    async def anonymise(self, kind: object, before: object, limit: int) -> int:
        self.batches += 1
        return limit

    async def record_run(self, run: object) -> None:
        self.runs.append(run)


async def test_a_purge_that_never_empties_stops_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from callcentre.phones import normaliser
    from callcentre.services import retention
    from callcentre.testing import FakeClock

    monkeypatch.setattr(retention, "MAX_BATCHES", 3)
    repo = _NeverDone()
    policy = load_policy(str(Path(__file__).parents[2] / "scheduler" / "policy.toml")).retention
    service = retention.RetentionService(repo, FakeClock(utc(2027, 1, 5, 9)), policy,  # type: ignore[arg-type]
                                         normaliser("GB"), batch=10)
    changed = await service.purge()
    assert repo.batches == 3 * len(retention.Kind) and len(repo.runs) == 1
    assert set(changed.counts.values()) == {30}
    assert sum("stopped after 3 batches" in r.getMessage() for r in caplog.records) == 4
