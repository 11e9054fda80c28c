"""File-system primitives with the guarantees samcli's files rely on (standard library only,
so every layer, the model package included, may use them).

- :func:`create_exclusive`: a new file under a random name, never an existing file or a
  planted symlink (``O_CREAT | O_EXCL | O_NOFOLLOW``), and a name short enough for the file
  system however long the name it is derived from.
- :func:`atomic_write_bytes` / :func:`atomic_write_text`: a file is either its old content or
  its complete new content, never half-written: an exclusive temporary file in the same folder,
  fsync, ``os.replace``, fsync of the folder.
- :func:`fsync_dir`: make a rename durable (best effort where the platform cannot).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

#: How many random names :func:`create_exclusive` tries before giving up.
TEMP_ATTEMPTS = 16
#: Bytes of random hex in a temporary name (plus the ``.tmp`` suffix).
_RANDOM_CHARS = 12
_FALLBACK_NAME_MAX = 255


def _token() -> str:
    """The random part of a temporary file name (tests replace it to plant a name)."""
    return secrets.token_hex(_RANDOM_CHARS // 2)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return _FALLBACK_NAME_MAX


def _fit(prefix: str, room: int) -> str:
    """``prefix`` cut (whole characters, at the end) to at most ``room`` bytes on disk."""
    encoded = os.fsencode(prefix)
    if len(encoded) <= room:
        return prefix
    cut = encoded[:max(room, 0)]
    while cut:
        try:
            return os.fsdecode(cut) if cut.decode("utf-8", "strict") else ""
        except UnicodeDecodeError:
            cut = cut[:-1]  # never split a multi-byte character
    return ""


def create_exclusive(folder: Path | str, prefix: str, mode: int = 0o644,
                     suffix: str = "") -> tuple[int, Path]:
    """Create and open for writing a new file ``folder/<prefix><random><suffix>``; return
    (fd, path).

    ``O_CREAT | O_EXCL`` (plus ``O_NOFOLLOW`` where the platform has it): an existing file or
    symlink at the name is never opened, followed or overwritten; the next random name is tried
    instead. ``prefix`` is shortened when the whole name would exceed the file system's name
    limit. ``mode`` is filtered by the umask as usual. Raises :class:`OSError`
    (``FileExistsError`` when every name tried was taken).
    """
    folder = Path(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_NOFOLLOW", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, extra, 0)
    room = _name_max(folder) - _RANDOM_CHARS - len(os.fsencode(suffix))
    prefix = _fit(prefix, room)
    for _ in range(TEMP_ATTEMPTS):
        path = folder / f"{prefix}{_token()}{suffix}"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST,
                          f"every temporary name tried was taken ({TEMP_ATTEMPTS} tries)",
                          str(folder / f"{prefix}*{suffix}"))


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: exclusive temp file in the same folder, fsync,
    rename. Creates missing parent folders. On any error the temporary file is removed and
    ``path`` is left as it was. Returns ``path``. The file gets the usual mode (0o666 less the
    umask), as a plain ``open`` would give it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_exclusive(path.parent, f".{path.name}.", mode=0o666, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(folder: Path | str) -> None:
    """Make a rename durable (best effort; not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
