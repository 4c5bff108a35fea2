"""Fixtures for tests against a real Asterisk (tests/asterisk/harness.py).

``asterisk`` is one started AsteriskHarness for the whole test session; ``north`` a
second one, its own port block and directories, for the tests of several PBXs (sites),
started by the first test that asks for it. Where the machine
cannot provide one (not root, debootstrap or sipp missing, the chroot build failed) every
test that uses it is skipped with the reason; any test using it is marked ``asterisk``, so
``pytest -m "not asterisk"`` leaves them all out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.asterisk.harness import AsteriskHarness, HarnessUnavailable
from tests.integration.test_asterisk_harness import RawAmi


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"asterisk", "north"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.asterisk)


def _started(which: str) -> Iterator[AsteriskHarness]:
    harness = AsteriskHarness()
    try:
        harness.start()
    except HarnessUnavailable as err:
        pytest.skip(f"no {which} real Asterisk for these tests: {err}")
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(scope="session")
def asterisk() -> Iterator[AsteriskHarness]:
    yield from _started("first")


@pytest.fixture(scope="session")
def north() -> Iterator[AsteriskHarness]:
    yield from _started("second")


@pytest.fixture
async def ami(asterisk: AsteriskHarness) -> AsyncIterator[RawAmi]:
    """A session as callcentre's own least-rights account, as the service would have."""
    session = await RawAmi.login(asterisk.ami_host, asterisk.ami_port, asterisk.ami_username,
                                 asterisk.ami_secret)
    yield session
    await session.close()
