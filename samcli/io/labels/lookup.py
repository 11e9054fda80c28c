"""Which image a YOLO label file describes, and walking label folders.

Finding the image of a label file (:func:`find_image_for_label`)
    With ``--images DIR``: ``DIR / <label path relative to the labels folder given>`` with the
    label's stem and an image suffix; if that is missing, ``DIR / <stem + suffix>`` (a flat
    images folder). Only ``DIR`` is searched when it is given. Without it: the YOLO rule (the
    LAST path component named exactly ``labels`` becomes ``images``:
    ``/data/labels/train/a.txt`` -> ``/data/images/train/a.jpg``), then beside the label file.
    When several files match, the first in suffix order wins: ``.jpg .jpeg .png .bmp .tif
    .tiff .webp``, each tried in lower case, then upper case (``.JPG``); mixed-case suffixes
    (``.Jpg``) are not looked for. The unit of work warns naming them all
    (:func:`rival_images`).

Label folders (:func:`collect_label_files`)
    ``.txt`` files, walked like image folders (see :mod:`samcli.io.inputs`); ``classes.txt``
    and ``predefined_classes.txt`` (class-name lists written by LabelImg and YOLO exporters
    next to the labels) are skipped while walking, as are hidden files; the command skips
    them with a warning when they are named directly (a shell's ``labels/*.txt``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, TextIO

from samcli.fs import text_of_path
from samcli.io.images import IMAGE_SUFFIXES
from samcli.io.inputs import InputItem, Problem, walk_inputs
from samcli.io.labels.text import _is_file

#: Why one of several images with a label's stem is used (warnings say it).
SUFFIX_RULE = "the first in suffix order: .jpg .jpeg .png .bmp .tif .tiff .webp"

#: Files skipped when walking label folders (case-insensitive).
LABEL_SKIP_NAMES: tuple[str, ...] = ("classes.txt", "predefined_classes.txt")


def image_candidates(stem_path: Path) -> list[Path]:
    """``stem_path`` + each image suffix, in preference order (lower case, then upper)."""
    base = str(stem_path)
    out: list[Path] = []
    for suf in IMAGE_SUFFIXES:
        out.append(Path(base + suf))
        out.append(Path(base + suf.upper()))
    return out


def image_files(stem_path: Path) -> list[Path]:
    """The image files ``stem_path`` + an image suffix that exist, in preference order, each
    file once (``a.jpg`` and ``a.JPG`` are one file on a case-insensitive file system)."""
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for cand in image_candidates(stem_path):
        if not _is_file(cand):
            continue
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            out.append(cand)
    return out


def _first_existing(stem_path: Path) -> Path | None:
    for cand in image_candidates(stem_path):
        if _is_file(cand):
            return cand
    return None


def _strip_suffix(p: Path) -> Path:
    return p.with_name(p.stem) if p.suffix else p


def find_image_for_label(
    label_path: Path | str,
    images_dir: Path | str | None = None,
    labels_root: Path | str | None = None,
) -> Path | None:
    """The image a YOLO label file describes, or ``None`` (rules in the module docstring).

    ``labels_root``: the labels folder the file was found under (``InputItem.root``);
    ``None`` for a file given directly, which then maps to ``images_dir / <stem>.<ext>``.
    """
    label_path = Path(label_path)
    if images_dir is not None:
        images_dir = Path(images_dir)
        rel: Path | None = None
        if labels_root is not None:
            try:
                rel = label_path.relative_to(labels_root)
            except ValueError:
                rel = None
        if rel is not None and len(rel.parts) > 1:
            hit = _first_existing(images_dir / _strip_suffix(rel))
            if hit is not None:
                return hit
        return _first_existing(images_dir / _strip_suffix(Path(label_path.name)))

    for candidate_base in (label_path, label_path.absolute()):
        parts = candidate_base.parts
        dir_parts = parts[:-1]
        idx = max((i for i, p in enumerate(dir_parts) if p == "labels"), default=None)
        if idx is not None:
            swapped = Path(*parts[:idx], "images", *parts[idx + 1 :])
            hit = _first_existing(_strip_suffix(swapped))
            if hit is not None:
                return hit
            break  # the given path had a labels component: don't try its absolute form
    return _first_existing(_strip_suffix(label_path))


def rival_images(image: Path, stems: Sequence[Path] = ()) -> list[Path]:
    """Other image files the same lookup found besides ``image`` (the one used): same folder
    and stem with another image suffix, and files for the other ``stems`` (paths without
    suffix: a COCO id's ``139`` and ``000000000139``). For a warning: the choice was by rule,
    and the user may have meant another."""
    found: list[Path] = []
    for stem in (_strip_suffix(image), *stems):
        found += [p for p in image_files(stem) if p not in found]
    try:
        return [p for p in found if not os.path.samefile(p, image)]
    except OSError:
        return [p for p in found if p != image]


def rivals_warning(source: Path | str, image: Path, rivals: Sequence[Path],
                   rule: str = SUFFIX_RULE) -> list[str]:
    """The warning for a lookup that had several matches (none when ``rivals`` is empty):
    ``source`` the input that looked, ``rule`` why ``image`` won."""
    if not rivals:
        return []
    names = ", ".join([image.name] + [p.name for p in rivals])
    return [f"{source}: {len(rivals) + 1} images match ({names}); {image.name} is used "
            f"({rule})"]


def is_named_names_file(item: InputItem) -> bool:
    """Whether ``item`` is a class-names file (:data:`LABEL_SKIP_NAMES`, any case) named
    directly (a shell's ``labels/*.txt``): no label file, though the walk let it through."""
    return item.root is None and item.path.name.lower() in LABEL_SKIP_NAMES


def collect_label_files(
    inputs: list[str], glob: str | None = None, stdin: TextIO | Sequence[str] | None = None
) -> tuple[list[InputItem], list[Problem]]:
    """YOLO label files (``.txt``) named by ``inputs`` (files, folders, ``-``), and problems.

    Walked like :func:`samcli.io.inputs.collect_images`; ``classes.txt`` and
    ``predefined_classes.txt`` are skipped inside folders. ``InputItem.root`` is the labels
    folder (pass it to :func:`find_image_for_label` as ``labels_root``).
    """
    items, problems = walk_inputs(
        inputs, (".txt",), glob=glob, stdin=stdin, skip_names=LABEL_SKIP_NAMES,
        kind="label file",
    )
    return _one_label_per_image(items, problems)


def _one_label_per_image(items: list[InputItem], problems: list[Problem]
                         ) -> tuple[list[InputItem], list[Problem]]:
    """Label files whose names differ only in the case of ``.txt`` (``a.txt``, ``a.TXT``)
    find the same image and name the same outputs (``a.png.jsonl``), so one would silently
    replace the other's: the first keeps its place, each later one is a problem."""
    first: dict[str, InputItem] = {}
    kept: list[InputItem] = []
    for item in items:
        if is_named_names_file(item):
            kept.append(item)  # (the caller skips it)
            continue
        stem = item.rel[: -len(".txt")]  # (every label's rel ends in .txt, in some case)
        other = first.setdefault(stem, item)
        if other is item:
            kept.append(item)
            continue
        shown = text_of_path(str(item.path))
        problems.append(Problem(shown, (
            f"{shown}: names the same image as {text_of_path(str(other.path))} (their names "
            "differ only in the case of .txt), and its outputs would replace that one's; "
            "merge or rename them")))
    return kept, problems
