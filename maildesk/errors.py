"""One exception vocabulary for the whole program, mapped to outcomes in one place."""

from __future__ import annotations


class MaildeskError(Exception):
    """Base class: an error maildesk knows how to report."""


class ConfigError(MaildeskError):
    """The configuration is invalid; the message names the key and the file."""


class NoDatabase(ConfigError):
    """The configured database does not exist, and the command may not create one."""


class RegistryError(MaildeskError):
    """A registry file is invalid; the message names the offending row."""


class Unparseable(MaildeskError):
    """The bytes are not a mail we can read at all (kept in quarantine)."""


class TemporaryFailure(MaildeskError):
    """Try again later (database unavailable, lock timeout): nothing was written."""


class IllegalTransition(MaildeskError):
    """A ticket state change the policy forbids (e.g. closed -> anything)."""


class CommandError(MaildeskError):
    """An agent command is unknown or invalid; nothing from that mail is applied."""
