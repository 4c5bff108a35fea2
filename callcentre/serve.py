"""``callcentre serve``: the process around the service (app.py): it runs until SIGTERM or
SIGINT, or until the instance loses the lead of its PBX, then drains and exits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Coroutine
from typing import Any

from callcentre.app import Service
from callcentre.config import Config
from callcentre.observability.logs import quiet_loop_errors

log = logging.getLogger("callcentre")
EX_TEMPFAIL = 75  # deposed: the process manager starts it again, standing by


async def run(config: Config, banner: str | None = None) -> None:
    """Run until SIGTERM or SIGINT (or the lead of the PBX is lost: then exit with
    EX_TEMPFAIL, to be started again as a standby), then drain within ``drain_seconds``: stop taking
    requests, give those in progress half the time, stop the tasks, flush calls, close.
    Whatever still runs when the time is up is cut off: the process exits (status 70);
    calls in progress are taken back from the database at the next start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    quiet_loop_errors(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = Service(config, banner=banner)
    async with service.running():
        await _first(stop.wait(), service.lead.deposed.wait())
        started = time.monotonic()
        log.info("stopping: draining in-flight work (at most %g s)", config.drain_seconds)
        overdue = loop.call_later(config.drain_seconds, _drain_overdue, config.drain_seconds)
    overdue.cancel()
    log.info("stopped in %.1f s", time.monotonic() - started)
    if service.lead.deposed.is_set():
        raise SystemExit(EX_TEMPFAIL)


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()


def _drain_overdue(seconds: float) -> None:
    log.error("stopping took longer than %g s: exiting with work still in flight", seconds)
    logging.shutdown()
    os._exit(70)  # EX_SOFTWARE; not sys.exit: that would wait for the very work that hangs
