"""What every command shares: exit codes and opening the configured application."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from maildesk.app import App
from maildesk.config import load_config

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
def open_app(args: argparse.Namespace, *, prepare: bool = True) -> Iterator[App]:
    """The application for `--config`; its connections are closed when the command ends."""
    app = App(load_config(args.config))
    try:
        if prepare:
            app.prepare()
        yield app
    finally:
        app.db.dispose()
