"""Configuration: TOML file + embedded defaults, validated at load.

A typo in a key is an error naming the key and the file, never silently ignored.
No I/O beyond reading the config file and the secret files it names.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from maildesk.domain.calendar import BusinessCalendar
from maildesk.domain.sla import DEFAULT_SLA_HOURS, TYPES, Priority, TicketType
from maildesk.errors import ConfigError
from maildesk.mail.addresses import mailbox_key

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


_INTERNAL = {"source", "base_dir", "credentials_dir"}


def _convert(value: Any, hint: Any, where: str, file: str) -> Any:
    """Check one value against a type hint, converting where TOML is looser (int → float)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: [{where}] must be a table")
        return _build(hint, value, where, file)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where, file)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{file}: {where} must be a list")
        return [_convert(v, item, f"{where}[{i}]", file) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: {where} must be a table")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{file}: {where} must be one of {', '.join(hint)}") from None
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(
            f"{file}: {where} must be {hint.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str, file: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - _INTERNAL
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"[{prefix}] " if prefix else ""
        raise ConfigError(
            f"{file}: unknown key {where}{unknown[0]!r} (known: {', '.join(sorted(names))})"
        )
    kwargs = {
        key: _convert(value, hints[key], f"{prefix}.{key}" if prefix else key, file)
        for key, value in data.items()
    }
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    f = cfg.source
    if "@" not in cfg.support.address:
        raise ConfigError(f"{f}: support.address must be an e-mail address")
    if cfg.support.language not in ("es", "en"):
        raise ConfigError(f"{f}: support.language must be 'es' or 'en'")
    if cfg.inbound.mode not in ("imap", "smtp", "lmtp", "none"):
        raise ConfigError(f"{f}: inbound.mode must be imap, smtp, lmtp or none")
    if cfg.outbound.mode not in ("smtp", "maildir"):
        raise ConfigError(f"{f}: outbound.mode must be smtp or maildir")
    if cfg.logging.format not in ("text", "json"):
        raise ConfigError(f"{f}: logging.format must be text or json")
    if cfg.logging.level not in ("debug", "info", "warning"):
        raise ConfigError(f"{f}: logging.level must be debug, info or warning")
    if cfg.outbound.max_attempts < 1:
        raise ConfigError(f"{f}: outbound.max_attempts must be at least 1")
    if cfg.limits.attachments_per_mail_bytes < 0:
        raise ConfigError(f"{f}: limits.attachments_per_mail_bytes must be 0 or more bytes")
    if not 0 < cfg.escalation.warn_at < 1:
        raise ConfigError(f"{f}: escalation.warn_at must be between 0 and 1")
    unknown = set(cfg.sla) - set(SLA_TABLES)
    if unknown:
        raise ConfigError(f"{f}: unknown key [sla] {sorted(unknown)[0]!r}")
    for key in SLA_TABLES:
        _validate_sla_table(cfg.sla.get(key, {}), f"{f}: sla.{key}")
    try:
        cfg.calendar.business_calendar()
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ConfigError(f"{f}: [calendar] {exc}") from None
    for i, agent in enumerate(cfg.agents):
        if "@" not in agent.email:
            raise ConfigError(f"{f}: agents[{i}].email must be an e-mail address")
        agent.email = agent.email.lower()
        for skill in agent.skills:
            if skill not in TYPES:
                raise ConfigError(f"{f}: agents[{i}].skills: unknown type {skill!r}")
    _validate_security(cfg.security, f)
    for section, listen in (("inbound.smtp", cfg.inbound.smtp), ("inbound.lmtp", cfg.inbound.lmtp)):
        for key in ("max_connections", "max_connections_per_peer"):
            if getattr(listen, key) < 1:
                raise ConfigError(f"{f}: {section}.{key} must be at least 1")
        for key in ("idle_timeout", "session_timeout"):
            if getattr(listen, key) <= 0:
                raise ConfigError(f"{f}: {section}.{key} must be a positive number of seconds")
    cfg.committee.address = cfg.committee.address.strip().lower()
    for i, member in enumerate(cfg.committee.members):
        if "@" not in member:
            raise ConfigError(f"{f}: committee.members[{i}] must be an e-mail address")
        cfg.committee.members[i] = member.strip().lower()
    _validate_staff(cfg, f)
    _validate_report(cfg, f)
    for name in ("password_file",):
        for section, sub in (("inbound.imap", cfg.inbound.imap), ("outbound", cfg.outbound)):
            used = (section == "inbound.imap" and cfg.inbound.mode == "imap") or (
                section == "outbound" and cfg.outbound.mode == "smtp"
            )
            if used and getattr(sub, name) and not cfg.path(getattr(sub, name)).exists():
                missing = cfg.path(getattr(sub, name))
                raise ConfigError(f"{f}: {section}.{name}: no such file: {missing}")


#: The SLA tables of [sla], type -> [urgente, alta, media, baja] business hours: resolution
#: (P8) and the optional first-response target (SPEC §10: no target unless configured).
SLA_TABLES = ("hours", "first_response_hours")


def _validate_sla_table(table: Any, where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of type = [4 hours]")
    for type_, row in table.items():
        if type_ not in TYPES:
            raise ConfigError(f"{where}.{type_}: unknown type (known: {', '.join(TYPES)})")
        ok = isinstance(row, list) and len(row) == 4
        if not ok or not all(
            isinstance(h, int | float) and not isinstance(h, bool) and h > 0 for h in row
        ):
            raise ConfigError(
                f"{where}.{type_} must be 4 positive hours [urgente, alta, media, baja]"
            )
        table[type_] = [float(h) for h in row]


def _validate_report(cfg: Config, f: str) -> None:
    if cfg.report.digest_weeks < 1:
        raise ConfigError(f"{f}: report.digest_weeks must be at least 1")
    if cfg.report.digest:
        try:
            CronTrigger.from_crontab(cfg.report.digest, timezone=cfg.calendar.timezone)
        except (ValueError, LookupError) as exc:
            raise ConfigError(
                f"{f}: report.digest must be a cron expression (minute hour day month "
                f'weekday), e.g. "0 8 * * mon": {exc}'
            ) from None


def _validate_staff(cfg: Config, f: str) -> None:
    """SPEC §10: the support address (in any spelling) is never also a staff member's address:
    mail to it comes back in as inbound mail, so a role there would make maildesk loop."""
    support = mailbox_key(cfg.support.address)
    roles = [(f"agents[{i}].email", a.email) for i, a in enumerate(cfg.agents)]
    roles += [(f"escalation.supervisors[{i}]", x) for i, x in enumerate(cfg.escalation.supervisors)]
    roles.append(("committee.address", cfg.committee.address))
    roles += [(f"committee.members[{i}]", x) for i, x in enumerate(cfg.committee.members)]
    for key, address in roles:
        if address and mailbox_key(address) == support:
            raise ConfigError(
                f"{f}: {key} is the support address ({address}); maildesk never mails its "
                "own support address: give that role a person's or a team's own address"
            )


def _validate_security(sec: SecurityConfig, f: str) -> None:
    if sec.internal_hops < 0:
        raise ConfigError(f"{f}: security.internal_hops must be 0 or more")
    for i, relay in enumerate(sec.trusted_relays):
        if relay == "ingest":
            continue
        try:
            ipaddress.ip_network(relay, strict=False)
        except ValueError:
            raise ConfigError(
                f"{f}: security.trusted_relays[{i}]: {relay!r} is neither an IP address or "
                'network nor "ingest"'
            ) from None


def load_config(
    path: str | os.PathLike[str] | None = None, *, credentials_dir: str | Path | None = None
) -> Config:
    """Load config: the path given, else $MAILDESK_CONFIG, else ./maildesk.toml, else defaults.
    `credentials_dir` (default: $CREDENTIALS_DIRECTORY, set by systemd) holds the files that
    config paths under /run/credentials/ name."""
    creds = credentials_dir or os.environ.get("CREDENTIALS_DIRECTORY") or None
    if path is None:
        env = os.environ.get("MAILDESK_CONFIG")
        if env:
            path = env
        elif Path("maildesk.toml").exists():
            path = "maildesk.toml"
    if path is None:
        cfg = Config(credentials_dir=Path(creds) if creds else None)
        _validate(cfg)
        return cfg
    data, file = read_toml(path)
    return config_from_dict(data, str(file), file.resolve().parent, credentials_dir=creds)


def read_toml(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """The config file parsed, not yet validated (`check` validates it section by section)."""
    file = Path(path)
    try:
        return tomllib.loads(file.read_text(encoding="utf-8")), file
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None


def config_from_dict(
    data: dict[str, Any],
    source: str = "<dict>",
    base: Path | None = None,
    *,
    credentials_dir: str | Path | None = None,
) -> Config:
    """Build and validate a Config from parsed TOML (also used by tests)."""
    if "sla" in data:  # copied: validation normalises the tables in place
        sla = {k: dict(v) if isinstance(v, dict) else v for k, v in data["sla"].items()}
        data = {**data, "sla": sla}
    cfg = _build(Config, data, "", source)
    if "hours" not in cfg.sla:
        cfg.sla["hours"] = {k: list(v) for k, v in DEFAULT_SLA.items()}
    cfg.source = source
    cfg.base_dir = base or Path.cwd()
    cfg.credentials_dir = Path(credentials_dir) if credentials_dir else None
    _validate(cfg)
    return cfg


def read_secret(cfg: Config, value: str, key: str) -> str:
    """Read a secret from a file named in the config (never from the config itself)."""
    try:
        return cfg.path(value).read_text(encoding="utf-8").strip()
    except OSError as exc:
        where = cfg.path(value)
        raise ConfigError(f"{cfg.source}: {key}: cannot read {where}: {exc.strerror}") from None
