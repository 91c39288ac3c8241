"""Files a customer sends, made here: a real PNG (screenshot), a real PDF (an invoice), and
mail that carries them the way clients do (attached, or inline in an HTML body)."""

from __future__ import annotations

import random
import struct
import zlib
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tests.helpers import NOW


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A valid RGB PNG of noise from `seed` (two screenshots differ; it does not compress,
    so its size is about width × height × 3 bytes)."""
    noise = random.Random(seed)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + noise.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def pdf(text: str = "Factura 1234", pad: int = 0) -> bytes:
    """A one-page PDF with `text` (and `pad` bytes of binary stream to make it bigger): the
    cross-reference offsets are computed, so readers open it."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if pad:
        blob = bytes((i * 31 + 7) % 256 for i in range(pad))
        objects.append(b"<< /Length %d >>\nstream\n" % pad + blob + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def mail_with_inline_image(
    image: bytes,
    sender: str = "ana@acme.example",
    subject: str = "Pantalla en blanco",
    message_id: str | None = None,
) -> bytes:
    """An HTML mail with a screenshot pasted into the body (multipart/related, cid:), as
    Outlook and Gmail send it: no filename, disposition inline."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "customerservice@support.example"
    m["Subject"] = subject
    m["Date"] = format_datetime(NOW)
    m["Message-ID"] = message_id or make_msgid(domain="acme.example")
    m.set_content("Hola, así se ve la pantalla:\n[imagen]\n")
    m.add_alternative('<p>Hola, así se ve la pantalla:</p><img src="cid:shot1@acme">', "html")
    html = m.get_payload()[1]
    html.add_related(image, "image", "png", cid="<shot1@acme>")
    return m.as_bytes()
