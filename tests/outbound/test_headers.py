"""Issue 9 §2, long conversations keep working: every header maildesk writes is folded to
RFC 5322's limits (no line over 998 octets, 78 where the content allows) and reads back as
the value meant, for any input; `References` keeps the thread's first id and the newest."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_string, policy
from email.header import decode_header, make_header
from email.policy import compat32
from email.utils import getaddresses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.outbound.compose import compose
from maildesk.outbound.headers import (
    MAX_REFERENCES,
    address_header,
    one_line,
    pick_references,
    text_header,
)

_LOCAL = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789.-_+ñéü"), min_size=1, max_size=64
).filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
ADDRESSES = st.builds(
    lambda local, dom: f"{local}@{dom}.example",
    _LOCAL,
    st.sampled_from(["acme", "globex", "una-empresa-con-un-nombre-de-dominio-muy-largo-de-verdad"]),
)
IDS = st.one_of(
    st.from_regex(r"[A-Za-z0-9.$%+_=-]{1,80}@[A-Za-z0-9.-]{1,40}", fullmatch=True),
    st.integers(300, 1100).map(lambda n: "x" * n + "@x.example"),  # absurdly long
)
NAMES = st.text(max_size=300) | st.sampled_from(
    ["Ana Pérez", "Pérez, Ana", 'Ana "la jefa" Pérez', "=?utf-8?q?no?=", "Soporte técnico"]
)


def _header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def _foldable(line: bytes) -> bool:
    """Whether a line still holds a place to fold: whitespace after its first token."""
    text = line.decode("utf-8").strip()
    text = re.sub(r"^[\w-]+:\s*", "", text)
    return bool(re.search(r"\s", text))


def _name(display: str) -> str:
    """The display name as written: one line, runs of spaces as one."""
    return " ".join(one_line(display).split())


def _addresses(raw: bytes, field: str) -> list[tuple[str, str]]:
    """An address field as an RFC 2047 reader decodes it: unfolded, quoted-strings read, and
    the space between two adjacent encoded-words dropped (RFC 2047 §6.2; Python's own
    policy.default address parser keeps one there, mail clients do not)."""
    m = message_from_string(raw.decode("utf-8"), policy=compat32)
    value = re.sub(r"\r?\n", "", m[field])
    return [(str(make_header(decode_header(n))), a) for n, a in getaddresses([value])]


def _assert_limits(raw: bytes) -> None:
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998, line[:80]
    for line in _header_lines(raw):
        if len(line) > 78:
            assert not _foldable(line), line


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    from_name=NAMES,
    to_name=NAMES,
    to=ADDRESSES,
    cc=st.lists(st.tuples(NAMES, ADDRESSES), max_size=4),
    subject=st.text(max_size=1200) | st.text(alphabet="ab ", max_size=1200),
    thread=st.lists(IDS, max_size=200),
    filename=st.text(min_size=1, max_size=300),
)
def test_issue9_any_header_within_998_octets_and_decodes_back(
    from_name: str,
    to_name: str,
    to: str,
    cc: list[tuple[str, str]],
    subject: str,
    thread: list[str],
    filename: str,
) -> None:
    raw = compose(
        from_addr="customerservice@support.example",
        from_name=from_name,
        to=to,
        to_name=to_name,
        cc=cc,
        subject=subject,
        text="Hola\n",
        message_id="md.1.abc.def@support.example",
        date=datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
        loop_address="customerservice@support.example",
        auto_submitted="auto-replied",
        in_reply_to=thread[-1] if thread else None,
        references=thread,
        reply_to="customerservice@support.example",
        attachments=[(filename, "text/plain", b"x")],
    )
    _assert_limits(raw)
    # As an RFC 6532 reader sees it: addresses may be UTF-8.
    m = message_from_string(raw.decode("utf-8"), policy=policy.default)
    assert str(make_header(decode_header(m["Subject"]))) == one_line(subject)
    assert _addresses(raw, "From") == [(_name(from_name), "customerservice@support.example")]
    assert _addresses(raw, "To") == [(_name(to_name), to)]
    if cc:
        assert _addresses(raw, "Cc") == [(_name(n), a) for n, a in cc]
    refs = re.findall(r"<([^>]*)>", str(m["References"] or ""))
    assert refs == pick_references(thread)
    assert len(refs) <= MAX_REFERENCES
    if refs and len(thread[0]) <= 900:
        assert refs[0] == thread[0]
    (att,) = list(m.iter_attachments())
    assert att.get_filename() == (one_line(filename, 200) or "attachment.bin")


def test_issue9_references_keep_first_and_newest() -> None:
    thread = [f"m{i}@acme.example" for i in range(200)]
    refs = pick_references(thread)
    assert refs == [thread[0], *thread[-19:]]
    assert pick_references(["a@x", "a@x", "b@x", "", None, "c d@x", "<e>@x"]) == ["a@x", "b@x"]


def test_issue9_folded_lines_stay_within_78_for_foldable_text() -> None:
    subject = "[BITAM #12] " + "Problema al timbrar facturas de diciembre " * 20
    header = text_header("Subject", subject)
    assert all(len(line) <= 78 for line in header.split("\r\n"))
    assert header.replace("\r\n", "") == "Subject: " + one_line(subject)
    header = address_header("To", [("Pérez López, María José " * 8, "mj@acme.example")])
    assert all(len(line) <= 78 for line in header.split("\r\n"))
