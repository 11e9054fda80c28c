"""The run record: ``manifest.jsonl`` in an output folder, one JSON line per input outcome.

See :class:`Manifest`; the runner (:mod:`samcli.runner`) decides what goes in it and when.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Collection

from samcli.errors import ConfigError, InputError
from samcli.fs import file_identity, text_of_path
from samcli.io.outputs import output_relpath

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
    string, or whose ``image`` no output file can be named after (a hand edit). Statuses:
    ``done``, ``failed``, and ``started`` (a done input's files being replaced, see
    :meth:`Runner._replacing`). A manifest that is a folder, a symlink or unreadable is a
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
            # (only "\n" ends a line: str.splitlines would also cut at U+2028, U+0085 and
            # the like, which a file name in a line may hold)
            for line in data.decode("utf-8", errors="replace").split("\n"):
                entry = _entry(line)
                if entry is not None:
                    self.entries[entry["input"]] = entry

    def check_writable(self) -> None:
        """ConfigError now, before any work, when an existing manifest cannot be appended to
        (its permissions, a read-only file system), instead of after the first input's work."""
        if not os.path.lexists(self.path):
            return  # created by the first append, in a folder the lock showed is writable
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise ConfigError(f"cannot write {self.path}: {exc.strerror or exc} (samcli "
                              "records each input there; fix its permissions or use another "
                              "-o folder)") from None
        os.close(fd)

    def is_done(self, key: str, hash_: str, source: dict | None = None,
                image: Path | str | None = None, image_identity: dict | None = None) -> bool:
        """Whether ``key`` is done with these parameters (``hash_``) and, when ``source`` (its
        :func:`~samcli.fs.file_identity` now) is given, from the same input file: the recorded
        identity must equal it, and a recorded ``image_source`` (from-boxes: the label's image)
        must be ``image`` (the file the label resolves to now; None: none) and still match
        its file (``image_identity``: its identity now, when the caller has it already). An
        unreadable input is never taken as done."""
        e = self.entries.get(key)
        if not e or e.get("status") != "done" or e.get("hash") != hash_:
            return False
        if source is None or e.get("source") != source:
            return False
        recorded = e.get("image_source")
        if recorded is not None:
            path = recorded.get("path") if isinstance(recorded, dict) else None
            if (not isinstance(path, str) or image is None
                    or text_of_path(os.path.realpath(image)) != path
                    or (image_identity or file_identity(image)) != recorded):
                return False
        return True

    def done_images(self, hash_: str, inputs: Collection[str] | None = None) -> list[str]:
        """The record image paths of every input done with these parameters, sorted (for
        whole-run files, which cover this run's and earlier runs' images), or of those among
        ``inputs`` (manifest keys) only."""
        return sorted(e["image"] for key, e in self.entries.items()
                      if e.get("status") == "done" and e.get("hash") == hash_
                      and (inputs is None or key in inputs))

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
            fh.write(text_json(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


_ENTRY_STRINGS = ("input", "image", "status", "hash")


def text_json(value: Any) -> str:
    """``value`` as one line of UTF-8 JSON, every string in it valid Unicode first."""
    return json.dumps(_text(value), ensure_ascii=False)


def _text(value: Any) -> Any:
    """Every string in ``value`` as valid Unicode (file names that are not UTF-8 included)."""
    if isinstance(value, str):
        return text_of_path(value)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


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
    try:
        output_relpath(entry["image"])  # outputs can be named after it
    except InputError:
        return None
    return entry
