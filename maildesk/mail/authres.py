"""Deciding whether an agent mail is authenticated, from `Authentication-Results` (§4, §10).

Agents steer tickets by mail, so a forged From: would let anyone close or reassign tickets.
Anyone can write an `Authentication-Results` header claiming anything, including the name of
our own MX, so a header counts only when all of these hold (SPEC §10, RFC 8601 §5):

- it sits in the *receiving hop's zone*: above the first `Received:` field (or above the
  first `Received:` after `internal_hops` of our own, e.g. Dovecot LMTP's). Every header a
  sender writes is below the `Received:` our MX prepends on arrival, so position is the one
  thing a sender cannot forge;
- its authserv-id equals one of `trusted_authserv_ids` exactly (case-insensitively, never
  quoted, no trailing dot);
- the hop that handed the mail to maildesk is trusted to have written it (`hop_trusted`):
  when maildesk's own listener or `ingest` receives the mail from a peer that is not a
  configured relay, maildesk itself is the receiving hop and nothing it was given counts.

Headers claiming a trusted authserv-id that fail these tests are returned in
`AuthVerdict.ignored`, so the caller can record the attempt.

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

from maildesk.mail.inbound import Inbound

NO_TRUSTED = "no Authentication-Results from a trusted server"


@dataclass(frozen=True)
class AuthVerdict:
    """Whether to obey the mail, and a reason fit for logs and the refusal notice.

    `ignored`: authserv-ids of headers that claimed a trusted server but were disregarded
    (outside the receiving hop's zone, or handed over by an untrusted hop)."""

    ok: bool
    reason: str
    ignored: tuple[str, ...] = ()


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


_AUTHSERV_ID = re.compile(r"([^\s;()\"\\]+)(?=[\s;(]|\Z)")


def _skip_comments(text: str) -> str:
    """The text after leading white space and (nested) comments."""
    i, depth = 0, 0
    while i < len(text):
        ch = text[i]
        if depth:
            if ch == "\\":
                i += 1
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        elif ch == "(":
            depth = 1
        elif not ch.isspace():
            break
        i += 1
    return text[i:]


def authserv_id(text: str) -> str | None:
    """The authserv-id as written (a bare token), or None: a quoted-string id is never
    matched against the trusted list (SPEC §10), since `"mx.example.com"` is not how our
    servers write it and unquoting would let anyone's header pass as theirs."""
    match = _AUTHSERV_ID.match(_skip_comments(text))
    if match is None or "=" in match.group(1):
        return None
    return match.group(1)


def _parse(value: object) -> _Header | None:
    """Parse one header value; None when it cannot be attributed to any authserv-id."""
    try:
        text = re.sub(r"\r?\n[ \t]*|\r", " ", str(value))
    except Exception:
        return None
    server = authserv_id(text)
    if server is None:
        return None
    try:
        return _Header(server, _via_package(text).results)
    except Exception:
        pass
    try:
        header = _tolerant(text)
    except Exception:  # pragma: no cover - belt and braces: never crash on a header
        return None
    return None if header is None else _Header(server, header.results)


def receiving_hop_zone(
    names: Sequence[str], values: Sequence[str], internal_hops: int = 0
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split `Authentication-Results` values into (inside, outside) the receiving hop's zone.

    `names` are the mail's header names in order (lower-cased), `values` its
    Authentication-Results values in order. Inside: those above the first `Received:` field
    after `internal_hops` of them (our own later hops, which add their `Received:` above)."""
    inside: list[str] = []
    outside: list[str] = []
    received = 0
    k = 0
    for name in names:
        if name == "received":
            received += 1
        elif name == "authentication-results" and k < len(values):
            (inside if received <= internal_hops else outside).append(values[k])
            k += 1
    outside.extend(values[k:])
    return tuple(inside), tuple(outside)


def claimed_trusted(
    values: Sequence[str], trusted_authserv_ids: Collection[str]
) -> tuple[str, ...]:
    """Authserv-ids of the headers among `values` that claim to be from a trusted server."""
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t and t.strip()}
    claimed = []
    for value in values:
        header = _parse(value)
        if header is not None and header.authserv_id.lower() in trusted:
            claimed.append(header.authserv_id)
    return tuple(dict.fromkeys(claimed))


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
        if header is None or header.authserv_id.lower() not in trusted:
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
            # header.from is what DMARC evaluated: without it, the pass may be for any domain.
            hfrom = _norm_domain(r.props.get("header.from", ""))
            if hfrom and hfrom == domain:
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


def authenticate_agent_mail(
    msg: Inbound, trusted_authserv_ids: Collection[str], *, internal_hops: int = 0
) -> AuthVerdict:
    """§4/§10: the verdict from the headers of the receiving hop's zone only; what claimed a
    trusted server outside that zone (or came through an untrusted hop) is `ignored`."""
    values = msg.headers.get("authentication-results", ())
    if msg.hop_trusted:
        inside, outside = receiving_hop_zone(msg.header_names, values, internal_hops)
    else:
        inside, outside = (), tuple(values)
    from_domain = msg.from_addr.rpartition("@")[2]
    verdict = agent_mail_authenticated(inside, trusted_authserv_ids, from_domain)
    ignored = claimed_trusted(outside, trusted_authserv_ids)
    return AuthVerdict(verdict.ok, verdict.reason, ignored) if ignored else verdict
