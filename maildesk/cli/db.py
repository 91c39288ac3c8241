"""`maildesk db upgrade`: create or migrate the schema."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_app
from maildesk.store.db import describe


def cmd_upgrade(args: argparse.Namespace) -> int:
    """One of the two commands that may create a database (with `run`); says which it did."""
    with open_app(args, create=True, prepare=False) as app:
        existed = app.db.exists()
        app.prepare()
        where = describe(app.cfg.database.url)
    print(f"database schema is up to date: {where}" if existed else f"created database {where}")
    return EX_OK
