"""Outbound mail templates: Jinja2 files rendered to a subject, a text body and optional HTML.

Templates are trusted files (shipped, or an operator's override directory); everything a
customer wrote reaches them only as *data* in the context, never as template source, so a
customer body containing ``{{ 7*7 }}`` is printed literally.  The sandboxed environment also
keeps templates from calling into the objects callers pass (ORM rows, config objects).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_NAMES: tuple[str, ...] = (
    "acknowledgement",
    "rejected_unregistered",
    "contract_expired",
    "too_large",
    "unsupported_version",
    "followup_new_ticket",
    "agent_notification",
    "agent_reply",
    "agent_command_error",
    "commands_applied",
    "agent_unauthenticated",
    "resolved",
    "abandoned",
    "closed",
    "reopened",
    "feature_committee",
    "feature_forwarded",
    "feature_decision",
    "feature_reminder",
    "sla_warning",
    "sla_breach",
    "out_of_scope",
    "delivery_failed",
    "agent_assigned",
    "agent_unassigned",
    "agent_attachments",
)

SHIPPED_LANGUAGES: tuple[str, ...] = ("es", "en")

_REQUIRED_BLOCKS = ("subject", "body")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?$")
# Whitespace and control characters (C0, DEL, C1, Unicode line/paragraph separators): a
# subject is one header line, so any run of them becomes a single space.
_SUBJECT_JUNK_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Reply prefixes mail clients add (English, Spanish, German, Nordic, Italian).
_REPLY_PREFIX_RE = re.compile(r"^\s*(?:re|rv|aw|sv|r)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    """A rendered mail: the subject is one clean line, the text ends with one newline."""

    subject: str
    text: str
    html: str | None = None


def shipped_templates_dir() -> Path:
    """Where the shipped templates live: inside the installed wheel, else the source checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "templates"
    if installed.is_dir():
        return installed
    return package_dir.parent / "templates"


def format_datetime(value: datetime | date | None) -> str:
    """Format a datetime in its own timezone, naming the zone, so readers know which clock."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is None:
        raise ValueError("dt filter needs an aware datetime (callers pass local times)")
    zone = getattr(value.tzinfo, "key", None) or value.tzname() or "UTC"
    return f"{value:%Y-%m-%d %H:%M} ({zone})"


def format_hours(value: float) -> str:
    """Hours without noise: 4.0 -> "4", 16.5 -> "16.5"."""
    number = round(float(value), 2)
    if number.is_integer():
        return str(int(number))
    return f"{number:.2f}".rstrip("0").rstrip(".")


def format_size(value: int) -> str:
    """Byte counts the way people read them: "25 MiB", "830 KiB", "512 bytes"."""
    if value < 1024:
        return f"{int(value)} bytes"
    size = value / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{format_hours(round(size, 1))} {unit}"
        size /= 1024
    return f"{format_hours(round(size, 1))} GiB"


def reply_subject(subject: str) -> str:
    """ "Re: " in front of a subject, unless the sender's client already put one there."""
    if _REPLY_PREFIX_RE.match(subject):
        return subject
    return f"Re: {subject}"


def clean_subject(raw: str) -> str:
    """One header line: CR/LF/TAB and control characters collapse to a space (no injection)."""
    return _SUBJECT_JUNK_RE.sub(" ", raw).strip()


def clean_body(raw: str) -> str:
    """Trailing spaces stripped per line, surrounding blank lines dropped, one final newline."""
    lines = [line.rstrip() for line in raw.splitlines()]
    text = "\n".join(lines).strip("\n")
    return text + "\n"


