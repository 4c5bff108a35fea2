"""Callbacks over HTTP: the JSON API and the agents' live prompt stream (server-sent events).

Thin handlers: parse -> CallbackService -> serialise (callbacks_view.py). Domain errors
become HTTP in web/errors.py only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from callcentre.domain.callbacks import AttemptOutcome, Result, Status, Told
from callcentre.errors import InvalidInput
from callcentre.ports import CallbackQuery
from callcentre.services.callbacks import CallbackService, NewCallback
from callcentre.web.auth import person, who
from callcentre.web.callbacks_view import agent_page, callback_json
from callcentre.web.live_feed import ChangeFeed, board_event
from callcentre.web.parsing import (
    Order,
    choice,
    json_object,
    keyset_cursor,
    next_page,
    page_limit,
    path_id,
    required_choice,
    text,
)
from callcentre.web.serialise import parse_time

__all__ = ["CALLBACKS", "CallbackWebDeps", "ChangeFeed", "routes", "setup"]


@dataclass(frozen=True)
class CallbackWebDeps:
    service: CallbackService
    board: Callable[[str | None], Awaitable[dict[str, Any]]]  # agent -> prompts snapshot
    feed: ChangeFeed
    tz: ZoneInfo
    heartbeat: float = 15.0


CALLBACKS: web.AppKey[CallbackWebDeps] = web.AppKey("callbacks")
routes = web.RouteTableDef()


def setup(app: web.Application, deps: CallbackWebDeps) -> None:
    """Register the routes and state; open streams end when the server shuts down."""
    app[CALLBACKS] = deps
    app.add_routes(routes)

    async def close_streams(_: web.Application) -> None:
        deps.feed.close()

    app.on_shutdown.append(close_streams)


def _time(deps: CallbackWebDeps, body: dict[str, Any], name: str, required: bool = True) -> Any:
    value = parse_time(name, text(body, name, required), deps.tz)
    if required and value is None:
        raise InvalidInput(f"{name} is required (ISO 8601 with offset)", field=name)
    return value


async def _one(deps: CallbackWebDeps, cb: Any, status: int = 200) -> web.Response:
    calls = await deps.service.calls_of(cb)
    return web.json_response(callback_json(cb, deps.tz, calls), status=status)


@routes.post("/api/callbacks")
async def create(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    cb = await deps.service.create(NewCallback(
        phone=text(body, "phone") or "", reason=text(body, "reason") or "",
        promised_by=person(request).name,
        case_ref=text(body, "case_ref", required=False),
        owner=text(body, "owner", required=False),
        language=text(body, "language", required=False),
        site=text(body, "site", required=False),
        due_by=_time(deps, body, "due_by", required=False),
        not_before=_time(deps, body, "not_before", required=False)))
    response = await _one(deps, cb, 201)
    response.headers["Location"] = f"/api/callbacks/{cb.id}"
    return response


@routes.get("/api/callbacks")
async def find(request: web.Request) -> web.Response:
    deps, q = request.app[CALLBACKS], request.query
    page = await deps.service.find(CallbackQuery(
        status=choice(Status, "status", q.get("status")), owner=q.get("owner") or None,
        due_from=parse_time("due_from", q.get("due_from"), deps.tz),
        due_until=parse_time("due_until", q.get("due_until"), deps.tz),
        case_ref=q.get("case") or None,
        soonest_first=choice(Order, "order", q.get("order")) is Order.SOONEST,
        limit=page_limit(request), cursor=keyset_cursor(request)))
    after = page.next_cursor.token() if page.next_cursor else None
    return web.json_response({"items": [callback_json(c, deps.tz) for c in page.items],
                              "next": next_page(request, after)})


@routes.get("/api/callbacks/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``event: prompts`` with the agent's board on every change."""
    deps = request.app[CALLBACKS]
    agent = _agent_of(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    with deps.feed.subscribe(agent, request.transport) as sub:  # bounded: web/live_feed.py
        message: bytes | None = board_event(await deps.board(agent))
        while message is not None and await sub.write(response, message):
            message = await sub.next(deps.heartbeat)
    return response


@routes.get("/api/callbacks/{id:[0-9]+}")
async def get(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    return await _one(deps, await deps.service.get(path_id(request)))


@routes.post("/api/callbacks/{id:[0-9]+}/reschedule")
async def reschedule(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    told = required_choice(Told, "told", text(body, "told"))
    cb = await deps.service.reschedule(path_id(request), _time(deps, body, "due_by"),
                                       text(body, "reason") or "", told, person(request).name)
    return await _one(deps, cb)


@routes.post("/api/callbacks/{id:[0-9]+}/cancel")
async def cancel(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    cb = await deps.service.cancel(path_id(request), text(body, "reason") or "",
                                   person(request).name)
    return await _one(deps, cb)


@routes.post("/api/callbacks/{id:[0-9]+}/outcome")
async def outcome(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    result = required_choice(AttemptOutcome, "outcome", text(body, "outcome"))
    cb = await deps.service.record_outcome(path_id(request), result, person(request).name,
                                           text(body, "note", required=False))
    return await _one(deps, cb)


@routes.post("/api/callbacks/{id:[0-9]+}/correct")
async def correct(request: web.Request) -> web.Response:
    """Correct a closed callback's result: ``result`` (kept, late, missed) and ``reason``;
    who is the token's name and role, recorded in the history."""
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    result = required_choice(Result, "result", text(body, "result"))
    cb = await deps.service.correct_result(path_id(request), result, text(body, "reason") or "",
                                           who(request))
    return await _one(deps, cb)


@routes.post("/api/callbacks/{id:[0-9]+}/snooze")
async def snooze(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    body = await json_object(request)
    cb = await deps.service.snooze(path_id(request), _time(deps, body, "until"),
                                   person(request).name)
    return await _one(deps, cb)


@routes.post("/api/callbacks/{id:[0-9]+}/accept")
async def accept(request: web.Request) -> web.Response:
    deps = request.app[CALLBACKS]
    agent = person(request).interface
    if agent is None:
        raise InvalidInput("your token's person takes no calls (no interface): an admin sets "
                           "it with the token", field="interface")
    return await _one(deps, await deps.service.accept(path_id(request), agent))


def _agent_of(request: web.Request) -> str | None:
    """Whose board a live page shows: an agent's own; a manager may name one (?agent=)."""
    token = person(request)
    if token.role != "agent":
        return request.query.get("agent") or token.interface
    return token.interface


@routes.get("/agent")
async def page(request: web.Request) -> web.Response:
    """The agents' page: the token is typed in and kept in the tab (never in the URL)."""
    return web.Response(text=agent_page(), content_type="text/html")
