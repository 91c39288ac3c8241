"""pipeline.accept(raw, source): the one path every inbound mail takes (parse → classify →
facts → route → dispatch), one outcome per message; one transaction per message, or, for a
channel's batch (accept_batch), one transaction for the whole batch. A quarantined message's
replay (`quarantine_replay`) is this path again."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maildesk.errors import TemporaryFailure, Unparseable
from maildesk.mail.classify import Classification, classify
from maildesk.mail.inbound import Inbound
from maildesk.mail.parse import parse
from maildesk.pipeline.dispatch import apply_decision
from maildesk.pipeline.facts import gather, message_key
from maildesk.pipeline.hop import hop_trusted
from maildesk.pipeline.outcome import Ingested, Kind, Outcome
from maildesk.pipeline.quarantine import quarantine, quarantine_row
from maildesk.pipeline.records import record_inbound
from maildesk.pipeline.route import Action, route
from maildesk.pipeline.unit import Unit
from maildesk.store.blobs import store_blob
from maildesk.store.models import Blob, Quarantine

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.pipeline")


def _head(raw: bytes) -> bytes:
    """The header block of an oversized mail: enough to answer it without parsing 25 MiB."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep, 0, 1024 * 1024)
        if end >= 0:
            return raw[: end + len(sep)]
    return raw[: 64 * 1024] + b"\n\n"


_TRACE = re.compile(rb"(?i)Return-Path:[^\r\n]*\r?\n(?:Delivered-To:[^\r\n]*\r?\n){0,100}")


def received_size(raw: bytes) -> int:
    """The size of the message as the sender sent it: without the `Return-Path:` and
    `Delivered-To:` lines the final delivery agent (our listener, the mailbox's LDA) put on
    top. The listener advertises the limit as SIZE, so a mail within it must not fail for
    our own lines."""
    prepended = _TRACE.match(raw)
    return len(raw) - (prepended.end() if prepended else 0)


def parse_limited(app: App, raw: bytes) -> tuple[Inbound, bool]:
    """Parse, or only the headers when the message is over limits.max_message_bytes."""
    if received_size(raw) > app.cfg.limits.max_message_bytes:
        return parse(_head(raw)), True
    return parse(raw), False


@dataclass
class _Prepared:
    """A message after the CPU-only steps, before the unit of work (which keeps the
    database's write lock for as short a time as possible)."""

    raw: bytes
    source: str
    now: datetime
    msg: Inbound | None = None  # None: unparseable, see `error`
    too_large: bool = False
    cls: Classification | None = None
    raw_sha: str = ""
    error: str = ""
    replay_of: int | None = None  # the quarantine entry this message is replayed from


def _prepare(app: App, raw: bytes, source: str, now: datetime | None) -> _Prepared:
    now = now or datetime.now(UTC)
    try:
        msg, too_large = parse_limited(app, raw)
    except Unparseable as exc:
        return _Prepared(raw, source, now, error=f"unparseable: {exc}")
    if not hop_trusted(source, app.cfg.security.trusted_relays):
        msg = replace(msg, hop_trusted=False)
    cls = classify(msg, app.cfg.support.address, lambda mid: app.our_ticket_ref(mid) is not None)
    return _Prepared(raw, source, now, msg, too_large, cls, hashlib.sha256(raw).hexdigest())


def _record(s: Session, app: App, p: _Prepared, notices: bool) -> Outcome:
    """Route and write one prepared message inside the caller's unit of work."""
    # In a batch, what earlier mails changed through the ORM (a ticket's state, a contact's
    # suppression) must be in the database before this one's facts are read from it.
    s.flush()
    if p.msg is None or p.cls is None:
        qid = quarantine_row(s, p.raw, p.source, p.error, p.now, entry=p.replay_of)
        log.warning("quarantined source=%s id=%s reason=%s", p.source, qid, p.error)
        return Outcome(Kind.QUARANTINED, p.error)
    msg = p.msg
    facts = gather(s, app, msg, p.cls, p.now, too_large=p.too_large)
    decision = route(msg, p.cls, facts)
    if decision.action is Action.DUPLICATE:
        return Outcome(Kind.IGNORED, "duplicate", message_id=msg.message_id, duplicate=True)
    store_blob(s, p.raw, p.raw_sha)
    u = Unit(s, app, msg, p.raw_sha, p.cls, facts, decision, p.now, p.source, notices)
    outcome = apply_decision(u)
    record_inbound(u, message_key(msg), outcome)
    return Outcome(
        outcome.kind, outcome.reason, outcome.ticket_number, msg.message_id, refusal=outcome.refusal
    )


def _raced(exc: IntegrityError, p: _Prepared) -> Outcome:
    """Another worker recorded the same message between our check and our write (R1): our
    part is rolled back, theirs stands. Any other integrity error is a bug: re-raised."""
    if "message_key" not in str(exc.orig):
        raise exc
    mid = p.msg.message_id if p.msg else None
    return Outcome(Kind.IGNORED, "duplicate", message_id=mid, duplicate=True)


def _logged(p: _Prepared, outcome: Outcome) -> None:
    if outcome.kind is not Kind.QUARANTINED:  # logged as a warning when it happened
        log.info(
            "inbound source=%s message_id=%s outcome=%s ticket=%s reason=%s",
            p.source,
            outcome.message_id,
            outcome.kind.value,
            outcome.ticket_number,
            outcome.reason,
        )


