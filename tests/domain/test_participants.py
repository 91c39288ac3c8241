"""SPEC §10 "Participants" as pure rules: which standing an address earns on a ticket, what
a customer's mail may change of it, and which of a mail's addresses are looked up at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from maildesk.domain.participants import Standing, others, settle, standing_of
from maildesk.store.participants import CC


def test_issue9_only_an_active_contact_of_the_tickets_customer_is_mailed() -> None:
    assert standing_of("acme", True, "acme") is Standing.CC
    assert standing_of("acme", False, "acme") is Standing.INACTIVE
    assert standing_of("globex", True, "acme") is Standing.OTHER_CUSTOMER
    assert standing_of(None, False, "acme") is Standing.UNREGISTERED
    assert Standing.CC.value == CC  # the store's copy of the one mailed standing
    assert [s for s in Standing if s.mailed] == [Standing.CC]


def test_issue9_an_agents_removal_outlives_the_customers_cc() -> None:
    assert settle(Standing.CC, Standing.REMOVED) is Standing.REMOVED
    assert settle(Standing.CC, Standing.UNREGISTERED) is Standing.CC  # registered since
    assert settle(Standing.INACTIVE, Standing.CC) is Standing.INACTIVE  # deactivated since
    assert settle(Standing.UNREGISTERED, None) is Standing.UNREGISTERED


def test_issue9_others_drops_skipped_duplicates_and_non_addresses() -> None:
    mail = ["Luis@ACME.example", "luis@acme.example", "", "undisclosed-recipients:", "a@b.c"]
    assert others(mail, lambda a: a == "a@b.c") == ["luis@acme.example"]


address = st.from_regex(r"[A-Za-z0-9.+]{1,8}@[a-z]{1,5}\.example", fullmatch=True)


@given(st.lists(address | st.text(max_size=12), max_size=12), st.sets(address, max_size=4))
def test_issue9_others_property_once_each_lower_never_skipped(
    addresses: list[str], skipped: set[str]
) -> None:
    skip = {a.lower() for a in skipped}
    out = others(addresses, lambda a: a in skip)
    assert len(out) == len(set(out))
    assert all(a == a.lower() and "@" in a and a not in skip for a in out)
    wanted = {a.strip().lower() for a in addresses if "@" in a} - skip - {""}
    assert set(out) == wanted
