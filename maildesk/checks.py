"""`maildesk check`: one line per check, saying what is wrong and where."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from maildesk.errors import MaildeskError
from maildesk.store.db import describe

if TYPE_CHECKING:
    from maildesk.app import App


def _line(ok: bool | None, what: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
    line = f"{mark}  {what}: {detail}"
    print(line)
    return line


def run_checks(
    config_path: str | None,
    out: Callable[[bool | None, str, str], str] = _line,
) -> list[str]:
    """Run every check; returns the failures (warnings are printed but not returned)."""
    from maildesk.app import App
    from maildesk.config import load_config

    problems: list[str] = []

    def fail(what: str, detail: str) -> None:
        problems.append(out(False, what, detail))

    try:
        cfg = load_config(config_path)
    except MaildeskError as exc:
        fail("config", str(exc))
        return problems
    out(True, "config", cfg.source)
    app = App(cfg)
    try:
        _check_app(app, fail, out)
    finally:
        app.db.dispose()
    return problems


def _check_app(
    app: App, fail: Callable[[str, str], None], out: Callable[[bool | None, str, str], str]
) -> None:
    from maildesk.config import read_secret

    cfg = app.cfg
    issues = app.templates.check()
    if issues:
        for issue in issues:
            fail("templates", issue)
    else:
        out(True, "templates", "all templates parse")
    try:
        if app.db.exists():
            out(True, "database", "reachable, schema present")
        else:
            fail(
                "database",
                f"no maildesk database at {describe(cfg.database.url)}: "
                "run `maildesk db upgrade` to create it",
            )
    except MaildeskError as exc:
        fail("database", str(exc))
    if not cfg.require_authenticated_agents:
        out(
            None,
            "security",
            "agent mail is not authenticated (set "
            "security.trusted_authserv_ids): anyone forging an agent's From can run commands",
        )
    if cfg.inbound.mode == "imap":
        i = cfg.inbound.imap
        try:
            from imapclient import IMAPClient

            client = IMAPClient(i.host, port=i.port, ssl=i.ssl, timeout=10)
            if i.starttls:
                client.starttls(ssl.create_default_context())
            client.login(
                i.username, read_secret(cfg, i.password_file, "inbound.imap.password_file")
            )
            client.select_folder(i.folder, readonly=True)
            client.logout()
            out(True, "imap", f"{i.username}@{i.host}:{i.port}/{i.folder}")
        except Exception as exc:
            fail("imap", f"{i.host}:{i.port}: {type(exc).__name__}: {exc}")
    if cfg.outbound.mode == "smtp":
        o = cfg.outbound
        try:
            ctx = ssl.create_default_context()
            conn = (
                smtplib.SMTP_SSL(o.host, o.port, timeout=10, context=ctx)
                if o.ssl
                else smtplib.SMTP(o.host, o.port, timeout=10)
            )
            if o.starttls and not o.ssl:
                conn.starttls(context=ctx)
            if o.username:
                conn.login(o.username, read_secret(cfg, o.password_file, "outbound.password_file"))
            conn.quit()
            out(True, "smtp", f"{o.host}:{o.port}")
        except (TimeoutError, OSError, smtplib.SMTPException, MaildeskError) as exc:
            fail("smtp", f"{o.host}:{o.port}: {type(exc).__name__}: {exc}")
    else:
        out(True, "outbound", f"maildir {app.outbox_dir}")
