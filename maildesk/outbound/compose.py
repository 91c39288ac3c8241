"""Build the RFC 5322 bytes of one outgoing mail (headers that keep robots out of loops)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

_CTRL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str, limit: int = 900) -> str:
    """Header-safe text: control characters (CR/LF included) collapse to one space."""
    return _CTRL.sub(" ", text).strip()[:limit]


def _ids(ids: Iterable[str]) -> str:
    return " ".join(f"<{i}>" for i in ids if i and not _CTRL.search(i))


def compose(
    *,
    from_addr: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    loop_address: str,
    auto_submitted: str | None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    reply_to: str | None = None,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """One mail as bytes. `auto_submitted` None means written by a person (a relayed answer)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((one_line(from_name), from_addr)) if from_name else from_addr
    msg["To"] = to
    msg["Subject"] = one_line(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = _ids([in_reply_to])
    refs = _ids(references[-20:])
    if refs:
        msg["References"] = refs
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["X-Loop"] = loop_address
    if auto_submitted:
        msg["Auto-Submitted"] = auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "auto_reply" if auto_submitted == "auto-replied" else "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    for filename, ctype, data in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=one_line(filename, 200),
        )
    return msg.as_bytes()
