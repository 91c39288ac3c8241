"""`maildesk check`: one line per check, saying what is wrong and where, in words.

Every check that can run does, even after a config error: the file is then validated
section by section (so every broken section is named at once, not only the first) and the
checks of the sections that are fine still run. Errors from drivers and servers are turned
into one line of text (no `b'...'` reprs, no tabs and newlines from libpq).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maildesk.app import App
from maildesk.channels.imap_session import close, login, settings_from_config
from maildesk.config import Config, config_from_dict, load_config, read_toml
from maildesk.errors import ConfigError, MaildeskError
from maildesk.outbound.templates import Templates
from maildesk.outbound.transports import SmtpTransport, TransportUnavailable
from maildesk.store.db import describe

Out = Callable[[bool | None, str, str], str]
TIMEOUT = 10.0
CREDENTIALS_HINT = (
    "it exists only inside the service: run `maildesk check --credentials-dir /etc/maildesk`, "
    "or check through `systemd-run --pipe` (systemd/README.md)"
)


def _line(ok: bool | None, what: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
    line = f"{mark}  {what}: {detail}"
    print(line, flush=True)
    return line


@dataclass
class Report:
    """What `check` found: failures (config ones apart: they make the exit code 78)."""

    out: Out = _line
    config_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok(self, what: str, detail: str) -> None:
        self.out(True, what, detail)

    def fail(self, what: str, detail: str) -> None:
        line = self.out(False, what, detail)
        (self.config_errors if what == "config" else self.failures).append(line)

    def warn(self, what: str, detail: str) -> None:
        self.warnings.append(self.out(None, what, detail))


def human(exc: BaseException) -> str:
    """One line of text for an error from a library, a driver or a server."""
    if isinstance(exc, TimeoutError | ssl.SSLError) or "timed out" in str(exc):
        return f"no answer within {TIMEOUT:g} s" if "timed out" in str(exc) else str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    parts = [a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in exc.args]
    text = " ".join(parts) or type(exc).__name__
    text = re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)  # b'...' reprs inside messages
    return re.sub(r"\s+", " ", text).strip()


def load_for_check(
    path: str | None, credentials_dir: str | None, report: Report
) -> tuple[Config | None, set[str]]:
    """The config, or as much of it as is valid: (config or None, names of broken sections)."""
    try:
        cfg = load_config(path, credentials_dir=credentials_dir)
    except ConfigError as first:
        if path is None:
            report.fail("config", str(first))
            return None, {"*"}
        return _by_section(path, credentials_dir, report, first)
    report.ok("config", cfg.source)
    return cfg, set()


def _by_section(
    path: str, credentials_dir: str | None, report: Report, first: ConfigError
) -> tuple[Config | None, set[str]]:
    try:
        data, file = read_toml(path)
    except ConfigError as exc:
        report.fail("config", str(exc))
        return None, {"*"}
    base = file.resolve().parent

    def build(part: dict[str, Any]) -> Config:
        return config_from_dict(part, str(file), base, credentials_dir=credentials_dir)

    broken: set[str] = set()
    for key, value in data.items():
        try:
            build({key: value})
        except ConfigError as exc:
            report.fail("config", _hinted(str(exc), credentials_dir))
            broken.add(key)
    try:
        cfg = build({k: v for k, v in data.items() if k not in broken})
    except ConfigError as exc:  # sections fine alone, wrong together (e.g. roles)
        report.fail("config", str(exc))
        return None, {"*"}
    if not broken:
        report.fail("config", str(first))
    return cfg, broken


def _hinted(message: str, credentials_dir: str | None) -> str:
    if "/run/credentials/" in message and not credentials_dir:
        return message + f" ({CREDENTIALS_HINT})"
    return message


def run_checks(
    config_path: str | None, *, credentials_dir: str | None = None, out: Out = _line
) -> Report:
    """Run every check that can run; the report's lists say what failed."""
    report = Report(out)
    cfg, broken = load_for_check(config_path, credentials_dir, report)
    if cfg is None:
        _templates(Templates("es", None), report, "shipped templates parse")
        return report
    skip = broken
    app = App(cfg)
    try:
        _templates(app.templates, report, "all templates parse")
        _staff(cfg, report)
        if "database" in skip:
            report.warn("database", "not checked: fix [database] first")
        else:
            _database(app, report)
        _security(cfg, report)
        _secrets(cfg, report, skip)
        for section in sorted(skip & {"inbound", "outbound"}):
            report.warn(section, f"connection not tried: fix [{section}] first")
        if "inbound" not in skip and cfg.inbound.mode == "imap":
            _imap(cfg, report)
        if "outbound" not in skip:
            _outbound(app, report)
    finally:
        app.db.dispose()
    return report


