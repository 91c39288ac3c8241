"""The configuration's sections as dataclasses, with the embedded defaults (the policy's
numbers, P16). Reading and checking a file is `load.py` and `validate.py`.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from maildesk.domain.calendar import BusinessCalendar
from maildesk.domain.sla import DEFAULT_SLA_HOURS, Priority, TicketType

DEFAULT_SLA = {type_: [float(h) for h in row] for type_, row in DEFAULT_SLA_HOURS.items()}


@dataclass
class SupportConfig:
    address: str = "customerservice@localhost"
    subject_prefix: str = "BITAM"
    language: str = "es"
    team_name: str = ""
    default_type: TicketType = TicketType.SUPPORT
    default_priority: Priority = Priority.MEDIUM
    consulting: str = ""  # the consulting department named in out_of_scope notices (P15)
    # Issue 8 item 5: an agent whose mail applied commands (or stored a note) and relayed
    # nothing gets a short mail saying what changed, so silence never means "did it work?".
    confirm_commands: bool = True


@dataclass
class DatabaseConfig:
    url: str = "sqlite:///./maildesk.db"


@dataclass
class ImapConfig:
    host: str = "localhost"
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    username: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    rejected_folder: str = "Rejected"
    quarantine_folder: str = "Quarantine"
    idle: bool = True
    poll_seconds: float = 60.0
    batch_size: int = 100


@dataclass
class SmtpListenConfig:
    host: str = "127.0.0.1"
    port: int = 8025
    max_connections: int = 50
    max_connections_per_peer: int = 10  # one address cannot take every slot (SPEC §10)
    idle_timeout: float = 60.0  # seconds without a byte from the client
    session_timeout: float = 600.0  # seconds a session may last in all


@dataclass
class InboundConfig:
    mode: str = "smtp"
    imap: ImapConfig = field(default_factory=ImapConfig)
    smtp: SmtpListenConfig = field(default_factory=SmtpListenConfig)
    lmtp: SmtpListenConfig = field(default_factory=lambda: SmtpListenConfig(port=8024))


@dataclass
class OutboundConfig:
    mode: str = "maildir"
    host: str = "localhost"
    port: int = 587
    ssl: bool = False
    starttls: bool = True
    username: str = ""
    password_file: str = ""
    maildir: str = "./outbox"
    max_attempts: int = 8
    timeout: float = 30.0


@dataclass
class CalendarConfig:
    timezone: str = "America/Mexico_City"
    open: str = "08:30"
    close: str = "19:00"
    workdays: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    holidays_country: str = "MX"
    extra_holidays: list[date] = field(default_factory=list)

    def business_calendar(self) -> BusinessCalendar:
        """The support's open hours as a calendar (P9), built here only: at start, on
        SIGHUP and when the config is validated (where a bad value raises ValueError)."""
        return BusinessCalendar(
            self.timezone,
            self.open,
            self.close,
            self.workdays,
            self.holidays_country or None,
            self.extra_holidays,
        )


@dataclass
class TimersConfig:
    resolved_to_closed_business_days: int = 15
    abandoned_after_days: int = 30
    feature_decision_days: int = 10
    feature_reminder_days: list[int] = field(default_factory=lambda: [8, 10])
    interval_seconds: float = 120.0
    bounce_suppress_days: int = 30


@dataclass
class AgentConfig:
    email: str = ""
    name: str = ""
    skills: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    committee: bool = False


@dataclass
class CommitteeConfig:
    address: str = ""  # the committee's shared address (P13): gets the feature requests
    # Members who are not agents: their `#viable yes|no` is obeyed like an agent's (SPEC §10)
    members: list[str] = field(default_factory=list)


@dataclass
class EscalationConfig:
    warn_at: float = 0.75
    supervisors: list[str] = field(default_factory=list)


@dataclass
class ReportConfig:
    # The supervisors' digest: a cron expression (minute hour day month weekday) in the
    # support timezone; "" sends none. Default: Mondays at 08:00.
    digest: str = "0 8 * * mon"
    digest_weeks: int = 8  # weeks the digest's charts and tables cover


@dataclass
class TemplatesConfig:
    directory: str = ""


@dataclass
class MetricsConfig:
    listen: str = ""


@dataclass
class LoggingConfig:
    format: str = "text"  # text | json (one object per line, for log shippers)
    level: str = "info"  # of the daemon (`run`); other commands log warnings only


@dataclass
class SecurityConfig:
    trusted_authserv_ids: list[str] = field(default_factory=list)
    require_authenticated_agents: bool | None = None  # None: true iff trusted ids are set
    secret_file: str = ""
    # Hosts (IP addresses or networks) whose mail to our SMTP/LMTP listener went through a
    # trusted MTA's authentication first; "ingest" trusts what `maildesk ingest` is given.
    # Mail from anyone else reaching maildesk directly: no Authentication-Results believed.
    trusted_relays: list[str] = field(default_factory=list)
    internal_hops: int = 0  # Received: fields our own hops add after the authenticating MTA


@dataclass
class LimitsConfig:
    max_message_bytes: int = 25 * 1024 * 1024
    # Mail above this is received into a file on disk, not memory, and is "large": at most
    # large_messages_at_once of them are parsed at a time (SPEC §9: < 150 MiB for 25 MiB).
    large_message_bytes: int = 1024 * 1024
    large_messages_at_once: int = 1
    notices_per_sender_per_hour: int = 3
    auto_mails_per_recipient_per_day: int = 40
    # The files' own sizes (base64 adds a third on the wire) in one mail to an agent:
    # notifications attach the customer's files up to it, `#attachments` splits by it.
    attachments_per_mail_bytes: int = 10 * 1024 * 1024


@dataclass
class Config:
    support: SupportConfig = field(default_factory=SupportConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    sla: dict[str, Any] = field(default_factory=lambda: {"hours": dict(DEFAULT_SLA)})
    timers: TimersConfig = field(default_factory=TimersConfig)
    agents: list[AgentConfig] = field(default_factory=list)
    committee: CommitteeConfig = field(default_factory=CommitteeConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    source: str = "<embedded defaults>"
    base_dir: Path = field(default_factory=Path.cwd)
    # Where systemd's credentials are (`$CREDENTIALS_DIRECTORY`, or `check --credentials-dir`).
    credentials_dir: Path | None = None

    @property
    def sla_hours(self) -> dict[str, list[float]]:
        return self.sla["hours"]

    @property
    def require_authenticated_agents(self) -> bool:
        flag = self.security.require_authenticated_agents
        return bool(self.security.trusted_authserv_ids) if flag is None else flag

    @property
    def support_domain(self) -> str:
        return self.support.address.rpartition("@")[2] or "localhost"

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder. A credential path
        (`/run/credentials/UNIT/NAME`, which exists only inside that unit) is looked up in
        `credentials_dir` when one is given: so `check --credentials-dir /etc/maildesk`, or
        `systemd-run --pipe -p LoadCredential=...` (another unit name), read the same files."""
        p = Path(value)
        credential = len(p.parts) == 5 and p.parts[:3] == ("/", "run", "credentials")
        if credential and self.credentials_dir is not None:
            return self.credentials_dir / p.name
        return p if p.is_absolute() else self.base_dir / p
