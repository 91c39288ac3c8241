"""A deterministic mixed corpus, rendered once per system so every peer reads the same mail.

Why one model and three renderings: the only thing that differs between maildesk,
django-helpdesk and Roundup is the subject tag of a reply (`[BITAM #N]`, `[support-N]`,
`[issueN]`) and the ticket number N each system gives a topic; everything else (bytes,
Message-IDs, order) is identical, so throughput and outcome counts compare like with like.
"""

from __future__ import annotations

import mailbox
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

SUPPORT = "support@example.test"
SYSTEMS = ("maildesk", "helpdesk", "roundup")
TAGS = {
    "maildesk": "[BITAM #{n}]",
    "helpdesk": "[support-{n}]",
    "roundup": "[issue{n}]",
}
#: Which corpus kinds open a ticket in each system (the others thread, reject or ignore).
#: maildesk rejects unregistered senders (P3) and never tickets bounces/auto-replies (R2, R3).
OPENS_TICKET = {
    "maildesk": frozenset({"new"}),
    "helpdesk": frozenset({"new", "stranger", "bounce"}),
    "roundup": frozenset({"new"}),  # unknown senders refused; Auto-Submitted dropped
}
#: Share of each kind in the mix (the first message is always "new").
MIX = (
    ("new", 0.40),
    ("reply_tag", 0.18),
    ("reply_ref", 0.17),
    ("stranger", 0.10),
    ("autoreply", 0.09),
    ("bounce", 0.06),
)
CUSTOMERS = 50
CONTACTS_PER_CUSTOMER = 4
BASE_TIME = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)

_PROBLEMS = (
    "El reporte de ventas no carga",
    "Error 500 al exportar a Excel",
    "No puedo iniciar sesión en el portal",
    "La sincronización nocturna falló",
    "Lentitud en el tablero de inventario",
    "Printer on floor {i} is broken",
    "Dashboard shows wrong totals",
    "Licencia vencida en el servidor de pruebas",
    "Cannot attach files larger than 10 MB",
    "Consulta sobre la versión 5.2",
)
_LATIN1 = (
    "Buenos días, la facturación del módulo de compañía no se genera desde el lunes.\n"
    "¿Podrían revisarlo? Adjunto más detalles en cuanto los tenga.\n\nSaludos, Íñigo Muñoz\n"
)


@dataclass(frozen=True)
class Contact:
    email: str
    name: str
    customer: str
    username: str  # for trackers that key users by name (Roundup)


@dataclass(frozen=True)
class Mail:
    """One corpus message, independent of the system that will read it."""

    index: int
    kind: str  # new | reply_tag | reply_ref | stranger | autoreply | bounce
    sender: str
    sender_name: str
    message_id: str
    topic: int | None  # the topic this mail opens or refers to (index into Corpus.topics)
    latin1: bool
    attachment: bytes | None
    date: datetime


@dataclass
class Topic:
    subject: str
    opener: int  # index of the mail that opened it
    message_id: str
    sender: str
    customer: str | None  # None for unregistered senders


