"""The weight cache: which folder, and where each model's file lives in it.

Folder: ``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli`` (only when it is an absolute path, as
the XDG spec asks), else ``~/.cache/samcli``. Each model's file keeps its official name there
(``sam_vit_b_01ec64.pth`` ...), so a file fetched by hand can simply be dropped in.

This module imports only the standard library, :mod:`samcli.errors` and the model table.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from samcli.model.specs import get_spec

__all__ = ["cache_dir", "cached_path", "create_exclusive", "is_cached"]

#: How many random names :func:`create_exclusive` tries before giving up.
TEMP_ATTEMPTS = 8


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


def _token() -> str:
    """The random part of a temporary file name (tests replace it to plant a name)."""
    return secrets.token_hex(6)


def create_exclusive(folder: Path, prefix: str, mode: int = 0o644) -> tuple[int, Path]:
    """Create and open for writing a new file ``folder/<prefix><random>``; return (fd, path).

    The file is created with ``O_CREAT | O_EXCL`` (plus ``O_NOFOLLOW`` where the platform has
    it): an existing file or symlink at the name is never opened, followed or overwritten;
    the next random name is tried instead. ``mode`` is filtered by the umask as usual
    (0o644: readable by the other users of a shared cache, like a file fetched by hand).
    Raises :class:`OSError` (``FileExistsError`` when every name tried was taken).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_NOFOLLOW", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, extra, 0)
    for _ in range(TEMP_ATTEMPTS):
        path = folder / f"{prefix}{_token()}"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(
        errno.EEXIST,
        f"every temporary name tried was taken ({TEMP_ATTEMPTS} tries)",
        str(folder / f"{prefix}*"),
    )
