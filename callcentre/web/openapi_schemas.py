"""The JSON shapes of the OpenAPI description (web/openapi.py): bodies, answers, errors.

Bounds, patterns and enums come from the code that enforces them, so the description
cannot drift from it; the shapes mirror web/serialise.py, web/callbacks_view.py,
web/standards_view.py and services/wallboard.py, which must change together with them.
"""

from __future__ import annotations

import enum
from typing import Any

from callcentre.domain.callback_policy import Source
from callcentre.domain.callbacks import MAX_REASON, AttemptOutcome, Result, Status, Told
from callcentre.domain.calls import CaseLink, EndSource, Outcome
from callcentre.domain.cases import MAX_SUBJECT, REF, CaseStatus
from callcentre.domain.periods import PeriodKind
from callcentre.services.callbacks import MAX_NAME
from callcentre.web.serialise import EARLIEST, LATEST

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time",
                "description": "ISO 8601 with offset, in the council's time zone"}
TIME_IN: Schema = {
    "type": "string", "format": "date-time",
    "description": "ISO 8601 (a date alone is local midnight; a time without offset is "
                   f"council time), between {EARLIEST.year} and {LATEST.year - 1}"}
DAY: Schema = {"type": "string", "format": "date",
               "description": f"a day, e.g. 2026-11-23, between {EARLIEST.year} and "
                            f"{LATEST.year - 1}"}
CASE_REF: Schema = {"type": "string", "pattern": f"^{REF.pattern}$",
                    "description": "a council case reference (surrounding spaces are ignored)"}
SUBJECT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT, "pattern": r"\S"}
REASON: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_REASON, "pattern": r"\S"}
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S",
                "description": "a person or team, as the council names them"}
PHONE: Schema = {"type": "string", "examples": ["+441632960001", "01632 960001"],
                 "description": "a number the service can call (normalised to E.164)"}


def enum_of(kind: type[enum.Enum]) -> Schema:
    return {"type": "string", "enum": [m.value for m in kind]}


