"""Logging, set up in one place: one record is one line, and no value can forge another.

Values in log lines come from outside (API text fields, AMI headers, request paths). A
newline, a carriage return, a Unicode line separator or a terminal escape in one of them
would let a caller write a line that looks like the service's own ("... ERROR callcentre:
..."). ``escape`` writes every control character as ``\\n``, ``\\xNN`` or ``\\uNNNN``; in
the text format a traceback's lines all start with ``  | ``, so nothing but the service's
own records starts at the beginning of a line. ``log_format = "json"`` writes one JSON
object per line instead (json.dumps with ensure_ascii escapes all of it).

The standard library's logging is enough for this: one Formatter per format (structlog
would be a dependency for two small classes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

from callcentre.domain.ratelimit import LogBudget

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators (str.splitlines and
# many log viewers break lines there too)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    c = match.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def escape(text: str) -> str:
    """``text`` on one line: every control character written out."""
    return _CONTROL.sub(_escaped, text)


def _continuation(text: str) -> str:
    return "\n".join("  | " + escape(line) for line in text.rstrip("\n").split("\n"))


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` with the message escaped and tracebacks as ``  | `` lines."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + _continuation(record.exc_text)
        if record.stack_info:
            line += "\n" + _continuation(self.formatStack(record.stack_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exc, stack)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=True)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def setup(level: str, log_format: str = "text", stream: IO[str] | None = None) -> None:
    """The root logger writes ``log_format`` lines at ``level`` to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def quiet_loop_errors(loop: asyncio.AbstractEventLoop, every: float = 60.0) -> None:
    """The event loop's own error reports, at most once per ``every`` seconds per message.

    When the process runs out of file descriptors, asyncio reports every failed accept()
    (with a traceback) about once a second; web/limits.py keeps below the limit, and this
    keeps a report that still happens to one line a minute with a count.
    """
    budget = LogBudget(every)
    log = logging.getLogger("callcentre.loop")

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "event loop error"))
        held = budget.allow(message, time.monotonic())
        if held is None:
            return
        err = context.get("exception")
        more = f" ({held} more like it since the last report)" if held else ""
        log.error("%s: %r%s", message, err, more)

    loop.set_exception_handler(handler)
