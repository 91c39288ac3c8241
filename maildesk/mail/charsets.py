"""Bytes -> str for bodies and raw 8-bit headers: the declared charset, then fallbacks.

Never raises: every failure is a defect string the caller records on the `Inbound`.
"""

from __future__ import annotations

import codecs


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
