"""Issue 11: config.example.toml says which values differ from the embedded defaults, and
no rule id (P7, T4, R9...) stands in it unexplained."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from maildesk.config import Config

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"
MARK = "example; default:"


def _default(path: list[str]) -> Any:
    value: Any = Config()
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key)
    return value


def _blocks(text: str) -> list[tuple[list[str], str]]:
    """(key path, the key's line with its continuation comment lines) for every key and
    array-of-tables header; the path of a key in [[agents]] is ["agents"]."""
    out: list[tuple[list[str], str]] = []
    section: list[str] = []
    for line in text.splitlines():
        header = re.match(r"^(\[\[?)([\w.]+)\]\]?", line)
        key = re.match(r"^(\w+)\s*=", line)
        if header:
            section = header.group(2).split(".")
            if header.group(1) == "[[":
                out.append((section, line))
        elif key and section != ["agents"]:
            out.append(([*section, key.group(1)], line))
        elif re.match(r"^\s+#", line) and out:
            out[-1] = (out[-1][0], out[-1][1] + "\n" + line)
        elif not line.strip() or line.startswith("#"):
            continue
    return out


def test_config_example_marks_exactly_the_values_that_differ_from_the_defaults() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    wrong = []
    for path, block in _blocks(text):
        value: Any = data
        for key in path:
            value = value[key]
        default = _default(path)
        differs = value != default and not (isinstance(value, list) and value == list(default))
        if differs != (MARK in block):
            wrong.append(f"{'.'.join(path)} = {value!r} (default {default!r})")
    assert wrong == []


def test_config_example_explains_rather_than_cites_rule_ids() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert re.findall(r"\b[PRT]\d+\b|§\s*\d+", text) == []
