"""Issue 11: `--version`, `--help` with a line for every command and option, and shell
completion generated from the parser (shtab) as `maildesk completion bash|zsh`."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import maildesk
from maildesk.cli import build_parser

EXE = Path(sys.executable).with_name("maildesk")


def _parsers(
    p: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def _commands_without_help() -> list[str]:
    missing = []
    for path, p in _parsers(build_parser()):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {c.dest for c in action._choices_actions if c.help}
                missing += [" ".join((*path, n)) for n in action.choices if n not in helped]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_command_and_option_has_a_line_of_help() -> None:
    assert _commands_without_help() == []


def test_help_and_version_through_the_installed_command() -> None:
    res = subprocess.run([str(EXE), "--version"], capture_output=True, text=True, check=False)
    assert (res.returncode, res.stdout.strip()) == (0, f"maildesk {maildesk.__version__}")
    res = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, check=False)
    assert res.returncode == 0
    for command in ("tickets", "quarantine", "outbox", "attachments", "messages", "completion"):
        assert re.search(rf"^    {command} +\S", res.stdout, re.M), command


def test_help_explains_rather_than_cites_rule_codes() -> None:
    """Spec ids (P7, T4, R9) are tags for developers; no help text leans on one alone."""
    for path, p in _parsers(build_parser()):
        texts = [p.description or ""] + [a.help or "" for a in p._actions]
        for text in texts:
            assert not re.search(r"\b[PRT]\d+\b", text), (path, text)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_is_generated_from_the_parser(shell: str) -> None:
    res = subprocess.run(
        [str(EXE), "completion", shell], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and "Traceback" not in res.stderr
    for word in ("tickets", "--search", "--format", "quarantine", "discard", "--all-failed"):
        assert word in res.stdout, word
    if shell == "bash":
        assert "-F _shtab_maildesk maildesk" in res.stdout  # registered for the command


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_and_choices(tmp_path: Path) -> None:
    """Load the script into a real bash and ask it, as a shell does on TAB."""
    script = tmp_path / "maildesk.bash"
    res = subprocess.run([str(EXE), "completion", "bash"], capture_output=True, check=True)
    script.write_bytes(res.stdout)

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        probe = (
            f"source '{script}'; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
            f"COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT={len(line)}; "
            "_shtab_maildesk; printf '%s\\n' \"${COMPREPLY[@]}\""
        )
        out = subprocess.run(
            ["bash", "--norc", "-c", probe], capture_output=True, text=True, env=dict(os.environ)
        )
        return out.stdout.split()

    assert "quarantine" in complete("maildesk qua")
    assert {"list", "show", "export", "replay", "discard"} <= set(complete("maildesk quarantine "))
    assert complete("maildesk tickets list --format c") == ["csv"]