def null(schema: Schema) -> Schema:
    """``schema`` or JSON null."""
    if "enum" in schema:
        return {**schema, "type": [schema["type"], "null"], "enum": [*schema["enum"], None]}
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An object with these properties; unknown ones are allowed (and ignored in bodies)."""
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(name: str) -> Schema:
    return obj({"items": array(ref(name)),
                "next": null({"type": "string", "description": "path of the next page"})})


_SURVEY = null({**obj({"resolved": null(BOOL), "satisfaction": null(
    {"type": "integer", "minimum": 1, "maximum": 5})}),
    "description": "the post-call keypad survey (null: not offered); null answers: skipped"})
_CALL = obj({
    "id": INT, "linkedid": STR, "caller": null(STR), "caller_name": null(STR),
    "dialled": null(STR), "queue": null(STR), "arrived_at": TIME, "queued_at": null(TIME),
    "answered_at": null(TIME), "left_queue_at": null(TIME), "ended_at": null(TIME),
    "wait_seconds": null(NUM), "talk_seconds": null(NUM), "outcome": null(enum_of(Outcome)),
    "in_progress": BOOL, "end_source": null(enum_of(EndSource)),
    "agent": null(obj({"interface": STR, "name": null(STR)})),
    "join_position": null(INT), "abandon_position": null(INT), "out_of_hours": BOOL,
    "case_ref": null(STR), "case_link": null(enum_of(CaseLink)), "keyed_case_ref": null(STR),
    "repeat_of": null(INT), "hangup_cause": null(INT),
    "queue_log": null({"type": "string", "description": '"agrees", or what differed'}),
    "wrapup_code": null({"type": "string", "description": "the agent's (setting wrapup_codes)"}),
    "survey": _SURVEY,
    "language": null({"type": "string", "description": "the resident's language on the phone "
                      "(CHANNEL(language) as they joined the queue, e.g. ga; null: not known)"}),
})
_STINT = obj({
    "queue": STR, "entered_at": TIME, "exit": null(STR), "left_at": null(TIME),
    "wait_seconds": null(INT), "agent": null(STR), "key": null(STR), "talk_end": null(STR),
    "talk_seconds": null(INT),
})
_CASE = obj({"ref": STR, "subject": STR, "status": enum_of(CaseStatus), "phone": null(STR),
             "created_at": TIME, "updated_at": TIME})
_ATTEMPT = obj({
    "number": INT, "start": TIME, "end": null(TIME), "outcome": null(enum_of(AttemptOutcome)),
    "agent": null(STR), "answered_at": null(TIME), "confirmed": BOOL, "manual": BOOL,
    "note": null(STR), "survey": _SURVEY,
})
_HISTORY = obj({"at": TIME, "by": STR, "action": STR, "old": null(STR), "new": null(STR),
                "reason": null(STR), "told": null(enum_of(Told))})
_CALLBACK = obj({
    "id": INT, "case_ref": null(STR), "phone": STR, "reason": STR, "language": STR,
    "source": enum_of(Source), "promised_by": STR, "owner": null(STR), "not_before": TIME,
    "due_by": TIME, "original_due_by": TIME, "extensions": INT, "status": enum_of(Status),
    "result": null(enum_of(Result)), "next_attempt_at": null(TIME), "created_at": TIME,
    "closed_at": null(TIME), "first_attempt_in_time": null(BOOL),
    "site": null({"type": "string", "description": "the PBX that dials it: its site's name "
                  "([[pbx]]); null: the main PBX"}),
    "attempts": array(ref("Attempt")), "history": array(ref("HistoryEntry")),
}, {"calls": array(ref("Call"))})
_FIGURE = obj({"key": STR, "figure": STR, "value": null(NUM), "shown": STR, "target": null(STR),
               "met": null(BOOL), "formula": STR})
_PERIOD = {"from": {"type": "string", "format": "date"},
           "to": {"type": "string", "format": "date", "description": "exclusive"},
           "label": STR}
_STANDARDS = obj({
    "period": obj({"kind": enum_of(PeriodKind), **_PERIOD}),
    "queue": null(STR),
    "site": null(STR),
    "figures": array(ref("Figure")),
    "trend": array(obj({**_PERIOD, "offered": INT,
                        "service_level": {"type": "object",
                                          "additionalProperties": null(NUM)}})),
    "definitions": obj({"to": STR, "short_abandon_seconds": NUM}),
}, {"survey_agents": {**array(obj({
    "agent": null(STR), "offered": INT, "responded": INT, "response_rate": null(NUM),
    "first_contact_resolution": null(NUM), "mean_satisfaction": null(NUM)})),
    "description": "with agents=yes: the post-call survey per agent (managers only)"},
   "staffing": {"anyOf": [ref("Staffing"), {"type": "null"}],
                 "description": "with staffing=yes: agents needed per half-hour of the coming "
                                "week (null: not worked out by this service)"}})
_OUTLOOK = obj({"agents": INT, "service_level": NUM, "waiting_rate": NUM,
                "abandon_rate": NUM, "mean_wait_seconds": null(NUM)})
_STAFFING = obj({
    "queue": null(STR),
    "site": null(STR),
    "standard": obj({"threshold_seconds": INT, "target": NUM}),
    "model": obj({"from": TIME, "to": TIME, "weeks": INT, "averaging": STR, "calls": INT,
                  "abandoned": INT, "handling_seconds": null(NUM),
                  "patience_seconds": null(NUM), "method": {"enum": ["Erlang A", "Erlang C"]},
                  "agents_had": STR}),
    "week_from": {"type": "string", "format": "date"},
    "half_hours": array(obj({
        "start": TIME, "calls": NUM, "needed": null(INT), "inbound": null(INT),
        "callbacks": INT, "had": null(INT), "had_service_level": null(NUM)})),
    "what_if": null(obj({"start": TIME, "calls": NUM, "agents": array(_OUTLOOK)})),
})
_WALLBOARD = obj({
    "updated": STR,
    "queues": {"type": "object", "additionalProperties": obj(
        {"waiting": INT, "longest_wait_seconds": NUM})},
    "tiles": array(obj({"key": STR, "label": STR, "shown": STR, "value": null(NUM)})),
})
_ERROR = obj({
    "error": {"type": "string", "examples": ["invalid_input", "not_found", "unauthorised"]},
    "message": {"type": "string", "description": "for people: what was wrong"},
    "details": {"type": "object", "properties": {"field": {
        "type": "string", "description": "the parameter or body field that was refused"}}},
})

_TOKEN: Schema = obj({"id": {"type": "integer"}, "name": NAME,
                      "role": {"enum": ["agent", "manager", "admin"]},
                      "interface": {"type": ["string", "null"]},
                      "created_at": {"type": "string"},
                      "expires_at": {"type": ["string", "null"]},
                      "revoked_at": {"type": ["string", "null"]},
                      "state": {"enum": ["valid", "expired", "revoked"]},
                      "via": {"enum": [None, "oidc"], "description": (
                          "oidc: made for one sign-in through the council's identity provider "
                          "(it lasts as long as that browser session); null: issued to the "
                          "person")}})
SCHEMAS: dict[str, Schema] = {
    "Token": _TOKEN,
    "AuditList": obj({"items": {"type": "array", "items": obj({
        "at": {"type": "string"}, "person": {"type": "string"}, "role": {"type": "string"},
        "action": {"enum": ["read", "change", "refused"]}, "method": {"type": "string"},
        "route": {"type": "string"}, "target": {"type": "string"},
        "status": {"type": "integer"}})}}),
    "Person": obj({"name": NAME, "role": {"enum": ["agent", "manager", "admin"]},
                   "interface": {"type": ["string", "null"]}}),
    "PersonList": obj({"items": {"type": "array", "items": ref("Person")}}),
    "TokenList": obj({"items": {"type": "array", "items": ref("Token")}}),
    "NewToken": obj({"token": {"type": "string", "description": "shown once, never again"},
                     "about": ref("Token")}),
    "Call": _CALL, "Stint": _STINT, "CallWithStints": {"allOf": [ref("Call"), obj(
        {}, {"stints": {**array(ref("Stint")), "description": "only when queue_log is read"}})]},
    "Case": _CASE, "CaseWithCalls": {"allOf": [ref("Case"), obj({"calls": array(ref("Call"))})]},
    "Callback": _CALLBACK, "Attempt": _ATTEMPT, "HistoryEntry": _HISTORY,
    "CallPage": page_of("Call"), "CasePage": page_of("Case"), "CallbackPage": page_of("Callback"),
    "Figure": _FIGURE, "Standards": _STANDARDS, "Staffing": _STAFFING,
    "Wallboard": _WALLBOARD, "Error": _ERROR,
}


def _error(description: str) -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error")}}}


# every error answer, by status; web/errors.py (and web/limits.py's 408 and 503) make them
ERRORS: dict[str, Schema] = {
    "400": _error("bad_json: the body is not JSON"),
    "401": _error("unauthorised: no bearer token; invalid_token: unknown, expired or revoked"),
    "403": _error("forbidden: the token's role is below the operation's x-role"),
    "404": _error("not_found: no such call, case or callback (or path)"),
    "409": _error("conflict: the request clashes with the current state"),
    "413": _error("request_entity_too_large: bodies are at most 64 KiB"),
    "422": _error("invalid_input: a parameter or field was refused; details.field names it"),
    "503": _error("storage_unavailable (the database), or busy (every connection in use)"),
}
