"""Checks of a built configuration: one ConfigError naming the file and the key, before
anything runs. Values that come in several spellings (addresses) are normalised here."""

from __future__ import annotations

import ipaddress
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from maildesk.config.sections import Config, SecurityConfig
from maildesk.domain.sla import TYPES
from maildesk.errors import ConfigError
from maildesk.mail.addresses import mailbox_key


def validate(cfg: Config) -> None:
    """Every check of a built Config; also normalises addresses (lower case) and the SLA
    tables (floats) in place. Raises ConfigError naming the file and the key."""
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
    _validate_numbers(cfg, f)
    unknown = set(cfg.sla) - set(SLA_TABLES)
    if unknown:
        raise ConfigError(f"{f}: unknown key [sla] {sorted(unknown)[0]!r}")
    for key in SLA_TABLES:
        _validate_sla_table(cfg.sla.get(key, {}), f"{f}: sla.{key}")
    try:
        cfg.calendar.business_calendar()
    except (ValueError, KeyError, NotImplementedError) as exc:
        raise ConfigError(f"{f}: [calendar] {exc}") from None
    _validate_people(cfg, f)
    _validate_security(cfg.security, f)
    _validate_listeners(cfg, f)
    _validate_staff(cfg, f)
    _validate_report(cfg, f)
    _validate_secret_files(cfg, f)


def _validate_numbers(cfg: Config, f: str) -> None:
    if cfg.outbound.max_attempts < 1:
        raise ConfigError(f"{f}: outbound.max_attempts must be at least 1")
    if cfg.limits.attachments_per_mail_bytes < 0:
        raise ConfigError(f"{f}: limits.attachments_per_mail_bytes must be 0 or more bytes")
    if not 0 < cfg.escalation.warn_at < 1:
        raise ConfigError(f"{f}: escalation.warn_at must be between 0 and 1")


def _validate_people(cfg: Config, f: str) -> None:
    """Agents and committee members: addresses, kept lower case; agents' skills are types."""
    for i, agent in enumerate(cfg.agents):
        if "@" not in agent.email:
            raise ConfigError(f"{f}: agents[{i}].email must be an e-mail address")
        agent.email = agent.email.lower()
        for skill in agent.skills:
            if skill not in TYPES:
                raise ConfigError(f"{f}: agents[{i}].skills: unknown type {skill!r}")
    cfg.committee.address = cfg.committee.address.strip().lower()
    for i, member in enumerate(cfg.committee.members):
        if "@" not in member:
            raise ConfigError(f"{f}: committee.members[{i}] must be an e-mail address")
        cfg.committee.members[i] = member.strip().lower()


def _validate_listeners(cfg: Config, f: str) -> None:
    for section, listen in (("inbound.smtp", cfg.inbound.smtp), ("inbound.lmtp", cfg.inbound.lmtp)):
        for key in ("max_connections", "max_connections_per_peer"):
            if getattr(listen, key) < 1:
                raise ConfigError(f"{f}: {section}.{key} must be at least 1")
        for key in ("idle_timeout", "session_timeout"):
            if getattr(listen, key) <= 0:
                raise ConfigError(f"{f}: {section}.{key} must be a positive number of seconds")


def _validate_secret_files(cfg: Config, f: str) -> None:
    """The password files of the channels in use exist (their contents are read at use)."""
    for section, sub in (("inbound.imap", cfg.inbound.imap), ("outbound", cfg.outbound)):
        used = (section == "inbound.imap" and cfg.inbound.mode == "imap") or (
            section == "outbound" and cfg.outbound.mode == "smtp"
        )
        if used and sub.password_file and not cfg.path(sub.password_file).exists():
            missing = cfg.path(sub.password_file)
            raise ConfigError(f"{f}: {section}.password_file: no such file: {missing}")


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
