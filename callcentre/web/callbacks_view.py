"""JSON shape of a callback, and the agents' prompt page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.domain.callbacks import Attempt, Callback, HistoryEntry
from callcentre.domain.calls import Call
from callcentre.services.callback_board import Prompts
from callcentre.web.serialise import call_json, iso


def _attempt(a: Attempt, tz: ZoneInfo) -> dict[str, Any]:
    return {"number": a.number, "start": iso(a.started_at, tz), "end": iso(a.ended_at, tz),
            "outcome": a.outcome.value if a.outcome else None, "agent": a.agent,
            "answered_at": iso(a.answered_at, tz), "confirmed": a.confirmed,
            "manual": a.manual, "note": a.note,
            "survey": ({"resolved": a.survey_resolved, "satisfaction": a.survey_satisfaction}
                       if a.survey_offered else None)}


def _history(h: HistoryEntry, tz: ZoneInfo) -> dict[str, Any]:
    return {"at": iso(h.at, tz), "by": h.by, "action": h.action, "old": h.old, "new": h.new,
            "reason": h.reason, "told": h.told.value if h.told else None}


def callback_json(cb: Callback, tz: ZoneInfo, calls: Sequence[Call] | None = None,
                  ) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cb.id, "case_ref": cb.case_ref, "phone": cb.phone, "reason": cb.reason,
        "language": cb.language, "source": cb.source.value, "promised_by": cb.promised_by,
        "owner": cb.owner, "not_before": iso(cb.not_before, tz), "due_by": iso(cb.due_by, tz),
        "original_due_by": iso(cb.original_due_by, tz), "extensions": cb.extensions,
        "status": cb.status.value, "result": cb.result.value if cb.result else None,
        "next_attempt_at": iso(cb.next_attempt_at, tz), "created_at": iso(cb.created_at, tz),
        "closed_at": iso(cb.closed_at, tz), "first_attempt_in_time": cb.first_attempt_in_time,
        "site": cb.site or None,
        "attempts": [_attempt(a, tz) for a in cb.attempts],
        "history": [_history(h, tz) for h in cb.history],
    }
    if calls is not None:
        body["calls"] = [call_json(c, tz) for c in calls]
    return body


def prompts_json(prompts: Prompts, tz: ZoneInfo) -> dict[str, Any]:
    """The agent page's board (services/callback_board.py), as the stream sends it."""
    return {
        "due": [callback_json(c, tz, calls) for c, calls in prompts.due],
        "needs_outcome": [callback_json(c, tz) for c in prompts.needs_outcome],
        "upcoming": [callback_json(c, tz) for c in prompts.upcoming],
        "agents_available": prompts.agents_available,
    }


def board_json(prompts: Callable[[str | None], Awaitable[Prompts]], tz: ZoneInfo,
               ) -> Callable[[str | None], Awaitable[dict[str, Any]]]:
    async def board(agent: str | None) -> dict[str, Any]:
        return prompts_json(await prompts(agent), tz)

    return board


def agent_page() -> str:
    """The agents' prompt page (static HTML + a little JS, no build step): web/static/agent.html."""
    return resources.files("callcentre.web").joinpath("static/agent.html").read_text("utf-8")
