"""Plain-text bodies as `format=flowed` (RFC 3676): even lines in every mail client.

Templates write each paragraph as one line; once names, dates and subjects are filled in, a
hand-wrapped paragraph runs ragged. Here every line longer than 78 characters is cut at
spaces into lines of at most 72, each ending in the space that marks a soft break: Apple
Mail, Thunderbird and the phone clients rejoin them to the reader's width, Outlook and
Gmail show them as sent, evenly wrapped either way. Short lines, blank lines and the line
structure of what an agent or a customer wrote are kept as they are (only split, never
joined). A word longer than a line (a URL) stays whole.

Pure text in, text out; `unflow` is the reader's side, for tests and for quoting.
"""

from __future__ import annotations

import re

WIDTH = 72  # RFC 3676 §4.2: lines of 66-72 characters are easy to read
_LIMIT = 78  # lines up to this length are sent as they are
_BREAKS = re.compile(r"\S+\s*|\s+")


def _stuff(line: str) -> str:
    """RFC 3676 §4.4: a line starting with a space, ">" or "From " gets one more space."""
    return " " + line if line.startswith((" ", ">", "From ")) else line


def _wrap(line: str) -> list[str]:
    """Cut one long line after spaces; every piece but the last ends with a space."""
    out: list[str] = []
    current = ""
    for token in _BREAKS.findall(line):
        full = len(current) + len(token.rstrip()) > WIDTH
        if full and current.endswith(" ") and current != "-- ":  # "-- " ends no soft line
            out.append(current)
            current = ""
        current += token
    out.append(current.rstrip(" "))
    return out


def flow(text: str) -> str:
    """The text as format=flowed lines (newline-separated, no trailing newline added)."""
    lines: list[str] = []
    for raw in text.split("\n"):
        hard = raw.rstrip(" ")  # a hard line must not end in a space (RFC 3676 §4.2)
        if len(hard) <= _LIMIT:
            lines.append(_stuff(hard))
        else:
            lines += [_stuff(piece) for piece in _wrap(hard)]
    return "\n".join(lines)


def unflow(text: str) -> str:
    """What a format=flowed reader shows: stuffing removed, soft breaks joined (DelSp=no)."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]
        if joining:
            out[-1] += line
        else:
            out.append(line)
        joining = line.endswith(" ") and line != "-- "
    return "\n".join(out)
