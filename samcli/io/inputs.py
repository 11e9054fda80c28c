"""Turn command-line inputs (files, folders, ``-`` for stdin) into an ordered list of files.

Rules (the same for image inputs and, through :func:`walk_inputs`, for label files):

- Each input is a file or a folder, in the order given. ``-`` reads more inputs from stdin,
  one path a line (line endings ``\\n`` or ``\\r\\n``; blank lines skipped; no other stripping,
  so names with spaces work); each line may be a file or a folder.
- Folders are walked recursively. Symbolic links to files and folders are followed; a folder
  reached twice (a link loop, or two links to one folder) is walked once. Hidden entries (names
  starting with ``.``, such as ``.samcli``, ``.git``, or macOS ``._a.jpg`` resource files) are
  skipped while walking; a hidden file or folder named explicitly is used. Folders samcli
  wrote outputs into (they hold a ``.samcli`` folder: ``-o``, ``--crops``, ``--preview``)
  are skipped too, so chips or label files written inside an input tree are never read back
  as inputs; such a folder named explicitly is walked. Inside a folder only
  files with a wanted suffix (for images :data:`~samcli.io.images.IMAGE_SUFFIXES`, any case)
  are kept, silently.
- Order: inputs in the order given; within a folder, sorted by relative path component by
  component (``a/x.jpg`` before ``a-b/y.jpg``), case-sensitively: the same on every machine.
- ``rel`` (the ``image`` field of a record, and the mirrored output path) is the POSIX path
  relative to the folder given; for a file given directly it is the path as given, normalised
  (``./a.jpg`` -> ``a.jpg``, ``x//y.jpg`` -> ``x/y.jpg``; ``..`` and a leading ``/`` are kept:
  the writers make it safe for output paths, see ``samcli.io.writers.output_relpath``).
- ``glob`` filters files found in folders (not files named directly). A pattern without ``/``
  is matched against the file name (``*.png`` finds PNGs at any depth); a pattern with ``/`` is
  matched against the whole ``rel`` path, anchored at the folder given. ``*``, ``?`` and
  ``[...]`` do not cross ``/``; ``**`` as a whole component matches zero or more folders
  (``**/cam1/*.jpg`` matches ``cam1/a.jpg`` and ``x/y/cam1/a.jpg``). Matching is
  case-sensitive, like a Unix shell.
- The same file (same resolved path) reached twice is kept once, with its first ``rel``.
  Another file whose ``rel`` is already taken (``cam1/ cam2/`` both holding ``a.jpg``)
  is a problem: records, outputs and the manifest are keyed by ``rel``.
- File names that are not valid UTF-8 are kept as they are on disk (``path``), and ``rel``
  writes their undecodable bytes as ``\\xNN`` (:func:`samcli.fs.text_of_path`), so records,
  output names and the manifest stay valid UTF-8 text.
- Problems (a missing path, a directly named file with an unsupported suffix, an unreadable
  folder, a symbolic link with a wanted suffix that cannot be followed: its target is gone,
  it loops back on itself, or its target may not be looked at) are returned as
  :class:`Problem` values, not raised: the caller reports them and exits with 3. Nothing
  found at all is not a problem here: the caller decides.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence, TextIO

from samcli.errors import ConfigError
from samcli.fs import text_of_path
from samcli.io.images import IMAGE_SUFFIXES

#: The folder that marks a folder as samcli's output (it keeps run state such as the lock).
OUTPUT_MARKER = ".samcli"

__all__ = [
    "InputItem",
    "Problem",
    "collect_images",
    "compile_glob",
    "link_trouble",
    "read_stdin_list",
    "walk_inputs",
]


@dataclass(frozen=True)
class InputItem:
    """One input file.

    ``path``: the path as found (joined onto the folder as given, links not resolved).
    ``rel``: POSIX path relative to the input folder it was found under; for a file given
    directly, the path as given, normalised. ``root``: that input folder as given, or ``None``
    for a file given directly.
    """

    path: Path
    rel: str
    root: Path | None = None


@dataclass(frozen=True)
class Problem:
    """Something wrong with one input found while collecting inputs (a missing path, an
    unsupported file): ``input`` names it (the path as given, as text), ``message`` says what
    is wrong, starting with the path. The runner reports it and records it in the manifest."""

    input: str
    message: str
    #: The manifest key (``rel``) the input has when it can be read, where one is known (a
    #: named path, ``./a.png`` -> ``a.png``; a file found in a folder): the runner records
    #: the failure under it and clears what an earlier run wrote for it. None: ``input``.
    key: str | None = None

    def __str__(self) -> str:
        return self.message


def _normalise_given(s: str) -> str:
    """``./a.jpg`` -> ``a.jpg``; collapse ``//`` and inner ``.``; keep ``..`` and a leading ``/``."""
    text = s.replace(os.sep, "/") if os.sep != "/" else s
    return PurePosixPath(text).as_posix()


