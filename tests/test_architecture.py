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


def _positional(func: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    args = [*func.args.posonlyargs, *func.args.args]
    if in_class and args and args[0].arg in ("self", "cls"):
        args = args[1:]  # passed by Python, not written by the caller
    return len(args)


def test_no_function_takes_more_than_six_positional_parameters() -> None:
    """Issue 13 item 3: flags keyword-only; values that travel together are one value."""
    too_many = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        methods = {
            id(f)
            for c in ast.walk(tree)
            if isinstance(c, ast.ClassDef)
            for f in c.body
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for f in ast.walk(tree):
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _positional(f, id(f) in methods)
                if n > 6:
                    too_many.append(f"{path.relative_to(PACKAGE)}:{f.lineno} {f.name} ({n})")
    assert too_many == []


STATES = {"open", "resolved", "closed"}
# "error" is a ticket type and a common word: it counts only where a type is compared or set.
UNAMBIGUOUS = {"soporte", "setup", "actividad", "consultoria", "nuevo_requerimiento"} | {
    "urgente",
    "alta",
    "media",
    "baja",
}
VOCABULARY_HOMES = {
    "domain/lifecycle.py",
    "domain/sla.py",
}  # where State, TicketType, Priority live
# Where a ticket's state, type or priority is compared, given or set by name.
_STATE_CALLS = {"transition", "check_transition", "can_transition", "transition_values", "only"}
_STATE_KEYWORDS = {"state", "type", "type_", "priority", "target", "default"}


def _bare_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants of the state/type/priority vocabularies where an enum belongs."""
    found = []
    for node in ast.walk(tree):
        used: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                used += side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in _STATE_CALLS:
                used += node.args
            used += [k.value for k in node.keywords if k.arg in _STATE_KEYWORDS]
        elif isinstance(node, ast.Constant) and node.value in UNAMBIGUOUS:
            found.append((node.lineno, node.value))
        for value in used:
            if isinstance(value, ast.Constant) and value.value in STATES | UNAMBIGUOUS | {"error"}:
                found.append((value.lineno, value.value))
    return sorted(set(found))


def test_no_bare_state_type_priority_literals() -> None:
    """Issue 13 item 2: `t.state is State.OPEN`, `TicketType.FEATURE_REQUEST`, never the
    strings, outside the enums' own modules (migrations are history: left as written)."""
    bare = [
        f"{rel}:{line} {value!r}"
        for path in PACKAGE.rglob("*.py")
        if (rel := path.relative_to(PACKAGE).as_posix()) not in VOCABULARY_HOMES
        and not rel.startswith("store/migrations/")
        for line, value in _bare_literals(ast.parse(path.read_text(), str(path)))
    ]
    assert bare == []
