"""A throwaway PostgreSQL cluster for one test session (tests marked ``postgres``).

Debian's server binaries (``/usr/lib/postgresql/N/bin``, tests/system-deps.sh installs the
package when root) make a cluster in a temporary directory: initdb as the ``postgres`` user
when we are root (initdb refuses root), the server listening on a Unix socket in that
directory only (no TCP port, so clock-shift runs side by side never collide), fsync off
(a throwaway cluster needs no durability). It is stopped and removed when the session
ends, also after a failure. Each test gets a database of its own, copied from a migrated
template (CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY: about 0.05 s, and as much to drop).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from callcentre.storage.postgres.db import PgDatabase

SUPERUSER = "postgres"
TEMPLATE = "callcentre_template"
_SETTINGS = ("-c listen_addresses='' -c fsync=off -c synchronous_commit=off"
             " -c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB")


def bin_dir() -> Path | None:
    """The newest installed server's binaries, or None when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    """A running server: connect with ``dsn(name)``; ``new_database()`` names a fresh copy
    of the template."""

    root: Path
    bin: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def copy(self) -> str:
        """How CREATE DATABASE copies the template: file by file (PostgreSQL 15+), several
        times faster to make and to drop for a small database than the default WAL_LOG."""
        version = self.bin.parent.name
        return " STRATEGY FILE_COPY" if version.isdigit() and int(version) >= 15 else ""

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def new_name(self) -> str:
        return f"test_{next(self._names)}"

    def restart(self) -> None:
        """Restart the server as an operator or a failover would: every connection is
        dropped (fast shutdown), and it comes back on the same socket and settings."""
        _run([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w",
              "-l", str(self.root / "server.log"), "restart"])  # the log: else it holds our pipe


def _as_server_user() -> dict[str, object]:
    """subprocess arguments that run as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": SUPERUSER, "group": pwd.getpwnam(SUPERUSER).pw_gid}


def _run(cmd: list[str], **kw: object) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          **_as_server_user(), **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): "
                           f"{done.stdout}{done.stderr}")


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster; stop and remove it at the end, whatever happened."""
    binaries = bin_dir()
    if binaries is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb) are not installed")
    root = Path(tempfile.mkdtemp(prefix="callcentre-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)
    made = Cluster(root, binaries)
    data = root / "data"
    try:
        made.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(made.socket_dir, SUPERUSER, SUPERUSER)
        _run([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"])
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
              "-w", "-o", f"-k {made.socket_dir} {_SETTINGS}", "start"])
        yield made
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                      "stop"])
        shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def fresh_database(running: Cluster) -> AsyncIterator[PgDatabase]:
    """A migrated PostgreSQL database of its own (a copy of the template, with an
    installation id of its own, as migrating it afresh would give), dropped after."""
    name = running.new_name()
    admin = await asyncpg.connect(running.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}{running.copy}")
        database = PgDatabase(running.dsn(name))
        await database.open()
        try:
            async with database.write() as tx:
                await tx.execute("UPDATE installation SET uid = left(md5(random()::text), 8)")
            yield database
        finally:
            await database.close()
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


async def pg_database_for(request: pytest.FixtureRequest,
                          stack: AsyncExitStack) -> PgDatabase:
    """For a fixture parametrised by engine: the test's own PostgreSQL database, closed with
    ``stack`` (the cluster is asked for only by the tests that use it)."""
    return await stack.enter_async_context(
        fresh_database(request.getfixturevalue("pg_cluster")))
