"""DATA into a spool file instead of a list of lines (SPEC §9 memory, issue 10 finding 4).

aiosmtpd keeps each DATA line as its own bytearray and joins them at the end: a 25 MiB text
mail held ~60 MiB of line objects plus the joined copy, per client, all at once in the event
loop. Here each line goes (dot-unstuffed) into a `SpooledTemporaryFile` that stays in memory
up to `limits.large_message_bytes` and moves to disk past it, so mails waiting for their turn
in the pipeline wait on disk. The final-delivery prefix (Return-Path) is written first, so
the handler reads the message as the pipeline wants it with one read.

The protocol answers are aiosmtpd's own (354, 503, 501, 552 and 500 past the limits, 250 by
default), so the mixin changes where the bytes live, not what the client sees.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import IO

from aiosmtpd.smtp import MISSING, Envelope, syntax

SPOOL_ATTR = "maildesk_spool"


def spool_of(envelope: Envelope) -> IO[bytes] | None:
    """The spooled message of an envelope (positioned at 0), or None."""
    return getattr(envelope, SPOOL_ATTR, None)


class SpooledData:
    """Mixin for aiosmtpd's SMTP/LMTP: `smtp_DATA` writing to a spool file."""

    envelope: Envelope | None
    data_size_limit: int | None
    line_length_limit: int
    spool_bytes = 1 << 20  # set per listener from limits.large_message_bytes
    _reader: asyncio.StreamReader

    def spool_prefix(self) -> bytes:
        """Bytes written before the message (the final delivery agent's trace fields)."""
        return b""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():  # type: ignore[attr-defined]
            return
        if await self.check_auth_needed("DATA"):  # type: ignore[attr-defined]
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")  # type: ignore[attr-defined]
            return
        if arg:
            await self.push("501 Syntax: DATA")  # type: ignore[attr-defined]
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")  # type: ignore[attr-defined]
        with tempfile.SpooledTemporaryFile(self.spool_bytes, prefix="maildesk-data-") as spool:
            refusal = await self._receive(spool)
            if refusal is not None:
                self._set_post_data_state()  # type: ignore[attr-defined]
                await self.push(refusal)  # type: ignore[attr-defined]
                return
            spool.seek(0)
            setattr(self.envelope, SPOOL_ATTR, spool)
            status = await self._call_handler_hook("DATA")  # type: ignore[attr-defined]
        self._set_post_data_state()  # type: ignore[attr-defined]
        await self.push("250 OK" if status is MISSING else status)  # type: ignore[attr-defined]

    async def _receive(self, spool: IO[bytes]) -> str | None:
        """Read DATA up to the lone dot into `spool`; an aiosmtpd refusal line, or None."""
        spool.write(self.spool_prefix())
        size, refusal = 0, None
        limit = self.data_size_limit
        while True:
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                # A line over the stream's limit: keep reading to the end, then refuse.
                refusal = refusal or "500 Line too long (see RFC5321 4.5.3.1.6)"
                await self._reader.read(exc.consumed)
                continue
            if line == b".\r\n":
                return refusal
            size += len(line)
            if refusal is None and limit and size > limit:
                refusal = "552 Error: Too much mail data"
            if refusal is None:
                spool.write(line[1:] if line.startswith(b".") else line)
