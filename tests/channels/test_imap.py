"""IMAP consumer against a real Dovecot (SPEC §8 reliability, R1 idempotence at the edge)."""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import pytest

import maildesk.channels.imap as imap_module
from maildesk.channels.imap import AcceptBatch, ImapConsumer, ImapSettings
from maildesk.channels.imap_probe import UidNextProbe
from maildesk.errors import TemporaryFailure
from maildesk.pipeline.outcome import Kind, Outcome
from tests.helpers import wait_until
from tests.servers.dovecot import Dovecot

pytestmark = pytest.mark.imap


def mail(n: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"customer{n}@example.org"
    m["To"] = "support@example.test"
    m["Subject"] = f"Ticket {n}"
    m["Message-ID"] = f"<imap-{n}-{time.time_ns()}@example.org>"
    m["X-Test-N"] = str(n)
    m.set_content(f"Hello {n}\n")
    return m.as_bytes()


def number(raw: bytes) -> int:
    for line in raw.splitlines():
        if line.startswith(b"X-Test-N:"):
            return int(line.split(b":", 1)[1])
    raise AssertionError("no X-Test-N header")


class Recorder:
    """Stands in for pipeline.accept: records calls, answers per message number."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []
        self.kinds: dict[int, Kind] = {}
        self.fail: dict[int, Callable[[], BaseException]] = {}
        self.during: Callable[[int], None] | None = None
        self.quarantined: list[tuple[int, str, str]] = []
        self.batches: list[int] = []  # sizes of accept_batch calls
        self.lock = threading.Lock()

    def __call__(self, raw: bytes, source: str) -> Outcome:
        n = number(raw)
        with self.lock:
            self.calls.append((n, source))
        if self.during is not None:
            self.during(n)
        if n in self.fail:
            raise self.fail[n]()
        return Outcome(self.kinds.get(n, Kind.TICKETED))

    def on_quarantine(self, raw: bytes, source: str, error: str) -> None:
        self.quarantined.append((number(raw), source, error))

    def numbers(self) -> list[int]:
        with self.lock:
            return [n for n, _ in self.calls]


def batched(rec: Recorder) -> AcceptBatch:
    """pipeline.accept_batch's contract over a Recorder: a TemporaryFailure stops the whole
    batch, any other exception is that message's result."""

    def accept_batch(items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
        rec.batches.append(len(items))
        results: list[Outcome | Exception] = []
        for raw, source in items:
            try:
                results.append(rec(raw, source))
            except TemporaryFailure:
                raise
            except Exception as exc:
                results.append(exc)
        return results

    return accept_batch


@pytest.fixture(params=["one", "batch"])
def offer(request: pytest.FixtureRequest) -> Callable[[Recorder], dict]:
    """The consumer offering one message per accept call, or a batch per accept_batch."""
    if request.param == "one":
        return lambda rec: {}
    return lambda rec: {"accept_batch": batched(rec)}


def settings(dovecot: Dovecot, **kw: object) -> ImapSettings:
    base: dict = dict(
        host=dovecot.host,
        port=dovecot.port,
        ssl=False,
        starttls=False,
        username=dovecot.users[0],
        password=dovecot.password,
        retry_seconds=0.2,
        backoff_initial=0.2,
        backoff_max=1.0,
        timeout=5,
    )
    base.update(kw)
    return ImapSettings(**base)


@contextmanager
def running(consumer: ImapConsumer) -> Iterator[threading.Event]:
    """run() in a thread; on exit stop it and insist it returns within 2 s."""
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    t.start()
    try:
        yield stop
    finally:
        stop.set()
        t.join(2.0)
        assert not t.is_alive(), "run() did not return within 2 s of stop"


def test_s8_move_only_after_accept_returns(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    rec = Recorder()
    rec.kinds = {2: Kind.REJECTED, 3: Kind.QUARANTINED, 4: Kind.IGNORED}
    seen_in_inbox: list[int] = []
    rec.during = lambda n: seen_in_inbox.append(dovecot.folder_count(None, "INBOX"))
    dovecot.append_many(None, [mail(n) for n in (1, 2, 3, 4)])
    consumer = ImapConsumer(settings(dovecot), rec, **offer(rec))

    assert consumer.run_once() == 4

    assert rec.numbers() == [1, 2, 3, 4]  # UID order
    # while accept ran, its message was still in INBOX (nothing moved before return;
    # a batch is filed with one MOVE per folder once every accept of it returned)
    assert seen_in_inbox == [4, 4, 4, 4]
    assert dovecot.folder_count(None, "INBOX") == 0
    assert [number(r) for r in dovecot.messages(None, "Processed")] == [1, 4]
    assert [number(r) for r in dovecot.messages(None, "Rejected")] == [2]
    assert [number(r) for r in dovecot.messages(None, "Quarantine")] == [3]
    consumer._disconnect()


def test_source_names_mailbox_uidvalidity_and_uid(dovecot: Dovecot) -> None:
    rec = Recorder()
    dovecot.append(None, mail(1))
    with dovecot.session() as c:
        uidvalidity = c.select_folder("INBOX")[b"UIDVALIDITY"]
    consumer = ImapConsumer(settings(dovecot), rec)
    consumer.run_once()
    assert rec.calls == [(1, f"imap:support@example.test/INBOX/{uidvalidity}:1")]
    consumer._disconnect()


def test_s8_creates_missing_target_folders_and_keeps_unread(dovecot: Dovecot) -> None:
    s = settings(dovecot, processed_folder="Done/Ok", rejected_folder="Done/No")
    consumer = ImapConsumer(s, Recorder())
    assert consumer.run_once() == 0
    with dovecot.session() as c:
        for f in ("Done/Ok", "Done/No", "Quarantine"):
            assert c.folder_exists(f), f
    dovecot.append(None, mail(1))
    consumer.run_once()
    with dovecot.session() as c:
        c.select_folder("Done/Ok", readonly=True)
        assert c.search(["UNSEEN"]) != []  # BODY.PEEK: we never mark mail \Seen
    consumer._disconnect()


def test_s8_idle_wakes_on_new_mail_within_3s(dovecot: Dovecot) -> None:
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot), rec)
    with running(consumer):
        wait_until(lambda: consumer.state == "idle", 15, "IDLE")
        dovecot.append(None, mail(1))
        appended = time.monotonic()
        wait_until(lambda: dovecot.folder_count(None, "Processed") == 1, 15, "processed")
        took = time.monotonic() - appended
    assert rec.numbers() == [1]
    assert took < 3


def test_s8_polls_when_idle_is_off(dovecot: Dovecot) -> None:
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot, idle=False, poll_seconds=0.5), rec)
    with running(consumer):
        wait_until(lambda: consumer.state == "connected", 15, "connected")
        dovecot.append(None, mail(1))
        wait_until(lambda: rec.numbers() == [1], 15, "polled")
    assert consumer.state == "disconnected"


