"""Recipients maildesk never writes to, whatever rule queued the mail (SPEC §10).

- The support address itself, in any spelling (`+tag`, case, trailing dot): a mail to it
  would come back in as inbound mail, and an answer to that would loop.
- Staff addresses (agents, supervisors, committee, the support address) never get the
  notices written for customers: a supervisor who writes to the support address is not an
  unregistered stranger, and an agent is not a requester.

Checked by `queue_mail` and the timers' bulk queue, so every path to the outbox passes here.
Also here: who is copied on a ticket's public mail (`copies`), for the same two paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maildesk.app import App

# Templates written to a customer about their ticket or their mail. `too_large` is not among
# them: it tells any sender, staff included, that their mail was not taken.
CUSTOMER_NOTICES = frozenset(
    {
        "acknowledgement",
        "rejected_unregistered",
        "contract_expired",
        "unsupported_version",
        "followup_new_ticket",
        "resolved",
        "abandoned",
        "closed",
        "reopened",
        "feature_forwarded",
        "feature_decision",
        "out_of_scope",
    }
)


# A ticket's public mail (SPEC §10 "Participants"): what its requester receives about it,
# sent to the ticket's participants as well, in Cc of the same mail (one Message-ID, so the
# thread is the same for all of them). Internal mail (agents, committee) never is.
PARTICIPANT_MAIL = frozenset(
    {
        "acknowledgement",
        "followup_new_ticket",
        "unsupported_version",
        "agent_reply",
        "reopened",
        "resolved",
        "abandoned",
        "closed",
        "out_of_scope",
        "feature_decision",
        "classified",
    }
)


def copies(
    template: str, to: str, requester: tuple[str, str], mailed: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(name, address) in Cc of a ticket's `template` mail to `to`: the requester (when the
    mail is not to them) and the mailed participants, each once, never `to`; nobody for
    mail that is not the ticket's public mail."""
    if template not in PARTICIPANT_MAIL:
        return []
    seen = {to.lower()}
    out = []
    for name, address in (requester, *mailed):
        key = address.lower()
        if key and key not in seen:
            seen.add(key)
            out.append((name, key))
    return out


def refused_recipient(app: App, to: str, template: str) -> str | None:
    """Why `template` must never be sent to `to`, or None."""
    if app.is_support_address(to):
        return "the support address itself"
    if template in CUSTOMER_NOTICES and app.is_staff(to):
        return "a customer notice to a staff address"
    return None
