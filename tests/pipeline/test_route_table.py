"""route() as a table (issue 13 item 7): one row per rule R1–R9 and the size limit, then the
cases where the order of `route.CHAIN` decides. Pure: parsed mail, a classification and
facts in, a Decision out; no database, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from maildesk.domain.lifecycle import State
from maildesk.mail.classify import Classification, MailKind
from maildesk.mail.inbound import Inbound
from maildesk.mail.parse import parse
from maildesk.pipeline.outcome import Refusal
from maildesk.pipeline.route import (
    Action,
    BouncedRow,
    Decision,
    Facts,
    SenderFacts,
    SenderKind,
    TicketRef,
    Via,
    route,
)
from tests.helpers import make_mail

TODAY = date(2026, 11, 25)
ACME, GLOBEX = "acme", "globex"

CONTACT = SenderFacts(SenderKind.CONTACT, "ana@acme.example", contact_id=1, customer_id=ACME)
EXPIRED = SenderFacts(
    SenderKind.CONTACT,
    "otto@oldco.example",
    contact_id=2,
    customer_id=ACME,
    support_until=date(2020, 1, 31),
)
AGENT = SenderFacts(SenderKind.AGENT, "agente1@support.example", agent_id=1)
COMMITTEE = SenderFacts(SenderKind.COMMITTEE, "comite@support.example")
STAFF = SenderFacts(SenderKind.STAFF, "jefe@support.example")
STRANGER = SenderFacts(SenderKind.UNKNOWN, "eve@elsewhere.example")

NORMAL = Classification(MailKind.NORMAL)
BOUNCE = Classification(MailKind.BOUNCE, "dsn", bounced_message_ids=("md.1@x",))
AUTO = Classification(MailKind.AUTO, "auto-submitted", suppress_autoreply=True)
# Sent to an address shaped like one of our return paths (mail/verp.py)
TO_RETURN_PATH = Classification(MailKind.BOUNCE, "sent to our return path", to_return_path=True)


def ticket(state: State, customer: str = ACME, number: int = 7) -> TicketRef:
    return TicketRef(number, customer, state, Via.REFERENCES)


@dataclass(frozen=True)
class Row:
    """One mail's situation and the decision route() must give."""

    sender: SenderFacts = CONTACT
    cls: Classification = NORMAL
    ticket: TicketRef | None = None
    bounced: TicketRef | None = None
    bounced_row: BouncedRow | None = None
    duplicate: bool = False
    too_large: bool = False
    body: str = "Hola, el reporte de ventas marca error 500 desde ayer.\n"
    expect: dict[str, object] = field(default_factory=dict)


def _decide(row: Row) -> Decision:
    msg: Inbound = parse(make_mail(sender=row.sender.email, body=row.body))
    facts = Facts(
        duplicate=row.duplicate,
        sender=row.sender,
        ticket=row.ticket,
        bounced_ticket=row.bounced,
        today=TODAY,
        too_large=row.too_large,
        bounced_row=row.bounced_row,
    )
    return route(msg, row.cls, facts)


