"""Issue 8 item 9: the pipeline runs in one direction. import-linter (pyproject.toml, run by
scripts/test) checks the layers; this checks the habit that used to hide circles from a
reader: importing one of our modules inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "maildesk"


def _imports_inside_functions(path: Path) -> set[str]:
    found = set()
    for func in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {name for name in found if name == "maildesk" or name.startswith("maildesk.")}


def test_no_maildesk_imports_inside_functions() -> None:
    hidden = {
        (path.relative_to(PACKAGE).as_posix(), name)
        for path in PACKAGE.rglob("*.py")
        for name in _imports_inside_functions(path)
    }
    assert hidden == set()
