"""Issue 13 item 5: the command line lives in one package that nothing below it imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import maildesk

PACKAGE = Path(maildesk.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, including imports inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_no_module_below_the_command_line_imports_it() -> None:
    upward = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        bad = {m for m in _imports(path) if m == "maildesk.cli" or m.startswith("maildesk.cli.")}
        if bad:
            upward[str(rel)] = sorted(bad)
    assert upward == {}


def test_python_dash_m_maildesk_runs_the_command_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "maildesk", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (res.returncode, res.stdout.strip()) == (0, f"maildesk {maildesk.__version__}")
