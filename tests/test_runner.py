"""The runner and its manifest, with fake executors and writers: resume, what a manifest
line must hold to be trusted, fail-fast, warnings, errors."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from samcli.errors import ConfigError, InputError, SamcliError
from samcli.executors import Outcome
from samcli.io.inputs import InputItem, Problem
from samcli.maskset import MaskSet
from samcli.results import ImageResult
from samcli.runner import MANIFEST, Manifest, RunOptions, Runner

HASH = "h" * 16
SOURCE = {"path": "/in/x", "size": 3, "mtime_ns": 1, "head_tail_sha256": "ab"}


def _done(name: str, hash_: str = HASH, **extra) -> dict:
    return {"input": name, "image": name, "status": "done", "error": None, "hash": hash_,
            "proposals": 2, "source": SOURCE, **extra}


def _write_manifest(folder: Path, lines: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines)
    (folder / MANIFEST).write_text(text)


@pytest.mark.parametrize("label, code", [("permissions", errno.EACCES),
                                         ("read-only file system", errno.EROFS)])
def test_manifest_that_cannot_be_appended_to_is_refused_before_any_work(tmp_path, monkeypatch,
                                                                       label, code):
    """Checked by opening it for appending (as root, permission bits would not stop it, so
    the refusal is simulated at that open)."""
    (tmp_path / MANIFEST).write_text(json.dumps(_done("a")) + "\n")
    real = os.open

    def refusing(path, flags, *args):
        if str(path).endswith(MANIFEST) and flags & os.O_WRONLY:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    executor = FakeExecutor({"b": None})
    with pytest.raises(ConfigError, match=f"cannot write {tmp_path / MANIFEST}: "
                                          f"{os.strerror(code)}"):
        _runner(tmp_path, FakeWriter()).run(_items("b"), executor)
    assert executor.asked == [], label


# ------------------------------------------------------------------------------- runner


class FakeWriter:
    needs_rgb = needs_geometry = False

    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.written: list[str] = []
        self.finished: list[list[str]] = []
        self.discarded: list[str] = []
        self.fail = fail
        self.gone: set[str] = set()  # images whose files were deleted since

    def files_present(self, image, proposals):
        return image not in self.gone

    def check_inputs(self, images):
        pass

    def outputs_for(self, image):
        return []

    def write(self, result):
        if result.image in self.fail:
            raise InputError(f"{result.image}: cannot write")
        self.written.append(result.image)
        return []

    def finish(self, done):
        self.finished.append(list(done))
        return []

    def discard(self, image):
        self.discarded.append(image)


class FakeExecutor:
    """Outcomes from a table: name -> error message (or None: a result with n records)."""

    def __init__(self, table: dict[str, str | None], warnings: dict[str, list[str]] = {}):
        self.table, self.warnings = table, warnings
        self.asked: list[str] = []
        self.closed = False

    def outcomes(self, items, on_batch=None):
        try:
            for item in items:
                self.asked.append(item.rel)
                error = self.table[item.rel]
                if error is not None:
                    yield Outcome(item, error=error, seconds=0.1)
                    continue
                result = ImageResult(image=item.rel, source=item.path, width=4, height=3,
                                     masks=MaskSet.empty((3, 4)), records=[{}, {}],
                                     warnings=self.warnings.get(item.rel, []))
                yield Outcome(item, result=result, seconds=0.2)
        finally:
            self.closed = True


def _items(*names: str, folder: Path | None = None) -> list[InputItem]:
    """Work items; with ``folder`` they are real files there (resume compares file
    identities), else paths that do not exist (never taken as done)."""
    if folder is None:
        return [InputItem(Path("/in") / n, n) for n in names]
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        if not (folder / n).exists():
            (folder / n).write_text(n)
    return [InputItem(folder / n, n) for n in names]


def _runner(tmp_path: Path | None, writer: FakeWriter, **opts) -> Runner:
    return Runner([writer], RunOptions(hash=HASH, output_dir=tmp_path, quiet=True, **opts))


def test_run_writes_records_resumes_and_finishes(tmp_path, capsys):
    writer, inputs = FakeWriter(), tmp_path / "in"
    summary = _runner(tmp_path, writer).run(_items("a", "b", folder=inputs),
                                            FakeExecutor({"a": None, "b": None}))
    assert (summary.done, summary.proposals, summary.exit_code) == (2, 4, 0)
    assert writer.finished == [["a", "b"]]
    lines = [json.loads(line) for line in (tmp_path / MANIFEST).read_text().splitlines()]
    assert [(e["input"], e["status"], e["proposals"]) for e in lines] == [
        ("a", "done", 2), ("b", "done", 2)]
    # a rerun asks the executor for nothing and still finishes the whole-run files
    again, executor = FakeWriter(), FakeExecutor({"a": None, "b": None, "c": None})
    summary = _runner(tmp_path, again).run(_items("a", "b", "c", folder=inputs), executor)
    assert executor.asked == ["c"] and summary.skipped == 2
    assert again.finished == [["a", "b", "c"]]
    # a changed input is redone; --overwrite redoes everything
    (inputs / "b").write_text("changed")
    executor = FakeExecutor({"a": None, "b": None, "c": None})
    _runner(tmp_path, FakeWriter()).run(_items("a", "b", "c", folder=inputs), executor)
    assert executor.asked == ["b"]
    executor = FakeExecutor({"a": None, "b": None, "c": None})
    _runner(tmp_path, FakeWriter(), overwrite=True).run(_items("a", "b", "c", folder=inputs),
                                                        executor)
    assert executor.asked == ["a", "b", "c"]


@pytest.mark.parametrize("label, edit, gone, redone", [
    ("all there", None, set(), []),
    ("a's files deleted", None, {"a"}, ["a"]),
    ("no proposal count", {"proposals": None}, set(), ["a"]),
    ("a count that is text", {"proposals": "2"}, set(), ["a"]),
    ("a negative count", {"proposals": -1}, set(), ["a"]),
    ("a count that is a bool", {"proposals": True}, set(), ["a"]),
])
def test_a_done_input_is_skipped_only_with_all_its_files(tmp_path, label, edit, gone, redone):
    """Resume asks every writer whether a done input's per-image files are all still there
    (with the proposal count its line gives); one deleted since, or a line whose count cannot
    be trusted, redoes that input (a ``started`` line first, as for any done input whose
    files are replaced), and only it."""
    inputs = tmp_path / "in"
    items = _items("a", "b", folder=inputs)
    _runner(tmp_path, FakeWriter()).run(items, FakeExecutor({"a": None, "b": None}))
    if edit is not None:
        entry = {**json.loads((tmp_path / MANIFEST).read_text().splitlines()[0]), **edit}
        with open(tmp_path / MANIFEST, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
    writer, executor = FakeWriter(), FakeExecutor({"a": None, "b": None})
    writer.gone = gone
    summary = _runner(tmp_path, writer).run(items, executor)
    assert executor.asked == redone, label
    assert summary.skipped == 2 - len(redone), label
    lines = [json.loads(line) for line in (tmp_path / MANIFEST).read_text().splitlines()]
    assert [(e["input"], e["status"]) for e in lines[2 + (edit is not None):]] == [
        (name, status) for name in redone for status in ("started", "done")], label


@pytest.mark.parametrize("change,redone", [
    ("nothing", []),
    ("edit a's companion", ["a"]),
    ("add a companion to b", ["b"]),
    ("remove a's companion", ["a"]),
    ("companion becomes unreadable", ["a"]),
])
def test_companions_join_the_input_identity(tmp_path, change, redone):
    """Files an input's outputs depend on (--geo's world files): any change to them, an
    addition or a removal redoes that input on resume, and only it."""
    inputs = tmp_path / "in"
    items = _items("a", "b", folder=inputs)
    (inputs / "a.side").write_text("1")

    def companions(path):
        return sorted(path.parent.glob(path.name + ".*"))

    def run() -> list[str]:
        executor = FakeExecutor({"a": None, "b": None})
        _runner(tmp_path, FakeWriter(), companions=companions).run(items, executor)
        return executor.asked

    assert run() == ["a", "b"]
    if change == "edit a's companion":
        (inputs / "a.side").write_text("22")
    elif change == "add a companion to b":
        (inputs / "b.side").write_text("1")
    elif change == "remove a's companion":
        (inputs / "a.side").unlink()
    elif change == "companion becomes unreadable":
        (inputs / "a.side").unlink()
        (inputs / "a.side").mkdir()  # still listed, but no file to read
    assert run() == redone
    assert run() == []


def test_failures_are_reported_recorded_and_counted(tmp_path, capsys):
    """Each failure is one Error line naming its input (put first where the error did not:
    d's comes from deep in the model), and its manifest line; the run goes on."""
    writer = FakeWriter(fail={"c"})
    executor = FakeExecutor({"a": "a: corrupt image", "b": None, "c": None,
                             "d": "expected an (H, W, 3) RGB image, got shape (0, 1, 3)",
                             "e": "/in/e: cannot open"},
                            warnings={"b": ["b: box clipped"]})
    summary = _runner(tmp_path, writer).run(_items("a", "b", "c", "d", "e"), executor,
                                            pre_failed=[Problem("x", "x: no such file")])
    err = capsys.readouterr().err.splitlines()
    assert err == ["Error: x: no such file", "Error: a: corrupt image",
                   "Warning: b: box clipped", "Error: c: cannot write",
                   "Error: d: expected an (H, W, 3) RGB image, got shape (0, 1, 3)",
                   "Error: /in/e: cannot open"]
    assert summary.failed == ["x", "a", "c", "d", "e"] and summary.exit_code == 3
    entries = Manifest(tmp_path).entries
    assert entries["x"]["status"] == "failed" and entries["x"]["error"] == "x: no such file"
    assert entries["a"]["status"] == "failed" and entries["a"]["error"] == "a: corrupt image"
    assert entries["c"]["status"] == "failed" and entries["b"]["status"] == "done"
    assert entries["d"]["error"] == err[4].removeprefix("Error: ")
    assert writer.discarded == ["c"]  # what c's write began; no earlier run to undo


class OSErrorWriter(FakeWriter):
    """Raises ``OSError(code)`` when writing ``image``."""

    def __init__(self, image: str, code: int) -> None:
        super().__init__()
        self.image, self.code = image, code

    def write(self, result):
        if result.image == self.image:
            raise OSError(self.code, os.strerror(self.code), f"/out/{result.image}.tmp")
        return super().write(result)


@pytest.mark.parametrize("label, code, stops, fix", [
    ("permission denied: that input", errno.EACCES, False, None),
    ("not permitted: that input", errno.EPERM, False, None),
    ("name too long: that input", errno.ENAMETOOLONG, False, None),
    ("a folder in the way: that input", errno.EISDIR, False, None),
    ("full disk: the run", errno.ENOSPC, True, "free some space"),
    ("quota: the run", errno.EDQUOT, True, "free some space"),
    ("read-only file system: the run", errno.EROFS, True, "fix the folder"),
    ("I/O error: the run", errno.EIO, True, "fix the folder"),
])
def test_write_errors_fail_the_input_or_stop_the_run(tmp_path, capsys, label, code, stops, fix):
    writer = OSErrorWriter("b", code)
    executor = FakeExecutor({"a": None, "b": None, "c": None})
    runner = _runner(tmp_path, writer)
    items = _items("a", "b", "c", folder=tmp_path / "in")
    if stops:
        with pytest.raises(SamcliError) as err:
            runner.run(items, executor)
        message = str(err.value)
        assert message.startswith(f"cannot write /out/b.tmp: {os.strerror(code)}."), label
        assert f"{fix} and run the same command again" in message, label
        assert sorted(Manifest(tmp_path).entries) == ["a"]
        return
    summary = runner.run(items, executor)
    assert (summary.done, summary.failed) == (2, ["b"]), label
    assert capsys.readouterr().err.splitlines() == [
        f"Error: b: cannot write its output /out/b.tmp: {os.strerror(code)}"]
    assert writer.written == ["a", "c"] and writer.discarded == ["b"]


def test_fail_fast_stops_the_executor(tmp_path, capsys):
    executor = FakeExecutor({"a": None, "b": "b: bad", "c": None})
    summary = _runner(tmp_path, FakeWriter(), fail_fast=True).run(_items("a", "b", "c"),
                                                                  executor)
    assert executor.asked == ["a", "b"] and executor.closed
    assert summary.done == 1 and summary.failed == ["b"]


def test_fail_fast_on_a_collection_problem_does_no_work(tmp_path, capsys):
    executor = FakeExecutor({"a": None})
    summary = _runner(tmp_path, FakeWriter(), fail_fast=True).run(_items("a"), executor,
                                                                  pre_failed=["x: missing"])
    assert executor.asked == [] and summary.failed == ["x: missing"]  # (a plain message)


def test_without_output_folder_there_is_no_manifest(tmp_path, capsys):
    summary = _runner(None, FakeWriter()).run(_items("a"), FakeExecutor({"a": None}))
    assert summary.done == 1 and not list(tmp_path.iterdir())


def test_stdout_records_and_stderr_summary_are_apart(capsys):
    runner = Runner([FakeWriter()], RunOptions(hash=HASH))
    runner.run(_items("a"), FakeExecutor({"a": None}))
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("samcli: 1 image done; 2 proposals")



class StoppingWriter(FakeWriter):
    """Writes what it is given; its write of ``image`` fails with a full disk (the run stops
    there, after that input's files may have been partly replaced)."""

    def __init__(self, image: str) -> None:
        super().__init__()
        self.image = image

    def write(self, result):
        if result.image == self.image:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"/out/{result.image}")
        return super().write(result)


