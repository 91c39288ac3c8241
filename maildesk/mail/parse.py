"""Raw bytes -> `Inbound`: the only place that looks at MIME, charsets and header encodings.

Bytes in, decode late. The MIME tree comes from the stdlib compat32 parser, which is what
mail-parser itself uses (`MailParser.from_bytes(raw).message`); running mail-parser's full
`parse()` as well would cost ~1.5 ms per message and still lose raw 8-bit header bytes and
mis-decode undeclared latin-1 bodies, so we decode every header and text part here instead.

A message is `Unparseable` only when it is not mail at all: empty/blank input, or input whose
first line is not a header field (no header block at all). Anything with a header block is
parsed, however broken; each repair is recorded in `Inbound.defects`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.message
import email.parser
import re
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from maildesk.errors import Unparseable
from maildesk.mail import elide
from maildesk.mail.b64 import decode_base64
from maildesk.mail.elide import Elided
from maildesk.mail.inbound import Attachment, Inbound
from maildesk.mail.quotes import strip_quotes

MAX_DEPTH = 32  # multipart nesting we descend into; deeper parts are dropped (defect)
MAX_PARTS = 500  # leaf parts we look at
MAX_MULTIPART_MARKERS = 300  # above this the MIME parser itself may recurse too deep

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_EW_GAP = re.compile(rb"(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r\n|\r|\n")
_SUBJECT_WS = re.compile(r"[\r\n\t]+| {2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MSGID_BRACKETED = re.compile(r"<([^<>]*)>")
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

    index = _raw_index(msg)
    headers = _decoded_headers(index)
    from_pairs = _addresses(index, "from")
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")
    walker = _Walker(defects, elided)
    walker.walk(msg, 0)
    text = walker.body_text().replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")

    return Inbound(
        raw=raw,
        message_id=next(iter(_ids(_first_raw(index, "message-id"))), None),
        from_addr=from_addr,
        from_name=from_name,
        to=tuple(a for _, a in _addresses(index, "to")),
        cc=tuple(a for _, a in _addresses(index, "cc")),
        subject=_clean_subject(_first(headers, "subject")),
        date=_date(_first(headers, "date"), defects),
        in_reply_to=_ids(" ".join(index.get("in-reply-to", ()))),
        references=_ids(" ".join(index.get("references", ()))),
        headers=headers,
        return_path=_return_path(index),
        content_type=_content_type(msg),
        text=text,
        new_content=strip_quotes(text),
        attachments=tuple(walker.attachments),
        defects=tuple(dict.fromkeys(defects)),
        delivered_to=tuple(
            dict.fromkeys(
                a for name in ("delivered-to", "x-original-to") for _, a in _addresses(index, name)
            )
        ),
    )


# --------------------------------------------------------------------------- structure


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


def _content_type(msg: email.message.Message) -> str:
    try:
        return msg.get_content_type().lower()
    except Exception:
        return "text/plain"


class _Walker:
    """Collects the body text candidates and attachments, with depth and part caps."""

    def __init__(self, defects: list[str], elided: Elided | None = None) -> None:
        self.defects = defects
        self.elided = elided
        self.plain: str | None = None
        self.html: email.message.Message | None = None  # decoded only if no text/plain
        self.attachments: list[Attachment] = []
        self.parts = 0

    def body_text(self) -> str:
        if self.plain is not None:
            return self.plain
        if self.html is not None:
            return html_to_text(_decode_text(self.html, self.defects, self.elided))
        return ""

    def walk(self, part: email.message.Message, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.defects.append(f"mime: nesting deeper than {MAX_DEPTH} levels ignored")
            return
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.defects.append(f"mime: more than {MAX_PARTS} parts, rest ignored")
            return
        ctype = _content_type(part)
        payload = part.get_payload()
        if ctype == "message/delivery-status":
            self._attach_blocks(part, ctype)
            return
        if ctype.startswith("message/") and (
            ctype == "message/rfc822" or isinstance(payload, list)
        ):
            self._attach_message(part)
            return
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, email.message.Message):
                    self.walk(sub, depth + 1)
            return
        self._leaf(part, ctype)

    def _leaf(self, part: email.message.Message, ctype: str) -> None:
        filename = _filename(part)
        try:
            disposition = (part.get_content_disposition() or "").lower()
        except Exception:
            disposition = ""
        is_attachment = disposition == "attachment" or filename is not None
        if not is_attachment and ctype in ("text/plain", "text/html"):
            if ctype == "text/plain" and self.plain is None:
                self.plain = _decode_text(part, self.defects, self.elided)
                return
            if ctype == "text/html" and self.html is None:
                self.html = part
                return
            if ctype == "text/html" or disposition == "inline" or not disposition:
                return  # alternative renderings / extra inline text are not attachments
        data = _payload_bytes(part, self.elided)
        self.attachments.append(Attachment(safe_filename(filename), ctype, data))

    def _attach_message(self, part: email.message.Message) -> None:
        payload = part.get_payload()
        data = b""
        if isinstance(payload, list) and payload:
            data = _as_bytes(payload[0], self.elided)
        elif isinstance(payload, str):
            data = _payload_bytes(part, self.elided)
        self.attachments.append(Attachment("message.eml", "message/rfc822", data))

    def _attach_blocks(self, part: email.message.Message, ctype: str) -> None:
        payload = part.get_payload()
        if isinstance(payload, list):
            data = b"\n".join(_as_bytes(block, self.elided).lstrip(b"\r\n") for block in payload)
        else:
            data = _payload_bytes(part, self.elided)
        self.attachments.append(Attachment("delivery-status.txt", ctype, data))


def _as_bytes(msg: email.message.Message, elided: Elided | None = None) -> bytes:
    if elided is not None:
        elided.restore_tree(msg)
    try:
        return msg.as_bytes()
    except Exception:
        try:
            return msg.as_string().encode("utf-8", "surrogateescape")
        except Exception:
            return b""


def _payload_bytes(part: email.message.Message, elided: Elided | None = None) -> bytes:
    payload = part.get_payload()
    cte_header = str(part.get("content-transfer-encoding", "")).lower()
    if isinstance(payload, str) and cte_header.strip() == "base64":
        # Not get_payload(decode=True): it makes two or three full-size copies first.
        if elided is not None and elided.holds(payload):
            pieces = elided.pieces(payload)  # read from the raw mail, not restored
        else:
            try:
                return binascii.a2b_base64(payload)
            except (binascii.Error, ValueError):
                pieces = [payload]  # bad padding, stray bytes or 8-bit text: repair below
        try:
            if cte_header == "base64":  # what the stdlib would repair: repaired the same way
                return decode_base64(pieces)
            if len(pieces) > 1:  # " base64 ": the stdlib leaves it alone when a2b fails
                return binascii.a2b_base64(b"".join(_ascii(p) for p in pieces))
        except (binascii.Error, UnicodeEncodeError):
            pass
    if elided is not None:
        elided.restore_tree(part)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    return b""


def _ascii(piece: str | memoryview) -> bytes:
    return piece.encode("ascii") if isinstance(piece, str) else piece.tobytes()


def _filename(part: email.message.Message) -> str | None:
    """The part's name from Content-Disposition filename or Content-Type name, decoded."""
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        return None
    return decode_header_value(name)


