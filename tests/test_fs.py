"""samcli.fs: atomic writes, names as one line of text."""

from __future__ import annotations

from pathlib import Path

import pytest

from samcli.fs import atomic_write_bytes, atomic_write_text, safe_line
from tests.io.helpers import files


def test_atomic_write_leaves_no_temp_file(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "f.json", "hello")
    assert p.read_text() == "hello"
    atomic_write_bytes(p, b"again")
    assert p.read_bytes() == b"again"
    with pytest.raises(TypeError):
        atomic_write_bytes(p, "not bytes")  # fails mid-write
    assert p.read_bytes() == b"again"  # the old file is intact
    assert files(tmp_path) == ["sub/f.json"]


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    """ENOSPC surfaces at write or fsync without a file name: the error names the target
    (the run's one Error line shows it), and no temporary file is left."""
    import errno
    import os

    import samcli.fs as fs

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fs.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "out" / "a.json", b"{}")
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(tmp_path / "out" / "a.json")
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("label, failing", [
    ("the first file's write fails", 1),
    ("the second file's write fails", 2),
    ("nothing fails", None),
])
def test_files_written_together_are_all_new_or_all_old(tmp_path, monkeypatch, label, failing):
    """COCO's annotations.json and results.json: a full disk while either is written leaves
    both as they were (the first used to be renamed into place before the second was
    written), and no temporary file."""
    import errno
    import os

    import samcli.fs as fs

    a, b = tmp_path / "annotations.json", tmp_path / "results.json"
    a.write_bytes(b"old a")
    b.write_bytes(b"old b")
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(fs.os, "fsync", fsync)
    if failing is None:
        assert fs.atomic_write_files([(a, b"new a"), (b, b"new b")]) == [a, b]
        assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b"), label
    else:
        with pytest.raises(OSError) as info:
            fs.atomic_write_files([(a, b"new a"), (b, b"new b")])
        assert info.value.filename == str([a, b][failing - 1]), label
        assert (a.read_bytes(), b.read_bytes()) == (b"old a", b"old b"), label
    assert sorted(os.listdir(tmp_path)) == ["annotations.json", "results.json"], label


def test_a_folder_refusing_the_temporary_file_names_the_file_wanted(tmp_path, monkeypatch):
    """A read-only output subfolder refuses the temporary file: the error names the output
    file, not the random temporary name (simulated: as root, permission bits do not stop)."""
    import errno

    import samcli.fs as fs

    def refused(folder, prefix, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", f"{folder}/{prefix}x.tmp")

    monkeypatch.setattr(fs, "create_exclusive", refused)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "out" / "a.json", b"{}")
    assert (info.value.errno, info.value.filename) == (errno.EACCES,
                                                       str(tmp_path / "out" / "a.json"))


def test_a_rename_onto_a_folder_names_the_file_wanted(tmp_path):
    """The output path is a folder (an input folder named like an output): the rename fails
    and the error names the output, not the temporary file; none is left."""
    import errno
    import os

    (tmp_path / "a.json").mkdir()
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert info.value.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST)
    assert info.value.filename == str(tmp_path / "a.json")
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("label, name", [
    ("a short name", "a.json"),
    ("a name at the file system's limit: the prefix is cut", "n" * 250 + ".json"),
    ("multi-byte characters cut whole", "\u00fc" * 125 + ".json"),
])
def test_a_killed_writes_temporary_file_is_recognised(tmp_path, label, name):
    """The temporary file of any output name (the prefix shortened for long ones) matches
    what remove_stale_temporaries removes after a killed run, and only it is removed."""
    import os

    import samcli.fs as fs

    fd, tmp = fs.create_exclusive(tmp_path, f".{name}.", suffix=".tmp")
    os.close(fd)
    (tmp_path / "keep.tmp").write_bytes(b"")
    assert fs.remove_stale_temporaries(tmp_path) == 1, (label, tmp.name)
    assert os.listdir(tmp_path) == ["keep.tmp"], label


def test_stale_temporaries_of_nested_output_folders_are_left_to_their_runs(tmp_path):
    """A subfolder with its own .samcli is another output folder, which a live run may be
    writing (its lock, not this one's): its temporary files stay; the rest go, the state
    folder's included."""
    import os

    import samcli.fs as fs

    def temporary(folder):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = fs.create_exclusive(folder, ".a.png.jsonl.", suffix=".tmp")
        os.close(fd)
        return tmp

    ours = [temporary(tmp_path), temporary(tmp_path / "sub"),
            temporary(tmp_path / ".samcli" / "coco")]
    (tmp_path / "inner" / ".samcli").mkdir(parents=True)
    theirs = [temporary(tmp_path / "inner"), temporary(tmp_path / "inner" / "deep")]
    assert fs.remove_stale_temporaries(tmp_path, own_marker=".samcli") == len(ours)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


@pytest.mark.parametrize("label, text, shown", [
    ("plain text and non-ASCII letters stay", "sub ü#1/a b.png", "sub ü#1/a b.png"),
    ("a tab stays", "a\tb.png", "a\tb.png"),
    ("a line break cannot start a forged Error line", "x\nError: fake.png",
     "x\\nError: fake.png"),
    ("a carriage return cannot overwrite the line", "x\rError", "x\\rError"),
    ("an escape sequence does not reach the terminal", "\x1b[31mred", "\\x1b[31mred"),
    ("C1 controls and DEL", "a\x85b\x7f", "a\\x85b\\x7f"),
    ("undecodable bytes as text_of_path writes them", "caf\udcff.png", "caf\\xff.png"),
])
def test_safe_line(label, text, shown):
    assert safe_line(text) == shown, label
    assert "\n" not in safe_line(text) and "\r" not in safe_line(text), label


def test_warnings_outside_a_run_are_escaped_as_its_lines_are(capsys):
    """Run-level warnings (collection, whole-run files) print as the runner's lines do: a
    file name's undecodable bytes as \\xNN (README's rule), controls escaped."""
    from samcli.console import warn

    warn("caf\udcff.jpg: one\nWarning: forged")
    assert capsys.readouterr().err == "Warning: caf\\xff.jpg: one\\nWarning: forged\n"


def test_every_warning_line_goes_through_an_escaping_printer():
    """No module prints its own ``Warning:`` line (it would skip the escaping above)."""
    import samcli

    root = Path(samcli.__file__).parent
    raw = [str(p.relative_to(root)) for p in root.rglob("*.py")
           if p.name != "console.py" and 'print(f"Warning:' in p.read_text()]
    assert raw == []
