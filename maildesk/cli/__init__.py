"""The `maildesk` command line (SPEC §6, §10): one module per command group.

`parser` declares every command and option (argparse only, so `--help`, `--version` and
shell completion answer without loading the database layer); `main` dispatches to the
group's module (`tickets`, `outbox`, ...), which imports downward only. Nothing below the
command line imports from this package.
"""

from maildesk.cli.main import main
from maildesk.cli.parser import build_parser

__all__ = ["build_parser", "main"]