def safe_filename(name: str | None) -> str:
    """A basename that can never be a path: no separators, `..`, NUL or control chars."""
    if not name:
        return "attachment.bin"
    name = _CONTROL.sub("", name).replace("\\", "/")
    name = name.rsplit("/", 1)[-1].strip().strip(".").strip()
    name = name.replace("..", "_")
    if name.startswith("."):  # no hidden files
        name = name.lstrip(".")
    return name[:255] or "attachment.bin"


# --------------------------------------------------------------------------- charsets


def decode_bytes(data: bytes, declared: str | None, defects: list[str], where: str) -> str:
    """Declared charset if it decodes strictly, else utf-8, else windows-1252, else latin-1."""
    tried: list[str] = []
    if declared:
        name = declared.strip().strip('"').lower()
        try:
            codec = codecs.lookup(name).name
        except (LookupError, ValueError):
            codec = None
            defects.append(f"{where}: unknown charset {name!r}")
        if codec is not None:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError, ValueError):
                tried.append(name)
            except Exception:  # exotic codecs may raise anything
                tried.append(name)
    for fallback in ("utf-8", "windows-1252"):
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        if tried:
            defects.append(f"{where}: declared {tried[0]!r} failed, used {fallback}")
        elif fallback != "utf-8" and _has_8bit(data):
            defects.append(f"{where}: undeclared 8-bit text, used {fallback}")
        return text
    defects.append(f"{where}: no charset fitted, used latin-1")
    return data.decode("latin-1")


def _has_8bit(data: bytes) -> bool:
    return not data.isascii()


def _decode_text(
    part: email.message.Message, defects: list[str], elided: Elided | None = None
) -> str:
    try:
        declared = part.get_content_charset()
    except Exception:
        declared = None
    declared = declared or None
    data = _payload_bytes(part, elided)
    if declared in ("us-ascii", "ascii") and not data.isascii():
        declared = None  # the default when absent; 8-bit bytes prove it wrong anyway
    return decode_bytes(data, declared, defects, "charset")


# --------------------------------------------------------------------------- headers


_RawIndex = dict[str, list[str]]


def _raw_index(msg: email.message.Message) -> _RawIndex:
    """Lower-cased name -> unfolded header texts (8-bit bytes decoded), built once."""
    index: _RawIndex = {}
    for name, value in msg.raw_items():
        index.setdefault(str(name).strip().lower(), []).append(_raw_header_text(value))
    return index


def _first_raw(index: _RawIndex, name: str) -> str:
    values = index.get(name)
    return values[0] if values else ""


