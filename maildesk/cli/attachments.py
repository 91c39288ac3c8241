"""`maildesk attachments list TICKET | get TICKET [ID|NAME] [-o DIR]`.

A file name comes from a customer: it is made a plain name before it touches the disk
(no directories, no `..`, no hidden file, no control or bidi characters), written only
inside DIR, never over an existing file or through a symbolic link.
"""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata
from pathlib import Path

from maildesk.cli.common import EX_OK, open_app
from maildesk.cli.output import dump_json, safe_line, table
from maildesk.mail.mime import safe_filename
from maildesk.stored import StoredAttachment, blob, ticket_attachments

EX_NOT_FOUND = 1
#: Names tried for one file before giving up: "name.pdf", "name (2).pdf", ...
MAX_COPIES = 1000


def _no_ticket(number: int) -> int:
    print(f"maildesk: no ticket #{number}", file=sys.stderr)
    return EX_NOT_FOUND


def cmd_list(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        found = ticket_attachments(app, args.ticket)
        tz = app.calendar.tz
    if found is None:
        return _no_ticket(args.ticket)
    if args.json:
        dump_json([{**a.__dict__, "at": a.at.astimezone(tz).isoformat()} for a in found])
        return EX_OK
    when = [f"{a.at.astimezone(tz):%Y-%m-%d %H:%M}" for a in found]
    rows = [
        [a.id, at, a.sender, a.size, a.content_type, a.filename]
        for a, at in zip(found, when, strict=True)
    ]
    table(["id", "date", "from", "bytes", "type", "name"], rows, right=(0, 3))
    print(f"({len(found)} attachment{'s' if len(found) != 1 else ''} on ticket #{args.ticket})")
    return EX_OK


def _chosen(found: list[StoredAttachment], which: str | None) -> list[StoredAttachment]:
    """All, the one with this id, or those with this name (exact, then case-insensitive)."""
    if which is None:
        return found
    if which.isdigit():
        return [a for a in found if a.id == int(which)]
    exact = [a for a in found if a.filename == which]
    return exact or [a for a in found if a.filename.casefold() == which.casefold()]


def disk_name(name: str) -> str:
    """A customer's file name as a plain file name: `safe_filename`'s basename, also
    without the format characters (bidi overrides) that make a name read backwards."""
    plain = "".join(c for c in safe_filename(name) if unicodedata.category(c) not in ("Cc", "Cf"))
    return plain.strip() or "attachment.bin"


def write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` as a new file in `folder`: "name", else "name (2)", ...; O_EXCL and
    O_NOFOLLOW, so neither an existing file nor a planted symlink is ever written through."""
    stem, dot, ext = name.rpartition(".") if "." in name.strip(".") else (name, "", "")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for n in range(1, MAX_COPIES + 1):
        candidate = name if n == 1 else f"{stem} ({n}){dot}{ext}"
        if os.path.basename(candidate) != candidate or candidate in (".", ".."):
            raise ValueError(f"{candidate!r} is not a plain file name")  # disk_name made it one
        target = folder / candidate
        try:
            fd = os.open(target, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return target
    raise FileExistsError(f"{folder / name} and {MAX_COPIES - 1} numbered copies exist")


def cmd_get(args: argparse.Namespace) -> int:
    """Write one, some (by name) or all of a ticket's attachments into DIR (default: .)."""
    folder = Path(args.output or ".")
    with open_app(args) as app:
        found = ticket_attachments(app, args.ticket)
        if found is None:
            return _no_ticket(args.ticket)
        chosen = _chosen(found, args.which)
        if not chosen:
            what = f"attachment {args.which}" if args.which else "attachments"
            print(
                f"maildesk: ticket #{args.ticket} has no {safe_line(what)} "
                f"(see: maildesk attachments list {args.ticket})",
                file=sys.stderr,
            )
            return EX_NOT_FOUND
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for a in chosen:
                path = write_new(folder, disk_name(a.filename), blob(app, a.sha256))
                print(safe_line(f"{path}  ({a.size} bytes, attachment {a.id})"))
        except OSError as exc:
            print(f"maildesk: cannot write into {folder}: {exc.strerror or exc}", file=sys.stderr)
            return EX_NOT_FOUND
    return EX_OK
