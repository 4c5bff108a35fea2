"""run_together(), which runs the stack's slow builds and says how they are getting on
(tests/docker/stack.py); here with sh instead of podman, so it needs nothing installed."""

from __future__ import annotations

import os
import time

import pytest

from tests.docker.stack import StackError, run_together


def _run(jobs: dict[str, list[str]], timeout: float = 10) -> list[str]:
    said: list[str] = []
    run_together(jobs, say=said.append, show=lambda line: line.startswith("STEP "),
                 env=os.environ, timeout=timeout, quiet_s=0.3)
    return said


def test_says_each_start_the_chosen_lines_while_quiet_who_still_runs_and_each_end() -> None:
    said = _run({"building a": ["sh", "-c", "echo STEP 1/2; echo noise; sleep 1; echo STEP 2/2"],
                 "building b": ["sh", "-c", "true"]})
    assert said[:2] == ["building a (1/2)…", "building b (2/2)…"]
    assert "building a (1/2): STEP 1/2" in said and "building a (1/2): STEP 2/2" in said
    assert not [line for line in said if "noise" in line]
    assert "still building a (1/2)…" in said  # a second with nothing to say
    assert said.index("building a (1/2): STEP 1/2") < said.index("still building a (1/2)…") \
        < said.index("building a (1/2): STEP 2/2")
    assert said[-1].startswith("building a (1/2): done in ")
    assert [line for line in said if line.startswith("building b (2/2): done in ")]


def test_a_failed_command_raises_with_the_tail_of_its_output_after_the_others_end() -> None:
    with pytest.raises(StackError, match=r"(?s)exited 3:\n.*it broke") as err:
        _run({"one": ["sh", "-c", "echo it broke; exit 3"],
              "two": ["sh", "-c", "sleep 0.5; echo STEP 1/1"]})
    assert "two" not in str(err.value)


def test_a_command_that_outlasts_the_timeout_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(StackError, match="no end after"):
        _run({"sleeper": ["sh", "-c", "sleep 30"]}, timeout=1)
    assert time.monotonic() - started < 10