def test_a_run_stopped_while_replacing_a_done_inputs_files_leaves_it_not_done(tmp_path):
    """b was done with other parameters; this run stops while writing b's new files: b's
    last line says started (with the names of the files it may have replaced), so no later
    run, with either parameters, takes a mix of old and new files as done."""
    items = _items("a", "b", folder=tmp_path / "in")
    _runner(tmp_path, FakeWriter()).run(items, FakeExecutor({"a": None, "b": None}))
    runner = Runner([StoppingWriter("b")], RunOptions(hash="o" * 16, output_dir=tmp_path,
                                                      quiet=True, overwrite=True))
    with pytest.raises(SamcliError, match="No space left"):
        runner.run(items, FakeExecutor({"a": None, "b": None}))
    entries = Manifest(tmp_path).entries
    assert entries["b"]["status"] == "started" and entries["b"]["replaces"] == "b"
    executor = FakeExecutor({"a": None, "b": None})
    _runner(tmp_path, FakeWriter()).run(items, executor)
    assert executor.asked == ["a", "b"]  # a: other parameters now; b: not done either way
    # a started input that then fails loses the files it may have left
    writer = FakeWriter()
    runner = Runner([StoppingWriter("b")], RunOptions(hash="o" * 16, output_dir=tmp_path,
                                                      quiet=True, overwrite=True))
    with pytest.raises(SamcliError):
        runner.run(items, FakeExecutor({"a": None, "b": None}))
    _runner(tmp_path, writer).run(items, FakeExecutor({"a": None, "b": "b: corrupt"}))
    assert writer.discarded == ["b"]


