"""Agent commands by e-mail (SPEC §4; P7, P13, P14, P15).

An agent steers a ticket by writing ``#command`` lines at the very top of a reply. This
module only *reads* them: it splits the command block from the text to relay, validates and
normalises every argument, and reports problems as human-readable strings naming the line.
Applying commands (and refusing the whole mail when ``errors`` is non-empty, §4) is the
caller's job, so this module stays pure: no database, no clock, no agent directory.

Decisions worth knowing:

* The command block is the run of lines at the top of the body (blank lines allowed
  before and between) that start with ``#`` followed by a *letter*. The first other
  non-blank line ends it, and everything from there on is the body. ``#123 is the ticket``
  and ``# heading`` (hash then digit/space) are therefore ordinary text, never commands.
* Leading spaces, tabs, NBSP, BOM and zero-width spaces before ``#`` are tolerated, since
  mail clients insert them invisibly.
* Command names are case- and accent-insensitive; ``_`` and ``-`` are interchangeable;
  an optional ``:`` or ``=`` may separate the name from its arguments (``#type: error``).
* Every command-shaped line yields exactly one ``Command`` or exactly one error.
* Valid commands are returned even when there are errors, so the error mail can list
  everything; callers must apply nothing when ``errors`` is non-empty.

Rule ids: docs/rules.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from maildesk.domain.sla import PRIORITIES, TYPES, Priority, TicketType
from maildesk.errors import CommandError

# Canonical command name per accepted spelling (already folded by `_fold_name`).
_COMMAND_ALIASES: dict[str, str] = {
    "type": "type",
    "tipo": "type",
    "priority": "priority",
    "prioridad": "priority",
    "assign": "assign",
    "asignar": "assign",
    "product": "product",
    "producto": "product",
    "resolve": "resolve",
    "resuelto": "resolve",
    "resolver": "resolve",
    "close": "close",
    "cerrar": "close",
    "note": "note",
    "nota": "note",
    "out-of-scope": "out_of_scope",
    "fuera-de-alcance": "out_of_scope",
    "viable": "viable",
    "new": "new",
    "nuevo": "new",
    "attachments": "attachments",
    "attachment": "attachments",
    "adjuntos": "attachments",
    "adjunto": "attachments",
}

# Spanish values as stored, English words as agents also type them (folded by `_fold_value`).
_TYPE_ALIASES: dict[str, TicketType] = {
    **{t.value: t for t in TicketType},
    **{t.name.lower(): t for t in TicketType},  # support, activity, feature_request...
    "consultancy": TicketType.CONSULTING,
    "feature": TicketType.FEATURE_REQUEST,
    "new_feature": TicketType.FEATURE_REQUEST,
    "new_requirement": TicketType.FEATURE_REQUEST,
}

_PRIORITY_ALIASES: dict[str, Priority] = {
    **{p.value: p for p in Priority},
    **{p.name.lower(): p for p in Priority},  # urgent, high, medium, low
}

_VIABLE_ALIASES: dict[str, str] = {"yes": "yes", "si": "yes", "no": "no"}

# How each command is spelled in help texts (the English name users see in §4).
_DISPLAY = {
    "type": "#type",
    "priority": "#priority",
    "assign": "#assign",
    "product": "#product",
    "resolve": "#resolve",
    "close": "#close",
    "note": "#note",
    "out_of_scope": "#out-of-scope",
    "viable": "#viable",
    "new": "#new",
    "attachments": "#attachments",
}

_INVISIBLE_LEAD = " \t\u00a0\ufeff\u200b\u200c\u200d\u2060"
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# "#" then a letter (any script): the only shape that opens or continues the command block.
_COMMAND_SHAPE = re.compile(r"#[^\W\d_]")
_NAME_RE = re.compile(r"#([^\W\d_][\w-]*)(.*)\Z", re.DOTALL)
_VERSION_RE = re.compile(r"[vV]?\d[\w.+-]*\Z")
_LOCAL_RE = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*\Z")
_LABEL_RE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\Z")


@dataclass(frozen=True)
class Command:
    """One validated command; `args` are already normalised, `line` is the text as written."""

    name: str
    args: tuple[str, ...] = ()
    line: str = ""


@dataclass(frozen=True)
class ParsedAgentMail:
    """Commands from the top block, the remaining body to relay, and any errors found."""

    commands: tuple[Command, ...]
    body: str
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the mail may be applied at all (§4: one bad command voids the mail)."""
        return not self.errors

    @property
    def is_internal_note(self) -> bool:
        """True when `#note` was given: the caller must store the body and relay nothing."""
        return any(c.name == "note" for c in self.commands)

    def raise_for_errors(self) -> None:
        """Raise `CommandError` listing every problem, for callers that prefer exceptions."""
        if self.errors:
            raise CommandError("; ".join(self.errors))


