"""A ticket's history in words, for `tickets show` (SPEC §10 "Dates for people").

Events are stored as a kind, an actor and a JSON detail, written for programs and audits;
an operator reads "Ana Pérez reopened the ticket by replying" instead of
`reopened ana@acme.example {}`. Rule ids (P7, T4) never appear: the sentence says what
happened. Dates read as `domain.dates` writes them, in the support language and timezone.
A kind this table does not know yet is still shown, its detail as "key: value" words.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from maildesk.domain.dates import datetime_in_words
from maildesk.domain.lifecycle import State

Detail = dict[str, Any]

LABELS = {
    "es": {
        "state": "Estado",
        "type": "Tipo",
        "priority": "Prioridad",
        "customer": "Cliente",
        "requester": "Solicitante",
        "assignee": "Asignado a",
        "product": "Producto",
        "created_at": "Creado",
        "sla_due_at": "Vence el SLA",
        "resolved_at": "Resuelto",
        "closed_at": "Cerrado",
        "resolution_reason": "Motivo",
        "follows_up": "Continúa el ticket",
        "messages": "Mensajes",
        "events": "Historia",
        "attachment": "adjunto",
        "unclassified": "sin clasificar",
        "unsupported": "versión sin soporte",
        "nobody": "nadie",
        "system": "maildesk",
        "participants": "En copia",
    },
    "en": {
        "state": "State",
        "type": "Type",
        "priority": "Priority",
        "customer": "Customer",
        "requester": "Requester",
        "assignee": "Assigned to",
        "product": "Product",
        "created_at": "Created",
        "sla_due_at": "SLA due",
        "resolved_at": "Resolved",
        "closed_at": "Closed",
        "resolution_reason": "Reason",
        "follows_up": "Follows up",
        "messages": "Messages",
        "events": "History",
        "attachment": "attachment",
        "unclassified": "not classified yet",
        "unsupported": "unsupported version",
        "nobody": "nobody",
        "system": "maildesk",
        "participants": "Copied",
    },
}
STATES: dict[str, dict[str, str]] = {
    "es": {State.OPEN: "abierto", State.RESOLVED: "resuelto", State.CLOSED: "cerrado"},
    "en": {s: s.value for s in State},
}
#: A participant's standing (`domain.participants.Standing`) as agents read it.
STANDINGS = {
    "es": {
        "cc": "recibe copia",
        "unregistered": "no registrado: no recibe nada",
        "other_customer": "contacto de otro cliente: no recibe nada",
        "inactive": "contacto dado de baja: no recibe nada",
        "removed": "retirado por un agente: no recibe nada",
    },
    "en": {
        "cc": "copied",
        "unregistered": "not registered: gets nothing",
        "other_customer": "another customer's contact: gets nothing",
        "inactive": "deactivated contact: gets nothing",
        "removed": "removed by an agent: gets nothing",
    },
}
KINDS = {
    "es": {"customer": "cliente", "agent": "agente", "note": "nota interna", "notice": "aviso"},
    "en": {"customer": "customer", "agent": "agent", "note": "internal note", "notice": "notice"},
}


class Words:
    """Sentences in one language and timezone."""

    def __init__(self, language: str, zone: tzinfo) -> None:
        self.lang = language if language in LABELS else "en"
        self.zone = zone
        self.es = self.lang == "es"

    def label(self, key: str) -> str:
        return LABELS[self.lang][key]

    def state(self, value: str | None) -> str:
        return STATES[self.lang].get(value or "", value or "-")

    def standing(self, value: str) -> str:
        return STANDINGS[self.lang].get(value, value)

    def kind(self, value: str) -> str:
        return KINDS[self.lang].get(value, value)

    def when(self, value: str | datetime | None) -> str:
        """An ISO string or datetime as a date for people; anything else unchanged."""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            value = parsed
        if value is None:
            return "-"
        if value.tzinfo is None:
            return str(value)
        return datetime_in_words(value, self.lang, self.zone)

    def who(self, actor: str | None) -> str:
        return self.label("system") if actor in (None, "", "system") else actor

    def event(self, kind: str, actor: str, detail: Detail) -> str:
        phrase = _EVENTS.get(kind)
        if phrase is None:
            return self._unknown(kind, actor, detail)
        return phrase(self, self.who(actor), detail)

    def _unknown(self, kind: str, actor: str, detail: Detail) -> str:
        parts = [f"{k.replace('_', ' ')}: {self._value(v)}" for k, v in detail.items()]
        text = f"{kind.replace('_', ' ')} ({self.who(actor)})"
        return f"{text}: {'; '.join(parts)}" if parts else text

    def _value(self, value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(self._value(v) for v in value) or "-"
        if isinstance(value, dict):
            return ", ".join(f"{k} {self._value(v)}" for k, v in value.items())
        if isinstance(value, bool):
            return ("sí" if value else "no") if self.es else ("yes" if value else "no")
        if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
            return self.when(value)
        return "-" if value is None else str(value)

    def pick(self, es: str, en: str, **values: Any) -> str:
        return (es if self.es else en).format(**values)


Phrase = Callable[[Words, str, Detail], str]


def _with_reason(w: Words, text: str, d: Detail) -> str:
    return f"{text}: {d['reason']}" if d.get("reason") else text


def _created(w: Words, who: str, d: Detail) -> str:
    text = w.pick("{who} abrió el ticket", "{who} opened the ticket", who=who)
    if d.get("on_behalf_of"):
        text += w.pick(" en nombre de {c}", " on behalf of {c}", c=d["on_behalf_of"])
    if d.get("follows_up"):
        text += w.pick(" (continúa el #{n})", " (following up #{n})", n=d["follows_up"])
    return text


def _assigned(w: Words, who: str, d: Detail) -> str:
    old, new = d.get("from"), d.get("to")
    if new is None:
        return w.pick("{who} dejó el ticket sin asignar", "{who} unassigned the ticket", who=who)
    if old is None:
        return w.pick("asignado a {to} por {who}", "assigned to {to} by {who}", to=new, who=who)
    return w.pick(
        "{who} lo reasignó de {old} a {to}", "{who} reassigned it from {old} to {to}",
        who=who, old=old, to=new,
    )  # fmt: skip


def _changed(what_es: str, what_en: str) -> Phrase:
    def phrase(w: Words, who: str, d: Detail) -> str:
        return w.pick(
            "{who} cambió {what_es} de {old} a {new}",
            "{who} changed {what_en} from {old} to {new}",
            who=who, what_es=what_es, what_en=what_en, old=d.get("from") or "-", new=d.get("to"),
        )  # fmt: skip

    return phrase


def _state(w: Words, who: str, d: Detail) -> str:
    text = w.pick(
        "{who} pasó el ticket de {old} a {new}", "{who} moved the ticket from {old} to {new}",
        who=who, old=w.state(d.get("from")), new=w.state(d.get("to")),
    )  # fmt: skip
    return _with_reason(w, text, d)


def _product(w: Words, who: str, d: Detail) -> str:
    to = d.get("to") or {}
    name = " ".join(x for x in (to.get("product"), to.get("version")) if x) or "-"
    return w.pick("{who} fijó el producto: {p}", "{who} set the product: {p}", who=who, p=name)


def _unsupported(w: Words, who: str, d: Detail) -> str:
    return w.pick(
        "la versión {v} no tiene soporte (con soporte: {s})",
        "version {v} is not supported (supported: {s})",
        v=d.get("version") or "-", s=", ".join(d.get("supported") or []) or "-",
    )  # fmt: skip


def _timer(w: Words, who: str, d: Detail) -> str:
    action, to = d.get("action"), ", ".join(d.get("to") or []) or w.label("nobody")
    if action == "close":
        return w.pick(
            "cerrado solo: pasó el plazo tras la resolución ({at})",
            "closed on its own: the time after resolution passed ({at})",
            at=w.when(d.get("due_at")),
        )  # fmt: skip
    if action == "abandon":
        return w.pick(
            "resuelto como abandonado: el cliente no contestó a la respuesta del {at}",
            "resolved as abandoned: the customer did not answer the reply of {at}",
            at=w.when(d.get("agent_answer_at")),
        )  # fmt: skip
    if action == "remind":
        return w.pick(
            "recordatorio al comité (día {day}) a {to}",
            "reminder to the committee (day {day}) to {to}",
            day=d.get("day"), to=to,
        )  # fmt: skip
    if action == "escalate_feature":
        return w.pick(
            "plazo del comité vencido (día {day}) sin decisión; avisado {to}",
            "the committee's deadline passed (day {day}) with no decision; told {to}",
            day=d.get("day"), to=to,
        )  # fmt: skip
    if action == "sla_warning":
        return w.pick(
            "aviso: el SLA vence el {at}; avisado {to}", "warning: the SLA is due {at}; told {to}",
            at=w.when(d.get("due_at")), to=to,
        )  # fmt: skip
    if action == "sla_breach":
        return w.pick(
            "SLA vencido el {at}; escalado a {to}", "SLA missed at {at}; escalated to {to}",
            at=w.when(d.get("due_at")), to=to,
        )  # fmt: skip
    return w._unknown("timer", who, d)


def _participant(w: Words, who: str, d: Detail) -> str:
    how = {
        "mail": w.pick(" (en el correo de {who})", " (in {who}'s mail)", who=who),
        "command": w.pick(" (orden de {who})", " ({who}'s command)", who=who),
    }.get(d.get("via") or "", "")
    return f"{d.get('address')}: {w.standing(d.get('standing') or '')}{how}"


def _simple(es: str, en: str) -> Phrase:
    def phrase(w: Words, who: str, d: Detail) -> str:
        return _with_reason(w, w.pick(es, en, who=who, **{k: w._value(v) for k, v in d.items()}), d)

    return phrase


def _attachments_mailed(w: Words, who: str, d: Detail) -> str:
    """`#adjuntos`: which files went to whom, in how many mails, and which could not."""
    files, big = w._value(d.get("files") or []), w._value(d.get("too_big") or [])
    text = w.pick(
        "adjuntos n.º {files} enviados por correo a {who} ({mails} correo(s))",
        "attachments no. {files} mailed to {who} ({mails} mail(s))",
        files=files,
        who=who,
        mails=d.get("mails", 0),
    )
    if d.get("too_big"):
        text += w.pick(
            "; demasiado grandes para el correo: {big}", "; too big to mail: {big}", big=big
        )
    return text


_EVENTS: dict[str, Phrase] = {
    "created": _created,
    "assigned": _assigned,
    "state": _state,
    "type": _changed("el tipo", "the type"),
    "priority": _changed("la prioridad", "the priority"),
    "product": _product,
    "unsupported_version": _unsupported,
    "timer": _timer,
    "customer_reply": _simple("{who} respondió", "{who} replied"),
    "reopened": _simple("{who} reabrió el ticket", "{who} reopened the ticket"),
    "customer_confirmed": _simple("{who} confirmó la solución", "{who} confirmed the solution"),
    "auto_reply": _simple(
        "respuesta automática de {who} (no cuenta como respuesta)",
        "automatic reply from {who} (not counted as an answer)",
    ),
    "agent_reply": _simple("{who} respondió al cliente", "{who} answered the customer"),
    "agent_mail": _simple("{who} escribió al ticket", "{who} wrote to the ticket"),
    "agent_commands": _simple("{who} envió órdenes: {commands}", "{who} sent commands: {commands}"),
    "agent_command_rejected": _simple(
        "órdenes de {who} rechazadas, nada aplicado: {errors}",
        "commands from {who} refused, nothing applied: {errors}",
    ),
    "authentication_results_ignored": _simple(
        "correo de {who} con Authentication-Results falsos de {authserv_ids}: ignorados",
        "mail from {who} with forged Authentication-Results of {authserv_ids}: ignored",
    ),
    "agent_unauthenticated": _simple(
        "correo de {who} sin autenticar, nada aplicado",
        "mail from {who} not authenticated, nothing applied",
    ),
    "out_of_scope": _simple("{who} lo marcó fuera del alcance", "{who} marked it out of scope"),
    "feature_decision": _simple(
        "{who}: el comité decidió viable = {viable}",
        "{who}: the committee decided viable = {viable}",
    ),
    "committee_note": _simple(
        "{who} (comité) escribió al ticket", "{who} (committee) wrote to the ticket"
    ),
    "sla_restarted": _simple(
        "nuevo plazo de SLA desde la reapertura: vence el {due_at}",
        "new SLA clock from the reopening: due {due_at}",
    ),
    "forwarded_to_committee": _simple("enviado al comité ({to})", "sent to the committee ({to})"),
    "committee_not_configured": _simple(
        "no hay comité configurado: nadie recibió la solicitud",
        "no committee configured: nobody received the request",
    ),
    "notice_suppressed": _simple(
        "no se envió «{template}» a {to}", "«{template}» was not sent to {to}"
    ),
    "bounce": _simple(
        "rebote de {who} (definitivo: {permanent}) para {recipients}",
        "bounce from {who} (permanent: {permanent}) for {recipients}",
    ),
    "participant": _participant,
    "attachments_mailed": _attachments_mailed,
    "participants_carried": _simple(
        "en copia como en el #{from}: {addresses}", "copied as on #{from}: {addresses}"
    ),
    "contact_suppressed": _simple(
        "sin avisos automáticos al contacto hasta el {until}",
        "no automatic mail to the contact until {until}",
    ),
}
