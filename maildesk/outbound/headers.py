"""Header fields of outgoing mail, folded to RFC 5322's line limits (SPEC §10 "Headers").

Every line of a header we write is at most 78 octets where the content allows it and never
more than 998: a strict server refuses a longer line (`500 Line too long`), and one did, for
every mail of a ticket whose `References` had grown past 998 characters. Folding only ever
inserts CRLF before whitespace that is already there (unstructured text, phrases, id lists)
or splits encoded-words and RFC 2231 parameter sections, so a reader gets back exactly the
value we meant. The only token that cannot be split is a message id; ids too long to fit a
line are never written (they are the sender's, and no reader could use them anyway).

Values are first reduced to one line (`one_line`), so no customer text can start a header of
its own. Written by hand for the same reason as `compose`: the stdlib's header policy cost
~5 ms a mail.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence

CRLF = "\r\n"
SOFT_LIMIT = 78  # RFC 5322 §2.1.1: SHOULD
HARD_LIMIT = 998  # RFC 5322 §2.1.1: MUST
MAX_ID = 900  # longest message id written (with "References: <" ... ">" it stays < 998)
MAX_REFERENCES = 20  # RFC 5322 §3.6.4 allows trimming; the first id and the newest ones stay

_CTRL = re.compile(r"[\x00-\x1f\x7f]+")
_ASCII_SAFE = re.compile(r"^[\x20-\x7e]*$")
_ATOM_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_BAD_ID = re.compile(r"[\x00-\x20\x7f<>]")
_PREFIX = "=?utf-8?b?"
_WORD_OVERHEAD = len(_PREFIX) + 2  # "=?utf-8?b?" + "?="
_MAX_WORD = 75  # RFC 2047 §2


def one_line(text: str, limit: int = 900) -> str:
    """Header-safe text: control characters (CR/LF included) collapse to one space."""
    return _CTRL.sub(" ", text).strip()[:limit]


def fold(name: str, pieces: Sequence[str]) -> str:
    """`name: ` and the pieces, a line break inserted before a piece that would pass 78
    octets. Every piece but the first must start with whitespace (where a fold may go)."""
    lines: list[str] = []
    line = f"{name}:"
    for i, piece in enumerate(pieces):
        if i == 0:
            piece = " " + piece
        if i and _octets(line) + _octets(piece) > SOFT_LIMIT:
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    return CRLF.join(lines)


def _octets(text: str) -> int:
    return len(text.encode("utf-8")) if not text.isascii() else len(text)


def text_header(name: str, value: str) -> str:
    """An unstructured field (Subject): plain ASCII folded at its own spaces, anything else
    as RFC 2047 encoded-words (also ASCII that contains "=?", which a reader would decode)."""
    value = one_line(value)
    if _ASCII_SAFE.match(value) and "=?" not in value:
        return fold(name, re.split(r"(?<=\S)(?=\s)", value) if value else [""])
    return fold(name, _encoded_pieces(value, SOFT_LIMIT - len(name) - 2))


def _encoded_pieces(value: str, first_room: int) -> list[str]:
    """Encoded-words sized so the first fits after the field name and each later one on a
    continuation line; whitespace between encoded-words is dropped by readers, so the
    text comes back exactly."""
    words = list(encoded_words(value, first_room))
    return [words[0]] + [" " + w for w in words[1:]] if words else [""]


def encoded_words(value: str, first_room: int) -> Iterator[str]:
    """RFC 2047 base64 words of UTF-8 pieces that never split a character: the first at most
    `first_room` octets long, the others at most 75 (and within 78 after a space)."""
    first, rest = _bytes_for(first_room), _bytes_for(SOFT_LIMIT - 1)
    piece = bytearray()
    size = first
    for char in value:
        b = char.encode("utf-8")
        if piece and len(piece) + len(b) > size:
            yield _word(piece)
            piece.clear()
            size = rest
        piece += b
    if piece:
        yield _word(piece)


def _word(data: bytes | bytearray) -> str:
    return f"{_PREFIX}{base64.b64encode(data).decode('ascii')}?="


def _bytes_for(room: int) -> int:
    """UTF-8 bytes whose base64 fits a word of `room` characters (at least one character)."""
    return max(4, (min(room, _MAX_WORD) - _WORD_OVERHEAD) // 4 * 3)


def _phrase_pieces(display: str, room: int) -> list[str]:
    """A display name as phrase pieces: atoms stay readable; a run of other words (accents,
    commas, dots) becomes encoded-words, so a reader gets the name back exactly. Runs are
    kept whole where they fit one word: between two encoded-words a reader drops the space,
    and some (Python's address parser) then add one back."""
    pieces: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            first = room if not pieces else SOFT_LIMIT - 1
            words = _encoded_pieces(" ".join(run), first)
            pieces.extend([(" " if pieces else "") + words[0], *words[1:]])
            run.clear()

    for word in display.split():
        if _ATOM_PHRASE.match(word) and "=?" not in word:
            flush()
            pieces.append((" " if pieces else "") + word)
        else:
            run.append(word)
    flush()
    return pieces


def address_pieces(display: str, address: str, room: int) -> list[str]:
    """`Name <address>` (or the bare address) as foldable pieces."""
    address = one_line(address)
    display = " ".join(one_line(display).split())  # runs of spaces in a name are typos
    if not display:
        return [address]
    return [*_phrase_pieces(display, room), f" <{address}>"]


def address_header(name: str, addresses: Iterable[tuple[str, str]]) -> str:
    """From/To/Cc/Reply-To: (display name, address) pairs, comma separated, folded."""
    pieces: list[str] = []
    for display, address in addresses:
        room = SOFT_LIMIT - len(name) - 2 if not pieces else SOFT_LIMIT - 1
        part = address_pieces(display, address, room)
        if pieces:
            pieces[-1] += ","
            part[0] = " " + part[0]
        pieces += part
    return fold(name, pieces or [""])


def valid_id(message_id: str | None) -> bool:
    """An id we can write between angle brackets on a line of its own."""
    return (
        bool(message_id)
        and len(message_id or "") <= MAX_ID
        and not _BAD_ID.search(message_id or "")
    )


def pick_references(ids: Iterable[str | None], limit: int = MAX_REFERENCES) -> list[str]:
    """RFC 5322 §3.6.4 trimmed: the thread's first id and the newest ones, `limit` in all,
    duplicates and unwritable ids dropped (oldest first, as in the header)."""
    seen: set[str] = set()
    kept: list[str] = []
    for i in ids:
        if i and valid_id(i) and i not in seen:
            seen.add(i)
            kept.append(i)
    if len(kept) <= limit:
        return kept
    return kept[:1] + kept[len(kept) - (limit - 1) :]


def ids_header(name: str, ids: Sequence[str]) -> str:
    """References / In-Reply-To: `<id>` tokens, folded between ids."""
    tokens = [f"<{i}>" for i in ids]
    return fold(name, [tokens[0], *(" " + t for t in tokens[1:])])


def params_header(name: str, value: str, params: Sequence[tuple[str, str]]) -> str:
    """Content-Type / Content-Disposition with parameters; a value that needs encoding or
    would not fit a line is written as RFC 2231 sections (`filename*0*=utf-8''...`)."""
    pieces = [value]
    for key, raw in params:
        pieces[-1] += ";"
        quoted = f'{key}="{raw}"'
        if _ASCII_SAFE.match(raw) and not re.search(r'["\\]', raw) and len(quoted) < 70:
            pieces.append(" " + quoted)
            continue
        sections = list(_pct_sections(urllib.parse.quote(raw, safe="._-"), 60))
        if len(sections) == 1:
            pieces.append(f" {key}*=utf-8''{sections[0]}")
            continue
        for n, part in enumerate(sections):
            if n:
                pieces[-1] += ";"
            charset = "utf-8''" if n == 0 else ""
            pieces.append(f" {key}*{n}*={charset}{part}")
    return fold(name, pieces)


def _pct_sections(encoded: str, size: int) -> Iterator[str]:
    """Cut a percent-encoded string into pieces of about `size`, never inside a `%XX`."""
    start = 0
    while start < len(encoded):
        end = min(start + size, len(encoded))
        while end < len(encoded) and "%" in encoded[end - 2 : end]:
            end -= 1
        yield encoded[start:end]
        start = end
