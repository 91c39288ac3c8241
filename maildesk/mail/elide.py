"""Feed the MIME parser big base64 runs as one-line placeholders, then put them back.

The stdlib feed parser keeps a leaf body as one str object per line and then joins them:
a 25 MiB attachment costs ~45 MiB of line objects plus the 25 MiB payload, on top of the
raw mail. Yet a line made only of base64 characters (`A-Z a-z 0-9 + / =`) never means
anything to the parser: it is not a header field (no colon, not a continuation), not a
boundary (no `--`) and not blank. So a long run of such lines can be replaced by one line
of the same kind — a placeholder — and the parser builds the same tree, with the
placeholder where the run's text would be. Base64 bodies are then decoded straight from
the raw bytes (`maildesk.mail.b64`); anything else that needs the text gets it back
(`restore`, `restore_tree`) exactly as the parser would have produced it.

A run stops before its last line break, which stays in the stream: the parser strips the
line break before a boundary, and must find the same one. Placeholders carry a random
nonce, so no mail can contain one by chance or on purpose.

Long *text* runs are elided too (a 25 MiB log pasted into a body cost ~50 MiB of line objects):
a run of non-blank lines that follows a blank line and holds no boundary line of the mail
(`--` + a declared boundary) is body text, preamble or epilogue, never a header block, so the
parser only collects it. Not in mails with a `message/*` part (a blank line there may open
an inner message's header block) or an RFC 2231 `boundary*` parameter (not read here).
"""

from __future__ import annotations

import email.message
import re
import secrets
from collections.abc import Iterator
from typing import Any

MIN_MESSAGE = 1 << 20  # smaller mails are parsed as they are (the scan is not free)
MIN_RUN = 1 << 16  # shorter runs are not worth a placeholder

# Whole lines of base64 characters, each ended by CRLF or LF. Runs of any length are
# matched and the short ones skipped: a `{n,}` minimum would rescan short runs n times.
# Possessive: a greedy `+` keeps a backtracking entry per line (~60 MiB for 25 MiB).
_RUN = re.compile(rb"(?<![^\n])(?:[A-Za-z0-9+/=]++(?:\r\n|\n))++")


class Elided:
    """The raw mail, with the spans its placeholders stand for."""

    def __init__(self, raw: bytes, min_run: int | None = None) -> None:
        min_run = MIN_RUN if min_run is None else min_run
        self.raw = raw
        self.view = memoryview(raw)
        self.nonce = secrets.token_hex(8)
        self._token = re.compile(f"Elided{self.nonce}N([0-9]+)E")
        self.spans: list[tuple[int, int]] = []
        for m in _RUN.finditer(raw):
            start, end = m.span()
            end -= 2 if raw[end - 2 : end] == b"\r\n" else 1
            if end - start >= min_run:
                self.spans.append((start, end))
        text = [t for t in _text_spans(raw, min_run) if not _overlaps(t, self.spans)]
        if text:
            self.spans = sorted(self.spans + text)

    def placeholder(self, index: int) -> bytes:
        return f"Elided{self.nonce}N{index}E".encode("ascii")

    def stream(self, size: int = 1 << 16) -> Iterator[bytes]:
        """The mail as the parser should see it, in slices of at most `size` bytes."""
        pos = 0
        for index, (start, end) in enumerate(self.spans):
            yield from _slices(self.view, pos, start, size)
            yield self.placeholder(index)
            pos = end
        yield from _slices(self.view, pos, len(self.raw), size)

    def holds(self, text: str) -> bool:
        """Does `text` (a payload, preamble or epilogue) contain a placeholder?"""
        return bool(self.spans) and self._token.search(text) is not None

    def pieces(self, text: str) -> list[str | memoryview]:
        """`text` as str pieces and raw-mail slices, in order: restored without copying."""
        out: list[str | memoryview] = []
        pos = 0
        for m in self._token.finditer(text):
            out.append(text[pos : m.start()])
            start, end = self.spans[int(m.group(1))]
            out.append(self.view[start:end])
            pos = m.end()
        out.append(text[pos:])
        return out

    def restore(self, text: str) -> str:
        """`text` as the parser would have produced it from the raw mail."""
        if not self.holds(text):
            return text
        # As BytesFeedParser decodes what it is fed: 8-bit bytes become surrogates.
        return "".join(
            p if isinstance(p, str) else p.tobytes().decode("ascii", "surrogateescape")
            for p in self.pieces(text)
        )

    def restore_tree(self, msg: email.message.Message) -> None:
        """Put the real text back into every payload, preamble and epilogue under `msg`."""
        for part in msg.walk():
            payload = raw_payload(part)
            if isinstance(payload, str) and self.holds(payload):
                part.set_payload(self.restore(payload))  # a str, no charset: stored as is
            for attr in ("preamble", "epilogue"):
                value = getattr(part, attr, None)
                if isinstance(value, str) and self.holds(value):
                    setattr(part, attr, self.restore(value))


def _slices(view: memoryview, start: int, end: int, size: int) -> Iterator[bytes]:
    for pos in range(start, end, size):
        yield view[pos : min(pos + size, end)].tobytes()


# Non-blank lines with no bare CR (the parser would split there): one match per region
# between blank lines. Possessive, as above.
_TEXT_REGION = re.compile(rb"(?<![^\n])(?:[^\r\n]++(?:\r\n|\n))++")
_BOUNDARY = re.compile(rb'(?i)boundary\s*=\s*(?:"([^"\r\n]*)"|([^\s;"]+))')
_UNSAFE = re.compile(rb"(?i)content-type:\s*message/|boundary\*")


def _text_spans(raw: bytes, min_run: int) -> list[tuple[int, int]]:
    """Spans of body text runs (see the module docstring); none when the mail is unsafe."""
    if _UNSAFE.search(raw):
        return []
    boundaries = {a or b for a, b in _BOUNDARY.findall(raw)}
    # Any line that starts like one of the mail's boundary lines ends a run.
    fence = (
        re.compile(b"(?m)^--(?:" + b"|".join(re.escape(b) for b in boundaries) + b")")
        if boundaries
        else None
    )
    spans = []
    for m in _TEXT_REGION.finditer(raw):
        start, end = m.span()
        if not _after_blank_line(raw, start):
            continue  # a header block (the mail's, or a part's after its boundary line)
        if fence is not None:
            cut = fence.search(raw, start, end)
            if cut is not None:
                end = cut.start()  # what follows a boundary line is a part's header block
        end -= 2 if raw[end - 2 : end] == b"\r\n" else 1
        if end - start >= min_run:
            spans.append((start, end))
    return spans


def _after_blank_line(raw: bytes, start: int) -> bool:
    return raw[max(start - 2, 0) : start] == b"\n\n" or raw[max(start - 3, 0) : start] == b"\n\r\n"


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


def raw_payload(part: email.message.Message) -> Any:
    """A part's payload as stored: neither decoded nor copied (`get_payload()` would do
    both, and turn raw 8-bit bytes into U+FFFD). The email package's own attribute, which
    its type stubs do not declare."""
    return part._payload  # type: ignore[attr-defined]
