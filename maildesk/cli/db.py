"""`maildesk db upgrade`: create or migrate the schema."""

from __future__ import annotations

import argparse

from maildesk.cli.common import EX_OK, open_app


def cmd_upgrade(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        print(f"database schema is up to date ({app.cfg.database.url.split('@')[-1]})")
    return EX_OK
