"""`maildesk` entry point: parse, set up logging, run the command, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from maildesk import logs
from maildesk.cli.common import EX_CONFIG, EX_DATAERR, EX_TEMPFAIL
from maildesk.cli.parser import build_parser
from maildesk.errors import (
    ConfigError,
    MaildeskError,
    NoDatabase,
    RegistryError,
    TemporaryFailure,
)

#: What a shell reports for a program killed by SIGPIPE (128 + 13), as `cat | head` does.
EX_PIPE = 141


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The function named "module:function" in this package (see `parser`)."""
    module, func = name.split(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"maildesk.cli.{module}"), func
    )
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A reader that goes away (`maildesk tickets list | head`) ends the
    command quietly, as it ends `cat`: no traceback, nothing more written."""
    try:
        rc = _run(build_parser().parse_args(argv))
        sys.stdout.flush()  # here, not at interpreter exit, where a broken pipe is noisy
        return rc
    except BrokenPipeError:
        _stdout_to_devnull()
        return EX_PIPE


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's last flush has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to do
        pass


def _run(args: argparse.Namespace) -> int:
    level = logging.WARNING
    if args.verbose:
        level = logging.DEBUG
    elif args.command == "run":
        level = logging.INFO  # the daemon's journal says what it does
    logs.setup(level)
    try:
        return _handler(args.handler)(args)
    except NoDatabase as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        return EX_CONFIG
    except ConfigError as exc:
        print(f"maildesk: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except RegistryError as exc:
        print(f"maildesk: registry not imported, nothing changed: {exc}", file=sys.stderr)
        return EX_DATAERR
    except TemporaryFailure as exc:
        print(f"maildesk: temporary failure, try again later: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except MaildeskError as exc:
        print(f"maildesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
