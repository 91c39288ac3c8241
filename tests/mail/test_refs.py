"""Ticket references without the database (R7): subject tag, plus address, clean subject."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.refs import clean_subject, plus_address_number, subject_ticket_number


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("[BITAM #123] x", 123),
        ("re: RV:  [bitam  #123] x", 123),
        ("RE: RE: FW: [BITAM#7]", 7),
        ("AW: WG: TR: R: Fwd: [ BITAM # 42 ] Hallo", 42),
        ("Problema con el reporte [BITAM #9]", 9),
        ("[OTHER #123] x", None),
        ("[XBITAM #5] x", None),
        ("[BITAM #] x", None),
        ("[BITAM #0] x", None),
        ("BITAM #12 without brackets", None),
        ("", None),
    ],
)
def test_r7_subject_tag_tolerates_prefixes(subject: str, number: int | None) -> None:
    assert subject_ticket_number(subject, "BITAM") == number


def test_r7_subject_tag_multiword_prefix() -> None:
    assert subject_ticket_number("Re: [acme   help #5]", "ACME Help") == 5


def test_r7_subject_tag_escapes_prefix() -> None:
    assert subject_ticket_number("[A.B #3]", "A.B") == 3
    assert subject_ticket_number("[AxB #3]", "A.B") is None


def test_r7_plus_address() -> None:
    support = "soporte@example.test"
    assert plus_address_number(["x@acme.example", "Soporte+77@Example.TEST"], support) == 77
    assert plus_address_number(["<soporte+5@example.test>"], support) == 5
    assert plus_address_number(["soporte+77@other.example"], support) is None
    assert plus_address_number(["ventas+77@example.test"], support) is None
    assert plus_address_number(["xsoporte+77@example.test"], support) is None
    assert plus_address_number(["soporte+abc@example.test"], support) is None
    assert plus_address_number([], support) is None


@pytest.mark.parametrize(
    ("subject", "clean"),
    [
        ("Re: RV: [BITAM #12] RE: Hola  mundo", "Hola mundo"),
        ("Error al exportar", "Error al exportar"),
        ("FW: Fwd: Error [BITAM #3]", "Error"),
        ("Reporte: ventas", "Reporte: ventas"),
        ("Re:", ""),
        ("Re[2]: Hola", "Hola"),
    ],
)
def test_clean_subject(subject: str, clean: str) -> None:
    assert clean_subject(subject, "BITAM") == clean


_PREFIXES = st.lists(
    st.sampled_from(["Re:", "RE:", "re:", "RV:", "Fwd:", "FW:", "AW:", "TR:", "R:", "WG:", "Re :"]),
    max_size=5,
)
_SPACE = st.sampled_from([" ", "  ", "\t", ""])


@given(
    _PREFIXES,
    st.integers(min_value=1, max_value=10**9),
    st.sampled_from(["BITAM", "bitam", "Bitam"]),
    _SPACE,
    _SPACE,
    st.text(alphabet=st.characters(blacklist_characters="[]"), max_size=30),
)
def test_property_r7_subject_number_round_trips(
    prefixes: list[str], number: int, tag: str, sp1: str, sp2: str, rest: str
) -> None:
    subject = " ".join(prefixes) + f" [{tag}{sp1 or ' '}#{sp2}{number}] {rest}"
    assert subject_ticket_number(subject, "BITAM") == number
    assert subject_ticket_number(subject, "OTHER") is None
    assert "[" not in clean_subject(subject, "BITAM")
