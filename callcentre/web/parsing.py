"""Reading request bodies and parameters: one place, one set of error messages."""

from __future__ import annotations

import enum
import json
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from callcentre.domain.paging import Keyset
from callcentre.errors import InvalidInput
from callcentre.web.errors import Handler
from callcentre.web.serialise import parse_int

E = TypeVar("E", bound=enum.Enum)
# (method, route) -> the query parameters and body fields it takes (web/openapi.py derives
# them from the description; app.py sets them): anything else is answered 422
Known = dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]]
KNOWN: web.AppKey[Known] = web.AppKey("known_fields")


def _known(request: web.Request) -> tuple[frozenset[str], frozenset[str]] | None:
    route = request.match_info.route.resource
    if route is None or KNOWN not in request.app:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[KNOWN].get((method, route.canonical))


@web.middleware
async def known_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A query parameter the route does not take is a 422 naming it, not silence."""
    known = _known(request)
    if known is not None:
        for name in request.query:
            if name not in known[0]:
                raise InvalidInput(f"{name} is not a parameter of this request", field=name)
    return await handler(request)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; what is not JSON is answered 400 by web/errors.py."""
    raw = await request.read()
    try:
        body = json.loads(raw.decode(request.charset or "utf-8"))
    except json.JSONDecodeError:
        raise
    except (ValueError, LookupError, RecursionError) as err:
        # aiohttp's request.json() lets these escape as a 500: bytes not in the charset (or
        # a charset Python does not know), arrays nested thousands deep, 5000-digit numbers
        raise json.JSONDecodeError(str(err), "", 0) from None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    known = _known(request)
    for name in body if known is not None else ():
        if name not in known[1]:  # type: ignore[index]
            raise InvalidInput(f"{name} is not a field of this request", field=name)
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


MAX_PAGE = 500
MAX_ID = 2**62


def path_id(request: web.Request) -> int:
    """The ``{id}`` in the path, a positive whole number (422 otherwise)."""
    value = parse_int("id", request.match_info["id"], None, 1, MAX_ID)
    assert value is not None  # no default: parse_int raised or returned a number
    return value


def page_limit(request: web.Request) -> int:
    return parse_int("limit", request.query.get("limit"), 50, 1, MAX_PAGE) or 50


class Order(enum.Enum):
    """The ``order`` of a list by deadline."""

    LATEST = "latest"
    SOONEST = "soonest"


def keyset_cursor(request: web.Request) -> Keyset | None:
    """The ``cursor`` of lists paged by (time, id), newest first: a page's own token."""
    token = request.query.get("cursor")
    return Keyset.from_token(token) if token else None