def _templates(templates: Templates, report: Report, ok: str) -> None:
    issues = templates.check()
    for issue in issues:
        report.fail("templates", issue)
    if not issues:
        report.ok("templates", ok)


def _staff(cfg: Config, report: Report) -> None:
    if not cfg.agents:
        report.warn(
            "agents",
            "no [[agents]] configured: new tickets are assigned to nobody and the timers' "
            "warnings reach no agent",
        )
    if not cfg.escalation.supervisors:
        report.warn(
            "escalation",
            "no escalation.supervisors configured: SLA breaches and failed deliveries are "
            "escalated to nobody",
        )


def _database(app: App, report: Report) -> None:
    where = describe(app.cfg.database.url)
    try:
        if app.db.exists():
            report.ok("database", f"{where}: reachable, schema present")
        else:
            report.fail("database", f"no maildesk database at {where}: run `maildesk db upgrade`")
    except MaildeskError as exc:
        cause = exc.__cause__
        report.fail("database", f"{where}: {human(getattr(cause, 'orig', None) or cause or exc)}")


def _security(cfg: Config, report: Report) -> None:
    if not cfg.require_authenticated_agents:
        report.warn(
            "security",
            "agent mail is not authenticated (set security.trusted_authserv_ids): anyone "
            "forging an agent's From can run commands",
        )
    elif cfg.inbound.mode in ("smtp", "lmtp") and not cfg.security.trusted_relays:
        report.warn(
            "security",
            f"the {cfg.inbound.mode} listener has no security.trusted_relays: maildesk is the "
            "receiving hop, believes no Authentication-Results and refuses every agent mail; "
            "list the MX that authenticates mail before it reaches the listener",
        )


def _secret_files(cfg: Config, skip: set[str]) -> list[tuple[str, str]]:
    files = []
    if "inbound" not in skip and cfg.inbound.mode == "imap" and cfg.inbound.imap.password_file:
        files.append(("inbound.imap.password_file", cfg.inbound.imap.password_file))
    o = cfg.outbound
    if "outbound" not in skip and o.mode == "smtp" and o.username and o.password_file:
        files.append(("outbound.password_file", o.password_file))
    if "security" not in skip and cfg.security.secret_file:
        files.append(("security.secret_file", cfg.security.secret_file))
    return files


def _secrets(cfg: Config, report: Report, skip: set[str]) -> None:
    """Each secret file the config names is there and readable (its path, as resolved)."""
    for key, value in _secret_files(cfg, skip):
        path: Path = cfg.path(value)
        try:
            if not path.read_text(encoding="utf-8").strip():
                report.fail("secrets", f"{key}: {path} is empty")
            else:
                report.ok("secrets", f"{key}: {path} readable")
        except OSError as exc:
            hint = ""
            if value.startswith("/run/credentials/") and cfg.credentials_dir is None:
                hint = f" ({CREDENTIALS_HINT})"
            report.fail("secrets", f"{key}: cannot read {path}: {exc.strerror}{hint}")


def _imap(cfg: Config, report: Report) -> None:
    """The mailbox answers, takes our login and has the folder, through the consumer's own
    login (with check's shorter timeout)."""
    i = cfg.inbound.imap
    where = f"{i.username}@{i.host}:{i.port}/{i.folder}"
    try:
        settings = settings_from_config(cfg, timeout=TIMEOUT)
    except ConfigError:
        report.fail("imap", f"{where}: not tried, its password file cannot be read")
        return
    try:
        client = login(settings)
    except Exception as exc:
        report.fail("imap", f"{where}: {human(exc)}")
        return
    try:
        client.select_folder(i.folder, readonly=True)
    except Exception as exc:
        report.fail("imap", f"{where}: {human(exc)}")
        return
    finally:
        close(client)
    report.ok("imap", where)


def _outbound(app: App, report: Report) -> None:
    """The SMTP server answers and accepts our login, through the sender's own connect."""
    o = app.cfg.outbound
    if o.mode != "smtp":
        report.ok("outbound", f"maildir {app.outbox_dir}")
        return
    where = f"{o.host}:{o.port}"
    transport = SmtpTransport(app, timeout=TIMEOUT)
    try:
        transport.connect()
    except TransportUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            report.fail("smtp", f"{where}: not tried, its password file cannot be read")
        else:
            report.fail("smtp", f"{where}: {human(cause or exc)}")
        return
    finally:
        transport.close()
    report.ok("smtp", where)
