"""Issue 13 item 1: docs/rules.md resolves every rule id the code and the tests cite, and
names only functions and tests that exist, so a reader who meets `P11` can look it up."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "rules.md"
CITING = ("maildesk", "tests", "bench", "faults")

#: A policy, routing or timer id as code and prose cite it: "P10", "R7", "T4".
RULE_ID = re.compile(r"\b[PRT]\d{1,2}\b")
#: The tag a test name starts with: test_r7_..., test_s8_..., test_i10_...
TEST_TAG = re.compile(r"^test_([a-z]\d{1,2})_")
#: Percentiles in the SLA report (p50, p90, p95): not rule ids.
PERCENTILES = {"P50", "P90", "P95", "P99"}

ENTRY = re.compile(r"^### (\S+) — ", re.MULTILINE)
CODE_REF = re.compile(r"`(maildesk(?:\.\w+)+)`")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def documented() -> set[str]:
    return set(ENTRY.findall(DOC.read_text()))


def cited_in(source: str) -> set[str]:
    """The rule ids a Python source cites, in code, comments and test names alike."""
    ids = set(RULE_ID.findall(source)) - PERCENTILES
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            m := TEST_TAG.match(node.name)
        ):
            ids.add(m.group(1).upper())
    return ids


def decision_rules(source: str) -> set[str]:
    """The `rule` of every Decision(action, rule, ...) a module writes (e.g. "size")."""
    rules = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Decision"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            rules.add(str(node.args[1].value))
    return rules


def _sources() -> dict[str, str]:
    return {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for top in CITING
        for path in (ROOT / top).rglob("*.py")
    }


def test_every_cited_id_is_documented() -> None:
    known = documented()
    missing = {
        f"{name}: {rule}"
        for name, source in _sources().items()
        for rule in cited_in(source) | decision_rules(source)
        if rule not in known
    }
    assert missing == set()


def test_the_id_finders_see_ids_and_skip_percentiles() -> None:
    """What the guard above counts on: ids in strings, comments and test names are found;
    a percentile or a word with digits is not an id."""
    source = (
        "def test_p10_reopen(): pass\n"
        "def test_item7_first_response(): pass\n"
        "x = Decision(Action.REJECT, 'size', 'too large')  # R5 before the size check\n"
        f"p = 'P50 and P90 of the resolution times, T{12}'\n"
    )
    assert cited_in(source) == {"P10", "R5", "T" + "12"}
    assert decision_rules(source) == {"size"}


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr)
        return target
    raise ModuleNotFoundError(dotted)


def test_every_function_the_document_names_exists() -> None:
    refs = set(CODE_REF.findall(DOC.read_text()))
    assert len(refs) > 40
    broken = set()
    for dotted in refs:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            broken.add(dotted)
    assert broken == set()


def _defined(path: Path) -> set[str]:
    return {
        node.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_every_test_the_document_names_exists() -> None:
    refs = TEST_REF.findall(DOC.read_text())
    assert len(refs) > 60
    broken = {
        f"{file}::{name}"
        for file, name in refs
        if not (ROOT / file).exists() or (name and name not in _defined(ROOT / file))
    }
    assert broken == set()


def test_every_entry_says_where_it_is_tested() -> None:
    entries = re.split(r"^### ", DOC.read_text(), flags=re.MULTILINE)[1:]
    untested = {e.split()[0] for e in entries if "- Tested by: `tests/" not in e}
    assert untested == set()


def test_readme_and_the_modules_citing_ids_link_the_document() -> None:
    """A module whose docstring cites a rule id points its reader at the page."""
    assert "docs/rules.md" in (ROOT / "README.md").read_text()
    unlinked = set()
    for path in (ROOT / "maildesk").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if RULE_ID.search(doc) and "docs/rules.md" not in doc:
            unlinked.add(path.relative_to(ROOT).as_posix())
    assert unlinked == set()
