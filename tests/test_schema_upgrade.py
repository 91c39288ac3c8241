"""Upgrades at start (issue 11): several processes on one database migrate it once."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import create_engine, text

from maildesk.store.db import SCHEMA_LOCK, Database


def _upgrade_in_threads(db_url: str, n: int) -> tuple[list[threading.Thread], list[BaseException]]:
    errors: list[BaseException] = []

    def upgrade() -> None:
        db = Database(db_url)
        try:
            db.upgrade()
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, errors


def test_upgrade_several_processes_at_once_migrate_once_and_say_so_once(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="maildesk.db")
    threads, errors = _upgrade_in_threads(db_url, 3)
    for t in threads:
        t.join(60)
    assert errors == []
    created = [r for r in caplog.records if "schema created" in r.getMessage()]
    assert len(created) == 1
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_upgrade_on_postgresql_waits_for_the_schema_lock(db_url: str) -> None:
    """A daemon migrating holds the advisory lock; another waits instead of migrating too."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the SQLite variant: SQLite's write lock (BEGIN IMMEDIATE) serializes")
    engine = create_engine(db_url)
    holder = engine.connect()
    holder.begin()
    holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
    try:
        threads, errors = _upgrade_in_threads(db_url, 1)
        threads[0].join(1.0)
        assert threads[0].is_alive(), "the upgrade did not wait for the lock holder"
    finally:
        holder.rollback()
        holder.close()
    threads[0].join(60)
    assert errors == [] and not threads[0].is_alive()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
