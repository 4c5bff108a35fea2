"""``kill -9`` of ``callcentre serve`` and callbacks, against the real Asterisk 22 + sipp.

The issue's promise: a ``kill -9`` at any moment loses no accepted callback and dials none
twice; callbacks that fell due while the service was down are served at start, in deadline
order; an attempt cut off by the restart is resolved (followed if its call is still up, read
from what the dialplan stored in AstDB if it ended meanwhile), never silently dropped.

``callcentre serve`` runs as a subprocess (as in test_kill_restart_real.py) with the test
policy of test_callbacks_real.py (always open, always within calling hours, 2 s of talk
counts as reached). Agents 2 and 3 are paused, so callbacks go to agent1's sipp phone; the
resident's phone is the sipp behind endpoint resident-cb.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcentre.ami.client import AmiClient
from callcentre.ami.pbx import RESULT_FAMILY, AmiPbx
from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import AttemptOutcome, Callback, HistoryEntry, Result, Status
from callcentre.storage.callback_repository import SqliteCallbackRepository, callback_from_row
from callcentre.storage.db import Database
from tests.asterisk.harness import AsteriskHarness, LogMark
from tests.clock import python_command
from tests.integration.test_ami_client_real import settings_for
from tests.integration.test_callbacks_real import POLICY, callback_phones
from tests.integration.test_calls_real import free_port

pytestmark = pytest.mark.asterisk

RESOLVED = b"attempts resolved after (re)connect"  # services/callback_dialler.py, once per login


class Serve:
    """``callcentre serve`` as a subprocess: started, SIGKILLed and started again."""

    def __init__(self, asterisk: AsteriskHarness, tmp: Path) -> None:
        self.db, self.log = tmp / "cc.sqlite3", tmp / "serve.log"
        policy = tmp / "policy.toml"
        policy.write_text(POLICY)
        self.port = free_port()
        self.env = {**os.environ,
                    "CALLCENTRE_AMI_HOST": asterisk.ami_host,
                    "CALLCENTRE_AMI_PORT": str(asterisk.ami_port),
                    "CALLCENTRE_AMI_USERNAME": asterisk.ami_username,
                    "CALLCENTRE_AMI_SECRET": asterisk.ami_secret,
                    "CALLCENTRE_DB": str(self.db), "CALLCENTRE_HTTP_PORT": str(self.port),
                    "CALLCENTRE_POLICY_FILE": str(policy), "CALLCENTRE_QUEUE_LOG": "",
                    "CALLCENTRE_CALLBACK_AGENT_RING_SECONDS": "4"}
        self.proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def start(self) -> int:
        """Start it; returns where its log starts (for ``wait_log``)."""
        assert self.proc is None or self.proc.poll() is not None
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(python_command("serve"),
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return offset

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "serve is not running"
        self.proc.send_signal(signal.SIGKILL)  # no chance to flush, hang up or say goodbye
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                assert self.proc.wait(15) == 0, "SIGTERM should drain and exit cleanly"
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()

    def wait_log(self, text: bytes, since: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_bytes()[since:]:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"timed out waiting for {text!r}\n{self.tail()}"
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def token(self) -> str:
        if self._token is None:
            run = subprocess.run([*python_command("token", "create"),
                                  "--role", "agent", "--name", "kill-tests"],
                                 env=self.env, capture_output=True, text=True, check=True)
            self._token = run.stdout.strip().splitlines()[-1]
        return self._token

    def promise(self, phone: str) -> int:
        """POST /api/callbacks (due by the policy's promise; first attempt now)."""
        body = json.dumps({"phone": phone, "reason": "Repair date", "promised_by": "Sam"})
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/callbacks", data=body.encode(), method="POST",
            headers={"Authorization": f"Bearer {self.token()}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
            return int(json.load(resp)["id"])

    def callback(self, callback_id: int) -> Callback:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM callbacks WHERE id = ?", (callback_id,)).fetchone()
        assert row is not None, f"callback {callback_id} lost"
        return callback_from_row(row)

    def insert(self, cb: Callback) -> int:
        """A callback written straight into the table while the service is down."""
        async def add() -> int:
            db = Database(self.db)
            await db.open()
            try:
                await db.migrate()
                return (await SqliteCallbackRepository(db).add(cb)).id or 0
            finally:
                await db.close()

        return asyncio.run(add())

    def wait_callback(self, callback_id: int, done: Callable[[Callback], bool],
                      timeout: float) -> Callback:
        deadline = time.monotonic() + timeout
        while True:
            cb = self.callback(callback_id)
            if done(cb):
                return cb
            assert time.monotonic() < deadline, f"callback {callback_id} stuck: {cb}\n{self.tail()}"
            time.sleep(0.2)


@pytest.fixture
async def serve(asterisk: AsteriskHarness, tmp_path: Path) -> AsyncIterator[Serve]:
    # Results left in AstDB by earlier tests of the session would answer for our channel
    # ids (callback-1-1, ...: each test has a fresh database), so start from none.
    await asyncio.to_thread(asterisk.cli, f"database deltree {RESULT_FAMILY}")
    await asyncio.to_thread(asterisk.pause_members, True, "callback-kill-tests",
                            ["agent2", "agent3"])
    served = Serve(asterisk, tmp_path)
    try:
        yield served
    finally:
        try:
            served.stop()
        finally:
            await asyncio.to_thread(asterisk.pause_members, False, "", ["agent2", "agent3"])


async def started(served: Serve) -> int:
    """Start ``callcentre serve`` and wait for its first callback resync; returns where
    this run's log starts."""
    since = served.start()
    await asyncio.to_thread(served.wait_log, RESOLVED, since, 30)
    return since


def resident_up(asterisk: AsteriskHarness) -> bool:
    """The resident's leg of a callback is answered (``core show channels concise``)."""
    lines = asterisk.cli("core show channels concise").splitlines()
    return any(ln.startswith("PJSIP/resident-cb-") and "!Up!" in ln for ln in lines)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def originates(asterisk: AsteriskHarness, mark: LogMark) -> list[str]:
    """The callbacks' calls Asterisk placed since ``mark``: the distinct ChannelIds
    (callback-<installation>-<id>-<attempt>, the Linkedid of both legs) of their CDRs, by
    start time, without the installation part: callback-<id>-<attempt>."""
    rows = sorted(asterisk.cdrs_since(mark), key=lambda r: r["start"])
    names = dict.fromkeys(r["linkedid"] for r in rows if r["linkedid"].startswith("callback-"))
    return ["callback-" + name.split("-", 2)[2] for name in names]


# --------------------------------------------------------------------------------------
async def test_dbget_is_allowed_and_parsed_as_stored_result(asterisk: AsteriskHarness) -> None:
    """The least-rights account may run DBGet, and AmiPbx reads Asterisk 22's reply
    (an event list: DBGetResponse with Val, then DBGetComplete) and its "not found"."""
    await asyncio.to_thread(asterisk.cli, f"database put {RESULT_FAMILY} probe-kill-1 ANSWER:7")
    client = AmiClient(settings_for(asterisk), lambda m: None, action_id_prefix="db")
    task = asyncio.create_task(client.run())
    try:
        await client.wait_connected(10)
        pbx = AmiPbx(client.send_action)
        assert await pbx.stored_result("probe-kill-1") == ("ANSWER", 7.0)
        assert await pbx.stored_result("probe-kill-none") is None
    finally:
        await client.close()
        await task
        await asyncio.to_thread(asterisk.cli, f"database del {RESULT_FAMILY} probe-kill-1")


@pytest.mark.parametrize("talk_s", [10, 3], ids=["call-up-at-restart", "call-ended-while-down"])
async def test_killed_while_the_resident_is_on_the_line(serve: Serve, asterisk: AsteriskHarness,
                                                        talk_s: int) -> None:
    """SIGKILL once the resident answered; restart. The call either is still up at the
    restart (followed to its end) or ended while the service was down (read from AstDB).
    Either way: one Originate only, and the callback is not left dialling: the resident was
    reached, but how long they talked before the restart is unknown, so an agent is asked
    (needs_outcome), never a silent retry."""
    mark = asterisk.mark()
    await started(serve)
    # the resident presses 1 (2 s after answering) and hangs up talk_s later
    async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=talk_s,
                               keys="1"):
        callback_id = await asyncio.to_thread(serve.promise, "07700900601")
        await until(lambda: resident_up(asterisk), 30, "the resident to answer")
        # the key comes 2 s after the answer, and only then is the resident connected to
        # the agent (DialEnd ANSWER): kill after that, while they talk (talk_s from the key)
        await asyncio.sleep(2.5)
        dialling = serve.callback(callback_id)
        assert dialling.status is Status.DIALLING and len(dialling.attempts) == 1, dialling
        serve.kill()
        if talk_s < 5:
            await until(lambda: asterisk.active_channels() == 0, 20, "the call to end")
        since = await started(serve)
        # up: followed to its end (nothing to resolve); ended: resolved from AstDB at once
        resolved = b"0 attempts resolved" if talk_s > 5 else b"1 attempts resolved"
        assert resolved in serve.log.read_bytes()[since:], serve.tail()
        done = await asyncio.to_thread(serve.wait_callback, callback_id,
                                       lambda c: c.status is not Status.DIALLING, 30)
    assert done.status is Status.NEEDS_OUTCOME, (done, serve.tail())
    (attempt,) = done.attempts
    assert attempt.agent == "PJSIP/agent1" and attempt.answered_at is not None
    assert [h.action for h in done.history][-1] == "needs_outcome"
    await asyncio.sleep(2)  # nothing more is dialled for it after the restart
    assert serve.callback(callback_id).status is Status.NEEDS_OUTCOME
    await asyncio.to_thread(asterisk.wait_idle)
    assert originates(asterisk, mark) == [f"callback-{callback_id}-1"]


async def test_fell_due_while_down_served_at_start_in_deadline_order(
        serve: Serve, asterisk: AsteriskHarness) -> None:
    """Two callbacks fell due (first attempt an hour ago) while the service was down; the
    one promised first has the later deadline. At start both are dialled, earliest
    deadline first, each once, and both are kept."""
    await started(serve)  # migrate; then it goes away
    serve.kill()
    now = datetime.now(UTC).replace(microsecond=0)
    ago = now - timedelta(hours=1)

    def promised(phone: str, due_in: timedelta) -> Callback:
        """As cbd.new_callback made it an hour ago: pending, first attempt due then."""
        due = now + due_in
        created = HistoryEntry(ago, "Sam", "created", new=due.isoformat())
        return Callback(None, phone, "Repair date", Source.AGENT, "Sam", ago, due, ago,
                        next_attempt_at=ago, original_due_by=due, history=(created,))

    later = await asyncio.to_thread(serve.insert, promised("+447700900701", timedelta(hours=3)))
    sooner = await asyncio.to_thread(serve.insert, promised("+447700900702", timedelta(hours=2)))
    assert later < sooner
    mark = asterisk.mark()
    async with callback_phones(asterisk, agent_ring_s=1, resident_ring_s=1, talk_s=3,
                               keys="1"):
        await started(serve)
        closed = [await asyncio.to_thread(serve.wait_callback, i,
                                          lambda c: c.status is Status.CLOSED, 50)
                  for i in (sooner, later)]
    assert [c.result for c in closed] == [Result.KEPT, Result.KEPT], closed
    assert all(len(c.attempts) == 1 and c.attempts[0].outcome is AttemptOutcome.REACHED
               for c in closed), closed
    first, second = (c.attempts[0] for c in closed)
    assert first.started_at < second.started_at, closed
    assert originates(asterisk, mark) == [f"callback-{sooner}-1", f"callback-{later}-1"]
