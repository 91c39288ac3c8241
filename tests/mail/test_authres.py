"""Trusting `Authentication-Results` for agent mail (SPEC §4, last bullet)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.authres import (
    NO_TRUSTED,
    agent_mail_authenticated,
    authenticate_agent_mail,
    receiving_hop_zone,
)
from maildesk.mail.parse import parse

TRUSTED = ("mx.support.example.net",)

GMAIL = (
    "mx.google.com;\r\n"
    "       dkim=pass header.i=@example.com header.s=20230601 header.b=AbC+/12;\r\n"
    "       spf=pass (google.com: domain of ana@example.com designates 1.2.3.4 as permitted"
    " sender) smtp.mailfrom=ana@example.com;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
)
MS365 = (
    "spf=pass (sender IP is 40.107.1.1) smtp.mailfrom=example.com; dkim=pass (signature was"
    " verified) header.d=example.com;dmarc=pass action=none header.from=example.com;"
    "compauth=pass reason=100"
)
MS365_WITH_ID = (
    "mx.microsoft.com 1; spf=pass smtp.mailfrom=example.com; dmarc=pass action=none"
    " header.from=example.com; dkim=pass header.d=example.com; arc=none"
)
OPENDKIM = (
    "mx.support.example.net;\n\tdkim=pass (2048-bit key; unprotected) header.d=mail.example.com"
    " header.i=@mail.example.com header.a=rsa-sha256 header.s=default header.b=XyZ12345"
)
OPENDMARC = "mx.support.example.net; dmarc=pass (p=none dis=none) header.from=example.com"


def check(headers: list[str], trusted: tuple[str, ...] = TRUSTED, domain: str = "example.com"):
    return agent_mail_authenticated(headers, trusted, domain)


def test_s4_dmarc_pass_from_trusted_authserv() -> None:
    verdict = check([OPENDMARC])
    assert verdict.ok
    assert "dmarc=pass" in verdict.reason


def test_s4_authserv_id_compared_case_insensitively() -> None:
    assert check([OPENDMARC], trusted=("MX.Support.Example.NET",)).ok


def test_s4_pass_from_untrusted_authserv_is_ignored() -> None:
    forged = "mx.support.example.net.evil.org; dmarc=pass header.from=example.com"
    verdict = check([forged, "evil; dkim=pass header.d=example.com"])
    assert verdict == verdict.__class__(False, NO_TRUSTED)


def test_s4_no_headers_is_not_ok() -> None:
    assert check([]) == check(["garbage"])
    assert check([]).reason == NO_TRUSTED


def test_s4_untrusted_fail_does_not_spoil_trusted_pass() -> None:
    assert check(["evil; dmarc=fail header.from=example.com", OPENDMARC]).ok


def test_s4_gmail_header_when_gmail_is_trusted() -> None:
    assert check([GMAIL], trusted=("mx.google.com",)).ok


def test_s4_microsoft_header_with_authserv_id() -> None:
    assert check([MS365_WITH_ID], trusted=("mx.microsoft.com",)).ok


def test_s4_microsoft_header_without_authserv_id_is_never_trusted() -> None:
    # No authserv-id means nobody can vouch for it, whatever the trusted list says.
    verdict = check([MS365], trusted=("spf=pass", "dkim", "example.com", "mx.microsoft.com"))
    assert not verdict.ok
    assert verdict.reason == NO_TRUSTED


def test_s4_dkim_pass_aligned_subdomain_accepted() -> None:
    verdict = check([OPENDKIM])
    assert verdict.ok
    assert "dkim=pass" in verdict.reason


def test_s4_dkim_pass_aligned_parent_domain_accepted() -> None:
    header = "mx.support.example.net; dkim=pass header.d=example.com"
    assert check([header], domain="mail.example.com").ok


def test_s4_dkim_identity_used_when_no_signing_domain() -> None:
    header = "mx.support.example.net; dkim=pass header.i=agent@Example.COM."
    assert check([header]).ok


def test_s4_dkim_pass_unaligned_domain_rejected() -> None:
    header = "mx.support.example.net; dkim=pass header.d=example.com.evil.org"
    verdict = check([header])
    assert not verdict.ok
    assert "neither" in verdict.reason
    for signer in ("notexample.com", "evil.org", "com"):
        header = f"mx.support.example.net; dkim=pass header.d={signer}"
        assert not check([header]).ok, signer


def test_s4_dkim_fail_rejected() -> None:
    assert not check(["mx.support.example.net; dkim=fail header.d=example.com"]).ok


def test_s4_dmarc_fail_overrides_dkim_pass_for_other_domain() -> None:
    header = (
        "mx.support.example.net; dmarc=fail (p=reject) header.from=example.com;"
        " dkim=pass header.d=example.com"
    )
    verdict = check([header])
    assert not verdict.ok
    assert "dmarc=fail" in verdict.reason


def test_s4_dmarc_fail_in_one_trusted_header_beats_pass_in_another() -> None:
    fail = "mx.support.example.net; dmarc=fail header.from=example.com"
    assert not check([OPENDKIM, fail]).ok


def test_s4_dmarc_pass_for_another_from_domain_is_not_enough() -> None:
    header = "mx.support.example.net; dmarc=pass header.from=other.org"
    assert not check([header]).ok


def test_s4_dmarc_none_falls_back_to_aligned_dkim() -> None:
    header = (
        "mx.support.example.net; dmarc=none header.from=example.com; dkim=pass header.d=example.com"
    )
    assert check([header]).ok
    assert not check(["mx.support.example.net; dmarc=none header.from=example.com"]).ok


def test_s4_missing_from_domain_is_not_ok() -> None:
    assert not check([OPENDMARC], domain="").ok


def test_s4_from_domain_normalised() -> None:
    assert check([OPENDMARC], domain="Example.COM.").ok


def test_s4_tolerant_parser_when_package_rejects_header() -> None:
    # Odd syntax (a bare word where a result belongs) that strict parsing refuses.
    odd = (
        "mx.support.example.net; spf=pass smtp.mailfrom=x@example.com; foo; dkim=pass "
        'header.d=example.com header.b="a;b"'
    )
    assert check([odd]).ok


def test_s4_version_after_authserv_id_accepted() -> None:
    assert check(["mx.support.example.net 1; dkim=pass header.d=example.com"]).ok


@pytest.mark.parametrize(
    "garbage",
    ["", ";;;", "(((", '"unterminated', "mx.support.example.net", "=;=;=", "\x00\udcff"],
)
def test_s4_garbage_never_crashes(garbage: str) -> None:
    assert not check([garbage]).ok


@given(st.lists(st.text(), max_size=4), st.text(max_size=30))
def test_s4_arbitrary_headers_never_crash(headers: list[str], domain: str) -> None:
    verdict = agent_mail_authenticated(headers, TRUSTED, domain)
    assert isinstance(verdict.ok, bool) and verdict.reason


@given(st.text())
def test_s4_untrusted_headers_never_authenticate(suffix: str) -> None:
    header = "attacker.example.org; dmarc=pass header.from=example.com; " + suffix
    assert not agent_mail_authenticated([header], TRUSTED, "example.com").ok


# --- SPEC §10: the receiving hop's zone and strict matching (issue 10, finding 1) -----------


def test_i10_quoted_authserv_id_never_matches() -> None:
    assert not check(['"mx.support.example.net"; dmarc=pass header.from=example.com']).ok
    assert not check(['(c) "mx.support.example.net"; dkim=pass header.d=example.com']).ok


def test_i10_authserv_id_after_comment_matches() -> None:
    assert check(["(our mx) mx.support.example.net; dmarc=pass header.from=example.com"]).ok


def test_i10_dmarc_pass_needs_header_from_of_the_from_domain() -> None:
    assert not check(["mx.support.example.net; dmarc=pass"]).ok
    assert not check(["mx.support.example.net; dmarc=pass (p=none) smtp.mailfrom=example.com"]).ok


def test_i10_zone_is_above_the_first_received() -> None:
    names = ["authentication-results", "received", "from", "authentication-results"]
    assert receiving_hop_zone(names, ["top", "forged"]) == (("top",), ("forged",))
    assert receiving_hop_zone(["received", *names], ["top", "forged"]) == ((), ("top", "forged"))


def test_i10_internal_hops_extend_the_zone_by_their_received_fields() -> None:
    names = ["received", "authentication-results", "received", "authentication-results"]
    assert receiving_hop_zone(names, ["mx", "forged"], 1) == (("mx",), ("forged",))


def _inbound(header_block: str, *, hop_trusted: bool = True):
    raw = (header_block + "From: agent@example.com\nSubject: x\n\nhi\n").encode()
    return replace(parse(raw), hop_trusted=hop_trusted)


def test_i10_genuine_dmarc_none_on_top_beats_a_forged_pass_below() -> None:
    msg = _inbound(
        "Authentication-Results: mx.support.example.net; dmarc=none header.from=example.com\n"
        "Received: from a.example by mx.support.example.net; Wed, 25 Nov 2026 10:00:00 -0600\n"
        f"Authentication-Results: {OPENDMARC}\n"
    )
    verdict = authenticate_agent_mail(msg, TRUSTED)
    assert not verdict.ok and verdict.ignored == ("mx.support.example.net",)


def test_i10_untrusted_hop_believes_nothing_it_was_handed() -> None:
    block = f"Authentication-Results: {OPENDMARC}\n"
    assert authenticate_agent_mail(_inbound(block), TRUSTED).ok
    verdict = authenticate_agent_mail(_inbound(block, hop_trusted=False), TRUSTED)
    assert not verdict.ok and verdict.ignored == ("mx.support.example.net",)


@given(st.lists(st.sampled_from([OPENDMARC, OPENDKIM, GMAIL]), min_size=1, max_size=3))
def test_i10_headers_below_a_received_never_authenticate(forged: list[str]) -> None:
    block = "Received: from a.example by b.example; Wed, 25 Nov 2026 10:00:00 -0600\n" + "".join(
        f"Authentication-Results: {h}\n" for h in forged
    )
    verdict = authenticate_agent_mail(_inbound(block), (*TRUSTED, "mx.google.com"))
    assert not verdict.ok and verdict.ignored
