"""Run the samcli CLI and send this very process a signal at a known point.

``python -m tests.interrupt_driver POINT N SIGNAL -- samcli-args...``

- ``POINT`` ``record``: after the runner has recorded the N-th finished input (its files and
  its manifest line written); ``write``: inside the N-th atomic file write, after the
  temporary file is complete and before it is renamed into place; ``startup``: while the
  commands are being imported (N = 1); ``exit``: in an exit hook, during the interpreter's
  teardown after the command has ended (N = 1; a second Ctrl-C while torch's hooks run).
- ``SIGNAL``: ``KILL``, ``INT``, ``TERM``, or ``STOP`` (the process freezes there until a
  SIGCONT: a run that holds its lock at a known point).

Interruption tests use this instead of watching a clock: the signal lands at exactly the
same step on every machine, however fast it is.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    point, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    assert sys.argv[4] == "--"
    sig = getattr(signal, f"SIG{name}")  # KILL, INT, TERM or STOP
    count = [0]

    def fire() -> None:
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), sig)

    if point == "record":
        from samcli.runner import Runner

        record = Runner.record

        def record_then_fire(self, outcome, summary):
            ok = record(self, outcome, summary)
            if outcome.result is not None:
                fire()
            return ok

        Runner.record = record_then_fire
    elif point == "write":
        import samcli.fs as fs

        replace = fs.os.replace

        class _Os:
            def __getattr__(self, attr):
                return getattr(os, attr)

            @staticmethod
            def replace(src, dst):
                fire()
                return replace(src, dst)

        fs.os = _Os()
    elif point == "startup":
        import samcli.cli

        register = samcli.cli._register

        def fire_then_register():
            fire()
            register()

        samcli.cli._register = fire_then_register
    elif point == "exit":
        import atexit

        atexit.register(fire)  # registered first, so it runs last
    else:
        raise SystemExit(f"unknown point {point!r}")
    sys.argv = ["samcli", *sys.argv[5:]]
    from samcli.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
