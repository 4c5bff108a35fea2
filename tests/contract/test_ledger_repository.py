"""The ledger repository's contract, for the in-memory fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcentre.domain.calls import Call, CaseLink, Outcome
from callcentre.domain.queue_log import parse_line
from callcentre.ports import LedgerPosition
from callcentre.testing import InMemoryCallRepository, InMemoryLedgerRepository, utc
from tests import engines
from tests.engines import ENGINES

T0 = utc(2026, 11, 23, 9, 0)
LINES = [parse_line(t) for t in (
    "1795424400|c1|council|NONE|ENTERQUEUE||07700900001|1",
    "1795424404|c1|council|Agent 1|CONNECT|4|c1b|1",
    "1795424460|c1|council|Agent 1|COMPLETEAGENT|4|56|1",
    "1795424410|c2|council|NONE|ENTERQUEUE||07700900002|2",
)]
AT = LedgerPosition("/var/log/asterisk/queue_log", 2049, 77, 400)


@dataclass
class Repos:
    calls: Any
    ledger: Any


@pytest.fixture(params=["memory", *ENGINES])
async def repos(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repos]:
    if request.param == "memory":
        calls = InMemoryCallRepository()
        yield Repos(calls, InMemoryLedgerRepository(calls))
        return
    async with AsyncExitStack() as stack:
        s = await engines.stores_for(request, stack, tmp_path)
        yield Repos(s.calls, s.ledger)


async def test_lines_and_position_are_kept_together_in_file_order(repos: Repos) -> None:
    assert await repos.ledger.position(AT.path) is None
    touched = await repos.ledger.append(LINES, AT, T0)
    assert sorted(touched) == ["c1", "c2"]
    assert await repos.ledger.position(AT.path) == AT
    assert await repos.ledger.lines_of("c1") == LINES[:3]
    assert await repos.ledger.lines_of("nobody") == []


async def test_identical_lines_are_each_kept(repos: Repos) -> None:
    """Key 1 at once, then queued again: two ENTERQUEUE lines alike to the second (seen on
    the real harness); folding needs both."""
    rejoin = [parse_line(t) for t in (
        "1796097222|k|council|NONE|ENTERQUEUE||07700900001|1",
        "1796097222|k|council|NONE|EXITWITHKEY|1|1|1|0",
        "1796097222|k|council|NONE|ENTERQUEUE||07700900001|1",
        "1796097224|k|council|NONE|ABANDON|1|1|2")]
    await repos.ledger.append(rejoin, replace(AT, offset=900), T0)
    assert await repos.ledger.lines_of("k") == rejoin


async def test_unsettled_calls_oldest_first_until_settled(repos: Repos) -> None:
    await repos.ledger.append(LINES, AT, T0)
    late = LINES[2].at + timedelta(seconds=1)
    assert await repos.ledger.unsettled(late, 10) == ["c2", "c1"]
    assert await repos.ledger.unsettled(LINES[3].at, 10) == []  # c2's line is not older
    assert await repos.ledger.unsettled(late, 1) == ["c2"]
    call = Call("c1", "", LINES[0].at, outcome=Outcome.ANSWERED, queue="council")
    stored = await repos.ledger.settle("c1", call, "record: none -> queue_log", T0)
    assert stored.id is not None and stored.ledger == "record: none -> queue_log"
    assert await repos.ledger.unsettled(late, 10) == ["c2"]
    await repos.ledger.append(LINES[2:3], AT, T0)  # a new line unsettles it again
    assert "c1" in await repos.ledger.unsettled(late, 10)
    counts = await repos.ledger.counts()
    assert (counts.calls, counts.settled, counts.corrected, counts.unsettled) == (2, 0, 1, 2)


async def test_settling_replaces_a_finished_call_but_keeps_an_agents_link_and_code(
        repos: Repos) -> None:
    (logged,) = await repos.calls.save([Call("c1", "PJSIP/r-1", T0, outcome=Outcome.ABANDONED,
                                             queue="council", abandoned=True)])
    assert logged.id is not None
    await repos.calls.link_case(logged.id, "HOU-9", CaseLink.AGENT)
    await repos.calls.set_wrapup(logged.id, "resolved")
    assert (await repos.ledger.call_of("c1")).outcome is Outcome.ABANDONED
    fixed = replace(logged, outcome=Outcome.ANSWERED, answered_at=T0 + timedelta(seconds=3),
                    case_ref=None, case_link=None, survey_offered=True, survey_resolved=True)
    stored = await repos.ledger.settle("c1", fixed, "outcome: abandoned -> answered", T0)
    assert (stored.id, stored.outcome, stored.case_ref, stored.case_link) == (
        logged.id, Outcome.ANSWERED, "HOU-9", CaseLink.AGENT)
    assert (stored.wrapup_code, stored.survey_offered, stored.survey_resolved) == (
        "resolved", True, True)  # the agent's code kept; the survey as the call has it
    assert await repos.calls.get(logged.id) == stored
    # the call log's own saves never undo it: a finished call is not rewritten
    await repos.calls.save([replace(logged, outcome=Outcome.ABANDONED)])
    assert (await repos.calls.get(logged.id)).outcome is Outcome.ANSWERED
    assert (await repos.ledger.counts()).corrected == 1
    assert await repos.ledger.call_of("nobody") is None


async def test_a_call_given_up_leaves_the_sweep_until_a_new_line_comes(repos: Repos) -> None:
    await repos.ledger.append(LINES, AT, T0)
    late = LINES[2].at + timedelta(seconds=1)
    await repos.ledger.give_up("c2", T0)
    assert await repos.ledger.unsettled(late, 10) == ["c1"]
    await repos.ledger.append(LINES[3:], AT, T0)
    assert await repos.ledger.unsettled(late, 10) == ["c2", "c1"]
