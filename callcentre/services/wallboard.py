"""What the managers' wallboard shows, refreshed every few seconds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callcentre.domain.live import LiveSnapshot
from callcentre.services.standards import StandardsService


def _tile(key: str, label: str, shown: str, value: float | int | None) -> dict[str, Any]:
    return {"key": key, "label": label, "shown": shown, "value": value}


async def wallboard(live: LiveSnapshot, standards: StandardsService, now: datetime,
                    tz: ZoneInfo) -> dict[str, Any]:
    waiting = sum(n for n, _ in live.waiting.values())
    available = sum(states.get("available", 0) for states in live.agents.values())
    longest = max((w for _, w in live.waiting.values()), default=0.0)
    day = standards.today()
    today = await standards.standards(day, day + timedelta(days=1), None)
    first = standards.thresholds[0]
    share = today.service_level.get(first)
    tiles = [
        _tile("waiting", "Callers waiting", str(waiting), waiting),
        _tile("longest_wait", "Longest wait now", f"{longest:.0f} s", round(longest, 1)),
        _tile("agents_available", "Agents available (summed over queues)", str(available),
              available),
        _tile("in_progress", "Calls in progress", str(live.in_progress), live.in_progress),
        _tile("offered_today", "Calls offered today", str(today.offered), today.offered),
        _tile("service_level_today", f"Answered within {first} s today",
              "no calls yet" if share is None else f"{share:.0%}", share),
        _tile("callbacks_due_next_hour", "Call-backs due in the next hour",
              str(live.callbacks.due_next_hour), live.callbacks.due_next_hour),
        _tile("callbacks_at_risk", "Call-backs at risk (no attempt yet)",
              str(live.callbacks.at_risk), live.callbacks.at_risk),
        _tile("callbacks_overdue", "Call-backs overdue", str(live.callbacks.overdue),
              live.callbacks.overdue),
        _tile("callbacks_not_placed", "Call-backs the phone system would not place",
              str(live.callbacks_not_placed), live.callbacks_not_placed),
        _tile("ami", "Link to the phone system", "up" if live.ami_connected else "DOWN",
              1 if live.ami_connected else 0),
    ]
    return {"updated": now.astimezone(tz).strftime("%H:%M:%S"),
            "queues": {q: {"waiting": n, "longest_wait_seconds": round(w, 1)}
                       for q, (n, w) in sorted(live.waiting.items())},
            "tiles": tiles}
