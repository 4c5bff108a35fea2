"""JSON shapes of the API, and parsing of query parameters. Times: ISO 8601 with offset."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.domain.calls import Call
from callcentre.domain.cases import Case
from callcentre.domain.queue_log import Stint
from callcentre.errors import InvalidInput


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def call_json(call: Call, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": call.id,
        "linkedid": call.linkedid,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "dialled": call.dialled,
        "queue": call.queue,
        "arrived_at": iso(call.arrived_at, tz),
        "queued_at": iso(call.queued_at, tz),
        "answered_at": iso(call.answered_at, tz),
        "left_queue_at": iso(call.left_queue_at, tz),
        "ended_at": iso(call.ended_at, tz),
        "wait_seconds": _round(call.wait_seconds),
        "talk_seconds": _round(call.talk_seconds),
        "outcome": call.outcome.value if call.outcome else None,
        "in_progress": not call.finished,
        "end_source": call.end_source.value if call.end_source else None,
        "agent": ({"interface": call.agent_interface, "name": call.agent_name}
                  if call.agent_interface else None),
        "join_position": call.join_position,
        "abandon_position": call.abandon_position,
        "out_of_hours": call.out_of_hours,
        "case_ref": call.case_ref,
        "case_link": call.case_link.value if call.case_link else None,
        "keyed_case_ref": call.keyed_case_ref,
        "repeat_of": call.repeat_of,
        "hangup_cause": call.hangup_cause,
        "queue_log": call.ledger,  # null: not yet held against it; "agrees"; or what differed
        "wrapup_code": call.wrapup_code,
        "survey": ({"resolved": call.survey_resolved, "satisfaction": call.survey_satisfaction}
                   if call.survey_offered else None),  # null: the resident was not asked
        "language": call.language,
    }


def stint_json(stint: Stint, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "queue": stint.queue,
        "entered_at": iso(stint.entered_at, tz),
        "exit": stint.exit,
        "left_at": iso(stint.left_at, tz),
        "wait_seconds": stint.wait_seconds,
        "agent": stint.agent,
        "key": stint.key,
        "talk_end": stint.talk_end,
        "talk_seconds": stint.talk_seconds,
    }


def case_json(case: Case, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "ref": case.ref,
        "subject": case.subject,
        "status": case.status.value,
        "phone": case.phone,
        "created_at": iso(case.created_at, tz),
        "updated_at": iso(case.updated_at, tz),
    }


def parse_time(name: str, value: str | None, tz: ZoneInfo) -> datetime | None:
    """ISO 8601; a date alone means local midnight, a time without offset is council time."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date or time, e.g. 2026-11-23T09:00:00+00:00",
            field=name) from None
    if len(value) == 10:  # a bare date
        parsed = datetime.combine(parsed.date(), time(0))
    parsed = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
    try:  # 0001-01-01T00:00+14:00 is before the first moment a datetime can hold in UTC
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except OverflowError:
        in_range = False
    if not in_range:
        raise InvalidInput(f"{name} must be between {EARLIEST.year} and {LATEST.year - 1}",
                           field=name)
    return parsed


# Times the service accepts from people: nothing it records is older, and a date that
# cannot be moved between time zones (year 1, year 9999) would break whatever reads it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_int(name: str, value: str | None, default: int | None, low: int, high: int) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", field=name)
    return number
