"""SIGHUP: apply what can change without a restart, from the re-read config file.

Templates are re-read always. From the file: agents, limits, escalation, templates, SLA,
timers, calendar, logging, the report's digest and the support language. What needs a
restart (database, channels, metrics, security, other support fields) is named in the log;
a broken file changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from maildesk import logs
from maildesk.config import Config, load_config
from maildesk.daemon.jobs import Jobs
from maildesk.errors import ConfigError, MaildeskError

if TYPE_CHECKING:
    from maildesk.app import App

log = logging.getLogger("maildesk.daemon")

#: Config sections SIGHUP applies in place; the rest need a restart (we say so in the log).
RELOADABLE = (
    "logging",
    "report",
    "agents",
    "committee",
    "escalation",
    "limits",
    "templates",
    "sla",
    "timers",
    "calendar",
)
RESTART_ONLY = ("database", "inbound", "outbound", "metrics", "security")


def reload(app: App, config_path: str | None, jobs: Jobs | None) -> list[str]:
    """Returns the sections applied (templates' files always)."""
    app.templates.reload()
    try:
        new = load_config(config_path)
    except ConfigError as exc:
        log.error("reload: config not applied, keeping the running one: %s", exc)
        return ["templates (files)"]
    cfg = app.cfg
    changed = [n for n in RELOADABLE if getattr(cfg, n) != getattr(new, n)]
    for name in changed:
        setattr(cfg, name, getattr(new, name))
    if cfg.support.language != new.support.language:
        cfg.support.language = new.support.language
        changed.append("support.language")
    _rebuild(app, changed)
    if jobs is not None and "report" in changed:
        jobs.schedule_digest()
    if jobs is not None and "timers" in changed:
        jobs.reschedule_timers()
    _warn_stale(cfg, new)
    applied = ["templates (files)", *changed]
    log.info("reload: applied %s (agents: %d)", ", ".join(applied), len(cfg.agents))
    return applied


def _rebuild(app: App, changed: list[str]) -> None:
    """What the App derived from the changed sections, derived again."""
    try:
        if "agents" in changed:
            app.sync_agents()
        if "templates" in changed or "support.language" in changed:
            vars(app).pop("templates", None)  # cached_property: rebuilt on next use
            _ = app.templates
        if "calendar" in changed:
            app.set_calendars()
        if "logging" in changed:
            logs.apply(app.cfg.logging.format, app.cfg.logging.level)
    except (MaildeskError, ValueError) as exc:
        log.error("reload: could not apply %s: %s", ", ".join(changed), exc)


def _warn_stale(cfg: Config, new: Config) -> None:
    stale = [n for n in RESTART_ONLY if getattr(cfg, n) != getattr(new, n)]
    other = [
        f"support.{f.name}"
        for f in dataclasses.fields(cfg.support)
        if f.name != "language" and getattr(cfg.support, f.name) != getattr(new.support, f.name)
    ]
    if stale or other:
        log.warning("reload: %s changed; restart to apply", ", ".join(stale + other))