RULES = {
    "r1_duplicate": Row(duplicate=True, expect={"action": Action.DUPLICATE, "rule": "R1"}),
    "r2_bounce_on_its_ticket": Row(
        sender=STRANGER,
        cls=BOUNCE,
        bounced=ticket(State.OPEN),
        expect={"action": Action.BOUNCE_ON_TICKET, "rule": "R2", "ticket": 7},
    ),
    "r2_bounce_without_ticket": Row(
        sender=STRANGER, cls=BOUNCE, expect={"action": Action.IGNORE, "rule": "R2"}
    ),
    "r2_bounce_of_a_row_without_ticket": Row(
        sender=STRANGER,
        cls=TO_RETURN_PATH,
        bounced_row=BouncedRow(3, "otto@oldco.example", None, Via.RETURN_PATH),
        expect={"action": Action.BOUNCE_ON_TICKET, "rule": "R2", "ticket": None},
    ),
    "r2_bounce_to_a_return_path_of_no_row": Row(
        sender=STRANGER,
        cls=TO_RETURN_PATH,
        expect={"action": Action.IGNORE, "reason": "bounce to a return path we never used"},
    ),
    "r3_auto_reply_on_own_ticket": Row(
        cls=AUTO,
        ticket=ticket(State.OPEN),
        expect={"action": Action.AUTO_ON_TICKET, "rule": "R3", "ticket": 7},
    ),
    "r3_auto_reply_on_another_customers_ticket": Row(
        cls=AUTO, ticket=ticket(State.OPEN, GLOBEX), expect={"action": Action.IGNORE}
    ),
    "r4_agent_on_ticket": Row(
        sender=AGENT,
        ticket=ticket(State.OPEN, GLOBEX),
        expect={"action": Action.AGENT_MAIL, "rule": "R4", "ticket": 7},
    ),
    "r4_agent_without_ticket": Row(
        sender=AGENT, expect={"action": Action.AGENT_MAIL, "rule": "R4", "ticket": None}
    ),
    "r4_committee_member_on_ticket": Row(
        sender=COMMITTEE,
        ticket=ticket(State.OPEN, GLOBEX),
        expect={"action": Action.COMMITTEE_MAIL, "rule": "R4", "ticket": 7},
    ),
    "r5_unregistered": Row(
        sender=STRANGER,
        expect={
            "action": Action.REJECT,
            "rule": "R5",
            "reason": Refusal.UNREGISTERED,
            "notice": "rejected_unregistered",
        },
    ),
    "r5_staff_not_agent_is_kept_unanswered": Row(
        sender=STAFF, expect={"action": Action.IGNORE, "rule": "R5", "notice": None}
    ),
    "r6_contract_expired": Row(
        sender=EXPIRED,
        expect={
            "action": Action.REJECT,
            "rule": "R6",
            "reason": Refusal.CONTRACT_EXPIRED,
            "notice": "contract_expired",
        },
    ),
    "size_limit": Row(
        too_large=True,
        expect={"action": Action.REJECT, "reason": Refusal.TOO_LARGE, "notice": "too_large"},
    ),
    "r7_follow_up_on_open_ticket": Row(
        ticket=ticket(State.OPEN),
        expect={"action": Action.FOLLOW_UP, "rule": "R7", "ticket": 7, "notice": None},
    ),
    "r7_thanks_on_resolved_ticket_confirms": Row(
        ticket=ticket(State.RESOLVED),
        body="¡Muchas gracias, ya funciona!\n",
        expect={"action": Action.CONFIRM, "rule": "R7", "ticket": 7},
    ),
    "p10_reply_on_resolved_ticket_reopens": Row(
        ticket=ticket(State.RESOLVED),
        expect={"action": Action.REOPEN, "rule": "P10", "ticket": 7},
    ),
    "p11_reply_on_closed_ticket_opens_a_follow_up": Row(
        ticket=ticket(State.CLOSED),
        expect={
            "action": Action.NEW_TICKET,
            "rule": "P11",
            "follows_up": 7,
            "notice": "followup_new_ticket",
        },
    ),
    "r8_another_customers_ticket_is_a_new_topic": Row(
        ticket=ticket(State.OPEN, GLOBEX),
        expect={"action": Action.NEW_TICKET, "rule": "R8", "follows_up": None, "ticket": None},
    ),
    "r9_new_topic": Row(
        expect={"action": Action.NEW_TICKET, "rule": "R9", "notice": "acknowledgement"}
    ),
}

# Where two rules both match, the earlier one in route.CHAIN wins.
ORDER = {
    "r1_before_r2_a_bounce_seen_before": Row(
        sender=STRANGER,
        cls=BOUNCE,
        bounced=ticket(State.OPEN),
        duplicate=True,
        expect={"action": Action.DUPLICATE},
    ),
    "r2_before_r7_a_customers_mail_to_a_return_path": Row(
        cls=TO_RETURN_PATH,
        ticket=ticket(State.OPEN),
        bounced=ticket(State.OPEN, number=8),
        expect={"action": Action.BOUNCE_ON_TICKET, "rule": "R2", "ticket": 8},
    ),
    "r2_before_r4_a_bounce_from_an_agent_address": Row(
        sender=AGENT, cls=BOUNCE, expect={"action": Action.IGNORE, "rule": "R2"}
    ),
    "r3_before_r5_a_strangers_auto_reply_gets_no_notice": Row(
        sender=STRANGER, cls=AUTO, expect={"action": Action.IGNORE, "rule": "R3"}
    ),
    "r5_before_size_a_stranger_gets_only_the_unregistered_notice": Row(
        sender=STRANGER, too_large=True, expect={"rule": "R5", "reason": Refusal.UNREGISTERED}
    ),
    "size_before_r4_an_agents_oversized_mail": Row(
        sender=AGENT, too_large=True, expect={"action": Action.REJECT, "rule": "size"}
    ),
    "r4_before_r7_an_agent_is_never_a_customer_reply": Row(
        sender=AGENT, ticket=ticket(State.RESOLVED), expect={"action": Action.AGENT_MAIL}
    ),
    "r6_before_r7_an_expired_customer_cannot_follow_up": Row(
        sender=EXPIRED, ticket=ticket(State.OPEN), expect={"action": Action.REJECT, "rule": "R6"}
    ),
    "r8_before_p11_another_customers_closed_ticket": Row(
        ticket=ticket(State.CLOSED, GLOBEX),
        expect={"action": Action.NEW_TICKET, "rule": "R8", "follows_up": None},
    ),
}


@pytest.mark.parametrize("row", RULES.values(), ids=RULES.keys())
def test_route_rules(row: Row) -> None:
    decision = _decide(row)
    assert {k: getattr(decision, k) for k in row.expect} == row.expect


@pytest.mark.parametrize("row", ORDER.values(), ids=ORDER.keys())
def test_route_chain_order(row: Row) -> None:
    decision = _decide(row)
    assert {k: getattr(decision, k) for k in row.expect} == row.expect


def test_route_table_reaches_every_action() -> None:
    """The table covers every action route() can give."""
    seen = {_decide(row).action for row in (*RULES.values(), *ORDER.values())}
    assert seen == set(Action)
