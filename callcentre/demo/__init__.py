"""``callcentre demo``: the real service, fed by a replay of recorded real calls.

For a newcomer with no PBX yet. A fake AMI server on 127.0.0.1 replays calls
recorded from Asterisk 22 (answered, abandoned, timed out), with fresh ids and times, in a
loop; the service connects to it exactly as it would to Asterisk. Everything the
service shows is labelled DEMO, and the demo uses its own database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator
from importlib import resources

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from callcentre.errors import CaseExists
from callcentre.storage.engines import shown
from callcentre.web.auth import create_token

log = logging.getLogger("callcentre.demo")
BANNER = "DEMO: these are recorded real calls replayed in a loop, not a live telephone system."
NO_PHONES = "DEMO: there are no telephones to ring"
# Recorded from the real Asterisk 22 of tests/asterisk (tests/asterisk/capture.py), each with
# its queue_log in tests/fixtures/ami/: an answered call, a short abandon (under the 5 s
# short-abandon time), an abandon after about 8.5 s (a real abandon, and an automatic
# callback under the demo's policy) and a queue timeout.
TRACES = ("answered.ami", "abandoned.ami", "abandoned_long.ami", "timeout.ami")


# recorded test calls, no resident's data: the pages open without signing in
DEMO_OPEN = ("/", "/standards", "/wallboard", "/api/wallboard", "/metrics")


def demo_config(config: Config, ami_port: int, secret: str) -> Config:
    """The demo's own database file and policy (always open), whatever the config says."""
    db = config.db if config.db != Config.db else "var/demo.sqlite3"
    policy = resources.files("callcentre.demo").joinpath("policy.toml")
    return dataclasses.replace(config, ami_host="127.0.0.1", ami_port=ami_port,
                               ami_username="demo", ami_secret=secret, db=db,
                               policy_file=str(policy),
                               inbound_contexts=(*config.inbound_contexts, "from-resident"),
                               http_open_routes=(*config.http_open_routes, *DEMO_OPEN))


async def replay_forever(server: FakeAmiServer, speed: float, pause: float = 3.0) -> None:
    traces = [resources.files("callcentre.demo").joinpath(n).read_bytes() for n in TRACES]
    round_no = 0
    while True:
        for trace in traces:
            round_no += 1
            # Fresh ids each round (the epoch part of a Linkedid moves with the new time).
            await server.replay_trace(trace, speed=speed, rebase_to=time.time(),
                                      id_offset=round_no * 1000)
            await asyncio.sleep(pause / speed)


# The recorded residents keyed these references; the demo knows them as open cases.
DEMO_CASES = (("CASE-answered-1", "Missed bin collection"),
              ("CASE-abandoned-1", "Council tax direct debit"))


async def seed_cases(service: Service) -> None:
    for ref, subject in DEMO_CASES:
        with contextlib.suppress(CaseExists):
            await service.case_service.create(ref, subject, None)


@dataclasses.dataclass(frozen=True)
class Demo:
    service: Service
    token: str  # a manager's token, valid in the demo's database only


@contextlib.asynccontextmanager
async def demo_running(config: Config, speed: float = 1.0) -> AsyncIterator[Demo]:
    """The service against a fake PBX replaying the recordings, with a fresh token."""
    secret = secrets.token_hex(8)
    server = FakeAmiServer(username="demo", secret=secret)
    for action in ("CoreShowChannels", "QueueStatus"):
        server.on_action(action, events=[])
    # No telephones to ring: a callback's call is refused, retried with back-off, and shown
    # as "cannot be placed" (wallboard, /metrics, /healthz), as with a PBX whose trunk is down.
    server.on_action("Originate", error=NO_PHONES)
    cfg = demo_config(config, await server.start(), secret)
    try:
        async with Service(cfg, banner=BANNER).running() as service:
            await seed_cases(service)
            token = await create_token(service.tokens, "manager", "demo",
                                       service.clock.now())
            replay = asyncio.get_running_loop().create_task(replay_forever(server, speed))
            try:
                yield Demo(service, token)
            finally:
                replay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await replay
    finally:
        await server.stop()


async def run_demo(config: Config, speed: float = 1.0) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.warning(BANNER)
    async with demo_running(config, speed) as demo:
        cfg = demo.service.config
        log.warning("DEMO running: open http://%s:%s/ ; database %s", cfg.http_host,
                    cfg.http_port, shown(cfg.db))
        # Printed, not logged: a secret, for the person who started the demo.
        print(f"DEMO manager token (sign in at /signin for /agent; for /api; this demo database"
              f" only): {demo.token}",
              flush=True)
        await stop.wait()
