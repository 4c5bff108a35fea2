"""A fake Asterisk manager interface, for tests and the ``callcentre demo`` mode.

``FakeAmiServer`` speaks enough AMI for ``AmiClient``: banner, Login (with a
configurable username/secret), Ping, Logoff, canned replies and event lists per
action, raw byte pushes to every logged-in client, and a forced disconnect.

``rewrite_trace`` turns a recorded capture (tests/fixtures/ami/*.ami) into events
that can be replayed as new calls: it keeps only the events, moves their times and
renumbers their ids.  ``FakeAmiServer.replay_trace`` plays them, paced or not;
``bench/_stream.py`` concatenates them into a large stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callcentre.ami.protocol import FrameParser, Message

__all__ = ["SESSION_EVENTS", "FakeAmiServer", "TraceFrame", "encode_frame", "rewrite_trace"]

BANNER = "Asterisk Call Manager/11.0.0"
Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def encode_frame(headers: Headers) -> bytes:
    """One AMI frame from headers (no checks: this is the test side)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode() + b"\r\n"


@dataclass(frozen=True)
class _Canned:
    events: tuple[Headers, ...] | None
    fields: Headers
    error: str | None
    silent: bool
    complete_event: str | None


class FakeAmiServer:
    """An AMI server on 127.0.0.1 driven by a test (or by the demo)."""

    def __init__(
        self,
        *,
        username: str = "callcentre",
        secret: str = "callcentre",
        host: str = "127.0.0.1",
        port: int = 0,
        banner: str = BANNER,
    ) -> None:
        self.username = username
        self.secret = secret
        self.host = host
        self.port = port
        self.banner = banner
        self.silent = False  # read actions but answer nothing (a hung Asterisk)
        self.received: list[Message] = []
        self._canned: dict[str, _Canned] = {}
        self._clients: dict[asyncio.StreamWriter, bool] = {}  # writer -> logged in
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> int:
        """Listen and return the port (an ephemeral one unless ``port`` was given)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def logged_in(self) -> int:
        """How many clients are connected and logged in."""
        return sum(self._clients.values())

    def on_action(
        self,
        action: str,
        *,
        events: Sequence[Headers] | None = None,
        fields: Headers = (),
        error: str | None = None,
        silent: bool = False,
        complete_event: str | None = None,
    ) -> None:
        """Answer ``action`` with a canned reply from now on.

        ``events`` makes it an event list: ``Response: Success``/``EventList: start``,
        each event with the request's ActionID, then ``<complete_event>`` (default
        ``<action>Complete``) with ``EventList: Complete`` and ``ListItems``.
        ``fields`` are extra response headers, ``error`` answers ``Response: Error``
        with that Message, ``silent`` answers nothing at all.
        """
        canned = _Canned(
            None if events is None else tuple(events), fields, error, silent, complete_event
        )
        self._canned[action.lower()] = canned

    async def push(self, data: bytes, *, chunk_size: int | None = None) -> None:
        """Send raw bytes to every logged-in client, optionally ``chunk_size`` at a time."""
        size = chunk_size or max(len(data), 1)
        for start in range(0, len(data), size):
            for writer, logged_in in list(self._clients.items()):
                if logged_in and not writer.is_closing():
                    writer.write(data[start : start + size])
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
            if chunk_size:
                await asyncio.sleep(0)  # let the client read chunk by chunk

    async def drop(self) -> None:
        """Close every client connection at once (as a crashed Asterisk would)."""
        for writer in list(self._clients):
            writer.transport.abort()
        await asyncio.sleep(0)

    async def wait_action(self, action: str, *, count: int = 1, timeout: float = 2.0) -> Message:  # noqa: ASYNC109
        """Wait until ``count`` ``action`` actions were received; return the last."""

        def matching() -> list[Message]:
            return [m for m in self.received if (m.get("Action") or "").lower() == action.lower()]

        await self._wait(lambda: len(matching()) >= count, timeout)
        return matching()[count - 1]

    async def wait_logged_in(self, count: int = 1, *, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        await self._wait(lambda: self.logged_in >= count, timeout)

    async def _wait(self, predicate: Callable[[], bool], seconds: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), seconds)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def replay_trace(
        self,
        raw_trace: bytes,
        *,
        speed: float | None = None,
        rebase_to: float | None = None,
        id_offset: int = 0,
    ) -> int:
        """Push a recorded trace's events to the clients; return how many.

        See ``rewrite_trace`` for ``rebase_to`` and ``id_offset``.  Frames keep their
        recorded spacing divided by ``speed``; ``None`` sends them all at once.
        """
        frames = rewrite_trace(raw_trace, rebase_to=rebase_to, id_offset=id_offset)
        if speed is None:
            await self.push(b"".join(frame.data for frame in frames))
            return len(frames)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for frame in frames:
            delay = started + frame.offset / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.push(frame.data)
        return len(frames)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._clients[writer] = False
        parser = FrameParser()
        try:
            writer.write(f"{self.banner}\r\n".encode())
            while data := await reader.read(1 << 16):
                for message in parser.feed(data):
                    self._answer(writer, message)
                await self._notify()
        except ConnectionError:
            pass
        finally:
            self._clients.pop(writer, None)
            writer.transport.abort()
            self._tasks.discard(task)
            await self._notify()

    def _answer(self, writer: asyncio.StreamWriter, message: Message) -> None:
        self.received.append(message)
        if self.silent:
            return
        action = (message.get("Action") or "").lower()
        action_id = message.action_id or ""
        canned = self._canned.get(action)
        if action == "login":
            self._login(writer, message, action_id)
        elif not self._clients.get(writer):
            writer.write(_response(action_id, "Error", Message="Permission denied"))
        elif canned is not None:
            self._canned_reply(writer, message, action_id, canned)
        elif action == "ping":
            writer.write(_response(action_id, "Success", Ping="Pong", Timestamp=_now()))
        elif action == "logoff":
            writer.write(_response(action_id, "Goodbye", Message="Thanks for all the fish."))
            writer.close()
        else:
            writer.write(_response(action_id, "Error", Message="Invalid/unknown command"))

    def _login(self, writer: asyncio.StreamWriter, message: Message, action_id: str) -> None:
        if message.get("Username") != self.username or message.get("Secret") != self.secret:
            writer.write(_response(action_id, "Error", Message="Authentication failed"))
            writer.close()  # Asterisk ends the session after a failed login
            return
        self._clients[writer] = True
        writer.write(_response(action_id, "Success", Message="Authentication accepted"))
        booted = {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}
        writer.write(encode_frame(booted))

    def _canned_reply(
        self, writer: asyncio.StreamWriter, message: Message, action_id: str, canned: _Canned
    ) -> None:
        if canned.silent:
            return
        if canned.error is not None:
            writer.write(_response(action_id, "Error", Message=canned.error))
            return
        head = [("Response", "Success"), ("ActionID", action_id)]
        extra = list(canned.fields.items() if isinstance(canned.fields, Mapping) else canned.fields)
        if canned.events is None:
            writer.write(encode_frame(head + extra))
            return
        name = message.get("Action") or ""
        head.append(("EventList", "start"))
        writer.write(encode_frame(head + (extra or [("Message", f"{name} will follow")])))
        for event in canned.events:
            pairs = list(event.items() if isinstance(event, Mapping) else event)
            writer.write(encode_frame([*pairs[:1], ("ActionID", action_id), *pairs[1:]]))
        complete = canned.complete_event or f"{name}Complete"
        count = str(len(canned.events))
        tail = [("Event", complete), ("ActionID", action_id), ("EventList", "Complete")]
        writer.write(encode_frame([*tail, ("ListItems", count)]))


def _response(action_id: str, response: str, **fields: str) -> bytes:
    return encode_frame([("Response", response), ("ActionID", action_id), *fields.items()])


def _now() -> str:
    return f"{time.time():.6f}"


# -- recorded traces --------------------------------------------------------

# Events about the recording session itself (our own login), not about calls.
SESSION_EVENTS = frozenset({"FullyBooted", "SuccessfulAuth"})


@dataclass(frozen=True)
class TraceFrame:
    """One rewritten event: ``offset`` seconds after the trace's first event (as
    recorded), ``data`` the frame's bytes, terminator included."""

    offset: float
    data: bytes


