"""Generated requests, fitting and hostile, from the OpenAPI description (web/openapi.py)
to the whole service on SQLite: no 5xx, and only statuses the description declares.

Schemathesis builds a test per operation; the service runs in its own thread and event
loop (schemathesis's requests are synchronous). Bounded: a fixed seed, derandomised, a
few examples an operation; the whole module takes about 16 s on 2 cores. For a larger
run, against a running service: ``st run http://HOST:PORT/api/openapi.json -H
"Authorization: Bearer TOKEN" --max-examples 500``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.calls import Call, EndSource, Outcome
from callcentre.services.callbacks import NewCallback
from callcentre.web.auth import create_token
from callcentre.web.openapi import DESCRIPTION, PATH
from tests.adapters.test_service_end_to_end import free_port
from tests.support import policy_file

EXAMPLES = 12  # an operation, in each of the fitting and the hostile modes
CONFIG = schemathesis.Config.from_dict({
    "seed": 20261123,
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True,
                   "database": "none"},
    # the coverage phase's boundary values, then generated ones; no stateful sequences
    "phases": {"stateful": {"enabled": False}},
})
# the stream never ends by design: tests/adapters/test_live_feed.py covers it; revoking
# would revoke the fuzzing token itself: tests/adapters/test_access.py covers it
schema = schemathesis.openapi.from_dict(DESCRIPTION, config=CONFIG).exclude(
    path="/api/callbacks/stream").exclude(path="/api/tokens/{id}/revoke")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@dataclass
class Running:
    url: str
    auth: dict[str, str]


class ServiceThread:
    """The service on its own event loop in a thread, entered and left from the test's."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._running = service.running()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def __enter__(self) -> ServiceThread:
        self.thread.start()
        self.run(self._running.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._running.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


async def seed(svc: Service) -> str:
    """A token, and one of each thing, so that some generated ids and refs exist."""
    now = svc.clock.now()
    await svc.calls.save([Call(linkedid="1.1", channel="PJSIP/resident-1", arrived_at=now,
                               caller="+441632960001", queue="council", queued_at=now,
                               ended_at=now + timedelta(minutes=1),
                               outcome=Outcome.ABANDONED, end_source=EndSource.HANGUP)])
    await svc.case_service.create("A", "council tax", "+441632960001")
    await svc.callbacks.service.create(NewCallback("+441632960001", "fuzz", "team", "A"))
    # an admin, so that every operation is reached (an agent at PJSIP/fuzz, for accept)
    return await create_token(svc.tokens, "admin", "fuzz", now, interface="PJSIP/fuzz")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg = Config(ami_port=free_port(), db=str(tmp / "cc.sqlite3"), http_port=free_port(),
                 policy_file=policy_file(tmp), ami_reconnect_max=0.2)
    with ServiceThread(Service(cfg)) as running:
        token = running.run(seed(running.service))
        yield Running(f"http://127.0.0.1:{cfg.http_port}",
                      {"Authorization": f"Bearer {token}"})


@schema.parametrize()
def test_generated_requests_get_no_5xx_and_only_declared_statuses(
        case: schemathesis.Case, service: Running) -> None:
    case.call_and_validate(base_url=service.url, headers=service.auth, checks=CHECKS)


async def test_the_description_is_served_without_a_token(service: Running) -> None:
    async with aiohttp.ClientSession() as http, http.get(service.url + PATH) as resp:
        assert resp.status == 200
        assert await resp.json() == DESCRIPTION
