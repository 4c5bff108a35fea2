"""JSON API for calls and cases: parse -> service -> serialise."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web

from callcentre.domain.calls import Outcome
from callcentre.domain.cases import CaseStatus
from callcentre.domain.queue_log import fold
from callcentre.errors import InvalidInput
from callcentre.ports import CallQuery, CallRepository, LedgerRepository
from callcentre.services.cases import CaseService
from callcentre.services.wrapup import WrapupService
from callcentre.web.parsing import (
    choice,
    json_object,
    keyset_cursor,
    next_page,
    page_limit,
    path_id,
    required_choice,
    text,
)
from callcentre.web.serialise import call_json, case_json, parse_time, stint_json


@dataclass(frozen=True)
class ApiDeps:
    calls: CallRepository
    cases: CaseService
    wrapup: WrapupService
    tz: ZoneInfo
    ledger: LedgerRepository | None = None  # None: AMI only


API: web.AppKey[ApiDeps] = web.AppKey("api")
routes = web.RouteTableDef()


@routes.get("/api/calls")
async def list_calls(request: web.Request) -> web.Response:
    deps, q = request.app[API], request.query
    query = CallQuery(
        since=parse_time("since", q.get("since"), deps.tz),
        until=parse_time("until", q.get("until"), deps.tz),
        queue=q.get("queue") or None,
        outcome=choice(Outcome, "outcome", q.get("outcome")),
        case_ref=q.get("case") or None,
        limit=page_limit(request),
        cursor=keyset_cursor(request),
    )
    page = await deps.calls.find(query)
    after = page.next_cursor.token() if page.next_cursor else None
    return web.json_response({"items": [call_json(c, deps.tz) for c in page.items],
                              "next": next_page(request, after)})


@routes.get("/api/calls/{id:[0-9]+}")
async def get_call(request: web.Request) -> web.Response:
    deps = request.app[API]
    call = await deps.calls.get(path_id(request))
    body = call_json(call, deps.tz)
    if deps.ledger is not None:  # the call's visits to queues, as Asterisk's queue_log has them
        ledger = fold(call.linkedid, await deps.ledger.lines_of(call.linkedid))
        body["stints"] = [stint_json(s, deps.tz) for s in ledger.stints]
    return web.json_response(body)


@routes.patch("/api/calls/{id:[0-9]+}")
async def link_call(request: web.Request) -> web.Response:
    deps = request.app[API]
    call_id = path_id(request)
    body = await json_object(request)
    if "case_ref" not in body:
        raise InvalidInput("send {\"case_ref\": \"<ref>\"} to link, or null to unlink",
                           field="case_ref")
    call = await deps.cases.link_call(call_id, text(body, "case_ref", required=False))
    return web.json_response(call_json(call, deps.tz))


@routes.put("/api/calls/{id:[0-9]+}/wrapup")
async def wrap_up_call(request: web.Request) -> web.Response:
    deps = request.app[API]
    call_id = path_id(request)
    body = await json_object(request)
    if "code" not in body:
        raise InvalidInput(f"send {{\"code\": \"<code>\"}}, one of: {', '.join(deps.wrapup.codes)}"
                           " (null clears it)", field="code")
    call = await deps.wrapup.set_code(call_id, body["code"])
    return web.json_response(call_json(call, deps.tz))


@routes.get("/api/wrapup-codes")
async def wrapup_codes(request: web.Request) -> web.Response:
    """The codes an agent may set (setting wrapup_codes), in the order offered."""
    return web.json_response({"codes": list(request.app[API].wrapup.codes)})


@routes.post("/api/cases")
async def create_case(request: web.Request) -> web.Response:
    deps = request.app[API]
    body = await json_object(request)
    case = await deps.cases.create(text(body, "ref") or "", text(body, "subject") or "",
                                   text(body, "phone", required=False))
    return web.json_response(case_json(case, deps.tz), status=201,
                             headers={"Location": f"/api/cases/{case.ref}"})


@routes.get("/api/cases")
async def list_cases(request: web.Request) -> web.Response:
    deps, q = request.app[API], request.query
    items, cursor = await deps.cases.find(
        choice(CaseStatus, "status", q.get("status")), q.get("phone") or None,
        page_limit(request), q.get("cursor") or None)
    return web.json_response({"items": [case_json(c, deps.tz) for c in items],
                              "next": next_page(request, cursor)})


@routes.get("/api/cases/{ref:.+}")
async def get_case(request: web.Request) -> web.Response:
    deps = request.app[API]
    case, calls = await deps.cases.with_calls(request.match_info["ref"])
    return web.json_response({**case_json(case, deps.tz),
                              "calls": [call_json(c, deps.tz) for c in calls]})


@routes.patch("/api/cases/{ref:.+}")
async def update_case(request: web.Request) -> web.Response:
    deps = request.app[API]
    body = await json_object(request)
    status = required_choice(CaseStatus, "status", text(body, "status"))
    case = await deps.cases.set_status(request.match_info["ref"], status)
    return web.json_response(case_json(case, deps.tz))
