"""Which files ride in which mail, under a cap on the files' total per mail.

Agents' mail carries the customer's files as real attachments, but mail servers refuse big
messages (often at 10–25 MB, and base64 adds a third on the wire), so every mail to an agent
holds at most `limits.attachments_per_mail_bytes` of files, counted by their own sizes. A
notification keeps, in order, each file that still fits (`fit`) and lists the rest; a
`#attachments` answer spreads all of them over as many mails as needed (`split`), and a file
bigger than the cap on its own is never mailed (it is named, with how to get it).

Pure: sizes in, choices out; nothing here reads bytes, a database or a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

__all__ = ["fit", "split"]


class Sized(Protocol):
    @property
    def size(self) -> int: ...


F = TypeVar("F", bound=Sized)


def fit(files: Sequence[F], cap: int) -> tuple[list[F], list[F]]:
    """(kept, left out): in order, every file that still fits under `cap` is kept, so one
    big file does not push out the small screenshots that come after it."""
    kept: list[F] = []
    left: list[F] = []
    room = cap
    for f in files:
        if f.size <= room:
            kept.append(f)
            room -= f.size
        else:
            left.append(f)
    return kept, left


def split(files: Sequence[F], cap: int) -> tuple[list[list[F]], list[F]]:
    """(mails, too big): the files in order, a new mail whenever the next one would not fit;
    a file over `cap` by itself goes to `too big`. Every file lands in exactly one place,
    and no mail's total exceeds `cap`."""
    mails: list[list[F]] = []
    too_big: list[F] = []
    current: list[F] = []
    total = 0
    for f in files:
        if f.size > cap:
            too_big.append(f)
            continue
        if current and total + f.size > cap:
            mails.append(current)
            current, total = [], 0
        current.append(f)
        total += f.size
    if current:
        mails.append(current)
    return mails, too_big
