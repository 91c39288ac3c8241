"""strip_quotes / is_confirmation: new content of replies (§3) and R7's thanks-only rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.quotes import is_confirmation, strip_quotes

# A typical Mexican corporate signature: no "-- " line, name, puesto, empresa, Tel.
MX_SIGNATURE = (
    "{first}\n\nIng. Juan Pérez López\nGerente de Sistemas\n"
    "Comercializadora del Norte S.A. de C.V.\nTel. (81) 8123 4567 ext. 210\n"
    "Cel. 81 1234 5678\nwww.comnorte.example"
)
MX_NOTICE = (
    "\n\nAVISO DE CONFIDENCIALIDAD: Este correo electrónico y sus anexos son confidenciales y "
    "para uso exclusivo del destinatario. Si usted lo recibió por error, notifique al "
    "remitente y elimínelo de inmediato."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hola\n\nEl jue, 26 nov 2026 a las 10:00, Ana <a@acme.example> escribió:\n> viejo",
            "Hola",
        ),
        (
            "Hola\n\nEl jue, 26 nov 2026 a las 10:00, Soporte (<s@example.test>)\nescribió:\n> x",
            "Hola",
        ),
        ("Hi\n\nOn 26 Nov 2026, at 10:00, John <j@acme.example> wrote:\n> old", "Hi"),
        (
            "Hi\n\nOn Thu, Nov 26, 2026 at 10:00 AM John Smith <\njohn@acme.example> wrote:\n\n> a",
            "Hi",
        ),
        ("Nuevo\n\n-----Original Message-----\nFrom: x\nSent: y\n\nviejo", "Nuevo"),
        ("Nuevo\n\n-----Mensaje original-----\nDe: x\nEnviado: y\n\nviejo", "Nuevo"),
        (
            "Nuevo\n\nFrom: Soporte <s@example.test>\nSent: Monday\nTo: x\nSubject: y\n\nold",
            "Nuevo",
        ),
        ("Nuevo\n\nDe: Soporte <s@example.test>\nEnviado: lunes\nPara: x\n\nviejo", "Nuevo"),
        ("Nuevo\n________________________________\nDe: Pedro\nEnviado: jueves\n\nviejo", "Nuevo"),
        ("Texto\n\n-- \nAna Pérez\nGerente", "Texto"),
        ("Texto\n\nSent from my iPhone", "Texto"),
        ("Texto\n\nEnviado desde mi iPhone", "Texto"),
        ("Texto\n\nObtener Outlook para Android", "Texto"),
        ("Texto\n> citado\n> más", "Texto"),
        ("> pregunta\nrespuesta en línea\n> otra\notra respuesta", None),
        ("Sin citas.\nDos líneas.", None),
    ],
)
def test_strip_quotes(text: str, expected: str | None) -> None:
    assert strip_quotes(text) == (text if expected is None else expected)


def test_all_quote_returns_text_unchanged() -> None:
    for text in (
        "> solo cita\n> nada más",
        "-----Original Message-----\nFrom: a\nSent: b\n",
        "-- \nfirma",
    ):
        assert strip_quotes(text) == text


def test_from_line_alone_is_not_a_quote() -> None:
    text = "From: the logs I see an error\nplease check"
    assert strip_quotes(text) == text


def test_crlf_normalised() -> None:
    assert strip_quotes("Hola\r\n\r\nOn Mon, X wrote:\r\n> a\r\n") == "Hola"


@pytest.mark.parametrize(
    "text",
    [
        "gracias",
        "Gracias!",
        "Muchas gracias, quedó",
        "muchas gracias, ya quedó",
        "thanks",
        "Thank you, it works",
        "ok, gracias",
        "perfecto, gracias!",
        "👍",
        "Muchas gracias, ya quedó.\n\nAna",
        "Thanks!\n\nJohn\n\nOn Mon, 1 Dec 2026, Support <s@example.test> wrote:\n> resolved",
        "Listo, muchas gracias por su apoyo.\nSaludos",
        MX_SIGNATURE.format(first="Muchas gracias!"),
        MX_SIGNATURE.format(first="Muchas gracias!") + MX_NOTICE,
        "Gracias, ya quedó.\n\nJuan Pérez López\nGerente de Sistemas\nComercializadora del Norte",
        "Muchas gracias!\n\nLic. Rosa Hernández\nCoordinadora Administrativa\n"
        "Grupo Industrial Saltillo S.A.B. de C.V.\nT: +52 (844) 411 1000 ext. 2345",
    ],
)
def test_r7_is_confirmation_true(text: str) -> None:
    assert is_confirmation(text)


@pytest.mark.parametrize(
    "text",
    [
        "gracias, pero sigue fallando",
        "thanks, but it still fails",
        "gracias. ¿Y el reporte?",
        "Thanks. Can you also check the invoice?",
        "gracias, adjunto el log",
        "no funciona, gracias",
        "Gracias, ahora aparece otro error",
        "",
        "Hola",
        "Gracias " * 60,
        "Gracias, el módulo de facturación ahora calcula mal el IVA",
        MX_SIGNATURE.format(first="Gracias, pero sigue fallando"),
        MX_SIGNATURE.format(first="Muchas gracias!\n\nLa factura sale sin el IVA"),
        MX_SIGNATURE.format(first="Gracias\n¿Pueden revisar también la sucursal Centro?"),
        "Gracias\n\nAdjunto el log\nTel. (81) 8123 4567",
    ],
)
def test_r7_is_confirmation_false(text: str) -> None:
    assert not is_confirmation(text)


_LINE = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\n\x85\u2028\u2029"
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() and not s.lstrip().startswith((">", "-", "_")))


@given(st.lists(_LINE, min_size=1, max_size=8), st.lists(_LINE, max_size=5))
def test_property_never_empty_for_non_quote_text(own: list[str], quoted: list[str]) -> None:
    text = (
        "\n".join(own) + "\n\nOn Mon, 1 Dec 2026, X wrote:\n" + "\n".join(f"> {q}" for q in quoted)
    )
    out = strip_quotes(text)
    assert out.strip()


@given(st.text(max_size=300))
def test_property_never_empty_for_any_non_blank_text(text: str) -> None:
    if text.strip():
        assert strip_quotes(text).strip()
