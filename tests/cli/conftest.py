"""The `cli` fixture: `maildesk` run in-process against a prepared test database."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from maildesk.cli import main
from tests.cli.helpers import write_config
from tests.helpers import REGISTRY


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):
    cfg = write_config(tmp_path, db_url)
    reg = tmp_path / "registry.toml"
    reg.write_text(REGISTRY, encoding="utf-8")

    def run(*argv: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(["--config", str(cfg), *argv])
        monkeypatch.undo()
        return code, out.getvalue(), err.getvalue()

    assert run("db", "upgrade")[0] == 0
    assert run("registry", "import", str(reg))[0] == 0
    return run
