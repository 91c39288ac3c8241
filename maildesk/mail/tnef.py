"""Outlook's winmail.dat (application/ms-tnef) -> the files and the body it wraps.

Outlook and Exchange send "rich text" mail as one opaque `winmail.dat`: the customer's
screenshots and logs are inside it, and no mail client but Outlook opens it. tnefparse
(pure Python, no dependencies) reads the format; this module only picks what agents need:
each attached file with its long name, the message body as text (plain, else from HTML), and
the RTF body decompressed (compressed-rtf) as a file Word or LibreOffice opens. The caller
keeps the original winmail.dat as well, so nothing is lost when a part cannot be read.

Never raises: a damaged file is a defect and yields nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnefparse.tnef import TNEF, TNEFAttachment

from maildesk.mail.charsets import decode_bytes
from maildesk.mail.htmltext import html_to_text

SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78, little-endian, the first four bytes
TNEF_TYPES = frozenset(("application/ms-tnef", "application/vnd.ms-tnef"))
MAX_FILES = 200  # like mime.MAX_PARTS: a crafted file cannot make us list without bound


@dataclass(frozen=True)
class TnefContent:
    """What a winmail.dat wraps: (name, bytes) per file, the body as text, the RTF body."""

    files: tuple[tuple[str, bytes], ...] = ()
    body: str | None = None
    rtf: bytes | None = None


def is_tnef(content_type: str, filename: str | None, data: bytes) -> bool:
    """A TNEF part by type or by Outlook's file name, and only with the TNEF signature."""
    named = (filename or "").strip().lower() == "winmail.dat"
    return (content_type in TNEF_TYPES or named) and data.startswith(SIGNATURE)


def unpack(data: bytes, defects: list[str]) -> TnefContent:
    """The files and body inside `data`; empty (and a defect) when it cannot be read."""
    try:
        # With checksums on: off, tnefparse logs "skipping checksum" at INFO for every file.
        tnef = TNEF(data, do_checksum=True)
        files = tuple(
            (_name(att), bytes(att.data)) for att in tnef.attachments[:MAX_FILES] if att.data
        )
        rtf = tnef.rtfbody
    except Exception as exc:  # tnefparse raises whatever a truncated struct gives it
        defects.append(f"tnef: winmail.dat unreadable ({type(exc).__name__}), kept as is")
        return TnefContent()
    if len(tnef.attachments) > MAX_FILES:
        defects.append(f"tnef: more than {MAX_FILES} files in winmail.dat, rest ignored")
    return TnefContent(files=files, body=_body(tnef, defects), rtf=_rtf(rtf))


def _name(att: TNEFAttachment) -> str:
    try:
        name = att.long_filename()
    except Exception:  # a name in a codepage the file does not declare
        name = ""
    return name if isinstance(name, str) else ""


def _body(tnef: TNEF, defects: list[str]) -> str | None:
    codepage = tnef.codepage or "cp1252"
    for value, is_html in ((tnef.body, False), (tnef.htmlbody, True)):
        if not value:
            continue
        text = value if isinstance(value, str) else decode_bytes(value, codepage, defects, "tnef")
        text = text.replace("\x00", "")
        return html_to_text(text) if is_html else text.replace("\r\n", "\n").strip()
    return None


def _rtf(rtf: object) -> bytes | None:
    """Decompressed RTF only: the compressed form is of no use to anyone."""
    if isinstance(rtf, bytes | bytearray) and rtf.lstrip().startswith(b"{\\rtf"):
        return bytes(rtf)
    return None
