"""What every writer shares: the writer protocol, output paths, name clashes.

Output naming (``-o DIR``)
--------------------------
Output files mirror the ``image`` path (the path relative to its input root). Per-image files
keep the image's whole file name and add the format's suffix, so ``a.jpg`` and ``a.png`` in one
folder, and ``x/a.jpg`` and ``y/a.jpg`` in two, never collide. Each writer's files are listed
in its module (:mod:`samcli.io.formats`, :mod:`samcli.io.labelstudio`,
:mod:`samcli.io.visuals`).

``image`` is made safe as a relative path first (:func:`output_relpath`): a leading ``/`` is
dropped, empty and ``.`` parts are skipped and ``..`` parts become ``__``, so no output ever
lands outside its folder. A backslash is an ordinary character of a POSIX name (``a\\b.jpg``
gives ``a\\b.jpg.jsonl``; names read from a COCO image map have Windows separators turned into
``/`` when they are read), and so is the ``\\xNN`` of a name that is not UTF-8.

Every file is written atomically (:func:`samcli.fs.atomic_write_bytes`: a temporary file in
the same folder, fsync, ``os.replace``), so an interrupted run never leaves a half-written
output.

Writer interface
----------------
``check_inputs(images)`` (optional, before any work: name clashes), ``outputs_for(image)``
(the paths the writer owns for that image), ``write(result) -> [paths written]`` (once per
image; the records are ``result.records``), ``discard(image)`` (an input that failed: the
per-image files an earlier run wrote for it, which no longer describe it, are removed),
``files_present(image, proposals)`` (whether a done image's per-image files are all still
there; the runner redoes one whose files were deleted) and
``finish(done_images)`` (once per run, with every image done so far, this run or earlier, for
whole-run files such as COCO's ``annotations.json``; a done image whose per-image part is
missing or unreadable is left out of them with a warning and named in ``left_out``, for the
runner to record as not done).
``needs_rgb`` asks the unit of work to keep the decoded image in ``ImageResult.rgb``, and
``needs_geometry`` to put polygons (``segmentation``) in the records.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping

from samcli.errors import InputError
from samcli.io.inputs import OUTPUT_MARKER
from samcli.results import ImageResult

#: samcli's state folder inside each output folder (the lock, COCO parts); its presence marks
#: an output folder, which input walks skip.
STATE_DIR = OUTPUT_MARKER


def output_relpath(image: str) -> PurePosixPath:
    """The ``image`` field as a safe relative POSIX path for outputs (see module docstring)."""
    parts = []
    for part in str(image).split("/"):
        if part in ("", "."):
            continue
        parts.append("__" if part == ".." else part)
    if not parts:
        raise InputError(f"cannot name output files for image {image!r}")
    return PurePosixPath(*parts)


def with_suffix(root: Path, image: str, suffix: str) -> Path:
    rel = output_relpath(image)
    return root.joinpath(*rel.parent.parts, rel.name + suffix)


class Writer:
    """Base class; see the module docstring for the protocol."""

    #: Whether ``write`` needs ``ImageResult.rgb`` (the decoded image).
    needs_rgb = False
    #: Whether ``write`` needs the records' ``segmentation`` (polygons).
    needs_geometry = False

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        #: The done images the last :meth:`finish` left out of the whole-run files (their
        #: per-image part missing or unreadable: :func:`read_part`), each with the warning
        #: that said so: the runner records them as not done, so that no later run counts
        #: them as done and a run over the folder that holds them redoes them.
        self.left_out: dict[str, str] = {}

    def check_inputs(self, images: Iterable[str]) -> None:
        """Raise before any work if ``images`` would overwrite one another's outputs."""
        owners: dict[str, str] = {}
        for image in images:
            for p in self.outputs_for(image):
                other = owners.setdefault(str(p), image)
                if other != image:
                    raise InputError(clash_message(other, image, p))

    def outputs_for(self, image: str) -> list[Path]:
        """Paths (files, or a folder for crops) this writer owns for ``image``."""
        return []

    def write(self, result: ImageResult) -> list[Path]:
        """Write one image's outputs (its records are ``result.records``); returns the files
        written."""
        raise NotImplementedError

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        """Whole-run outputs from every image done (this run or before); returns files written.
        A done image that cannot be put in them is left out with a warning, never an error,
        and named in :attr:`left_out`."""
        return []

    def files_present(self, image: str, proposals: int) -> bool:
        """Whether every per-image file this writer wrote for ``image`` when it was done
        (with ``proposals`` records) is still there: the runner redoes a done image whose
        files were deleted since, instead of skipping it (or failing on a missing part at
        the end of the run). What the files hold is not looked at, except by writers whose
        whole-run files are made from per-image parts (COCO, Label Studio: a part that does
        not read back is not there)."""
        return all(p.is_file() for p in self.outputs_for(image))

    def discard(self, image: str) -> None:
        """Remove ``image``'s per-image files (its input failed this time, so files an earlier
        run wrote for it no longer describe it; whole-run files list done images only)."""
        for path in self.outputs_for(image):
            if self._not_anothers(path, image) and path.is_file():
                path.unlink()

    def _not_anothers(self, path: Path, image: str) -> bool:
        """Whether no other image of this run has claimed ``path`` (see :meth:`_claim`)."""
        return self._seen.get(str(path), image) == image

    def _claim(self, image: str) -> None:
        """Refuse a second, different image whose outputs would land on the same paths."""
        for p in self.outputs_for(image):
            other = self._seen.setdefault(str(p), image)
            if other != image:
                raise InputError(clash_message(other, image, p))