def test_s8_idle_is_renewed(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot, idle_renew_seconds=0.5), rec)
    idles = 0
    real_idle = consumer._idle

    def counting_idle(stop: threading.Event, limit: float) -> None:
        nonlocal idles
        idles += 1
        real_idle(stop, limit)

    monkeypatch.setattr(consumer, "_idle", counting_idle)
    with running(consumer):
        wait_until(lambda: idles >= 3, 15, "three IDLE renewals")
        dovecot.append(None, mail(1))
        wait_until(lambda: rec.numbers() == [1], 15, "mail after renewals")


def test_s8_temporary_failure_leaves_message_and_retries(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    rec = Recorder()
    rec.fail[1] = lambda: TemporaryFailure("database down")
    dovecot.append_many(None, [mail(1), mail(2)])
    consumer = ImapConsumer(settings(dovecot), rec, on_quarantine=rec.on_quarantine, **offer(rec))

    with pytest.raises(TemporaryFailure):
        consumer.run_once()
    assert dovecot.folder_count(None, "INBOX") == 2  # nothing moved, nothing counted
    assert consumer._failures == {}

    with running(consumer):
        wait_until(lambda: len(rec.calls) >= 3, 15, "retries in backoff")
        assert consumer.state in ("backoff", "connected")
        assert dovecot.folder_count(None, "INBOX") == 2
        del rec.fail[1]  # the database is back
        wait_until(lambda: dovecot.folder_count(None, "Processed") == 2, 15, "recovery")
    assert rec.numbers()[-2:] == [1, 2]
    assert rec.quarantined == []  # temporary failures never quarantine


def test_s8_poison_message_quarantined_after_3_failures(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    rec = Recorder()
    rec.fail[2] = lambda: ValueError("cannot parse this")
    dovecot.append_many(None, [mail(1), mail(2), mail(3)])
    consumer = ImapConsumer(settings(dovecot), rec, on_quarantine=rec.on_quarantine, **offer(rec))

    assert consumer.run_once() == 2  # the others go on
    assert dovecot.folder_count(None, "Processed") == 2
    assert dovecot.folder_count(None, "INBOX") == 1
    assert consumer.run_once() == 0
    assert dovecot.folder_count(None, "INBOX") == 1
    assert consumer.run_once() == 1  # third failure: quarantined

    assert rec.numbers() == [1, 2, 3, 2, 2]
    assert [number(r) for r in dovecot.messages(None, "Quarantine")] == [2]
    assert dovecot.folder_count(None, "INBOX") == 0
    ((n, source, error),) = rec.quarantined
    assert n == 2 and source.endswith(":2")
    assert "ValueError: cannot parse this" in error
    consumer._disconnect()


def test_s8_poison_message_retried_by_run_loop(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    rec = Recorder()
    rec.fail[1] = lambda: RuntimeError("bug")
    dovecot.append_many(None, [mail(1), mail(2)])
    consumer = ImapConsumer(settings(dovecot), rec, on_quarantine=rec.on_quarantine, **offer(rec))
    with running(consumer):
        wait_until(lambda: dovecot.folder_count(None, "Quarantine") == 1, 15, "quarantine")
        dovecot.append(None, mail(3))
        wait_until(lambda: dovecot.folder_count(None, "Processed") == 2, 15, "others")
    assert rec.numbers().count(1) == 3
    assert [q[0] for q in rec.quarantined] == [1]


def test_s8_uidvalidity_change_forgets_failure_counts(dovecot: Dovecot) -> None:
    rec = Recorder()
    rec.fail[1] = lambda: RuntimeError("bug")
    dovecot.append(None, mail(1), folder="Support")
    consumer = ImapConsumer(settings(dovecot, folder="Support"), rec)
    consumer.run_once()
    consumer.run_once()
    consumer._disconnect()
    with dovecot.session() as c:  # the mailbox is recreated: new UIDVALIDITY
        c.delete_folder("Support")
        c.create_folder("Support")
    dovecot.append(None, mail(1), folder="Support")
    consumer.run_once()  # a third failure overall, but the first in this UIDVALIDITY
    assert dovecot.folder_count(None, "Quarantine") == 0
    assert dovecot.folder_count(None, "Support") == 1
    consumer._disconnect()


def test_s8_reconnects_after_server_restart(dovecot: Dovecot) -> None:
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot), rec)
    states: list[str] = []
    real_set_state = consumer._set_state

    def spy(state: str, why: str = "") -> None:
        if state != consumer.state:
            states.append(state)
        real_set_state(state, why)

    consumer._set_state = spy  # type: ignore[method-assign]
    with running(consumer):
        dovecot.append(None, mail(1))
        wait_until(lambda: rec.numbers() == [1], 15, "first message")
        dovecot.restart()
        dovecot.append(None, mail(2))
        wait_until(lambda: rec.numbers() == [1, 2], 30, "message after restart")
        wait_until(lambda: consumer.state == "idle", 15, "idle again")
    assert "backoff" in states
    assert dovecot.folder_count(None, "Processed") == 2


def test_s8_reconnects_when_connection_drops_without_bye(dovecot: Dovecot) -> None:
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot), rec)
    with running(consumer):
        wait_until(lambda: consumer.state == "idle", 15, "IDLE")
        client = consumer._client
        assert client is not None
        client.socket().shutdown(socket.SHUT_RDWR)  # EOF, no BYE: a silent network drop
        wait_until(lambda: consumer._client is not client, 15, "reconnect")
        dovecot.append(None, mail(1))
        wait_until(lambda: rec.numbers() == [1], 15, "mail after reconnect")


