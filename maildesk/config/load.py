"""Reading the configuration: the TOML file (or the embedded defaults), each value checked
against its section's type hints, then `validate`. A typo in a key is an error naming the
key and the file, never silently ignored. No I/O beyond reading the config file and the
secret files it names.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from maildesk.config.sections import DEFAULT_SLA, Config
from maildesk.config.validate import validate
from maildesk.errors import ConfigError

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
        validate(cfg)
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
    validate(cfg)
    return cfg


def read_secret(cfg: Config, value: str, key: str) -> str:
    """Read a secret from a file named in the config (never from the config itself)."""
    try:
        return cfg.path(value).read_text(encoding="utf-8").strip()
    except OSError as exc:
        where = cfg.path(value)
        raise ConfigError(f"{cfg.source}: {key}: cannot read {where}: {exc.strerror}") from None
