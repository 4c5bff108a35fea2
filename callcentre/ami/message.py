"""One AMI frame as parsed: ``Message``, with lookups by header name.

A frame that ``FrameParser`` (protocol.py) found well formed is kept as its text
and searched, or (``split_headers``) as its text and a dict of its headers;
anything else comes as a list of headers.  The places that must agree on what "well
formed" means are ``FrameParser._keep_frames``, ``split_frames`` and ``_find``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

__all__ = ["Message", "split_frames"]

_PARTITION = str.partition
_SPLIT = str.split
_SEPARATOR = itertools.repeat(": ")
_ONCE = itertools.repeat(1)  # str.split's maxsplit: a value may hold ": "
_CRLF = ("\r", "\n")


class Message:
    """One AMI frame: its headers in order, repeated keys kept.

    Lookups (``get``, ``[]``, ``in``) see the first value of a key; ``get_all`` and
    ``items`` see every header.  A frame the parser found well formed keeps only its
    text: a lookup is one ``str.find`` for ``"\\r\\nKey: "`` and the header list is
    built when first asked for.  Most events are dropped after reading ``Event`` and
    a field or two, so most frames are never split into headers at all.  A parser with
    ``split_headers`` gives it a dict of first values as well (``_first``, in no
    particular order), and lookups use that.
    """

    __slots__ = ("_first", "_headers", "_text")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._headers: list[tuple[str, str]] | None = headers
        self._text = ""
        first = dict(headers)
        if len(first) != len(headers):  # a key repeats: the first value must win
            first = dict(reversed(headers))
        self._first: dict[str, str] | None = first

    @classmethod
    def _well_formed(cls, text: str) -> Message:
        """A frame FrameParser checked: CRLF-joined lines, each with ": " after a
        non-empty key, and no bare LF.  ``_find`` relies on exactly this."""
        message = cls.__new__(cls)
        message._text = text
        message._first = None
        message._headers = None
        return message

    def _all(self) -> list[tuple[str, str]]:
        headers = self._headers
        if headers is None:
            headers = self._headers = _split_headers(self._text)
        return headers

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key``, or ``default``."""
        first = self._first
        if first is not None:
            return first.get(key, default)
        value = _find(self._text, key)
        return default if value is None else value

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        """Distinct header names in order of first appearance."""
        return iter(dict.fromkeys(name for name, _ in self._all()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._all() == other._all()

    __hash__ = None  # type: ignore[assignment]  # equality by content; not hashable

    def __repr__(self) -> str:
        kind = self.event or self.response or "?"
        return f"<Message {kind} {len(self)} headers>"

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, in order (``[]`` when absent)."""
        return [value for name, value in self._all() if name == key]

    def items(self) -> list[tuple[str, str]]:
        """A copy of all headers, in order, repeated keys kept."""
        return list(self._all())

    @property
    def event(self) -> str | None:
        first = self._first
        if first is not None:
            return first.get("Event")
        text = self._text  # well formed; Asterisk puts Event first, no search
        if text.startswith("Event: "):
            end = text.find("\r\n")
            return text[7:] if end < 0 else text[7:end]
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def timestamp(self) -> float | None:
        """The ``Timestamp`` header (epoch seconds, ``timestampevents = yes``), if valid."""
        value = self.get("Timestamp")
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def chan_variables(self) -> dict[str, str]:
        """Channel variables from ``ChanVariable: NAME=value`` headers.

        Also reads OriginateResponse's ``ChanVariable(PJSIP/agent1-00000003): NAME=value``
        form; ``DestChanVariable`` (the other leg) is not included.  The first value of a
        repeated name wins, as in ``get``.
        """
        found: dict[str, str] = {}
        for key, value in self._all():
            if key == "ChanVariable" or key.startswith("ChanVariable("):
                name, sep, var_value = value.partition("=")
                if sep and name not in found:
                    found[name] = var_value
        return found


def split_frames(texts: Iterable[str], out: list[Message],
                 lenient: Callable[[str], Message | None]) -> None:
    """Each frame's message, its headers split into a dict of first values as it is
    checked (``FrameParser(split_headers=True)``); ``lenient`` reads the rest.

    Well formed as ``FrameParser._keep_frames`` checks it, here in the split itself:
    every line is split at its first ": " inside C, and ``dict`` refuses a line that
    stayed in one piece; then no empty name, and no bare LF (one more ``"\\n"`` than
    the CRLFs the lines were split at).  No Python call per frame: this loop is most
    of the cost of splitting every header (README, "How fast the AMI parser is").
    """
    new, append = Message.__new__, out.append
    for text in texts:
        if text[:1] in _CRLF:
            text = text.lstrip("\r\n")  # noqa: PLW2901  # stray empty lines between frames
        lines = text.split("\r\n")
        try:  # maxsplit 1: the search stops at a line's first ": ", never reads its value
            first = dict(map(_SPLIT, lines, _SEPARATOR, _ONCE))
        except ValueError:
            pass
        else:
            if "" not in first and text.count("\n") == len(lines) - 1:
                if len(first) != len(lines):  # a name repeats: the first value must win
                    first = dict(map(_SPLIT, reversed(lines), _SEPARATOR, _ONCE))
                message = new(Message)
                message._text = text
                message._first = first
                message._headers = None
                append(message)
                continue
        if text:
            read = lenient(text)
            if read is not None:
                append(read)


def _split_headers(text: str) -> list[tuple[str, str]]:
    """A well-formed frame's headers.  Every line holds ": ", so as many of them as
    lines means one per line: then keys and values alternate once each ": " is a line
    break too, and ``zip`` pairs them without a Python step per line."""
    if text.count(": ") == text.count("\r\n") + 1:
        parts = iter(text.replace(": ", "\r\n").split("\r\n"))
        return list(zip(parts, parts, strict=False))
    pairs = map(_PARTITION, text.split("\r\n"), _SEPARATOR)  # a value holds ": "
    return [(key, value) for key, _, value in pairs]


def _find(text: str, key: str) -> str | None:
    """The first value of ``key`` in a well-formed frame's text.

    Every CRLF there starts a line and every line's key ends at its first ": ", so
    the first line starting with ``key: `` is the first header named ``key`` -- as
    long as ``key`` itself holds no ": " (no header's name can).
    """
    if ": " in key:
        return None
    prefix = key + ": "
    if text.startswith(prefix):
        start = len(prefix)
    else:
        at = text.find("\r\n" + prefix)
        if at < 0:
            return None
        start = at + 2 + len(prefix)
    end = text.find("\r\n", start)
    return text[start:] if end < 0 else text[start:end]
