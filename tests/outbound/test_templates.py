"""Outbound templates: every name renders in every shipped language, safely and strictly."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from maildesk.outbound.templates import (
    SHIPPED_LANGUAGES,
    TEMPLATE_NAMES,
    Rendered,
    Templates,
    format_datetime,
    format_hours,
    format_size,
    reply_subject,
    shipped_templates_dir,
)

MX = ZoneInfo("America/Mexico_City")
NO_TICKET = {"rejected_unregistered", "contract_expired", "too_large", "delivery_failed"}


def _ticket(**changes: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "number": 12,
        "tag": "[BITAM #12]",
        "subject": "No puedo iniciar sesión en bFiskur",
        "state": "open",
        "type": "soporte",
        "priority": "media",
        "unclassified": True,
        "customer": "ACME S.A. de C.V.",
        "requester_name": "Ana Pérez",
        "requester_email": "ana@acme.example",
        "requester_phone": "",
        "product": "bFiskur",
        "product_version": "5.2",
        "created_at": datetime(2026, 11, 27, 10, 30, tzinfo=MX),
        "sla_due_at": datetime(2026, 12, 3, 14, 30, tzinfo=MX),
        "follows_up": None,
        "assignee_name": "Luis Gómez",
        "resolution_reason": "",
    }
    fields.update(changes)
    return SimpleNamespace(**fields)


def _extras() -> dict[str, dict[str, Any]]:
    due = datetime(2026, 12, 3, 14, 30, tzinfo=MX)
    return {
        "acknowledgement": {"missing_phone": True},
        "rejected_unregistered": {"original_subject": "Ayuda urgente", "sender": "x@otro.example"},
        "contract_expired": {
            "original_subject": "Error al timbrar",
            "support_until": date(2026, 6, 30),
        },
        "too_large": {
            "original_subject": "Respaldo de la base",
            "size_bytes": 31_457_280,
            "limit_bytes": 26_214_400,
        },
        "unsupported_version": {"version": "4.8", "supported_versions": ["5.1", "5.2"]},
        "followup_new_ticket": {"old_number": 7},
        "agent_notification": {
            "event": "new",
            "body": "Desde ayer no puedo entrar.\nEl error dice 'usuario bloqueado'.",
            "sender": "Ana Pérez <ana@acme.example>",
            "files": [
                {
                    "number": 3,
                    "filename": "captura.png",
                    "size": 183_500,
                    "attached": True,
                    "too_big": False,
                }
            ],
            "files_left_out": False,
            "attach_cap": 10 * 1024 * 1024,
            "sla_due_at": due,
            "assigned_to_you": False,
            "history": None,
        },
        "agent_assigned": {
            "assigned_by": "Luis Gómez",
            "sla_due_words": "jueves 3 de diciembre de 2026, 14:30 h (hora del centro)",
            "opened_words": "viernes 27 de noviembre de 2026, 10:30 h (hora del centro)",
            "body": "Desde ayer no puedo entrar.",
            "sender": "ana@acme.example",
            "received_words": "viernes 27 de noviembre de 2026, 10:30 h (hora del centro)",
            "files": [],
            "files_left_out": False,
            "attach_cap": 10 * 1024 * 1024,
            "history": {
                "open": [],
                "closed": [
                    {
                        "number": 7,
                        "tag": "[BITAM #7]",
                        "subject": "No imprime",
                        "state": "closed",
                        "date": "lunes 2 de noviembre de 2026",
                    }
                ],
                "more_open": False,
                "empty": False,
                "customer_id": "acme",
            },
        },
        "agent_unassigned": {"new_assignee": "Luis Gómez", "assigned_by": "Marta"},
        "agent_attachments": {
            "part": 1,
            "parts": 2,
            "files": [{"number": 3, "filename": "captura.png", "size": 183_500}],
            "too_big": [{"number": 4, "filename": "respaldo.zip", "size": 31_457_280}],
            "attach_cap": 10 * 1024 * 1024,
        },
        "agent_reply": {"body": "Hola Ana,\n\nYa desbloqueamos su usuario.", "agent_name": "Luis"},
        "agent_command_error": {
            "errors": ["#prioridad altisima: prioridad desconocida"],
            "original_subject": "Re: [BITAM #12] No puedo iniciar sesión en bFiskur",
        },
        "commands_applied": {
            "original_subject": "Re: [BITAM #12] No puedo iniciar sesión en bFiskur",
            "commands": ["#prioridad alta", "#resuelto"],
            "note": False,
            "customer_told": ["resolved"],
        },
        "agent_unauthenticated": {
            "original_subject": "Re: [BITAM #12] No puedo iniciar sesión en bFiskur",
            "reason": "dmarc=fail",
        },
        "resolved": {"reason": "Se desbloqueó el usuario.", "window_days": 15},
        "abandoned": {"days": 30, "window_days": 15},
        "closed": {},
        "reopened": {"body": "Volvió a pasar."},
        "feature_committee": {"body": "Quisiera exportar a Excel.", "customer_name": "ACME"},
        "feature_forwarded": {"decision_by": "viernes 4 de diciembre de 2026", "days": 10},
        "feature_decision": {"viable": True, "reason": "Entra en la versión 5.3."},
        "feature_reminder": {
            "day": 10,
            "deadline": datetime(2026, 12, 7, 10, 30, tzinfo=MX),
            "overdue": True,
        },
        "sla_warning": {"used_pct": 75, "due_at": due},
        "sla_breach": {"due_at": due, "supervisors_note": ""},
        "out_of_scope": {"reason": "Configuración del antivirus", "consulting": "consultoria@x"},
        "delivery_failed": {
            "recipient": "ana@acme.example",
            "original_subject": "[BITAM #12] No puedo iniciar sesión en bFiskur",
            "attempts": 8,
            "last_error": "550 5.1.1 mailbox unavailable",
            "outbox_id": 7,
            "relayed_answer": True,
        },
    }


@pytest.fixture
def context() -> dict[str, dict[str, Any]]:
    """Per-template context, as callers build it (support as a dict, ticket as an object)."""
    support = {
        "address": "soporte@example.com",
        "prefix": "BITAM",
        "team_name": "Soporte técnico",
        "hours_text": "lunes a viernes de 08:30 a 19:00 (hora del centro)",
        "timezone": "America/Mexico_City",
    }
    contexts: dict[str, dict[str, Any]] = {}
    for name, extra in _extras().items():
        ctx: dict[str, Any] = {"support": support, "recipient_name": "Ana Pérez", **extra}
        if name not in NO_TICKET:
            ctx["ticket"] = _ticket()
        contexts[name] = ctx
    return contexts


@pytest.fixture
def templates() -> Templates:
    return Templates()


def test_fixture_covers_every_template(context: dict[str, dict[str, Any]]) -> None:
    assert set(context) == set(TEMPLATE_NAMES)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_renders(
    templates: Templates, context: dict[str, dict[str, Any]], name: str, language: str
) -> None:
    out = templates.render(name, language, **context[name])
    assert isinstance(out, Rendered)
    assert out.subject and "\n" not in out.subject
    if name not in NO_TICKET:
        assert "[BITAM #12]" in out.subject
    assert out.text.strip()
    assert out.text.endswith("\n") and not out.text.endswith("\n\n")
    for rendered in (out.subject, out.text):
        assert "{{" not in rendered and "{%" not in rendered and "}}" not in rendered
    assert all(line == line.rstrip() for line in out.text.splitlines())
    assert out.html is None


def test_shipped_templates_pass_check(templates: Templates) -> None:
    assert templates.check() == []
    assert shipped_templates_dir().joinpath("es", "acknowledgement.txt").is_file()


def test_default_language_is_spanish(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    assert (
        "Recibimos su solicitud"
        in templates.render("acknowledgement", **context["acknowledgement"]).text
    )
    english = Templates(language="en").render("acknowledgement", **context["acknowledgement"])
    assert "We have received your request" in english.text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p14_acknowledgement_quotes_ticket_number(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    text = templates.render("acknowledgement", language, **context["acknowledgement"]).text
    word = {"es": "mencione el número de ticket 12", "en": "quote ticket number 12"}[language]
    assert word in text.replace("\n", " ")
    assert "lunes a viernes de 08:30 a 19:00 (hora del centro)" in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p5_acknowledgement_asks_for_phone_only_when_missing(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["acknowledgement"]
    asked = templates.render("acknowledgement", language, **ctx).text
    ctx["missing_phone"] = False
    not_asked = templates.render("acknowledgement", language, **ctx).text
    word = {"es": "teléfono", "en": "phone number"}[language]
    assert word in asked and word not in not_asked


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p4_acknowledgement_one_topic_per_ticket(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    text = templates.render("acknowledgement", language, **context["acknowledgement"]).text
    word = {"es": "un solo tema", "en": "single topic"}[language]
    assert word in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p11_acknowledgement_of_follow_up_names_old_ticket(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["acknowledgement"]
    ctx["ticket"] = _ticket(follows_up=7)
    text = templates.render("acknowledgement", language, **ctx).text
    assert "ticket 7" in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p10_resolved_mentions_window(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["resolved"]
    ctx["window_days"] = 12
    text = templates.render("resolved", language, **ctx).text.replace("\n", " ")
    word = {"es": "12 días hábiles", "en": "12 business days"}[language]
    assert word in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p11_closed_says_cannot_reopen(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    text = templates.render("closed", language, **context["closed"]).text.replace("\n", " ")
    word = {"es": "no puede reabrirse", "en": "cannot be reopened"}[language]
    attached = {"es": "Adjuntamos", "en": "attached"}[language]
    assert word in text and attached in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p12_abandoned_mentions_days_and_window(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    text = templates.render("abandoned", language, **context["abandoned"]).text.replace("\n", " ")
    assert "30" in text and "15" in text


def test_p3_rejected_unregistered_never_echoes_a_body(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    ctx = context["rejected_unregistered"]
    out = templates.render("rejected_unregistered", **ctx)
    assert out.subject == "Re: Ayuda urgente"
    assert "x@otro.example" in out.text
    # The template takes no body at all: an extra variable is simply not printed.
    secret = templates.render("rejected_unregistered", body="SECRET PAYLOAD", **ctx)
    assert "SECRET PAYLOAD" not in secret.text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_p15_unsupported_version_lists_supported(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    text = templates.render("unsupported_version", language, **context["unsupported_version"]).text
    assert "4.8" in text and "5.1, 5.2" in text


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_agent_notification_events_and_missing_sla(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["agent_notification"]
    texts = set()
    for event in ("new", "followup", "reopened"):
        ctx["event"] = event
        ctx["sla_due_at"] = None
        out = templates.render("agent_notification", language, **ctx)
        assert "captura.png (179.2 KiB" in out.text
        assert "usuario bloqueado" in out.text
        texts.add(out.text.splitlines()[0])
    assert len(texts) == 3


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_feature_decision_both_outcomes(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["feature_decision"]
    viable = templates.render("feature_decision", language, **ctx).text
    ctx.update(viable=False, reason="")
    refused = templates.render("feature_decision", language, **ctx).text
    assert viable != refused


def test_agent_command_error_adds_tag_when_subject_lacks_it(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    ctx = context["agent_command_error"]
    ctx["original_subject"] = "mi respuesta"
    out = templates.render("agent_command_error", **ctx)
    assert out.subject == "[BITAM #12] Re: mi respuesta"
    del ctx["ticket"]
    assert templates.render("agent_command_error", **ctx).subject == "Re: mi respuesta"


def test_override_dir_replaces_one_file_only(
    tmp_path: Path, context: dict[str, dict[str, Any]]
) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "closed.txt").write_text(
        "{% block subject %}Cerrado {{ ticket.tag }}{% endblock %}"
        "{% block body %}Adiós, {{ recipient_name }}.{% endblock %}",
        encoding="utf-8",
    )
    custom = Templates(override_dir=tmp_path)
    closed = custom.render("closed", **context["closed"])
    assert closed == Rendered(subject="Cerrado [BITAM #12]", text="Adiós, Ana Pérez.\n")
    shipped = Templates().render("resolved", **context["resolved"])
    assert custom.render("resolved", **context["resolved"]) == shipped
    assert custom.render("closed", "en", **context["closed"]).text != closed.text
    assert custom.check() == []


def test_override_top_level_set_macro_and_extends_reach_the_blocks(
    tmp_path: Path, context: dict[str, dict[str, Any]]
) -> None:
    """Blocks render on their own, so what is defined outside them (a set, a macro, a
    parent template) must still be seen by them."""
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "base.txt").write_text(
        "{% set firma = 'Mesa de ayuda' %}"
        "{% block subject %}Aviso {{ ticket.tag }}{% endblock %}"
        "{% block body %}{% block saludo %}Hola{% endblock %}. {{ firma }}{% endblock %}",
        encoding="utf-8",
    )
    (tmp_path / "es" / "closed.txt").write_text(
        "{% extends 'es/base.txt' %}{% block saludo %}Adiós, {{ recipient_name }}{% endblock %}",
        encoding="utf-8",
    )
    (tmp_path / "es" / "resolved.txt").write_text(
        "{% set equipo = 'Soporte' %}{% macro tag(t) %}<{{ t.number }}>{% endmacro %}"
        "{% block subject %}{{ tag(ticket) }}{% endblock %}"
        "{% block body %}{{ equipo }} {{ tag(ticket) }}{% endblock %}",
        encoding="utf-8",
    )
    custom = Templates(override_dir=tmp_path)
    closed = custom.render("closed", **context["closed"])
    assert closed == Rendered(subject="Aviso [BITAM #12]", text="Adiós, Ana Pérez. Mesa de ayuda\n")
    resolved = custom.render("resolved", **context["resolved"])
    assert resolved == Rendered(subject="<12>", text="Soporte <12>\n")


def test_reload_picks_up_edited_override(
    tmp_path: Path, context: dict[str, dict[str, Any]]
) -> None:
    target = tmp_path / "es" / "reopened.txt"
    target.parent.mkdir()
    target.write_text("{% block subject %}A{% endblock %}{% block body %}uno{% endblock %}")
    custom = Templates(override_dir=tmp_path)
    assert custom.render("reopened", **context["reopened"]).text == "uno\n"
    target.write_text("{% block subject %}A{% endblock %}{% block body %}dos{% endblock %}")
    custom.reload()
    assert custom.render("reopened", **context["reopened"]).text == "dos\n"


def test_check_reports_broken_and_incomplete_overrides(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "closed.txt").write_text("{% block subject %}x{% endblock %}{% if %}")
    (tmp_path / "es" / "resolved.txt").write_text("{% block subject %}x{% endblock %}")
    (tmp_path / "fr").mkdir()
    problems = Templates(override_dir=tmp_path).check()
    assert any("es/closed.txt" in p for p in problems)
    assert any("es/resolved.txt" in p and "body" in p for p in problems)
    assert any(p == "template fr/acknowledgement.txt: missing" for p in problems)
    assert Templates(override_dir=tmp_path / "nope").check() != []


def test_html_block_is_autoescaped(tmp_path: Path, context: dict[str, dict[str, Any]]) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "agent_reply.txt").write_text(
        "{% block subject %}{{ ticket.tag }}{% endblock %}"
        "{% block body %}{{ body }}{% endblock %}"
        "{% block html %}<p>{{ body }}</p>{% endblock %}"
    )
    ctx = context["agent_reply"]
    ctx["body"] = "<script>alert(1)</script>"
    out = Templates(override_dir=tmp_path).render("agent_reply", "en", **ctx)
    assert out.text == "<script>alert(1)</script>\n"
    assert out.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


def test_missing_variable_raises(templates: Templates, context: dict[str, dict[str, Any]]) -> None:
    ctx = context["resolved"]
    del ctx["window_days"]
    with pytest.raises(jinja2.UndefinedError):
        templates.render("resolved", **ctx)
    ctx = context["acknowledgement"]
    ctx["ticket"] = SimpleNamespace(number=1, tag="[BITAM #1]")
    with pytest.raises(jinja2.UndefinedError):
        templates.render("acknowledgement", **ctx)


def test_unknown_name_or_language_raises(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    with pytest.raises(ValueError):
        templates.render("nonexistent", **context["closed"])
    with pytest.raises(ValueError):
        templates.render("../es/closed", **context["closed"])
    with pytest.raises(ValueError):
        templates.render("closed", "de", **context["closed"])
    with pytest.raises(ValueError):
        Templates(language="xx")


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_customer_subject_cannot_inject_headers(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["acknowledgement"]
    ctx["ticket"] = _ticket(subject="Hola\r\nBcc: evil@x\tmás\x00\x85\u2028fin")
    subject = templates.render("acknowledgement", language, **ctx).subject
    assert subject == "[BITAM #12] Hola Bcc: evil@x más fin"
    ctx = context["rejected_unregistered"]
    ctx["original_subject"] = "x\r\nBcc: evil@x"
    assert templates.render("rejected_unregistered", language, **ctx).subject == (
        "Re: x Bcc: evil@x"
    )


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_customer_text_is_data_not_template(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = context["agent_notification"]
    ctx["body"] = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ support.address }}"
    ctx["ticket"] = _ticket(subject="{{ 7*7 }}")
    out = templates.render("agent_notification", language, **ctx)
    assert "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ support.address }}" in out.text
    assert "49" not in out.text
    assert out.subject == "[BITAM #12] {{ 7*7 }}"


def test_sandbox_blocks_unsafe_attribute_access(
    tmp_path: Path, context: dict[str, dict[str, Any]]
) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "closed.txt").write_text(
        "{% block subject %}x{% endblock %}"
        "{% block body %}{{ ticket.__class__.__mro__ }}{% endblock %}"
    )
    with pytest.raises(jinja2.TemplateError):
        Templates(override_dir=tmp_path).render("closed", **context["closed"])


def test_body_whitespace_is_normalised(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    ctx = context["agent_reply"]
    ctx["body"] = "línea con espacios   \r\nsegunda\t\n\n\n"
    text = templates.render("agent_reply", **ctx).text
    assert text.startswith("línea con espacios\nsegunda\n")
    assert text.endswith("conservando el asunto.\n")


def test_dt_filter() -> None:
    assert format_datetime(datetime(2026, 11, 27, 10, 30, tzinfo=MX)) == (
        "2026-11-27 10:30 (America/Mexico_City)"
    )
    assert format_datetime(date(2027, 12, 31)) == "2027-12-31"
    with pytest.raises(ValueError):
        format_datetime(datetime(2026, 11, 27, 10, 30))


def test_hours_and_size_filters() -> None:
    assert format_hours(4.0) == "4"
    assert format_hours(16.5) == "16.5"
    assert format_hours(40) == "40"
    assert format_hours(2.25) == "2.25"
    assert format_size(512) == "512 bytes"
    assert format_size(26_214_400) == "25 MiB"
    assert format_size(183_500) == "179.2 KiB"


def test_reply_prefix_is_not_doubled(
    templates: Templates, context: dict[str, dict[str, Any]]
) -> None:
    out = templates.render("agent_command_error", **context["agent_command_error"])
    assert out.subject == "Re: [BITAM #12] No puedo iniciar sesión en bFiskur"
    assert reply_subject("RV: hola") == "RV: hola"
    assert reply_subject("AW:hola") == "AW:hola"
    assert reply_subject("Reunión") == "Re: Reunión"
    assert reply_subject("") == "Re: "


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_item1_attachments_mail_with_only_a_file_too_big_reads_cleanly(
    templates: Templates, context: dict[str, dict[str, Any]], language: str
) -> None:
    ctx = {**context["agent_attachments"], "files": [], "parts": 1}
    text = templates.render("agent_attachments", language, **ctx).text
    assert "\n\n\n" not in text
    assert "maildesk attachments get 12 4 -o" in text
    assert "captura.png" not in text
