"""Build the RFC 5322 bytes of one outgoing mail (headers that keep robots out of loops).

Written directly rather than through `email.message.EmailMessage`: the stdlib's header
policy machinery cost ~5 ms per mail, more than the whole rest of the pipeline, and every
inbound message queues one or two of these. What we emit is simple and fixed: text/plain
UTF-8 quoted-printable, optionally multipart/alternative (HTML) and multipart/mixed
(attachments, base64). Every header value is reduced to one line first, so no customer
text can ever start a header of its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from email.utils import format_datetime, formataddr

_CTRL = re.compile(r"[\x00-\x1f\x7f]+")
_ASCII_SAFE = re.compile(r"^[\x20-\x7e]*$")
CRLF = "\r\n"


def one_line(text: str, limit: int = 900) -> str:
    """Header-safe text: control characters (CR/LF included) collapse to one space."""
    return _CTRL.sub(" ", text).strip()[:limit]


def _ids(ids: Iterable[str]) -> str:
    return " ".join(f"<{i}>" for i in ids if i and not _CTRL.search(i) and " " not in i)


def encode_header(value: str) -> str:
    """RFC 2047 encode when needed; plain ASCII stays readable."""
    value = one_line(value)
    if _ASCII_SAFE.match(value) and len(value) < 900:
        return value
    return f"{CRLF} ".join(f"=?utf-8?b?{base64.b64encode(c).decode()}?=" for c in _chunks(value))


def _chunks(value: str, limit: int = 45) -> Iterator[bytes]:
    """UTF-8 pieces of at most `limit` bytes, never splitting a character: 45 bytes make a
    60-character base64 text, so each encoded-word stays within RFC 2047's 75."""
    piece = bytearray()
    for char in value:
        b = char.encode("utf-8")
        if len(piece) + len(b) > limit:
            yield bytes(piece)
            piece.clear()
        piece += b
    if piece:
        yield bytes(piece)


@functools.lru_cache(maxsize=1024)
def _address(name: str, addr: str) -> str:
    """Cached: the team's and agents' names are encoded once, not for every mail."""
    return formataddr((one_line(name), one_line(addr)), charset="utf-8") if name else addr


def _qp(text: str) -> str:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")
    return encoded.replace("\n", CRLF)


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)


def _text_part(text: str, subtype: str = "plain") -> list[str]:
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(text),
    ]


def _multipart(subtype: str, parts: list[list[str]]) -> list[str]:
    boundary = f"=_md_{secrets.token_hex(12)}"
    lines = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"', "", ""]
    for part in parts:
        lines += [f"--{boundary}", *part]
    lines += [f"--{boundary}--", ""]
    return lines


def _attachment(filename: str, ctype: str, data: bytes) -> list[str]:
    name = one_line(filename, 200).replace('"', "'") or "attachment.bin"
    if _ASCII_SAFE.match(name):
        disp = f'attachment; filename="{name}"'
    else:
        disp = "attachment; filename*=utf-8''" + urllib.parse.quote(name, safe="._-")
    ctype = one_line(ctype, 100) or "application/octet-stream"
    if ctype.startswith("text/") and "charset" not in ctype:
        ctype += '; charset="utf-8"'
    return [
        f"Content-Type: {ctype}",
        f"Content-Disposition: {disp}",
        "Content-Transfer-Encoding: base64",
        "",
        _b64(data),
    ]


def compose(
    *,
    from_addr: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    loop_address: str,
    auto_submitted: str | None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """One mail as bytes. `auto_submitted` None means written by a person (a relayed answer)."""
    head = [
        f"From: {_address(from_name, from_addr)}",
        f"To: {one_line(to)}",
        f"Subject: {encode_header(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{one_line(message_id)}>",
    ]
    if in_reply_to and _ids([in_reply_to]):
        head.append(f"In-Reply-To: {_ids([in_reply_to])}")
    refs = _ids(references[-20:])
    if refs:
        head.append(f"References: {refs}")
    if reply_to:
        head.append(f"Reply-To: {one_line(reply_to)}")
    head.append(f"X-Loop: {one_line(loop_address)}")
    if auto_submitted:
        head += [
            f"Auto-Submitted: {one_line(auto_submitted)}",
            "X-Auto-Response-Suppress: All",
            f"Precedence: {'auto_reply' if auto_submitted == 'auto-replied' else 'bulk'}",
        ]
    head.append("MIME-Version: 1.0")
    body = _text_part(text)
    if html is not None:
        body = _multipart("alternative", [body, _text_part(html, "html")])
    if attachments:
        body = _multipart("mixed", [body] + [_attachment(*a) for a in attachments])
    # Bodies are QP/base64 (ASCII); only an internationalised address can be non-ASCII,
    # which RFC 6532 writes as UTF-8 (there is no encoded-word form for addresses).
    return CRLF.join(head + body).encode("utf-8")
