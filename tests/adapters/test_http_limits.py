"""Slow, idle and too many HTTP connections cannot hold the server (web/limits.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callcentre.app import Service
from callcentre.config import Config
from callcentre.web.limits import FD_RESERVE
from tests.adapters.test_service_end_to_end import free_port, svc_token
from tests.process import Served
from tests.support import policy_file


@pytest.fixture
async def service(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    settings = getattr(request, "param", {})
    cfg = Config(ami_port=free_port(), db=str(tmp_path / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp_path), ami_reconnect_max=0.2, **settings)
    async with Service(cfg).running() as svc:
        yield svc


async def healthz(port: int) -> tuple[int, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as r:
        await r.read()
        return r.status, time.monotonic() - started


async def slowloris(port: int, stop: asyncio.Event) -> tuple[float, bytes]:
    """Sends a request head one header line at a time, slowly, and never finishes it;
    returns when the server closed the connection (seconds after opening) and what it said."""
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    said = b""
    try:
        for i in range(1000):
            if stop.is_set():
                break
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            try:
                said += await asyncio.wait_for(reader.read(4096), 0.3)
            except TimeoutError:
                continue
            if reader.at_eof():
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - opened, said


@pytest.mark.parametrize("service", [{"http_header_timeout": 1.0}], indirect=True)
async def test_slowloris_sockets_are_closed_and_real_requests_still_answered(
        service: Service) -> None:
    port, stop = service.config.http_port, asyncio.Event()
    slow = [asyncio.create_task(slowloris(port, stop)) for _ in range(100)]
    await asyncio.sleep(0.3)
    answered = [await healthz(port) for _ in range(20)]  # while all 100 are trickling
    assert all(status == 200 for status, _ in answered)
    assert max(seconds for _, seconds in answered) < 1.0
    try:
        results = await asyncio.wait_for(asyncio.gather(*slow), 6)
    finally:
        stop.set()
    assert all(seconds < 2.5 for seconds, _ in results), sorted(s for s, _ in results)[-3:]
    assert all(said.startswith(b"HTTP/1.1 408") for _, said in results)
    assert service.connections.stats.closed["header_timeout"] == 100
    assert (await healthz(port))[0] == 200


async def slow_body(port: int, token: str) -> tuple[float, bytes]:
    """Sends a whole request head, then its body a byte every 0.2 s; returns when the server
    answered (seconds after the head) and what it said."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /api/callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                 f"Content-Type: application/json\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n{{".encode())
    sent = time.monotonic()
    said = b""
    try:
        for _ in range(100):
            writer.write(b" ")
            try:
                said += await asyncio.wait_for(reader.read(4096), 0.2)
            except TimeoutError:
                continue
            if reader.at_eof() or said:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - sent, said


@pytest.mark.parametrize("service", [{"http_body_timeout": 1.0, "http_max_connections": 30}],
                         indirect=True)
async def test_trickled_bodies_are_answered_408_and_cannot_hold_the_server(
        service: Service) -> None:
    """30 requests trickle their bodies: busy connections are never evicted, so without a
    body deadline they would hold every connection and the server would answer only 503."""
    port, token = service.config.http_port, await svc_token(service)
    slow = [asyncio.create_task(slow_body(port, token)) for _ in range(30)]
    results = await asyncio.wait_for(asyncio.gather(*slow), 10)
    assert all(0.9 < seconds < 2.5 for seconds, _ in results), sorted(s for s, _ in results)
    assert all(said.startswith(b"HTTP/1.1 408") for _, said in results)
    assert all(b'"request_timeout"' in said for _, said in results)
    assert service.connections.stats.closed["body_timeout"] == 30
    assert (await healthz(port))[0] == 200
    async with aiohttp.ClientSession() as http, http.post(  # a body too large: still JSON
            f"http://127.0.0.1:{port}/api/callbacks", data=b"x" * 70_000,
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "request_entity_too_large"


async def stream(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/callbacks/stream HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    return reader, writer


@pytest.mark.parametrize("service", [{"http_max_connections": 5}], indirect=True)
async def test_beyond_the_cap_with_every_connection_busy_is_a_clear_503(
        service: Service) -> None:
    port, token = service.config.http_port, await svc_token(service)
    streams = [await stream(port, token) for _ in range(5)]  # busy: a request in progress
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"] == "busy"
    assert service.connections.stats.refused == 1
    streams[0][1].close()  # one stream ends: room again
    await asyncio.sleep(0.2)
    assert (await healthz(port))[0] == 200
    for _, writer in streams[1:]:
        writer.close()


@pytest.mark.parametrize("service", [{"http_max_connections": 5}], indirect=True)
async def test_idle_sockets_make_room_for_a_real_request(service: Service) -> None:
    port = service.config.http_port
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    await asyncio.sleep(1.2)  # longer than the idle grace
    try:
        assert [(await healthz(port))[0] for _ in range(3)] == [200, 200, 200]
        assert service.connections.stats.closed["idle_evicted"] >= 1
        assert service.connections.stats.refused == 0
    finally:
        for s in idle:
            s.close()


@pytest.mark.slow
def test_1100_idle_sockets_at_a_1024_descriptor_limit(tmp_path: Path) -> None:
    """More idle sockets than the process may open files: real requests are still
    answered, and the log says so in a few lines, not a line a second."""
    served = Served(tmp_path, max_files=1024)
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", served.port)))
        time.sleep(2.0)
        for _ in range(20):
            status, seconds = asyncio.run(healthz(served.port))
            assert status == 200 and seconds < 2.0
        time.sleep(2.0)
        assert served.process.poll() is None
        log = served.text()
        assert "Too many open files" not in log and "out of system resource" not in log, log
        # no line a connection over the limit (the start logs one line a migration)
        said = [line for line in log.splitlines() if "applying migration" not in line]
        assert len(said) < 10, log
        assert f"at most {1024 - FD_RESERVE} connections" in log
    finally:
        for s in idle:
            s.close()
        served.stop()
