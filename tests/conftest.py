"""Shared fixtures: a real database per test (SQLite, and PostgreSQL when
MAILDESK_TEST_DATABASE_URL is set), an App wired to it, the registry imported. Helpers that
are not fixtures (the registry's text, a mail builder, NOW) live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from maildesk.app import App
from maildesk.config import config_from_dict
from maildesk.registry import import_registry_file
from maildesk.store.db import Database
from tests.helpers import AGENTS, BACKENDS, PG_URL, REGISTRY
from tests.servers.postgres import throwaway_schema

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database: a temp SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        path = Path(request.getfixturevalue("tmp_path")) / "maildesk.db"
        yield f"sqlite:///{path}"
        return
    with throwaway_schema(PG_URL, "t") as url:
        yield url


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Build an App on the test database; keyword sections override the config."""
    apps: list[App] = []

    def factory(**sections: Any) -> App:
        data: dict[str, Any] = {
            "support": {"address": "customerservice@support.example", "subject_prefix": "BITAM"},
            "database": {"url": db_url},
            "inbound": {"mode": "none"},
            "outbound": {"mode": "maildir", "maildir": str(tmp_path / "outbox")},
            "agents": AGENTS,
            "escalation": {"supervisors": ["jefe@support.example"]},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        app = App(config_from_dict(data, "test-config", tmp_path), Database(db_url))
        app.prepare()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.db.dispose()


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


@pytest.fixture
def app(make_app: Callable[..., App], registry_file: Path) -> App:
    """An App with the standard test registry imported."""
    a = make_app()
    import_registry_file(a.db, registry_file)
    return a
