"""What every command shares: the error boundary and the stderr console.

``guarded`` is the one place where a :class:`~samcli.errors.SamcliError` becomes
``Error: <message>`` on stderr plus its exit code, and Ctrl-C becomes exit 130.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from samcli.console import stderr_console  # noqa: F401  (shared by the commands)
from samcli.errors import EXIT_INTERRUPTED, SamcliError

F = TypeVar("F", bound=Callable)


def fail(message: str, code: int) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the Exit to raise."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def guarded(fn: F) -> F:
    """Decorate a command callback: user errors -> ``Error: ...`` + exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SamcliError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]
