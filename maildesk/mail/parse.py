"""Raw bytes -> `Inbound`: the one entry point that turns a mail into what later steps read.

Bytes in, decode late. The MIME tree comes from the stdlib compat32 parser, which is what
mail-parser itself uses (`MailParser.from_bytes(raw).message`). mail-parser's own decoding
loses raw 8-bit header bytes (latin-1 "Café y señal" -> "Caf y seal") and decodes
undeclared latin-1 bodies as UTF-8 ("caf\ufffd"); measured again in December 2026 (4.8.0,
bench corpus, CPU time) it takes 0.36 ms a mail for the fields we read against 0.28 ms for
this whole function (the first version noted ~1.5 ms). So we decode every header and text
part here instead:
`headers` (fields, addresses, ids, dates), `mime` (walk, payloads, attachments), `charsets`
(bytes -> str) and `htmltext` (HTML bodies), then `quotes` for the reply's new content.

A message is `Unparseable` only when it is not mail at all: empty/blank input, or input whose
first line is not a header field (no header block at all). Anything with a header block is
parsed, however broken; each repair is recorded in `Inbound.defects`.
"""

from __future__ import annotations

import email.message
import email.parser
import re

from maildesk.errors import Unparseable
from maildesk.mail import elide
from maildesk.mail.elide import Elided
from maildesk.mail.headers import (
    addresses,
    clean_subject,
    decoded_headers,
    first_raw,
    first_value,
    message_ids,
    parse_date,
    raw_index,
    return_path,
)
from maildesk.mail.inbound import Inbound
from maildesk.mail.mime import Walker, content_type
from maildesk.mail.quotemarks import is_forward_subject
from maildesk.mail.quotes import strip_quotes

MAX_MULTIPART_MARKERS = 300  # above this the MIME parser itself may recurse too deep

_HEADER_LINE = re.compile(rb"(?:From |[!-9;-~]+[ \t]*:)")  # .match() at the first line
_LEADING_NEWLINES = re.compile(rb"[\r\n]*")
_BLANK = re.compile(rb"\s*\Z")


def parse(raw: bytes) -> Inbound:
    """Parse one mail. Never raises except `Unparseable` for input that is not mail."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise Unparseable(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    # Positions, not lstrip()/strip(): those copy a 25 MiB mail that ends with a newline.
    leading = _LEADING_NEWLINES.match(raw)
    first = leading.end() if leading else 0
    if _BLANK.match(raw, first):
        raise Unparseable("empty message")
    if not _HEADER_LINE.match(raw, first):
        raise Unparseable("no header block: first line is not a header field")
    defects: list[str] = []
    msg, elided = _message_from_bytes(raw, defects)
    if not msg.keys():
        raise Unparseable("no header fields")

    walker = Walker(defects, elided)
    walker.walk(msg, 0)
    text = walker.body_text().replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    index = raw_index(msg, likely=lambda: walker.charset)
    headers = decoded_headers(index)
    from_pairs = addresses(index, "from")
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")

    subject = clean_subject(first_value(headers, "subject"))
    return Inbound(
        raw=raw,
        message_id=next(iter(message_ids(first_raw(index, "message-id"))), None),
        from_addr=from_addr,
        from_name=from_name,
        to=tuple(a for _, a in addresses(index, "to")),
        cc=tuple(a for _, a in addresses(index, "cc")),
        subject=subject,
        date=parse_date(first_value(headers, "date"), defects),
        in_reply_to=message_ids(" ".join(index.get("in-reply-to", ()))),
        references=message_ids(" ".join(index.get("references", ()))),
        headers=headers,
        return_path=return_path(index),
        content_type=content_type(msg),
        text=text,
        new_content=strip_quotes(text, forward=is_forward_subject(subject)),
        attachments=tuple(walker.attachments),
        defects=tuple(dict.fromkeys(defects)),
        delivered_to=tuple(
            dict.fromkeys(
                a for name in ("delivered-to", "x-original-to") for _, a in addresses(index, name)
            )
        ),
        header_names=tuple(str(name).strip().lower() for name in msg),
    )


def _message_from_bytes(
    raw: bytes, defects: list[str]
) -> tuple[email.message.Message, Elided | None]:
    """compat32 parse; falls back to headers-only when nesting would blow the stack.

    Big mails are fed with their long base64 runs replaced by placeholders (`elide`): the
    parser would otherwise hold a 25 MiB attachment as ~45 MiB of line strs plus a joined
    copy. The returned `Elided` turns placeholders back into the raw bytes they stand for.
    """
    if len(re.findall(rb"(?i)multipart/", raw)) > MAX_MULTIPART_MARKERS:
        defects.append("mime: too many nested multiparts, body not parsed")
        return _headers_only(raw), None
    elided = Elided(raw) if len(raw) >= elide.MIN_MESSAGE else None
    if elided is not None and not elided.spans:
        elided = None
    try:
        # Fed in slices: message_from_bytes decodes the whole mail into one str first, which
        # for a 25 MiB mail held ~100 MiB at once (4 bytes per character).
        parser = email.parser.BytesFeedParser()
        if elided is not None:
            for piece in elided.stream():
                parser.feed(piece)
        else:
            for start in range(0, len(raw), 1 << 16):
                parser.feed(raw[start : start + (1 << 16)])
        return parser.close(), elided
    except RecursionError:
        defects.append("mime: nesting too deep, body not parsed")
        return _headers_only(raw), None


def _headers_only(raw: bytes) -> email.message.Message:
    # Parse only the header block: the full parser is what recursed.
    blank = re.search(rb"\r?\n\r?\n", raw)
    head = raw[: blank.start()] if blank else raw
    msg = email.parser.BytesHeaderParser().parsebytes(head + b"\n\n")
    msg.set_payload("")
    return msg
