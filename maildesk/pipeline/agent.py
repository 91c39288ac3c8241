"""R4: mail from a registered agent — authenticate, run `#` commands, relay the answer (§4).

Read top-down, one mail:

1. Sender authentication (when `require_authenticated_agents`): a mail that a trusted server
   did not see pass DMARC (or aligned DKIM) is refused: `agent_unauthenticated` to the agent's
   registered address, event on the ticket, outcome REJECTED. Nothing is stored on the ticket
   (a forger must not be able to write even internal notes); the raw mail stays in the ledger.
2. Commands are parsed from the new content (quoted history and `-- ` signature already
   stripped at parse time; commands sit at the top, so they survive that stripping).
3. All or nothing: any error → `agent_command_error` to the agent listing them all, event
   `agent_command_rejected`, the mail kept on the ticket as an internal note (kind "note",
   not public); outcome FOLLOWED_UP (IGNORED when the mail refers to no ticket).
4. Otherwise commands apply in order, then the remaining body (minus the agent's name line)
   is relayed to the requester, then the customer notices the commands caused are queued.

Storage, so `tickets show` shows every text once: the agent's inbound mail is a message
(direction in, kind "agent", not public) whose body is just its command lines — its full
text and raw bytes are kept — and the relayed answer is the outbound public "agent" message.
An agent answering an unassigned ticket takes it (common helpdesk behaviour); an unassigned
ticket that gets a type from `#type` without an answer is auto-assigned by skill (P7).

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from maildesk.domain.commands import Command, parse_agent_mail
from maildesk.domain.lifecycle import State
from maildesk.pipeline import commands as agent_commands
from maildesk.pipeline.handover import SYSTEM, announce
from maildesk.pipeline.on_behalf import find_eligible_contact, open_on_behalf
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.records import store_message
from maildesk.pipeline.relay import relay_answer, strip_agent_signature
from maildesk.pipeline.staff_mail import (
    Person,
    authenticate,
    confirm_applied,
    record_ignored,
    refuse_unauthenticated,
    reject_commands,
)
from maildesk.pipeline.tickets import add_event, assign, pick_assignee
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Agent, Ticket


def handle_agent_mail(u: Unit, ticket: Ticket | None) -> Outcome:
    """R4: one agent mail → one outcome; every write happens in the unit's transaction."""
    agent = u.s.get(Agent, u.facts.sender.agent_id)
    assert agent is not None  # R4 found this agent in the same transaction
    verdict = authenticate(u.app, u.msg)
    if verdict.ignored:
        record_ignored(u, ticket, verdict)
    if not verdict.ok:
        return refuse_unauthenticated(u, _person(agent), ticket, verdict)
    parsed = parse_agent_mail(u.msg.new_content or u.msg.text)
    body = strip_agent_signature(parsed.body, agent)
    if ticket is None:
        if any(c.name == "new" for c in parsed.commands):
            return _open_for_customer(u, agent, parsed.commands, list(parsed.errors), body)
        if parsed.errors:
            return _reject_commands(u, agent, None, list(parsed.errors))
        return _reject_commands(u, agent, None, [_NO_TICKET])
    errors = list(parsed.errors)
    errors += agent_commands.check(
        u.s, ticket.state, ticket.type, parsed.commands, ticket=ticket.number
    )
    if ticket.state is State.CLOSED and body.strip() and not parsed.is_internal_note:
        errors.append(_CLOSED)
    if errors:
        return _reject_commands(u, agent, ticket, errors)
    return _apply_to_ticket(u, agent, ticket, parsed.commands, body, note=parsed.is_internal_note)


_NO_TICKET = (
    "this mail refers to no ticket: answer a ticket notification (keep the ticket tag in the "
    "subject), or put '#new customer@example.com' at the top to open a ticket on behalf of "
    "that customer (P14)"
)
_CLOSED = (
    "the ticket is closed (P11): the answer was not sent to the customer; if the problem is "
    "back, open a new ticket with #new"
)


#: Commands that change nothing on the ticket (the files come back by mail): no confirmation.
READ_ONLY = frozenset({"attachments", "note"})


def _person(agent: Agent) -> Person:
    return Person(agent.email, agent.name)


def _reject_commands(u: Unit, agent: Agent, ticket: Ticket | None, errors: list[str]) -> Outcome:
    no_ticket = "agent mail without a ticket reference" if errors == [_NO_TICKET] else ""
    return reject_commands(u, _person(agent), ticket, errors, no_ticket=no_ticket)


def _apply_to_ticket(
    u: Unit, agent: Agent, ticket: Ticket, commands: tuple[Command, ...], body: str, *, note: bool
) -> Outcome:
    s, now = u.s, u.now
    before = ticket.assignee
    if note:
        store_message(u, ticket, "note", public=False, body=body)
    else:
        command_text = "\n".join(c.line for c in commands)
        store_message(u, ticket, "agent", public=False, body=command_text)
    applied = agent_commands.apply(u, ticket, commands, agent.email)
    relayed = not note and bool(body.strip())
    if relayed:
        mid = relay_answer(u, ticket, agent, body)
        add_event(s, ticket, now, "agent_reply", agent.email, message_id=mid)
    by = agent.email
    if ticket.assignee is None:
        if relayed:  # taken by answering: the agent knows, no mail
            assign(s, ticket, agent, now, agent.email)
        elif applied.type_changed:
            chosen = pick_assignee(s, ticket)
            if chosen is not None:
                assign(s, ticket, chosen, now, SYSTEM)
                by = SYSTEM
    for send in applied.sends:
        send()
    announce(u, ticket, before, by)
    changing = [c.line for c in commands if c.name not in READ_ONLY]
    if not relayed and (note or changing):
        confirm_applied(u, _person(agent), ticket, changing, note=note)
    if note:
        return Outcome(Kind.FOLLOWED_UP, "internal note", ticket.number)
    if relayed:
        return Outcome(Kind.FOLLOWED_UP, "agent answer relayed", ticket.number)
    if commands:
        return Outcome(Kind.FOLLOWED_UP, "agent commands applied", ticket.number)
    add_event(s, ticket, now, "agent_mail", agent.email)
    return Outcome(Kind.FOLLOWED_UP, "agent mail stored (nothing to relay)", ticket.number)


def _open_for_customer(
    u: Unit, agent: Agent, commands: tuple[Command, ...], errors: list[str], body: str
) -> Outcome:
    """P14: `#new customer@example.com` opens a ticket for that customer; other commands in
    the same mail (type, priority, product, assign...) then apply to the new ticket."""
    news = [c for c in commands if c.name == "new"]
    others = tuple(c for c in commands if c.name != "new")
    if len(news) > 1:
        errors.append("only one #new per mail: each ticket is one topic (P4)")
    contact, why = find_eligible_contact(u.s, news[0].args[0], u.facts.today)
    if contact is None:
        errors.append(f'"{news[0].line}": {why}')
    if any(c.name == "note" for c in others):
        errors.append("#note cannot open a ticket: the request must be the ticket's message")
    errors += agent_commands.check(
        u.s, State.OPEN, u.app.cfg.support.default_type, others, ticket=None
    )
    if not body.strip():
        errors.append("#new needs the customer's request written below the commands")
    if errors or contact is None:
        return _reject_commands(u, agent, None, errors)
    t = open_on_behalf(u, agent, contact, body)
    applied = agent_commands.apply(u, t, others, agent.email)
    for send in applied.sends:
        send()
    announce(u, t, agent, agent.email)  # `#assign` among the commands hands it over
    return Outcome(Kind.TICKETED, f"opened on behalf of {contact.email} (P14)", t.number)
