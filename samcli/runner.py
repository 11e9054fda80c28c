"""Drives a batch: inputs -> an executor's outcomes -> writers, with manifest, resume, lock,
progress, summary.

The runner knows nothing about SAM: it gets the run's inputs and an executor
(:mod:`samcli.executors`) that turns each into an :class:`~samcli.executors.Outcome` (a
writer-ready :class:`~samcli.results.ImageResult`, or the input's error). Per-input problems
are reported on stderr and in the manifest and the batch goes on; any other
:class:`~samcli.errors.SamcliError` stops the run.

One run at a time per output folder (:class:`samcli.lock.OutputLock`): a second run stops
before any work, naming the first.

Crash safety: an input's output files are written atomically first, then one manifest line is
appended and fsynced (an input whose last line says ``done`` first gets a ``started`` line,
so that replacing its files is never half-done under a ``done``). A run killed at any point
leaves only complete files; the rerun redoes inputs without a ``done`` line and overwrites
their files atomically, so it ends with the same outputs as an uninterrupted run. Ctrl-C and
SIGTERM also write the whole-run files (COCO's ``annotations.json``) for what is done before
the process exits; one that arrives while they are written waits until they are complete.

Resume: an input counts as done when its last line says ``done`` with the run's parameter
hash (model identity, precision, every option that changes an output) *and* the input file is
the same file as then (:func:`samcli.fs.file_identity`: resolved path, size, modification
time, and a fingerprint of its first and last 64 KiB; from-boxes also checks the label's
image; with ``companions``, such as ``--geo``'s world files, those files too). Anything else
is done again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from samcli.console import counted
from samcli.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, InputError, SamcliError
from samcli.executors import Executor, Outcome
from samcli.fs import (NO_SPACE_ERRNOS, file_identity, remove_stale_temporaries, safe_line,
                       text_of_path)
from samcli.io.inputs import InputItem, Problem
from samcli.io.outputs import STATE_DIR, check_clashes
from samcli.lock import OutputLock
from samcli.manifest import MANIFEST, Manifest, params_hash

__all__ = ["MANIFEST", "Manifest", "RunOptions", "Runner", "Summary",
           "params_hash"]

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
    #: Output folders besides -o (all of them, in the pipeline's runs): locked for the run
    #: as -o is, and cleared of a killed run's temporary files once locked.
    folders: Sequence[Path] = ()
    #: from-boxes with label files: the image a label resolves to now (None: none), so that a
    #: label whose image is now another file is redone, not resumed
    image_of: Callable[[InputItem], Path | None] | None = None
    #: Other files an input's outputs depend on, found from its image (the file ``image_of``
    #: gives, else the input itself; --geo: the image's world file, .prj, .aux.xml): their
    #: identities join the input's, so a change to any of them (added, edited, removed)
    #: redoes the input on resume
    companions: Callable[[Path], Sequence[Path]] | None = None
    #: What else an input's outputs depend on, as a digest (from-boxes with --coco-dets: the
    #: image's detections and image-map entry, which live in files shared by every input):
    #: joins the input's identity, so editing them redoes that input on resume
    content_of: Callable[[InputItem], str] | None = None
    #: Whole-run files (COCO, Label Studio) cover this run's inputs only, not also those an
    #: earlier run into the folder did (--coco-dets: the detections file names the whole set,
    #: so an image it no longer names, or an id mapped to another file now, is left out)
    whole_run_is_this_run: bool = False
    #: The whole-run files the writers make (annotations.json, ...): they cover one set of
    #: options, so inputs an earlier run did with other options are left out, which is said
    whole_run_files: Sequence[str] = ()


class Runner:
    """Drives one run: ``executor``'s outcomes written with ``writers`` (see
    :mod:`samcli.io.writers`), with the manifest, resume, the output-folder lock, progress and
    the summary (see the module docstring)."""

    def __init__(self, writers: Sequence[Any], opts: RunOptions,
                 console: Console | None = None) -> None:
        self.writers = list(writers)
        self.opts = opts
        self.console = console or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.manifest: Manifest | None = None
        self._sources: dict[str, dict | None] = {}
        # from-boxes: each label's image as it was when the run started (see record)
        self._image_sources: dict[str, dict | None] = {}
        self._t0 = time.perf_counter()

    def report(self, message: str, style: str = "") -> None:
        """A line on stderr (kept even with --quiet for errors); control characters in it
        (from file names) escaped, so it stays one line."""
        self.console.print(safe_line(message), style=style or None, markup=False,
                           highlight=False)

    def fail_item(self, summary: Summary, key: str, message: str) -> None:
        """Report and record one input's failure (``key``: its manifest key)."""
        summary.failed.append(key)
        self.report(f"Error: {message}", "red")
        self._append({"input": key, "image": key, "status": "failed", "error": message,
                      "hash": self.opts.hash, "time": _now()})

    def _append(self, entry: dict) -> None:
        """One manifest line (none without an output folder); a failed write stops the run
        with one line naming the manifest."""
        if self.manifest is None:
            return
        try:
            self.manifest.append(entry)
        except OSError as exc:
            raise SamcliError(_write_error(exc, self.manifest.path)) from None

    def run(self, items: Iterable[InputItem], executor: Executor,
            pre_failed: Sequence[Problem | str] = ()) -> Summary:
        """Process every item with ``executor``; ``pre_failed`` are problems found while
        collecting inputs. The output folder and the other ``folders`` (--crops, --preview)
        are locked for the whole run (a second run on any of them stops at once, naming
        this one), then cleared of a killed run's temporary files."""
        with contextlib.ExitStack() as locks:
            for folder in self._folders():
                locks.enter_context(OutputLock(folder))
            if self.opts.output_dir is not None:
                self.manifest = Manifest(self.opts.output_dir)
                self.manifest.check_writable()
            for folder in self.opts.folders:
                remove_stale_temporaries(folder, own_marker=STATE_DIR)
            todo, summary = self.start(items, pre_failed)
            if todo is None:
                return summary
            try:
                self._process(todo, executor, summary)
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM: what is done stays done, in full
                self._finish_files()
                raise
            return self.finish(summary)

    def _folders(self) -> list[Path]:
        """The folders this run writes in, each once (by resolved path): -o, then ``folders``."""
        seen: dict[str, Path] = {}
        for folder in ([self.opts.output_dir] if self.opts.output_dir else []) + list(
                self.opts.folders):
            seen.setdefault(os.path.realpath(folder), Path(folder))
        return list(seen.values())

    def _process(self, todo: list[InputItem], executor: Executor, summary: Summary) -> None:
        if not todo:
            return
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

    # The steps of a run, public so that a caller driving its own loop writes, records and
    # resumes exactly like ``run`` (the lock and the manifest are set up by ``run``).

    def start(self, items: Iterable[InputItem], pre_failed: Sequence[Problem | str] = ()
              ) -> tuple[list[InputItem] | None, Summary]:
        """Before any work: refuse output clashes (ConfigError), report and record the
        problems found while collecting inputs, and drop the items the manifest says are done
        with the same parameters and the same input content (resume).

        Returns the items left to do, or None when the run stops here (--fail-fast and a
        problem), and the run's summary.
        """
        items = list(items)
        summary = Summary()
        self._t0 = time.perf_counter()

        self.check_output_clashes(self.writers, items)

        # Problems found while collecting inputs (missing paths, unsupported files)
        for problem in pre_failed:
            if isinstance(problem, Problem):  # (under the key it had when it could be read)
                key = problem.key if problem.key is not None else text_of_path(problem.input)
            else:
                key = text_of_path(str(problem))
            self._discard(key)  # (a named input done before and now gone, say)
            self.fail_item(summary, key, str(problem))
            if self.opts.fail_fast:
                return None, summary

        # Resume: skip what the manifest says is done with the same parameters and inputs
        todo = []
        for item in items:
            image = self._image_now(item)
            self._sources[item.rel] = source = self._identity(item, image)
            self._image_sources[item.rel] = now = None if image is None else file_identity(image)
            if (self.manifest is not None and not self.opts.overwrite
                    and self.manifest.is_done(item.rel, self.opts.hash, source, image, now)
                    and self._files_present(self.manifest.entries[item.rel])):
                summary.skipped += 1
            else:
                todo.append(item)
        return todo, summary

    def _files_present(self, entry: dict) -> bool:
        """Whether every per-image file of a done input (its manifest ``entry``) is still
        there, for every writer (a file deleted by hand since: the input is redone, not
        skipped). A line without a valid proposal count (a hand edit) is not trusted."""
        count = entry.get("proposals")
        if type(count) is not int or count < 0:
            return False
        if not all(w.files_present(entry["image"], count) for w in self.writers):
            return False
        return self._outputs_unchanged(entry)

    def _output_key(self, path: str) -> str | None:
        """An output file as the manifest keeps its stats: relative to the output folder
        (which may be moved, or named from another working directory), else absolute; None
        for a path that is not UTF-8 (JSON would not give it back), which goes unchecked."""
        real = os.path.realpath(path)
        root = os.path.realpath(self.opts.output_dir or ".")
        key = os.path.relpath(real, root) if os.path.commonpath([real, root]) == root else real
        return key if text_of_path(key) == key else None

    def _outputs_unchanged(self, entry: dict) -> bool:
        """Whether the per-image files a done line lists are still the ones that run wrote:
        a file written since for another input (automask and from-boxes into one folder, a
        chips folder shared by runs into two, a.png and a.jpg both naming a.txt over two
        runs) or by hand makes its input not done. Lines of older versions, without
        ``output_stats``, are taken as they are."""
        stats = entry.get("output_stats")
        if stats is None:
            return True
        if not isinstance(stats, dict) or self.opts.output_dir is None:
            return False
        return all(same for _, same in self._recorded_outputs(stats))

    def _recorded_outputs(self, stats: dict) -> Iterator[tuple[str, bool]]:
        """Each file of a done line's ``output_stats`` (with -o): its path, and whether it is
        still the one that run wrote (same size and time)."""
        root = os.path.realpath(self.opts.output_dir or ".")
        for key, recorded in stats.items():
            path = os.path.join(root, key)
            yield path, recorded is not None and _stat_key(path) == recorded

    @staticmethod
    def check_output_clashes(writers: Sequence[Any], items: Sequence[InputItem]) -> None:
        """ConfigError when the outputs of two inputs would land on the same file (the
        pipeline asks before it makes any output folder; :meth:`start` asks again for
        callers that drive their own loop)."""
        try:
            check_clashes(writers, [item.rel for item in items])
        except InputError as exc:
            raise ConfigError(str(exc)) from None

    def _discard(self, key: str, image: str | None = None) -> None:
        """A failed input (``key``: its manifest key): remove its per-image files, those an
        earlier run recorded (the manifest's image) and any this run began writing
        (``image``), so that no file outlives the records it came from: this run's writers'
        files, and the files the earlier done line lists that are still as it wrote them
        (another --format's, chips of a --crops folder this run does not write). Failures
        to remove are left alone: the manifest line says the input failed either way."""
        images = {image} if image else set()
        earlier = self.manifest.entries.get(key) if self.manifest is not None else None
        if earlier and earlier.get("status") in ("done", "started"):
            images.update(name for name in (earlier["image"], earlier.get("replaces"))
                          if isinstance(name, str))
        for name in images:
            for w in self.writers:
                with contextlib.suppress(OSError):
                    w.discard(name)
        if earlier and earlier.get("status") == "done":
            self._remove_recorded(earlier)

    def _remove_recorded(self, entry: dict) -> None:
        """Remove the output files a done line lists (``output_stats``) that are still the
        ones its run wrote (same size and time): not one written since for another input."""
        stats = entry.get("output_stats")
        if not isinstance(stats, dict) or self.opts.output_dir is None:
            return
        for path, same in self._recorded_outputs(stats):
            if same:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def _identity(self, item: InputItem, image: Path | None) -> dict | None:
        """The input's :func:`~samcli.fs.file_identity`, with its companions' (found from
        ``image``, the file ``image_of`` gave, else from the input; a list, in the order
        given; a companion that cannot be read counts by its name alone)."""
        source = file_identity(item.path)
        if source is None:
            return None
        if self.opts.content_of is not None:
            source["content"] = self.opts.content_of(item)
        if self.opts.companions is None:
            return source
        try:
            files = self.opts.companions(image or item.path)
        except OSError:
            files = []
        return {**source, "companions": [file_identity(p) or {"path": text_of_path(str(p))}
                                         for p in files]}

    def _image_now(self, item: InputItem) -> Path | None:
        if self.opts.image_of is None:
            return None
        try:
            return self.opts.image_of(item)
        except OSError:
            return None

    def _replacing(self, item: InputItem, image: str) -> None:
        """Before an input's files are replaced: if its last line says ``done``, a
        ``started`` line first, so that a run stopped while replacing them (killed, or a
        write error) leaves that input not done, whatever parameters the earlier files had:
        a later run redoes it instead of taking a mix of old and new files as done. The line
        keeps the files' names (the earlier ``image`` and this one) for :meth:`_discard`."""
        earlier = self.manifest.entries.get(item.rel) if self.manifest is not None else None
        if not earlier or earlier.get("status") != "done":
            return
        self._append({"input": item.rel, "image": image, "status": "started",
                      "replaces": earlier["image"], "hash": self.opts.hash, "time": _now()})

    def record(self, outcome: Outcome, summary: Summary) -> bool:
        """One outcome: its files written (atomically), then its manifest line; or its error
        reported and recorded. A writer's InputError, or a file name the file system refuses,
        fails the input too; any other write error stops the run (SamcliError naming the
        file), leaving every input recorded so far complete. Returns whether it is done."""
        item, result = outcome.item, outcome.result
        if result is None:
            self._discard(item.rel)
            self.fail_item(summary, item.rel, _naming(item, outcome.error or "failed"))
            return False
        for message in result.warnings:
            self.report(f"Warning: {message}", "yellow")
        self._replacing(item, result.image)
        t1 = time.perf_counter()
        try:
            outputs: list[str] = []
            for w in self.writers:
                outputs += [str(p) for p in w.write(result) or []]
        except InputError as exc:
            self._discard(item.rel, result.image)
            self.fail_item(summary, item.rel, _naming(item, str(exc)))
            return False
        except OSError as exc:
            if exc.errno in _ONE_INPUT_ERRORS:
                self._discard(item.rel, result.image)
                self.fail_item(summary, item.rel, f"{item.rel}: cannot write its output "
                               f"{exc.filename}: {exc.strerror or exc}")
                return False
            raise SamcliError(_write_error(exc)) from None
        t2 = time.perf_counter()
        summary.done += 1
        summary.proposals += len(result.records)
        if self.manifest is not None:
            entry = {
                "input": item.rel, "image": result.image, "status": "done", "error": None,
                "proposals": len(result.records),
                "seconds": {"process": round(outcome.seconds, 3), "write": round(t2 - t1, 3)},
                "hash": self.opts.hash, "outputs": outputs, "time": _now(),
                "source": (self._sources[item.rel] if item.rel in self._sources
                           else self._identity(item, self._image_now(item))),
            }
            if Path(result.source) != Path(item.path):  # from-boxes: the label's image too
                entry["image_source"] = self._image_source(item, result.source)
            entry["output_stats"] = {key: _stat_key(p) for p in outputs
                                     if (key := self._output_key(p)) is not None}
            self._append(entry)
        return True

    def _image_source(self, item: InputItem, used: Path) -> dict | None:
        """The identity of the image a label's outputs were made from: as the run found it
        at the start when that is the same file (an image replaced while it was processed
        is then recorded as the old one, and the next run redoes it), else as it is now."""
        before = self._image_sources.get(item.rel)
        if before is not None and before.get("path") == text_of_path(os.path.realpath(used)):
            return before
        return file_identity(used)

    def finish(self, summary: Summary) -> Summary:
        """Whole-run files (COCO) from every image done, in this run or before (only this
        run's inputs with ``whole_run_is_this_run``); the summary."""
        self._finish_files()
        summary.seconds = time.perf_counter() - self._t0
        if not self.opts.quiet:
            self._summary(summary)
        return summary

    def _finish_files(self) -> None:
        inputs = set(self._sources) if self.opts.whole_run_is_this_run else None
        done_images = self.manifest.done_images(self.opts.hash, inputs) if self.manifest else []
        try:
            with _signals_held():  # all of them or, after a crash, the same as before
                for w in self.writers:
                    w.finish(done_images)
        except OSError as exc:
            raise SamcliError(_write_error(exc)) from None
        self._left_out_not_done()
        if inputs is None:
            self._say_other_options()

    def _say_other_options(self) -> None:
        """A warning when inputs an earlier run did into the folder with other options are
        left out of the whole-run files (a run over one folder with changed options would
        otherwise drop the others' images from annotations.json without a word)."""
        if self.manifest is None or not self.opts.whole_run_files:
            return
        others = [key for key, e in self.manifest.entries.items()
                  if e.get("status") == "done" and e.get("hash") != self.opts.hash]
        if others:
            self.report(f"Warning: {counted(len(others), 'inputs')} done into "
                        f"{self.opts.output_dir} by an earlier run with other options or "
                        f"another samcli (such as {others[0]}) "
                        f"{'is' if len(others) == 1 else 'are'} left out of "
                        f"{', '.join(self.opts.whole_run_files)}, "
                        "which hold one run's options: run them again with these options "
                        "to include them", "yellow")

    def _left_out_not_done(self) -> None:
        """Done inputs whose image a writer left out of its whole-run files (its part missing
        or unreadable: the writer's ``left_out``, image -> the warning it gave) get a
        ``failed`` line, so that no later run counts them as done and a run over the folder
        that holds them redoes them."""
        said = {k: v for w in self.writers for k, v in getattr(w, "left_out", {}).items()}
        if self.manifest is None or not said:
            return
        for key, e in list(self.manifest.entries.items()):  # (appending changes entries)
            if (e.get("status") == "done" and e.get("hash") == self.opts.hash
                    and e.get("image") in said):
                self._append({"input": key, "image": e["image"], "status": "failed",
                              "error": said[e["image"]], "hash": self.opts.hash, "time": _now()})

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
        parts = [f"{counted(s.done, self.opts.unit)} done"]
        if s.skipped:
            parts.append(f"{s.skipped} skipped (already done)")
        if s.failed:
            parts.append(f"{len(s.failed)} failed")
        rate = f" ({s.done / s.seconds:.2f}/s)" if s.done and s.seconds > 0 else ""
        self.report(f"samcli: {', '.join(parts)}; {counted(s.proposals, 'proposals')} in "
                    f"{s.seconds:.1f} s{rate}")
        if s.failed:
            self.report(f"{len(s.failed)} input(s) failed; see the errors above"
                        + (" and the manifest" if self.manifest else ""))


