"""The standards pages and the wallboard in a real browser (Debian's headless Chromium).

Screenshots are kept in artifacts/ (normal size and at 200 % zoom) as test artefacts; the
accessibility audit (axe-core) keeps its reports and a screenshot of every page it audited
in artifacts/axe/.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcentre.ami.fakeserver import FakeAmiServer
from callcentre.app import Service
from callcentre.config import Config
from tests.adapters.test_service_end_to_end import free_port
from tests.integration.axe import AxeUnavailable, axe_source
from tests.integration.cdp import chromium_tab
from tests.support import earlier_today, policy_file, synthetic_call

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian package 'chromium'; "
    "tests/system-deps.sh installs it when run as root)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def chromium(tmp: Path, *args: str) -> str:
    profile = tmp / f"profile-{time.monotonic_ns()}"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],  # type: ignore[list-item]
                         capture_output=True, text=True, timeout=90, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


CALLS_DAY: dict[str, date] = {}  # the local day of the calls each site was given
LONDON = ZoneInfo("Europe/London")  # the council's zone (Config's default)


@pytest.fixture
async def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = FakeAmiServer(username="callcentre", secret="s")
    for action in ("CoreShowChannels", "QueueStatus"):
        server.on_action(action, events=[])
    cfg = Config(ami_port=await server.start(), ami_secret="s", db=str(tmp_path / "cc.sqlite3"),
                 policy_file=policy_file(tmp_path),
                 http_port=free_port(), inbound_contexts=("from-resident",),
                 council_name="Exampleshire Council", languages=("en", "ga", "fa"),
                 http_open_routes=("/wallboard", "/api/wallboard"))  # a screen on the wall
    async with Service(cfg).running() as svc:
        await svc.ami.wait_connected(5)
        await server.wait_logged_in()
        now = time.time()
        start = earlier_today(now, 300)  # the wallboard shows today's figures
        CALLS_DAY[f"http://127.0.0.1:{cfg.http_port}"] = datetime.fromtimestamp(start, LONDON).date()
        calls = [(8.0, "answered"), (14.0, "answered"), (35.0, "answered"), (70.0, "abandoned")]
        for i, (wait, outcome) in enumerate(calls):
            await server.push(b"".join(synthetic_call(f"{int(now)}.{i}", start, wait, outcome)))
        # and one caller still waiting, for the wallboard
        await server.push(b"".join(synthetic_call(f"{int(now)}.9", now - 40, 1, "answered")[:2]))
        for _ in range(50):
            await svc.calllog.flush()
            if svc.calllog.stats.finished.get("abandoned"):
                break
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{cfg.http_port}"
    await server.stop()


async def test_public_standards_page_renders_the_figures(site: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"{site}/public/standards?period=day&date={CALLS_DAY[site]}"  # even past midnight
    dom = await asyncio.to_thread(chromium, tmp_path, "--dump-dom", url)
    assert "Answered within 20 seconds" in dom
    assert "50.0%" in dom  # 2 of 4 offered answered within 20 s
    assert "Exampleshire Council" in dom
    assert "+447700900123" not in dom and "07700900123" not in dom
    # Without JavaScript: the figures are in the HTML as served (the page has no script).
    served = await asyncio.to_thread(fetch, url)
    assert "<script" not in served and "Answered within 20 seconds" in served and "50.0%" in served
    await asyncio.to_thread(chromium, tmp_path, f"--screenshot={ARTIFACTS / 'standards.png'}",
                            "--window-size=1280,1800", url)
    await asyncio.to_thread(chromium, tmp_path, f"--screenshot={ARTIFACTS / 'standards-200.png'}",
                            "--force-device-scale-factor=2", "--window-size=800,1800", url)
    assert (ARTIFACTS / "standards.png").stat().st_size > 10_000
    assert (ARTIFACTS / "standards-200.png").stat().st_size > 10_000


async def test_wallboard_updates_itself(site: str, tmp_path: Path) -> None:
    dom = await asyncio.to_thread(chromium, tmp_path, "--virtual-time-budget=7000", "--dump-dom",
                                  f"{site}/wallboard")
    assert 'data-key="waiting">1<' in dom
    assert "Answered within 20 s today" in dom
    await asyncio.to_thread(chromium, tmp_path, f"--screenshot={ARTIFACTS / 'wallboard.png'}",
                            "--window-size=1280,800", f"{site}/wallboard")


# (name, CSS width, height, device pixels per CSS pixel, a phone?)
VIEWPORTS = [
    ("zoom-200", 640, 450, 2.0, False),  # a 1280 x 900 window at 200 % zoom: half the CSS px
    ("phone", 360, 740, 3.0, True),
]
LANGUAGES = ("en", "ga", "fa")  # English, one other language, and Farsi (right to left)
TOO_WIDE = """(() => {
  const page = document.documentElement.scrollWidth;
  if (page <= innerWidth) return [];
  const out = [...document.querySelectorAll('body *')].filter(e => {
    const box = e.getBoundingClientRect(); return box.right > innerWidth + 1 || box.left < -1; });
  return ['page ' + page + ' px', ...out.slice(0, 5).map(e => e.tagName + '.' + e.className)];
})()"""
BROKEN = ("data:text/html,<!doctype html><html lang=en><title>x</title><main><img src=x.png>"
          "<p style='color:%23ccc'>faint</p></main></html>")
AXE_RUN = """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => (
  {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))"""


async def test_the_public_page_passes_an_accessibility_audit_in_each_language(
        site: str, tmp_path: Path) -> None:
    """axe-core finds nothing serious or critical at 200 % zoom or on a phone, in English,
    Irish and Farsi (right to left)."""
    try:
        axe = await asyncio.to_thread(axe_source)
    except AxeUnavailable as err:
        pytest.skip(f"no axe-core: {err}")
    out = ARTIFACTS / "axe"
    out.mkdir(parents=True, exist_ok=True)
    serious: dict[str, list[dict[str, object]]] = {}
    async with chromium_tab(CHROMIUM, FLAGS, tmp_path / "profile-axe") as tab:  # type: ignore[arg-type]
        for code in LANGUAGES:
            for name, width, height, scale, mobile in VIEWPORTS:
                await tab.viewport(width, height, scale, mobile)
                await tab.open(f"{site}/public/standards?period=day&lang={code}")
                assert await tab.evaluate("document.documentElement.lang") == code
                # reflow (WCAG 1.4.10), which axe does not check: the page never scrolls sideways
                wide = await tab.evaluate(TOO_WIDE)
                assert not wide, f"{code} {name}: wider than the screen: {wide}"
                await tab.evaluate(axe + "\n;true")
                found = await tab.evaluate(AXE_RUN)
                (out / f"standards-{code}-{name}.json").write_text(json.dumps(found, indent=1))
                await tab.screenshot(out / f"standards-{code}-{name}.png")
                serious[f"{code} {name}"] = [v for v in found
                                             if v["impact"] in ("serious", "critical")]
        # the audit can fail: a page with an unlabelled image and grey-on-white text does
        await tab.open(BROKEN)
        await tab.evaluate(axe + "\n;true")
        assert {"image-alt", "color-contrast"} <= {v["id"] for v in await tab.evaluate(AXE_RUN)}
    print(f"axe-core {len(LANGUAGES) * len(VIEWPORTS)} audits: reports and screenshots in {out}")
    assert not any(serious.values()), json.dumps(serious, indent=1, ensure_ascii=False)
    assert (out / "standards-fa-phone.png").stat().st_size > 10_000
