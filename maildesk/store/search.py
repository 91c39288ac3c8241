"""Full-text search over messages' subjects and bodies (`tickets list --search TEXT`).

The index is kept by the database itself (migration 0004): an FTS5 table on SQLite, a
generated tsvector column on PostgreSQL. Both fold case and Latin accents the same way and
match whole words; a word ending in `*` matches as a prefix (`factur*`). Every word must
appear somewhere in a ticket's messages (in one message).
"""

from __future__ import annotations

import re

from sqlalchemy import Integer, Select, bindparam, column, select, text
from sqlalchemy.orm import Session

from maildesk.store.models import Message

#: Accents folded before PostgreSQL's 'simple' parser (SQLite's unicode61 tokenizer with
#: remove_diacritics folds these and more); migration 0004 holds a frozen copy.
FOLD_FROM = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç"
FOLD_TO = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc"
#: Schema objects of the index, made by migration 0004 and not declared in the models (the
#: two backends differ): FTS5's table and its shadow tables, the PostgreSQL column and index.
INDEX_OBJECTS = frozenset(
    {"messages_fts", "search", "ix_messages_search"}
    | {f"messages_fts_{shadow}" for shadow in ("data", "idx", "content", "docsize", "config")}
)
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)
_WORD = re.compile(r"[^\W_]+")  # letters and digits: the tokens of both indexes


def words(query: str) -> list[tuple[str, bool]]:
    """The query's words, accents folded and lower-cased, each with whether it is a prefix.
    Punctuation separates words, as it does in the index."""
    out: list[tuple[str, bool]] = []
    for token in query.split():
        parts = _WORD.findall(token.translate(_FOLD).lower())
        for i, part in enumerate(parts):
            out.append((part, token.endswith("*") and i == len(parts) - 1))
    return out


def _fts5_query(terms: list[tuple[str, bool]]) -> str:
    return " ".join(f'"{w}"' + ("*" if prefix else "") for w, prefix in terms)


def _tsquery(terms: list[tuple[str, bool]]) -> str:
    return " & ".join(f"'{w}'" + (":*" if prefix else "") for w, prefix in terms)


def matching_tickets(s: Session, query: str) -> Select:
    """Ticket numbers with a message matching every word of `query` (a subquery for IN).
    A query with no word matches nothing."""
    terms = words(query)
    if not terms:
        return select(Message.ticket_number).where(text("1 = 0"))
    if s.get_bind().dialect.name == "sqlite":
        ids = text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q").bindparams(
            bindparam("q", _fts5_query(terms))
        )
        return select(Message.ticket_number).where(
            Message.id.in_(ids.columns(column("rowid", Integer)))
        )
    match = text("messages.search @@ to_tsquery('simple', :q)").bindparams(
        bindparam("q", _tsquery(terms))
    )
    return select(Message.ticket_number).where(match)
