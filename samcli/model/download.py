"""Verified download of a model's official weights into the cache.

:func:`download` streams to a new ``<file>.part-<pid>-<random>`` in the cache folder and moves
it into place with :func:`os.replace` only after every check passed, so the final path only
ever holds a complete, verified file. The partial file is created exclusively
(:func:`samcli.fs.create_exclusive`: ``O_CREAT | O_EXCL | O_NOFOLLOW``), so a file or
symlink planted at its name is never written through. Checks:

1. the byte count equals the ``Content-Length`` header (when the server sent one) and the
   size of the official file (``ModelSpec.size_bytes``, when known): a header announcing
   another size fails before the body is read, and reading stops at the first byte beyond
   the official size (a bad server cannot fill the disk); a body that trickles in (under
   :data:`STALL_BYTES` in :data:`STALL_S` seconds) is given up;
2. the SHA-256 of the bytes equals ``ModelSpec.sha256`` (when known; it is known for every
   official file);
3. the file loads with ``torch.load(weights_only=True)`` as a state dict of tensors and, when
   the model builder (:mod:`samcli.model.build`) is importable, its keys and shapes are exactly
   those of the model (checked against a model built on the ``meta`` device: no weights are
   allocated).

The file is fsync'ed before the rename and the folder after it. The SHA-256 of the bytes
received is then recorded as the file's digest (:func:`samcli.model.cache.record_digest`), so
its first use does not hash it again. A partial file is removed on any failure (Ctrl-C
included); partial files left by a killed process are removed by the next download of the
same model. A download holds an ``flock`` on its partial file until the file is in place, so
that cleanup never removes a live download of a process it cannot see (another container or
host sharing the cache folder).

This module imports only the standard library, :mod:`samcli.errors` and the model package's
table, cache and checkpoint modules (torch only when a download is verified).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Optional

from samcli.errors import CheckpointError, DownloadError
from samcli.model import checkpoint
from samcli.model._text import one_line as _one_line
from samcli.fs import NO_SPACE_ERRNOS, create_exclusive, fsync_dir
from samcli.model.cache import cache_dir, record_digest
from samcli.model.specs import ModelSpec, get_spec

__all__ = ["CHUNK_BYTES", "DOWNLOAD_TIMEOUT_S", "ProgressCallback", "download"]

#: Seconds the opener may wait to connect, and then for each read of the body.
DOWNLOAD_TIMEOUT_S = 30.0
#: Bytes read from the network per chunk (the progress callback is called after each).
CHUNK_BYTES = 1 << 20
#: Partial files older than this are deleted even when their owner's pid cannot be checked.
STALE_PART_S = 24 * 3600
#: A download that receives fewer than STALL_BYTES in STALL_S seconds is given up: a server
#: trickling a few bytes at a time never trips the per-read timeout.
STALL_S = 120.0
STALL_BYTES = 64 << 10

#: ``progress(bytes_done, bytes_total_or_None)``; called once with 0 before the first chunk.
ProgressCallback = Callable[[int, Optional[int]], None]


def _reason(exc: BaseException) -> str:
    """A short human reason for a network failure."""
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:  # urllib gave up following them (a loop, or over 10)
            return f"too many redirects (HTTP {exc.code})"
        return f"HTTP {exc.code} {_one_line(exc.reason)}"
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _reason(inner)
        return _one_line(inner)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {DOWNLOAD_TIMEOUT_S:g} s"
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection closed before the whole file arrived"
    text = _one_line(exc) or type(exc).__name__
    return text


def _download_error(spec: ModelSpec, dest: Path, reason: str) -> DownloadError:
    return DownloadError(
        f"could not download {spec.name} weights from {spec.url} ({reason}). "
        f"Download the file yourself and put it at {dest}, or pass --checkpoint FILE."
    )


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot check cheaply; rely on the file's age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _locked_by_another(path: Path) -> bool:
    """Whether a live download holds ``path`` (its ``flock``, see :func:`download`): the
    answer a pid cannot give across containers or hosts sharing the cache folder."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # a symlink planted there, or gone: not a live download's
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # (also drops the lock just taken)
    return False


