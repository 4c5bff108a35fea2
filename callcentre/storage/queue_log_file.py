"""Reads Asterisk's queue_log file as it grows, through rotations and restarts.

Whole lines only: a line Asterisk is still writing waits for the next poll. Where
reading stopped is the file's (device, inode) and byte offset, kept by the sink with
the lines in one transaction. On start, the same inode resumes at the offset; another
inode means the file was rotated, so the rest of the old file is read first from a
sibling that still has that inode (``queue_log.1``, ``queue_log.2026-12-01``...). The very
first start, with no position kept, begins after the last whole line already there. While
running, a rotation is noticed when the path names another inode: the open old file is
read to its end, then the new one from its start. A file shorter than the offset was
truncated and is read again from the start. Each case is counted in ``TailStats``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from callcentre.ports import LedgerPosition

log = logging.getLogger("callcentre.ledger")

Sink = Callable[[list[str], LedgerPosition], Awaitable[None]]
_CHUNK = 1 << 20  # bytes read per step
_LONGEST_LINE = 64 << 10  # a "line" longer than this is not queue_log: skipped


@dataclass
class TailStats:
    bytes_read: int = 0
    rotations: int = 0  # the file was replaced while we read it
    resumed_rotated: int = 0  # at start, the rest was read from a rotated file
    lost_at_start: int = 0  # the file we stopped in could not be found again: read from 0
    truncations: int = 0
    oversized: int = 0  # runs of bytes with no newline in 64 KiB, skipped
    state: str = "starting"  # reading, missing (no file), unreadable (permission...)
    detail: str = ""


def _last_line_end(path: Path, size: int) -> int:
    """The offset just after the last whole line within the first ``size`` bytes."""
    with path.open("rb") as f:
        f.seek(max(0, size - _LONGEST_LINE))
        tail = f.read(min(size, _LONGEST_LINE))
    return size - len(tail) + tail.rfind(b"\n") + 1


class _Open:
    def __init__(self, path: Path, offset: int) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.device, self.inode, self.offset = st.st_dev, st.st_ino, offset

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.device, self.inode)

    def close(self) -> None:
        os.close(self.fd)


class QueueLogTail:
    def __init__(self, path: str, position: Callable[[str], Awaitable[LedgerPosition | None]],
                 sink: Sink, poll_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self._position = position
        self._sink = sink
        self._poll = poll_seconds
        self._file: _Open | None = None
        self._first_look = True
        self.stats = TailStats()

    async def run(self) -> None:
        try:
            while True:
                await self.poll_once()
                await asyncio.sleep(self._poll)
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None

    async def poll_once(self) -> None:
        """Read everything new (rotations included) and hand it to the sink."""
        try:
            if self._file is None:
                await self._open_at_start()
            else:
                await self._follow()
        except OSError as err:
            self._state("missing" if isinstance(err, FileNotFoundError) else "unreadable",
                        str(err))
            return
        if self._file is not None:
            await self._drain(self._file)
            self._state("reading", "")

    async def _open_at_start(self) -> None:
        saved = await self._position(str(self.path))
        first_look, self._first_look = self._first_look, False
        current = os.stat(self.path)
        if saved is None:
            # Never read before: the history already in the file is not this service's to
            # record; calls from now on are (a file that appears later is read whole).
            start = _last_line_end(self.path, current.st_size) if first_look else 0
            self._file = _Open(self.path, start)
            return
        if (current.st_dev, current.st_ino) == (saved.device, saved.inode):
            offset = saved.offset if saved.offset <= current.st_size else 0
            self.stats.truncations += offset != saved.offset
            self._file = _Open(self.path, offset)
            return
        rotated = self._rotated_sibling(saved)
        if rotated is not None:
            self.stats.resumed_rotated += 1
            old = _Open(rotated, saved.offset)
            await self._drain(old)
            old.close()
        else:
            self.stats.lost_at_start += 1
            log.warning("queue_log: the file read up to the last stop is gone; reading %s "
                        "from its start (calls in between may be missing)", self.path)
        self._file = _Open(self.path, 0)

    def _rotated_sibling(self, saved: LedgerPosition) -> Path | None:
        for sibling in sorted(self.path.parent.glob(self.path.name + "*")):
            try:
                st = sibling.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (saved.device, saved.inode) and sibling.is_file():
                return sibling
        return None

    async def _follow(self) -> None:
        assert self._file is not None
        current = os.stat(self.path)
        if self._file.same_file(current):
            if current.st_size < self._file.offset:
                self.stats.truncations += 1
                self._file.offset = 0
            return
        await self._drain(self._file)  # the rest of the rotated file, then the new one
        self._file.close()
        self._file = None
        self.stats.rotations += 1
        self._file = _Open(self.path, 0)

    async def _drain(self, f: _Open) -> None:
        while True:
            data = await asyncio.to_thread(os.pread, f.fd, _CHUNK, f.offset)
            if not data:
                return
            end = data.rfind(b"\n") + 1
            if end == 0:
                if len(data) < _LONGEST_LINE:
                    return  # a line still being written
                self.stats.oversized += 1
                end = len(data)
                texts: list[str] = []
            else:
                texts = data[:end].decode("utf-8", "replace").splitlines()
            self.stats.bytes_read += end
            position = LedgerPosition(str(self.path), f.device, f.inode, f.offset + end)
            await self._sink([t for t in texts if t.strip()], position)
            f.offset += end

    def _state(self, state: str, detail: str) -> None:
        changed = state != self.stats.state
        if changed and state != "reading":
            log.warning("queue_log %s is %s (%s): settling from it waits", self.path, state,
                        detail)
        elif changed and self.stats.state != "starting":
            log.info("queue_log %s is readable again", self.path)
        self.stats.state, self.stats.detail = state, detail
