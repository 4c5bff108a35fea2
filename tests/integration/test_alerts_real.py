"""An alert reaches a person: a callback promised with its deadline near is at risk, and a real
Prometheus (Debian's package) and a real Alertmanager (Debian's prometheus-alertmanager),
configured by what `callcentre rules` and `callcentre alertmanager-config` write, deliver the
at-risk alert to the council's webhook and by email (a local SMTP server, below) before the
callback's deadline.

The service is a real `callcentre serve` (tests/process.py) with no PBX, so no agent can take
the callback and it stays at risk. Rules and routing are the service's own renders with short
timers (every alert's ``for:`` 1 s, Alertmanager's group wait 1 s): the chain is the one a
council runs, only quicker."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcentre.config import load
from callcentre.observability import alert_rules, alertmanager
from tests.adapters.test_process import post, token
from tests.process import Served, free_port

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or ALERTMANAGER is None,
    reason="prometheus or alertmanager not installed (Debian packages 'prometheus' and "
    "'prometheus-alertmanager'; tests/system-deps.sh installs them when run as root)")

RESIDENT = "07700900123"
# The council's settings: a margin of its own, so the alert is seen to carry it.
SETTINGS = {"callback_at_risk_minutes": "5"}
DEADLINE_IN = timedelta(minutes=2)


class Webhook:
    """The council's webhook receiver: every notification Alertmanager posts, with when."""

    def __init__(self) -> None:
        self.received: list[tuple[datetime, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((datetime.now(UTC), await request.json()))
        self.arrived.set()
        return web.Response(text="ok")

    def firing(self, alertname: str) -> list[tuple[datetime, dict[str, Any], dict[str, Any]]]:
        return [(at, body, alert) for at, body in self.received for alert in body["alerts"]
                if alert["labels"].get("alertname") == alertname and alert["status"] == "firing"]


class Mailbox:
    """The council's mail server, as much of SMTP as Alertmanager's client uses (no TLS:
    alert_smtp_tls = none): every message delivered, with when."""

    def __init__(self) -> None:
        self.received: list[tuple[datetime, email.message.EmailMessage]] = []
        self.arrived = asyncio.Event()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 council.example ESMTP\r\n")
        data: list[bytes] | None = None
        try:
            while line := await reader.readline():
                if data is not None and line != b".\r\n":
                    data.append(line[1:] if line.startswith(b"..") else line)
                    continue
                writer.write(self._answer(line, data))
                data = [] if line[:4].upper() == b"DATA" else None
                await writer.drain()
        finally:
            writer.close()

    def _answer(self, line: bytes, data: list[bytes] | None) -> bytes:
        if data is not None:  # the end of a message
            message = email.message_from_bytes(b"".join(data), policy=email.policy.default)
            self.received.append((datetime.now(UTC), message))
            self.arrived.set()
            return b"250 queued\r\n"
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            return b"250-council.example\r\n250 8BITMIME\r\n"
        return {b"DATA": b"354 go on\r\n", b"QUIT": b"221 bye\r\n"}.get(verb, b"250 ok\r\n")

    def subjects(self) -> list[tuple[datetime, str]]:
        return [(at, str(message["Subject"])) for at, message in self.received]


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = await asyncio.start_server(box.session, "127.0.0.1", 0)
    try:
        yield box, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, int]]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/alerts", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield hook, port
    finally:
        await runner.cleanup()


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_alertmanager(tmp: Path, hook_port: int,
                       smtp_port: int) -> tuple[subprocess.Popen[bytes], int]:
    council = load(overrides={
        "alert_webhook_url": f"http://127.0.0.1:{hook_port}/alerts",
        "alert_email_to": "managers@council.example", "alert_email_from": "cc@council.example",
        "alert_smtp_smarthost": f"127.0.0.1:{smtp_port}", "alert_smtp_tls": "none"})
    (tmp / "alertmanager.yml").write_text(
        alertmanager.render(council, alertmanager.Timing("1s", "1s", "1h", "1h")))
    port = free_port()
    proc = _start([ALERTMANAGER, f"--config.file={tmp / 'alertmanager.yml'}",  # type: ignore[list-item]
                   f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                   "--cluster.listen-address="],  # one instance: no gossip port to collide on
                  tmp / "alertmanager.log")
    return proc, port


