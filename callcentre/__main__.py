"""Command line: ``callcentre serve | demo | migrate | rules | alertmanager-config | dashboard |
token | ...``.

Parses arguments, loads the config, sets up logging, and hands over to app.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callcentre import config as config_mod
from callcentre.errors import CallcentreError, ConfigError
from callcentre.observability import logs

if TYPE_CHECKING:
    from callcentre.storage.engines import Repositories


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="callcentre", description=__doc__)
    p.add_argument("--config", help="TOML config file (default: $CALLCENTRE_CONFIG)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override one setting (repeatable), e.g. --set http_port=9000")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the service")
    demo = sub.add_parser("demo", help="run the service against a replay of recorded real calls")
    demo.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = real time)")
    sub.add_parser("migrate", help="create or upgrade the database, then exit")
    copy = sub.add_parser("migrate-data", help="copy an SQLite database into the PostgreSQL "
                          "one db names (migrated, empty), then check it by counts and "
                          "a recount of the figures (exit 1: they differed)")
    copy.add_argument("sqlite", help="the SQLite database file, e.g. var/callcentre.sqlite3")
    sub.add_parser("rebuild-figures", help="recount every day's standards figures and the "
                   "capacity model's half-hours from the calls and say whether the kept ones "
                   "agreed (exit 1: they were repaired)")
    _alerting_parser(sub)
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a bearer token and print it once")
    create.add_argument("--role", required=True, choices=("agent", "manager", "admin"))
    create.add_argument("--name", required=True, help="the person it is for (added when new)")
    create.add_argument("--interface", help="the AMI member interface where they take calls,"
                        " e.g. PJSIP/agent1 (agents)")
    create.add_argument("--days", type=float, default=90.0, help="valid for (default 90)")
    token_sub.add_parser("list", help="every token: id, person, role, state (never the token)")
    revoke = token_sub.add_parser("revoke", help="revoke a token at once, for good")
    revoke.add_argument("id", type=int, help="the token's id (from token list)")
    _person_parser(sub)
    subject = sub.add_parser("subject", help="a resident's personal data (UK GDPR rights)")
    subject_sub = subject.add_subparsers(dest="subject_command", required=True)
    for name, what in (("export", "print every record of one resident as JSON"),
                       ("erase", "anonymise every record of one resident")):
        subject_sub.add_parser(name, help=what).add_argument(
            "number", help="the resident's phone number (any usual form)")
    audit = sub.add_parser("audit", help="the audit trail: who read or changed what")
    export = audit.add_subparsers(dest="audit_command", required=True).add_parser(
        "export", help="print the entries of a time range")
    export.add_argument("--since", required=True, help="from (ISO 8601; a date is midnight)")
    export.add_argument("--until", required=True, help="up to, not included")
    export.add_argument("--format", choices=("json", "csv"), default="csv")
    return p


def _alerting_parser(sub: Any) -> None:
    rules = sub.add_parser("rules", help="print the Prometheus recording and alerting rules "
                           "made from the settings' standards (metrics/rules.yml)")
    rules.add_argument("--output", "-o", help="write to this file instead of standard output")
    rules.add_argument("--pending", help="every alert's 'for:' instead of its own, e.g. 1s"
                       " (to drill the alert chain)")
    alertmanager = sub.add_parser("alertmanager-config", help="print Alertmanager's configuration:"
                                  " every alert routed to the receiver the alert_* settings name")
    alertmanager.add_argument("--output", "-o", help="write to this file instead of standard"
                              " output")
    dashboard = sub.add_parser("dashboard", help="print the Grafana dashboard made from the "
                               "settings' standards (metrics/dashboards/callcentre.json)")
    dashboard.add_argument("--output", "-o", help="write to this file instead of standard output")


def _person_parser(sub: Any) -> None:
    person = sub.add_parser("person", help="people who may use callcentre")
    person_sub = person.add_subparsers(dest="person_command", required=True)
    add = person_sub.add_parser("add", help="let someone sign in (with a council account, "
                                "or a token made later)")
    add.add_argument("name", help="as the identity provider names them (oidc_name_claim)")
    add.add_argument("--role", required=True, choices=("agent", "manager", "admin"))
    add.add_argument("--interface", help="the AMI member interface where they take calls,"
                     " e.g. PJSIP/agent1 (agents)")
    person_sub.add_parser("list", help="everyone, with their role")


def _overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


@contextlib.asynccontextmanager
async def _database(cfg: config_mod.Config) -> AsyncIterator[Repositories]:
    """The database (SQLite or PostgreSQL), opened and migrated, for one command."""
    from callcentre.storage.engines import repositories

    stores = repositories(cfg.db, cfg.db_readers, password_file=cfg.db_password_file)
    await stores.db.open()
    try:
        await stores.db.migrate()
        yield stores
    finally:
        await stores.db.close()


async def _migrate(cfg: config_mod.Config) -> None:
    from callcentre.storage.engines import shown

    async with _database(cfg) as stores:
        version = await stores.db.migrate()
    print(f"database {shown(cfg.db)} is at schema version {version}")


async def _migrate_data(cfg: config_mod.Config, source: Path) -> int:
    from callcentre.storage.engines import is_postgres, shown
    from callcentre.storage.postgres.copy import copy_sqlite, count_rows
    from callcentre.storage.postgres.db import PgDatabase

    if not is_postgres(cfg.db):
        raise ConfigError("migrate-data copies into PostgreSQL: set db "
                                     "(CALLCENTRE_DB) to a postgresql:// URL")
    async with _database(cfg) as stores:
        assert isinstance(stores.db, PgDatabase)
        copied = await copy_sqlite(source, stores.db)
        read_back = await count_rows(stores.db, list(copied.tables))
        figures = await stores.standards.rebuild()
        capacity = await stores.capacity.rebuild()
    bad = [t for t, n in copied.tables.items() if read_back[t] != n]
    for table, n in copied.tables.items():
        print(f"{table:24s} {n:>10d} rows{'' if read_back[table] == n else '  DIFFERS'}")
    print(f"figures: {figures.differed} of {figures.rows} day rows and {capacity.differed} "
          f"of {capacity.rows} half-hour rows differ from a recount of the copied calls")
    if bad or figures.differed or capacity.differed:
        print(f"{shown(cfg.db)}: copied, but not as SQLite had it (see above)")
        return 1
    print(f"{source} copied into {shown(cfg.db)}: every count and figure agrees")
    return 0


async def _rebuild_figures(cfg: config_mod.Config) -> int:
    async with _database(cfg) as stores:
        repo = stores.standards
        first = await repo.prepare(cfg.tz)  # days not yet filed under this zone: built now
        rebuilt = first or await repo.rebuild()
        capacity = await stores.capacity.rebuild()
    if capacity.differed:
        print(f"capacity half-hours: {capacity.differed} of {capacity.rows} rows differed "
              "from a recount of the calls: replaced by the recount")
    else:
        print(f"capacity half-hours: all {capacity.rows} rows agree with a recount")
    if first is not None:
        print(f"built the figures of every day for {cfg.timezone}: {rebuilt.rows} rows")
    elif rebuilt.differed:
        print(f"{rebuilt.differed} of {rebuilt.rows} rows differed from a recount of the "
              "calls: replaced by the recount")
        return 1
    else:
        print(f"all {rebuilt.rows} rows agree with a recount of the calls")
    return 1 if capacity.differed else 0


async def _token(cfg: config_mod.Config, args: argparse.Namespace) -> None:
    from callcentre.app import SystemClock
    from callcentre.web.auth import create_token
    from callcentre.web.tokens import token_json

    async with _database(cfg) as stores:
        repo, now = stores.tokens, SystemClock().now()
        if args.token_command == "create":
            print(await create_token(repo, args.role, args.name, now, days=args.days,
                                     interface=args.interface))
        elif args.token_command == "list":
            for t in [token_json(token, now) for token in await repo.all()]:
                print(f"{t['id']:>5}  {t['state']:<8} {t['role']:<8} {t['name']}"
                      f"{' at ' + t['interface'] if t['interface'] else ''}"
                      f"  (expires {t['expires_at'] or 'never'})"
                      f"{'  signed in with a council account' if t['via'] else ''}")
        else:
            revoked = await repo.revoke(args.id, now)
            print(f"token {revoked.id} of {revoked.name} revoked")


async def _person(cfg: config_mod.Config, args: argparse.Namespace) -> None:
    from callcentre.app import SystemClock
    from callcentre.web.auth import new_person

    async with _database(cfg) as stores:
        repo = stores.tokens
        if args.person_command == "add":
            person = await repo.add_person(new_person(args.role, args.name, args.interface),
                                           SystemClock().now())
            print(f"{person.name} may now sign in as {person.role}")
        for p in await repo.people() if args.person_command == "list" else []:
            print(f"{p.role:<8} {p.name}{' at ' + p.interface if p.interface else ''}")


async def _subject(cfg: config_mod.Config, command: str, number: str) -> None:
    from callcentre.app import SystemClock
    from callcentre.phones import normaliser
    from callcentre.scheduling.policy import load_policy
    from callcentre.services.retention import RetentionService
    async with _database(cfg) as stores:
        service = RetentionService(stores.retention, SystemClock(),
                                   load_policy(cfg.policy_file).retention,
                                   normaliser(cfg.default_region))
        if command == "export":
            print(json.dumps(await service.export(number), indent=2, ensure_ascii=False))
        else:
            changed = await service.erase(number)
            print(f"anonymised: {changed}")


async def _audit(cfg: config_mod.Config, args: argparse.Namespace) -> None:
    from callcentre.web.audit import as_csv, entry_json
    from callcentre.web.serialise import parse_time

    since = parse_time("since", args.since, cfg.tz)
    until = parse_time("until", args.until, cfg.tz)
    assert since is not None and until is not None  # argparse requires both
    async with _database(cfg) as stores:
        entries = await stores.audit.between(since, until)
    if args.format == "csv":
        print(as_csv(entries), end="")
    else:
        print(json.dumps([entry_json(e) for e in entries], indent=1))


def _write(text: str, output: str | None) -> None:
    """A generated file, to ``output`` or standard output."""
    if output:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        print(text, end="")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = config_mod.load(args.config, os.environ, _overrides(args.set))
        logs.setup(cfg.log_level, cfg.log_format)
        return asyncio.run(_dispatch(args, cfg)) or 0
    except CallcentreError as err:
        print(f"callcentre: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    if args.command == "serve":
        from callcentre.serve import run

        await run(cfg)
    elif args.command == "demo":
        from callcentre.demo import run_demo

        await run_demo(cfg, speed=args.speed)
    elif args.command == "migrate":
        await _migrate(cfg)
    elif args.command == "migrate-data":
        return await _migrate_data(cfg, Path(args.sqlite))
    elif args.command == "rebuild-figures":
        return await _rebuild_figures(cfg)
    elif args.command == "rules":
        from callcentre.observability.alert_rules import render

        _write(render(cfg, args.pending), args.output)
    elif args.command == "alertmanager-config":
        from callcentre.observability.alertmanager import render as render_alertmanager

        _write(render_alertmanager(cfg), args.output)
    elif args.command == "dashboard":
        from callcentre.observability.dashboard import render as render_dashboard

        _write(render_dashboard(cfg), args.output)
    elif args.command == "token":
        await _token(cfg, args)
    elif args.command == "person":
        await _person(cfg, args)
    elif args.command == "subject":
        await _subject(cfg, args.subject_command, args.number)
    elif args.command == "audit":
        await _audit(cfg, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
