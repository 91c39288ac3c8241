"""Where a signature without a `-- ` line starts: the Mexican corporate block under a reply.

A customer's "Muchas gracias!" arrives with the block their company's mail server or client
adds: name, puesto, empresa (S.A. de C.V.), "Tel. (81) 8123 4567 ext. 210", a web address,
often a confidentiality notice. No delimiter marks it, so `strip_quotes` keeps it (it may be
the customer's words); only the thank-you test (R7) needs to look past it, and asks here.
A block counts as a signature only when it is short, asks nothing, and carries a contact
mark (phone, address, web, company form) or is all name-and-title lines.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import re

_CONTACT = re.compile(
    r"\b(?:tel|tels|tel[ée]fono|telefono|cel|celular|m[óo]vil|mobile|phone|ext|fax|whatsapp|"
    r"conmutador|oficina|office)\b\.?|\+?\d[\d ().-]{6,}\d|@|\bwww\.|https?://|"
    r"\bs\.?\s?a\.?\s?(?:b\.?|p\.?\s?i\.?)?\s+de\s+c\.?\s?v\.?|\bs\.?\s+de\s+r\.?\s?l\.?|"
    r"\b(?:inc|ltd|llc|gmbh|s\.?a\.?)\b\.?$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"confidencial|confidential|aviso\s+de\s+privacidad|privileged|destinatario|"
    r"intended\s+recipient|este\s+(?:correo|mensaje)|this\s+(?:e-?mail|message)",
    re.IGNORECASE,
)
_MAX_LINES = 14
_MAX_LINE = 90
_MAX_TITLE_WORDS = 7


def signature_start(lines: list[str]) -> int | None:
    """Index (≥ 1) where a trailing signature block starts in non-blank `lines`, or None."""
    for k in range(max(1, len(lines) - _MAX_LINES), len(lines)):
        if _is_signature(lines[k:]):
            return k
    return None


def _is_signature(block: list[str]) -> bool:
    """Every line a contact line, a name or title, or (from its first line on) a notice."""
    if any("?" in line or "¿" in line for line in block):
        return False
    contact = False
    for i, line in enumerate(block):
        if _DISCLAIMER.search(line):
            return i > 0 or len(block) > 1  # the notice runs to the end of the block
        if len(line) > _MAX_LINE:
            return False
        if _CONTACT.search(line):
            contact = True
        elif not _name_or_title(line):
            return False
    return contact or len(block) >= 2


def _name_or_title(line: str) -> bool:
    """ "Juan Pérez López", "Gerente de Sistemas", "Ing. Luis García": capitalised, short."""
    words = line.split()
    if not 1 <= len(words) <= _MAX_TITLE_WORDS or line.rstrip().endswith((".", "!", ":")):
        return line.rstrip().endswith(".") and len(words) <= 2  # "Ing.", "Lic. Ana"
    return words[0][:1].isupper() and sum(w[:1].isupper() for w in words) * 2 >= len(words)
