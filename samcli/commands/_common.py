"""What every command shares: the error boundary and the stderr console.

``guarded`` is the one place where a :class:`~samcli.errors.SamcliError` becomes
``Error: <message>`` on stderr plus its exit code; Ctrl-C becomes exit 130, SIGTERM 143, and
a closed stdout pipe a quiet 141.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, TypeVar

import typer

from samcli.errors import (EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TERMINATED, SamcliError,
                           StdoutClosed, Terminated)
from samcli.fs import safe_line

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int) -> typer.Exit:
    """Print ``Error: message`` on stderr (on one line: control characters from file names
    escaped) and return the Exit to raise."""
    print(f"Error: {safe_line(message)}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def _silence_stdout() -> None:
    """After the reader of stdout went away: point fd 1 at /dev/null, so the interpreter's
    final flush of buffered records does not raise again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def guarded(fn: F) -> F:
    """Decorate a command callback: user errors -> ``Error: ...`` + exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SamcliError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except Terminated:
            raise fail("terminated (SIGTERM)", EXIT_TERMINATED) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except StdoutClosed:
            _silence_stdout()
            raise typer.Exit(EXIT_PIPE) from None

    return wrapper  # type: ignore[return-value]
