"""Helpers shared by the subcommands: config files and argument checks."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

from gnnpart.errors import DataError


def load_config_file(path: str) -> dict:
    """Read a ``.toml`` or ``.json`` config file whose keys are the subcommand's option names."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--config file {p} does not exist")
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        else:
            data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"--config file {p} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"--config file {p} must hold a table of option names and values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