def _hold(path: Path) -> int | None:
    """Open ``path`` and take its ``flock`` for the download's lifetime (None where there is
    no flock); the caller closes the descriptor."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _clean_stale_parts(dest: Path) -> None:
    """Remove ``<file>.part-<pid>[-<random>]`` files whose process is gone (or a day old),
    unless a live download holds its lock on them (a process of another container or host
    sharing the folder, whose pid means nothing here).

    Only the name is removed (a symlink is unlinked, never followed)."""
    pattern = re.compile(re.escape(dest.name) + r"\.part-(\d+)(?:-[0-9a-f]+)?$")
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            old = now - entry.lstat().st_mtime > STALE_PART_S
            if (pid != os.getpid() and (old or not _pid_alive(pid))
                    and not _locked_by_another(entry)):
                entry.unlink()
        except OSError:
            pass


def _content_length(response: Any) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    if value is None:
        return None
    try:
        length = int(str(value).strip())
    except ValueError:
        return None
    return length if length >= 0 else None


def download(
    name: str,
    opener: Callable[..., Any] = urllib.request.urlopen,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download the weights of ``name`` into the cache and return their path.

    Always fetches (replacing a cached file only once the new one is verified); see the module
    docstring for what is verified. ``opener(request, timeout=...)`` must return a
    file-like response with ``read(n)`` and ``headers`` (``urllib.request.urlopen`` by default;
    tests pass a fake). Every failure is a :class:`DownloadError` (network, size, checksum,
    content that is not the model's weights) and leaves nothing at the final path.
    """
    spec = get_spec(name)
    dest = cache_dir() / spec.filename
    _require_cache_folder(dest.parent)
    if os.path.lexists(dest) and not dest.is_file():
        raise DownloadError(
            f"cannot download {spec.name} weights to {dest}: "
            f"{'a folder' if dest.is_dir() else 'something other than a file'} is in the way; "
            "move it away, or set SAMCLI_HOME to another folder")
    _clean_stale_parts(dest)
    prefix = f"{dest.name}.part-{os.getpid()}-"
    try:
        fd, part = create_exclusive(dest.parent, prefix)
    except OSError as exc:
        raise _write_error(spec, dest.parent / f"{prefix}*", exc, create=True) from None
    placed = False
    held = None
    try:
        with open(fd, "wb", closefd=True) as out:
            held = _hold(part)  # until the file is in place: no other process may clean it up
            digest = _fetch(spec, dest, out, part, opener, progress)
        _verify_download(spec, dest, part)
        os.replace(part, dest)
        placed = True
        fsync_dir(dest.parent)
        record_digest(dest, digest)  # its first use need not hash it again
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                part.unlink()
        if held is not None:
            os.close(held)
    return dest


