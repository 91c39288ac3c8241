"""What marks the start of quoted history, a forward, a signature or a phone footer, per line.

The vocabulary of the mail clients Mexican customers use (Gmail, Outlook desktop and web,
Apple Mail, Thunderbird, iOS and Android mail) in Spanish and English, then Portuguese,
French, German, Italian and Dutch (and the Nordic forms the public suites carry). Each
predicate looks at a few lines from a position and answers yes only on a complete marker:
an attribution needs its date or address *and* its verb, a header block two header lines, a
phone footer a short line without sentence punctuation. When unsure they answer no, and the
text is kept. All patterns are anchored, bounded and free of nested repetition (linear).
"""

from __future__ import annotations

import re

_VERBS = (
    r"wrote|sent|escribi[oó]|a\s+[ée]crit|schrieb|escreveu|ha\s+scritto|scrisse|schreef|"
    r"het\s+volgende\s+geschreven|skrev|napisa[lł]|đã\s+viết|kirjoitti|írta"
)
_VERB_SUFFIXES = (
    *("wrote", "sent", "escribió", "escribio", "écrit", "ecrit", "schrieb", "escreveu"),
    *("scritto", "scrisse", "schreef", "geschreven", "skrev", "napisał", "napisal", "viết"),
    *("kirjoitti", "írta"),
)
# "On <date>, <name> wrote:" and its translations; "---- Ana wrote ----" (Android).
_VERB_END = re.compile(rf"(?:{_VERBS})\s*:?\s*(?:-{{2,}})?\s*$", re.IGNORECASE)
# Gmail de/nl and date-first forms end with the address: "... schrieb Ana <a@b.example>:".
_ADDRESS_END = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+\s*[>)\]]*\s*:\s*$")
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:on|el|le|am|em|il|op|den|på|w\s+dniu|vào|\d|[-\"'(]|sent\s+from)",
    re.IGNORECASE,
)
_ANDROID = re.compile(rf"^\s*-{{2,}}\s*\S.{{0,80}}\s(?:{_VERBS})\s*-{{2,}}\s*$", re.IGNORECASE)
_WORD_START = re.compile(r"^\s*(?:on|el|le|am|em|il|op|den|på|w\s+dniu|vào)\s", re.IGNORECASE)
_MAX_ATTRIBUTION_LINES = 4
_MAX_ATTRIBUTION_CHARS = 400

_HEADER_NAMES = (
    r"from|de|von|da|van|fra|från|od|sent|date|to|subject|cc|bcc|reply-to|enviado(?:\s+el)?|"
    r"enviada\s+em|fecha|para|asunto|assunto|data|gesendet|datum|an|betreff|envoy[ée]|à|objet|"
    r"inviato|a|oggetto|verzonden|aan|onderwerp|sendt|til|emne|skickat|till|ämne|wysłano|temat"
)
_HEADER = re.compile(rf"^\s*\*?({_HEADER_NAMES})\s*:\*?\s*(?:\S|$)", re.IGNORECASE)
_FROM_OR_TO = frozenset(
    [
        "from",
        "de",
        "von",
        "da",
        "van",
        "fra",
        "från",
        "od",
        "to",
        "para",
        "an",
        "à",
        "a",
        "aan",
        "til",
        "till",
    ]
)
_INLINE_HEADERS = re.compile(rf"\b(?:{_HEADER_NAMES})\s*:", re.IGNORECASE)
_HEADER_WINDOW = 7

