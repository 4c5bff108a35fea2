"""Saying something at most once per interval per key, and how often it was held back.

Used wherever a flood of the same thing (refused connections, a task failing again and
again, the event loop's accept errors) must not flood the log. Pure: the time comes in.
"""

from __future__ import annotations


class LogBudget:
    """``allow(key, now)`` is the number of times ``key`` was held back since it was last
    allowed (0 the first time), or None while it is still held back."""

    def __init__(self, every: float, max_keys: int = 1000) -> None:
        self._every = every
        self._max_keys = max_keys
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str, now: float) -> int | None:
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) >= self._max_keys and key not in self._last:
            self._last.clear()  # many keys: start again rather than grow
            self._held.clear()
        self._last[key] = now
        return self._held.pop(key, 0)
