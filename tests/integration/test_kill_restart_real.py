"""``kill -9`` of ``callcentre serve`` in the middle of a real call loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.asterisk.harness import AsteriskHarness
from tests.clock import python_command
from tests.integration.test_calls_real import free_port
from tests.support import expected_from_queue_log, policy_file

pytestmark = pytest.mark.asterisk


def serve(asterisk: AsteriskHarness, db: Path, log: Path,
          queue_log: str = "") -> subprocess.Popen[bytes]:
    env = {**os.environ, "CALLCENTRE_QUEUE_LOG": queue_log,
           "CALLCENTRE_AMI_HOST": asterisk.ami_host, "CALLCENTRE_AMI_PORT": str(asterisk.ami_port),
           "CALLCENTRE_AMI_USERNAME": asterisk.ami_username,
           "CALLCENTRE_AMI_SECRET": asterisk.ami_secret, "CALLCENTRE_DB": str(db),
           "CALLCENTRE_HTTP_PORT": str(free_port()),
           "CALLCENTRE_POLICY_FILE": policy_file(db.parent)}
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(python_command("serve"), env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def rows(db: Path) -> list[tuple[str, str | None, float | None]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT linkedid, outcome, wait_seconds FROM calls").fetchall()
        except sqlite3.OperationalError:
            return []  # not migrated yet


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


async def test_killed_mid_call_and_restarted(asterisk: AsteriskHarness, tmp_path: Path) -> None:
    db, log = tmp_path / "cc.sqlite3", tmp_path / "serve.log"
    first = serve(asterisk, db, log)
    try:
        await asyncio.to_thread(wait_for, lambda: b"resync:" in log.read_bytes(), 30, "first start")
        job = asyncio.create_task(asyncio.to_thread(asterisk.abandoned, wait_s=10))
        await asyncio.to_thread(wait_for, lambda: any(r[1] is None for r in rows(db)), 20,
                                "the call in progress to be stored")
        first.send_signal(signal.SIGKILL)  # no chance to flush or say goodbye
        first.wait(10)
        second = serve(asterisk, db, log)
        try:
            result = await job
            truth = expected_from_queue_log(result.queue_log)
            ((linkedid, (outcome, wait)),) = truth.items()
            await asyncio.to_thread(
                wait_for, lambda: any(r[0] == linkedid and r[1] for r in rows(db)), 20,
                "the call to be finished after the restart")
            (row,) = [r for r in rows(db) if r[0] == linkedid]
            assert row[1] == outcome == "abandoned"
            # AMI only: a kill before the join was stored leaves the restarted service
            # QueueStatus's whole-second Wait to date the join from (once 1.7 s off in a
            # shifted-clock run); the ledger (test_ledger_real.py) holds it to 1 s.
            assert row[2] is not None and abs(row[2] - wait) < 2.0, row
            assert b"took back 1 calls" in log.read_bytes()
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0  # SIGTERM drains and exits cleanly
    finally:
        if first.poll() is None:
            first.kill()