def _strip_accents(text: str) -> str:
    """Drop combining marks so "Consultoría" and "consultoria" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fold_name(name: str) -> str:
    return _strip_accents(name).casefold().replace("_", "-")


def _fold_value(value: str) -> str:
    """Fold a keyword argument: accents, case, and runs of space/-/_ become one "_"."""
    folded = _strip_accents(value).casefold().strip()
    return re.sub(r"[\s_-]+", "_", folded)


def _split_lines(text: str) -> list[str]:
    """Split keeping terminators, on CR/LF only (str.splitlines also splits on \\x0c etc.)."""
    return _LINE_RE.findall(text)


def _content(line: str) -> str:
    return line.rstrip("\r\n").lstrip(_INVISIBLE_LEAD).rstrip()


def is_command_line(line: str) -> bool:
    """True for a line that belongs to the command block (`#` then a letter)."""
    return _COMMAND_SHAPE.match(_content(line)) is not None


def _is_blank(line: str) -> bool:
    return _content(line) == ""


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _valid_address(address: str) -> bool:
    """Shape check only (deliverability is not our business): local@domain.tld."""
    if address.count("@") != 1 or len(address) > 254:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels):
        return False
    return not labels[-1].isdigit()


class _Invalid(Exception):
    """Internal: an argument problem, turned into an error string naming the line."""


def _parse_args(name: str, rest: str) -> tuple[str, ...]:
    """Validate and normalise the arguments of the canonical command `name`."""
    rest = rest.strip()
    tokens = rest.split()
    if name == "type":
        kind = _TYPE_ALIASES.get(_fold_value(rest))
        if kind is None:
            raise _Invalid(f"type must be one of {_one_of(TYPES)}")
        return (kind,)
    if name == "priority":
        level = _PRIORITY_ALIASES.get(_fold_value(rest))
        if level is None:
            raise _Invalid(f"priority must be one of {_one_of(PRIORITIES)}")
        return (level,)
    if name == "assign":
        if not rest:
            raise _Invalid("#assign needs an agent address or name")
        return (" ".join(tokens),)
    if name == "product":
        if not tokens:
            raise _Invalid("#product needs a product name and optionally a version")
        if len(tokens) > 1 and _VERSION_RE.match(tokens[-1]):
            return (" ".join(tokens[:-1]), tokens[-1])
        return (" ".join(tokens),)
    if name == "resolve":
        return (rest,) if rest else ()
    if name in ("close", "note"):
        if rest:
            raise _Invalid(f"{_DISPLAY[name]} takes no arguments")
        return ()
    if name == "out_of_scope":
        if not rest:
            raise _Invalid("#out-of-scope needs a reason")
        return (rest,)
    if name == "viable":
        first = _fold_value(tokens[0].rstrip(":,;.")) if tokens else ""
        decision = _VIABLE_ALIASES.get(first)
        if decision is None:
            raise _Invalid("#viable needs yes, no, si or sí, optionally followed by a reason")
        reason = rest[len(tokens[0]) :].strip()
        return (decision, reason) if reason else (decision,)
    if name == "attachments":  # a file's number or name (names may hold spaces), or all
        return (rest,) if rest else ()
    if name == "new":
        if len(tokens) != 1:
            raise _Invalid("#new needs exactly one customer e-mail address")
        address = tokens[0].removeprefix("<").removesuffix(">")
        if not _valid_address(address):
            raise _Invalid("#new needs a customer e-mail address like customer@example.com")
        local, domain = address.split("@")
        return (f"{local}@{domain.lower()}",)
    raise AssertionError(f"unhandled command {name}")  # pragma: no cover - alias table bug


def _parse_command(content: str) -> Command:
    """Turn one command-shaped line into a `Command`, or raise `_Invalid`."""
    match = _NAME_RE.match(content)
    if match is None:  # pragma: no cover - guarded by _COMMAND_SHAPE
        raise _Invalid("not a command")
    raw_name, rest = match.group(1), match.group(2)
    if rest and not (rest[0].isspace() or rest[0] in ":="):
        raw_name += rest.split(None, 1)[0]
        rest = ""
        name = None
    else:
        name = _COMMAND_ALIASES.get(_fold_name(raw_name))
    if name is None:
        accepted = ", ".join(_DISPLAY.values())
        raise _Invalid(f"unknown command #{raw_name}; accepted commands are {accepted}")
    if rest[:1] in (":", "="):
        rest = rest[1:]
    return Command(name=name, args=_parse_args(name, rest), line=content)


def parse_agent_mail(text: str) -> ParsedAgentMail:
    """Split an agent's plain-text reply into commands and the body to relay; never raises."""
    lines = _split_lines(text)
    commands: list[Command] = []
    errors: list[str] = []
    body_start = len(lines)
    for index, line in enumerate(lines):
        if _is_blank(line):
            continue
        if not is_command_line(line):
            body_start = index
            break
        content = _content(line)
        try:
            commands.append(_parse_command(content))
        except _Invalid as problem:
            errors.append(f'line {index + 1}: "{content}": {problem}')
    if not commands and not errors:
        return ParsedAgentMail(commands=(), body=text, errors=())
    body = "".join(lines[body_start:])
    return ParsedAgentMail(commands=tuple(commands), body=body, errors=tuple(errors))
