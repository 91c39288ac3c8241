"""A minimal TNEF (winmail.dat) writer, so the tests have Outlook's format without a copy of one.

Written from the format as [MS-OXTNEF] describes it: a signature, a key, then attributes,
each `level (1 byte) | id (type << 16 | name, 4) | length (4) | data | checksum (2)`, the
checksum being the sum of the data bytes mod 65536. MAPI property blocks (attMAPIProps,
attAttachment) hold `count | (type, id, [value count], length, data padded to 4)...`.

`python -m tests.mail.tnef_writer` rewrites tests/corpus/outlook_winmail_dat.eml; a test
checks that the committed file is what this module writes.
"""

from __future__ import annotations

import struct
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from compressed_rtf import compress

SIGNATURE = 0x223E9F78
LVL_MESSAGE, LVL_ATTACHMENT = 1, 2
# attribute (name, type): types atpString 1, atpText 2, atpByte 6, atpWord 7, atpDword 8
ATT_TNEF_VERSION = (0x9006, 8)
ATT_OEM_CODEPAGE = (0x9007, 6)
ATT_MESSAGE_CLASS = (0x8008, 7)
ATT_BODY = (0x800C, 2)
ATT_MAPI_PROPS = (0x9003, 6)
ATT_ATTACH_REND_DATA = (0x9002, 6)
ATT_ATTACH_TITLE = (0x8010, 1)
ATT_ATTACH_DATA = (0x800F, 6)
ATT_ATTACHMENT = (0x9005, 6)
# MAPI property (id, type)
PR_BODY_HTML = (0x1013, 0x0102)
PR_RTF_COMPRESSED = (0x1009, 0x0102)
PR_INTERNET_CPID = (0x3FDE, 0x0003)
PR_ATTACH_LONG_FILENAME = (0x3707, 0x001F)


def attribute(level: int, att: tuple[int, int], data: bytes) -> bytes:
    name, kind = att
    head = struct.pack("<BII", level, (kind << 16) | name, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def mapi_props(*props: tuple[tuple[int, int], bytes | int]) -> bytes:
    out = [struct.pack("<I", len(props))]
    for (prop_id, kind), value in props:
        out.append(struct.pack("<HH", kind, prop_id))
        if isinstance(value, int):
            out.append(struct.pack("<i", value))
            continue
        pad = b"\x00" * (-len(value) % 4)
        out.append(struct.pack("<II", 1, len(value)) + value + pad)
    return b"".join(out)


def write_tnef(
    *,
    body: str | None = None,
    html: str | None = None,
    rtf: str | None = None,
    files: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """A winmail.dat with the given body forms and attached files (long names in UTF-16)."""
    out = [struct.pack("<IH", SIGNATURE, 0x4E21)]
    out.append(attribute(LVL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000)))
    out.append(attribute(LVL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", 1252, 0)))
    out.append(attribute(LVL_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00"))
    if body is not None:
        out.append(attribute(LVL_MESSAGE, ATT_BODY, body.encode("cp1252") + b"\x00"))
    # 1252 as a Spanish Outlook writes it; tnefparse decodes attBody with this codepage
    props: list[tuple[tuple[int, int], bytes | int]] = [(PR_INTERNET_CPID, 1252)]
    if html is not None:
        props.append((PR_BODY_HTML, html.encode("utf-8")))
    if rtf is not None:
        props.append((PR_RTF_COMPRESSED, compress(rtf.encode("cp1252"), compressed=True)))
    out.append(attribute(LVL_MESSAGE, ATT_MAPI_PROPS, mapi_props(*props)))
    for name, data in files:
        short = name.encode("ascii", "replace")[:12] + b"\x00"
        long_name = (name + "\x00").encode("utf-16-le")
        out.append(attribute(LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, b"\x01\x00" + b"\xff" * 12))
        out.append(attribute(LVL_ATTACHMENT, ATT_ATTACH_TITLE, short))
        out.append(attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, data))
        props_att = mapi_props((PR_ATTACH_LONG_FILENAME, long_name))
        out.append(attribute(LVL_ATTACHMENT, ATT_ATTACHMENT, props_att))
    return b"".join(out)


CORPUS_FILE = Path(__file__).resolve().parents[1] / "corpus" / "outlook_winmail_dat.eml"
LOG = b"2026-11-30 09:12:44 ERROR Exportacion fallida: hoja 'Ventas' sin permisos\r\n" * 3
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def corpus_mail() -> bytes:
    """An Outlook "rich text" mail: only winmail.dat, with the body and two files inside."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = '"Hernández, Rosa" <rosa.hernandez@acme.example>'
    msg["To"] = "Soporte BITAM <soporte@example.test>"
    msg["Subject"] = "Error al exportar reporte de ventas"
    msg["Date"] = "Mon, 30 Nov 2026 09:20:11 -0600"
    msg["Message-ID"] = "<SN6PR01MB4444@SN6PR01MB4444.namprd01.prod.outlook.example>"
    msg["X-MS-Has-Attach"] = "yes"
    msg["X-MS-TNEF-Correlator"] = "<SN6PR01MB4444@SN6PR01MB4444.namprd01.prod.outlook.example>"
    dat = write_tnef(
        body="Buenos días,\r\n\r\nAl exportar el reporte de ventas aparece un error. "
        "Adjunto el log y una captura.\r\n\r\nSaludos,\r\nRosa Hernández",
        rtf="{\\rtf1\\ansi\\ansicpg1252 Buenos d\\'edas,\\par Al exportar aparece un error.}",
        files=(("exportación ventas.log", LOG), ("captura de pantalla.png", PNG)),
    )
    msg.set_content(dat, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


if __name__ == "__main__":
    CORPUS_FILE.write_bytes(corpus_mail())
    print(f"wrote {CORPUS_FILE}")
