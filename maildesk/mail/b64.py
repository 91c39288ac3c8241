"""Base64 bodies decoded the way `email` does, without its full-size intermediate copies.

`Message.get_payload(decode=True)` encodes the payload str to bytes, joins its lines into a
second copy and may retry with padding added (a third): for a 25 MiB attachment that is
~75 MiB on top of the mail. `decode_base64` takes the body as pieces (str pieces of the
payload and memoryview slices of the raw mail, see `maildesk.mail.elide`) and returns the
same bytes as `email._encoded_words.decode_b(b"".join(body.splitlines()))`:

- characters outside the base64 alphabet (line breaks, spaces, junk) are ignored;
- decoding stops at the first padding that completes a quantum, the rest is ignored;
- a final quantum of 2 or 3 characters is decoded as if padded;
- a final single character cannot be decoded: the body comes back undecoded, line breaks
  removed (bpo-27397).

The usual body (one contiguous run of clean lines) is decoded by one `binascii` call
reading straight from the raw mail; anything else is decoded in 1 MiB chunks.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator, Sequence

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_KEEP = ALPHABET + b"="
_JUNK = bytes(sorted(set(range(256)) - set(_KEEP)))  # deleted by bytes.translate
CHUNK = 1 << 20

Piece = str | bytes | memoryview


def decode_base64(pieces: Sequence[Piece]) -> bytes:
    """The body `pieces` (concatenated) decoded exactly as `email` decodes base64.

    str pieces must be ASCII, or surrogate-escaped bytes as the parser leaves them;
    anything else raises UnicodeEncodeError (the caller then lets `email` decode).
    """
    parts = [p.encode("ascii", "surrogateescape") if isinstance(p, str) else p for p in pieces]
    data_parts = [p for p in parts if _has_data(p)]
    if len(data_parts) == 1:
        # One piece carries every base64 character (the others are line breaks at most):
        # binascii skips the rest itself and allocates the result once.
        try:
            return binascii.a2b_base64(data_parts[0])
        except binascii.Error:
            pass  # unpadded or truncated end: the chunked path repairs it like `email`
    return _decode_chunked(parts)


def _has_data(piece: bytes | memoryview) -> bool:
    if isinstance(piece, memoryview) and piece.nbytes > CHUNK:
        return any(chunk.translate(None, _JUNK) for chunk in _chunks([piece]))
    return bool(bytes(piece).translate(None, _JUNK))


def _chunks(parts: Sequence[bytes | memoryview]) -> Iterator[bytes]:
    for part in parts:
        view = memoryview(part)
        for start in range(0, view.nbytes, CHUNK):
            yield bytes(view[start : start + CHUNK])


def _decode_chunked(parts: Sequence[bytes | memoryview]) -> bytes:
    """Whole quanta are decoded as they come; from the first `=` on, what is left is
    decoded in one call, since only binascii's own state machine settles padding."""
    out: list[bytes] = []
    carry = b""
    chunks = _chunks(parts)
    for chunk in chunks:
        kept = carry + chunk.translate(None, _JUNK)
        if b"=" in kept:
            tail = b"".join([kept, *(c.translate(None, _JUNK) for c in chunks)])
            for attempt in (tail, tail + b"=="):
                try:
                    out.append(binascii.a2b_base64(attempt))
                    return b"".join(out)
                except binascii.Error:
                    continue
            return _undecoded(parts)
        whole = len(kept) - len(kept) % 4
        out.append(binascii.a2b_base64(kept[:whole]))
        carry = kept[whole:]
    if len(carry) == 1:
        return _undecoded(parts)
    if carry:
        out.append(binascii.a2b_base64(carry + b"=="))
    return b"".join(out)


def _undecoded(parts: Sequence[bytes | memoryview]) -> bytes:
    """What `email` returns for a body it cannot decode: the text without line breaks."""
    return b"".join(chunk.translate(None, b"\r\n") for chunk in _chunks(parts))
