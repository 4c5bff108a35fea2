"""``callcentre subject export|erase NUMBER`` on a real database file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from callcentre.__main__ import main
from callcentre.domain.callbacks import Result
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.db import Database
from tests.adapters.test_retention_sqlite import OLD, RESIDENT, a_closed


async def _one_closed_callback(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.migrate()
    await SqliteCallbackRepository(db).add(a_closed(OLD, Result.KEPT))
    await db.close()


def test_export_then_erase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cc.sqlite3"
    asyncio.run(_one_closed_callback(path))
    args = ["--set", f"db={path}", "--set", f"policy_file={tmp_path / 'none.toml'}", "subject"]
    assert main([*args, "export", "07700 900123"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["number"] == RESIDENT and exported["records"]["callbacks"][0]["id"] == 1
    assert main([*args, "erase", "07700 900123"]) == 0
    assert "callbacks 1" in capsys.readouterr().out
    main([*args, "export", "07700 900123"])
    assert json.loads(capsys.readouterr().out)["records"]["callbacks"] == []
    assert main([*args, "export", "not a number"]) == 2
