"""Fakes shipped with the code, one for every port: a settable clock, in-memory
repositories, a PBX that records what it was asked, a leadership the test decides, and
the packaged policy.

The repositories honour the same contracts as the SQLite adapters (tests/contract runs
one suite against both), so unit tests of services can use them without a database.
``FakePbx`` records Originates and lets a test say what the PBX reports;
``default_policy()`` is the packaged policy, with changes for a test.
"""

from callcentre.testing.callbacks import FakePbx, InMemoryCallbackRepository, default_policy
from callcentre.testing.capacity import FixedCapacityHistory
from callcentre.testing.clock import FakeClock, utc
from callcentre.testing.leadership import FakeLeadership, FakeNotices
from callcentre.testing.people import InMemoryAuditRepository, InMemoryTokenRepository
from callcentre.testing.records import (
    InMemoryCallRepository,
    InMemoryCaseRepository,
    InMemoryLedgerRepository,
)

__all__ = [
    "FakeClock",
    "FakeLeadership",
    "FakeNotices",
    "FakePbx",
    "FixedCapacityHistory",
    "InMemoryAuditRepository",
    "InMemoryCallRepository",
    "InMemoryCallbackRepository",
    "InMemoryCaseRepository",
    "InMemoryLedgerRepository",
    "InMemoryTokenRepository",
    "default_policy",
    "utc",
]
