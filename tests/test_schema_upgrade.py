"""Upgrades at start (issue 11): several processes on one database migrate it once."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, select, text

from maildesk.store.db import MIGRATIONS, SCHEMA_LOCK, Database
from maildesk.store.models import Resolution, Ticket


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


def _schema_at(db_url: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_item7_upgrade_backfills_first_response_and_the_resolutions_ledger(db_url: str) -> None:
    """Existing tickets keep their history's meaning after 0004: their first public agent
    answer becomes `first_response_at`, each resolved ticket one ended SLA clock."""
    _schema_at(db_url, "0004")
    engine = create_engine(db_url)
    t0 = "2026-11-25 16:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, name, policy, max_contacts, products, active)"
                " VALUES ('acme', 'ACME', 'standard', 1, '[]', true)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO contacts (id, email, name, phone, customer_id, active)"
                " VALUES (1, 'ana@acme.example', 'Ana', '', 'acme', true)"
            )
        )
        for number, resolved in ((1, "2026-11-25 18:00:00"), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO tickets (number, subject, customer_id, requester_id,"
                    " unsupported_version, type, priority, unclassified, state, created_at,"
                    " updated_at, type_set_at, resolved_at, sla_due_at, sla_warned,"
                    " sla_breached, feature_reminders_sent) VALUES (:n, 's', 'acme', 1, false,"
                    " 'soporte', 'alta', false, :state, :t0, :t0, :t0, :resolved,"
                    " '2026-11-26 16:00:00', false, false, 0)"
                ),
                {
                    "n": number,
                    "t0": t0,
                    "resolved": resolved,
                    "state": "resolved" if resolved else "open",
                },
            )
        for at, kind, public in (
            ("2026-11-25 16:30:00", "note", False),
            ("2026-11-25 17:00:00", "agent", True),
            ("2026-11-25 17:30:00", "agent", True),
        ):
            conn.execute(
                text(
                    "INSERT INTO messages (ticket_number, direction, kind, from_addr, to_addrs,"
                    " subject, at, body, full_text, public) VALUES (1, 'out', :kind, '', '',"
                    " '', :at, '', '', :public)"
                ),
                {"at": at, "kind": kind, "public": public},
            )
    engine.dispose()
    db = Database(db_url)
    try:
        db.upgrade()
        with db.transaction() as s:
            one, two = s.get(Ticket, 1), s.get(Ticket, 2)
            assert one is not None and two is not None
            assert one.first_response_at == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
            assert two.first_response_at is None and one.reopened_at is None
            (clock,) = s.scalars(select(Resolution))
            assert (clock.ticket_number, clock.resolved_at, clock.clock_started_at) == (
                1,
                datetime(2026, 11, 25, 18, 0, tzinfo=UTC),
                datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
            )
            assert (clock.type, clock.priority) == ("soporte", "alta")
    finally:
        db.dispose()
