"""Issue 13, done-when: the house style's sizes stay true (ARCHITECTURE.md, "House style" 3
and 9). A module over ~400 lines holds more than one job; a function over ~60 lines does.
The positional-parameter limit and the enum-literal rule live in test_architecture.py.

Alembic migrations are left out: each is a frozen record of a schema change, rewritten never.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "maildesk"
MODULE_LINES = 400
FUNCTION_LINES = 60


def _modules() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.relative_to(PACKAGE).parts:
            yield path


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _long_functions(name: str, source: str) -> dict[str, int]:
    """Functions (methods, nested ones too) over FUNCTION_LINES, counted from `def` to the
    last line, docstring and signature included: {"file:line name": lines}."""
    long = {}
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            n = node.end_lineno - node.lineno + 1
            if n > FUNCTION_LINES:
                long[f"{name}:{node.lineno} {node.name}"] = n
    return long


def _long_modules() -> dict[str, int]:
    long = {}
    for path in _modules():
        n = len(path.read_text().splitlines())
        if n > MODULE_LINES:
            long[_name(path)] = n
    return long


def _all_long_functions() -> dict[str, int]:
    long: dict[str, int] = {}
    for path in _modules():
        long |= _long_functions(_name(path), path.read_text())
    return long


def test_no_module_over_400_lines() -> None:
    """Split along the seams a module already has (a `# ---` banner is one)."""
    assert _long_modules() == {}


def test_no_function_over_60_lines() -> None:
    assert _all_long_functions() == {}


def test_the_function_guard_counts_lines_as_a_reader_does() -> None:
    """A method one line over the limit is caught, one at the limit is not (the guard above
    must be able to fail)."""
    body = "\n".join(f"        x{i} = {i}" for i in range(FUNCTION_LINES - 1))
    fits = f"    def fits(self):\n{body}\n"
    over = f"    def over(self):\n{body}\n        y = 0\n"
    source = f"class C:\n{fits}\n{over}"
    assert _long_functions("m.py", source) == {"m.py:63 over": FUNCTION_LINES + 1}
    assert len(list(_modules())) > 100  # the package is where the guards look
