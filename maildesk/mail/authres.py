"""Deciding whether an agent mail is authenticated, from `Authentication-Results` (§4).

Agents steer tickets by mail, so a forged From: would let anyone close or reassign tickets.
We trust only what *our own* receiving servers wrote (`trusted_authserv_ids`): anyone can
add an `Authentication-Results` header claiming anything, so headers from other
authserv-ids are ignored entirely. Deployment note (RFC 8601 §5): the border MTA must
strip incoming headers that carry its own authserv-id, otherwise a sender can forge those.

Headers are parsed with the `authres` package; when it rejects a header (Microsoft 365
writes some without an authserv-id, other servers write odd syntax) a tolerant parser
below takes over, and when neither finds an authserv-id the header is simply untrusted.
Nothing here raises on garbage.

Alignment is a deliberate approximation without the Public Suffix List: a DKIM domain is
aligned with the From domain when they are equal or one is a subdomain of the other (and
the shorter has at least two labels). Sibling subdomains of the same organisation
(`a.example.com` vs `b.example.com`) are therefore *not* aligned: stricter than DMARC
relaxed mode, never looser (except for multi-label public suffixes such as `co.uk`,
where nobody can publish a DKIM key in practice).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import authres

NO_TRUSTED = "no Authentication-Results from a trusted server"


@dataclass(frozen=True)
class AuthVerdict:
    """Whether to obey the mail, and a reason fit for logs and the refusal notice."""

    ok: bool
    reason: str


@dataclass(frozen=True)
class _Result:
    """One `method=result` with its `ptype.property=value` pairs (keys lower-cased)."""

    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Header:
    authserv_id: str
    results: tuple[_Result, ...]


def _norm_domain(value: str) -> str:
    """Lower-case, drop a trailing dot and anything up to an '@' (header.i is an identity)."""
    value = value.strip().strip("<>").strip().lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    return value.rstrip(".")


def _aligned(signer: str, from_domain: str) -> bool:
    """Equal, or parent/subdomain of each other, with the shorter one not a bare TLD."""
    if not signer or not from_domain:
        return False
    if signer == from_domain:
        return True
    shorter, longer = sorted((signer, from_domain), key=len)
    return shorter.count(".") >= 1 and longer.endswith("." + shorter)


def _via_package(value: str) -> _Header:
    """Parse with `authres`; any exception means "try the tolerant parser"."""
    parsed = authres.AuthenticationResultsHeader.parse_value(value)
    results = []
    for res in parsed.results:
        props = {
            f"{p.type}.{p.name}".lower(): str(p.value)
            for p in res.properties
            if p.type and p.name and p.value is not None
        }
        results.append(_Result(str(res.method).lower(), str(res.result).lower(), props))
    return _Header(str(parsed.authserv_id), tuple(results))


def _strip_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested, with escapes) and unquote quoted strings."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            if depth == 0:
                out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quoted:
            if ch == '"':
                quoted = False
            else:
                out.append(" " if ch == ";" else ch)  # keep ";" inside quotes from splitting
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if not depth:
                out.append(" ")
        elif depth:
            continue
        elif ch == '"':
            quoted = True
        else:
            out.append(ch)
    return "".join(out)


_PAIR_RE = re.compile(r"\s*=\s*")


def _tolerant(value: str) -> _Header | None:
    """Best-effort parse; None when no authserv-id can be found (so never trusted)."""
    segments = _strip_comments(value).split(";")
    head = segments[0].split()
    if not head or "=" in head[0]:
        return None  # e.g. Microsoft's "spf=pass ...; dkim=pass ..." with no authserv-id
    results: list[_Result] = []
    for segment in segments[1:]:
        tokens = _PAIR_RE.sub("=", segment).split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        props: dict[str, str] = {}
        for token in tokens[1:]:
            key, sep, val = token.partition("=")
            if sep and "." in key:
                props.setdefault(key.lower(), val)
        results.append(_Result(method.split("/")[0].lower(), result.lower(), props))
    return _Header(head[0], tuple(results))


def _parse(value: object) -> _Header | None:
    """Parse one header value; None when it cannot be attributed to any authserv-id."""
    try:
        text = re.sub(r"\r?\n[ \t]*|\r", " ", str(value))
    except Exception:
        return None
    try:
        return _via_package(text)
    except Exception:
        pass
    try:
        return _tolerant(text)
    except Exception:  # pragma: no cover - belt and braces: never crash on a header
        return None


def agent_mail_authenticated(
    header_values: Sequence[str],
    trusted_authserv_ids: Collection[str],
    from_domain: str,
) -> AuthVerdict:
    """Obey an agent mail only when a trusted server saw DMARC pass or aligned DKIM pass."""
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t and t.strip()}
    domain = _norm_domain(from_domain or "")
    results: list[tuple[str, _Result]] = []
    seen_trusted = False
    for value in header_values or ():
        header = _parse(value)
        if header is None or header.authserv_id.strip().lower() not in trusted:
            continue
        seen_trusted = True
        results.extend((header.authserv_id, r) for r in header.results)
    if not seen_trusted:
        return AuthVerdict(False, NO_TRUSTED)
    if not domain:
        return AuthVerdict(False, "the mail has no From domain to authenticate")

    for server, r in results:
        if r.method == "dmarc" and r.result == "fail":
            # Decisive whatever else passed: a DKIM pass for some other domain is no excuse.
            hfrom = _norm_domain(r.props.get("header.from", "")) or domain
            return AuthVerdict(False, f"{server} reports dmarc=fail for {hfrom}")
    for server, r in results:
        if r.method == "dmarc" and r.result == "pass":
            hfrom = _norm_domain(r.props.get("header.from", ""))
            if not hfrom or hfrom == domain:
                return AuthVerdict(True, f"{server} reports dmarc=pass for {domain}")
    for server, r in results:
        if r.method == "dkim" and r.result == "pass":
            signer = _norm_domain(r.props.get("header.d", "") or r.props.get("header.i", ""))
            if _aligned(signer, domain):
                return AuthVerdict(
                    True, f"{server} reports dkim=pass for {signer}, aligned with {domain}"
                )
    return AuthVerdict(
        False, f"trusted servers show neither dmarc=pass nor aligned dkim=pass for {domain}"
    )
