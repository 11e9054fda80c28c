"""The weight cache: which folder, where each model's file lives, and whether to trust it.

Folder: ``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli`` (only when it is an absolute path, as
the XDG spec asks), else ``~/.cache/samcli``. Each model's file keeps its official name there
(``sam_vit_b_01ec64.pth`` ...), so a file fetched by hand can simply be dropped in.

Trust
    A cached file is checked on every use, not only when it was downloaded
    (:func:`verify_cached`): its size must be the official file's (a ``stat``, free), and its
    SHA-256 the official digest. The digest is computed once per file identity and remembered
    (see *Digest records*), so a 2.5 GB ``vit_h`` file is hashed once, not at every run. A
    file that fails either check is one :class:`~samcli.errors.CheckpointError` that names
    it, says what was expected and how to fix it (``samcli models download NAME --force``).
    :func:`cache_state` says, without hashing, whether a file is there and whether it is
    known to be wrong (``samcli models list``).

Digest records
    :func:`weights_digest` (the SHA-256 of any weight file, official or not) remembers each
    result in ``<cache>/.digests/<key>.json``, one small JSON file per weight file, written
    atomically (new file, then rename); ``<key>`` is derived from the file's resolved path.
    A record holds ``path``, ``size``, ``mtime_ns``, ``ctime_ns``, ``inode``, ``sha256``
    and the whole-file checks the file passed (:func:`check_once`: a ``--checkpoint``'s zip
    CRCs and values), and is used only while the file still has that path, size,
    modification and change times and inode: replacing or rewriting the file changes one of
    them (a write with the modification time set back still moves the change time, which no
    tool can set), and the file is hashed again; so does a ``chmod`` or a rename, harmlessly.
    A file modified less than :data:`RACY_NS` before it was hashed is not recorded (a write
    in the same timestamp tick after the hash would go unseen), so it is hashed again on its
    next use. Records are an optimisation only: when the cache folder cannot be written,
    every use hashes the file.

This module imports only the standard library, :mod:`samcli.errors` and the model table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any, Callable, Literal

from samcli.errors import CheckpointError, ConfigError
from samcli.fs import create_exclusive
from samcli.model._text import one_line
from samcli.model.specs import get_spec

__all__ = [
    "CacheState",
    "cache_dir",
    "cache_state",
    "cached_path",
    "check_once",
    "file_sha256",
    "is_cached",
    "is_verified",
    "record_digest",
    "recorded_digest",
    "verify_cached",
    "weights_digest",
]

#: Folder of the digest records, inside the cache folder.
DIGESTS_DIR = ".digests"
#: A file modified less than this many nanoseconds before it was hashed is not recorded.
RACY_NS = 2_000_000_000
#: Bytes read per chunk while hashing.
HASH_CHUNK = 4 << 20

#: What the cache holds for a model, found without hashing: no file, a file that passes the
#: cheap checks, a file of the wrong size, a file whose recorded SHA-256 is not the official one.
CacheState = Literal["missing", "cached", "wrong size", "wrong sha256"]


def cache_dir() -> Path:
    """``$SAMCLI_HOME``, else ``$XDG_CACHE_HOME/samcli``, else ``~/.cache/samcli``; absolute.

    Empty variables count as unset; a relative ``XDG_CACHE_HOME`` is ignored (XDG spec); a
    relative ``SAMCLI_HOME`` is taken from the current folder and made absolute (one cache,
    whatever folder later commands run in, and absolute paths in what samcli prints). A
    home folder that cannot be found (``~user`` of no user; no ``$HOME`` and a uid without a
    passwd entry, as in ``docker run --user 1000``) is a ConfigError asking for SAMCLI_HOME.
    The folder is not created here.
    """
    home = os.environ.get("SAMCLI_HOME", "").strip()
    try:
        if home:
            return Path(os.path.abspath(Path(home).expanduser()))
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        if xdg and Path(xdg).expanduser().is_absolute():
            return Path(xdg).expanduser() / "samcli"
        return Path.home() / ".cache" / "samcli"
    except (RuntimeError, KeyError) as exc:  # expanduser / home() without a home to find
        where = f"SAMCLI_HOME={home!r}" if home else "the default cache folder (~/.cache/samcli)"
        raise ConfigError(f"cannot find the home folder for {where} ({one_line(exc)}): set "
                          "SAMCLI_HOME to the folder for the model weights") from None


def cached_path(name: str) -> Path:
    """Where the weights of model ``name`` live in the cache (whether or not they are there)."""
    return cache_dir() / get_spec(name).filename


def cache_state(name: str) -> CacheState:
    """What the cache holds for ``name``, from a ``stat`` and the digest record (no hashing).

    ``"wrong size"`` when the file's size is not the official file's (or, size unknown, when
    it is empty); ``"wrong sha256"`` when a digest record for the file as it is now says it
    is not the official file; ``"cached"`` otherwise (its SHA-256 may not be checked yet:
    :func:`verify_cached` does that once).
    """
    spec = get_spec(name)
    path = cache_dir() / spec.filename
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "missing"
    if spec.size_bytes is not None:
        if st.st_size != spec.size_bytes:
            return "wrong size"
    elif st.st_size == 0:
        return "wrong size"
    recorded = recorded_digest(path)
    if recorded is not None and spec.sha256 is not None and recorded != spec.sha256.lower():
        return "wrong sha256"
    return "cached"


def is_cached(name: str) -> bool:
    """Whether the cache holds a usable-looking file for ``name``: there, of the official size,
    and not known to have another SHA-256 (no hashing: see :func:`verify_cached`)."""
    return cache_state(name) == "cached"


def is_verified(name: str) -> bool:
    """Whether the cached file of ``name``, as it is now, is recorded with the official SHA-256
    (no hashing)."""
    spec = get_spec(name)
    if spec.sha256 is None:
        return False
    return recorded_digest(cache_dir() / spec.filename) == spec.sha256.lower()


def verify_cached(name: str) -> Path:
    """The path of the cached weights of ``name``, checked: official size on every call, official
    SHA-256 once per file identity (:func:`weights_digest`). Raises CheckpointError when the
    file is missing or is not the official file (naming it, what was expected, and the fix).
    """
    spec = get_spec(name)
    path = cache_dir() / spec.filename
    fix = (
        f"the file is damaged or was replaced. Run `samcli models download {spec.name} --force` "
        "to fetch it again, or pass --checkpoint FILE to use other weights."
    )
    state = cache_state(spec.name)
    if state == "missing":
        raise CheckpointError(
            f"{spec.name} weights are not in the cache ({path}); run "
            f"`samcli models download {spec.name}`, or pass --checkpoint FILE."
        )
    if state == "wrong size":
        size = _size_or_none(path)
        expected = (
            f"the official file has {spec.size_bytes} bytes"
            if spec.size_bytes is not None
            else "weights are not empty"
        )
        raise CheckpointError(
            f"cached {spec.name} weights {path} have {size} bytes, but {expected}: {fix}"
        )
    if spec.sha256 is None:
        return path
    digest = weights_digest(path)
    if digest != spec.sha256.lower():
        raise CheckpointError(
            f"cached {spec.name} weights {path} are not the official file (SHA-256 {digest}, "
            f"expected {spec.sha256.lower()}): {fix}"
        )
    return path


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


# --------------------------------------------------------------------------------------------
# content digests


def file_sha256(path: Path | str) -> str:
    """The SHA-256 (hex) of a file's content, read in chunks (raises OSError)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path, st: os.stat_result) -> dict[str, Any]:
    # ctime too: a tool can restore the modification time after writing into the file
    # (os.utime, rsync --inplace -t), but not the change time, which any write moves
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def _record_path(resolved: Path) -> Path | None:
    """Where the digest record of ``resolved`` lives; None without a cache folder to put it in
    (no home folder to be found: a --checkpoint file is then hashed at every use)."""
    key = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:32]
    try:
        return cache_dir() / DIGESTS_DIR / f"{key}.json"
    except ConfigError:
        return None


