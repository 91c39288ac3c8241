"""The MIME tree of a parsed message -> body text candidates and attachments.

Walks with caps on depth and part count (a hostile mail cannot make us descend or allocate
without bound), decodes payloads without the stdlib's extra full-size copies, and names
attachments by a basename that can never be a path.
"""

from __future__ import annotations

import binascii
import email.message
import mimetypes
import re

from maildesk.mail.b64 import decode_base64
from maildesk.mail.charsets import decode_bytes
from maildesk.mail.elide import Elided, raw_payload
from maildesk.mail.headers import decode_header_value
from maildesk.mail.htmltext import html_to_text
from maildesk.mail.inbound import Attachment
from maildesk.mail.tnef import is_tnef, unpack

MAX_DEPTH = 32  # multipart nesting we descend into; deeper parts are dropped (defect)
MAX_PARTS = 500  # leaf parts we look at
# Body text kept in the ticket (and mailed to agents): 1 MiB is ~500 printed pages; a longer
# text (a pasted log) is cut there, and the original mail keeps all of it (SPEC §9 memory).
TEXT_LIMIT = 1 << 20

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def content_type(msg: email.message.Message) -> str:
    try:
        return msg.get_content_type().lower()
    except Exception:
        return "text/plain"


class Walker:
    """Collects the body text candidates and attachments, with depth and part caps."""

    def __init__(self, defects: list[str], elided: Elided | None = None) -> None:
        self.defects = defects
        self.elided = elided
        self.plain: str | None = None
        self.text_part: email.message.Message | None = None  # the one `plain` came from
        self.html: email.message.Message | None = None  # decoded only if no text/plain
        self.tnef_body: str | None = None  # Outlook's winmail.dat body, the last resort
        self.attachments: list[Attachment] = []
        self.parts = 0

    def body_text(self) -> str:
        if self.plain is not None:
            return self.plain
        if self.html is not None:
            return html_to_text(_decode_text(self.html, self.defects, self.elided))
        return self.tnef_body or ""

    @property
    def charset(self) -> str | None:
        """The body's declared charset: raw 8-bit header bytes are most likely in it too."""
        part = self.text_part or self.html
        return _declared_charset(part) if part is not None else None

    def walk(self, part: email.message.Message, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.defects.append(f"mime: nesting deeper than {MAX_DEPTH} levels ignored")
            return
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.defects.append(f"mime: more than {MAX_PARTS} parts, rest ignored")
            return
        ctype = content_type(part)
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
                self.text_part = part
                return
            if ctype == "text/html" and self.html is None:
                self.html = part
                return
            if ctype == "text/html" or disposition == "inline" or not disposition:
                return  # alternative renderings / extra inline text are not attachments
        data = _payload_bytes(part, self.elided)
        name = safe_filename(filename) if filename else unnamed(ctype, len(self.attachments))
        self.attachments.append(Attachment(name, ctype, data))
        if is_tnef(ctype, filename, data):
            self._unpack_tnef(data)

    def _unpack_tnef(self, data: bytes) -> None:
        """winmail.dat's files join the mail's attachments (the .dat itself stays too)."""
        content = unpack(data, self.defects)
        for name, blob in content.files:
            safe = safe_filename(name)
            guessed = mimetypes.guess_type(safe, strict=False)[0]
            self.attachments.append(Attachment(safe, guessed or "application/octet-stream", blob))
        if content.rtf is not None:
            self.attachments.append(Attachment("message.rtf", "application/rtf", content.rtf))
        if content.body and self.tnef_body is None:
            self.tnef_body = content.body

    def _attach_message(self, part: email.message.Message) -> None:
        payload = part.get_payload()
        data = b""
        if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
            data = _as_bytes(payload[0], self.elided)
        elif isinstance(payload, str):
            data = _payload_bytes(part, self.elided)
        self.attachments.append(Attachment("message.eml", "message/rfc822", data))

    def _attach_blocks(self, part: email.message.Message, ctype: str) -> None:
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks = [b for b in payload if isinstance(b, email.message.Message)]
            data = b"\n".join(_as_bytes(block, self.elided).lstrip(b"\r\n") for block in blocks)
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


def unnamed(ctype: str, index: int) -> str:
    """A name for a part that has none (a screenshot pasted into an HTML body): "image1.png",
    so an agent who receives it, or saves it, sees what it is."""
    ext = mimetypes.guess_extension(ctype, strict=False) or ".bin"
    main = ctype.partition("/")[0]
    base = main if main in ("image", "audio", "video", "text") else "attachment"
    return f"{base}{index + 1}{ext}"


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


def _declared_charset(part: email.message.Message) -> str | None:
    try:
        return part.get_content_charset() or None
    except Exception:
        return None


def _decode_text(
    part: email.message.Message, defects: list[str], elided: Elided | None = None
) -> str:
    declared = _declared_charset(part)
    data, total = _text_bytes(part, elided)
    cut = total > TEXT_LIMIT
    if cut:
        end = data.rfind(b"\n", 0, TEXT_LIMIT)
        data = data[: end + 1 if end > 0 else TEXT_LIMIT]
        defects.append(
            f"body: text cut to {len(data)} of {total} bytes (the original mail keeps it all)"
        )
    if declared in ("us-ascii", "ascii") and not data.isascii():
        declared = None  # the default when absent; 8-bit bytes prove it wrong anyway
    text = decode_bytes(data, declared, defects, "charset")
    return text + "\n[…]\n" if cut else text


def _text_bytes(part: email.message.Message, elided: Elided | None) -> tuple[bytes, int]:
    """A text part's decoded bytes, at least its first TEXT_LIMIT + 1 when longer, and its
    whole length (or a lower bound). An elided 8-bit or quoted-printable body is read from
    the raw mail only as far as needed: a 25 MiB log is never one str, nor one bytes."""
    payload = raw_payload(part)
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if not (elided is not None and isinstance(payload, str) and elided.holds(payload)):
        data = _payload_bytes(part, elided)
        return data, len(data)
    if cte not in ("", "7bit", "8bit", "binary", "quoted-printable"):  # base64, uuencode
        data = _payload_bytes(part, elided)
        return data, len(data)
    qp = cte == "quoted-printable"
    want = (3 if qp else 1) * (TEXT_LIMIT + 1)
    head: list[bytes] = []
    size = total = 0
    for piece in elided.pieces(payload):
        raw = piece.encode("ascii", "surrogateescape") if isinstance(piece, str) else piece
        total += len(raw)
        if size < want:
            head.append(bytes(raw[: want - size]))
            size += len(head[-1])
    data = b"".join(head)
    if qp:
        data = binascii.a2b_qp(data)
        total = max(len(data), total // 3)  # a lower bound: enough to say it was cut
    return data, total
