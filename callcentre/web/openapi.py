"""The OpenAPI 3.1 description of the JSON API, declared once here and served at
``GET /api/openapi.json`` (no token needed).

tests/meta/test_openapi.py fails when a route under /api/ is not described here, or a
described operation has no route; tests/adapters/test_api_fuzz.py sends requests generated
from it to the real service. Shapes and bounds: web/openapi_schemas.py.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from aiohttp import web

from callcentre.domain.callbacks import AttemptOutcome, Result, Status, Told
from callcentre.domain.calls import Outcome
from callcentre.domain.cases import CaseStatus
from callcentre.domain.periods import PeriodKind
from callcentre.web.auth import ACCESS, PUBLIC, ROLES
from callcentre.web.openapi_schemas import (
    CASE_REF,
    DAY,
    ERRORS,
    NAME,
    PHONE,
    REASON,
    SCHEMAS,
    STR,
    SUBJECT,
    TIME_IN,
    Schema,
    array,
    enum_of,
    null,
    obj,
    ref,
)
from callcentre.web.parsing import MAX_ID, MAX_PAGE, Known, Order

PATH = "/api/openapi.json"
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def answer(description: str, schema: Schema, media: str = "application/json") -> Schema:
    return {"description": description, "content": {media: {"schema": schema}}}


def op(summary: str, ok: Schema, *, tag: str, params: tuple[Schema, ...] = (),
       body: Schema | None = None, errors: tuple[int, ...] = (), status: int = 200) -> Schema:
    """One operation. ``errors``: the statuses it may answer besides ``status``, 503 (422
    comes with parameters, 400, 413 and 422 with a body); who may call it, and 401/403, come
    from web/auth.py's ACCESS table (``_with_access``)."""
    codes = set(errors) | {503} | ({422} if params else set())
    if body is not None:
        codes |= {400, 413, 422}
    responses = {str(status): ok, **{str(c): ERRORS[str(c)] for c in sorted(codes)}}
    spec: Schema = {"summary": summary, "tags": [tag], "parameters": list(params),
                    "responses": responses}
    if body is not None:
        spec["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": body}}}
    return spec


def _with_access(paths: dict[str, Schema]) -> dict[str, Schema]:
    """Each operation's security and ``x-role`` from the one ACCESS table."""
    for route, operations in paths.items():
        for method, spec in operations.items():
            rule = ACCESS[(method.upper(), route)]
            if rule.role == PUBLIC:
                spec["security"] = []
                if rule.by_queue:
                    spec["description"] = (f"Open; with {' or '.join(rule.asks)}, a token of "
                                           f"the {rule.by_queue} role or higher.")
                    spec["responses"].update({"401": ERRORS["401"], "403": ERRORS["403"]})
                continue
            spec["x-role"] = rule.role
            spec["description"] = f"Needs a token of the {rule.role} role or higher."
            spec["responses"].update({"401": ERRORS["401"], "403": ERRORS["403"]})
    return paths


def _callback_action(summary: str, body: Schema, *conflicts: int) -> Schema:
    return {"post": op(summary, answer("the callback as changed", ref("Callback")),
                       tag="callbacks", params=(path("id", ID),), body=body,
                       errors=(404, 409, *conflicts))}


_REPORT_PARAMS = (
    query("period", enum_of(PeriodKind), "day, week or month (default month)"),
    query("date", DAY, "a day in the period (default today)"),
    query("from", DAY, "first day of a range, both days included (with to)"),
    query("to", DAY, "last day of a range, at most 400 days after from"),
    query("queue", STR, "one queue's figures (default: all queues)"),
    query("site", STR, "with several PBXs: one site's figures, all its queues (a name of "
          "the pbx setting; not with queue; not on the published page)"),
    query("lang", STR, "the language of the words (figures, targets, formulas, labels; the "
          "CSV's headings): one of the setting languages; otherwise Accept-Language decides, "
          "else the first of them. Content-Language names the one used"),
)
_STAFFING = query("staffing", {"type": "string", "enum": ["yes", "no"], "default": "no"},
                  "yes: add the staffing advice for the coming week (a manager's, like queue); "
                  "the model is the queue's, or every queue pooled")
_AGENTS = query("agents", {"type": "string", "enum": ["yes", "no"], "default": "no"},
                "yes: add the post-call survey's figures per agent (a manager's, like queue)")
_PAGING = (query("limit", LIMIT, "items per page"),)
_KEYSET_CURSOR = query("cursor", STR, "from a page's next, as it is (opaque; a cursor not "
                       "given by this service is a 422)")

