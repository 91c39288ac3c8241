"""Configuration: TOML file + embedded defaults, validated at load.

`sections` holds what can be configured (dataclasses with the defaults), `load` reads a file
into them, `validate` checks the result. Everything else imports from here.
"""

from maildesk.config.load import config_from_dict, load_config, read_secret, read_toml
from maildesk.config.sections import (
    AgentConfig,
    CalendarConfig,
    Config,
    ImapConfig,
    OutboundConfig,
    SecurityConfig,
)

__all__ = [
    "AgentConfig",
    "CalendarConfig",
    "Config",
    "ImapConfig",
    "OutboundConfig",
    "SecurityConfig",
    "config_from_dict",
    "load_config",
    "read_secret",
    "read_toml",
]
