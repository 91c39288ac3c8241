"""How the command line prints: text made safe for a terminal, aligned tables, colour only
on a terminal, JSON and CSV for programs.

Customer text (subjects, bodies, file names, addresses) reaches the operator's terminal:
an ESC in a subject could move the cursor, retitle the window or hide lines (issue 10), and
a right-to-left override could make a file name read backwards. Everything printed as text
goes through `safe`, which shows such characters as visible escapes instead. JSON escapes
them too (losslessly); CSV keeps exact data, made safe only when it goes to a terminal.
Plain aligned text, not `rich`: tables here are one line per row for `grep` and `cut`, and
`rich` would cost ~0.1 s of import on every command for little more.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

# C0 controls but tab and newline, DEL, C1 controls (U+0085 NEL included), and the
# formatting characters that reorder or hide text (bidi overrides and isolates, zero-width).
_UNSAFE = (
    {c for c in range(0x20) if c not in (0x09, 0x0A)}
    | {0x7F}
    | set(range(0x80, 0xA0))
    | {0x061C, 0x200B, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF}
    | set(range(0x202A, 0x202F))
    | set(range(0x2066, 0x206A))
)
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _UNSAFE}
_ONE_LINE = {**_ESCAPES, 0x0A: " ", 0x09: " "}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _UNSAFE if c >= 0x7F}


def safe(text: object) -> str:
    """`text` with every character a terminal would act on shown as an escape (\\x1b);
    newlines and tabs stay."""
    return str(text).translate(_ESCAPES)


def safe_line(text: object) -> str:
    """`safe`, on one line: newlines and tabs become spaces (table cells, headers)."""
    return str(text).translate(_ONE_LINE)


def width(text: str) -> int:
    """Columns `text` takes on a terminal: wide East Asian characters take two, combining
    marks none (so a table with "Pérez" written decomposed still lines up)."""
    w = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def fit(text: str, cols: int) -> str:
    """`text` cut to `cols` terminal columns (with an ellipsis) and padded to exactly that."""
    if width(text) > cols:
        out, used = [], 0
        for ch in text:
            w = width(ch)
            if used + w > cols - 1:
                break
            out.append(ch)
            used += w
        text = "".join(out) + "…"
    return text + " " * (cols - width(text))


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour_on(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org) or the
    terminal is dumb."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34"}


def paint(text: str, style: str | None, *, on: bool) -> str:
    """`text` in a colour or weight (names in `_SGR`) when `on`, unchanged otherwise."""
    if not on or not style:
        return text
    return f"\033[{_SGR[style]}m{text}\033[0m"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    right: Sequence[int] = (),
    max_width: dict[int, int] | None = None,
    styles: Sequence[Sequence[str | None]] | None = None,
    out: TextIO | None = None,
) -> None:
    """Print an aligned table with a header row: one line per row whatever the text, so
    `grep`, `sort` and `cut -c` work on it. `right`: columns aligned right (numbers);
    `max_width`: columns cut to a width; `styles`: a colour per cell (terminal only)."""
    out = out or sys.stdout
    on = colour_on(out)
    cells = [[safe_line("" if v is None else v) for v in r] for r in rows]
    widths = [width(h) for h in headers]
    for r in cells:
        widths = [max(w, width(v)) for w, v in zip(widths, r, strict=True)]
    for col, limit in (max_width or {}).items():
        widths[col] = min(widths[col], max(limit, width(headers[col])))
    last = len(headers) - 1

    def line(values: Sequence[str], style: Sequence[str | None]) -> str:
        parts = []
        for i, (v, w) in enumerate(zip(values, widths, strict=True)):
            text = fit(v, w)
            if i in right:
                text = " " * (w - width(text.rstrip())) + text.rstrip()
            elif i == last:
                text = text.rstrip()
            parts.append(paint(text, style[i], on=on))
        return "  ".join(parts).rstrip()

    out.write(line([h.upper() for h in headers], ["bold"] * len(headers)) + "\n")
    for n, r in enumerate(cells):
        out.write(line(r, styles[n] if styles else [None] * len(headers)) + "\n")


def dump_json(data: Any, out: TextIO | None = None) -> None:
    """JSON as SPEC §6 defines it (UTF-8 text kept readable), with the characters a
    terminal would act on written as \\u escapes: the same data, nothing executed."""
    out = out or sys.stdout
    text = json.dumps(data, ensure_ascii=False, indent=2)
    out.write(text.translate(_JSON_ESCAPES) + "\n")


def dump_csv(headers: Sequence[str], rows: Iterable[Sequence[object]], out: TextIO | None = None):
    """CSV with a header row (RFC 4180 quoting) that parses back to the same values; made
    safe only when it is going to a terminal, where nobody parses it."""
    out = out or sys.stdout
    tty = is_terminal(out)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for r in rows:
        values = ["" if v is None else str(v) for v in r]
        writer.writerow([safe(v) for v in values] if tty else values)
    out.write(buf.getvalue())


def emit_bytes(data: bytes, path: str | None = None) -> None:
    """Stored bytes handed out exactly: to `path`, or to a pipe or file on stdout. On a
    terminal they are shown as safe text instead (a raw mail can hold escape sequences),
    and stderr says how to get the exact bytes."""
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(data)
        print(f"wrote {len(data)} bytes to {path}", file=sys.stderr)
        return
    if is_terminal(sys.stdout):
        sys.stdout.write(safe(data.decode("utf-8", "replace")))
        print(
            "\n(shown made safe for the terminal: -o FILE or a pipe gives the exact bytes)",
            file=sys.stderr,
        )
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
