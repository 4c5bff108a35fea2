"""An AMI account without the rights callcentre needs is named in /healthz, with what fails."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from callcentre.app import Service
from tests.asterisk.harness import AsteriskHarness
from tests.integration.test_calls_real import config_for, scenario, started

pytestmark = pytest.mark.asterisk


async def test_missing_read_and_write_classes_are_said_out_loud(
        asterisk: AsteriskHarness, tmp_path: Path) -> None:
    secret = asterisk.add_ami_user("no-user-no-originate", read="call,agent,system,dialplan",
                                   write="call,reporting")
    await asyncio.sleep(1.0)  # the manager reload settles (see test_each_rights_class_is_needed)
    cfg = replace(config_for(asterisk, tmp_path / "cc.sqlite3"),
                  ami_username="no-user-no-originate", ami_secret=secret)
    async with Service(cfg).running() as svc:
        await started(svc)
        for _ in range(50):
            if svc.resync.refused_actions:
                break
            await asyncio.sleep(0.1)
        assert svc.resync.refused_actions == ("Originate",)
        warnings = (await svc.monitoring.health())["ami"]["warnings"]
        assert any("may not send Originate: callbacks cannot be placed" in w for w in warnings)
        assert not any("read class" in w for w in warnings)  # no calls yet: nothing to judge
        for _ in range(3):
            await scenario(asterisk.answered, ring_s=0.5, talk_s=0.5)
        for _ in range(150):  # the third call's events may still be on their way when busy
            health = await svc.monitoring.health()
            said = [w for w in health["ami"]["warnings"] if "read class" in w]
            if said:
                break
            await asyncio.sleep(0.1)
        (read,) = said
        assert "read class 'user' was seen" in read and "case references" in read
        assert health["status"] == "degraded"
