"""Drives a batch: inputs -> an executor's outcomes -> writers, with manifest, resume, progress,
summary.

The runner knows nothing about SAM: it gets the run's inputs and an executor
(:mod:`samcli.executors`) that turns each into an :class:`~samcli.executors.Outcome` (a
writer-ready :class:`~samcli.results.ImageResult`, or the input's error). Per-input problems
are reported on stderr and in the manifest and the batch goes on; any other
:class:`~samcli.errors.SamcliError` stops the run.

Crash safety: an image's output files are written atomically first, then one manifest line is
appended and fsynced. A run killed at any point leaves only complete files; the rerun redoes
images without a ``done`` line (same hash) and overwrites their files atomically, so it ends with
the same outputs as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from samcli.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, InputError
from samcli.executors import Executor, Outcome
from samcli.io.inputs import InputItem

MANIFEST = "manifest.jsonl"


def params_hash(params: dict[str, Any]) -> str:
    """A short stable hash of everything that changes an image's outputs."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Manifest:
    """``manifest.jsonl`` in the output folder: one JSON line per finished or failed input.

    Entries are keyed by ``input`` (the work item's relative path: an image for automask, a
    label file for from-boxes); ``image`` is the record's image path the writers used. The last
    line for an input wins. Lines that cannot be trusted are ignored, so their input is simply
    done again: a torn last line (a process killed mid-write), a line that is not a JSON
    object, or one whose ``input``, ``image``, ``status`` or ``hash`` is missing or not a
    string (a hand edit). A manifest that is a folder, a symlink or unreadable is a
    :class:`~samcli.errors.ConfigError` before any work; lines are appended through a
    descriptor opened without following symlinks.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self.entries: dict[str, dict] = {}
        self._torn = False  # last line cut by a killed run: start the next on a new line
        if os.path.lexists(self.path):
            if self.path.is_symlink() or not self.path.is_file():
                kind = "a symlink" if self.path.is_symlink() else "not a file"
                raise ConfigError(f"{self.path} is {kind}; samcli keeps its run record there: "
                                  "move it away or use another -o folder")
            try:
                data = self.path.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read {self.path}: {exc.strerror or exc}") from None
            self._torn = bool(data) and not data.endswith(b"\n")
            for line in data.decode("utf-8", errors="replace").splitlines():
                entry = _entry(line)
                if entry is not None:
                    self.entries[entry["input"]] = entry

    def is_done(self, key: str, hash_: str) -> bool:
        e = self.entries.get(key)
        return bool(e) and e.get("status") == "done" and e.get("hash") == hash_

    def done_images(self, hash_: str) -> list[str]:
        """The record image paths of every input done with these parameters, sorted."""
        return sorted(e["image"] for k, e in self.entries.items() if self.is_done(k, hash_))

    def append(self, entry: dict) -> None:
        """Add one line (fsynced); it wins over earlier lines for its input."""
        self.entries[entry["input"]] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o666)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            if self._torn:
                fh.write("\n")
                self._torn = False
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


_ENTRY_STRINGS = ("input", "image", "status", "hash")


def _entry(line: str) -> dict | None:
    """A manifest line as an entry, or None when it cannot be trusted (see Manifest)."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    if not all(isinstance(entry.get(k), str) for k in _ENTRY_STRINGS):
        return None
    return entry


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    proposals: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.failed else EXIT_OK


@dataclass
class RunOptions:
    """How the runner behaves (from the command's options)."""

    hash: str
    output_dir: Path | None = None
    overwrite: bool = False
    fail_fast: bool = False
    quiet: bool = False
    unit: str = "images"


