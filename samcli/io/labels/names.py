"""Class names for outputs: ``classes.txt`` and dataset YAML ``names:``.

Class names (:func:`yolo_class_names`, :func:`collect_class_names`)
    For YOLO labels, names come from the nearest ``classes.txt`` (one name a line, id = line
    index from 0, a blank line has no name) in the label's folder or a parent up to the
    folder given, else from a dataset YAML (``data.yaml``, ``data.yml``, ``dataset.yaml``,
    ``dataset.yml``) in the dataset root (the folder holding the last ``labels`` component)
    or its parent. The YAML's top-level ``names:`` is read without a YAML library
    (:func:`parse_yaml_names`): a flow list ``['a', "b", c]`` (may span lines), a block list
    of ``- name``, or a block/flow mapping ``0: name``; other YAML there is an error naming
    ``file:line``. For COCO inputs, names come from the image map's ``categories``
    (:func:`load_coco_categories`). Ids without a name get none: callers use ``str(id)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, NamedTuple

from samcli.errors import InputError
from samcli.io.inputs import InputItem
from samcli.io.labels.numbers import MAX_CLASS_ID
from samcli.io.labels.text import _LINE_BREAK, _is_file, _read_text, _tok
from samcli.io.labels.yaml_names import parse_yaml_names

#: The class-name list LabelImg and YOLO exporters write next to label files.
CLASSES_TXT = "classes.txt"
#: Dataset YAML files whose ``names:`` is read, in preference order.
DATASET_YAML_NAMES: tuple[str, ...] = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")


def read_class_names(path: Path | str) -> dict[int, str]:
    """``{class id: name}`` from a ``classes.txt`` (one name a line, id = line index from 0;
    surrounding blanks stripped; a blank line has no name) or, for ``.yaml``/``.yml`` files,
    a dataset YAML's ``names:`` (:func:`parse_yaml_names`; ``{}`` without one). Errors are
    :class:`InputError` ``"<file>[:<line>]: ..."``."""
    path = Path(path)
    text = _read_text(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        names = parse_yaml_names(text, str(path))
        return names or {}
    lines = _LINE_BREAK.split(text)
    if len(lines) - 1 > MAX_CLASS_ID:
        raise InputError(f"{path}: more than {MAX_CLASS_ID + 1} lines")
    out: dict[int, str] = {}
    for i, line in enumerate(lines):
        name = line.strip()
        if not name:
            continue
        if "\x00" in name:
            raise InputError(f"{path}:{i + 1}: class name {_tok(name)} holds a NUL character")
        out[i] = name
    return out


def find_class_names_file(label_path: Path | str,
                          labels_root: Path | str | None = None) -> Path | None:
    """The class-name file for a YOLO label file, or None.

    First ``classes.txt`` (in any case) in the label's folder, then in each parent up to
    ``labels_root`` (the folder given on the command line, ``InputItem.root``; only the
    label's own folder for a file given directly). Then a dataset YAML (``data.yaml``, ``data.yml``,
    ``dataset.yaml``, ``dataset.yml``) in the dataset root, the folder holding the last
    ``labels`` component of the path (``ds/labels/train/a.txt`` -> ``ds``), then in that
    folder's parent (Roboflow's ``ds/train/labels`` layout keeps it in ``ds``).
    """
    label_path = Path(label_path)
    folder = label_path.parent
    dirs = [folder]
    if labels_root is not None:
        root = Path(labels_root)
        try:
            rel = folder.relative_to(root)
        except ValueError:
            rel = None
        if rel is not None:
            dirs = [root.joinpath(*rel.parts[:k]) for k in range(len(rel.parts), -1, -1)]
    for d in dirs:
        found = _classes_txt_in(d)
        if found is not None:
            return found
    parts = label_path.absolute().parts[:-1]
    idx = max((i for i, p in enumerate(parts) if p == "labels"), default=None)
    if idx is not None and idx > 0:
        ds_root = Path(*parts[:idx])
        for d in (ds_root, ds_root.parent) if ds_root.parent != ds_root else (ds_root,):
            for name in DATASET_YAML_NAMES:
                if _is_file(d / name):
                    return d / name
    return None


def _classes_txt_in(folder: Path) -> Path | None:
    """``folder/classes.txt``, else a file of that name in another case (``Classes.TXT``: the
    label walk skips it as a names file whatever its case, so it must be read as one), the
    first by name; None when there is none."""
    if _is_file(folder / CLASSES_TXT):
        return folder / CLASSES_TXT
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower() == CLASSES_TXT)
    except (OSError, ValueError):
        return None
    return next((folder / n for n in names if _is_file(folder / n)), None)


def yolo_class_names(label_path: Path | str,
                     labels_root: Path | str | None = None) -> dict[int, str]:
    """``{class id: name}`` for a YOLO label file (:func:`find_class_names_file`), ``{}``
    when there is no names file. Ids with no name: callers use ``str(id)``."""
    found = find_class_names_file(label_path, labels_root)
    return read_class_names(found) if found is not None else {}


class ClassNames(NamedTuple):
    """Result of :func:`collect_class_names`: ``names`` ``{id: name}``, the files read
    (``sources``, in the order first used) and ``warnings`` (unreadable files, and ids that
    two files name differently, the first file's name being kept)."""

    names: dict[int, str]
    sources: list[Path]
    warnings: list[str]


def collect_class_names(items: Iterable[InputItem]) -> ClassNames:
    """Class names for a run over YOLO label files (``InputItem`` from
    :func:`collect_label_files`): each distinct names file is looked up once per folder and
    read once. A names file that cannot be read is a warning, not an error: names only label
    outputs, so the run goes on with numeric names."""
    lookup: dict[tuple[Path, Path | None], Path | None] = {}
    read: set[Path] = set()
    names: dict[int, str] = {}
    origin: dict[int, Path] = {}
    sources: list[Path] = []
    warnings: list[str] = []
    for item in items:
        key = (item.path.parent, item.root)
        if key not in lookup:
            lookup[key] = find_class_names_file(item.path, item.root)
        found = lookup[key]
        if found is None or found in read:
            continue
        read.add(found)
        try:
            got = read_class_names(found)
        except InputError as exc:
            warnings.append(f"{exc}; class names from it are not used")
            continue
        sources.append(found)
        for cid, name in got.items():
            if cid in names and names[cid] != name:
                warnings.append(f"{found}: class {cid} is {_tok(name)} here but "
                                f"{_tok(names[cid])} in {origin[cid]}; keeping the latter")
                continue
            names.setdefault(cid, name)
            origin.setdefault(cid, found)
    return ClassNames(names, sources, warnings)
