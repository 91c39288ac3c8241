"""pipeline.accept(raw, source): the one path every inbound mail takes (parse → classify →
route → apply), one transaction per message, one outcome per message."""

from __future__ import annotations

import hashlib
import logging
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from maildesk.errors import TemporaryFailure, Unparseable
from maildesk.mail.classify import classify
from maildesk.mail.inbound import Inbound
from maildesk.mail.parse import parse
from maildesk.pipeline.apply import apply_decision, record_inbound
from maildesk.pipeline.facts import gather, message_key
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.route import route
from maildesk.store.blobs import store_blob
from maildesk.store.models import Quarantine

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


def parse_limited(app: App, raw: bytes) -> tuple[Inbound, bool]:
    """Parse, or only the headers when the message is over limits.max_message_bytes."""
    if len(raw) > app.cfg.limits.max_message_bytes:
        return parse(_head(raw)), True
    return parse(raw), False


def quarantine(app: App, raw: bytes, source: str, error: str, now: datetime | None = None) -> int:
    """Keep a message we could not process, with the error, for `quarantine replay`."""
    now = now or datetime.now(UTC)
    sha = hashlib.sha256(raw).hexdigest()
    with app.db.transaction() as s:
        row = Quarantine(
            at=now, source=source[:500], error=error[:20000], raw_sha256=store_blob(s, raw, sha)
        )
        s.add(row)
        s.flush()
        return row.id


def accept(
    app: App, raw: bytes, source: str, now: datetime | None = None, *, notices: bool = True
) -> Outcome:
    """Process one message. Raises TemporaryFailure (retry later; nothing written) and,
    for bugs, the original exception (channels count failures and quarantine).

    notices=False: a rejection is recorded but no notice is queued, for channels that
    refuse in-protocol (the SMTP listener's 550 makes the sending MTA bounce already)."""
    now = now or datetime.now(UTC)
    app.warm()  # cached facts are loaded outside the unit of work
    try:
        msg, too_large = parse_limited(app, raw)
    except Unparseable as exc:
        qid = quarantine(app, raw, source, f"unparseable: {exc}", now)
        log.warning("quarantined source=%s id=%s reason=%s", source, qid, exc)
        return _told(app, Outcome(Kind.QUARANTINED, f"unparseable: {exc}"))
    cls = classify(msg, app.cfg.support.address, lambda mid: app.our_ticket_ref(mid) is not None)
    raw_sha = hashlib.sha256(raw).hexdigest()
    try:
        with app.db.transaction() as s:
            facts = gather(s, app, msg, cls, now, too_large)
            decision = route(msg, cls, facts)
            if decision.action == "duplicate":
                outcome = Outcome(
                    Kind.IGNORED, "duplicate", message_id=msg.message_id, duplicate=True
                )
            else:
                store_blob(s, raw, raw_sha)
                outcome = apply_decision(
                    s, app, msg, raw_sha, cls, facts, decision, now, notices=notices
                )
                record_inbound(
                    s, msg, raw_sha, source, now, message_key(msg), outcome, decision.rule
                )
                outcome = Outcome(
                    outcome.kind, outcome.reason, outcome.ticket_number, msg.message_id
                )
    except IntegrityError as exc:
        if "message_key" not in str(exc.orig):
            raise
        # Another worker recorded the same message between our check and our commit (R1):
        # our transaction is rolled back whole, theirs stands.
        outcome = Outcome(Kind.IGNORED, "duplicate", message_id=msg.message_id, duplicate=True)
        return _told(app, outcome)
    except TemporaryFailure:
        raise
    log.info(
        "inbound source=%s message_id=%s outcome=%s ticket=%s reason=%s",
        source,
        msg.message_id,
        outcome.kind.value,
        outcome.ticket_number,
        outcome.reason,
    )
    return _told(app, outcome)


def _told(app: App, outcome: Outcome) -> Outcome:
    """Tell the listeners (metrics, the sender's wake-up); a listener's bug stops nothing."""
    for listener in app.outcome_listeners:
        try:
            listener(outcome)
        except Exception:
            log.exception("outcome listener failed")
    return outcome


def accept_or_quarantine(
    app: App, raw: bytes, source: str, now: datetime | None = None, *, notices: bool = True
) -> Outcome:
    """For one-shot channels (ingest, replay): a bug quarantines the message, never loses it."""
    try:
        return accept(app, raw, source, now, notices=notices)
    except TemporaryFailure:
        raise
    except Exception as exc:
        err = "".join(traceback.format_exception(exc))
        qid = quarantine(app, raw, source, err, now)
        log.error("quarantined source=%s id=%s error=%r", source, qid, exc)
        return Outcome(Kind.QUARANTINED, f"error: {exc!r}")
