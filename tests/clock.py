"""A shifted clock for a whole test run: ``CALLCENTRE_TEST_CLOCK_SHIFT`` seconds (tests/at.sh).

Only tests use it. In the pytest process tests/conftest.py starts it for the session; a
``callcentre`` the tests start as a child runs through ``python -m tests.clock ARGS`` (the
same CLI, under the same shifted clock). time-machine moves the wall clock (``time.time``,
``datetime.now`` ...) and lets it run; monotonic clocks, sleeps and timeouts stay real. The
harness gives the chroot's Asterisk the same offset through libfaketime, so Asterisk's event
timestamps and the service's clock agree.
"""

from __future__ import annotations

import os
import sys
import time

import time_machine

ENV = "CALLCENTRE_TEST_CLOCK_SHIFT"


def shift() -> float:
    """Seconds the clock is moved by in this run (0: the real time)."""
    return float(os.environ.get(ENV) or 0)


def start() -> time_machine.travel | None:
    """Move this process's wall clock by ``shift()`` and let it run; None when unshifted."""
    offset = shift()
    if not offset:
        return None
    traveller = time_machine.travel(time.time() + offset, tick=True)
    traveller.start()
    return traveller


def python_command(*args: str) -> list[str]:
    """The command that runs ``callcentre ARGS`` in a child, on the run's clock."""
    return [sys.executable, "-m", "tests.clock", *args]


if __name__ == "__main__":
    start()
    from callcentre.__main__ import main

    sys.exit(main(sys.argv[1:]))
