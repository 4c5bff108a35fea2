"""Asterisk's own records of what happened: queue_log lines and CDR rows, parsed.

The harness reads these files straight from the session's log directory; they are the
ground truth that tests compare callcentre's AMI-derived call log against.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

# dialplans/cdr_custom.conf writes these columns, in this order (change both together).
CDR_FIELDS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "linkedid", "userfield", "sequence", "peeraccount",
)


@dataclass(frozen=True)
class QueueLogEntry:
    """One queue_log line: ``time|callid|queue|agent|event|data1|data2|...``.

    ``callid`` is the caller channel's Uniqueid (``NONE`` for PAUSE/UNPAUSE, ``CLI`` for
    members added from the CLI); ``agent`` is the member's name (``Agent 1``; the interface
    for ADDMEMBER/REMOVEMEMBER) or ``NONE``. ``data`` holds the
    event's own fields, e.g. CONNECT ``[holdtime, agent uniqueid, ringtime]``, ABANDON
    ``[position, original position, holdtime]``, COMPLETEAGENT ``[holdtime, talktime,
    original position]``, RINGNOANSWER ``[ring time in ms]``.
    """

    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: list[str]

    @classmethod
    def parse(cls, line: str) -> QueueLogEntry:
        fields = line.rstrip("\n").split("|")
        if len(fields) < 5:
            raise ValueError(f"not a queue_log line: {line!r}")
        stamp, callid, queue, agent, event, *data = fields
        return cls(int(float(stamp)), callid, queue, agent, event, data)


@dataclass(frozen=True)
class LogMark:
    """Where each log file ended when the mark was taken (byte offsets)."""

    queue_log: int
    cdr: int
    messages: int


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: Path, offset: int = 0) -> str:
    """The text appended to ``path`` since byte ``offset`` (whole lines only)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return ""
    end = data.rfind(b"\n") + 1  # a line Asterisk is still writing is left for next time
    return data[:end].decode("utf-8", "replace")


def parse_queue_log(text: str) -> list[QueueLogEntry]:
    return [QueueLogEntry.parse(line) for line in text.splitlines() if line.strip()]


def parse_cdrs(text: str) -> list[dict[str, str]]:
    rows = csv.reader(io.StringIO(text))
    return [dict(zip(CDR_FIELDS, row, strict=False)) for row in rows if row]
