"""The Typer application: registers the commands; no logic of its own."""

from __future__ import annotations

import signal

import typer

from samcli import __version__
from samcli.commands._common import guarded
from samcli.errors import Terminated

app = typer.Typer(
    name="samcli",
    help="Batch mask proposals from Segment Anything (SAM): everything-mode over folders of "
    "images, or detector boxes turned into masks; written as polygons (JSON Lines on stdout, "
    "or COCO, YOLO-seg, GeoJSON, Label Studio files).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"samcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """samcli: Segment Anything as a batch tool."""


def _register() -> None:
    from samcli.commands import automask, from_boxes, models

    for module in (automask, from_boxes, models):
        module.register(app)


_register_done = False


def get_app() -> typer.Typer:
    """The app with every command registered (for tests: ``CliRunner().invoke(get_app(), ...)``)."""
    global _register_done
    if not _register_done:
        _register()
        _register_done = True
    return app


def main() -> None:
    """Console-script entry point: standard streams made safe, SIGTERM handled like Ctrl-C
    (exit 143), then the app.

    The commands are imported under the same error boundary as they run, so a Ctrl-C or
    SIGTERM while they load ends the run as one during a command does (130 or 143, one
    ``Error:`` line). Once the exit status is decided, both signals are ignored: a second
    Ctrl-C during the interpreter's teardown (torch's exit hooks) would otherwise print a
    traceback and replace that status. Only for this process's entry point: the app that
    :func:`get_app` returns leaves signal handling to its caller.
    """
    from samcli.console import guard_standard_streams

    guard_standard_streams()
    signal.signal(signal.SIGTERM, _terminated)
    try:
        try:
            command = guarded(get_app)()
        except typer.Exit as exc:
            raise SystemExit(exc.exit_code) from None
        command()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def _terminated(signum, frame) -> None:
    raise Terminated()