def check_clashes(writers: Iterable[Writer], images: Iterable[str]) -> None:
    """Raise before any work if two of ``images`` would write the same path: within one
    writer (its own rules, :meth:`Writer.check_inputs`) or across writers whose folders
    are one (``--preview X --crops X``: the preview file of ``a.png`` is ``X/a.png.jpg``,
    the chips folder of an image ``a.png.jpg`` too)."""
    writers, images = list(writers), list(images)
    for w in writers:
        w.check_inputs(images)
    owners: dict[str, str] = {}
    for w in writers:
        for image in images:
            for p in w.outputs_for(image):
                other = owners.setdefault(str(p), image)
                if other != image:
                    raise InputError(clash_message(other, image, p, "give these outputs "
                                                                     "folders of their own"))


def part_names(names: Mapping[int, str], classes: Iterable[int]) -> dict[str, str]:
    """The names ``names`` gives the ``classes`` an image's proposals have, as a writer's
    per-image part keeps them (JSON: the ids as text), so that whole-run files made by later
    runs into the same folder still name them (:func:`names_with_earlier`)."""
    return {str(c): names[c] for c in sorted(set(classes)) if c in names}


def names_with_earlier(names: Mapping[int, str], kept: Iterable[Mapping[str, str]]
                       ) -> dict[int, str]:
    """This run's ``names``, then for ids it does not name the names the parts of done images
    kept (:func:`part_names`; the first part in image order wins): runs over several input
    folders into one output folder keep each folder's class names."""
    merged = dict(names)
    for part in kept:
        for cid, name in part.items():
            merged.setdefault(int(cid), name)
    return merged


#: The exceptions a writer's check of a part's shape raises for a part it cannot use
PART_SHAPE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


def read_part(path: Path, check: Callable[[Any], object]) -> tuple[Any, str | None]:
    """A writer's per-image part (JSON, under ``DIR/.samcli/``) and None, or None and why it
    cannot be used, to follow the file's name: ``is missing``, ``is empty``, ``cannot be read
    (...)``, ``is not valid JSON (...)``, or ``does not hold what samcli wrote there (...)``
    when ``check(part)`` raises one of :data:`PART_SHAPE_ERRORS`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "is missing"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if not data.strip():
        return None, "is empty"
    try:
        part = json.loads(data.decode("utf-8"))
    except ValueError as exc:  # (UnicodeDecodeError is one)
        return None, f"is not valid JSON ({exc})"
    try:
        check(part)
    except PART_SHAPE_ERRORS as exc:
        return None, f"does not hold what samcli wrote there ({type(exc).__name__}: {exc})"
    return part, None


#: At most this many left-out images are named one a line (:func:`left_out_report`)
LEFT_OUT_NAMED = 5


def left_out_report(files: str, left: Mapping[str, tuple[Path, str]], parts: Path
                    ) -> tuple[list[str], dict[str, str]]:
    """What to say of done images a writer leaves out of its whole-run ``files`` (``left``:
    image -> (its part file, why it cannot be used: :func:`read_part`)): the warning lines
    (one per image, naming its part file and how to get the image back: the first
    :data:`LEFT_OUT_NAMED` in image order, then one line for the rest, whose parts are
    under ``parts``), and ``{image: its own line}`` (:attr:`Writer.left_out`)."""
    each = {image: (f"{files} leave out {image}: its part file {path} {why}, so it counts "
                    f"as not done; run samcli again with the same options and -o over the "
                    f"input folder that holds {image} to redo it")
            for image, (path, why) in sorted(left.items())}
    lines = list(each.values())[:LEFT_OUT_NAMED]
    rest = list(each)[LEFT_OUT_NAMED:]
    if rest:
        lines.append(f"{files} leave out {len(rest)} more done images ({rest[0]} first): "
                     f"their part files under {parts} are missing or unreadable, so they "
                     "count as not done; run samcli again with the same options and -o over "
                     "the input folders that hold them to redo them")
    return lines, each


def usable_parts(done_images: Iterable[str], part_path: Callable[[str], Path],
                 check: Callable[[Any], object], files: str, parts: Path,
                 warn: Callable[[str], None]) -> tuple[list, dict[str, str]]:
    """The parts of ``done_images`` that read back (:func:`read_part` with ``check``), in
    image order, and the images left out of the whole-run ``files`` for want of one
    (:attr:`Writer.left_out`), each told with ``warn`` (:func:`left_out_report`)."""
    found, left = [], {}
    for image in sorted(set(done_images)):
        path = part_path(image)
        part, why = read_part(path, check)
        if why is None:
            found.append(part)
        else:
            left[image] = (path, why)
    lines, left_out = left_out_report(files, left, parts)
    for line in lines:
        warn(line)
    return found, left_out


def clash_message(a: str, b: str, path: Path, advice: str = "use another output format") -> str:
    return (
        f"{b}: its output {path} would overwrite the one of {a}; rename one of the two images "
        f"or {advice}"
    )