@dataclass(frozen=True)
class _Shift:
    seconds: float  # added to every time
    ids: int  # added to the sequence part of every Uniqueid-like value


_ID = re.compile(r"(.*?)(\d+)\.(\d+)")  # [systemname-]<epoch>.<sequence>
_UUID_NS = uuid.UUID("6f6b0a52-7c0e-4f7a-9d1f-6c1e5a0b6d21")


def _shift_id(value: str, shift: _Shift) -> str:
    match = _ID.fullmatch(value)
    if match is None:
        return value
    prefix, epoch, seq = match.groups()
    return f"{prefix}{int(epoch) + round(shift.seconds)}.{int(seq) + shift.ids}"


def _shift_epoch(value: str, shift: _Shift) -> str:
    try:
        return f"{float(value) + shift.seconds:.6f}"
    except ValueError:
        return value


def _shift_epoch_int(value: str, shift: _Shift) -> str:  # LastCall etc.: 0 means never
    return str(int(value) + round(shift.seconds)) if value.isdigit() and value != "0" else value


def _shift_text_time(value: str, shift: _Shift) -> str:
    """``2026-11-22 20:36:06`` (Cdr, CEL) or ``2026-11-22T20:36:21.315+0000`` (EventTV)."""
    step = timedelta(seconds=shift.seconds)
    try:
        if "T" in value:
            when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC) + step
            return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
        # Asterisk's local time; the zone does not matter for a shift
        when = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) + step
    except ValueError:
        return value  # e.g. an empty AnswerTime of an unanswered call
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _new_bridge(value: str, shift: _Shift) -> str:
    return str(uuid.uuid5(_UUID_NS, f"{shift.ids}/{value}")) if shift.ids else value