def start_prometheus(tmp: Path, service_port: int, am_port: int) -> subprocess.Popen[bytes]:
    (tmp / "rules.yml").write_text(alert_rules.render(load(overrides=SETTINGS), pending="1s"))
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{tmp / 'rules.yml'}']\n"
        f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n"
        "scrape_configs:\n  - job_name: callcentre\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{service_port}']}}]\n")
    return _start([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",  # type: ignore[list-item]
                   f"--storage.tsdb.path={tmp / 'prom-data'}",
                   f"--web.listen-address=127.0.0.1:{free_port()}"], tmp / "prometheus.log")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    bearer = token(tmp_path)  # before the service opens the database
    service = Served(tmp_path, http_open_routes="/metrics", **SETTINGS)  # Prometheus: no token
    try:
        yield service, bearer
    finally:
        service.stop()


def _logs(tmp: Path) -> str:
    return "\n".join(f"--- {name}\n{(tmp / name).read_text(errors='replace')[-3000:]}"
                     for name in ("prometheus.log", "alertmanager.log", "serve.log")
                     if (tmp / name).exists())


async def test_an_at_risk_callback_reaches_the_council_before_its_deadline(
        tmp_path: Path, webhook: tuple[Webhook, int], mailbox: tuple[Mailbox, int],
        served: tuple[Served, str]) -> None:
    hook, hook_port = webhook
    box, smtp_port = mailbox
    service, bearer = served
    am, am_port = start_alertmanager(tmp_path, hook_port, smtp_port)
    prometheus = start_prometheus(tmp_path, service.port, am_port)
    started = time.monotonic()
    try:
        deadline = datetime.now(UTC) + DEADLINE_IN
        status = await asyncio.to_thread(post, service, "/api/callbacks", {
            "phone": RESIDENT, "reason": "council tax question",
            "due_by": deadline.isoformat()}, bearer)
        assert status == 201
        at_risk = await _delivered(hook, "CallcentreCallbacksAtRisk", deadline, tmp_path)
        mailed = await _mailed(box, "CallcentreCallbacksAtRisk", deadline, tmp_path)
    finally:
        _stop(prometheus)
        _stop(am)
    at, body, alert = at_risk
    print(f"at-risk alert delivered {(deadline - at).total_seconds():.1f} s before the deadline, "
          f"{time.monotonic() - started:.1f} s after the start")
    assert at < deadline
    assert body["receiver"] == "council"
    assert alert["labels"] == {"alertname": "CallcentreCallbacksAtRisk", "severity": "warning",
                               "job": "callcentre", "instance": f"127.0.0.1:{service.port}"}
    assert alert["annotations"]["summary"] == (
        "1 call-back(s) due within 5 minutes with no attempt made yet")
    assert mailed[0] < deadline
    message = mailed[1]
    assert message["To"] == "managers@council.example"
    assert "[FIRING:1] CallcentreCallbacksAtRisk" in str(message["Subject"])
    assert "1 call-back(s) due within 5 minutes" in _text(message)
    everything = json.dumps([body for _, body in hook.received]) + "".join(
        _text(m) + str(m["Subject"]) for _, m in box.received)
    for form in (RESIDENT, RESIDENT[1:], "+44" + RESIDENT[1:], "council tax"):
        assert form not in everything, f"the alerts carry {form!r}"


def _text(message: email.message.EmailMessage) -> str:
    """Every text part of a message, decoded (Alertmanager sends HTML and plain text)."""
    return "".join(part.get_content() for part in message.walk()
                   if part.get_content_maintype() == "text")


async def _mailed(box: Mailbox, alertname: str, deadline: datetime,
                  tmp: Path) -> tuple[datetime, email.message.EmailMessage]:
    """The first email about ``alertname``, waiting for it until the callback's deadline."""
    while True:
        box.arrived.clear()
        for at, message in box.received:
            if f"] {alertname}" in str(message["Subject"]):
                return at, message
        left = (deadline - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise AssertionError(f"no email about {alertname} before the deadline; got "
                                 f"{box.subjects()}\n{_logs(tmp)}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(box.arrived.wait(), min(left, 5))


async def _delivered(hook: Webhook, alertname: str, deadline: datetime,
                     tmp: Path) -> tuple[datetime, dict[str, Any], dict[str, Any]]:
    """The first notification of ``alertname``, waiting for it until the callback's deadline."""
    while True:
        hook.arrived.clear()  # before looking, so that a post while we look is not missed
        if hook.firing(alertname):
            break
        left = (deadline - datetime.now(UTC)).total_seconds()
        if left <= 0:
            raise AssertionError(f"no {alertname} before the deadline; webhook got "
                                 f"{hook.received}\n{_logs(tmp)}")
        try:
            await asyncio.wait_for(hook.arrived.wait(), min(left, 5))
        except TimeoutError:
            continue
    return hook.firing(alertname)[0]

