"""Issue 11 "Output that behaves in pipes": no traceback on `| head`, aligned tables,
colour only on a terminal; the text helpers behind them."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from maildesk.cli.output import dump_json, safe, safe_line, table, width
from tests.cli.helpers import write_config
from tests.helpers import make_mail

EXE = Path(sys.executable).with_name("maildesk")


def _many_tickets(tmp_path: Path, n: int, body: str = "Hola\n") -> Path:
    """A SQLite database with n tickets, made through the installed command."""
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'maildesk.db'}")
    reg = tmp_path / "registry.toml"
    from tests.helpers import REGISTRY

    reg.write_text(REGISTRY, encoding="utf-8")
    for argv in (["db", "upgrade"], ["registry", "import", str(reg)]):
        subprocess.run([str(EXE), "--config", str(cfg), *argv], check=True, capture_output=True)
    for i in range(n):
        subprocess.run(
            [str(EXE), "--config", str(cfg), "ingest"],
            input=make_mail(subject=f"Tema {i}", body=body),
            check=True,
            capture_output=True,
        )
    return cfg


def test_broken_pipe_ends_quietly(tmp_path: Path) -> None:
    """`maildesk tickets list | head -1`: the reader leaves early; no traceback, no
    'Exception ignored' from the interpreter's last flush."""
    # 300 KiB of text: more than a pipe holds (64 KiB), so `head` leaves mid-way.
    cfg = _many_tickets(tmp_path, 1, body="una línea de registro del error 500\n" * 8000)
    script = f"'{EXE}' --config '{cfg}' tickets show 1 | head -n 1; echo ${{PIPESTATUS[0]}}"
    res = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert res.stdout.splitlines() == ["[BITAM #1] Tema 0", "141"]
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr
    assert "BrokenPipe" not in res.stderr


def test_broken_pipe_exit_status_is_sigpipes(tmp_path: Path) -> None:
    """A write to a pipe nobody reads ends the command with 141, as it ends `cat`."""
    cfg = _many_tickets(tmp_path, 1)
    r, w = os.pipe()
    os.close(r)
    res = subprocess.run(
        [str(EXE), "--config", str(cfg), "tickets", "list"],
        stdout=w,
        stderr=subprocess.PIPE,
        check=False,
    )
    os.close(w)
    assert res.returncode == 141 and res.stderr == b""


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> str:
    """Run the installed command with stdout on a pseudo-terminal; its output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(EXE), *argv], stdout=follower, stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    cfg = _many_tickets(tmp_path, 1)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm"
    argv = ["--config", str(cfg), "tickets", "list"]
    assert "\x1b[1m" in _on_a_terminal(argv, env)  # bold header on a terminal
    assert "\x1b[" not in _on_a_terminal(argv, {**env, "NO_COLOR": "1"})
    piped = subprocess.run([str(EXE), *argv], capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and "\x1b" not in piped.stdout


def test_table_columns_line_up_with_wide_and_combining_characters() -> None:
    out = io.StringIO()
    rows = [[1, "日本語の件名", "x"], [22, "Pe\u0301rez", "y"], [333, "plain", "z"]]
    table(["n", "subject", "last"], rows, right=(0,), out=out)
    lines = out.getvalue().splitlines()
    starts = {width(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1  # the last column starts at the same terminal column everywhere
    assert lines[1].startswith("  1") and lines[3].startswith("333")


@given(st.text())
def test_safe_never_lets_a_control_character_through(text: str) -> None:
    for shown in (safe(text), safe_line(text)):
        assert not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\n" not in safe_line(text)


@given(st.dictionaries(st.text(), st.text()))
def test_json_output_is_the_same_data_without_raw_controls(data: dict[str, str]) -> None:
    import json

    out = io.StringIO()
    dump_json(data, out)
    text = out.getvalue()
    assert json.loads(text) == data
    assert not any(0x7F <= ord(c) < 0xA0 or 0x202A <= ord(c) <= 0x202E for c in text)
