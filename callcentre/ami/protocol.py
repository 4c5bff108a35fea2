"""Sans-I/O Asterisk Manager Interface (AMI) framing, parsing and action encoding.

Nothing here touches a socket or a clock: ``FrameParser.feed`` takes the bytes a
transport read and returns the messages they complete; ``ReplyRouter`` matches them
to actions.  Wire format (tests/fixtures/ami/*.ami): a banner line
``Asterisk Call Manager/11.0.0``, then frames of ``Key: value`` lines joined by CRLF
and ended by an empty line; keys repeat (``ChanVariable``), so order is kept.
Header names are matched as Asterisk spells them: CEL and Cdr events say
``UniqueID``/``LinkedID`` where channel events say ``Uniqueid``/``Linkedid``.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callcentre.ami.message import Message, split_frames

__all__ = ["FrameParser", "Message", "ParserStats", "Reply", "ReplyRouter", "encode_action"]

TERMINATOR = b"\r\n\r\n"
_TAIL = len(TERMINATOR) - 1  # bytes kept so a terminator split across reads is found

# Per-line work runs inside C (map over a str method), never as a Python loop: it is
# most of the cost of parsing.  See FrameParser._keep_frames and message.split_frames.
_CONTAINS = operator.contains
_SEPARATOR = itertools.repeat(": ")
_DECODE = bytearray.decode
_UTF8 = itertools.repeat("utf-8")
_REPLACE = itertools.repeat("replace")


@dataclass
class ParserStats:
    """Counters of one FrameParser; they survive ``FrameParser.reset``."""

    frames: int = 0
    bytes: int = 0
    oversized_frames: int = 0
    malformed_lines: int = 0


class FrameParser:
    """Incremental AMI framer and parser.

    ``feed`` keeps a search offset, so each byte is searched for the terminator once
    however the stream is split.  A frame longer than ``max_frame_bytes`` is counted
    in ``stats.oversized_frames`` and skipped without being buffered: only the last
    three bytes are kept while looking for its end, then parsing resumes.

    A well-formed frame is kept as its text, and a lookup searches it: most events are
    dropped after reading ``Event``.  With ``split_headers`` every header of such a frame
    is split into a dict as it is parsed (lookups are then dict lookups), for a reader
    that reads most headers of most frames; both give equal messages.
    """

    def __init__(self, max_frame_bytes: int = 1 << 20, *, split_headers: bool = False) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self.split_headers = split_headers
        self.stats = ParserStats()
        self.banner: str | None = None
        self.reset()

    def reset(self) -> None:
        """Forget buffered bytes and the banner (a new connection); keep ``stats``."""
        self.banner = None
        self._buffer = bytearray()
        self._searched = 0  # bytes of _buffer already searched for a terminator
        self._banner_pending = True
        self._skipping = False
        self._skip_tail = b""

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished frame (never more than max_frame_bytes + 3)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes read from the stream; return the messages they complete, in order."""
        self.stats.bytes += len(data)
        if self._skipping:
            rest = self._skip(data)
            if rest is None:
                return []
            data = rest
        buffer = self._buffer
        buffer += data
        if self._banner_pending and not self._take_banner():
            self._searched = len(buffer)
            return []
        end = buffer.rfind(TERMINATOR, max(self._searched - _TAIL, 0))
        messages: list[Message] = []
        if end >= 0:
            buffer = self._take_frames(end, messages)
        if len(buffer) > self.max_frame_bytes + _TAIL:
            self._start_skipping(bytes(buffer[-_TAIL:]))
        self._searched = len(buffer)
        return messages

    def _take_banner(self) -> bool:
        """Consume the banner line; False while it is still incomplete.

        The banner is a first line without ':'; a stream whose first line has one
        (a test feeding frames only) has no banner.
        """
        buffer = self._buffer
        eol = buffer.find(b"\r\n", max(self._searched - 1, 0))
        colon = buffer.find(b":", self._searched, eol if eol >= 0 else len(buffer))
        if colon >= 0 or len(buffer) > self.max_frame_bytes:
            self._banner_pending = False
            self._searched = 0  # the terminator search starts afresh
            return True
        if eol < 0:
            return False
        self.banner = buffer[:eol].decode("utf-8", "replace").strip()
        del buffer[: eol + 2]
        self._banner_pending = False
        self._searched = 0
        return True

    def _start_skipping(self, tail: bytes) -> None:
        self.stats.oversized_frames += 1
        self._buffer.clear()
        self._skipping = True
        self._skip_tail = tail

    def _skip(self, data: bytes) -> bytes | None:
        """Drop the rest of an oversized frame; return what follows its end, if seen."""
        window = self._skip_tail + data
        end = window.find(TERMINATOR)
        if end < 0:
            self._skip_tail = window[-_TAIL:]
            return None
        self._skipping = False
        self._skip_tail = b""
        return window[end + len(TERMINATOR) :]

    def _take_frames(self, end: int, out: list[Message]) -> bytearray:
        """Parse the complete frames (the last ends at ``end``) into ``out``; keep the
        unfinished rest as the buffer and return it.

        A block within the frame limit holds no oversized frame and is decoded at
        once.  That gives each frame the text decoding it alone would: CR and LF are
        ASCII, never inside a UTF-8 sequence, so every invalid sequence is replaced
        before the terminator that follows it.
        """
        texts: Iterable[str]
        if self.split_headers and end <= self.max_frame_bytes:
            texts = self._split_off_frames(end)
        else:
            buffer = self._buffer
            block = buffer[:end]  # one copy; bytearray splits and decodes like bytes
            del buffer[: end + len(TERMINATOR)]
            if end <= self.max_frame_bytes:
                texts = block.decode("utf-8", "replace").split("\r\n\r\n")
            else:
                texts = self._decode_frames(block.split(TERMINATOR))
        found = len(out)
        if self.split_headers:
            split_frames(texts, out, functools.partial(_parse_lines, stats=self.stats))
        else:
            self._keep_frames(texts, out)
        self.stats.frames += len(out) - found
        return self._buffer

    def _split_off_frames(self, end: int) -> list[str]:
        """The complete frames split off the buffer as bytes, each decoded alone.

        With ``split_headers`` this beat decoding the block at once by 4% (a 256 KiB
        string a read takes fresh pages from the allocator); for frames kept as text
        it lost 8% (a decode call a frame).  Strict decoding first, with no argument to
        parse, gained 2-7% more; a read with an invalid sequence is decoded again with
        replacement, so the texts are the same.  The frames are the same too: the last
        ends at ``end``, which is a later terminator than ``split`` finds in a run of
        three CRLFs.
        """
        buffer = self._buffer
        frames = buffer.split(TERMINATOR)
        rest = frames.pop()
        overlap = len(rest) - (len(buffer) - end - len(TERMINATOR))
        if overlap:  # "X\r\n\r\n\r\n": the frame is "X\r\n", as the block's split makes it
            frames[-1] += rest[:overlap]
            del rest[:overlap]
        self._buffer = rest
        try:
            return list(map(_DECODE, frames))
        except UnicodeDecodeError:
            return list(map(_DECODE, frames, _UTF8, _REPLACE))

    def _keep_frames(self, texts: Iterable[str], out: list[Message]) -> None:
        """Each frame kept as its text, checked with no Python step per line."""
        stats = self.stats
        well_formed = Message._well_formed
        for text in texts:
            text = text.lstrip("\r\n")  # noqa: PLW2901  # stray empty lines between frames
            lines = text.split("\r\n")
            # Well formed: ": " on every line, never first (an empty key), no bare LF.
            if (all(map(_CONTAINS, lines, _SEPARATOR)) and "\n: " not in text
                    and not text.startswith(": ") and text.count("\n") == len(lines) - 1):
                out.append(well_formed(text))
            elif text:
                message = _parse_lines(text, stats)
                if message is not None:
                    out.append(message)

    def _decode_frames(self, frames: list[bytearray]) -> list[str]:
        """Each frame's text, counting and leaving out the oversized ones."""
        texts = []
        for raw in frames:
            if len(raw) > self.max_frame_bytes:
                self.stats.oversized_frames += 1
            else:
                texts.append(raw.decode("utf-8", "replace"))
        return texts