class Runner:
    """Runs ``process`` over items, writing with ``writers`` (see samcli.io.writers)."""

    def __init__(self, writers: Sequence[Any], opts: RunOptions,
                 console: Console | None = None) -> None:
        self.writers = list(writers)
        self.opts = opts
        self.console = console or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.manifest = Manifest(opts.output_dir) if opts.output_dir else None
        self._t0 = time.perf_counter()

    def report(self, message: str, style: str = "") -> None:
        """A line on stderr (kept even with --quiet for errors)."""
        self.console.print(message, style=style or None, markup=False, highlight=False)

    def fail_item(self, summary: Summary, image: str, message: str) -> None:
        summary.failed.append(image)
        self.report(f"Error: {message}", "red")
        if self.manifest is not None:
            self.manifest.append({"input": image, "image": image, "status": "failed",
                                  "error": message, "hash": self.opts.hash, "time": _now()})

    def run(self, items: Iterable[InputItem], executor: Executor,
            pre_failed: Sequence[str] = ()) -> Summary:
        """Process every item with ``executor``; ``pre_failed`` are problems found while
        collecting inputs."""
        todo, summary = self.start(items, pre_failed)
        if todo is None:
            return summary
        if todo:
            with self.progress(len(todo)) as bar:
                images = bar.add_task(self.opts.unit, total=len(todo), proposals=0)
                batches = bar.add_task("  prompts", total=None, proposals=0, visible=False)

                def on_batch(item: InputItem, done: int, total: int) -> None:
                    bar.update(batches, completed=done, total=total, visible=True,
                               description=f"  {item.rel}")

                outcomes = executor.outcomes(todo, on_batch)
                try:
                    for outcome in outcomes:
                        ok = self.record(outcome, summary)
                        bar.update(images, advance=1, proposals=summary.proposals)
                        if not ok and self.opts.fail_fast:
                            break
                finally:
                    close = getattr(outcomes, "close", None)
                    if close is not None:
                        close()  # stops the executor's work when leaving early
                bar.update(batches, visible=False)
        return self.finish(summary)

    # The steps of a run, public so that a caller driving its own loop writes, records and
    # resumes exactly like ``run``.

    def start(self, items: Iterable[InputItem],
              pre_failed: Sequence[str] = ()) -> tuple[list[InputItem] | None, Summary]:
        """Before any work: refuse output clashes (ConfigError), report the problems found
        while collecting inputs, and drop the items the manifest says are done (resume).

        Returns the items left to do, or None when the run stops here (--fail-fast and a
        problem), and the run's summary.
        """
        items = list(items)
        summary = Summary()
        self._t0 = time.perf_counter()

        # Outputs of two inputs must not land on the same file (checked before any work)
        try:
            for w in self.writers:
                w.check_inputs([item.rel for item in items])
        except InputError as exc:
            raise ConfigError(str(exc)) from None

        # Problems found while collecting inputs (missing paths, unsupported files)
        for message in pre_failed:
            summary.failed.append(message)
            self.report(f"Error: {message}", "red")
            if self.opts.fail_fast:
                return None, summary

        # Resume: skip what the manifest says is done with the same parameters
        todo = []
        for item in items:
            if (self.manifest is not None and not self.opts.overwrite
                    and self.manifest.is_done(item.rel, self.opts.hash)):
                summary.skipped += 1
            else:
                todo.append(item)
        return todo, summary

    def record(self, outcome: Outcome, summary: Summary) -> bool:
        """One outcome: its files written (atomically), then its manifest line; or its error
        reported. A writer's InputError fails the item too. Returns whether it is done."""
        item, result = outcome.item, outcome.result
        if result is None:
            self.fail_item(summary, item.rel, outcome.error or "failed")
            return False
        for message in result.warnings:
            self.report(f"Warning: {message}", "yellow")
        t1 = time.perf_counter()
        try:
            outputs: list[str] = []
            for w in self.writers:
                outputs += [str(p) for p in w.write(result) or []]
        except InputError as exc:
            self.fail_item(summary, item.rel, str(exc))
            return False
        t2 = time.perf_counter()
        summary.done += 1
        summary.proposals += len(result.records)
        if self.manifest is not None:
            self.manifest.append({
                "input": item.rel, "image": result.image, "status": "done", "error": None,
                "proposals": len(result.records),
                "seconds": {"process": round(outcome.seconds, 3), "write": round(t2 - t1, 3)},
                "hash": self.opts.hash, "outputs": outputs, "time": _now(),
            })
        return True

    def finish(self, summary: Summary) -> Summary:
        """Whole-run files (COCO) from every image done, in this run or before; the summary."""
        done_images = self.manifest.done_images(self.opts.hash) if self.manifest else []
        for w in self.writers:
            w.finish(done_images)
        summary.seconds = time.perf_counter() - self._t0
        if not self.opts.quiet:
            self._summary(summary)
        return summary

    def progress(self, total: int) -> Progress:
        """The stderr progress bar (off with --quiet or when stderr is not a terminal)."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[proposals]} proposals"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=self.opts.quiet or not self.console.is_terminal,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def _summary(self, s: Summary) -> None:
        parts = [f"{s.done} {self.opts.unit} done"]
        if s.skipped:
            parts.append(f"{s.skipped} skipped (already done)")
        if s.failed:
            parts.append(f"{len(s.failed)} failed")
        rate = f" ({s.done / s.seconds:.2f}/s)" if s.done and s.seconds > 0 else ""
        self.report(f"samcli: {', '.join(parts)}; {s.proposals} proposals in "
                    f"{s.seconds:.1f} s{rate}")
        if s.failed:
            self.report(f"{len(s.failed)} input(s) failed; see the errors above"
                        + (" and the manifest" if self.manifest else ""))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
