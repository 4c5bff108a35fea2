"""HTTP with idle sockets open: p99 of /healthz with 0 and with 1,000 idle connections.

The real service is started (no PBX: its AMI link just retries) and measured over HTTP on
127.0.0.1, a new connection per request (so each pays the accept and the connection
guard of web/limits.py). The reference is the same server with no idle socket, measured
in the same run; then 1,000 sockets are opened and left silent, and it is measured again.
At the default http_max_connections (1,000) the idle sockets fill the cap, so each
measured request also makes room by closing the longest-idle one.

    .venv/bin/python bench/http_idle.py [--idle N] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _policy import ALWAYS_OPEN  # bench/, the script's own folder

from callcentre.app import Service
from callcentre.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_idle(port: int, n: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]


async def latencies(url: str, n: int) -> list[float]:
    out = []
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(n):
            started = time.perf_counter()
            async with http.get(url) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            out.append(time.perf_counter() - started)
    return out


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


async def main(idle: int, requests: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "policy.toml").write_text(ALWAYS_OPEN)
        cfg = Config(db=str(Path(tmp) / "cc.sqlite3"), http_port=free_port(),
                     ami_port=free_port(), policy_file=str(Path(tmp) / "policy.toml"))
        url = f"http://127.0.0.1:{cfg.http_port}/healthz"
        async with Service(cfg).running() as svc:
            await latencies(url, 50)  # warm up
            reference = await latencies(url, requests)
            # from a thread: the server's loop must keep accepting while they connect
            sockets = await asyncio.to_thread(open_idle, cfg.http_port, idle)
            await asyncio.sleep(1.5)  # all accepted, and older than the idle grace
            try:
                loaded = await latencies(url, requests)
                stats = svc.connections.stats
                still_open = stats.open
            finally:
                for s in sockets:
                    s.close()
    print(f"/healthz, new connection per request, {requests} requests each")
    print(f"  0 idle sockets      p50 {p(reference, 50):6.2f} ms   p99 {p(reference, 99):6.2f} ms"
          "   (reference)")
    print(f"  {idle} idle sockets  p50 {p(loaded, 50):6.2f} ms   p99 {p(loaded, 99):6.2f} ms")
    print(f"  p99 ratio (idle / reference): {p(loaded, 99) / p(reference, 99):.2f}")
    print(f"  connections: {still_open} open with the idle ones, {stats.closed['idle_evicted']}"
          f" idle closed to make room (cap {svc.connections.max_connections}),"
          f" {stats.refused} refused")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.idle, args.requests))
