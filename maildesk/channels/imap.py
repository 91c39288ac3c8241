"""IMAP consumer: moves raw mail from a mailbox into the pipeline, then files it.

A channel only moves bytes: it hands each message to `accept(raw, source)` (or each
fetched batch to `accept_batch`, one transaction for the batch) and, only after that
returns (the recording transaction committed), moves the UID to the folder `folder_of`
chooses for its outcome (the pipeline knows no folders). A crash between commit and MOVE
just means the message is offered again, which the pipeline absorbs (R1).

Reliability (SPEC §8): reconnect with capped exponential backoff and jitter;
IDLE renewed well before the 29-minute server limit; polling when the server
(or the config) has no IDLE; a message that fails 3 times goes to the
quarantine folder with its error recorded, and the others go on.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from maildesk.backoff import Backoff
from maildesk.channels.imap_probe import UidNextProbe
from maildesk.channels.imap_session import (
    ConnectionLost,
    Folder,
    ImapSettings,
    by_size,
    close,
    folder_of,
    has_news,
    login,
)
from maildesk.errors import TemporaryFailure
from maildesk.pipeline.outcome import Outcome

MAX_FAILURES = 3  # SPEC §8: after this many failures a message goes to quarantine
# Without the probe's answer (no UIDNEXT, second connection refused), IDLE is renewed this
# often, so mail stored just before an IDLE waits at most this long (imap_probe).
PROBE_FALLBACK_SECONDS = 30.0


Accept = Callable[[bytes, str], Outcome]
# A whole batch in one transaction: one result per (raw, source), an Outcome or the
# exception of a bug (see pipeline.accept.accept_batch).
AcceptBatch = Callable[[list[tuple[bytes, str]]], list["Outcome | Exception"]]
OnQuarantine = Callable[[bytes, str, str], None]


@dataclass
class _Failure:
    count: int
    error: str


class ImapConsumer:
    """Consumes one mailbox folder; one instance per mailbox, driven by `run()`."""

    def __init__(
        self,
        settings: ImapSettings,
        accept: Accept,
        on_quarantine: OnQuarantine | None = None,
        log: logging.Logger | None = None,
        lock: AbstractContextManager[Any] | None = None,
        accept_batch: AcceptBatch | None = None,
    ) -> None:
        """`lock` (e.g. a PostgreSQL advisory lock) is entered around every pass, so it
        must be re-enterable sequentially; it keeps two daemons off one mailbox.

        `accept_batch`, when given, takes each fetched batch in one call (one transaction,
        group commit); `accept` is then unused."""
        self.settings = settings
        self.accept = accept
        self.accept_batch = accept_batch
        self.on_quarantine = on_quarantine
        self.log = log or logging.getLogger("maildesk.channels.imap")
        self.lock: AbstractContextManager[Any] = (
            lock if lock is not None else contextlib.nullcontext()
        )
        self.state = "disconnected"
        self.fetches = 0  # FETCH commands issued (observability and tests)
        self.max_fetch = 0  # most messages asked for in one FETCH
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._failures: dict[tuple[int, int], _Failure] = {}
        self._can_idle = False
        self._can_move = False
        self._can_uidplus = False
        self._retry = Backoff(settings.backoff_initial, settings.backoff_max)
        self._stop = threading.Event()
        # The next UID this consumer expects (from SELECT, then past every UID searched);
        # the probe compares it with the folder's UIDNEXT once IDLE has begun.
        self._uidnext: int | None = None
        self._probe = UidNextProbe(self._login)

    # -- state -------------------------------------------------------------------
    def _set_state(self, state: str, why: str = "") -> None:
        """One log line per state change (not per retry), so outages stay readable."""
        if state != self.state:
            s = self.settings
            # connected <-> idle happens on every new mail: keep it out of INFO.
            level = logging.DEBUG if {state, self.state} == {"connected", "idle"} else logging.INFO
            self.log.log(
                level,
                "imap %s@%s:%s/%s: %s -> %s%s",
                s.username, s.host, s.port, s.folder, self.state, state,
                f" ({why})" if why else "",
            )  # fmt: skip
            self.state = state

    # -- connection -------------------------------------------------------------
    def _login(self) -> IMAPClient:
        """Open, secure and log in a connection (the consumer's, or the probe's)."""
        return login(self.settings)

    def _connect(self) -> IMAPClient:
        """Open, secure, log in, create target folders, SELECT; returns the client."""
        s = self.settings
        client = self._login()
        try:
            caps = set(client.capabilities())
            self._can_idle = b"IDLE" in caps
            self._can_move = b"MOVE" in caps
            self._can_uidplus = b"UIDPLUS" in caps
            for role in Folder:
                folder = s.folder_for(role)
                if not client.folder_exists(folder):
                    with contextlib.suppress(IMAPClientError):  # another instance won the race
                        client.create_folder(folder)
            info = client.select_folder(s.folder)
        except BaseException:
            close(client)
            raise
        uidvalidity = int(info[b"UIDVALIDITY"])
        if self._uidvalidity is not None and uidvalidity != self._uidvalidity:
            self.log.warning(
                "imap %s: UIDVALIDITY changed %s -> %s; forgetting failure counts",
                s.folder, self._uidvalidity, uidvalidity,
            )  # fmt: skip
            self._failures.clear()
        self._uidvalidity = uidvalidity
        self._uidnext = int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None
        self._client = client
        self._set_state("connected")
        return client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            close(client)
        self._probe.close()

    # -- one pass ------------------------------------------------------------------
    def run_once(self) -> int:
        """Connect if needed and handle every waiting message, in UID order and in
        batches; returns how many were filed. Raises TemporaryFailure (the message
        stays in the folder) and IMAP/socket errors (the caller reconnects)."""
        with self.lock:
            client = self._client or self._connect()
            assert self._uidvalidity is not None
            handled = 0
            seen: set[int] = set()
            while not self._stop.is_set():
                # Re-search until nothing new: mail that arrives during a pass is
                # taken in the same pass; failed UIDs wait for the next pass.
                # NOOP first: a server only searches mail it has announced (EXISTS),
                # and it announces new mail in the reply to a command like this.
                client.noop()
                found = sorted(client.search(["NOT", "DELETED"]))
                if found and self._uidnext is not None:
                    self._uidnext = max(self._uidnext, found[-1] + 1)
                uids = [u for u in found if u not in seen]
                if not uids:
                    break
                for start in range(0, len(uids), self.settings.batch_size):
                    if self._stop.is_set():
                        break
                    batch = uids[start : start + self.settings.batch_size]
                    seen.update(batch)
                    handled += self._handle_batch(client, batch)
            return handled

    def _handle_batch(self, client: IMAPClient, batch: list[int]) -> int:
        """Sizes first, then the bodies in parts of at most `batch_bytes` (a mail bigger
        than that alone): a batch of big mails is never all in memory at once."""
        sizes = client.fetch(batch, [b"RFC822.SIZE"])
        handled = 0
        for part in by_size(batch, sizes, self.settings.batch_bytes):
            if self._stop.is_set():
                break
            handled += self._handle_part(client, part)
        return handled

    def _handle_part(self, client: IMAPClient, batch: list[int]) -> int:
        self.fetches += 1
        self.max_fetch = max(self.max_fetch, len(batch))
        data = client.fetch(batch, [b"BODY.PEEK[]"])
        # Filed with one MOVE per folder once the batch is through (a MOVE per message
        # cost more than the pipeline itself). Every message moved was committed first;
        # one committed but not yet moved when we die is offered again and absorbed by
        # the pipeline as a duplicate (R1).
        targets: dict[str, list[int]] = {}
        fetched = [
            (uid, bytes(item[b"BODY[]"]))
            for uid in batch
            if (item := data.get(uid)) is not None and b"BODY[]" in item
        ]  # a UID missing was expunged meanwhile (e.g. by another client)
        try:
            if self.accept_batch is not None and not self._stop.is_set():
                self._offer_batch(fetched, targets)
            else:
                for uid, raw in fetched:
                    if self._stop.is_set():
                        break  # SIGTERM: the current message is finished, the rest waits
                    folder = self._handle_one(uid, raw)
                    if folder is not None:
                        targets.setdefault(folder, []).append(uid)
        finally:
            for folder, uids in targets.items():
                self._move(client, uids, folder)
        return sum(len(u) for u in targets.values())

    def _offer_batch(self, fetched: list[tuple[int, bytes]], targets: dict[str, list[int]]) -> None:
        """The batch in one accept_batch call; poison messages go straight to quarantine."""
        assert self.accept_batch is not None
        fresh = [(uid, raw) for uid, raw in fetched if not self._poisoned(uid)]
        items = [(raw, self._source(uid)) for uid, raw in fresh]
        results = self.accept_batch(items) if items else []
        settled = dict(zip((uid for uid, _ in fresh), results, strict=True))
        for uid, raw in fetched:
            folder = self._settle(uid, raw, settled.get(uid))
            if folder is not None:
                targets.setdefault(folder, []).append(uid)

    def _source(self, uid: int) -> str:
        s = self.settings
        return f"imap:{s.username}/{s.folder}/{self._uidvalidity}:{uid}"

    def _poisoned(self, uid: int) -> bool:
        assert self._uidvalidity is not None
        failure = self._failures.get((self._uidvalidity, uid))
        return failure is not None and failure.count >= MAX_FAILURES

    def _handle_one(self, uid: int, raw: bytes) -> str | None:
        """Offer one message; the folder to file it in once accept returned, else None."""
        if self._poisoned(uid):
            return self._settle(uid, raw, None)
        try:
            result: Outcome | Exception = self.accept(raw, self._source(uid))
        except TemporaryFailure:
            raise  # leave it where it is; run() backs off and retries
        except Exception as exc:
            result = exc
        return self._settle(uid, raw, result)

    def _settle(self, uid: int, raw: bytes, result: Outcome | Exception | None) -> str | None:
        """The folder for a message given what accept made of it (None: it was not offered,
        having failed too often), or None to leave it for the next pass."""
        s = self.settings
        assert self._uidvalidity is not None
        key = (self._uidvalidity, uid)
        source = self._source(uid)
        failure = self._failures.get(key)
        if isinstance(result, Exception):
            exc = result
            error = "".join(traceback.format_exception(exc)).rstrip()
            count = failure.count + 1 if failure else 1
            failure = self._failures[key] = _Failure(count, error)
            self.log.warning(
                "imap %s: failure %d/%d: %s", source, count, MAX_FAILURES,
                f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
            if count < MAX_FAILURES:
                return None
        elif result is not None:
            self._failures.pop(key, None)
            return s.folder_for(folder_of(result))
        assert failure is not None
        # Poison message: record it (the caller stores it in the DB), then move it away.
        if self.on_quarantine is not None:
            try:
                self.on_quarantine(raw, source, failure.error)
            except TemporaryFailure:
                raise
            except Exception:
                self.log.exception("imap %s: recording the quarantined message failed", source)
                return None
        self._failures.pop(key, None)
        self.log.error("imap %s: quarantined after %d failures", source, MAX_FAILURES)
        return s.quarantine_folder

    def _move(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        """MOVE when available, else COPY + \\Deleted + (UID) EXPUNGE."""
        if self._can_move:
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        if self._can_uidplus:
            client.uid_expunge(uids)
        else:
            client.expunge()

    # -- the loop ------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; returns within about a second of that."""
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                    self._retry.reset()
                    self._wait_for_mail(stop)
                except TemporaryFailure as exc:
                    # The connection is fine; the pipeline (database) is not.
                    self._backoff(stop, f"pipeline unavailable: {exc}")
                except (IMAPClientError, OSError, ConnectionLost) as exc:
                    self._disconnect()
                    self._backoff(stop, f"{type(exc).__name__}: {exc}")
                except Exception as exc:  # a bug here must not end the daemon
                    self.log.exception("imap consumer: unexpected error")
                    self._disconnect()
                    self._backoff(stop, f"{type(exc).__name__}: {exc}")
        finally:
            self._disconnect()
            self._set_state("disconnected", "stopped" if stop.is_set() else "")

    def _backoff(self, stop: threading.Event, why: str) -> None:
        """Capped exponential backoff (1 s doubling to 60 s) with jitter, stop-aware."""
        delay = self._retry.next_delay()
        self._set_state("backoff", why)
        self.log.debug("imap: retry in %.1f s (%s)", delay, why)
        stop.wait(delay)

    def _wait_for_mail(self, stop: threading.Event) -> None:
        """Block until new mail may be there, a retry is due, or stop is set."""
        s = self.settings
        pending = bool(self._failures)
        limit = s.retry_seconds if pending else s.poll_seconds
        if s.idle and self._can_idle:
            self._idle(stop, s.retry_seconds if pending else s.idle_renew_seconds)
            return
        deadline = time.monotonic() + limit
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def _idle(self, stop: threading.Event, limit: float) -> None:
        """IDLE in 1-second slices; leaves on new mail (announced, or stored just before
        IDLE began: imap_probe), stop, or after `limit` seconds (the renewal: the caller
        rescans, then IDLEs afresh)."""
        client = self._client
        assert client is not None
        client.idle()
        self._set_state("idle")
        woke = False
        try:
            gap = self._stored_before_idle()
            woke = gap is True
            if gap is None:  # unknown: mail may wait unannounced; do not wait long for it
                limit = min(limit, PROBE_FALLBACK_SECONDS)
            deadline = time.monotonic() + limit
            while not woke and not stop.is_set() and time.monotonic() < deadline:
                t0 = time.monotonic()
                slice_ = max(0.05, min(1.0, deadline - t0))
                responses = client.idle_check(timeout=slice_)
                if has_news(responses):
                    woke = True
                    break
                if not responses and time.monotonic() - t0 < slice_ / 2:
                    # imapclient returns [] at once on EOF: probe the connection.
                    break
        finally:
            responses = client.idle_done()  # raises if the connection is gone
            self._set_state("connected", "new mail" if woke else "")
        has_news(responses[1] if isinstance(responses, tuple) else [])

    def _stored_before_idle(self) -> bool | None:
        """Did mail arrive before this IDLE began, unannounced (imap_probe)? None: unknown."""
        if self._uidnext is None:
            return None
        uidnext = self._probe.uidnext(self.settings.folder)
        if uidnext is None:
            return None
        if uidnext > self._uidnext:
            self.log.debug("imap: UIDNEXT %s > %s: mail came before IDLE", uidnext, self._uidnext)
            self._uidnext = uidnext  # what the next search will see, whatever it finds
            return True
        return False
