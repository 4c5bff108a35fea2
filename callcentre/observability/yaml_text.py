"""Writes the little YAML that Prometheus's rule files and Alertmanager's config need.

Mappings, lists, strings, numbers and booleans, with a comment line where a value carries one:
enough for `callcentre rules` and `callcentre alertmanager-config`, so the service does not
depend on a YAML library for two generated files (tests read them back with PyYAML, and
promtool and amtool check them).

Strings are written plain when YAML would read them back as the same string, as a literal
block (``|-``) when they hold line breaks, and double-quoted (JSON's escapes are YAML's)
otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

# A plain scalar that YAML reads back as this very string: no indicator at the start, no
# ": " or " #" inside, no trailing blank, and not a word YAML would take for another type.
_PLAIN = re.compile(r'[A-Za-z0-9_/$.(](?:[ -"$-9;-~]|:(?=[!-"$-~]))*')
# Lines of printable ASCII, the first not indented, no blank at a line's end, no line break at
# the end: written as a literal block (|-), which reads back as the same text.
_BLOCK = re.compile(r"[!-~]([ -~]*[!-~])?(\n([ -~]*[!-~])?)*\n([ -~]*[!-~])")
# Characters YAML does not take as they are, or takes for line breaks: escaped when quoted.
_UNSAFE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                     "\U00010000-\U0010ffff]")
# Inside {...} plain words only (labels: warning, 20s); anything else is quoted.
_FLOW_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
# Words YAML 1.1 (Prometheus's and Alertmanager's parser) or 1.2 reads as something else: booleans,
# null, and anything made of a number's characters (ints in any base, floats, sexagesimals,
# dates; a few strings such as "12e" are quoted for nothing). "15m" and "20s" stay plain.
_NOT_STRINGS = re.compile(
    r"(?i)(true|false|yes|no|on|off|null|~|y|n|[-+]?\.(inf|nan)"
    r"|[-+]?[.\d][\d_.:a-fxob+-]*|\d{4}-\d\d?-\d\d?([Tt ].*)?)")


class Flow(dict[str, str]):
    """A small mapping of strings, written on one line: ``labels: {severity: warning}``."""


@dataclass(frozen=True)
class Commented:
    """A mapping whose comment lines (``# why``) are written after its first key."""

    comment: str
    mapping: Mapping[str, Value]


Value: TypeAlias = (
    "str | int | float | bool | Flow | Commented | Mapping[str, Value] | Sequence[Value]")


def scalar(value: str | int | float | bool, in_flow: bool = False) -> str:
    """One value as a YAML scalar that reads back as the same value and type (``in_flow``:
    inside ``{...}``, where more characters are indicators)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if ((_FLOW_PLAIN if in_flow else _PLAIN).fullmatch(value)
            and not _NOT_STRINGS.fullmatch(value) and value == value.strip()):
        return value
    return _UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def flow(mapping: Mapping[str, str]) -> str:
    """A mapping of strings on one line: ``{severity: warning}``."""
    return "{" + ", ".join(f"{scalar(k, True)}: {scalar(v, True)}"
                           for k, v in mapping.items()) + "}"


def dump(value: Mapping[str, Value], header: str = "") -> str:
    """The document: ``header`` (each line made a comment), then ``value``."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += _mapping(value, 0)
    return "\n".join(lines) + "\n"


def _mapping(value: Mapping[str, Value] | Commented, indent: int) -> list[str]:
    pad = " " * indent
    comment = []
    if isinstance(value, Commented):
        comment = [f"{pad}# {line}".rstrip() for line in value.comment.splitlines()]
        value = value.mapping
    lines = []
    for i, (key, item) in enumerate(value.items()):
        lines += _entry(f"{pad}{scalar(key)}:", item, indent)
        if i == 0:
            lines += comment
    return lines


def _entry(head: str, item: Value, indent: int) -> list[str]:
    """``head`` (``key:`` or ``-``) followed by ``item``, inline or on the lines below."""
    if isinstance(item, str) and _BLOCK.fullmatch(item):
        body = [" " * (indent + 2) + line if line else "" for line in item.splitlines()]
        return [f"{head} |-", *body]
    if isinstance(item, str | int | float | bool):
        return [f"{head} {scalar(item)}"]
    if isinstance(item, Flow):
        return [f"{head} {flow(item)}"]
    if isinstance(item, Commented | Mapping):
        return [head, *_mapping(item, indent + 2)] if item else [f"{head} {{}}"]
    return [head, *_sequence(item, indent + 2)] if item else [f"{head} []"]


def _sequence(items: Sequence[Value], indent: int) -> list[str]:
    lines = []
    pad = " " * indent
    for item in items:
        if isinstance(item, Commented | Mapping) and not isinstance(item, Flow):
            first, *rest = _mapping(item, indent + 2)
            lines += [f"{pad}- {first.lstrip()}", *rest]
        else:
            lines += _entry(f"{pad}-", item, indent)
    return lines