_MESSAGE_WORDS = (
    r"original\s+message|reply\s+message|mensaje\s+original|mensagem\s+original|"
    r"message\s+d'origine|urspr[üu]ngliche\s+nachricht|antwort\s+nachricht|"
    r"messaggio\s+originale|oorspronkelijk\s+bericht|oprindelig\s+meddelelse|"
    r"opprinnelig\s+melding|ursprungligt\s+meddelande|reply\s+above\s+this\s+line|"
    r"responda\s+por\s+encima\s+de\s+esta\s+l[ií]nea"
)
_SEPARATOR = re.compile(rf"^\s*[-_=*]{{2,}}\s*(?:{_MESSAGE_WORDS})\s*[-_=*]*\s*$", re.IGNORECASE)
_FORWARD = re.compile(
    r"^\s*[-_=*>]*\s*(?:forwarded\s+message|begin\s+forwarded\s+message|mensaje\s+reenviado|"
    r"(?:inicio|comienzo)\s+del\s+mensaje\s+reenviado|mensagem\s+encaminhada|"
    r"in[ií]cio\s+da\s+mensagem\s+reencaminhada|message\s+transf[ée]r[ée]|"
    r"d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]|weitergeleitete\s+nachricht|"
    r"anfang\s+der\s+weitergeleiteten\s+nachricht|messaggio\s+inoltrato|"
    r"inizio\s+messaggio\s+inoltrato|doorgestuurd\s+bericht|begin\s+doorgestuurd\s+bericht|"
    r"videresendt\s+meddelelse|vidarebefordrat\s+meddelande)\s*:?\s*[-_=*]*\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*(?:_{8,}|-{8,}|={8,})\s*$")
_LIST_FOOTER = re.compile(r"mailing\s+list|listinfo|unsubscribe|lista\s+de\s+correo", re.I)
_SIGNATURE = re.compile(r"^--\s?$")
_MAX_SIGNATURE_LINES = 10

_PHONE_FOOTER = re.compile(
    r"^\s*(?:(?:sent|enviado|enviada|envoy[ée]|inviato|gesendet|verzonden|verstuurd|sendt|"
    r"skickat|wysłane)\s+(?:from|desde|de|do|da|von|vanaf|met|fra|från|z)\s|"
    r"(?:get|obtener|descargue|descarga|baixe|obtenir|holen\s+sie\s+sich|scarica)\s+outlook\s|"
    r"von\s+meinem\s+\S+(?:\s+\S+)?\s+gesendet|"
    r"(?:envoy[ée]|enviado|inviato)\s+(?:de\s+mon|do\s+meu|dal\s+mio|da)\s)",
    re.IGNORECASE,
)
_MAX_FOOTER_WORDS = 9
_FOOTER_URL = re.compile(r"<[^<>\s]+>\s*$|\s\S+://\S+\s*$")


def is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def attribution_end(lines: list[str], i: int) -> int | None:
    """End index (exclusive) of an "On <date>, <name> wrote:" block starting at i, or None.

    Needs the verb or a trailing address, and a date digit or an address: "On Monday the
    server wrote:" stays text. Joins at most four lines, never across a blank line, and
    leaves a line of the customer's that merely precedes the attribution to the customer.
    """
    end = _attribution_end(lines, i)
    if end is None:
        return None
    for m in range(i + 1, end):
        if _WORD_START.match(lines[m]) and _attribution_end(lines, m) == end:
            return None  # the attribution starts below line i
    return end


def _attribution_end(lines: list[str], i: int) -> int | None:
    line = lines[i]
    if is_quoted(line) or not line.strip():
        return None
    if _ANDROID.match(line) or (_verb_end(line) and _has_address(line)):
        return i + 1  # "---- Ana wrote ----", "ana <a@b.example> wrote:"
    if not _ATTRIBUTION_START.match(line):
        return None
    joined = ""
    for j in range(i, min(i + _MAX_ATTRIBUTION_LINES, len(lines))):
        if not lines[j].strip() or (j > i and is_quoted(lines[j]) and not _is_wrap(lines[j])):
            return None
        joined = f"{joined} {lines[j].strip()}".strip()
        if len(joined) > _MAX_ATTRIBUTION_CHARS:
            return None
        verb = _verb_end(joined)
        if (verb or _address_end(joined)) and (
            _dated_or_addressed(joined) or (verb and _quote_below(lines, j + 1))
        ):
            return j + 1
    return None


def _quote_below(lines: list[str], i: int) -> bool:
    """`>` lines right below: "On Mon, Ana wrote:" needs no date to be an attribution."""
    for line in lines[i : i + 2]:
        if line.strip():
            return is_quoted(line)
    return False


