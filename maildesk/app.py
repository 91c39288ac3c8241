"""The wired application: config, database, calendars, templates and the HMAC secret.

Entry points (CLI, daemon, tests) build one App and hand it to the pipeline and timers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from maildesk.config import Config, read_secret
from maildesk.domain.calendar import BusinessCalendar
from maildesk.mail.addresses import mailbox_key
from maildesk.mail.msgid import make_message_id, verify_message_id
from maildesk.outbound.templates import Templates
from maildesk.store.db import Database
from maildesk.store.models import Agent, Setting

if TYPE_CHECKING:
    from maildesk.pipeline.outcome import Ingested, Outcome


class App:
    def __init__(self, cfg: Config, db: Database | None = None) -> None:
        self.cfg = cfg
        self.db = db or Database(cfg.database.url)
        self.set_calendars()
        # Called with every inbound Outcome (metrics, waking the sender); never raise.
        self.outcome_listeners: list[Callable[[Outcome], None]] = []
        # Called with each message's outcome and timings (the metrics' histograms).
        self.ingest_listeners: list[Callable[[Ingested], None]] = []

    @cached_property
    def staff_addresses(self) -> frozenset[str]:
        """Our own people (agents, supervisors, committee): mail to them is internal, so the
        loop guards for customers' addresses (R5 caps, bounce suppression) do not apply."""
        c = self.cfg
        staff = {a.email for a in c.agents} | {x.lower() for x in c.escalation.supervisors}
        return frozenset(staff | self.committee_addresses)

    @cached_property
    def committee_addresses(self) -> frozenset[str]:
        """The committee's shared address and its members (P13, SPEC §10)."""
        c = self.cfg.committee
        return frozenset(([c.address] if c.address else []) + list(c.members))

    def is_committee(self, address: str) -> bool:
        """The committee's address or a member's, in any spelling: their `#viable` counts."""
        keys = {mailbox_key(a) for a in self.committee_addresses}
        return bool(address) and mailbox_key(address) in keys

    @cached_property
    def staff_mailboxes(self) -> frozenset[str]:
        """Mailbox keys of every staff address and of the support address (SPEC §10)."""
        keys = {mailbox_key(a) for a in self.staff_addresses}
        return frozenset(keys | {mailbox_key(self.cfg.support.address)})

    def is_support_address(self, address: str) -> bool:
        """The support address in any spelling (+tag, case, trailing dot): never mailed."""
        return bool(address) and mailbox_key(address) == mailbox_key(self.cfg.support.address)

    def is_staff(self, address: str) -> bool:
        """Agents, supervisors, the committee or the support address, in any spelling: never
        sent customer notices, never rejected as unregistered (SPEC §10)."""
        return bool(address) and mailbox_key(address) in self.staff_mailboxes

    @cached_property
    def agent_ids(self) -> dict[str, int]:
        """Active agents' ids by address (agents come from config; filled by sync_agents)."""
        with self.db.transaction() as s:
            return {a.email: a.id for a in s.scalars(select(Agent).where(Agent.active.is_(True)))}

    def set_calendars(self) -> None:
        """The business calendar and its 24x7 twin from `[calendar]` (again after SIGHUP)."""
        self.calendar = self.cfg.calendar.business_calendar()
        self.calendar_24x7 = BusinessCalendar.always(self.cfg.calendar.timezone)

    def calendar_for(self, policy: str) -> BusinessCalendar:
        """The SLA calendar of a customer's policy (P9: 7x24 counts wall-clock hours)."""
        return self.calendar_24x7 if policy == "7x24" else self.calendar

    @cached_property
    def templates(self) -> Templates:
        directory = self.cfg.templates.directory
        override = self.cfg.path(directory) if directory else None
        return Templates(self.cfg.support.language, override)

    @cached_property
    def secret(self) -> bytes:
        """HMAC key for our Message-IDs: security.secret_file, else generated once in the DB."""
        if self.cfg.security.secret_file:
            sec = self.cfg.security.secret_file
            return read_secret(self.cfg, sec, "security.secret_file").encode()
        with self.db.transaction() as s:
            row = s.get(Setting, "hmac_secret")
            if row is None:
                row = Setting(key="hmac_secret", value=secrets.token_hex(32))
                s.add(row)
            return row.value.encode()

    def new_message_id(self, ticket_number: int | None) -> str:
        return make_message_id(self.secret, self.cfg.support_domain, ticket_number)

    def our_ticket_ref(self, message_id: str) -> int | None:
        """Ticket number carried by one of our Message-IDs (0: ours, no ticket; None: not ours)."""
        return verify_message_id(self.secret, message_id)

    def sync_agents(self) -> None:
        """Mirror the configured agents into the agents table (deactivate removed ones)."""
        wanted = {a.email: a for a in self.cfg.agents}
        with self.db.transaction() as s:
            existing = {a.email: a for a in s.scalars(select(Agent))}
            for email, agent in existing.items():
                if email not in wanted and agent.active:
                    agent.active = False
            for email, conf in wanted.items():
                row = existing.get(email) or Agent(email=email)
                row.name = conf.name or email
                row.skills = list(conf.skills)
                row.products = list(conf.products)
                row.committee = conf.committee
                row.active = True
                s.add(row)
        self.__dict__.pop("agent_ids", None)
        self.__dict__.pop("staff_addresses", None)
        self.__dict__.pop("staff_mailboxes", None)

    def prepare(self) -> None:
        """Schema up to date and agents synced: what every command that touches data needs."""
        self.db.upgrade()
        self.sync_agents()
        self.warm()

    def warm(self) -> None:
        """Load what is cached from the database now, never lazily inside another unit of
        work (SQLite would wait on its own write lock)."""
        _ = self.secret
        _ = self.agent_ids

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def outbox_dir(self) -> Path:
        return self.cfg.path(self.cfg.outbound.maildir)