def _require_cache_folder(folder: Path) -> None:
    """Create the cache folder; a DownloadError that says what is in the way otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return
    except OSError as exc:
        if folder.is_symlink() and not folder.exists():
            why = f"a symlink to {os.readlink(folder)}, which does not exist"
        elif os.path.lexists(folder) and not folder.is_dir():
            why = "a file, not a folder"
        else:
            why = _one_line(exc.strerror or exc)
    raise DownloadError(f"cannot use the model cache folder {folder}: {why}. Set SAMCLI_HOME "
                        "to a writable folder, or pass --checkpoint FILE.")


def _fetch(
    spec: ModelSpec,
    dest: Path,
    out: BinaryIO,
    part: Path,
    opener: Callable[..., Any],
    progress: ProgressCallback | None,
) -> str:
    """Stream the URL into ``out`` (the open file ``part``); check byte count and checksum.

    Returns the SHA-256 (hex) of the bytes received."""
    request = urllib.request.Request(spec.url, headers={"User-Agent": "samcli"})
    network_errors = (OSError, http.client.HTTPException, ValueError)
    digest = hashlib.sha256()
    received = 0
    try:
        response = opener(request, timeout=DOWNLOAD_TIMEOUT_S)
    except network_errors as exc:
        raise _download_error(spec, dest, _reason(exc)) from None
    with contextlib.closing(response):
        status = getattr(response, "status", None)
        if isinstance(status, int) and not 200 <= status < 300:
            raise _download_error(spec, dest, f"HTTP {status}")
        total = _content_length(response)
        if total is not None and spec.size_bytes is not None and total != spec.size_bytes:
            raise _download_error(spec, dest, f"the server announces {total} bytes, but the "
                                  f"official file has {spec.size_bytes} bytes")
        shown_total = total if total is not None else spec.size_bytes
        if progress is not None:
            progress(0, shown_total)
        window_start, window_bytes = time.monotonic(), 0
        # read1: what one receive brings (at most a chunk), so that the stall check runs
        # after every receive; read(n) would wait for all n bytes however slowly they come
        read = getattr(response, "read1", None) or response.read
        while True:
            try:
                chunk = read(CHUNK_BYTES)
            except network_errors as exc:
                raise _download_error(spec, dest, _reason(exc)) from None
            if not chunk:
                break
            if spec.size_bytes is not None and received + len(chunk) > spec.size_bytes:
                raise _download_error(spec, dest, f"the server sent more than the official "
                                      f"file's {spec.size_bytes} bytes")
            window_bytes += len(chunk)
            now = time.monotonic()
            if window_bytes >= STALL_BYTES:
                window_start, window_bytes = now, 0
            elif now - window_start > STALL_S:
                raise _download_error(spec, dest, f"stalled: {window_bytes} bytes in the last "
                                      f"{now - window_start:.0f} s")
            try:
                out.write(chunk)
            except OSError as exc:
                raise _write_error(spec, part, exc) from None
            digest.update(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, shown_total)
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise _write_error(spec, part, exc) from None
    if total is not None and received != total:
        raise _download_error(
            spec, dest, f"the download was cut off: got {received} of {total} bytes"
        )
    if spec.size_bytes is not None and received != spec.size_bytes:
        raise _download_error(
            spec,
            dest,
            f"got {received} bytes, but the official file has {spec.size_bytes} bytes",
        )
    if spec.sha256 is not None and digest.hexdigest() != spec.sha256.lower():
        raise _download_error(
            spec,
            dest,
            f"SHA-256 mismatch: got {digest.hexdigest()}, expected {spec.sha256.lower()}",
        )
    return digest.hexdigest()


def _write_error(spec: ModelSpec, part: Path, exc: OSError, create: bool = False) -> DownloadError:
    doing = f"create a temporary file for {spec.name} weights in" if create else (
        f"write {spec.name} weights to"
    )
    free = "Free some space or set" if exc.errno in NO_SPACE_ERRNOS else "Set"
    return DownloadError(
        f"could not {doing} {part} ({_one_line(exc.strerror or exc)}). {free} SAMCLI_HOME "
        "to another (writable) folder, or pass --checkpoint FILE."
    )


def _verify_download(spec: ModelSpec, dest: Path, part: Path) -> None:
    """The downloaded file must load as a state dict matching the model (when buildable)."""
    what = "the downloaded file"
    try:
        state = checkpoint.read_state_dict(part, what=what)
        expected = checkpoint.expected_shapes(spec.name)
        if expected is not None:
            checkpoint.check_state_dict(state, expected, part, spec.name, what=what)
    except CheckpointError as exc:
        raise _download_error(spec, dest, str(exc).rstrip(".")) from None
    finally:
        state = None  # noqa: F841  (drop the memory map before the rename)
