"""Build the RFC 5322 bytes of one outgoing mail (headers that keep robots out of loops).

Written directly rather than through `email.message.EmailMessage`: the stdlib's header
policy machinery cost ~5 ms per mail, more than the whole rest of the pipeline, and every
inbound message queues one or two of these. What we emit is simple and fixed: text/plain
UTF-8 format=flowed quoted-printable, optionally multipart/alternative (HTML) and
multipart/mixed (attachments, base64). Header fields are folded by `headers` (no line over
998 octets, 78 where the content allows), from values reduced to one line first, so no
customer text can ever start a header of its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from maildesk.outbound.flowed import flow
from maildesk.outbound.headers import (
    CRLF,
    address_header,
    ids_header,
    one_line,
    params_header,
    pick_references,
    text_header,
    valid_id,
)

__all__ = ["CRLF", "compose", "one_line"]


@functools.lru_cache(maxsize=64)
def _date(date: datetime) -> str:
    """Cached: a sweep's or a batch's mails all carry the same instant."""
    return f"Date: {format_datetime(date)}"


@functools.lru_cache(maxsize=1024)
def _from(name: str, addr: str) -> str:
    """Cached: the team's name is encoded once, not for every mail."""
    return address_header("From", [(name, addr)])


def _qp(text: str) -> str:
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")
    return encoded.replace("\n", CRLF)


# 57 input bytes make one 76-character base64 line; 16 384 lines (~0.9 MiB) per chunk.
_B64_CHUNK = 57 * 16384


def _b64(data: bytes | memoryview) -> list[bytes]:
    """Base64 in CRLF lines, as chunks of bytes: a 10 MiB file never exists as one more
    full-size str or bytes copy (the mail is joined once, from these chunks)."""
    view = memoryview(data)
    return [
        base64.encodebytes(view[i : i + _B64_CHUNK]).replace(b"\n", b"\r\n")
        for i in range(0, len(view), _B64_CHUNK)
    ] or [b""]


def _text_part(text: str, subtype: str = "plain") -> list[Line]:
    flowed = subtype == "plain"
    ctype = f'text/{subtype}; charset="utf-8"' + ("; format=flowed" if flowed else "")
    return [
        f"Content-Type: {ctype}",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(flow(_lf(text)) if flowed else text),
    ]


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


Line = str | list[bytes]  # a header or text line, or a run of already encoded base64 lines


def _multipart(subtype: str, parts: list[list[Line]]) -> list[Line]:
    boundary = f"=_md_{secrets.token_hex(12)}"
    lines: list[Line] = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"', "", ""]
    for part in parts:
        lines += [f"--{boundary}", *part]
    lines += [f"--{boundary}--", ""]
    return lines


def _assemble(lines: list[Line]) -> bytes:
    """CRLF between lines; text encoded as UTF-8, base64 runs as they are. One join, so the
    mail's bytes are built once whatever its attachments."""
    pieces: list[bytes] = []
    text: list[str] = []
    for line in lines:
        if isinstance(line, str):
            text.append(line)
            continue
        pieces.append((CRLF.join(text) + CRLF).encode("utf-8") if text else b"")
        pieces.extend(line)
        text = [""]  # the CRLF that joins the run to the next line comes with that line
    pieces.append(CRLF.join(text).encode("utf-8"))
    return b"".join(pieces)


def _attachment(filename: str, ctype: str, data: bytes) -> list[Line]:
    name = one_line(filename, 200) or "attachment.bin"
    main, *params = [p.strip() for p in (one_line(ctype, 200) or "").split(";")]
    main = main if "/" in main else "application/octet-stream"
    if main.startswith("text/") and not any(p.lower().startswith("charset") for p in params):
        params.append('charset="utf-8"')
    content_type = "Content-Type: " + "; ".join([main, *[p for p in params if p]])
    return [
        content_type if len(content_type) <= 78 else params_header("Content-Type", main, []),
        params_header("Content-Disposition", "attachment", [("filename", name)]),
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
    to_name: str = "",
    cc: Sequence[tuple[str, str]] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """One mail as bytes. `auto_submitted` None means written by a person (a relayed answer).
    `references` is the whole thread, oldest first: the header keeps its first id and the
    newest ones (`pick_references`)."""
    head = [
        _from(from_name, from_addr),
        address_header("To", [(to_name, to)]),
    ]
    if cc:
        head.append(address_header("Cc", cc))
    head += [
        text_header("Subject", subject),
        _date(date),
        f"Message-ID: <{one_line(message_id)}>",
    ]
    if in_reply_to and valid_id(in_reply_to):
        head.append(ids_header("In-Reply-To", [in_reply_to]))
    refs = pick_references(references)
    if refs:
        head.append(ids_header("References", refs))
    if reply_to:
        head.append(address_header("Reply-To", [("", reply_to)]))
    head.append(address_header("X-Loop", [("", loop_address)]))
    if auto_submitted:
        head += [
            f"Auto-Submitted: {one_line(auto_submitted)}",
            "X-Auto-Response-Suppress: All",
            f"Precedence: {'auto_reply' if auto_submitted == 'auto-replied' else 'bulk'}",
        ]
    head.append("MIME-Version: 1.0")
    body: list[Line] = list(_text_part(text))
    if html is not None:
        body = _multipart("alternative", [body, _text_part(html, "html")])
    if attachments:
        body = _multipart("mixed", [body] + [_attachment(*a) for a in attachments])
    # Bodies are QP/base64 (ASCII); only an internationalised address can be non-ASCII,
    # which RFC 6532 writes as UTF-8 (there is no encoded-word form for addresses).
    return _assemble([*head, *body])
