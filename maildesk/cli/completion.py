"""`maildesk completion bash|zsh`: a completion script generated from the parser by shtab,
so every command, option and choice completes, and none is forgotten when one is added.

    maildesk completion bash > /etc/bash_completion.d/maildesk
    maildesk completion zsh > "${fpath[1]}/_maildesk"
"""

from __future__ import annotations

import argparse

import shtab

from maildesk.cli.common import EX_OK
from maildesk.cli.parser import build_parser


def cmd_completion(args: argparse.Namespace) -> int:
    print(shtab.complete(build_parser(), shell=args.shell))
    return EX_OK
