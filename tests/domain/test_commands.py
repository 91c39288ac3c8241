"""Agent commands by e-mail (SPEC §4; P7, P13, P14, P15)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.domain.commands import (
    PRIORITIES,
    TYPES,
    Command,
    is_command_line,
    parse_agent_mail,
)
from maildesk.errors import CommandError


def only(text: str) -> Command:
    parsed = parse_agent_mail(text)
    assert parsed.errors == (), parsed.errors
    assert len(parsed.commands) == 1
    return parsed.commands[0]


def error_of(text: str) -> str:
    parsed = parse_agent_mail(text)
    assert len(parsed.errors) == 1, parsed
    return parsed.errors[0]


# --- the command block ------------------------------------------------------------------


def test_s4_commands_removed_and_rest_relayed() -> None:
    parsed = parse_agent_mail("#type error\n#priority alta\n\nHola, ya lo revisamos.\n")
    assert [c.name for c in parsed.commands] == ["type", "priority"]
    assert parsed.body == "Hola, ya lo revisamos.\n"
    assert parsed.ok


def test_s4_commands_applied_in_written_order() -> None:
    parsed = parse_agent_mail("#resolve\n#close\n#priority baja\n")
    assert [c.name for c in parsed.commands] == ["resolve", "close", "priority"]
    assert parsed.body == ""


def test_s4_leading_blank_lines_allowed() -> None:
    parsed = parse_agent_mail("\n  \r\n#tipo setup\nTexto")
    assert parsed.commands == (Command("type", ("setup",), "#tipo setup"),)
    assert parsed.body == "Texto"


def test_s4_commands_only_at_top() -> None:
    text = "Hola,\n#type error\n#close\n"
    parsed = parse_agent_mail(text)
    assert parsed.commands == ()
    assert parsed.errors == ()
    assert parsed.body == text


def test_s4_block_ends_at_first_text_line() -> None:
    parsed = parse_agent_mail("#type error\nGracias.\n#close\n")
    assert [c.name for c in parsed.commands] == ["type"]
    assert parsed.body == "Gracias.\n#close\n"


def test_s4_hash_digit_is_not_a_command() -> None:
    text = "#123 is the ticket\n#close\n"
    parsed = parse_agent_mail(text)
    assert parsed.commands == () and parsed.errors == ()
    assert parsed.body == text
    assert not is_command_line("#123")
    assert not is_command_line("# heading")


def test_s4_no_commands_leaves_body_untouched() -> None:
    text = "\n\nJust an answer.\r\n-- \r\nAna\r\n"
    assert parse_agent_mail(text).body == text


def test_s4_crlf_and_invisible_leading_characters() -> None:
    parsed = parse_agent_mail("\ufeff#cerrar\r\n\u00a0#nota\r\nInterno\r\n")
    assert [c.name for c in parsed.commands] == ["close", "note"]
    assert parsed.body == "Interno\r\n"


def test_s4_empty_text() -> None:
    parsed = parse_agent_mail("")
    assert parsed.commands == () and parsed.errors == () and parsed.body == ""


# --- names and aliases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("#type error", "type"),
        ("#tipo error", "type"),
        ("#priority alta", "priority"),
        ("#prioridad alta", "priority"),
        ("#assign ana@example.com", "assign"),
        ("#asignar Ana", "assign"),
        ("#product Nomina", "product"),
        ("#producto Nomina", "product"),
        ("#resolve", "resolve"),
        ("#resuelto", "resolve"),
        ("#resolver", "resolve"),
        ("#close", "close"),
        ("#cerrar", "close"),
        ("#note", "note"),
        ("#nota", "note"),
        ("#out-of-scope es desarrollo", "out_of_scope"),
        ("#out_of_scope es desarrollo", "out_of_scope"),
        ("#fuera-de-alcance es desarrollo", "out_of_scope"),
        ("#viable yes", "viable"),
        ("#new cliente@example.com", "new"),
        ("#nuevo cliente@example.com", "new"),
        ("#attachments", "attachments"),
        ("#adjuntos", "attachments"),
        ("#Adjunto 3", "attachments"),
        ("#TIPO error", "type"),
        ("#Cerrar", "close"),
    ],
)
def test_s4_command_aliases(spelling: str, name: str) -> None:
    assert only(spelling).name == name


def test_s4_type_command_spanish_alias() -> None:
    assert only("#tipo Consultoría").args == ("consultoria",)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("soporte", "soporte"),
        ("SETUP", "setup"),
        ("Error", "error"),
        ("actividad", "actividad"),
        ("Consultoría", "consultoria"),
        ("nuevo requerimiento", "nuevo_requerimiento"),
        ("Nuevo-Requerimiento", "nuevo_requerimiento"),
        ("nuevo_requerimiento", "nuevo_requerimiento"),
        ("support", "soporte"),
        ("activity", "actividad"),
        ("consulting", "consultoria"),
        ("feature", "nuevo_requerimiento"),
    ],
)
def test_p7_type_values_normalised(written: str, canonical: str) -> None:
    assert only(f"#type {written}").args == (canonical,)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("urgente", "urgente"),
        ("Alta", "alta"),
        ("MEDIA", "media"),
        ("baja", "baja"),
        ("urgent", "urgente"),
        ("high", "alta"),
        ("medium", "media"),
        ("low", "baja"),
    ],
)
def test_p7_priority_aliases(written: str, canonical: str) -> None:
    assert only(f"#prioridad {written}").args == (canonical,)


def test_s4_separator_colon_or_equals_accepted() -> None:
    assert only("#type: error").args == ("error",)
    assert only("#priority=alta").args == ("alta",)


# --- arguments --------------------------------------------------------------------------


def test_s4_assign_keeps_name_with_spaces() -> None:
    assert only("#asignar  Ana   Pérez ").args == ("Ana Pérez",)


def test_s4_product_name_and_optional_version() -> None:
    assert only("#product Contabilidad 2024").args == ("Contabilidad", "2024")
    assert only("#producto Nómina Pro v3.2").args == ("Nómina Pro", "v3.2")
    assert only("#product Nómina Pro").args == ("Nómina Pro",)
    assert only("#product Nomina").args == ("Nomina",)


def test_s4_resolve_optional_reason() -> None:
    assert only("#resolve").args == ()
    assert only("#resuelto cliente confirmó").args == ("cliente confirmó",)


def test_p15_out_of_scope_reason_is_rest_of_line() -> None:
    assert only("#out-of-scope  soporte de base de datos ").args == ("soporte de base de datos",)


@pytest.mark.parametrize(
    ("written", "args"),
    [
        ("yes", ("yes",)),
        ("YES", ("yes",)),
        ("si", ("yes",)),
        ("sí, lo haremos en Q3", ("yes", "lo haremos en Q3")),
        ("Sí", ("yes",)),
        ("no: fuera de la hoja de ruta", ("no", "fuera de la hoja de ruta")),
        ("no cuesta demasiado", ("no", "cuesta demasiado")),
    ],
)
def test_p13_viable_decision_normalised(written: str, args: tuple[str, ...]) -> None:
    assert only(f"#viable {written}").args == args


def test_p14_new_ticket_for_customer_address() -> None:
    assert only("#new Cliente@Example.COM").args == ("Cliente@example.com",)
    assert only("#nuevo <cliente@example.com>").args == ("cliente@example.com",)


def test_item1_attachments_takes_a_number_a_name_with_spaces_or_nothing() -> None:
    assert only("#adjuntos").args == ()
    assert only("#attachments 17").args == ("17",)
    assert only("#adjuntos: captura de pantalla.png").args == ("captura de pantalla.png",)


def test_s4_note_reported_as_internal() -> None:
    parsed = parse_agent_mail("#nota\nEl cliente llamó por teléfono.\n")
    assert parsed.is_internal_note
    assert parsed.body == "El cliente llamó por teléfono.\n"
    assert not parse_agent_mail("#close\nBye").is_internal_note


def test_s4_conflicting_commands_are_allowed() -> None:
    parsed = parse_agent_mail("#resolve\n#close\n#note\n")
    assert parsed.ok
    assert [c.name for c in parsed.commands] == ["resolve", "close", "note"]


# --- errors -----------------------------------------------------------------------------


def test_s4_unknown_command_is_error_and_names_line() -> None:
    parsed = parse_agent_mail("#type error\n#urgentisimo\nHola")
    assert [c.name for c in parsed.commands] == ["type"]
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith('line 2: "#urgentisimo": unknown command #urgentisimo')
    assert "#priority" in parsed.errors[0]
    assert not parsed.ok
    assert parsed.body == "Hola"


def test_s4_invalid_priority_says_what_is_accepted() -> None:
    assert error_of("\n#prioridad altísima") == (
        'line 2: "#prioridad altísima": priority must be one of urgente, alta, media, baja'
    )


def test_s4_invalid_type_says_what_is_accepted() -> None:
    message = error_of("#type bug")
    assert message.startswith('line 1: "#type bug": type must be one of')
    for value in TYPES:
        assert value in message


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("#type", "type must be one of"),
        ("#priority", "priority must be one of " + ", ".join(PRIORITIES)),
        ("#assign", "#assign needs"),
        ("#product", "#product needs"),
        ("#close now", "#close takes no arguments"),
        ("#note please", "#note takes no arguments"),
        ("#out-of-scope", "#out-of-scope needs a reason"),
        ("#viable", "#viable needs yes, no"),
        ("#viable maybe", "#viable needs yes, no"),
        ("#new", "#new needs exactly one"),
        ("#new a@b.com c@d.com", "#new needs exactly one"),
        ("#new not-an-address", "customer e-mail address"),
        ("#new a@localhost", "customer e-mail address"),
        ("#new a@@b.com", "customer e-mail address"),
        ("#type.error", "unknown command #type.error"),
    ],
)
def test_s4_invalid_arguments_are_errors(line: str, fragment: str) -> None:
    message = error_of(line)
    assert message.startswith(f'line 1: "{line}": ')
    assert fragment in message


def test_s4_every_bad_line_reported_and_valid_ones_kept() -> None:
    parsed = parse_agent_mail("#bogus\n#type error\n#priority nope\n")
    assert [e.split(":")[0] for e in parsed.errors] == ["line 1", "line 3"]
    assert [c.name for c in parsed.commands] == ["type"]


def test_s4_raise_for_errors_uses_command_error() -> None:
    with pytest.raises(CommandError, match="line 1"):
        parse_agent_mail("#bogus").raise_for_errors()
    parse_agent_mail("#close").raise_for_errors()


# --- properties -------------------------------------------------------------------------

_command_lines = st.sampled_from(
    [
        "#type error",
        "#tipo Consultoría",
        "#priority urgent",
        "#close",
        "#nota",
        "#bogus thing",
        "#viable sí",
        "#new x@example.com",
        "#prioridad altísima",
        "  #resolve done",
    ]
)


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _blank(line: str) -> bool:
    """Blank as the parser sees it: whitespace plus the invisible characters clients add."""
    return not line.lstrip(" \t\u00a0\ufeff\u200b\u200c\u200d\u2060").rstrip()


@given(st.text())
def test_s4_parse_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse_agent_mail(text)
    assert text.endswith(parsed.body)


@given(
    st.lists(st.one_of(_command_lines, st.just("")), max_size=6),
    st.text(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_s4_body_never_contains_top_block_lines(block: list[str], rest: str, newline: str) -> None:
    text = "".join(line + newline for line in block) + rest
    parsed = parse_agent_mail(text)
    assert text.endswith(parsed.body)
    prefix = text[: len(text) - len(parsed.body)]
    prefix_lines = [ln for ln in _lines(prefix) if not _blank(ln)]
    # Every command-shaped line in the removed prefix gave exactly one command or error.
    assert len(parsed.commands) + len(parsed.errors) == len(prefix_lines)
    assert all(is_command_line(ln) for ln in prefix_lines)
    # The body never starts with a command line (the block was consumed entirely).
    first_body_line = next((ln for ln in _lines(parsed.body) if not _blank(ln)), "")
    assert parsed.body == text or not is_command_line(first_body_line)
    for command in parsed.commands:
        assert command.line in prefix
