"""The composition root wires blending and sized promises: the dialler reads the wallboard's
live queue state, and new callbacks are promised by PromiseService (the fixed rule on a
database with no history)."""

from __future__ import annotations

from pathlib import Path

from callcentre.app import Service
from callcentre.config import Config
from callcentre.domain.callback_policy import Source
from callcentre.services.callbacks import NewCallback
from tests.support import policy_file


def test_the_dialler_reads_the_wallboards_queue_state(tmp_path: Path) -> None:
    svc = Service(Config(db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path)))
    dialler = svc.callbacks.diallers.main
    assert dialler.blending.waiting == svc.monitoring.waiting
    assert dialler.blending.live_call == svc.calllog.tracker.get
    assert dialler._settings.blend_wait_seconds == 20.0  # the answer threshold
    off = Service(Config(db=str(tmp_path / "off.sqlite3"), policy_file=policy_file(tmp_path),
                         callback_blend_wait_seconds=-1))
    assert off.callbacks.diallers.main._settings.blend_wait_seconds is None


async def test_new_callbacks_are_promised_by_the_promise_service(tmp_path: Path) -> None:
    svc = Service(Config(db=str(tmp_path / "cc.sqlite3"), policy_file=policy_file(tmp_path)))
    assert svc.callbacks.service.promises == svc.promises.due_for
    await svc.db.open()
    try:
        await svc.db.migrate()
        cb = await svc.callbacks.service.create(NewCallback("+447700900123", "Boiler", "Sam"))
        fixed = svc.callbacks.service.policy.due_for(Source.AGENT, cb.created_at)
        assert cb.due_by == fixed  # no history yet: the fixed rule
        assert (svc.promises.sized, svc.promises.fixed) == (0, 1)
    finally:
        await svc.db.close()
