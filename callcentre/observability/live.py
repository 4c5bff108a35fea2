"""Builds the scrape-time snapshot from the running service's parts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from callcentre.ami.client import ClientStats
from callcentre.ami.translate import Translator
from callcentre.domain.agents import Agent
from callcentre.domain.callback_figures import CallbackCounts
from callcentre.domain.calls import Call
from callcentre.observability.prometheus import LiveSnapshot
from callcentre.services.calllog import CallLogStats


def queue_waiting(active: Iterable[Call], now: datetime) -> dict[str, tuple[int, float]]:
    """Per queue: callers still waiting (joined, not answered, not left) and the longest wait."""
    out: dict[str, tuple[int, float]] = {}
    for call in active:
        if call.queued_at is None or call.answered_at or call.left_queue_at or not call.queue:
            continue
        count, longest = out.get(call.queue, (0, 0.0))
        out[call.queue] = (count + 1, max(longest, (now - call.queued_at).total_seconds()))
    return out


AGENT_STATES = ("available", "busy", "paused", "unavailable")
UNREACHABLE = (4, 5)  # QueueMember Status: AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE


def agent_state(agent: Agent) -> str:
    if agent.paused:
        return "paused"
    if agent.available:
        return "available"
    if agent.status in UNREACHABLE or agent.device in ("UNAVAILABLE", "INVALID"):
        return "unavailable"
    return "busy"


def agent_states(agents: Iterable[Agent]) -> dict[str, dict[str, int]]:
    """Per queue: members available, busy (in a call, ringing, in use), paused, unreachable."""
    out: dict[str, dict[str, int]] = {}
    for agent in agents:
        state = agent_state(agent)
        for queue in agent.queues:
            counts = out.setdefault(queue, dict.fromkeys(AGENT_STATES, 0))
            counts[state] += 1
    return out


def live_snapshot(connected: bool, client: ClientStats, translator: Translator,
                  calllog: CallLogStats, active: list[Call], now: datetime,
                  monotonic_now: float, is_open: bool,
                  callbacks: CallbackCounts | None = None,
                  agents: Iterable[Agent] = ()) -> LiveSnapshot:
    events = {(name, "handled"): n for name, n in translator.handled.items()}
    events.update({(name, "ignored"): n for name, n in translator.ignored.items()})
    last = client.last_frame_monotonic
    return LiveSnapshot(
        ami_connected=connected,
        reconnects=client.reconnect_attempts,
        last_event_age=None if last is None else max(0.0, monotonic_now - last),
        events=events,
        parse_errors={"oversized_frame": client.parser.oversized_frames,
                      "malformed_line": client.parser.malformed_lines,
                      "malformed_event": translator.malformed},
        handler_errors=client.handler_errors,
        write_failures=calllog.write_failures,
        waiting=queue_waiting(active, now),
        in_progress=len(active),
        open=is_open,
        callbacks=callbacks or CallbackCounts(),
        agents=agent_states(agents),
    )