def _stat_file(path: Path | str) -> tuple[Path, os.stat_result]:
    """(resolved path, its stat) of an existing regular file; CheckpointError otherwise."""
    given = Path(path).expanduser()
    try:
        resolved = given.resolve()
        st = resolved.stat()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {given} does not exist.") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (older Pythons)
        raise CheckpointError(f"cannot read checkpoint {given} ({one_line(exc)}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"checkpoint {given} is a folder, not a file.")
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"checkpoint {given} is not a regular file.")
    return resolved, st


def recorded_digest(path: Path | str) -> str | None:
    """The recorded SHA-256 of ``path`` when a record matches the file as it is now; else None
    (no hashing; a missing or unreadable file is None too)."""
    try:
        resolved, st = _stat_file(path)
    except CheckpointError:
        return None
    digest = (_matching_record(resolved, st) or {}).get("sha256")
    if isinstance(digest, str) and len(digest) == 64:
        return digest.lower()
    return None


def _matching_record(resolved: Path, st: os.stat_result) -> dict[str, Any] | None:
    """The record of ``resolved`` if it was made for the file as ``st`` shows it; else None."""
    where = _record_path(resolved)
    if where is None:
        return None
    try:
        record = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if any(record.get(k) != v for k, v in _identity(resolved, st).items()):
        return None
    return record


