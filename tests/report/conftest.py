"""Fixtures of the report tests: a config file for the app a test built (for CLI runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from maildesk.app import App


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[[App], Path]:
    def write(app: App) -> Path:
        cfg = app.cfg
        lines = [
            "[support]",
            f"address = {json.dumps(cfg.support.address)}",
            "[database]",
            f"url = {json.dumps(cfg.database.url)}",
            "[inbound]",
            'mode = "none"',
            "[outbound]",
            'mode = "maildir"',
            f"maildir = {json.dumps(str(tmp_path / 'outbox'))}",
        ]
        for agent in cfg.agents:
            lines += [
                "[[agents]]",
                f"email = {json.dumps(agent.email)}",
                f"name = {json.dumps(agent.name)}",
                f"skills = {json.dumps(agent.skills)}",
            ]
        path = tmp_path / "maildesk.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    return write
