"""A real ``callcentre serve`` process: SIGTERM drains within drain_seconds under load, and
no value sent to it (API text, AMI header) can forge a line of its log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from callcentre.ami.fakeserver import FakeAmiServer
from tests.clock import python_command
from tests.process import Served
from tests.support import synthetic_call

OURS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)\s+\S+: ")
FORGED = "2026-01-01 00:00:00,000 ERROR   callcentre: FORGED"


def token(tmp: Path) -> str:
    env = {**os.environ, "CALLCENTRE_DB": str(tmp / "cc.sqlite3")}
    out = subprocess.run(python_command("token", "create", "--role", "agent", "--name", "t"),
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def post(served: Served, path: str, body: object, bearer: str) -> int:
    request = urllib.request.Request(
        served.base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return int(resp.status)


def connect(port: int, head: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head)
    return s


def test_sigterm_drains_within_drain_seconds_under_load(tmp_path: Path) -> None:
    bearer = token(tmp_path)
    served = Served(tmp_path, drain_seconds=3)
    auth = f"Authorization: Bearer {bearer}\r\n".encode()
    held: list[socket.socket] = []
    try:
        for _ in range(20):  # requests in progress: a body that never finishes arriving
            held.append(connect(served.port, b"POST /api/cases HTTP/1.1\r\nHost: x\r\n" + auth
                                + b"Content-Type: application/json\r\nContent-Length: 1000"
                                + b"\r\n\r\n{\"ref\": "))
        for _ in range(20):  # live-page streams that never read
            held.append(connect(served.port, b"GET /api/callbacks/stream HTTP/1.1\r\nHost: x\r\n"
                                + auth + b"\r\n"))
        for _ in range(20):  # slowloris: half a request head
            held.append(connect(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        time.sleep(0.5)
        with urllib.request.urlopen(served.base + "/healthz", timeout=2) as resp:
            assert resp.status == 200
        sent = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        try:
            code = served.process.wait(3 + 1.5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 4.5 s after SIGTERM:\n{served.text()}") from None
        took = time.monotonic() - sent
        assert code == 0, served.text()
        assert "stopped in" in served.text()
        print(f"SIGTERM to exit: {took:.2f} s (drain_seconds = 3)")
    finally:
        for s in held:
            s.close()
        served.stop()


async def test_newlines_in_api_text_and_ami_headers_cannot_forge_log_lines(
        tmp_path: Path) -> None:
    server = FakeAmiServer(username="callcentre", secret="s")
    server.on_action("CoreShowChannels", events=[])
    server.on_action("QueueStatus", events=[])
    bearer = token(tmp_path)
    served = await asyncio.to_thread(
        Served, tmp_path, ami_port=await server.start(), ami_secret="s",
        inbound_contexts="from-resident")
    try:
        await server.wait_logged_in(timeout=10)
        promise = {"phone": "07700 900123", "reason": "bins", "promised_by": "Ann\n" + FORGED}
        assert await asyncio.to_thread(post, served, "/api/callbacks", promise, bearer) == 201
        linkedid = f"{int(time.time())}.1\r{FORGED}"  # a bare CR survives AMI's line ends
        frames = synthetic_call(linkedid, time.time() - 40, 3, "answered")
        keyed = (f"Event: VarSet\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\n"
                 f"Channel: PJSIP/resident-1\r\nVariable: CASE_REF\r\nValue: HOU-404\r\n\r\n")
        await server.push(b"".join(frames[:2]) + keyed.encode() + b"".join(frames[2:]))
        for _ in range(100):
            if "keyed unknown case reference" in served.text():
                break
            await asyncio.sleep(0.1)
        served.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(served.process.wait, 15)
        text = served.text()
        assert "Ann" not in text and "by t," in text  # who promised is the token's person
        assert ".1\\r" + FORGED in text  # the AMI header's carriage return, written out
        for line in text.splitlines():  # splits at \r and \u2028 as viewers do
            assert OURS.match(line) or line.startswith("  | "), line
    finally:
        served.stop()
        await server.stop()
