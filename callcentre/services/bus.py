"""The subscription table: domain event type -> the consumers that want it, in order.

Producers (the AMI adapter's translator and resync) only ``publish``; the composition
root (app.py) declares every subscription in one block, so "where does an event go" has
one answer. Consumers run synchronously, in the order subscribed; one that raises does not
keep the event from the others: after all have run, the first error reaches the producer
(the AMI client counts and logs it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

E = TypeVar("E")
Consumer = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._table: dict[type[Any], tuple[Consumer, ...]] = {}

    def subscribe(self, kind: type[E], *consumers: Callable[[E], None]) -> None:
        """Add ``consumers`` (in order) for events of exactly type ``kind``."""
        self._table[kind] = (*self._table.get(kind, ()), *consumers)

    def publish(self, event: object) -> None:
        """Hand ``event`` to every consumer of its type; an event nobody wants is dropped.
        Raises the first consumer's error, once every consumer has had the event."""
        failure: Exception | None = None
        for consumer in self._table.get(type(event), ()):
            try:
                consumer(event)
            except Exception as err:  # a call-log bug must not stop the dialler, or back
                failure = failure or err
        if failure is not None:
            raise failure

    def consumers(self, kind: type[Any]) -> tuple[Consumer, ...]:
        return self._table.get(kind, ())

    def kinds(self) -> frozenset[type[Any]]:
        return frozenset(self._table)
