"""`maildesk` entry point: parse, set up logging, run the command, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
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


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The function named "module:function" in this package (see `parser`)."""
    module, func = name.split(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"maildesk.cli.{module}"), func
    )
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (
        logging.DEBUG
        if args.verbose
        else logging.INFO
        if args.command == "run"
        else logging.WARNING
    )
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
