"""Store guarantees under concurrency (SPEC §8): sequential ticket numbers, R1 across
workers, quarantine replay, and an upgrade that can run twice."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from maildesk.app import App
from maildesk.pipeline.accept import accept, quarantine, quarantine_replay
from maildesk.pipeline.outcome import Kind
from maildesk.store.db import Database
from maildesk.store.models import Inbox, Ticket
from maildesk.views import quarantine_list
from tests.helpers import NOW, make_mail


def _parallel(app: App, raws: list[bytes], workers: int = 4) -> list:
    """Feed messages from several threads, each with its own App (own connections)."""
    results: list = []
    lock = threading.Lock()
    chunks = [raws[i::workers] for i in range(workers)]

    def work(chunk: list[bytes]) -> None:
        mine = App(app.cfg, Database(app.db.url))
        try:
            for raw in chunk:
                out = accept(mine, raw, "thread", NOW)
                with lock:
                    results.append(out)
        finally:
            mine.db.dispose()

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_ticket_numbers_unique_and_sequential_under_concurrent_writers(app: App) -> None:
    raws = [make_mail(subject=f"tema {i}") for i in range(24)]
    results = _parallel(app, raws)
    assert len(results) == 24 and all(r.kind is Kind.TICKETED for r in results)
    numbers = sorted(r.ticket_number for r in results)
    assert numbers == list(range(1, 25))


def test_r1_same_message_from_two_workers_is_one_ticket(app: App) -> None:
    raws = [make_mail(message_id=f"<race-{i}@acme.example>", subject=f"r{i}") for i in range(6)]
    results = _parallel(app, raws * 4)
    assert sum(r.kind is Kind.TICKETED for r in results) == 6
    assert sum(r.duplicate for r in results) == 18
    with app.db.transaction() as s:
        assert s.scalar(select(func.count(Ticket.number))) == 6
        assert s.scalar(select(func.count(Inbox.id))) == 6


def test_quarantine_replay_after_fix(app: App) -> None:
    raw = make_mail(subject="llegó mientras fallaba")
    qid = quarantine(app, raw, "imap:INBOX:7", "Traceback ...\nRuntimeError: boom")
    (row,) = quarantine_list(app)
    assert row["id"] == qid and row["error_line"] == "RuntimeError: boom"
    ((replayed_id, label),) = quarantine_replay(app, None)
    assert replayed_id == qid and label.startswith("ticketed #1")
    assert quarantine_list(app)[0]["replayed_at"] is not None
    assert quarantine_replay(app, None) == []  # each replayed once unless asked by id
    ((_, again),) = quarantine_replay(app, qid)
    assert "duplicate" in again  # R1: replaying twice creates nothing


def test_db_upgrade_is_idempotent(app: App) -> None:
    app.db.upgrade()
    app.db.upgrade()
    assert app.db.is_current()


def test_migrations_match_the_models(app: App) -> None:
    """`db upgrade` builds exactly the schema the code declares (no forgotten migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from maildesk.store.models import Base
    from maildesk.store.search import INDEX_OBJECTS

    def declared(name: str | None, *_: object) -> bool:
        return name not in INDEX_OBJECTS  # the search index is the database's own business

    with app.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": declared})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
