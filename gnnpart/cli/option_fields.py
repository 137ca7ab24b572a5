"""Command options written once: a config dataclass whose fields carry their help, and feed the parser.

Each field of a subcommand's config dataclass is declared with :func:`option` (its default, help and flags);
:func:`add_options` adds the arguments to the parser, with the default shown in the help; :func:`build_config`
makes the config from the field defaults, then a ``--config`` file (TOML or JSON, keys are option names, each
value checked against the field's type), then the flags given on the command line, in that order of precedence.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import MISSING, field, fields

from gnnpart.cli.config_file import ConfigFileError, load_config_file

_KINDS = {"int": int, "float": float, "str": str, "bool": bool}


def option(default=MISSING, help: str = "", *, flags: tuple = (), metavar: str | None = None, choices=None,
           positional: bool = False):
    """A config field with what the parser needs.

    Args:
        default: the default (omit for a required option).
        help (str): the help text (the default is appended).
        flags (tuple): more flags than ``--the-name`` (e.g. ``("-n",)``).
        metavar (str, optional), choices (list, optional): as in argparse.
        positional (bool): a positional argument (optional on the command line when a config file gives it).
    """
    meta = {"help": help, "flags": tuple(flags), "metavar": metavar, "choices": choices, "positional": positional}
    return field(default=default, metadata=meta)


def _kind(annotation) -> tuple[type, bool]:
    """``(type, optional)`` of a field annotation written as ``int``, ``str | None`` and so on."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    names = [p for p in parts if p != "None"]
    if len(names) != 1 or names[0] not in _KINDS:
        raise TypeError(f"option fields must be int, float, str or bool, optionally `| None` (got {text})")
    return _KINDS[names[0]], optional


def flag_of(f: dataclasses.Field) -> str:
    """How the option is written on the command line."""
    return f.name.upper() if f.metadata.get("positional") else "--" + f.name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls) -> None:
    """Add one argument per field of ``cls`` (and ``--config FILE``); unset arguments stay out of the namespace."""
    for f in fields(cls):
        kind, _ = _kind(f.type)
        meta = f.metadata
        help_text = meta.get("help", "")
        if f.default is not MISSING and f.default is not None and kind is not bool:
            help_text += f" (default {f.default})"
        if meta.get("positional"):
            parser.add_argument(f.name, nargs="?", default=argparse.SUPPRESS, metavar=meta.get("metavar") or f.name.upper(),
                                help=help_text)
        elif kind is bool:
            parser.add_argument(flag_of(f), *meta.get("flags", ()), dest=f.name, action="store_true",
                                default=argparse.SUPPRESS, help=help_text)
        else:
            parser.add_argument(flag_of(f), *meta.get("flags", ()), dest=f.name, type=kind, default=argparse.SUPPRESS,
                                metavar=meta.get("metavar"), choices=meta.get("choices"), help=help_text)
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="TOML or JSON file of these options (keys are the option names); flags given here override it")


def _check_value(f: dataclasses.Field, value, source: str):
    kind, optional = _kind(f.type)
    if value is None and optional:
        return None
    ok = isinstance(value, bool) if kind is bool else (
        not isinstance(value, bool) and (isinstance(value, (int, float)) if kind is float else isinstance(value, kind)))
    if not ok:
        wanted = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[kind]
        raise ConfigFileError(f"{source}: `{f.name}` must be {wanted}{' or null' if optional else ''} (got {value!r})")
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigFileError(f"{source}: `{f.name}` must be one of {', '.join(map(str, choices))} (got {value!r})")
    return float(value) if kind is float else value


def build_config(cls, args: argparse.Namespace):
    """The config: field defaults, overridden by ``args.config`` (checked), overridden by the flags given."""
    known = {f.name: f for f in fields(cls)}
    values = {name: f.default for name, f in known.items() if f.default is not MISSING}
    if getattr(args, "config", None):
        data = load_config_file(args.config)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigFileError(f"--config file {args.config} has unknown keys {unknown}; allowed: {sorted(known)}")
        values.update({k: _check_value(known[k], v, f"--config file {args.config}") for k, v in data.items()})
    values.update({name: getattr(args, name) for name in known if hasattr(args, name)})
    missing = [flag_of(known[name]) for name in known if name not in values]
    if missing:
        raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required (on the command line "
                         "or in --config)")
    return cls(**values)


def flags_of(cls) -> dict[str, str]:
    """Argument name -> flag, for the options of ``cls`` that are flags (what :func:`~gnnpart.cli.exit_status.
    in_flag_terms` rewrites library messages with)."""
    return {f.name: flag_of(f) for f in fields(cls) if not f.metadata.get("positional")}
