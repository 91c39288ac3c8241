"""Quoted history, signatures and "thanks only" replies (R7), in Spanish and English.

Own implementation rather than mail-parser-reply: that library is fast (~0.25 ms) but missed
Gmail's Spanish attribution "El jue, ... (<x@y>) escribió:" in our tests, and its rules are hard
to extend per client. Line-based, linear in the text size, no backtracking-prone regexes.
"""

from __future__ import annotations

import re

_ATTRIBUTION_START = re.compile(r"^\s*(?:on|el|le|am|em|il|op)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    r"(?:wrote|escribi[oó]|a\s+[ée]crit|schrieb|escreveu|ha\s+scritto|schreef)\s*:\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*[-_=]{2,}\s*(?:original\s+message|mensaje\s+original|forwarded\s+message|"
    r"mensaje\s+reenviado|message\s+d'origine|urspr[üu]ngliche\s+nachricht|"
    r"reply\s+above\s+this\s+line|responda\s+por\s+encima\s+de\s+esta\s+l[ií]nea)"
    r"\s*[-_=]*\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{8,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|de|von|da)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(?:sent|enviado(?:\s+el)?|date|fecha|to|para|subject|asunto|cc|gesendet|envoy[ée])"
    r"\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^-- ?$")
_MOBILE = re.compile(
    r"^\s*(?:sent\s+from\s+my\s|enviado\s+desde\s+mi\s|sent\s+from\s+(?:outlook|mail\s+for|"
    r"yahoo|samsung|gmail)|enviado\s+desde\s+(?:outlook|correo\s+para|yahoo|gmail)|"
    r"get\s+outlook\s+for\s|obtener\s+outlook\s+para\s|descargue\s+outlook\s+para\s|"
    r"enviado\s+desde\s+un\s+dispositivo|sent\s+from\s+a\s+mobile|von\s+meinem\s+\w+\s+gesendet)",
    re.IGNORECASE,
)
_MAX_ATTRIBUTION_LINES = 3


def strip_quotes(text: str) -> str:
    """The new content of a reply: history and signature removed, never empty if any is new."""
    if not text:
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _cut_index(lines)
    kept = "\n".join(lines[:cut]).strip()
    if not kept:
        return text  # everything looked like a quote: keep it all rather than lose it
    return kept


def _cut_index(lines: list[str]) -> int:
    """Index of the first line that starts history or signature (len(lines) if none)."""
    n = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _SIGNATURE.match(line) or _MOBILE.match(line):
            return i
        if _SEPARATOR.match(line):
            return i
        if _UNDERSCORES.match(line) and _header_block_at(lines, i + 1):
            return i
        if _HEADER_FROM.match(line) and _header_block_at(lines, i):
            return i
        if _ATTRIBUTION_START.match(line) and _attribution_at(lines, i):
            return i
        if stripped.startswith(">") and _only_quotes_after(lines, i):
            return i
    return n


def _attribution_at(lines: list[str], i: int) -> bool:
    """ "On <date>, <name> wrote:" possibly wrapped over a few lines by the sender's client."""
    joined = ""
    for line in lines[i : i + _MAX_ATTRIBUTION_LINES]:
        joined = f"{joined} {line.strip()}"
        if len(joined) > 400:
            return False
        if _ATTRIBUTION_END.search(joined):
            return True
    return False


def _header_block_at(lines: list[str], i: int) -> bool:
    """Outlook's "From: ... / Sent: ..." block: a From line then header-like lines."""
    if i >= len(lines) or not _HEADER_FROM.match(lines[i]):
        return False
    return any(_HEADER_NEXT.match(line) for line in lines[i + 1 : i + 5])


def _only_quotes_after(lines: list[str], i: int) -> bool:
    """True when every non-blank line from i on is `>`-quoted (or an attribution/signature)."""
    for line in lines[i:]:
        s = line.strip()
        if s and not s.startswith(">"):
            return False
    return True


# --------------------------------------------------------------------------- confirmations


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_CONFIRM_WORDS = _wordset(
    """gracias thanks thank thx ty tks ok okay vale perfecto perfect perfecta listo lista
    excelente genial great awesome quedó quedo resuelto resuelta solucionado solved fixed
    funciona funcionó works worked working entendido understood recibido received"""
)
_FILLER_WORDS = _wordset(
    """muchas muchísimas mil muchas gracias you so much very many a lot it all now ya todo todos
    bien fine good de nuevo again por su tu la el lo los las sus ayuda help your for the
    hola hi hello buen buenos día dia días dias buenas tardes noches muy amable un una saludo
    saludos cordial cordiales atentamente regards best cheers kind y and sí si yes de acuerdo
    está esta estaba is está que con eso esto this that
    support soporte apoyo equipo team much appreciated agradezco agradecemos le te les me
    nos gracias quedó correctamente correcto correct already"""
)
_NEGATIVE = re.compile(
    r"\b(?:pero|but|no|not|sigue|siguen|still|error|errores|falla|fallando|fails?|failing|"
    r"failed|problema|problem|issue|however|embargo|aún|aun|todavía|todavia|nada|nothing|"
    r"wrong|mal|incorrect[oa]?|never|nunca|otra|another|adjunto|attached|help\s+me|"
    r"ayúdame|ayudame|can't|cannot|don't|doesn't|isn't|won't|puede|pueden|could|can)\b",
    re.IGNORECASE,
)
_EMOJI_CONFIRM = ("👍", "🙏", "✅", "👌", "🙂", "😊", "😀", "🎉", "💯")
_PUNCT = re.compile(r"[.,!¡;:()\-–—~*\"'«»…\s]+")
_MAX_CONFIRM_CHARS = 160


def is_confirmation(text: str) -> bool:
    """True only for a short reply that just thanks or confirms (R7: stays resolved)."""
    body = strip_quotes(text or "").strip()
    if not body or len(body) > _MAX_CONFIRM_CHARS * 2 or "?" in body or "¿" in body:
        return False
    lines = [line.strip() for line in body.split("\n") if line.strip()]
    if len(lines) > 1 and _looks_like_name(lines[-1]):
        lines = lines[:-1]  # sign-off name ("Ana", "Juan Pérez")
    body = " ".join(lines)
    if len(body) > _MAX_CONFIRM_CHARS or _NEGATIVE.search(body):
        return False
    has_emoji = any(e in body for e in _EMOJI_CONFIRM)
    for e in _EMOJI_CONFIRM:
        body = body.replace(e, " ")
    body = body.replace("\ufe0f", " ")
    words = [w for w in _PUNCT.split(body.lower()) if w]
    if any(not w.isalpha() for w in words):
        return False
    if not words:
        return has_emoji
    if any(w not in _CONFIRM_WORDS and w not in _FILLER_WORDS for w in words):
        return False
    return has_emoji or any(w in _CONFIRM_WORDS for w in words)


def _looks_like_name(line: str) -> bool:
    words = line.split()
    if not 1 <= len(words) <= 3:
        return False
    known = _CONFIRM_WORDS | _FILLER_WORDS
    return all(w[:1].isupper() and w.isalpha() and w.lower() not in known for w in words)
