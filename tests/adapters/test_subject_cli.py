"""``callcentre subject export|erase NUMBER`` on a real database file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from callcentre.__main__ import main
from callcentre.domain.callbacks import Result
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.db import Database
from tests.adapters.test_retention import OLD, RESIDENT, a_closed


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


async def _calls(path: Path) -> None:
    from callcentre.storage.call_repository import SqliteCallRepository
    from tests.contract.test_standards_repository import random_calls

    db = Database(path)
    await db.open()
    await db.migrate()
    await SqliteCallRepository(db).save(random_calls(200, seed=1))
    await db.close()


async def _audited(path: Path) -> None:
    from callcentre.domain.people import AuditEntry
    from callcentre.storage.audit_repository import SqliteAuditRepository
    from callcentre.testing import utc

    db = Database(path)
    await db.open()
    await db.migrate()
    for day in (1, 2, 3):
        await SqliteAuditRepository(db).append(AuditEntry(
            utc(2027, 3, day, 10), "Ann", "agent", "read", "GET", "/api/calls/{id}", str(day), 200))
    await db.close()


def test_token_list_revoke_and_audit_export(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cc.sqlite3"
    asyncio.run(_audited(path))
    base = ["--set", f"db={path}", "--set", "timezone=UTC"]
    assert main([*base, "token", "create", "--role", "agent", "--name", "Ann",
                 "--interface", "PJSIP/ann", "--days", "7"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("cc_")
    assert main([*base, "token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "valid" in listed and "Ann at PJSIP/ann" in listed and token not in listed
    assert main([*base, "token", "revoke", "1"]) == 0
    main([*base, "token", "list"])
    assert "revoked" in capsys.readouterr().out
    assert main([*base, "token", "create", "--role", "manager", "--name", "Ann"]) == 2
    assert "Ann has the agent role" in capsys.readouterr().err
    assert main([*base, "audit", "export", "--since", "2027-03-02", "--until", "2027-03-03"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("at,person") and len(rows) == 2 and rows[1].endswith(",2,200")


def test_person_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--set", f"db={tmp_path / 'cc.sqlite3'}"]
    assert main([*base, "person", "add", "dee@council.example", "--role", "manager"]) == 0
    assert "dee@council.example may now sign in as manager" in capsys.readouterr().out
    assert main([*base, "person", "add", "Eve", "--role", "agent",
                 "--interface", "PJSIP/eve"]) == 0
    capsys.readouterr()
    assert main([*base, "person", "add", "dee@council.example", "--role", "agent"]) == 2
    assert "already a person" in capsys.readouterr().err
    assert main([*base, "person", "add", "Bad\nName", "--role", "agent"]) == 2
    assert "printable" in capsys.readouterr().err
    assert main([*base, "person", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "agent    Eve at PJSIP/eve", "manager  dee@council.example"]


def test_rebuild_figures_builds_then_checks_then_repairs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cc.sqlite3"
    asyncio.run(_calls(path))
    base = ["--set", f"db={path}", "--set", "timezone=UTC"]
    assert main([*base, "rebuild-figures"]) == 0
    assert "built the figures of every day for UTC" in capsys.readouterr().out
    assert main([*base, "rebuild-figures"]) == 0
    assert "agree with a recount" in capsys.readouterr().out
    con = sqlite3.connect(path)
    con.executescript("DELETE FROM figure_days WHERE queue = '*';")  # drifted, as by hand
    con.close()
    assert main([*base, "rebuild-figures"]) == 1
    assert "differed from a recount" in capsys.readouterr().out
    assert main([*base, "rebuild-figures"]) == 0
    capsys.readouterr()
    con = sqlite3.connect(path)  # the capacity model's half-hours (019) likewise
    con.executescript("UPDATE capacity_half_hours SET arrivals = arrivals + 1;")
    con.close()
    assert main([*base, "rebuild-figures"]) == 1
    out = capsys.readouterr().out
    assert "capacity half-hours:" in out and "differed from a recount" in out
    assert main([*base, "rebuild-figures"]) == 0
    assert "capacity half-hours: all" in capsys.readouterr().out
