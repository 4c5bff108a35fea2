"""Ports: what the services need from the outside world, as Protocols.

Each adapter folder implements these (storage/ for the repositories and the Leadership,
scheduling/due_loop.py for the CallbackScheduler, ami/pbx.py for the Pbx, testing/ for
in-memory fakes of all of them); tests/contract runs one suite against the fakes and both
engines' repositories. One module per concern (base, records, people, callbacks, pbx),
every port importable from here.
"""

from callcentre.ports.base import (
    Clock,
    Normaliser,
    Page,
)
from callcentre.ports.callbacks import (
    CallbackQuery,
    CallbackRepository,
    CallbackScheduler,
    DueEntry,
    DueHandler,
)
from callcentre.ports.pbx import (
    Leadership,
    LinkReport,
    Notices,
    OriginateRequest,
    Pbx,
)
from callcentre.ports.people import (
    AuditRepository,
    RetentionRepository,
    RetentionRun,
    TokenRepository,
)
from callcentre.ports.records import (
    CallbackFiguresSource,
    CallQuery,
    CallRepository,
    CapacityHistory,
    CaseRepository,
    LedgerCounts,
    LedgerPosition,
    LedgerRepository,
    Queues,
    RepeatQuery,
    StandardsRepository,
)

__all__ = [
    "AuditRepository",
    "CallQuery",
    "CallRepository",
    "CallbackFiguresSource",
    "CallbackQuery",
    "CallbackRepository",
    "CallbackScheduler",
    "CapacityHistory",
    "CaseRepository",
    "Clock",
    "DueEntry",
    "DueHandler",
    "Leadership",
    "LedgerCounts",
    "LedgerPosition",
    "LedgerRepository",
    "LinkReport",
    "Normaliser",
    "Notices",
    "OriginateRequest",
    "Page",
    "Pbx",
    "Queues",
    "RepeatQuery",
    "RetentionRepository",
    "RetentionRun",
    "StandardsRepository",
    "TokenRepository",
]
