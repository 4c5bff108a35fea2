"""A real Prometheus (Debian's package) scrapes the running service and evaluates
metrics/rules.yml while calls flow; its service level equals the one the service
computes from its database for the same calls."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file, synthetic_call

PROMETHEUS = shutil.which("prometheus")
RULES = Path(__file__).resolve().parents[2] / "metrics" / "rules.yml"
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (Debian package 'prometheus'; "
    "tests/system-deps.sh installs it when run as root)")

# (wait seconds, outcome): 20 s and 60 s thresholds, a short abandon (< 5 s), a timeout
CALLS = [(3.2, "answered"), (12.0, "answered"), (19.99, "answered"), (20.0, "answered"),
         (20.4, "answered"), (47.0, "answered"), (75.0, "answered"), (2.0, "abandoned"),
         (9.5, "abandoned"), (31.0, "abandoned"), (300.0, "timeout")]


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def accepted(port: int, expr: str) -> None:
    try:
        query(port, expr)
    except urllib.error.HTTPError as err:
        raise AssertionError(f"Prometheus refused {expr}: {err.read()[:400]!r}") from err


def dashboard_queries() -> list[str]:
    """Every query of the packaged dashboard (metrics/dashboards/callcentre.json)."""
    dash = json.loads((RULES.parent / "dashboards" / "callcentre.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


async def wait_for(port: int, expr: str, timeout: float = 40) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = await asyncio.to_thread(query, port, expr)
        except (urllib.error.URLError, ConnectionError):
            result = []  # Prometheus is still starting
        if result:
            return float(result[0]["value"][1])
        await asyncio.sleep(0.5)
    raise AssertionError(f"Prometheus never had {expr}")


def start_prometheus(tmp: Path, target_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n  - job_name: callcentre\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n")
    with (tmp / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",  # type: ignore[list-item]
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
    return proc, port


async def test_prometheus_service_level_equals_the_database(tmp_path: Path) -> None:
    server = FakeAmiServer(username="callcentre", secret="s")
    for action in ("CoreShowChannels", "QueueStatus"):
        server.on_action(action, events=[])
    cfg = Config(ami_port=await server.start(), ami_secret="s", db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path),
                 http_port=free_port(), inbound_contexts=("from-resident",),
                 http_open_routes=("/metrics",))  # a Prometheus without a token
    prom, prom_port = start_prometheus(tmp_path, cfg.http_port)
    try:
        async with Service(cfg).running() as svc:
            await svc.ami.wait_connected(5)
            await server.wait_logged_in()
            now = time.time()
            calls = [synthetic_call(f"{int(now)}.{i}", now - 400 + i, w, o)
                     for i, (w, o) in enumerate(CALLS)]
            # Callers join first: the queue's series exist at zero for a few scrapes, as
            # in real life (a call lasts longer than a scrape interval), then calls end.
            await server.push(b"".join(b"".join(frames[:2]) for frames in calls))
            await wait_for(prom_port, 'callcentre_calls_total{outcome="answered"} == 0')
            await asyncio.sleep(2.5)
            await server.push(b"".join(b"".join(frames[2:]) for frames in calls))
            await wait_for(prom_port, 'callcentre_calls_total{outcome="timeout"} == 1')
            await asyncio.sleep(3)  # a few more scrapes and rule evaluations
            # From yesterday: in the first 400 s after midnight the calls began the day before.
            today = svc.standards.today()
            db = await svc.standards.standards(today - timedelta(days=1),
                                               today + timedelta(days=1), None)
            sl20 = await wait_for(prom_port, "queue:callcentre_service_level_20s:ratio5m")
            sl60 = await wait_for(prom_port, "queue:callcentre_service_level_60s:ratio5m")
            abandon = await wait_for(prom_port, "queue:callcentre_abandon_rate:ratio5m")
            for expr in dashboard_queries():  # Grafana's queries, as Prometheus parses them
                await asyncio.to_thread(accepted, prom_port, expr)
    finally:
        prom.terminate()
        prom.wait(10)
        await server.stop()
    assert db.offered == 10 and db.answered_within[20] == 4
    assert sl20 == pytest.approx(db.service_level[20], abs=1e-9)
    assert sl60 == pytest.approx(db.service_level[60], abs=1e-9)
    assert abandon == pytest.approx(db.abandon_rate, abs=1e-9)
