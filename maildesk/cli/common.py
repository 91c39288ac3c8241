"""What every command shares: exit codes, opening the configured application, and saying
which database a command used.

Only `run` and `db upgrade` may create a database (SPEC §10): any other command run in the
wrong folder, or with the wrong config, would otherwise report success against a new empty
`./maildesk.db` while the real database stays unchanged.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from maildesk.app import App
from maildesk.config import Config, load_config
from maildesk.errors import NoDatabase
from maildesk.store.db import describe

EX_OK, EX_USAGE, EX_DATAERR, EX_SOFTWARE, EX_OSERR, EX_TEMPFAIL, EX_CONFIG = (
    0,
    64,
    65,
    70,
    71,
    75,
    78,
)


@contextmanager
def open_app(
    args: argparse.Namespace, *, create: bool = False, prepare: bool = True
) -> Iterator[App]:
    """The application for `--config`; its connections are closed when the command ends.

    Without `create`, a missing database is an error naming where it was looked for."""
    cfg = load_config(args.config)
    app = App(cfg)
    try:
        if not create and not app.db.exists():
            raise NoDatabase(missing_database(cfg))
        if prepare:
            app.prepare()
        yield app
    finally:
        app.db.dispose()


def missing_database(cfg: Config) -> str:
    """Where maildesk looked, why there, and how to point it at the right database."""
    if cfg.source == Config.source:  # embedded defaults: no config file anywhere
        why = (
            "database.url is the embedded default: no --config given, MAILDESK_CONFIG is "
            f"not set and there is no maildesk.toml in {os.getcwd()}"
        )
    else:
        why = f"database.url comes from {Path(cfg.source).absolute()}"
    return (
        f"no maildesk database at {describe(cfg.database.url)}\n"
        f"  {why}\n"
        "  point at your database with --config FILE (or MAILDESK_CONFIG=FILE),\n"
        "  or create a new one with `maildesk [--config FILE] db upgrade`"
    )


def wrote_to(app: App, *, dry_run: bool = False) -> None:
    """The last line of every command that writes: which database it wrote to."""
    where = describe(app.cfg.database.url)
    print(f"database: {where}" + (" (dry run: nothing written)" if dry_run else ""))
