"""R4 for the feature committee (P13, SPEC §10): its shared address, and members who are not
agents, record a feature request's viability by answering the forward with `#viable yes|no
[reason]` (`#viable si|no`) at the top.

The same authentication rule as agents' commands (a trusted server saw DMARC pass). The
committee decides; it does not talk to the customer: its words are never relayed, only the
decision reaches the customer (`feature_decision`). So:

- `#viable` (and `#note`) are the committee's commands; any other command, or a `#viable` on
  a ticket that is not a feature request, refuses the whole mail with the usual error mail
  (nothing applied, SPEC §10 "commands fail closed").
- The mail is kept on the ticket as an internal note, and the assignee (else the agents) is
  told, whether it carried a decision or a question for the agent.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from maildesk.domain.commands import parse_agent_mail
from maildesk.pipeline import commands as agent_commands
from maildesk.pipeline.outcome import Kind, Outcome
from maildesk.pipeline.records import store_message
from maildesk.pipeline.staff_mail import (
    Person,
    authenticate,
    confirm_applied,
    record_ignored,
    refuse_unauthenticated,
    reject_commands,
)
from maildesk.pipeline.tell import notify_agents
from maildesk.pipeline.tickets import add_event
from maildesk.pipeline.unit import Unit
from maildesk.store.models import Ticket

#: What the committee may do by mail; everything else is an agent's job.
COMMITTEE_COMMANDS = frozenset({"viable", "note"})

_NO_TICKET = (
    "this mail refers to no ticket: answer the feature request's forward (keep the ticket tag "
    "in the subject) with '#viable yes' or '#viable no' and the reason on the first line"
)
_NOT_OURS = (
    "the committee records decisions only: write '#viable yes|no [reason]' (or #note); "
    "classifying, answering and closing are the agents' job"
)


def handle_committee_mail(u: Unit, ticket: Ticket | None) -> Outcome:
    """One committee mail → one outcome, every write in the unit's transaction."""
    person = Person(u.facts.sender.email)
    verdict = authenticate(u.app, u.msg)
    if verdict.ignored:
        record_ignored(u, ticket, verdict)
    if not verdict.ok:
        return refuse_unauthenticated(u, person, ticket, verdict)
    parsed = parse_agent_mail(u.msg.new_content or u.msg.text)
    if ticket is None:
        if not (parsed.commands or parsed.errors):  # staff mail about nothing of ours: kept
            return Outcome(Kind.IGNORED, "staff address (committee), no ticket referenced")
        return reject_commands(
            u, person, None, [_NO_TICKET], no_ticket="committee mail without a ticket reference"
        )
    errors = list(parsed.errors)
    ours = tuple(c for c in parsed.commands if c.name in COMMITTEE_COMMANDS)
    errors += [f'"{c.line}": {_NOT_OURS}' for c in parsed.commands if c not in ours]
    errors += agent_commands.check(u.s, ticket.state, ticket.type, ours, ticket=ticket.number)
    if errors:
        return reject_commands(u, person, ticket, errors)
    store_message(u, ticket, "note", public=False)  # its words stay internal
    applied = agent_commands.apply(u, ticket, ours, person.email)
    for send in applied.sends:
        send()
    decided = any(c.name == "viable" for c in ours)
    if not decided:
        add_event(u.s, ticket, u.now, "committee_note", person.email)
    notify_agents(u, ticket, "committee")
    lines = [c.line for c in ours if c.name != "note"]
    confirm_applied(u, person, ticket, lines, note=not lines)
    reason = "committee decision recorded" if decided else "committee note"
    return Outcome(Kind.FOLLOWED_UP, reason, ticket.number)