def check_once(path: Path | str, what: str, check: Callable[[], None]) -> None:
    """Run ``check`` (it raises when the file at ``path`` fails it) unless the record of the
    file as it is now says that it passed check ``what``; then record that it did.

    For checks that read the whole file (a checkpoint's zip CRCs and values): done the first
    time a file is used as it is now, not at every run. The record is the digest's (its
    ``passed`` list), kept on the same terms: not when the file changed during the check or
    was modified less than :data:`RACY_NS` before it; best effort."""
    resolved, before = _stat_file(path)
    record = _matching_record(resolved, before) or {}
    passed = record.get("passed")
    passed = [p for p in passed if isinstance(p, str)] if isinstance(passed, list) else []
    if what in passed:
        return
    started = time.time_ns()
    check()
    try:
        after = resolved.stat()
    except OSError:
        return
    if _identity(resolved, before) == _identity(resolved, after) and \
            started - after.st_mtime_ns >= RACY_NS:
        _write_record(resolved, {**record, **_identity(resolved, after),
                                 "passed": sorted({*passed, what})})


def record_digest(path: Path | str, sha256: str) -> None:
    """Remember that ``path``, as it is now, has SHA-256 ``sha256``.

    The caller vouches that the digest is of the file's current content (the download does:
    it hashed the bytes it wrote). Best effort: a cache folder that cannot be written means no
    record, never an error.
    """
    with contextlib.suppress(CheckpointError):
        resolved, st = _stat_file(path)
        _write_record(resolved, {**(_matching_record(resolved, st) or {}),
                                 **_identity(resolved, st), "sha256": sha256.lower()})


def _write_record(resolved: Path, record: dict[str, Any]) -> None:
    target = _record_path(resolved)
    if target is None:
        return
    data = (json.dumps({**record, "version": 1}, indent=1) + "\n").encode("utf-8")
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = create_exclusive(target.parent, f"{target.name}.tmp-")
        with open(fd, "wb", closefd=True) as out:
            out.write(data)
        os.replace(tmp, target)
        tmp = None
    except OSError:
        pass  # a record is an optimisation: without it the file is hashed again next time
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def weights_digest(path: Path | str) -> str:
    """The SHA-256 (hex) of the weight file ``path``: the content identity of the weights.

    Computed once per file identity (resolved path, size, mtime_ns, ctime_ns, inode) and
    remembered in the cache folder's digest records, so later calls on the unchanged file
    read one small JSON file instead of the whole file; for the official cached files this is the very
    digest :func:`verify_cached` checked (and the download recorded). Replacing, rewriting or
    touching the file makes the next call hash it again. Raises CheckpointError for a
    missing or unreadable file.
    """
    resolved, before = _stat_file(path)
    recorded = recorded_digest(resolved)
    if recorded is not None:
        return recorded
    started = time.time_ns()
    try:
        digest = file_sha256(resolved)
        after = resolved.stat()
    except OSError as exc:
        raise CheckpointError(
            f"cannot read checkpoint {resolved} ({one_line(exc)})."
        ) from None
    unchanged = _identity(resolved, before) == _identity(resolved, after)
    if unchanged and started - after.st_mtime_ns >= RACY_NS:
        _write_record(resolved, {**(_matching_record(resolved, before) or {}),
                                 **_identity(resolved, after), "sha256": digest})
    return digest
