"""Reading request bodies and parameters: one place, one set of error messages."""

from __future__ import annotations

import enum
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from callcentre.errors import InvalidInput

E = TypeVar("E", bound=enum.Enum)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; malformed JSON is answered 400 by web/errors.py."""
    body = await request.json()
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def text(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def choice(kind: type[E], name: str, value: str | None) -> E | None:
    """``value`` as a member of the enum ``kind``; None when absent."""
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidInput(f"{name} must be one of: {allowed}", field=name) from None


def required_choice(kind: type[E], name: str, value: str | None) -> E:
    """Like ``choice``, but the value must be given."""
    member = choice(kind, name, value)
    if member is None:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidInput(f"{name} is required: one of {allowed}", field=name)
    return member


def next_page(request: web.Request, cursor: object) -> str | None:
    """The URL path of the next page: this request's query with ``cursor`` replaced."""
    if cursor is None:
        return None
    query = {k: v for k, v in request.query.items() if k != "cursor"}
    query["cursor"] = str(cursor)
    return f"{request.path}?{urlencode(query)}"
