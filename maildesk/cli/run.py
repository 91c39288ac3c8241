"""`maildesk run`: the daemon in the foreground (systemd runs this)."""

from __future__ import annotations

import argparse
import logging

from maildesk import logs
from maildesk.cli.common import EX_OSERR, open_app
from maildesk.daemon import Daemon, exit_when_stuck

log = logging.getLogger("maildesk.daemon")


def cmd_run(args: argparse.Namespace) -> int:
    """Exit 0 after SIGTERM/SIGINT, 1 if a worker died, 71 if it cannot start."""
    with open_app(args, create=True, prepare=False) as app:
        logs.apply(app.cfg.logging.format, None if args.verbose else app.cfg.logging.level)
        daemon = Daemon(app, config_path=args.config)
        try:
            rc = daemon.run_forever()
        except OSError as exc:  # e.g. the listener's port is taken
            log.error("cannot start: %s", exc)
            return EX_OSERR
    exit_when_stuck(rc)
    return rc