def _is_wrap(line: str) -> bool:
    """ "> wrote:" is a wrapped attribution tail some clients produce, not a quote."""
    return _verb_end(line)


# The end-anchored patterns only ever look at a line's tail, and the address patterns only
# near an "@": searched over a whole 5 000-character log line they cost milliseconds.
_TAIL = 60


def _verb_end(text: str) -> bool:
    """Ends with "wrote", "escribió:", "a écrit :", "wrote ----"... (a suffix test, not a
    regex search: this runs on most lines of every mail)."""
    tail = " ".join(text[-_TAIL:].rstrip(" \t:-").lower().split())
    return tail.endswith(_VERB_SUFFIXES) and bool(_VERB_END.search(tail[-_TAIL // 2 :]))


def _address_end(text: str) -> bool:
    tail = text[-2 * _TAIL :]
    return "@" in tail and bool(_ADDRESS_END.search(tail))


def _has_address(text: str) -> bool:
    at = text.find("@")
    return at > 0 and bool(_ADDRESS.search(text, max(0, at - 64), at + 256))


def _dated_or_addressed(text: str) -> bool:
    return any(c.isdigit() for c in text) or _has_address(text)


def header_block_end(lines: list[str], i: int) -> int | None:
    """End (exclusive) of an Outlook-style "From: / Sent: / To: / Subject:" block at i."""
    first = _HEADER.match(lines[i])
    if first is None:
        return None
    if len(_INLINE_HEADERS.findall(lines[i])) >= 3:
        return i + 1  # "Date: ... From: ... To: ... Subject: ..." on one line
    names = {_name(first)}
    end = i + 1
    for j in range(i + 1, min(i + _HEADER_WINDOW, len(lines))):
        match = _HEADER.match(lines[j])
        if match is not None:
            names.add(_name(match))
            end = j + 1
        elif not lines[j].strip():
            break
    if len(names) >= 2 and names & _FROM_OR_TO:
        return end
    return None


def _name(match: re.Match[str]) -> str:
    return match.group(1).lower().split()[0]


def is_separator(line: str) -> bool:
    """ "-----Original Message-----" and its translations."""
    return bool(_SEPARATOR.match(line))


def is_forward(line: str) -> bool:
    """ "---------- Forwarded message ---------" and its translations: content follows."""
    return bool(_FORWARD.match(line))


def is_rule(line: str) -> bool:
    return bool(_RULE.match(line))


def is_list_footer(lines: list[str], i: int) -> bool:
    """A rule followed by a mailing-list footer ("riak-users mailing list", listinfo URL)."""
    tail = lines[i + 1 : i + 6]
    return is_rule(lines[i]) and any(_LIST_FOOTER.search(line) for line in tail)


def is_signature_delimiter(line: str) -> bool:
    return bool(_SIGNATURE.match(line.rstrip("\n")))


def signature_sized(lines: list[str]) -> bool:
    """A signature is a few lines; 40 lines after a "--" are something else (a log)."""
    return sum(1 for line in lines if line.strip()) <= _MAX_SIGNATURE_LINES


def is_phone_footer(line: str) -> bool:
    """ "Sent from my iPhone", "Enviado desde mi Samsung", "Obtener Outlook para Android".

    Only a short line without sentence punctuation: "Sent from my desk, is much easier than
    my mobile phone." is the customer's sentence.
    """
    text = _FOOTER_URL.sub("", line).strip().rstrip(".")
    return (
        bool(_PHONE_FOOTER.match(text))
        and len(text.split()) <= _MAX_FOOTER_WORDS
        and not any(c in text for c in ",;?!")
    )


_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|rv|tr|wg|enc|doorst|vs|vb|i)\s*:", re.IGNORECASE)


def is_forward_subject(subject: str) -> bool:
    """Fwd:, FW:, RV: (Outlook es), TR: (fr), WG: (de), ENC: (pt), I: (it), Doorst: (nl)."""
    return bool(_FORWARD_SUBJECT.match(subject))