# Every header that holds a time or a call/bridge id; change together with the
# fields listed in tests/fixtures/ami/README (when it exists) and translate.py.
_REWRITERS: dict[str, Callable[[str, _Shift], str]] = {
    **dict.fromkeys(
        ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid", "UniqueID", "LinkedID"),
        _shift_id,
    ),
    "BridgeUniqueid": _new_bridge,
    "Timestamp": _shift_epoch,
    **dict.fromkeys(("LastCall", "LastPause", "LoginTime"), _shift_epoch_int),
    **dict.fromkeys(
        ("EventTV", "SessionTV", "EventTime", "StartTime", "AnswerTime", "EndTime"),
        _shift_text_time,
    ),
}


def rewrite_trace(
    raw_trace: bytes, *, rebase_to: float | None = None, id_offset: int = 0
) -> list[TraceFrame]:
    """The call events of a recorded ``.ami`` capture, ready to replay as new calls.

    Dropped: the banner, every response, the events of the recorder's own event
    lists (QueueStatus …) and ``SESSION_EVENTS``.  With ``rebase_to`` (epoch
    seconds) every time moves so the first event's ``Timestamp`` is ``rebase_to``,
    spacing kept (Timestamp, EventTV, Cdr/CEL times, LastCall …); ids get the same
    whole-second shift on their epoch part and ``id_offset`` added to their
    sequence part, so ``1795379766.0`` may become ``1800000000.300``; bridge ids get
    new UUIDs when ``id_offset`` is set.  Offsets are the recorded spacing.
    """
    messages = FrameParser(max_frame_bytes=len(raw_trace) + 1).feed(raw_trace)
    list_ids = {m.action_id for m in messages if m.response and m.get("EventList") == "start"}
    list_ids.discard(None)
    events = [
        m for m in messages
        if m.event is not None and m.event not in SESSION_EVENTS and m.action_id not in list_ids
    ]
    stamps = [m.timestamp for m in events if m.timestamp is not None]
    first = stamps[0] if stamps else 0.0
    shift = _Shift(0.0 if rebase_to is None else rebase_to - first, id_offset)
    frames: list[TraceFrame] = []
    offset = 0.0
    for message in events:
        stamp = message.timestamp
        offset = offset if stamp is None else stamp - first
        frames.append(TraceFrame(offset, encode_frame(_rewrite(message, shift))))
    return frames


def _rewrite(message: Message, shift: _Shift) -> list[tuple[str, str]]:
    if not shift.seconds and not shift.ids:
        return message.items()
    rewriters = _REWRITERS
    return [
        (key, value if (rewrite := rewriters.get(key)) is None else rewrite(value, shift))
        for key, value in message.items()
    ]