def _raw_header_text(value: object) -> str:
    """Undo the parser's surrogateescape: raw 8-bit bytes as utf-8, else windows-1252."""
    if not isinstance(value, str):
        value = str(value)
    text = value
    if not value.isascii():
        data = value.encode("ascii", "surrogateescape") if _has_surrogates(value) else None
        if data is not None:
            text = decode_bytes(data, None, [], "header")
    return _FOLD.sub("", text).replace("\x00", "")


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def decode_header_value(value: str) -> str:
    """Decode RFC 2047 encoded words (unknown charsets fall back; never raises)."""
    if "=?" not in value:
        return value.replace("\x00", "")
    data = value.encode("utf-8", "surrogatepass")
    data = _EW_GAP.sub(rb"\1", data)

    def word(match: re.Match[bytes]) -> bytes:
        charset = match.group(1).decode("ascii", "replace").split("*", 1)[0]
        encoding, payload = match.group(2).upper(), match.group(3)
        try:
            if encoding == b"B":
                raw = base64.b64decode(payload + b"=" * (-len(payload) % 4))
            else:
                raw = _q_decode(payload)
        except (binascii.Error, ValueError):
            return match.group(0)
        text = decode_bytes(raw, charset, [], "header")
        return text.encode("utf-8", "surrogatepass")

    out = _ENCODED_WORD.sub(word, data)
    return out.decode("utf-8", "replace").replace("\x00", "")


def _q_decode(payload: bytes) -> bytes:
    payload = payload.replace(b"_", b" ")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), payload)


def _decoded_headers(index: _RawIndex) -> dict[str, tuple[str, ...]]:
    return {k: tuple(decode_header_value(v).strip() for v in vs) for k, vs in index.items()}


def _first(headers: dict[str, tuple[str, ...]], name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _clean_subject(subject: str) -> str:
    return _SUBJECT_WS.sub(" ", _CONTROL.sub(" ", subject)).strip()


def _addresses(index: _RawIndex, name: str) -> list[tuple[str, str]]:
    """(decoded display name, lower-cased bare address) for every address in `name` headers."""
    values = index.get(name)
    if not values:
        return []
    try:
        pairs = getaddresses(values)
    except Exception:
        pairs = []
    out: list[tuple[str, str]] = []
    for display, addr in pairs:
        addr = _CONTROL.sub("", addr).strip().strip("<>").lower()
        if not addr or ("@" not in addr and name != "from"):
            continue
        out.append((_clean_subject(decode_header_value(display)), addr))
    if not out and name == "from":
        # Garbage From: keep whatever looks like an address.
        found = re.search(r"[^\s<>\"',;]+@[^\s<>\"',;]+", " ".join(values))
        if found:
            out.append(("", found.group(0).lower()))
    return out


def _ids(value: str) -> tuple[str, ...]:
    """Message ids without brackets or whitespace; tolerant of junk, de-duplicated."""
    if not value:
        return ()
    value = value.replace("\x00", "")
    found = _MSGID_BRACKETED.findall(value)
    if not found:
        found = [tok for tok in re.split(r"[\s,]+", value) if tok]
    ids = (re.sub(r"\s+", "", i).strip("<>") for i in found)
    return tuple(dict.fromkeys(i for i in ids if i))


def _return_path(index: _RawIndex) -> str | None:
    values = index.get("return-path")
    if not values:
        return None
    value = values[0].strip()
    inner = re.search(r"<([^<>]*)>", value)
    addr = inner.group(1) if inner else value
    return re.sub(r"\s+", "", addr).lower()


def _date(value: str, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:
        defects.append("date: unparseable Date header")
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------- HTML


class _TextExtractor(HTMLParser):
    """HTML -> plain text: blocks become lines, links keep their URL, blockquotes get `> `."""

    _BLOCK = frozenset(
        [
            *("p", "div", "br", "tr", "li", "ul", "ol", "table", "pre", "hr", "dd", "dt"),
            *("h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"),
            "blockquote",
        ]
    )
    _SKIP = frozenset(("script", "style", "head", "title", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.href: list[str | None] = []
        self.link_text: list[str] = []

    def _newline(self) -> None:
        line = re.sub(r"[ \t\u00a0]+", " ", "".join(self.current)).strip()
        self.current = []
        if line:
            self.lines.append("> " * self.quote + line)
        elif self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self._newline()
            if tag == "blockquote":
                self.quote += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.link_text.append("")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self._newline()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
        elif tag == "a" and self.href:
            href, shown = self.href.pop(), self.link_text.pop().strip()
            if href and not href.startswith(("#", "javascript:")):
                target = href[7:] if href.lower().startswith("mailto:") else href
                if target not in shown:
                    self.current.append(f" ({target})" if shown else target)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.replace("\r", " ").replace("\n", " ")
        if self.link_text:
            self.link_text[-1] += data
        self.current.append(data)

    def text(self) -> str:
        self._newline()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    """Readable text from HTML, no markup left (html2text would leave markdown syntax)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html).strip()
    return extractor.text()