def _parse_lines(text: str, stats: ParserStats) -> Message | None:
    """A frame that is not well formed, line by line (None if no line is a header).

    Asterisk ends every line with CRLF and puts ": " after the key; this reads a bare
    LF, ``Key:value`` and ``Response: Follows`` command output too, and counts the
    lines it cannot read (no ':', or an empty key).
    """
    headers = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")  # noqa: PLW2901  # the same line, CR dropped
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
        if sep and key:
            headers.append((key, value))
        elif line:
            stats.malformed_lines += 1
    return Message(headers) if headers else None


@dataclass(frozen=True)
class Reply:
    """A complete reply to one action: its response and, for an event list, the
    events in between and the terminating ``EventList: Complete`` event."""

    action_id: str
    response: Message
    events: tuple[Message, ...] = ()
    complete: Message | None = None


@dataclass
class _OpenList:
    response: Message
    events: list[Message]


class ReplyRouter:
    """Sorts incoming frames into replies to awaited actions and ordinary events.

    ``expect`` an ActionID before sending the action; ``route`` each frame.  A
    response with ``EventList: start`` opens a list that collects the events carrying
    that ActionID until the one with ``EventList: Complete``.  ``forget`` an action
    nobody waits for any more (timed out): the rest of its list is then dropped
    rather than handed on as events.
    """

    def __init__(self) -> None:
        self._expected: dict[str, _OpenList | None] = {}
        self._orphans: set[str] = set()

    def expect(self, action_id: str) -> None:
        self._expected[action_id] = None

    def forget(self, action_id: str) -> None:
        if self._expected.pop(action_id, None) is not None:
            self._orphans.add(action_id)

    def reset(self) -> None:
        """A new connection: nothing is awaited any more."""
        self._expected.clear()
        self._orphans.clear()

    def route(self, message: Message) -> Reply | Message | None:
        """A complete ``Reply``; the message itself when it is an ordinary event;
        None when the frame was consumed (part of a reply, a stray response)."""
        action_id = message.action_id
        if action_id is not None:
            if action_id in self._expected:
                return self._continue(action_id, message)
            if action_id in self._orphans:
                if _list_marker(message) == "complete":
                    self._orphans.discard(action_id)
                return None
            if message.response is not None and _list_marker(message) == "start":
                self._orphans.add(action_id)  # a late list: drop its events
        # an event with an ActionID nobody awaits is an event (e.g. OriginateResponse)
        return message if message.event is not None else None

    def _continue(self, action_id: str, message: Message) -> Reply | Message | None:
        open_list = self._expected[action_id]
        if open_list is None:
            if message.response is None:  # an event before the response is not the reply
                return message if message.event is not None else None
            if _list_marker(message) == "start" and message.response != "Error":
                self._expected[action_id] = _OpenList(message, [])
                return None
            del self._expected[action_id]
            return Reply(action_id, message)
        if message.event is None:
            return None
        if _list_marker(message) == "complete":
            del self._expected[action_id]
            return Reply(action_id, open_list.response, tuple(open_list.events), message)
        open_list.events.append(message)
        return None


def _list_marker(message: Message) -> str:
    """``start``/``complete`` on event-list frames, else ``""``."""
    return (message.get("EventList") or "").lower()


def encode_action(
    action: str, action_id: str, fields: Mapping[str, str | Sequence[str]]
) -> bytes:
    """Encode one AMI action frame.

    A sequence value becomes one header per item (e.g. several ``Variable:`` lines).
    Raises ValueError when a key or value holds CR or LF (header injection), when a
    key is empty or holds ':', or when ``fields`` sets Action or ActionID itself.
    """
    lines = [_header("Action", action), _header("ActionID", action_id)]
    for key, value in fields.items():
        if key.lower() in ("action", "actionid"):
            raise ValueError(f"{key!r} is set by encode_action, not by fields")
        values = (value,) if isinstance(value, str) else value
        lines.extend(_header(key, item) for item in values)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


def _header(key: str, value: str) -> str:
    if not key or ":" in key or _has_line_break(key):
        raise ValueError(f"invalid AMI header name {key!r}")
    if _has_line_break(value):
        raise ValueError(f"AMI header {key!r} value contains CR or LF")
    return f"{key}: {value}"


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text
