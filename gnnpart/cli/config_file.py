"""Reading a ``--config`` file (TOML or JSON) of a subcommand's options."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

from gnnpart.errors import DataError


class ConfigFileError(DataError):
    """A ``--config`` file, or one of its values, is bad. The message names the file's keys as they are written
    there (`` `num_parts` ``), so the command line does not rewrite them as flags."""


def load_config_file(path: str) -> dict:
    """Read a ``.toml`` or ``.json`` config file whose keys are the subcommand's option names."""
    p = Path(path)
    if not p.is_file():
        raise ConfigFileError(f"--config file {p} does not exist")
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        else:
            data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"--config file {p} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"--config file {p} must hold a table of option names and values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
