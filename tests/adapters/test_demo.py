"""``callcentre demo`` as a newcomer meets it: every page says DEMO, the printed token works
in the demo's own database, the home page leads everywhere, and the replay shows real
abandons and timeouts (recorded from the real Asterisk), and callbacks."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from callcentre.config import Config
from callcentre.demo import BANNER, NO_PHONES, demo_running
from callcentre.domain.calls import Outcome
from callcentre.ports import CallQuery
from callcentre.web.pages import LINKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fetch(url: str, token: str | None = None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, resp.content_type, (await resp.text(), resp.headers)


async def test_demo_pages_token_and_mix(tmp_path: Path) -> None:
    cfg = Config(db=str(tmp_path / "demo.sqlite3"), http_port=free_port())
    async with demo_running(cfg, speed=8.0) as demo:
        base = f"http://127.0.0.1:{cfg.http_port}"
        status, _, (home, _) = await fetch(base + "/")
        assert status == 200 and BANNER in home
        for href, _text in LINKS:
            assert f'href="{href}"' in home, href
            status, ctype, (body, headers) = await fetch(base + href, demo.token)
            assert status == 200, (href, status)
            assert headers["X-Callcentre-Banner"].startswith("DEMO"), href
            if ctype == "text/html":
                assert BANNER in body, href
        status, _, _ = await fetch(base + "/api/calls", demo.token)
        assert status == 200  # the printed token belongs to the demo's database

        seen: set[Outcome] = set()
        deadline = time.monotonic() + 60
        while not {Outcome.ANSWERED, Outcome.ABANDONED, Outcome.TIMEOUT} <= seen:
            assert time.monotonic() < deadline, f"only {seen} in the replay"
            await demo.service.calllog.flush()
            page = await demo.service.calls.find(CallQuery(limit=100))
            seen = {c.outcome for c in page.items if c.outcome is not None}
            await asyncio.sleep(0.5)
        long_abandons = [c for c in page.items if c.outcome is Outcome.ABANDONED
                         and (c.wait_seconds or 0) >= cfg.short_abandon_seconds]
        assert long_abandons, "no abandon beyond the short-abandon time"
        for _ in range(40):
            status, _, (text, _) = await fetch(base + "/api/callbacks", demo.token)
            if '"items": []' not in text and '"items":[]' not in text:
                break
            await asyncio.sleep(0.25)
        assert '"reason"' in text, "the long abandon did not become a callback"
        await asyncio.sleep(3)  # the demo PBX refuses every call: they must back off
        status, _, (text, _) = await fetch(base + "/healthz")
        health = json.loads(text)
        assert health["callbacks"]["not_placed"] >= 1
        assert health["callbacks"]["latest_reason"].endswith(NO_PHONES)
        _, attempts = demo.service.callbacks.diallers.main.not_placed()[:2]
        assert attempts <= 2 * health["callbacks"]["not_placed"], attempts  # not 5 a second
