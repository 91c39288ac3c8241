"""`maildesk tickets show N` as text: the ticket as a person reads it, in the support
language and timezone; every piece of customer text made safe for the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maildesk.cli.output import colour_on, paint, safe, safe_line
from maildesk.cli.words import Words

if TYPE_CHECKING:
    from maildesk.app import App


def _person(name: str | None, address: str | None) -> str:
    if not address:
        return "-"
    return f"{name} <{address}>" if name and name != address else address


def _fields(w: Words, d: dict[str, Any]) -> list[tuple[str, str]]:
    kind = f"{d['type']}" + (f" ({w.label('unclassified')})" if d.get("unclassified") else "")
    product = " ".join(x for x in (d.get("product"), d.get("product_version")) if x)
    if product and d.get("unsupported_version"):
        product += f" ({w.label('unsupported')})"
    rows = [
        ("state", w.state(d["state"])),
        ("type", kind),
        ("priority", d["priority"]),
        ("customer", f"{d.get('customer_name') or d['customer']} ({d['customer']})"),
        ("requester", _person(d.get("requester_name"), d["requester"])),
        ("assignee", _person(d.get("assignee_name"), d["assignee"])),
        ("product", product),
        ("created_at", w.when(d["created_at"])),
        ("sla_due_at", w.when(d["sla_due_at"]) if d["sla_due_at"] else ""),
        ("resolved_at", w.when(d["resolved_at"]) if d["resolved_at"] else ""),
        ("closed_at", w.when(d["closed_at"]) if d["closed_at"] else ""),
        ("resolution_reason", d.get("resolution_reason") or ""),
        ("follows_up", f"#{d['follows_up']}" if d.get("follows_up") else ""),
    ]
    return [(w.label(key), value) for key, value in rows if value]


def delivery(w: Words, info: dict[str, Any] | None) -> str:
    """Where an outgoing mail stands: delivered when, waiting, or given up and why."""
    if info is None:
        return ""
    state, tries, error = info["state"], info["attempts"], info.get("last_error") or ""
    error = safe_line(error)[:200]
    if state == "sent":
        return w.pick("entregado el {at}", "delivered {at}", at=w.when(info["sent_at"]))
    if state == "failed":
        return w.pick(
            "NO ENTREGADO tras {n} intentos: {e}", "NOT DELIVERED after {n} attempts: {e}",
            n=tries, e=error,
        )  # fmt: skip
    if state == "cancelled":
        return w.pick("cancelado, no se enviará", "cancelled, will not be sent")
    if tries:
        return w.pick(
            "por enviar ({n} intentos fallidos: {e})",
            "waiting to be sent ({n} failed attempts: {e})",
            n=tries, e=error,
        )  # fmt: skip
    return w.pick("por enviar", "waiting to be sent")


def print_ticket(app: App, detail: dict[str, Any]) -> None:
    w = Words(app.cfg.support.language, app.calendar.tz)
    on = colour_on()
    prefix = app.cfg.support.subject_prefix
    print(paint(safe_line(f"[{prefix} #{detail['number']}] {detail['subject']}"), "bold", on=on))
    fields = _fields(w, detail)
    pad = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"  {label:<{pad}}  {safe_line(value)}")
    _print_participants(w, detail.get("participants") or [], on=on)
    print(f"\n{paint(w.label('messages'), 'bold', on=on)}")
    for m in detail["messages"]:
        _print_message(w, m, on=on)
    print(f"\n{paint(w.label('events'), 'bold', on=on)}")
    for e in detail["events"]:
        print(f"  {w.when(e['at'])}  {safe_line(w.event(e['kind'], e['actor'], e['detail']))}")


def _print_participants(w: Words, people: list[dict[str, Any]], *, on: bool) -> None:
    """SPEC §10: who besides the requester is on the ticket, and who of them gets mail."""
    if not people:
        return
    print(f"\n{paint(w.label('participants'), 'bold', on=on)}")
    for p in people:
        line = f"{_person(p.get('name'), p['email'])}: {w.standing(p['standing'])}"
        if p["standing"] == "cc" and not p["mailed"]:  # the registry changed since
            line = f"{_person(p.get('name'), p['email'])}: {w.standing('inactive')}"
        print(f"  {paint(safe_line(line), None if p['mailed'] else 'dim', on=on)}")


def _print_message(w: Words, m: dict[str, Any], *, on: bool) -> None:
    arrow = f"{m['from']} → {m['to']}"
    head = f"{w.when(m['date'])} · {w.kind(m['kind'])} · {arrow}"
    print(f"\n  {paint(safe_line(head), 'dim', on=on)}")
    deliveries = m.get("deliveries") or ([m["delivery"]] if m.get("delivery") else [])
    for info in deliveries:
        status = delivery(w, info)
        if len(deliveries) > 1:  # copied to participants: each address on its own
            status = f"{info['to']}: {status}"
        style = "red" if info["state"] == "failed" else None
        print(f"  {paint(safe_line(status), style, on=on)}")
    print(f"  {safe_line(m['subject'])}")
    for line in m["body"].splitlines():
        print(f"    {safe(line)}".rstrip())
    for a in m["attachments"]:
        att = f"[{w.label('attachment')} {a['id']}] {a['filename']} ({a['content_type']}, "
        print(f"    {safe_line(att)}{a['size']} bytes)")
