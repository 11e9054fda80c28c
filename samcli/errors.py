"""The one exception family for user-facing errors, and how each becomes an exit code.

Library code raises a subclass of :class:`SamcliError` with a message a user can act on
(naming the file, line or option at fault). The CLI turns it into ``Error: <message>`` on
stderr and the class's ``exit_code`` in exactly one place (:func:`samcli.cli.main`).
Per-input problems during a batch (a corrupt image, a bad label row) are also raised as
:class:`InputError`; the runner catches those, reports them and goes on (exit code 3 at the end).

This module imports nothing from samcli, so every layer (the model package included) may use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
EXIT_PIPE = 141  # the reader of stdout went away: 128 + SIGPIPE, as Unix filters end
EXIT_TERMINATED = 143  # SIGTERM (schedulers, ``timeout``): 128 + SIGTERM


class SamcliError(Exception):
    """A problem the user can fix; the message is shown as ``Error: <message>``."""

    exit_code = EXIT_ERROR


class UsageError(SamcliError):
    """A command line that does not parse (exit 2), found before any work: a value that is not
    of its option's kind (``--min-area lots``, ``--classes x``) or not one of its fixed names
    (``--model vit_z``, ``--format xml``, ``--preset fast``, ``--device tpu``, ``--dtype
    half``), like the unknown options and missing arguments Typer itself reports with 2."""

    exit_code = EXIT_USAGE


class ConfigError(SamcliError):
    """A command line that parses but cannot run (exit 1, before any work): a value out of
    range or a combination that does not work, no inputs found, an output folder that is a
    file, not writable or in use, a device that is not there."""


class CheckpointError(SamcliError):
    """A checkpoint file that is missing, unreadable, truncated or for another model."""


class DownloadError(SamcliError):
    """A weight download that failed (no network, bad checksum, cut off)."""


class InputError(SamcliError):
    """One input (image, label file) could not be used; the batch goes on without it."""

    exit_code = EXIT_PARTIAL


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, like Ctrl-C: everything that keeps finished
    work on Ctrl-C does so on SIGTERM too; the exit code is :data:`EXIT_TERMINATED`."""


class StdoutClosed(Exception):
    """The program reading samcli's stdout went away (a closed pipe, ``| head``): the run ends
    quietly with :data:`EXIT_PIPE`, keeping what was written."""
