"""Engine, sessions and schema upgrades; database errors become TemporaryFailure here."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from maildesk.errors import ConfigError, TemporaryFailure

MIGRATIONS = Path(__file__).parent / "migrations"
#: PostgreSQL advisory lock held (per transaction) while the schema is migrated: daemons
#: starting together, `db upgrade` and an MTA's `ingest` must not run one migration twice.
SCHEMA_LOCK = 0x6D61_696C_6465_736B  # "maildesk"

log = logging.getLogger("maildesk.db")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas maildesk relies on (SQLite: WAL, FKs, busy timeout)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        file = sqlite_file(url)

        @event.listens_for(engine, "do_connect")
        def _private(*_args: Any) -> None:
            # The database holds every mail and the HMAC key: created 0600 whatever the
            # umask, at the moment SQLite would create it; its -wal and -shm take its mode.
            if file is not None and not file.exists():
                with contextlib.suppress(FileExistsError, FileNotFoundError):
                    os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Python's sqlite3 opens transactions lazily; BEGIN IMMEDIATE (below)
            # takes the write lock up front so two writers queue instead of deadlocking.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, absolute (relative URLs are relative to the working
    directory); None for an in-memory database or another backend."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database).absolute()


def backup_sqlite(url: str, target: Path) -> int:
    """Copy a live SQLite database to `target` with SQLite's online backup API (consistent
    while the daemon writes: pages changed during the copy are copied again), check the
    copy (quick_check) and return its size. The copy is created 0600, as the database is."""
    source = sqlite_file(url)
    if source is None or not source.exists():
        raise FileNotFoundError(f"no SQLite database at {describe(url)}")
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new name")
    target.touch(mode=0o600)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=1024)
        verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        dst.close()
        src.close()
    if verdict != "ok":
        raise RuntimeError(f"the copy {target} fails SQLite's quick_check: {verdict}")
    return target.stat().st_size


def describe(url: str) -> str:
    """The database as an operator names it: a SQLite file's absolute path, else the URL
    with its password masked."""
    file = sqlite_file(url)
    if file is not None:
        return str(file)
    return make_url(url).render_as_string(hide_password=True)


class NewerSchema(ConfigError):
    """The database was migrated by a newer maildesk than this one: using it could corrupt
    it, migrating it back is not ours to do."""

    def __init__(self, where: str, revision: str, head: str | None) -> None:
        super().__init__(
            f"database {where} has schema revision {revision}, newer than this maildesk "
            f"knows (its newest is {head}): run the newer maildesk that migrated it, "
            "or point --config at another database"
        )


class Database:
    """The one handle on the database: sessions as units of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit at the end, roll back on any error.

        Connection-level failures (server down, locked) surface as TemporaryFailure
        so channels can retry later; nothing is half-written either way.
        """
        session = self.sessions()
        try:
            yield session
            session.commit()
        except (OperationalError, DBAPIError) as exc:
            session.rollback()
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise TemporaryFailure(f"database unavailable: {exc.orig}") from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic), saying so in one
        log line when it did something. On PostgreSQL the migration runs under an advisory
        lock: a second process waits, then finds the schema current and does nothing."""
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
                before = MigrationContext.configure(conn).get_current_revision()
                if before == head:
                    return
                if before is not None and before not in {
                    r.revision for r in script.walk_revisions()
                }:
                    raise NewerSchema(describe(self.url), before, head)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise TemporaryFailure(f"database unavailable: {exc.orig}") from exc
        where = self.engine.url.render_as_string(hide_password=True)
        if before is None:
            log.info("database %s: schema created (revision %s)", where, head)
        else:
            log.info("database %s: schema upgraded from revision %s to %s", where, before, head)

    def exists(self) -> bool:
        """True when a maildesk schema is there. Unlike `is_current`, never creates a SQLite
        file by connecting to it (a command run in the wrong folder must not leave an empty
        database behind)."""
        file = sqlite_file(self.url)
        if file is not None and not file.exists():
            return False
        return self.is_current()

    def is_current(self) -> bool:
        """True when the schema exists (used by `check` and friendly errors)."""
        try:
            return inspect(self.engine).has_table("tickets")
        except OperationalError as exc:
            raise TemporaryFailure(f"database unavailable: {exc.orig}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
