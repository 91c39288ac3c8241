"""Every mail of the awkward corpus gets exactly one outcome through the whole pipeline,
none raises, and every one is accounted for in the ledger or the quarantine (SPEC §8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.store.models import Inbox, Quarantine
from tests.helpers import NOW

CORPUS = sorted((Path(__file__).parent.parent / "corpus").glob("*.eml"))
AUTOMATIC = {
    "mailing_list",
    "ooo_en_auto_submitted",
    "ooo_es_auto_submitted",
    "ooo_subject_only_suppress",
}
BOUNCES = {"dsn_bounce", "microsoft_ndr"}
FROM = re.compile(rb"^From:.*?(?=^\S)", re.M | re.S | re.I)


def _as_registered(raw: bytes) -> bytes:
    """The same mail, written by a registered contact (so routing goes past R5)."""
    if FROM.search(raw):
        return FROM.sub(b"From: Ana <ana@acme.example>\n", raw, count=1)
    return b"From: ana@acme.example\n" + raw


def _accounted(app: App) -> int:
    with app.db.transaction() as s:
        return (s.scalar(select(func.count(Inbox.id))) or 0) + (
            s.scalar(select(func.count(Quarantine.id))) or 0
        )


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_s8_corpus_mail_gets_exactly_one_outcome(app: App, path: Path) -> None:
    raw = path.read_bytes()
    before = _accounted(app)
    out = accept(app, raw, f"corpus:{path.name}", NOW)
    assert out.kind in set(Kind)
    assert _accounted(app) == before + 1
    if path.stem in AUTOMATIC:
        assert out.kind is Kind.IGNORED and out.reason.startswith("automatic")
    if path.stem in BOUNCES:
        assert out.kind is Kind.IGNORED and "bounce" in out.reason


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_r9_corpus_mail_from_registered_contact(app: App, path: Path) -> None:
    raw = _as_registered(path.read_bytes())
    out = accept(app, raw, f"corpus:{path.name}", NOW)
    if path.stem in AUTOMATIC or path.stem in BOUNCES:
        assert out.kind is Kind.IGNORED
    else:
        assert out.kind is Kind.TICKETED, out
    again = accept(app, raw, f"corpus:{path.name}", NOW)
    assert again.duplicate  # R1 holds for every shape of mail


HEADER = st.sampled_from(
    [
        "Subject: hola",
        "Subject: Re: [BITAM #1] x",
        "Subject: =?utf-8?q?caf=C3=A9?=",
        "From: ana@acme.example",
        "From: <>",
        "From: nobody@x.example",
        "From: \xe9@x",
        "Auto-Submitted: auto-replied",
        "Content-Type: multipart/mixed; boundary=zz",
        "Content-Type: text/plain; charset=x-nope",
        "Message-ID: <p@x>",
        "References: <md.1.x@y>",
        "In-Reply-To: garbage",
        "Precedence: list",
        "Content-Transfer-Encoding: base64",
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(headers=st.lists(HEADER, max_size=6), body=st.binary(max_size=300))
def test_r1_r9_generated_mail_never_raises_and_is_accounted(
    app: App, headers: list[str], body: bytes
) -> None:
    raw = "\r\n".join(headers).encode("latin-1") + b"\r\n\r\n" + body
    before = _accounted(app)
    out = accept(app, raw, "hypothesis", NOW)
    assert out.kind in set(Kind)
    assert _accounted(app) == before + (0 if out.duplicate else 1)
