"""Reading replies right (issue 9 §4): every fixture in tests/corpus/replies/ comes back as
its visible reply, and no input ever loses the customer's own words.

A fixture is NAME.txt (the decoded body) + NAME.expected (what the customer wrote now); the
name says the client and form (es_gmail_top, es_outlook_desktop_rule, de_iphone...).
`python -m bench replies` prints the same judgement as a table, also for outside suites.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.replies import DEFAULT, fixtures, judge, normalise
from maildesk.mail.quotes import strip_quotes

CASES = fixtures([DEFAULT])


def test_fixture_set_is_large_and_spanish_first() -> None:
    names = [name.split("/", 1)[1] for name, _, _ in CASES]
    assert len(names) >= 60
    spanish = [n for n in names if n.startswith("es_")]
    assert len(spanish) >= len(names) // 2
    for lang in ("en", "pt", "fr", "de", "it", "nl"):
        assert any(n.startswith(f"{lang}_") for n in names), lang


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reply_form_gives_the_visible_reply(name: str, text: str, expected: str) -> None:
    output = strip_quotes(text)
    assert judge(output, expected) == "exact", f"{name}:\n{output}"


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reply_form_with_crlf_gives_the_same(name: str, text: str, expected: str) -> None:
    assert normalise(strip_quotes(text.replace("\n", "\r\n"))) == normalise(expected)


def test_forwarded_subject_keeps_an_outlook_header_block_as_content() -> None:
    text = (
        "Les reenvío lo de Pedro.\n\n________________________________\n"
        "De: Pedro Soto <pedro@acme.example>\nEnviado: jueves, 26 de noviembre de 2026 9:02\n"
        "Para: Ana López <ana@acme.example>\nAsunto: Acceso denegado\n\nNo puedo entrar."
    )
    assert strip_quotes(text, forward=True) == text
    assert strip_quotes(text) == "Les reenvío lo de Pedro."


def test_huge_input_stays_linear() -> None:
    # No timing assertion (benchmarks live in bench/); a quadratic scan would not finish.
    text = "> x\n" + "y" * 1_000_000 + "\n" + "2026 dice:\n" * 20_000 + "> q\n" * 50_000
    assert strip_quotes(text).startswith("> x\n")


# --- properties -----------------------------------------------------------------------------

_ANY_LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=80,
)
_MARKERS = st.sampled_from(
    [
        "El jue, 26 nov 2026 a las 10:15, Soporte <s@example.test> escribió:",
        "On Thu, Nov 26, 2026 at 10:15 AM Support <s@example.test> wrote:",
        "-----Mensaje original-----",
        "________________________________",
        "De: Soporte <s@example.test>",
        "Enviado: jueves",
        "Para: Ana",
        "Asunto: x",
        "---------- Forwarded message ---------",
        "-- ",
        "--",
        "Enviado desde mi iPhone",
        "> citado",
        ">> citado",
        "",
    ]
)
_LINES = st.lists(st.one_of(_ANY_LINE, _MARKERS), max_size=30)


@given(_LINES)
def test_property_never_raises_and_only_returns_input_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    out = strip_quotes(text)
    if out == text:
        return
    source = iter(lines)  # output lines are input lines, in order (a subsequence)
    for line in out.split("\n"):
        assert any(line == candidate for candidate in source), line


@given(_LINES)
def test_property_never_empty_when_input_has_text(lines: list[str]) -> None:
    text = "\n".join(lines)
    if text.strip():
        assert strip_quotes(text).strip()


# Words that cannot spell a marker: no "wrote"/"escribió", no header names, no "-" or ">".
_WORDS = """hola buen día el reporte falla desde ayer gracias ana por favor revisar 8.2 factura
sistema usuario portal cierre mes lunes 10:15 ok sí no también"""
_PLAIN_WORD = st.sampled_from(_WORDS.split())
_PLAIN_LINE = st.lists(_PLAIN_WORD, max_size=12).map(" ".join)


@given(st.lists(_PLAIN_LINE, min_size=1, max_size=25))
def test_property_reply_without_quote_comes_back_whole(lines: list[str]) -> None:
    text = "\n".join(lines)
    kept = list(lines)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    assert strip_quotes(text) == ("\n".join(kept) if kept else text)


@given(st.lists(_PLAIN_LINE.filter(str.strip), min_size=1, max_size=10), _LINES)
def test_property_top_posted_words_survive_any_history(own: list[str], history: list[str]) -> None:
    """What is written above a Gmail attribution is never lost, whatever the history is."""
    text = "\n".join(own) + "\n\nEl jue, 26 nov 2026 a las 10:15, S <s@example.test> escribió:\n"
    text += "\n".join(f"> {line}" for line in history)
    out = strip_quotes(text)
    for line in own:
        assert line in out.split("\n")
