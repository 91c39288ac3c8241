"""Issue 9 §3, bodies wrapped consistently: format=flowed (RFC 3676) lines of at most 72
characters that a reader joins back into exactly the text that was written."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.outbound.flowed import WIDTH, flow, unflow

PARAGRAPH = (
    "Recibimos su solicitud y la registramos con el número de ticket 12. Un ingeniero la "
    "revisará y le responderá por este medio; si necesita hablar con nosotros, mencione el "
    "número de ticket en la llamada."
)


def test_issue9_long_paragraph_wrapped_at_72_and_joined_back() -> None:
    text = f"Estimada Ana Pérez:\n\n{PARAGRAPH}\n\n  Ticket:   [BITAM #12]\n"
    flowed = flow(text)
    lines = flowed.split("\n")
    assert all(len(line) <= WIDTH + 1 for line in lines)
    assert len([line for line in lines if line.endswith(" ")]) >= 2  # soft breaks
    assert "   Ticket:   [BITAM #12]" in lines  # space-stuffed, not wrapped
    assert unflow(flowed) == text


def test_issue9_short_lines_and_quotes_keep_their_shape() -> None:
    text = "Hola,\n> cita del cliente\nFrom here on\n-- \nAna"
    assert unflow(flow(text)) == "Hola,\n> cita del cliente\nFrom here on\n--\nAna"
    assert flow(text).split("\n")[1:3] == [" > cita del cliente", " From here on"]


def test_issue9_a_word_longer_than_a_line_stays_whole() -> None:
    url = "https://soporte.example/" + "x" * 120
    flowed = flow(f"Descargue el archivo de {url} hoy mismo")
    assert url + " " in flowed.split("\n")  # on a line of its own, a soft break after it
    assert unflow(flowed) == f"Descargue el archivo de {url} hoy mismo"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab ñ>-\nFrom"), max_size=600) | st.text(max_size=600))
def test_issue9_flowed_reads_back_exactly(text: str) -> None:
    """Any text (without CR) reads back as written, trailing spaces of hard lines aside;
    lines longer than 78 remain only where a single word is longer."""
    text = text.replace("\r", "")
    flowed = flow(text)
    assert unflow(flowed) == "\n".join(line.rstrip(" ") for line in text.split("\n"))
    for line in flowed.split("\n"):
        if len(line) > 78:
            assert len(line.split()) == 1, line
