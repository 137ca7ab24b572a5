"""Reading the ``meta.json`` that describes a gnnpart directory (a partition directory or a graph directory).

Both kinds start with ``{"format": NAME, "version": V, ...}``; :func:`read_meta_file` reads one, checks those two
keys and raises the kind's own error type with one line naming the file. Each kind then checks its own keys.
"""
from __future__ import annotations

import json
from pathlib import Path

META_FILE = "meta.json"


def read_meta_file(root, format_name: str, versions, error: type, description: str, missing: str) -> dict:
    """``root/meta.json`` as a dict, after checking that it is a ``format_name`` description of a readable version.

    Args:
        root (str | Path): the directory.
        format_name (str): the ``format`` it must have (``gnnpart-partition``, ``gnnpart-graph``).
        versions (tuple[int]): the versions this gnnpart reads.
        error (type): the exception type to raise (a ``ValueError`` subclass of :mod:`gnnpart.errors`).
        description (str): what the file describes, for the messages (``gnnpart partition description``).
        missing (str): the message when the directory has no ``meta.json`` (``{root}`` is filled in).

    Raises:
        error: one line, naming the file, for a missing, unparsable or foreign ``meta.json``.
    """
    root = Path(root)
    meta_path = root / META_FILE
    if not meta_path.is_file():
        raise error(missing.format(root=root))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"corrupted {meta_path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        raise error(f"{meta_path} is not a {description} (format "
                    f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") not in versions:
        raise error(f"{meta_path} has format version {meta.get('version')}; this gnnpart reads version"
                    f"{'s' if len(versions) > 1 else ''} {', '.join(map(str, versions))}")
    return meta
