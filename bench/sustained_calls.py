"""Sustained new-call rate: the most new calls a second the whole service keeps up with.

The real service runs as its own process (``callcentre serve``, SQLite on a temporary
file, no queue_log) against an AMI server in this process on 127.0.0.1. For each rate
of a ladder it gets a fresh process and database; then recorded real calls (answered
and abandoned in turn, about 150 events each with Asterisk's full mix: VarSet, CEL,
Newexten ...; new ids per call) are sent as whole calls at that rate for ``--seconds``.
A rate is **kept** when every call sent is in the database within 30 s of the last
one, the link never dropped (one login), the sender was never held back by more than
a second (TCP back-pressure from a reader that cannot keep up) and the process's peak
resident memory (VmHWM) stayed under ``--memory`` MiB (150). The ladder stops at the
first rate not kept.

The reference, measured in the same run over the same bytes: how many calls a second
callcentre's bare AMI parser (FrameParser, no tracking, no storage) gets through in
this process; printed is the share of it the whole service keeps.

    .venv/bin/python bench/sustained_calls.py [--rates 25,50,...] [--seconds N] [--memory MiB]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _policy import ALWAYS_OPEN  # bench/, the script's own folder

from callcentre.ami.fakeserver import FakeAmiServer, rewrite_trace
from callcentre.ami.protocol import FrameParser

FIXTURES = ROOT / "tests" / "fixtures" / "ami"
TRACES = ("answered", "abandoned")  # a resident's call each
IDS_PER_CALL = 100
_ID = re.compile(rb"((?:Uniqueid|Linkedid|DestUniqueid|DestLinkedid|UniqueID|LinkedID): \d+\.)"
                 rb"(\d+)\r\n")
_BRIDGE = re.compile(rb"BridgeUniqueid: ([0-9a-f-]{36})\r\n")


class Template:
    """One recorded call, cut where its ids are, so a copy with new ids is a join."""

    def __init__(self, raw: bytes, at: float) -> None:
        data = b"".join(f.data for f in rewrite_trace(raw, rebase_to=at))
        self.bridges = sorted(set(_BRIDGE.findall(data)))
        self.pieces: list[bytes] = []
        self.seqs: list[int] = []
        last = 0
        for match in _ID.finditer(data):
            self.pieces.append(data[last:match.end(1)])
            self.seqs.append(int(match.group(2)))
            last = match.end(2)
        self.tail = data[last:]

    def copy(self, n: int) -> bytes:
        offset = n * IDS_PER_CALL
        parts: list[bytes] = []
        for piece, seq in zip(self.pieces, self.seqs, strict=True):
            parts += (piece, b"%d" % (seq + offset))  # the next piece starts with its \r\n
        data = b"".join(parts) + self.tail
        for bridge in self.bridges:
            data = data.replace(bridge, str(uuid.uuid5(uuid.NAMESPACE_OID, f"{n}{bridge!r}"))
                                .encode())
        return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Step:
    rate: int
    sent: int
    stored: int
    send_seconds: float
    worst_lag: float
    logins: int
    peak_mib: float
    settle_seconds: float

    @property
    def kept(self) -> bool:
        return (self.stored == self.sent and self.logins == 1 and self.worst_lag <= 1.0)


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stored_calls(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute("SELECT count(*) FROM calls WHERE ended_at IS NOT NULL")
                       .fetchone()[0])
    except sqlite3.Error:
        return -1


def start_service(tmp: Path, ami_port: int) -> subprocess.Popen[bytes]:
    (tmp / "policy.toml").write_text(ALWAYS_OPEN)
    env = {**os.environ, "CALLCENTRE_DB": str(tmp / "cc.sqlite3"),
           "CALLCENTRE_HTTP_PORT": str(free_port()), "CALLCENTRE_AMI_PORT": str(ami_port),
           "CALLCENTRE_AMI_SECRET": "callcentre", "CALLCENTRE_QUEUE_LOG": "",
           "CALLCENTRE_POLICY_FILE": str(tmp / "policy.toml"), "CALLCENTRE_LOG_LEVEL": "ERROR"}
    return subprocess.Popen([sys.executable, "-m", "callcentre", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "serve.log").open("wb"))


async def send(server: FakeAmiServer, templates: list[Template], rate: int,
               seconds: float) -> tuple[int, float, float]:
    """Whole calls at ``rate`` a second; returns calls sent, seconds taken, worst lag."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    total = int(rate * seconds)
    sent, worst = 0, 0.0
    while sent < total:
        due = min(total, int((loop.time() - started) * rate) + 1)
        batch = [templates[n % len(templates)].copy(n) for n in range(sent, due)]
        if batch:
            await server.push(b"".join(batch))
            sent = due
            worst = max(worst, loop.time() - (started + sent / rate))
        await asyncio.sleep(0.02)
    return sent, loop.time() - started, worst


async def step(templates: list[Template], rate: int, seconds: float) -> Step:
    server = FakeAmiServer(secret="callcentre")
    ami_port = await server.start()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        process = start_service(tmp, ami_port)
        try:
            await server.wait_logged_in(timeout=30)
            sent, took, lag = await send(server, templates, rate, seconds)
            ended = time.monotonic()
            db = tmp / "cc.sqlite3"
            while stored_calls(db) < sent and time.monotonic() - ended < 30:  # noqa: ASYNC110
                await asyncio.sleep(0.2)  # another process's database: nothing to await
            settle = time.monotonic() - ended
            stored = stored_calls(db)
            peak = peak_mib(process.pid)
            logins = sum(m.get("Action") == "Login" for m in server.received)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            await server.stop()
    return Step(rate, sent, stored, took, lag, logins, peak, settle)


def parser_rate(templates: list[Template], calls: int = 2000) -> float:
    data = b"".join(templates[n % len(templates)].copy(n) for n in range(calls))
    parser = FrameParser()
    started = time.perf_counter()
    for start in range(0, len(data), 1 << 16):
        for message in parser.feed(data[start:start + (1 << 16)]):
            _ = message.event
    return calls / (time.perf_counter() - started)


async def main(rates: list[int], seconds: float, memory: float) -> None:
    at = time.time()
    templates = [Template((FIXTURES / f"{name}.ami").read_bytes(), at) for name in TRACES]
    events = sum(t.copy(0).count(b"\r\n\r\n") for t in templates) / len(templates)
    print(f"{events:.0f} events a call on average; {seconds:g} s a rate; memory bound {memory:g} MiB")
    reference = parser_rate(templates)
    best: Step | None = None
    for rate in rates:
        result = await step(templates, rate, seconds)
        kept = result.kept and result.peak_mib < memory
        print(f"{rate:>5} calls/s: sent {result.sent} in {result.send_seconds:.1f} s,"
              f" stored {result.stored} ({result.settle_seconds:.1f} s after the last),"
              f" sender held back {result.worst_lag:.2f} s at worst, logins {result.logins},"
              f" peak {result.peak_mib:.0f} MiB: {'kept' if kept else 'NOT kept'}")
        if not kept:
            break
        best = result
    print(f"reference: bare FrameParser in this process: {reference:.0f} calls/s")
    if best is None:
        print("no rate kept")
        return
    print(f"largest sustained new-call rate: {best.rate} calls/s"
          f" ({best.rate * events:.0f} events/s), peak {best.peak_mib:.0f} MiB;"
          f" ratio to the bare parser: {best.rate / reference:.2f}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="25,50,100,150,200,300,400,600")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--memory", type=float, default=150.0)
    return ap.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main([int(r) for r in args.rates.split(",")], args.seconds, args.memory))
