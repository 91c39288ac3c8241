"""Bytes -> str for bodies and raw 8-bit headers: the declared charset, then fallbacks.

The fast path is unchanged from the first version: a declared charset that decodes strictly
wins, then utf-8, then windows-1252 for undeclared Western text (Mexican customers' Outlook
and old webmail write cp1252 without saying so). Only bytes that cannot be Western text (they
do not decode as cp1252, or they hold runs of three or more 8-bit bytes, which Spanish,
Portuguese or French text almost never has: an accented letter sits between ASCII letters)
go to charset-normalizer, which told KOI8-R, GB2312/GB18030, Shift-JIS, EUC-KR and cp1251
apart in ~0.3 ms each here. On Western text it is the wrong tool (it read Spanish latin-1 as
cp1250 and Portuguese "configurações" as "configuraçőes"), and it costs ~1-35 ms, so it
never sees text that already decodes as plausible cp1252.

Never raises: every fallback and every guess is a defect string the caller records.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_NON_WESTERN_RUN = re.compile(rb"[\x80-\xff]{3,}")
_ISO2022_ESCAPE = re.compile(rb"\x1b[$(][@BJ]")  # ISO-2022-JP: 7-bit, so "valid utf-8"
#: Guesses in this family are not trusted over cp1252 (see the module docstring).
_WESTERN = frozenset(
    ("cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "mac_roman", "cp850", "cp437")
)
_GUESS_BYTES = 64 * 1024  # charset-normalizer reads samples anyway; bound its input
_MIN_GUESS_8BIT = 4  # fewer 8-bit bytes say nothing about a charset: latin-1 keeps them
_ASCII = bytes(range(128))


def decode_bytes(
    data: bytes, declared: str | None, defects: list[str], where: str, *, likely: str | None = None
) -> str:
    """Declared charset if it decodes strictly, else utf-8, else a Western or guessed charset.

    `likely` is a charset the same message used elsewhere (the body's, for raw 8-bit header
    bytes): tried before guessing, since a 20-byte subject is too short to guess from.
    """
    tried: str | None = None
    if declared:
        text, tried = _declared(data, declared, defects, where)
        if text is not None:
            return text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if tried:
            defects.append(f"{where}: declared {tried!r} failed, used utf-8")
        if _ISO2022_ESCAPE.search(data):
            return _iso2022(data, text, defects, where)
        return text
    return _undeclared(data, tried, defects, where, likely)


def _declared(
    data: bytes, declared: str, defects: list[str], where: str
) -> tuple[str | None, str | None]:
    """(text, None) when the declared charset decodes; (None, name) when it was tried."""
    name = declared.strip().strip('"').lower()
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        defects.append(f"{where}: unknown charset {name!r}")
        return None, None
    try:
        return data.decode(codec), None
    except Exception:  # UnicodeDecodeError, and exotic codecs may raise anything
        return None, name


def _undeclared(
    data: bytes, tried: str | None, defects: list[str], where: str, likely: str | None
) -> str:
    """Not utf-8: cp1252 when it reads as Western text, else the likely or guessed charset."""
    why = f"declared {tried!r} failed" if tried else "undeclared 8-bit text"
    try:
        western: str | None = data.decode("windows-1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and not _NON_WESTERN_RUN.search(data):
        defects.append(f"{where}: {why}, used windows-1252")
        return western
    for candidate, verb in ((likely, "used"), (_guess(data), "guessed")):
        if candidate and _codec(candidate) not in _WESTERN:
            try:
                text = data.decode(candidate)
            except Exception:
                continue
            defects.append(f"{where}: {why}, {verb} {_codec(candidate)}")
            return text
    if western is not None:
        defects.append(f"{where}: {why}, used windows-1252")
        return western
    defects.append(f"{where}: no charset fitted, used latin-1")
    return data.decode("latin-1")


def _guess(data: bytes) -> str | None:
    if len(data[:_GUESS_BYTES].translate(None, _ASCII)) < _MIN_GUESS_8BIT:
        return None
    try:
        best = from_bytes(data[:_GUESS_BYTES]).best()
    except Exception:  # a guesser must never stop a mail
        return None
    return best.encoding if best is not None else None


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _iso2022(data: bytes, ascii_text: str, defects: list[str], where: str) -> str:
    """7-bit Japanese mail with its ESC sequences: utf-8 "decodes" it into garbage."""
    try:
        text = data.decode("iso2022_jp_ext")
    except UnicodeDecodeError:
        return ascii_text
    defects.append(f"{where}: undeclared ISO-2022-JP escapes, used iso2022_jp")
    return text