_CALLS: dict[str, Schema] = {
    "/api/calls": {"get": op("Calls, newest first (by arrival)", answer("a page", ref("CallPage")),
                             tag="calls", params=(
        query("since", TIME_IN), query("until", TIME_IN), query("queue", STR),
        query("outcome", enum_of(Outcome)), query("case", STR, "linked to this case"),
        *_PAGING, _KEYSET_CURSOR))},
    "/api/calls/{id}": {
        "get": op("One call, with its visits to queues", answer(
            "the call", ref("CallWithStints")), tag="calls", params=(path("id", ID),),
            errors=(404,)),
        "patch": op("Link a call to a case (or unlink it with null)", answer(
            "the call", ref("Call")), tag="calls", params=(path("id", ID),), errors=(404,),
            body=obj({"case_ref": null(CASE_REF)}))},
    "/api/calls/{id}/wrapup": {
        "put": op("Set the call's wrap-up code (or clear it with null); codes: setting "
                  "wrapup_codes", answer("the call", ref("Call")), tag="calls",
                  params=(path("id", ID),), errors=(404,),
                  body=obj({"code": null({"type": "string", "maxLength": 100})}))},
    "/api/wrapup-codes": {"get": op("The wrap-up codes agents may set (setting wrapup_codes)",
                                    answer("the codes, in the order offered",
                                           obj({"codes": array(STR)})), tag="calls")},
}
_CASES: dict[str, Schema] = {
    "/api/cases": {
        "post": op("Open a case", answer("the case; Location names it", ref("Case")),
                   tag="cases", status=201, errors=(409,), body=obj(
                       {"ref": CASE_REF, "subject": SUBJECT}, {"phone": null(PHONE)})),
        "get": op("Cases, by reference", answer("a page", ref("CasePage")), tag="cases",
                  params=(query("status", enum_of(CaseStatus)), query("phone", PHONE),
                          *_PAGING, query("cursor", STR, "from a page's next")))},
    "/api/cases/{ref}": {
        "get": op("One case, with its calls", answer("the case", ref("CaseWithCalls")),
                  tag="cases", params=(path("ref", CASE_REF),), errors=(404,)),
        "patch": op("Open or close a case", answer("the case", ref("Case")), tag="cases",
                    params=(path("ref", CASE_REF),), errors=(404,),
                    body=obj({"status": enum_of(CaseStatus)}))},
}
# fields that once said who acted: still taken, and ignored (the token's person acts)
ACTOR: Schema = {"type": "string", "deprecated": True,
                 "description": "ignored: who did it is the token's person"}
_NEW_CALLBACK = obj({"phone": PHONE, "reason": REASON}, {"promised_by": ACTOR,
    "case_ref": null(CASE_REF), "owner": null(NAME),
    "language": null({"type": "string", "description": "one of the setting languages (422 "
                      "otherwise); absent: the language of the resident's latest call, else "
                      "the first of languages"}),
    "due_by": null({**TIME_IN, "description": "default: the policy's promise"}),
    "not_before": null(TIME_IN),
    "site": null({"type": "string", "description": "the PBX (a [[pbx]] name) to dial it "
                  "through (422 for another); absent: the main PBX"})})
