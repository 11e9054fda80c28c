"""File-system primitives with the guarantees samcli's files rely on (standard library only,
so every layer, the model package included, may use them).

- :func:`create_exclusive`: a new file under a random name, never an existing file or a
  planted symlink (``O_CREAT | O_EXCL | O_NOFOLLOW``), and a name short enough for the file
  system however long the name it is derived from.
- :func:`atomic_write_bytes` / :func:`atomic_write_text`: a file is either its old content or
  its complete new content, never half-written: an exclusive temporary file in the same folder,
  fsync, ``os.replace``, fsync of the folder.
- :func:`fsync_dir`: make a rename durable (best effort where the platform cannot).
- :func:`text_of_path`: a file name as text that JSON and a UTF-8 terminal can carry.
- :func:`file_identity`: what tells a file apart from another one at the same path later.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Sequence

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
    fitted = _fit(prefix, room)
    if fitted != prefix and prefix.endswith("."):
        # keep the separator before the random part: it is how a leftover temporary file is
        # recognised (remove_stale_temporaries)
        fitted = _fit(prefix[:-1], room - 1) + "."
    prefix = fitted
    for _ in range(TEMP_ATTEMPTS):
        path = folder / f"{prefix}{_token()}{suffix}"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST,
                          f"every temporary name tried was taken ({TEMP_ATTEMPTS} tries)",
                          str(folder / f"{prefix}*{suffix}"))


#: errno values of a full disk or quota: the fix is to free space (not so for other errors)
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: exclusive temp file in the same folder, fsync,
    rename. Creates missing parent folders. On any error the temporary file is removed and
    ``path`` is left as it was. Returns ``path``. The file gets the usual mode (0o666 less the
    umask), as a plain ``open`` would give it.
    """
    return atomic_write_files([(path, data)])[0]


def atomic_write_files(files: Sequence[tuple[Path | str, bytes]]) -> list[Path]:
    """Write files that belong together (COCO's annotations.json and results.json) as
    :func:`atomic_write_bytes` writes one, each completely (written and fsynced) before any
    is renamed into place: a full disk or any error while writing leaves every one as it
    was, and a process killed can only part them in the moment between two renames, not
    while the second is being written. Returns the paths."""
    staged: list[tuple[Path, str]] = []
    try:
        for path, data in files:
            path = Path(path)
            staged.append((path, _write_temporary(path, data)))
        for i, (path, tmp) in enumerate(staged):
            try:
                os.replace(tmp, path)
            except OSError as exc:  # (onto a folder): name the file wanted
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
            staged[i] = (path, "")
    finally:
        for _, tmp in staged:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    for folder in dict.fromkeys(path.parent for path, _ in staged):
        fsync_dir(folder)
    return [path for path, _ in staged]


def _write_temporary(path: Path, data: bytes) -> str:
    """``data`` in a new exclusive temporary file beside ``path`` (its folder made if
    missing), fsynced; its name. On an error none is left, and the error names ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = create_exclusive(path.parent, f".{path.name}.", mode=0o666, suffix=".tmp")
    except OSError as exc:  # (a read-only folder): name the file wanted, not the temporary
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):
            # (a full disk): name the file wanted, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    return tmp


_TEMPORARY = re.compile(r"^\..*\.[0-9a-f]{%d}\.tmp$" % _RANDOM_CHARS)


def remove_stale_temporaries(folder: Path | str, own_marker: str | None = None) -> int:
    """Delete the temporary files :func:`atomic_write_bytes` left under ``folder`` (a process
    killed between writing one and renaming it). Call it only while no other process writes
    there (samcli holds the output folder's lock). ``own_marker``: the name of the state
    folder that marks an output folder; subfolders holding one are other output folders,
    with locks of their own (a live run may be writing there), and are left alone. Returns
    how many were removed."""
    removed = 0
    for dirpath, dirnames, names in os.walk(folder):
        if own_marker is not None:
            dirnames[:] = [d for d in dirnames
                           if not os.path.isdir(os.path.join(dirpath, d, own_marker))]
        for name in names:
            if _TEMPORARY.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed


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


def text_of_path(name: str) -> str:
    """``name`` (a path from the file system) as valid Unicode text: bytes that are not UTF-8
    (which Python keeps as lone surrogates) written as ``\\xNN``, everything else as is. A
    name that is valid UTF-8 is returned unchanged."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# Control characters (C0 but tab, DEL, C1) as they appear in a one-line message
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7f, 0xa0)] if c != 0x09}
_CONTROLS.update({0x0a: "\\n", 0x0d: "\\r"})


def safe_line(text: str) -> str:
    """``text`` for one line of a terminal: undecodable bytes as ``\\xNN`` (as
    :func:`text_of_path`) and control characters escaped (``\\n``, ``\\r``, ``\\x1b``), so a
    file name cannot split a message in two, forge an ``Error:`` line or send escape
    sequences to the terminal."""
    return text_of_path(text).translate(_CONTROLS)


#: Bytes read from each end of a file for :func:`file_identity`'s content fingerprint.
FINGERPRINT_BYTES = 64 * 1024


def file_identity(path: Path | str) -> dict | None:
    """What identifies the content at ``path`` now, cheaply: the resolved path, the size, the
    modification time (ns), the status-change time (ns) and a SHA-256 of the size and the
    first and last :data:`FINGERPRINT_BYTES` bytes. A same-size replacement with a restored
    timestamp is caught by the fingerprint, and one that differs only in the middle by the
    status-change time, which ``touch -d`` cannot set back (a write, a replacement, a chmod
    or a new hard link moves it: such a file counts as changed). None when the file cannot
    be read. Values are JSON-ready."""
    try:
        real = os.path.realpath(path)
        with open(real, "rb") as fh:
            st = os.fstat(fh.fileno())
            digest = hashlib.sha256(str(st.st_size).encode())
            digest.update(fh.read(FINGERPRINT_BYTES))
            if st.st_size > 2 * FINGERPRINT_BYTES:
                fh.seek(-FINGERPRINT_BYTES, os.SEEK_END)
            digest.update(fh.read(FINGERPRINT_BYTES))
    except (OSError, ValueError):
        return None
    return {"path": text_of_path(real), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns),
            "ctime_ns": int(st.st_ctime_ns), "head_tail_sha256": digest.hexdigest()[:32]}
