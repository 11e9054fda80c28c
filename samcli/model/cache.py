"""The weight cache: which folder, and where each model's file lives in it.

Folder: ``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli`` (only when it is an absolute path, as
the XDG spec asks), else ``~/.cache/samcli``. Each model's file keeps its official name there
(``sam_vit_b_01ec64.pth`` ...), so a file fetched by hand can simply be dropped in.

This module imports only the standard library, :mod:`samcli.errors` and the model table.
"""

from __future__ import annotations

import os
from pathlib import Path

from samcli.model.specs import get_spec

__all__ = ["cache_dir", "cached_path", "is_cached"]


def cache_dir() -> Path:
    """``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli``, else ``~/.cache/samcli``.

    Empty variables count as unset; a relative ``XDG_CACHE_HOME`` is ignored (XDG spec).
    The folder is not created here.
    """
    home = os.environ.get("SAMCLI_HOME", "").strip()
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and Path(xdg).expanduser().is_absolute():
        return Path(xdg).expanduser() / "samcli"
    return Path.home() / ".cache" / "samcli"


def cached_path(name: str) -> Path:
    """Where the weights of model ``name`` live in the cache (whether or not they are there)."""
    return cache_dir() / get_spec(name).filename


def is_cached(name: str) -> bool:
    """Whether the cache holds a non-empty file for ``name`` (its content is not re-hashed)."""
    path = cached_path(name)
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False