# --------------------------------------------------------------------------- glob


def _segment_regex(seg: str) -> str:
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
            while i + 1 < n and seg[i + 1] == "*":
                i += 1
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and seg[j] in "!^":
                j += 1
            if j < n and seg[j] == "]":
                j += 1
            while j < n and seg[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))  # unclosed: a literal "["
            else:
                body = seg[i + 1 : j]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = "".join(ch if ch == "-" else re.escape(ch) for ch in body)
                out.append(f"[{'^/' if negate else ''}{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A predicate on a POSIX ``rel`` path implementing the module's ``--glob`` rules; a
    pattern no rule can read (a range such as ``[z-a]``) is a ConfigError."""
    try:
        return _compile_glob(pattern)
    except re.error as exc:
        raise ConfigError(f"--glob {pattern!r}: {exc.msg} in a [...] set") from None


def _compile_glob(pattern: str) -> Callable[[str], bool]:
    pat = pattern.strip()
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.lstrip("/") if "/" in pat else pat
    if "/" not in pat:
        rx = re.compile(_segment_regex(pat) + r"\Z", re.DOTALL)
        return lambda rel: rx.match(rel.rsplit("/", 1)[-1]) is not None
    segs = [s for s in pat.split("/") if s != ""]
    pieces: list[str] = []
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg == "**":
            pieces.append(".*" if last else "(?:[^/]*/)*")
        else:
            pieces.append(_segment_regex(seg) + ("" if last else "/"))
    rx = re.compile("".join(pieces) + r"\Z", re.DOTALL)
    return lambda rel: rx.match(rel) is not None


# --------------------------------------------------------------------------- walking


def read_stdin_list(stdin: TextIO) -> list[str]:
    """The paths listed on ``stdin``, one a line: bytes as the file system's names
    (``os.fsdecode``: bytes that are not UTF-8 kept, whatever the locale's decoding of text
    streams), CRLF and a leading UTF-8 byte-order mark (Windows-made lists) taken off, blank
    lines skipped."""
    raw = getattr(stdin, "buffer", None)
    text = os.fsdecode(raw.read()) if raw is not None else stdin.read()
    out = []
    for line in text.removeprefix("\ufeff").split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            out.append(line)
    return out


def _expand_stdin(inputs: Iterable[str], stdin: TextIO | Sequence[str] | None
                  ) -> Iterator[str]:
    """``inputs`` with each ``-`` replaced by the paths listed on ``stdin`` (read when
    reached; a list of str is a list already read, by :func:`read_stdin_list`)."""
    for s in inputs:
        if s != "-":
            yield s
        elif isinstance(stdin, Sequence):
            yield from stdin
        else:
            yield from read_stdin_list(stdin if stdin is not None else sys.stdin)


def _walk_folder(
    root: Path,
    suffixes: tuple[str, ...],
    skip_names: frozenset[str],
    visited: set[tuple[int, int]],
    problems: list[Problem],
) -> list[tuple[tuple[str, ...], Path, OSError | None]]:
    """Files under ``root`` as ``(rel parts, path, broken)``, depth-first with sorted
    entries; ``broken``: for a symbolic link with a wanted name that cannot be followed
    (its target is gone, a link loop), the error following it gave (a problem to report,
    once the caller's glob keeps it); else None."""
    found: list[tuple[tuple[str, ...], Path, OSError | None]] = []
    try:
        st = os.stat(root)
        key = (st.st_dev, st.st_ino)
    except OSError as exc:
        problems.append(Problem(str(root), f"{root}: cannot open folder: {exc.strerror or exc}"))
        return found
    if key in visited:
        return found
    visited.add(key)
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, relparts = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(Problem(str(folder),
                                    f"{folder}: cannot list folder: {exc.strerror or exc}"))
            continue
        subdirs: list[tuple[Path, tuple[str, ...]]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:  # a link that cannot be followed (ELOOP...): looked at below
                is_dir = False
            if is_dir:
                try:
                    dst = entry.stat()
                except OSError:
                    continue
                dkey = (dst.st_dev, dst.st_ino)
                if dkey in visited or _is_samcli_output(folder / name):
                    continue
                visited.add(dkey)
                subdirs.append((folder / name, relparts + (name,)))
                continue
            if name.lower() in skip_names:
                continue
            if os.path.splitext(name)[1].lower() not in suffixes:
                continue
            try:
                is_file = entry.is_file()
            except OSError:
                is_file = False
            if not is_file:  # a socket, a fifo... or a link that cannot be followed
                broken = _follow_error(folder / name) if entry.is_symlink() else None
                if broken is not None:
                    found.append((relparts + (name,), folder / name, broken))
                continue
            found.append((relparts + (name,), folder / name, None))
        stack.extend(reversed(subdirs))
    found.sort(key=lambda t: t[0])
    return found


def _follow_error(path: Path) -> OSError | None:
    """The error following the symbolic link ``path`` gives (its target is gone, a loop);
    None when it leads somewhere."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc
    return None


def _link_text(path: Path, exc: OSError) -> str:
    """What is wrong with the symbolic link ``path``, which following gave ``exc``."""
    try:
        target = text_of_path(os.readlink(path))
    except OSError:
        target = None
    if exc.errno == errno.ELOOP:
        to = f"it points to {target}; " if target is not None else ""
        return f"symbolic link loop ({to}following the links never reaches a file or folder)"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "broken symbolic link" + (f" (its target {target} is gone)" if target else "")
    to = f" to {target}" if target is not None else ""
    return f"symbolic link{to} cannot be followed: {exc.strerror or exc}"


def _broken_link(path: Path, exc: OSError, shown: str | None = None,
                 key: str | None = None) -> Problem:
    """The problem of a symbolic link that cannot be followed (``exc``: what following it
    gave), named ``shown`` (default: the path as text); ``key``: :attr:`Problem.key`."""
    shown = text_of_path(str(path)) if shown is None else shown
    return Problem(shown, f"{shown}: {_link_text(path, exc)}", key)


def link_trouble(path: str | os.PathLike[str]) -> str | None:
    """What is wrong with ``path`` when it is a symbolic link that cannot be followed:
    ``broken symbolic link (its target X is gone)``, ``symbolic link loop (...)``, ...;
    None when it is no symbolic link or one that leads somewhere."""
    if not os.path.islink(path):
        return None
    exc = _follow_error(Path(path))
    return None if exc is None else _link_text(Path(path), exc)


def _is_samcli_output(folder: Path) -> bool:
    """A folder samcli writes outputs into (``-o``, ``--crops``, ``--preview``) holds a
    ``.samcli`` folder."""
    try:
        return (folder / OUTPUT_MARKER).is_dir()
    except OSError:
        return False


def walk_inputs(
    inputs: Iterable[str],
    suffixes: Iterable[str],
    *,
    glob: str | None = None,
    stdin: TextIO | Sequence[str] | None = None,
    skip_names: Iterable[str] = (),
    kind: str = "file",
) -> tuple[list[InputItem], list[Problem]]:
    """The generic walker behind :func:`collect_images` (and labels' collector).

    ``suffixes``: wanted suffixes, lower case with the dot. ``skip_names``: file names
    (case-insensitive) ignored while walking folders. ``kind`` names the wanted files in
    problem messages ("image", "label file").
    """
    wanted = tuple(s.lower() for s in suffixes)
    skip = frozenset(n.lower() for n in skip_names)
    match = compile_glob(glob) if glob else None
    items: list[InputItem] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    named: dict[str, Path] = {}  # rel -> the file that has it
    visited: set[tuple[int, int]] = set()

    def add(path: Path, rel: str, root: Path | None) -> None:
        try:
            key = os.path.realpath(path)
        except (OSError, ValueError):
            key = os.path.abspath(path)
        if key in seen:
            return
        seen.add(key)
        rel = text_of_path(rel)
        other = named.setdefault(rel, path)
        if other != path:  # records, outputs and the manifest are keyed by rel
            shown, first = text_of_path(str(path)), text_of_path(str(other))
            if shown == first:  # one name is not UTF-8, the other spells its \xNN escape
                advice = ("one of the two names is not UTF-8 (its bytes shown as \\xNN) and "
                          "the other is written with those very characters; rename one")
            else:
                advice = "give the folder above both, or run them into separate -o folders"
            problems.append(Problem(shown, (
                f"{shown}: goes by the name {rel}, as {first} already does, so their "
                "records could not be told apart (nor, with -o, their outputs and manifest "
                f"lines); {advice}")))
            return
        items.append(InputItem(path=path, rel=rel, root=root))

    for s in _expand_stdin(inputs, stdin):
        if "\0" in s:
            problems.append(Problem(repr(s), f"{s!r}: not a valid path (contains a NUL byte)"))
            continue
        p = Path(s)
        as_named = text_of_path(_normalise_given(s))  # its key as a file named here
        try:
            is_dir = p.is_dir()
            exists = is_dir or p.exists()
            is_file = not is_dir and p.is_file()
        except OSError as exc:
            problems.append(Problem(s, f"{s}: {exc.strerror or exc}", as_named))
            continue
        if not exists:
            trouble = link_trouble(p)
            problems.append(Problem(s, f"{s}: {trouble or 'no such file or folder'}", as_named))
            continue
        if is_dir:
            for parts, path, broken in _walk_folder(p, wanted, skip, visited, problems):
                rel = "/".join(parts)
                if match is not None and not match(rel):
                    continue
                if broken is not None:
                    problems.append(_broken_link(path, broken, key=text_of_path(rel)))
                    continue
                add(path, rel, p)
            continue
        if not is_file:
            problems.append(Problem(s, f"{s}: not a regular file or folder", as_named))
            continue
        if p.suffix.lower() not in wanted:
            problems.append(Problem(s, f"{s}: not a supported {kind} type "
                                       f"(supported: {', '.join(wanted)})"))
            continue
        add(p, _normalise_given(s), None)
    return items, problems


def collect_images(
    inputs: list[str], glob: str | None = None, stdin: TextIO | Sequence[str] | None = None
) -> tuple[list[InputItem], list[Problem]]:
    """Image files named by ``inputs`` (files, folders, ``-``), and problem messages.

    See the module docstring for order, ``rel``, ``glob``, links, hidden files and duplicates.
    ``stdin`` defaults to ``sys.stdin`` and is only read when an input is ``-``; a list
    of str stands for the lines already read from it (:func:`read_stdin_list`).
    """
    return walk_inputs(inputs, IMAGE_SUFFIXES, glob=glob, stdin=stdin, kind="image")