def accept(
    app: App,
    raw: bytes,
    source: str,
    now: datetime | None = None,
    *,
    notices: bool = True,
    replay_of: int | None = None,
) -> Outcome:
    """Process one message in its own transaction. Raises TemporaryFailure (retry later;
    nothing written) and, for bugs, the original exception (channels count failures and
    quarantine).

    notices=False: a rejection is recorded but no notice is queued, for channels that
    refuse in-protocol (the SMTP listener's 550 makes the sending MTA bounce already).
    replay_of: the quarantine entry being replayed, which a new failure updates."""
    started = time.monotonic()
    app.warm()  # cached facts are loaded outside the unit of work
    p = replace(_prepare(app, raw, source, now), replay_of=replay_of)
    try:
        with app.db.transaction() as s:
            outcome = _record(s, app, p, notices)
    except IntegrityError as exc:
        outcome = _raced(exc, p)
    _logged(p, outcome)
    return _told(app, outcome, p, time.monotonic() - started)


def accept_batch(app: App, items: Sequence[tuple[bytes, str]]) -> list[Outcome | Exception]:
    """Process a channel's batch in ONE transaction (group commit: one commit, one write-lock
    round, instead of one per message); one result per item, in order.

    A result is the message's Outcome, or the exception of a bug. When any message fails,
    the batch transaction is rolled back whole and its messages are taken again one at a
    time through `accept`, so a bug costs only its own message. Raises TemporaryFailure when
    the database fails: the channel files none of the batch (anything already committed
    is offered again later and absorbed as a duplicate, R1)."""
    started = time.monotonic()
    app.warm()
    prepared = [_prepare(app, raw, source, None) for raw, source in items]
    try:
        with app.db.transaction() as s:
            outcomes = [_record(s, app, p, True) for p in prepared]
    except TemporaryFailure:
        raise
    except Exception as exc:
        log.info("batch of %d rolled back (%r); taking it one message at a time", len(items), exc)
        return [_accept_alone(app, raw, source) for raw, source in items]
    share = (time.monotonic() - started) / max(len(items), 1)
    for p, outcome in zip(prepared, outcomes, strict=True):
        _logged(p, outcome)
        _told(app, outcome, p, share)
    return list(outcomes)


def _accept_alone(app: App, raw: bytes, source: str) -> Outcome | Exception:
    try:
        return accept(app, raw, source)
    except TemporaryFailure:
        raise
    except Exception as exc:
        return exc


def _told(app: App, outcome: Outcome, p: _Prepared, seconds: float) -> Outcome:
    """Tell the listeners (metrics, the sender's wake-up); a listener's bug stops nothing."""
    if app.ingest_listeners:
        dated = p.msg.date if p.msg is not None else None
        item = Ingested(outcome, seconds, dated, p.now, datetime.now(UTC))
        for timing in app.ingest_listeners:
            try:
                timing(item)
            except Exception:
                log.exception("ingest listener failed")
    for listener in app.outcome_listeners:
        try:
            listener(outcome)
        except Exception:
            log.exception("outcome listener failed")
    return outcome


def accept_or_quarantine(
    app: App,
    raw: bytes,
    source: str,
    now: datetime | None = None,
    *,
    notices: bool = True,
    replay_of: int | None = None,
) -> Outcome:
    """For one-shot channels (ingest, replay): a bug quarantines the message, never loses it.
    A replay that fails again updates its entry (`replay_of`) instead of adding one."""
    try:
        return accept(app, raw, source, now, notices=notices, replay_of=replay_of)
    except TemporaryFailure:
        raise
    except Exception as exc:
        err = "".join(traceback.format_exception(exc))
        qid = quarantine(app, raw, source, err, now, entry=replay_of)
        log.error("quarantined source=%s id=%s error=%r", source, qid, exc)
        return Outcome(Kind.QUARANTINED, f"error: {exc!r}")


def replay(app: App, entry: int) -> str | None:
    """Accept one quarantined message again; its entry records when and with what outcome.
    None when there is no such entry. Replaying twice creates nothing (R1)."""
    with app.db.transaction() as s:
        found = s.execute(
            select(Blob.data, Quarantine.source)
            .join(Quarantine, Quarantine.raw_sha256 == Blob.sha256)
            .where(Quarantine.id == entry)
        ).first()
    if found is None:
        return None
    raw, original = found
    # The original channel stays in the source: it decides which headers are believed (hop).
    source = f"quarantine:{entry}:{original}"
    outcome = accept_or_quarantine(app, raw, source, replay_of=entry)
    number = f" #{outcome.ticket_number}" if outcome.ticket_number else ""
    label = f"{outcome.kind.value}{number}: {outcome.reason}"
    with app.db.transaction() as s:
        row = s.get(Quarantine, entry)
        if row is not None:
            row.replayed_at = datetime.now(UTC)
            row.replay_outcome = label[:50]
    return label


def waiting(app: App) -> list[int]:
    """The entries a bare `quarantine replay` takes (`Quarantine.waiting`), oldest first.
    Only ids: a big replay reads each message when its turn comes, not all at once."""
    with app.db.transaction() as s:
        return list(
            s.scalars(select(Quarantine.id).where(Quarantine.waiting()).order_by(Quarantine.id))
        )


def quarantine_replay(app: App, qid: int | None) -> list[tuple[int, str]]:
    """Replay one entry, or every waiting one; (entry, outcome) for each replayed."""
    entries = [qid] if qid else waiting(app)
    results = [(entry, replay(app, entry)) for entry in entries]
    return [(entry, label) for entry, label in results if label is not None]
