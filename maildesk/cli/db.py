"""`maildesk db upgrade`: create or migrate the schema; `db backup FILE`: a consistent copy
of a live SQLite database (PostgreSQL: pg_dump, see systemd/README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maildesk.cli.common import EX_OK, EX_USAGE, open_app
from maildesk.store.db import backup_sqlite, describe, sqlite_file


def cmd_upgrade(args: argparse.Namespace) -> int:
    """One of the two commands that may create a database (with `run`); says which it did."""
    with open_app(args, create=True, prepare=False) as app:
        existed = app.db.exists()
        app.prepare()
        where = describe(app.cfg.database.url)
    print(f"database schema is up to date: {where}" if existed else f"created database {where}")
    return EX_OK


def cmd_backup(args: argparse.Namespace) -> int:
    """SQLite's online backup while the daemon runs; PostgreSQL has pg_dump for that."""
    with open_app(args, prepare=False) as app:
        url = app.cfg.database.url
    if sqlite_file(url) is None:
        print(
            f"maildesk db backup: {describe(url)} is not SQLite; back it up with "
            "`pg_dump --format=custom --file=FILE DBNAME` (systemd/README.md)",
            file=sys.stderr,
        )
        return EX_USAGE
    target = Path(args.file)
    try:
        size = backup_sqlite(url, target)
    except (OSError, RuntimeError) as exc:
        print(f"maildesk db backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {describe(url)} to {target.absolute()} ({size} bytes, quick_check ok)")
    return EX_OK