class Templates:
    """Loads, renders and validates the outbound templates for one support configuration."""

    def __init__(self, language: str = "es", override_dir: Path | None = None) -> None:
        self._override_dir = Path(override_dir) if override_dir is not None else None
        self._shipped_dir = shipped_templates_dir()
        self._languages = self._find_languages()
        self.language = self._checked_language(language)
        self._text_env = self._make_env(autoescape=False)
        self._html_env = self._make_env(autoescape=True)
        self._root_pass: dict[tuple[int, str], bool] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages available: the shipped ones plus any the override directory adds."""
        return self._languages

    def render(self, name: str, language: str | None = None, **context: Any) -> Rendered:
        """Render one template; a variable the template needs but the context lacks raises."""
        lang = self._checked_language(language if language is not None else self.language)
        if name not in TEMPLATE_NAMES:
            raise ValueError(f"unknown template {name!r}")
        path = f"{lang}/{name}.txt"
        blocks = self._render_blocks(self._text_env, path, context)
        missing = [block for block in _REQUIRED_BLOCKS if block not in blocks]
        if missing:
            raise jinja2.TemplateError(f"template {path} lacks block(s): {', '.join(missing)}")
        html = None
        if "html" in blocks:
            # Same source compiled with autoescaping, so customer text cannot become markup.
            html = self._render_blocks(self._html_env, path, context)["html"].strip() + "\n"
        return Rendered(
            subject=clean_subject(blocks["subject"]),
            text=clean_body(blocks["body"]),
            html=html,
        )

    def check(self) -> list[str]:
        """Problems an operator must fix before running (missing or broken templates)."""
        problems: list[str] = []
        if self._override_dir is not None and not self._override_dir.is_dir():
            problems.append(f"templates override directory {self._override_dir} does not exist")
        for lang in self._languages:
            for name in TEMPLATE_NAMES:
                path = f"{lang}/{name}.txt"
                try:
                    template = self._text_env.get_template(path)
                except jinja2.TemplateNotFound:
                    problems.append(f"template {path}: missing")
                    continue
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(f"template {path}: line {exc.lineno}: {exc.message}")
                    continue
                except (jinja2.TemplateError, OSError, UnicodeDecodeError) as exc:
                    problems.append(f"template {path}: {exc}")
                    continue
                missing = [block for block in _REQUIRED_BLOCKS if block not in template.blocks]
                if missing and "extends" not in _source_of(template):
                    problems.append(f"template {path}: no block {', '.join(missing)}")
        return problems

    def reload(self) -> None:
        """Forget compiled templates (SIGHUP) so edited files are read again."""
        self._languages = self._find_languages()
        self._text_env = self._make_env(autoescape=False)
        self._html_env = self._make_env(autoescape=True)
        self._root_pass = {}

    # -- internals -------------------------------------------------------------------------

    def _make_env(self, *, autoescape: bool) -> jinja2.Environment:
        """Strict, sandboxed, no mtime polling: files change only on reload()."""
        searchpath: list[jinja2.BaseLoader] = []
        if self._override_dir is not None:
            searchpath.append(jinja2.FileSystemLoader(self._override_dir, encoding="utf-8"))
        searchpath.append(jinja2.FileSystemLoader(self._shipped_dir, encoding="utf-8"))
        env = ImmutableSandboxedEnvironment(
            loader=jinja2.ChoiceLoader(searchpath),
            undefined=jinja2.StrictUndefined,
            autoescape=autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        env.filters["dt"] = format_datetime
        env.filters["hours"] = format_hours
        env.filters["size"] = format_size
        env.filters["reply"] = reply_subject
        return env

    def _find_languages(self) -> tuple[str, ...]:
        """Shipped languages first, then any extra language directory the operator provides."""
        found = list(SHIPPED_LANGUAGES)
        for base in (self._shipped_dir, self._override_dir):
            if base is None or not base.is_dir():
                continue
            for child in sorted(base.iterdir()):
                if child.is_dir() and _LANGUAGE_RE.match(child.name) and child.name not in found:
                    found.append(child.name)
        return tuple(found)

    def _checked_language(self, language: str) -> str:
        if language not in self._languages:
            raise ValueError(
                f"unknown template language {language!r} (have: {', '.join(self._languages)})"
            )
        return language

    def _render_blocks(
        self, env: jinja2.Environment, path: str, context: dict[str, Any]
    ) -> dict[str, str]:
        """Each block on its own; the whole template runs first only when something outside
        the blocks (a top-level set or macro, extends, import) can change what they see."""
        template = env.get_template(path)
        ctx = template.new_context(dict(context))
        if self._needs_root_pass(env, path):
            _drain(template.root_render_func(ctx))
        return {name: "".join(chain[0](ctx)) for name, chain in ctx.blocks.items() if chain}

    def _needs_root_pass(self, env: jinja2.Environment, path: str) -> bool:
        """Whether the template has top-level statements other than blocks and plain output
        (decided once per template and environment, from its syntax tree)."""
        key = (id(env), path)
        needs = self._root_pass.get(key)
        if needs is None:
            assert env.loader is not None
            source = env.loader.get_source(env, path)[0]
            body = env.parse(source).body
            needs = any(not isinstance(node, (nodes.Block, nodes.Output)) for node in body)
            self._root_pass[key] = needs
        return needs


def _drain(parts: Iterable[str]) -> None:
    for _ in parts:
        pass


def _source_of(template: jinja2.Template) -> str:
    """The template's source text, to tell an ``{% extends %}`` child from a broken file."""
    if template.filename is None:
        return ""
    try:
        return Path(template.filename).read_text(encoding="utf-8")
    except OSError:
        return ""
