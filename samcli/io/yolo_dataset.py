"""``data.yaml`` for ``--format yolo``: the dataset file ultralytics trains from, and the rule
by which it finds a label.

ultralytics reads a dataset YAML: ``path`` (the dataset root), ``train``/``val`` (and
optionally ``test``: image folders relative to ``path``, or lists of them) and ``names``
(``{class id: name}``; every class id in the labels must be below the number of names). It
finds the label of an image by its path alone: the LAST folder named ``images`` in the
image's path becomes ``labels`` and the suffix becomes ``.txt``
(``/d/images/train/a.jpg`` -> ``/d/labels/train/a.txt``; with no ``images`` folder, the label
is looked for beside the image). So a YOLO run's labels are found only when the images lie
under a folder named ``images`` and ``-o`` is its sibling ``labels`` (or the same tree below
it): :func:`ultralytics_label_path` states the rule, the writer checks every image against
it and warns once when the labels are not where ultralytics will look.

The YAML is written in a form any YAML reader takes: strings double-quoted (JSON escapes are
YAML escapes), names as an ``id: "name"`` block mapping (which samcli's own ``names:`` reader,
:func:`samcli.io.labels.parse_yaml_names`, reads back too).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from samcli.fs import text_of_path

DATA_YAML = "data.yaml"

#: Top-level folders of the image tree taken as splits, and the key each goes under.
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def ultralytics_label_path(image: Path) -> Path:
    """Where ultralytics looks for the label of ``image`` (see the module docstring)."""
    parts = image.parts
    folders = [i for i, p in enumerate(parts[:-1]) if p == "images"]
    if folders:
        k = folders[-1]
        parts = parts[:k] + ("labels",) + parts[k + 1:]
    return Path(*parts).with_suffix(".txt")


def image_root(source: Path, image: str) -> Path | None:
    """The folder ``image`` (the record's relative path) is relative to, from the file it
    names (``source``); None when ``source`` does not end with ``image``'s parts (an image
    found flat under ``--images`` for a label in a subfolder). A name that is not UTF-8 is
    compared as the record writes it (``\\xNN``)."""
    rel = PurePosixPath(image).parts
    src = Path(os.path.abspath(source))
    if not rel or tuple(text_of_path(p) for p in src.parts[-len(rel):]) != rel:
        return None
    return Path(*src.parts[:-len(rel)]) if len(src.parts) > len(rel) else None


def splits_of(images: Iterable[str]) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...], "test": [...]}``: the top-level folders of the image
    paths that name a split, when there is both a train and a val folder; else ``{}``."""
    found: dict[str, list[str]] = {}
    for image in images:
        parts = PurePosixPath(image).parts
        if len(parts) > 1 and parts[0] in SPLITS:
            key = SPLITS[parts[0]]
            if parts[0] not in found.setdefault(key, []):
                found[key].append(parts[0])
    if "train" not in found or "val" not in found:
        return {}
    return {k: sorted(found[k]) for k in ("train", "val", "test") if k in found}


# data.yaml lists a name for every class id below the largest up to this many ids; above it
# (class ids are allowed up to 2^31 - 1) only the ids named or used.
DENSE_NAMES_LIMIT = 100_000


def dataset_yaml(roots: Sequence[Path], images: Iterable[str], names: Mapping[int, str],
                 used: Iterable[int] = ()) -> str:
    """The text of ``data.yaml`` for images under ``roots`` (absolute folders), whose
    relative paths are ``images``: ``path`` is the roots' common folder; ``train``/``val``
    (``test``) the split folders when the tree has train and val folders, else the roots
    themselves for both; ``names`` every id from 0 to the largest named or ``used`` class,
    ``str(id)`` where no name is known (ultralytics needs a name for each id below its
    largest), or only the ids named or used when that would be over
    :data:`DENSE_NAMES_LIMIT` ids."""
    base = Path(os.path.commonpath([str(r) for r in roots]))
    rels = [PurePosixPath(Path(os.path.relpath(r, base)).as_posix()).as_posix() for r in roots]
    splits = splits_of(images)

    def folders(key: str) -> list[str]:
        if not splits:
            return rels if key in ("train", "val") else []
        return [PurePosixPath(r, s).as_posix() for r in rels for s in splits.get(key, [])]

    lines = [
        "# Written by samcli (--format yolo). ultralytics finds the label of an image by",
        "# swapping the last /images/ folder of its path for /labels/: the labels written",
        "# here are used only if this folder is that 'labels' folder (see samcli's README).",
        f"path: {_q(base.as_posix())}",
    ]
    for key in ("train", "val", "test"):
        dirs = folders(key)
        if not dirs:
            continue
        value = _q(dirs[0]) if len(dirs) == 1 else "[" + ", ".join(_q(d) for d in dirs) + "]"
        lines.append(f"{key}: {value}")
    ids = set(names) | set(int(c) for c in used)
    top = max(ids) + 1 if ids else 0
    if top > DENSE_NAMES_LIMIT:  # a name for every id below 2^31 would be gigabytes
        lines.append(f"# class ids go up to {top - 1}: only the ids named or used are listed; "
                     "ultralytics wants ids 0 to nc-1, so renumber the classes to train on this")
        span: Iterable[int] = sorted(ids)
    else:
        span = range(top)
    lines.append("names:" if ids else "names: {}")
    for cid in span:
        lines.append(f"  {cid}: {_q(names.get(cid, str(cid)))}")
    return "\n".join(lines) + "\n"


# Characters JSON leaves as they are but YAML reads as line breaks (U+0085, U+2028, U+2029:
# a name would lose the blanks around them) or refuses as non-printable (DEL, C1 controls,
# U+FFFE/U+FFFF, lone surrogates): written as \uXXXX escapes, which YAML reads back.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff\ud800-\udfff]")


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}",
                            json.dumps(text, ensure_ascii=False))