_CALLBACKS: dict[str, Schema] = {
    "/api/callbacks": {
        "post": op("Promise a callback", answer("the callback; Location names it",
                                                ref("Callback")),
                   tag="callbacks", status=201, errors=(404, 409), body=_NEW_CALLBACK),
        "get": op("Callbacks by deadline, latest first", answer("a page", ref("CallbackPage")),
                  tag="callbacks", params=(
                      query("status", enum_of(Status)), query("owner", STR),
                      query("due_from", TIME_IN), query("due_until", TIME_IN),
                      query("case", STR), query("order", enum_of(Order),
                                                "latest (default) or soonest deadline first"),
                      *_PAGING, _KEYSET_CURSOR))},
    "/api/callbacks/stream": {"get": op(
        "The agent's prompts, live (server-sent events: event: prompts)",
        answer("never ends: a board on every change, a comment line as heartbeat",
               STR, "text/event-stream"), tag="callbacks",
        params=(query("agent", STR, "a manager's choice of agent interface (an agent always"
                      " gets their own)"),))},
    "/api/callbacks/{id}": {"get": op("One callback, with its case's calls", answer(
        "the callback", ref("Callback")), tag="callbacks", params=(path("id", ID),),
        errors=(404,))},
    "/api/callbacks/{id}/reschedule": _callback_action("Move the deadline", obj(
        {"told": enum_of(Told), "due_by": TIME_IN, "reason": REASON}, {"by": ACTOR})),
    "/api/callbacks/{id}/cancel": _callback_action("Cancel", obj({"reason": REASON},
                                                                 {"by": ACTOR})),
    "/api/callbacks/{id}/outcome": _callback_action("Record an attempt's outcome", obj(
        {"outcome": enum_of(AttemptOutcome)}, {"note": null(STR), "by": ACTOR})),
    "/api/callbacks/{id}/correct": _callback_action(
        "Correct a closed callback's result (who: the token's name and role)",
        obj({"result": enum_of(Result), "reason": REASON})),
    "/api/callbacks/{id}/snooze": _callback_action("Not before a later time", obj(
        {"until": TIME_IN}, {"by": ACTOR})),
    "/api/callbacks/{id}/accept": _callback_action("The token's agent takes it",
                                                   obj({}, {"agent": ACTOR})),
}
_TOKENS: dict[str, Schema] = {
    "/api/me": {"get": op("Whose token this is", answer("the token's person", ref("Token")),
                          tag="tokens")},
    "/api/tokens": {
        "get": op("Every token, newest first (never the token itself)", answer(
            "the tokens", ref("TokenList")), tag="tokens"),
        "post": op("A new token for a person (added when new); shown once", answer(
            "the token and what it is", ref("NewToken")), tag="tokens", status=201,
            errors=(409,), body=obj({"name": NAME, "role": {"enum": list(ROLES)}}, {
                "interface": null(STR), "days": {"type": "number", "exclusiveMinimum": 0,
                                                 "maximum": 3660}}))},
    "/api/people": {
        "get": op("Everyone who may use callcentre, by name", answer(
            "the people", ref("PersonList")), tag="tokens"),
        "post": op("Let someone use callcentre: sign in with a council account (its "
                   "oidc_name_claim is their name), or with a token made later", answer(
                       "the person", ref("Person")), tag="tokens", status=201, errors=(409,),
                   body=obj({"name": NAME, "role": {"enum": list(ROLES)}},
                            {"interface": null(STR)}))},
    "/api/tokens/{id}/revoke": {"post": op("Revoke a token (at once, for good)", answer(
        "the token", ref("Token")), tag="tokens", params=(path("id", ID),), errors=(404,),
        body=obj({}))},
}
_AUDIT: dict[str, Schema] = {
    "/api/audit": {"get": op("The audit trail for a time range: who read or changed what",
                             answer("the entries, oldest first", ref("AuditList")), tag="audit",
                             params=(query("since", TIME_IN, "from (required)"),
                                     query("until", TIME_IN, "up to, not included (required)"),
                                     query("format", {"enum": ["json", "csv"]})))},
}
_PUBLIC: dict[str, Schema] = {
    PATH: {"get": op("This description", answer("OpenAPI 3.1", {"type": "object"}),
                     tag="meta")},
    "/api/standards": {"get": op("Service standards", answer("the report", ref("Standards")),
                                 tag="standards", params=(*_REPORT_PARAMS, _STAFFING, _AGENTS))},
    "/api/standards.csv": {"get": op("Service standards as CSV", answer(
        "one row a figure", STR, "text/csv"), tag="standards", params=_REPORT_PARAMS,
        )},
    "/api/wallboard": {"get": op("The wallboard's figures now", answer(
        "tiles and queues", ref("Wallboard")), tag="standards")},
}

_ABOUT = f"""The JSON API of callcentre.

Send `Authorization: Bearer <token>`; tokens are made with
`callcentre token create --role agent --name NAME --interface PJSIP/agent1` (or by an
admin, `POST /api/tokens`); they expire (90 days unless said) and can be revoked. Roles:
{", ".join(ROLES)}; each may do everything the ones before it may; an operation's `x-role`
names the least it needs. Who did something is always the token's person, never a field of
the body. The council-wide standards and this description need no token.

Errors are `{{"error": id, "message": for people, "details": {{"field": ...}}}}`."""

DESCRIPTION: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "callcentre", "version": version("callcentre"), "description": _ABOUT},
    "security": [{"bearer": []}],
    "paths": _with_access({**_CALLS, **_CASES, **_CALLBACKS, **_TOKENS, **_AUDIT,
                           **_PUBLIC}),
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "a token from `callcentre token create`"}},
        "schemas": SCHEMAS,
    },
}
_BODY = json.dumps(DESCRIPTION, indent=1).encode()


def _fields(spec: Schema) -> tuple[frozenset[str], frozenset[str]]:
    query = frozenset(p["name"] for p in spec["parameters"] if p["in"] == "query")
    body = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
    return query, frozenset(body.get("schema", {}).get("properties", {}))


# what each operation takes, as described: web/parsing.py answers anything else 422
KNOWN: Known = {(method.upper(), route): _fields(spec)
                for route, operations in DESCRIPTION["paths"].items()
                for method, spec in operations.items()}
routes = web.RouteTableDef()


@routes.get(PATH)
async def description(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")
