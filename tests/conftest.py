"""Session-wide: the shifted clock of a ``./dev test-at`` / ``./dev clock-shifts`` run."""

from __future__ import annotations

import pytest

from tests import clock


def pytest_configure(config: pytest.Config) -> None:
    traveller = clock.start()
    if traveller is not None:
        config.add_cleanup(traveller.stop)


def pytest_report_header() -> str | None:
    offset = clock.shift()
    return f"clock shifted by {offset:+.0f} s ({clock.ENV})" if offset else None
