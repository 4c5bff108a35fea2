"""No value can forge a log line: control characters are written out, tracebacks indented."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from callcentre.domain.ratelimit import LogBudget
from callcentre.observability import logs

FORGED = "2026-01-01 00:00:00,000 ERROR   callcentre: FORGED"
OURS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)\s+\S+: ")
BREAKS = ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1b[2K\r"]


def logged(log_format: str, emit) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    logs.setup("INFO", log_format, out)
    try:
        emit(logging.getLogger("callcentre.test"))
    finally:
        logging.getLogger().handlers.clear()
    return out.getvalue()


@pytest.mark.parametrize("brk", BREAKS)
def test_a_line_break_in_a_value_stays_on_its_line(brk: str) -> None:
    text = logged("text", lambda log: log.info("promised by %s", "Ann" + brk + FORGED))
    lines = text.splitlines()  # splits at every break the viewers know, \u2028 and \x85 too
    assert len(lines) == 1 and OURS.match(lines[0])
    assert "FORGED" in lines[0]


def test_a_traceback_cannot_start_a_line_either() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError("bad value\n" + FORGED)
        except ValueError:
            log.exception("could not use %s", "x\ny")

    lines = logged("text", emit).splitlines()
    assert OURS.match(lines[0]) and "x\\ny" in lines[0]
    assert all(line.startswith("  | ") for line in lines[1:]), lines
    assert any(FORGED in line for line in lines[1:])


def test_json_is_one_object_per_line() -> None:
    def emit(log: logging.Logger) -> None:
        log.warning("token from %s", "a\u2028b\nc")
        try:
            raise RuntimeError("boom\nboom")
        except RuntimeError:
            log.exception("failed")

    lines = logged("json", emit).splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "token from a\u2028b\nc" and first["level"] == "WARNING"
    assert first["logger"] == "callcentre.test" and first["time"].endswith("+00:00")
    assert "RuntimeError: boom\nboom" in second["exc"]


def test_the_budget_says_once_per_interval_and_counts_the_rest() -> None:
    budget = LogBudget(60)
    assert budget.allow("accept", 0) == 0
    assert budget.allow("accept", 1) is None
    assert budget.allow("accept", 2) is None
    assert budget.allow("other", 2) == 0
    assert budget.allow("accept", 61) == 2
