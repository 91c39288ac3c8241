"""Header fields of a parsed message -> decoded, unfolded values, addresses, ids and dates.

Reads `raw_items()` once into an index (lower-cased name -> texts) and decodes from there:
raw 8-bit bytes via `charsets`, RFC 2047 encoded words here (the stdlib's decoder raises on
unknown charsets and joins words differently per policy). Never raises.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from maildesk.mail.charsets import decode_bytes

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_EW_GAP = re.compile(rb"(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?)")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r\n|\r|\n")
_SUBJECT_WS = re.compile(r"[\r\n\t]+| {2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MSGID_BRACKETED = re.compile(r"<([^<>]*)>")


RawIndex = dict[str, list[str]]


def raw_index(
    msg: email.message.Message, *, likely: Callable[[], str | None] | None = None
) -> RawIndex:
    """Lower-cased name -> unfolded header texts (8-bit bytes decoded), built once.

    `likely` gives the body's charset, tried for raw 8-bit bytes that are neither utf-8 nor
    Western text (a KOI8-R subject is too short to guess from); asked only for such bytes,
    since reading a part's charset parameter costs more than the rest of this index.
    """
    index: RawIndex = {}
    for name, value in msg.raw_items():
        text = str(value)
        if not text.isascii():
            text = _raw_header_text(text, likely() if likely is not None else None)
        else:
            text = _FOLD.sub("", text).replace("\x00", "")
        index.setdefault(str(name).strip().lower(), []).append(text)
    return index


def first_raw(index: RawIndex, name: str) -> str:
    values = index.get(name)
    return values[0] if values else ""


def _raw_header_text(value: object, likely: str | None) -> str:
    """Undo the parser's surrogateescape: raw 8-bit bytes as utf-8, else as `charsets` says."""
    if not isinstance(value, str):
        value = str(value)
    text = value
    if not value.isascii():
        data = value.encode("ascii", "surrogateescape") if _has_surrogates(value) else None
        if data is not None:
            text = decode_bytes(data, None, [], "header", likely=likely)
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


def decoded_headers(index: RawIndex) -> dict[str, tuple[str, ...]]:
    return {k: tuple(decode_header_value(v).strip() for v in vs) for k, vs in index.items()}


def first_value(headers: dict[str, tuple[str, ...]], name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def clean_subject(subject: str) -> str:
    return _SUBJECT_WS.sub(" ", _CONTROL.sub(" ", subject)).strip()


def addresses(index: RawIndex, name: str) -> list[tuple[str, str]]:
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
        out.append((clean_subject(decode_header_value(display)), addr))
    if not out and name == "from":
        # Garbage From: keep whatever looks like an address.
        found = re.search(r"[^\s<>\"',;]+@[^\s<>\"',;]+", " ".join(values))
        if found:
            out.append(("", found.group(0).lower()))
    return out


def message_ids(value: str) -> tuple[str, ...]:
    """Message ids without brackets or whitespace; tolerant of junk, de-duplicated."""
    if not value:
        return ()
    value = value.replace("\x00", "")
    found = _MSGID_BRACKETED.findall(value)
    if not found:
        found = [tok for tok in re.split(r"[\s,]+", value) if tok]
    ids = (re.sub(r"\s+", "", i).strip("<>") for i in found)
    return tuple(dict.fromkeys(i for i in ids if i))


def return_path(index: RawIndex) -> str | None:
    values = index.get("return-path")
    if not values:
        return None
    value = values[0].strip()
    inner = re.search(r"<([^<>]*)>", value)
    addr = inner.group(1) if inner else value
    return re.sub(r"\s+", "", addr).lower()


def parse_date(value: str, defects: list[str]) -> datetime | None:
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