def test_an_input_gone_since_it_was_done_loses_its_files(tmp_path, capsys):
    """A named input that is missing now fails (a collection problem), and the per-image
    files an earlier run wrote for it are removed, as for any done input that fails."""
    _write_manifest(tmp_path, [_done("x")])
    writer = FakeWriter()
    summary = _runner(tmp_path, writer).run([], FakeExecutor({}),
                                            pre_failed=[Problem("x", "x: no such file")])
    assert summary.failed == ["x"] and writer.discarded == ["x"]


def test_a_full_disk_at_a_failure_line_is_one_error(tmp_path, monkeypatch):
    def full(self, entry):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Manifest, "append", full)
    with pytest.raises(SamcliError) as err:
        _runner(tmp_path, FakeWriter()).run([], FakeExecutor({}),
                                            pre_failed=[Problem("x", "x: no such file")])
    assert str(err.value).startswith(f"cannot write {tmp_path / MANIFEST}: No space left")
    assert "free some space" in str(err.value)


def test_a_full_disk_at_the_lock_is_one_error(tmp_path, monkeypatch):
    """The lock file is emptied by each run that ends: writing the holder's details needs a
    new block, which a full disk refuses."""
    import samcli.runner as runner_module

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runner_module.os, "write", full)
    executor = FakeExecutor({"a": None})
    with pytest.raises(ConfigError, match="lock: No space left on device; free some space"):
        _runner(tmp_path, FakeWriter()).run(_items("a"), executor)
    assert executor.asked == []


