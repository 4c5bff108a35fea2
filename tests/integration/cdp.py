"""Just enough of the Chrome DevTools Protocol to audit a page in Debian's headless Chromium.

The browser tests otherwise drive ``chromium --dump-dom`` / ``--screenshot``; an accessibility
audit has to run a script inside the page and read its result back, set a viewport (a phone,
200 % zoom) and take screenshots, which needs the protocol. aiohttp (already the service's
HTTP library) speaks its WebSocket; Playwright would bring its own driver and browser builds.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp


class CdpError(RuntimeError):
    pass


class Tab:
    """One page of a running Chromium, driven over its DevTools WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws, self._ids = ws, itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        while True:  # events are read past: only the answer to this command is wanted
            message = await asyncio.wait_for(self._ws.receive_json(), timeout=60)
            if message.get("id") == ident:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                                 returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def viewport(self, width: int, height: int, scale: float, mobile: bool) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=scale, mobile=mobile)

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while await self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise CdpError(f"{url} did not finish loading")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        """The whole page, beyond the viewport, as PNG."""
        size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": size["width"],
                                     "height": size["height"], "scale": 1})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@asynccontextmanager
async def chromium_tab(binary: str, flags: list[str], profile: Path) -> AsyncIterator[Tab]:
    """A headless Chromium with one blank page; the browser is stopped on the way out."""
    proc = await asyncio.create_subprocess_exec(
        binary, *flags, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        port = await _devtools_port(profile / "DevToolsActivePort", proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json() if t["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield Tab(ws)
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _devtools_port(file: Path, proc: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it chose (``--remote-debugging-port=0``) into the profile."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise CdpError(f"chromium exited with {proc.returncode} before listening")
        with suppress(OSError, ValueError, IndexError):
            return int((await asyncio.to_thread(file.read_text)).splitlines()[0])
        await asyncio.sleep(0.1)
    raise CdpError("chromium did not open its DevTools port within 30 s")
