"""full-text search over messages' subjects and bodies (`tickets list --search`)

SQLite: an FTS5 table with the messages table as external content, kept in sync by
triggers; PostgreSQL: a generated tsvector column with a GIN index. Either way the index
changes in the same transaction as the message row, with no code in the write path, and
existing messages are indexed here. Both fold case and accents alike (unicode61 with
remove_diacritics on SQLite, `translate` of Latin accents before the 'simple' parser on
PostgreSQL), so a search finds the same tickets on both: "facturacion" finds "Facturación".

Indexed: what people wrote, i.e. mail received (customers', agents' commands and notes) and
agents' answers; not the notices rendered from our templates, whose words every ticket
shares (searching "solicitud" would find them all) and which were half the index's cost.
SQLite keeps no word positions (detail=none): searches are by words, never phrases, and
the index is smaller and cheaper to write.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Characters of a body indexed: a tsvector holds at most 1 MiB, and a mail whose text is
#: bigger than a book is a log dump whose tail nobody searches. The same cap on SQLite keeps
#: the two backends' answers equal.
CAP = 200_000
#: Frozen copy of maildesk.store.search.FOLD_FROM/FOLD_TO at this revision.
FOLD_FROM = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç"
FOLD_TO = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc"

INDEXED = "direction = 'in' OR kind = 'agent'"
_NEW = f"new.id, new.subject, substr(new.body, 1, {CAP})"
_OLD = f"'delete', old.id, old.subject, substr(old.body, 1, {CAP})"
SQLITE = [
    # The FTS table reads its content through this view, so a 'rebuild' indexes what the
    # triggers index: the capped body.
    f"CREATE VIEW messages_search AS SELECT id, subject, substr(body, 1, {CAP}) AS body "
    f"FROM messages WHERE {INDEXED}",
    "CREATE VIRTUAL TABLE messages_fts USING fts5(subject, body, content='messages_search', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2', detail=none)",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
    f"WHEN new.{INDEXED.replace(' OR ', ' OR new.')} BEGIN "
    f"INSERT INTO messages_fts(rowid, subject, body) VALUES ({_NEW}); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages "
    f"WHEN old.{INDEXED.replace(' OR ', ' OR old.')} BEGIN "
    f"INSERT INTO messages_fts(messages_fts, rowid, subject, body) VALUES ({_OLD}); END",
    # Messages are not edited, but if one is, the index follows (old words out, new in).
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body, direction, kind "
    "ON messages BEGIN "
    f"INSERT INTO messages_fts(messages_fts, rowid, subject, body) SELECT {_OLD} "
    f"WHERE old.{INDEXED.replace(' OR ', ' OR old.')}; "
    f"INSERT INTO messages_fts(rowid, subject, body) SELECT {_NEW} "
    f"WHERE new.{INDEXED.replace(' OR ', ' OR new.')}; END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
]
_DOCUMENT = (
    f"CASE WHEN {INDEXED} THEN "
    "to_tsvector('simple'::regconfig, translate(coalesce(subject, '') || ' ' || "
    f"left(coalesce(body, ''), {CAP}), '{FOLD_FROM}', '{FOLD_TO}')) END"
)
POSTGRESQL = [
    f"ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS ({_DOCUMENT}) STORED",
    "CREATE INDEX ix_messages_search ON messages USING gin (search)",
]


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER messages_fts_{name}")
        op.execute("DROP TABLE messages_fts")
        op.execute("DROP VIEW messages_search")
    else:
        op.execute("DROP INDEX ix_messages_search")
        op.execute("ALTER TABLE messages DROP COLUMN search")