class InterruptedWriter(FakeWriter):
    """Sends this process SIGINT in its finish, as a Ctrl-C there would."""

    def finish(self, done):
        import signal

        signal.raise_signal(signal.SIGINT)
        return super().finish(done)


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler for the test: a pytest started in the background by a
    shell (``cmd &``) inherits SIGINT ignored, and the runner leaves ignored signals alone."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_the_whole_run_files_are_written_waits_for_them(tmp_path, ctrl_c_raises):
    """Every writer finishes its whole-run files (COCO: annotations.json and results.json),
    then the Ctrl-C takes effect."""
    first, second = InterruptedWriter(), FakeWriter()
    runner = Runner([first, second], RunOptions(hash=HASH, output_dir=tmp_path, quiet=True))
    with pytest.raises(KeyboardInterrupt):
        runner.run(_items("a"), FakeExecutor({"a": None}))
    assert first.finished == second.finished == [["a"]]


@pytest.mark.parametrize("n, plural, shown", [
    (0, "images", "0 images"), (1, "images", "1 image"), (2, "images", "2 images"),
    (1, "label files", "1 label file"), (1, "proposals", "1 proposal"),
])
def test_the_summary_counts_in_words(n, plural, shown):
    from samcli.console import counted

    assert counted(n, plural) == shown
