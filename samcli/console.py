"""Reporting on stderr shared by the library and the commands (stdout is for data only)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from samcli.model.download import ProgressCallback


#: Standard streams (0, 1, 2) that were closed when samcli started (see
#: :func:`guard_standard_streams`).
CLOSED_AT_START: set[int] = set()


def guard_standard_streams() -> None:
    """Reopen closed standard file descriptors onto /dev/null, once at start-up.

    A program started with stdout or stderr closed would otherwise hand that descriptor
    number to the next file it opens, so messages meant for stderr could land in a record
    file or on stdout. What was closed is remembered in :data:`CLOSED_AT_START`: a run that
    must write records to a closed stdout stops before any work.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            CLOSED_AT_START.add(fd)
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower descriptor was free after all
                os.dup2(opened, fd)
                os.close(opened)
    if 1 in CLOSED_AT_START or sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    if 2 in CLOSED_AT_START or sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    if 0 in CLOSED_AT_START or sys.stdin is None:
        sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
    if not isinstance(sys.stderr, QuietWhenGone):
        sys.stderr = QuietWhenGone(sys.stderr)


class QuietWhenGone:
    """stderr that goes quiet when its reader goes away (``2>&1 | head``): later messages are
    lost and the run goes on, as with a stderr closed at the start, instead of stopping
    between an input's message and its manifest line. Everything else is the stream's."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        # descriptor 2 onto /dev/null: what is still buffered, and the interpreter's own last
        # writes at exit, go nowhere instead of raising again
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def stdout_was_closed() -> bool:
    """Whether stdout was closed when samcli started (records cannot go there)."""
    return 1 in CLOSED_AT_START


def warn(message: str) -> None:
    """One ``Warning:`` line on stderr, outside a run's reporter (which escapes its lines the
    same way): file names' undecodable bytes as ``\\xNN``, control characters escaped."""
    from samcli.fs import safe_line

    print(f"Warning: {safe_line(message)}", file=sys.stderr, flush=True)


def stderr_console() -> Console:
    """A rich console on stderr."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def counted(n: int, plural: str) -> str:
    """``1 image``, ``2 images`` (``plural``: a noun whose plural ends in s)."""
    return f"{n} {plural[:-1] if n == 1 else plural}"


def human_bytes(n: int | None) -> str:
    """A byte count for people, in decimal units: ``375.0 MB``, ``2.6 GB``, ``512 B``; ``?``
    when unknown (None)."""
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


#: Bytes between two progress lines of a download of unknown size in a log (not a terminal).
NOTE_BYTES = 256 << 20


@contextlib.contextmanager
def download_progress(
    label: str = "model weights", enabled: bool = True
) -> Iterator[ProgressCallback | None]:
    """A progress callback for :func:`samcli.model.download.download` that reports on stderr.

    When a download starts, one ``Downloading <label> (<size>)`` line; then, on a terminal, a
    rich progress bar (removed when done), elsewhere a line each tenth of the file. Nothing
    is printed when no download happens. ``enabled=False`` yields None (quiet).
    """
    if not enabled:
        yield None
        return
    console = stderr_console()
    if not console.is_terminal:
        # A log (CI, a pipe): a line at the start, then one each tenth of the file (each
        # NOTE_BYTES when its size is unknown), so a long download shows it is alive
        marks: list[int] = []

        def note(done: int, total: int | None) -> None:
            if not marks:
                console.print(f"Downloading {label} ({human_bytes(total)})", markup=False)
                marks.append(0)
                return
            step = total // 10 if total else NOTE_BYTES
            if step > 0 and done >= marks[-1] + step and (total is None or done < total):
                marks.append(done - done % step)
                share = f"{100 * done // total}% " if total else ""
                console.print(f"  {share}({human_bytes(done)} of {human_bytes(total)})",
                              markup=False)

        yield note
        return

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("Downloading weights"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
        transient=True,
    )
    task: list[int] = []

    def update(done: int, total: int | None) -> None:
        if not task:
            console.print(f"Downloading {label} ({human_bytes(total)})", markup=False)
            progress.start()
            task.append(progress.add_task("download", total=total))
        progress.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            progress.stop()