def _stat_key(path: str) -> list[int] | None:
    """What tells one write of an output file from another: size and modification time
    (ns; every write is a new file renamed into place, so a later write has a later time).
    Not the inode: an output folder copied with its timestamps (cp -a, rsync -a) resumes.
    None when the file cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [int(st.st_size), int(st.st_mtime_ns)]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# Write errors that concern one input's output path, not the run: that input fails. Its
# name (too long, not encodable), what is already there (a file where its output folder
# should be, or a folder where its file should be: an input folder named like another
# input's output, such as 'a.png.jsonl/'), or the permissions of its own output subfolder
# (the output folder itself is checked before any work). A full disk, a read-only file
# system or an I/O error stop the run instead: every later input would fail the same way.
_ONE_INPUT_ERRORS = {errno.ENAMETOOLONG, errno.EILSEQ, errno.EEXIST, errno.ENOTDIR,
                     errno.EISDIR, errno.EACCES, errno.EPERM}


def _naming(item: InputItem, message: str) -> str:
    """An input's error as reported: starting with the input's name. Most errors already do;
    one raised deep in the model (an image shape it cannot take) gets the name put first."""
    if message.startswith((item.rel, text_of_path(str(item.path)))):
        return message
    return f"{item.rel}: {message}"


def _write_error(exc: OSError, path: Path | str | None = None) -> str:
    """One line for a write error that stops the run (a full disk, a read-only folder)."""
    where = path or exc.filename or "an output file"
    fix = "free some space" if exc.errno in NO_SPACE_ERRNOS else "fix the folder"
    return (f"cannot write {where}: {exc.strerror or exc}. Every input recorded in the "
            f"manifest so far is complete; {fix} and run the same command again to go on")


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM arriving in the block take effect when it ends (the whole-run files
    are written in full: COCO's annotations.json with its results.json). Only in the main
    thread, and only for signals whose handler Python set (the others are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])  # now handled as it would have been