@dataclass
class Corpus:
    seed: int
    mails: list[Mail] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    #: system -> topic index -> the ticket number that system gives it
    numbers: dict[str, dict[int, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.mails:
            out[m.kind] = out.get(m.kind, 0) + 1
        out["latin1"] = sum(m.latin1 for m in self.mails)
        out["attachments"] = sum(m.attachment is not None for m in self.mails)
        return out

    def expected_maildesk(self) -> dict[str, int]:
        """What maildesk should do with this corpus: the yardstick for its outcome counts."""
        c = self.counts()
        return {
            "tickets": c.get("new", 0),
            "followups": c.get("reply_tag", 0) + c.get("reply_ref", 0),
            "acks": c.get("new", 0),
            "rejected": c.get("stranger", 0),
        }

    # -- rendering ---------------------------------------------------------------------
    def render(self, mail: Mail, system: str) -> bytes:
        """The bytes of one mail as `system` would receive it (only reply tags differ)."""
        return _render(self, mail, system)

    def rendered(self, system: str) -> list[bytes]:
        return [self.render(m, system) for m in self.mails]

    def write_eml_dir(self, system: str, folder: Path) -> None:
        """One .eml per mail, names sorting in corpus order (django-helpdesk's local box)."""
        folder.mkdir(parents=True, exist_ok=True)
        for m in self.mails:
            (folder / f"msg{m.index:06d}.eml").write_bytes(self.render(m, system))

    def write_mbox(self, system: str, path: Path) -> None:
        """One mbox in corpus order (Roundup's mailbox mode)."""
        box = mailbox.mbox(str(path))
        try:
            box.lock()
            for m in self.mails:
                box.add(self.render(m, system))
            box.flush()
        finally:
            box.unlock()
            box.close()

    def registry_toml(self) -> str:
        """maildesk's registry: every registered contact, grouped by customer."""
        lines = ['[[products]]\nname = "bFiskur"\nversions = ["5.0", "5.1", "5.2"]\n']
        by_customer: dict[str, list[Contact]] = {}
        for c in self.contacts:
            by_customer.setdefault(c.customer, []).append(c)
        for cid, contacts in by_customer.items():
            rows = ",\n".join(f'  {{ email = "{c.email}", name = "{c.name}" }}' for c in contacts)
            lines.append(
                f'[[customers]]\nid = "{cid}"\nname = "Cliente {cid}"\npolicy = "standard"\n'
                f"support_until = 2099-12-31\nmax_contacts = {len(contacts)}\n"
                f'products = [{{ name = "bFiskur", version = "5.2" }}]\n'
                f"contacts = [\n{rows}\n]\n"
            )
        return "\n".join(lines)


def _contacts() -> list[Contact]:
    out = []
    for c in range(CUSTOMERS):
        for k in range(CONTACTS_PER_CUSTOMER):
            n = c * CONTACTS_PER_CUSTOMER + k
            out.append(
                Contact(f"user{k}@customer{c}.example", f"Usuario {n}", f"cust{c}", f"contact{n}")
            )
    return out


def _pick_kind(rng: random.Random) -> str:
    r = rng.random()
    acc = 0.0
    for kind, share in MIX:
        acc += share
        if r < acc:
            return kind
    return MIX[-1][0]


def generate(n: int = 2000, seed: int = 1) -> Corpus:
    """n messages in a fixed order; the same (n, seed) always gives the same bytes."""
    rng = random.Random(seed)
    corpus = Corpus(seed=seed, contacts=_contacts())
    by_customer: dict[str, list[Contact]] = {}
    for c in corpus.contacts:
        by_customer.setdefault(c.customer, []).append(c)
    registered_topics: list[int] = []
    for i in range(n):
        kind = "new" if not registered_topics else _pick_kind(rng)
        mid = f"<bench.{seed}.{i}@mail.example>"
        date = BASE_TIME + timedelta(seconds=i)
        latin1 = rng.random() < 0.10
        attachment = rng.randbytes(rng.randint(8_000, 60_000)) if rng.random() < 0.08 else None
        topic: int | None = None
        if kind in ("new", "stranger"):
            if kind == "new":
                who = rng.choice(corpus.contacts)
                sender, name, customer = who.email, who.name, who.customer
            else:
                k = rng.randrange(300)
                sender, name, customer = f"visitor{k}@elsewhere.example", f"Visitor {k}", None
            subject = rng.choice(_PROBLEMS).format(i=i) + f" ({i})"
            topic = len(corpus.topics)
            corpus.topics.append(Topic(subject, i, mid, sender, customer))
            if customer is not None:
                registered_topics.append(topic)
        elif kind in ("reply_tag", "reply_ref", "autoreply"):
            topic = rng.choice(registered_topics)
            t = corpus.topics[topic]
            sender = t.sender
            if kind != "autoreply" and rng.random() < 0.2 and t.customer:
                sender = rng.choice(by_customer[t.customer]).email  # a colleague (R7)
            name = "Colleague"
        else:  # bounce of an earlier mail of ours
            topic = rng.choice(registered_topics)
            sender, name = "MAILER-DAEMON@mx.customer.example", "Mail Delivery System"
            latin1, attachment = False, None
        corpus.mails.append(Mail(i, kind, sender, name, mid, topic, latin1, attachment, date))
    for system in SYSTEMS:
        opens = OPENS_TICKET[system]
        numbers: dict[int, int] = {}
        count = 0
        for m in corpus.mails:
            if m.kind in opens:
                count += 1
                if m.kind != "bounce" and m.topic is not None:
                    numbers[m.topic] = count
        corpus.numbers[system] = numbers
    return corpus


def _body(mail: Mail, topic: Topic | None) -> str:
    if mail.kind == "new" or mail.kind == "stranger":
        return (
            f"Hola,\n\nDesde ayer tenemos este problema (mensaje {mail.index}). Pasos:\n"
            "1. Abrir el módulo\n2. Elegir el periodo\n3. Exportar\n\n"
            "Gracias de antemano.\n\n-- \nFirma del cliente\nTel. +52 81 5555 0000\n"
        )
    quoted = "> " + (topic.subject if topic else "") + "\n> texto anterior citado\n> más texto\n"
    return (
        f"Sigue sin funcionar; ahora aparece otro error (mensaje {mail.index}).\n\n"
        f"El {mail.date:%d/%m/%Y} escribió soporte:\n{quoted}\n-- \nFirma\n"
    )


def _render(corpus: Corpus, mail: Mail, system: str) -> bytes:
    topic = corpus.topics[mail.topic] if mail.topic is not None else None
    if mail.kind == "bounce":
        return _bounce(mail, topic)
    m = EmailMessage()
    m["From"] = f"{mail.sender_name} <{mail.sender}>"
    m["To"] = SUPPORT
    m["Date"] = format_datetime(mail.date)
    m["Message-ID"] = mail.message_id
    assert topic is not None
    tag = ""
    if mail.kind in ("reply_tag", "autoreply"):
        number = corpus.numbers[system].get(mail.topic or 0)
        tag = TAGS[system].format(n=number) + " " if number else ""
    if mail.kind in ("new", "stranger"):
        m["Subject"] = topic.subject
    elif mail.kind == "reply_tag":
        m["Subject"] = f"Re: {tag}{topic.subject}"
    elif mail.kind == "reply_ref":
        m["Subject"] = f"RE: {topic.subject}"
        m["In-Reply-To"] = topic.message_id
        m["References"] = topic.message_id
    else:  # autoreply: an out-of-office answer to our acknowledgement
        m["Subject"] = f"Automatic reply: {tag}{topic.subject}"
        m["Auto-Submitted"] = "auto-replied"
        m["X-Auto-Response-Suppress"] = "All"
    if mail.kind == "autoreply":
        m.set_content("Estoy fuera de la oficina hasta el lunes.\n")
    elif mail.latin1:
        m.set_content(_LATIN1, charset="iso-8859-1", cte="quoted-printable")
    else:
        m.set_content(_body(mail, topic))
    if mail.attachment is not None:
        m.add_attachment(
            mail.attachment, maintype="application", subtype="pdf", filename=f"doc{mail.index}.pdf"
        )
    return m.as_bytes()


def _bounce(mail: Mail, topic: Topic | None) -> bytes:
    """An RFC 3464 DSN (Postfix-shaped) for a mail we sent to a mistyped address."""
    assert topic is not None
    failed = "no-such-user@" + topic.sender.rpartition("@")[2]
    boundary = f"bounce-{mail.index}"
    text = (
        "Return-Path: <>\n"
        f"From: {mail.sender_name} <{mail.sender}>\n"
        f"To: {SUPPORT}\n"
        f"Date: {format_datetime(mail.date)}\n"
        f"Message-ID: {mail.message_id}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system.\n\n"
        f"<{failed}>: host mx.customer.example said: 550 5.1.1 unknown user\n\n"
        f"--{boundary}\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.customer.example\n\n"
        f"Final-Recipient: rfc822; {failed}\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 unknown user\n\n"
        f"--{boundary}\n"
        "Content-Type: text/rfc822-headers\n\n"
        f"From: {SUPPORT}\nTo: {failed}\nSubject: Re: {topic.subject}\n"
        f"Message-ID: <orig.{mail.index}@example.test>\n"
        f"In-Reply-To: {topic.message_id}\nReferences: {topic.message_id}\n\n"
        f"--{boundary}--\n"
    )
    return text.encode("utf-8")


def big_message(size: int, seed: int = 7) -> bytes:
    """One registered customer's mail carrying one attachment, `size` bytes in all (±1 KiB)."""
    rng = random.Random(seed)
    overhead = 2048
    # base64 grows 4/3, plus one newline per 76 characters.
    raw_len = int((size - overhead) * 3 / 4 * 76 / 77)
    m = EmailMessage()
    m["From"] = "Usuario 0 <user0@customer0.example>"
    m["To"] = SUPPORT
    m["Date"] = format_datetime(BASE_TIME)
    m["Message-ID"] = "<big.1@mail.example>"
    m["Subject"] = "Adjunto el volcado de la base de datos"
    m.set_content("Hola, adjunto el volcado que pidieron.\n")
    m.add_attachment(
        rng.randbytes(raw_len), maintype="application", subtype="octet-stream", filename="dump.bin"
    )
    return m.as_bytes()


def big_text_message(size: int, sender: str = "ana@acme.example", seed: int = 11) -> bytes:
    """A plain-text mail of `size` bytes (±1 KiB): a customer pasting a long log into the body
    (8-bit UTF-8 Spanish, the case where a parser holds the body as text, not as base64)."""
    rng = random.Random(seed)
    words = ["error", "conexión", "año", "tabla", "índice", "señal", "reporte", "usuario", "1024"]
    head = (
        f"From: Cliente <{sender}>\r\nTo: {SUPPORT}\r\n"
        f"Date: {format_datetime(BASE_TIME)}\r\n"
        f"Message-ID: <big-text.{seed}.{size}@acme.example>\r\n"
        "Subject: El registro completo del error\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    lines = []
    total = len(head)
    n = 0
    while total < size - 200:
        n += 1
        line = f"{n:08d} " + " ".join(rng.choice(words) for _ in range(10)) + "\r\n"
        data = line.encode()
        lines.append(data)
        total += len(data)
    return head + b"".join(lines)