def test_s8_stop_returns_within_2s_even_in_backoff(dovecot: Dovecot) -> None:
    consumer = ImapConsumer(settings(dovecot, backoff_initial=30, backoff_max=60), Recorder())
    dovecot.stop(remove=False)
    with running(consumer):
        wait_until(lambda: consumer.state == "backoff", 15, "backoff")
    assert consumer.state == "disconnected"


def test_s8_stop_returns_within_2s_from_idle(dovecot: Dovecot) -> None:
    consumer = ImapConsumer(settings(dovecot), Recorder())
    with running(consumer) as stop:
        wait_until(lambda: consumer.state == "idle", 15, "IDLE")
        t0 = time.monotonic()
        stop.set()
    assert time.monotonic() - t0 < 2


@pytest.mark.slow
def test_r1_500_messages_in_batches_each_once(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    rec = Recorder()
    dovecot.append_many(None, [mail(n) for n in range(500)])
    kw = offer(rec)
    consumer = ImapConsumer(settings(dovecot, batch_size=50), rec, **kw)
    assert consumer.run_once() == 500
    assert rec.numbers() == list(range(500))  # all, in order, none twice
    assert consumer.max_fetch <= 50
    assert consumer.fetches >= 10
    if kw:  # batch mode: every message went through accept_batch, 50 at most a call
        assert sum(rec.batches) == 500 and max(rec.batches) == 50
    assert dovecot.folder_count(None, "Processed") == 500
    assert dovecot.folder_count(None, "INBOX") == 0
    consumer._disconnect()


def test_s9_big_mails_fetched_and_offered_a_few_at_a_time(
    dovecot: Dovecot, offer: Callable[[Recorder], dict]
) -> None:
    """A batch of big mails is cut by size (batch_bytes), so they are never all in memory
    at once; order and exactly-once filing are kept."""
    rec = Recorder()
    padding = "Lorem ipsum dolor sit amet.\n" * 11_000  # ~300 KB a mail
    big = []
    for n in range(5):
        m = email.message_from_bytes(mail(n))
        m.set_payload(m.get_payload() + padding)
        big.append(m.as_bytes())
    dovecot.append_many(None, big)
    kw = offer(rec)
    consumer = ImapConsumer(settings(dovecot, batch_bytes=700_000), rec, **kw)

    assert consumer.run_once() == 5
    assert rec.numbers() == [0, 1, 2, 3, 4]
    assert consumer.max_fetch == 2 and consumer.fetches == 3  # bodies: 2 + 2 + 1
    if kw:
        assert rec.batches == [2, 2, 1]
    assert dovecot.folder_count(None, "Processed") == 5
    consumer._disconnect()


@pytest.mark.parametrize("uidplus", [True, False])
def test_s8_copy_delete_fallback_without_move(dovecot: Dovecot, uidplus: bool) -> None:
    rec = Recorder()
    rec.kinds = {2: Kind.REJECTED}
    dovecot.append_many(None, [mail(1), mail(2)])
    consumer = ImapConsumer(settings(dovecot), rec)
    real_connect = consumer._connect

    def without_move():  # type: ignore[no-untyped-def]
        client = real_connect()
        consumer._can_move = False
        consumer._can_uidplus = uidplus
        return client

    consumer._connect = without_move  # type: ignore[method-assign]
    assert consumer.run_once() == 2
    assert dovecot.folder_count(None, "INBOX") == 0
    assert [number(r) for r in dovecot.messages(None, "Processed")] == [1]
    assert [number(r) for r in dovecot.messages(None, "Rejected")] == [2]
    consumer._disconnect()


def test_s8_lock_is_held_around_each_pass(dovecot: Dovecot) -> None:
    held: list[bool] = []

    class Lock:
        inside = False

        def __enter__(self) -> None:
            assert not self.inside
            self.inside = True

        def __exit__(self, *exc: object) -> None:
            self.inside = False

    lock = Lock()
    rec = Recorder()
    rec.during = lambda n: held.append(lock.inside)
    dovecot.append(None, mail(1))
    consumer = ImapConsumer(settings(dovecot), rec, lock=lock)
    consumer.run_once()
    consumer.run_once()
    assert held == [True] and not lock.inside
    consumer._disconnect()


# --- issue 10 finding 6: the IDLE gap ---------------------------------------------------------


def _store_once_in(consumer: ImapConsumer, dovecot: Dovecot, method: str, when: str) -> list[int]:
    """Make the consumer's own IMAP client store mail 1 (through another connection) exactly
    before or after its next call of `method` (e.g. just after the SEARCH that found nothing,
    or just before IDLE starts): the race, made deterministic. Returns [1] once stored."""
    stored: list[int] = []
    real_connect = consumer._connect

    def connect() -> object:
        client = real_connect()
        real = getattr(client, method)

        def wrapped(*args: object, **kw: object) -> object:
            armed = not stored  # the first call: the mailbox was empty until now
            if armed and when == "before":
                dovecot.append(None, mail(1))
                stored.append(1)
            result = real(*args, **kw)
            if armed and when == "after":
                dovecot.append(None, mail(1))
                stored.append(1)
            return result

        setattr(client, method, wrapped)
        return client

    consumer._connect = connect  # type: ignore[method-assign]
    return stored


@pytest.mark.parametrize(
    ("method", "when"),
    [
        ("search", "after"),  # between the last SEARCH and the start of IDLE
        ("idle", "before"),  # the same window, as late as it gets
        ("search", "before"),  # after the NOOP: SEARCH's reply announces it, imapclient drops it
    ],
)
def test_s8_idle_gap_mail_stored_before_idle_starts_is_taken(
    dovecot: Dovecot, method: str, when: str
) -> None:
    """Dovecot announces mail stored before IDLE began only when IDLE ends: with the 25-minute
    renewal it waited up to 25 minutes. It must be taken now, IDLE renewal or not."""
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot, idle_renew_seconds=600), rec)
    stored = _store_once_in(consumer, dovecot, method, when)
    with running(consumer):
        wait_until(lambda: stored == [1], 15, "the mail stored in the window")
        wait_until(lambda: dovecot.folder_count(None, "Processed") == 1, 20, "processed")
    assert rec.numbers() == [1]


def test_s8_idle_gap_without_the_probe_idle_is_renewed_soon(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that refuses the second connection: the gap cannot be checked, so IDLE is
    renewed after PROBE_FALLBACK_SECONDS (30 s; 0.5 s here) instead of 25 minutes."""

    def refused() -> object:
        raise ConnectionRefusedError("no second connection")

    monkeypatch.setattr(imap_module, "PROBE_FALLBACK_SECONDS", 0.5)
    rec = Recorder()
    consumer = ImapConsumer(settings(dovecot, idle_renew_seconds=600), rec)
    consumer._probe = UidNextProbe(refused)  # type: ignore[arg-type]
    stored = _store_once_in(consumer, dovecot, "idle", "before")
    with running(consumer):
        wait_until(lambda: stored == [1], 15, "the mail stored in the window")
        wait_until(lambda: dovecot.folder_count(None, "Processed") == 1, 20, "processed")
    assert rec.numbers() == [1]
