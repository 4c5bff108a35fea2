"""Which store ``db`` names: a ``postgresql://`` URL is PostgreSQL (storage/postgres/),
anything else an SQLite file. One bundle of every repository, built unopened, for the
composition root (app.py) and the commands (__main__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from callcentre.errors import ConfigError
from callcentre.ports import (
    AuditRepository,
    CallbackFiguresSource,
    CallbackRepository,
    CallRepository,
    CaseRepository,
    Leadership,
    LedgerRepository,
    Notices,
    RetentionRepository,
    TokenRepository,
)
from callcentre.storage.audit_repository import SqliteAuditRepository
from callcentre.storage.call_repository import SqliteCallRepository
from callcentre.storage.callback_figures_repository import SqliteCallbackFigures
from callcentre.storage.callback_repository import SqliteCallbackRepository
from callcentre.storage.capacity_repository import SqlCapacityHistory, SqliteCapacityHistory
from callcentre.storage.case_repository import SqliteCaseRepository
from callcentre.storage.db import Database
from callcentre.storage.leadership import NoNotices, SoleLeader
from callcentre.storage.ledger_repository import SqliteLedgerRepository
from callcentre.storage.postgres.audit import PgAuditRepository
from callcentre.storage.postgres.callback_figures import PgCallbackFigures
from callcentre.storage.postgres.callbacks import PgCallbackRepository
from callcentre.storage.postgres.calls import PgCallRepository
from callcentre.storage.postgres.capacity import PgCapacityHistory
from callcentre.storage.postgres.cases import PgCaseRepository
from callcentre.storage.postgres.db import PgDatabase, default_instance, safe_url
from callcentre.storage.postgres.leadership import PgLeadership
from callcentre.storage.postgres.ledger import PgLedgerRepository
from callcentre.storage.postgres.notices import PgNotices
from callcentre.storage.postgres.retention import PgRetentionRepository
from callcentre.storage.postgres.standards import PgStandardsRepository
from callcentre.storage.postgres.tokens import PgTokenRepository
from callcentre.storage.retention_repository import SqliteRetentionRepository
from callcentre.storage.standards_repository import (
    SqliteStandardsRepository,
    SqlStandardsRepository,
)
from callcentre.storage.token_repository import SqliteTokenRepository

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Repositories:
    db: Database | PgDatabase
    calls: CallRepository
    cases: CaseRepository
    tokens: TokenRepository
    callbacks: CallbackRepository
    ledger: LedgerRepository
    standards: SqlStandardsRepository  # and prepare(), rebuild(): the port has neither
    callback_figures: CallbackFiguresSource
    retention: RetentionRepository
    audit: AuditRepository
    capacity: SqlCapacityHistory  # and rebuild(): the CapacityHistory port has not
    notices: Notices  # what other instances on the same database changed

    @property
    def engine(self) -> str:
        """sqlite or postgres."""
        return "postgres" if isinstance(self.db, PgDatabase) else "sqlite"


def is_postgres(db: str) -> bool:
    return db.startswith(POSTGRES_SCHEMES)


def shown(db: str) -> str:
    """``db`` as logs and messages may show it: a URL without its password."""
    return safe_url(db) if is_postgres(db) else db


def repositories(db: str, readers: int, instance: str = "",
                 password_file: str = "") -> Repositories:
    """Every repository on the database ``db`` names (not opened yet). ``readers``: SQLite's
    reader connections (besides its writer); PostgreSQL's pool, for reads and writes.
    ``instance``: this process's name on a PostgreSQL database shared by several.
    ``password_file``: the setting db_password_file (see with_password)."""
    if not is_postgres(db):
        return repositories_on(Database(db, readers))
    return repositories_on(PgDatabase(with_password(db, password_file), readers + 1, instance))


def with_password(url: str, password_file: str) -> str:
    """``url`` with the password read from ``password_file`` (a mounted secret) when the
    URL names a user and no password; else ``url`` as it is. Raises ConfigError when the
    file cannot be read or the URL names no user to give it to."""
    parts = urlsplit(url)
    if not password_file or parts.password is not None:
        return url
    if not parts.username:
        raise ConfigError("db_password_file: the db URL names no user (postgresql://USER@...)")
    try:
        password = Path(password_file).read_text().strip("\r\n")
    except OSError as err:
        raise ConfigError(f"db_password_file: cannot read {password_file}: "
                          f"{err.strerror}") from err
    user, _, host = parts.netloc.rpartition("@")
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def leadership(stores: Repositories, pbx: str, lease: float) -> Leadership:
    """Who leads ``pbx``: on PostgreSQL, one of the instances sharing it; on SQLite, the
    one process the file has."""
    if isinstance(stores.db, PgDatabase):
        return PgLeadership(stores.db, pbx, lease)
    return SoleLeader(pbx, default_instance())


def repositories_on(db: Database | PgDatabase) -> Repositories:
    """Every repository on ``db``."""
    if isinstance(db, PgDatabase):
        pg = db
        return Repositories(pg, PgCallRepository(pg), PgCaseRepository(pg),
                            PgTokenRepository(pg), PgCallbackRepository(pg),
                            PgLedgerRepository(pg), PgStandardsRepository(pg),
                            PgCallbackFigures(pg), PgRetentionRepository(pg),
                            PgAuditRepository(pg), PgCapacityHistory(pg), PgNotices(pg))
    lite = db
    return Repositories(lite, SqliteCallRepository(lite), SqliteCaseRepository(lite),
                        SqliteTokenRepository(lite), SqliteCallbackRepository(lite),
                        SqliteLedgerRepository(lite), SqliteStandardsRepository(lite),
                        SqliteCallbackFigures(lite), SqliteRetentionRepository(lite),
                        SqliteAuditRepository(lite), SqliteCapacityHistory(lite),
                        NoNotices())
