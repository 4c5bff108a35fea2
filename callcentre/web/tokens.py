"""Admins manage people and their tokens: people listed and added; tokens listed (never the
token itself), created (shown once) and revoked."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from callcentre.domain.people import Person, Token
from callcentre.errors import InvalidInput
from callcentre.web.auth import (
    CLOCK,
    SESSION,
    TOKENS,
    create_token,
    hash_token,
    new_person,
    person,
    who,
)
from callcentre.web.parsing import json_object, path_id, text

log = logging.getLogger("callcentre.web")
routes = web.RouteTableDef()


def token_json(t: Token, now: datetime) -> dict[str, Any]:
    state = "revoked" if t.revoked_at else ("valid" if t.valid_at(now) else "expired")
    return {"id": t.id, "name": t.name, "role": t.role, "interface": t.interface,
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None, "state": state,
            "via": t.via}


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    """Whose token this is: name, role, interface, expiry."""
    about = token_json(person(request), request.app[CLOCK]())
    session = request.get(SESSION)
    if session is not None:  # what a signed-in page sends back with each change it asks for
        about["csrf"] = session.csrf
    return web.json_response(about, headers={"Cache-Control": "no-store"})


@routes.get("/api/tokens")
async def all_tokens(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    items = await request.app[TOKENS].all()
    return web.json_response({"items": [token_json(t, now) for t in items]})


@routes.post("/api/tokens")
async def new_token(request: web.Request) -> web.Response:
    body = await json_object(request)
    days = body.get("days", 90)
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise InvalidInput("days must be a number", field="days")
    repo, now = request.app[TOKENS], request.app[CLOCK]()
    token = await create_token(repo, text(body, "role") or "", text(body, "name") or "", now,
                               days=float(days), interface=text(body, "interface", False))
    made = await repo.find(hash_token(token))
    assert made is not None
    _log(request, f"made token {made.id} for {made.name} ({made.role})")
    return web.json_response({"token": token, "about": token_json(made, now)}, status=201,
                             headers={"Cache-Control": "no-store"})


@routes.get("/api/people")
async def all_people(request: web.Request) -> web.Response:
    people = await request.app[TOKENS].people()
    return web.json_response({"items": [person_json(p) for p in people]})


@routes.post("/api/people")
async def add_person(request: web.Request) -> web.Response:
    body = await json_object(request)
    person = new_person(text(body, "role") or "", text(body, "name") or "",
                        text(body, "interface", False))
    await request.app[TOKENS].add_person(person, request.app[CLOCK]())
    _log(request, f"added {person.name} ({person.role})")
    return web.json_response(person_json(person), status=201)


def person_json(p: Person) -> dict[str, Any]:
    return {"name": p.name, "role": p.role, "interface": p.interface}


@routes.post("/api/tokens/{id:[0-9]+}/revoke")
async def revoke(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    token = await request.app[TOKENS].revoke(path_id(request), now)
    _log(request, f"revoked token {token.id} of {token.name}")
    return web.json_response(token_json(token, now))


def _log(request: web.Request, what: str) -> None:
    log.info("%s: %s", who(request), what)
