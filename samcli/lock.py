"""One run at a time per output folder: :class:`OutputLock`, an exclusive ``flock`` on
``DIR/.samcli/lock`` that the runner holds for the whole run (and the pipeline probes before
it makes any output folder)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from samcli.errors import ConfigError
from samcli.fs import NO_SPACE_ERRNOS
from samcli.io.outputs import STATE_DIR
from samcli.manifest import text_json

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "OutputLock"]

LOCK_NAME = "lock"


class OutputLock:
    """One run at a time per output folder: an exclusive ``flock`` on
    ``DIR/.samcli/lock``, held for the whole run and released when it ends (even when the
    process is killed: the kernel drops it). The holder writes its pid, host, start time and
    command line into the file; a second run reads them for its one-line error. Where
    ``flock`` is not available (not POSIX) runs are not locked. ``option``: the flag that named
    the folder (``-o``, ``--crops``, ``--preview``), for the error's advice."""

    def __init__(self, folder: Path, option: str | None = None) -> None:
        self.path = Path(folder) / STATE_DIR / LOCK_NAME
        self.option = option
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        if fcntl is None:  # pragma: no cover - not POSIX
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise ConfigError(f"cannot lock the output folder ({self.path}): "
                              f"{exc.strerror or exc}") from None
        self._take(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)}
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (text_json(info) + "\n").encode("utf-8"))
        except OSError as exc:  # (a full disk: the file is empty, and its first block is new)
            os.close(fd)
            fix = "free some space" if exc.errno in NO_SPACE_ERRNOS else "fix the folder"
            raise ConfigError(f"cannot write {self.path}: {exc.strerror or exc}; {fix} and "
                              "run the same command again") from None
        self._fd = fd
        return self

    def _take(self, fd: int) -> None:
        """Locks ``fd`` (the lock file); else closes it and raises the error naming the run
        that holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            other = f"another {self.option} folder" if self.option else "other folders"
            raise ConfigError(f"{self.path.parent.parent} is in use by another samcli run "
                              f"({holder}); wait for it to finish or use {other}") from None

    def check_free(self) -> None:
        """Raises the in-use error now if another run holds the lock, touching nothing (the
        run's real lock comes later, in :meth:`Runner.run`): a run refused for that must not
        first have marked its other output folders as samcli's. A folder without a lock file
        was never locked."""
        if fcntl is None:  # pragma: no cover - not POSIX
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # none there, or unreadable: the real lock will say
            return
        self._take(fd)
        os.close(fd)  # (released with it)

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8", "replace"))
        return (f"pid {info['pid']} on {info['host']}, started {info['started']}: "
                f"{info['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "its details could not be read"
