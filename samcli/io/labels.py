"""Detector boxes for ``from-boxes``: YOLO label files and COCO detection results.

YOLO box labels (:func:`parse_yolo_labels`)
    One box a row: ``class cx cy w h [conf [track_id]]`` (5, 6 or 7 columns; ultralytics'
    ``save_conf`` appends the confidence, tracking appends an id). Coordinates are normalised
    to the image width and height. Lines end with ``\\n``, ``\\r\\n`` or a lone ``\\r``; fields
    are separated by any whitespace; a UTF-8 byte-order mark is fine; blank lines are skipped
    and ``#`` starts a comment that runs to the end of the line. An empty file means "no
    objects". Numbers are plain ASCII decimals (``0.5``, ``.5``, ``5e-1``, ``+0.5``): no
    ``nan``/``inf``, no ``_`` digit separators, no non-ASCII digits such as ``'٣'`` (all of
    which Python's ``float()``/``int()`` would accept), and every value must be finite as a
    double (``1e999`` is an error).

    - ``class`` and ``track_id`` are integers from 0 to :data:`MAX_CLASS_ID` (2^31 - 1),
      written as any numeral equal to one (``3``, ``3.0``, ``3e0``; checked exactly, so
      ``1.0000000000000001`` is not an integer). The bound keeps ids exact in int32/int64
      arrays and as COCO category ids; anything larger (``3e19``, ``9223372036854775808``,
      ``99999999999999999999``) is an error instead of overflowing later.
    - ``conf`` must lie in [0, 1] (what ultralytics writes); anything else is an error naming
      the line rather than being clipped, since it usually means a wrong column order.
    - Coordinates may be any finite numbers: out of [0, 1], negative or zero sizes are not
      errors here; they are clipped (and empty boxes dropped with a warning) by
      :func:`boxes_to_pixels`.

    A row with more than 7 columns is a segment (polygon) label, not a box, and is an error,
    as is any other malformed row: :class:`InputError` ``"<file>:<line>: <what is wrong>"``
    naming the offending value (lines count from 1, comments and blank lines included).
    Unreadable files and bytes that are not UTF-8 are errors naming the file (and line).

Finding the image of a label file (:func:`find_image_for_label`)
    With ``--images DIR``: ``DIR / <label path relative to the labels folder given>`` with the
    label's stem and an image suffix; if that is missing, ``DIR / <stem + suffix>`` (a flat
    images folder). Only ``DIR`` is searched when it is given. Without it: the YOLO rule (the
    LAST path component named exactly ``labels`` becomes ``images``:
    ``/data/labels/train/a.txt`` -> ``/data/images/train/a.jpg``), then beside the label file.
    When several files match, the first in suffix order wins: ``.jpg .jpeg .png .bmp .tif
    .tiff .webp``, each tried in lower case, then upper case (``.JPG``); mixed-case suffixes
    (``.Jpg``) are not looked for.

Label folders (:func:`collect_label_files`)
    ``.txt`` files, walked like image folders (see :mod:`samcli.io.inputs`); ``classes.txt``
    and ``predefined_classes.txt`` (class-name lists written by LabelImg and YOLO exporters
    next to the labels) are skipped while walking, as are hidden files; named directly they
    are read like any label file.

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

COCO detection results (:func:`parse_coco_dets`)
    The results format: a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}`` in pixels (extra keys ignored; ``score`` optional). A ground-truth style
    object with an ``annotations`` list is accepted too. Rules (each break is an
    :class:`InputError` ``"<file>: entry <i>: ..."`` naming the value):

    - ``image_id``: an integer from 0 to :data:`MAX_IMAGE_ID` (2^63 - 1, int64) or a
      non-empty string; not true/false, null, 1.5, -1, lists or objects. ``1.0`` is read as
      1. An integer written as a string (``"139"``) is the same image as ``139``
      (:func:`image_id_key`; ``"0139"`` is not): detections of both spellings form one group,
      keyed by the first spelling seen, and each :class:`CocoDet` keeps its own.
    - ``category_id``: an integer from 0 to :data:`MAX_CLASS_ID` (2^31 - 1), as YOLO classes.
    - ``bbox``: exactly 4 finite numbers. Negative or zero sizes and boxes outside the image
      are not errors here; :func:`coco_dets_to_xyxy` clips them and drops empty ones with a
      warning naming the entry.
    - ``score``: a finite number in [0, 1] when present.
    - The file: JSON (``NaN``/``Infinity`` parse but fail the checks above); not JSON, not a
      list (or object with ``annotations``), nested too deeply, or an object with a repeated
      key (JSON readers keep the last one silently; here it is an error naming the object,
      e.g. ``[3]``) is an error naming the file, and for bad syntax ``file:line`` and the
      column.

Image maps (:func:`read_image_map`, :func:`load_image_map`, :func:`load_coco_images`,
:func:`load_coco_categories`)
    ``--image-map`` is a COCO ground-truth file (its ``images`` list of ``{"id",
    "file_name", "width", "height"}``, ids as for detections, each id once, also counting
    ``1`` and ``"1"`` as one; and optionally ``categories`` ``{"id", "name"}``, ids as for
    ``category_id``, the names kept for outputs), or a plain JSON object
    ``{"<image_id>": "<file name>"}`` (ids are then strings; no sizes, no categories). Ids
    are kept as written, so outputs can reuse the ground truth's image and category ids.

Finding the images of COCO ids (:func:`resolve_coco_images`)
    From ``--images DIR`` plus the image map, or, with no map, the id itself as the file stem
    (``DIR/139.jpg``, then COCO's zero-padded ``DIR/000000000139.jpg`` for integer ids,
    including ones written as strings). An id with no map entry or no file is a problem
    (reported; exit 3). Several ids naming ONE file (two ``images`` entries with one
    ``file_name``, ``"a.jpg"`` and ``"./a.jpg"``, ``139`` and ``"000000000139"`` without a
    map) are reported together as one problem and none of their boxes are used: outputs keep
    the input's image ids, and one image cannot carry two, so merging them would silently
    renumber some boxes, and keeping the last id (the old behaviour) silently dropped the
    others'. Fix the input (one id per file) to use them.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, TextIO, Union

import numpy as np

from samcli.errors import InputError
from samcli.io.images import IMAGE_SUFFIXES
from samcli.io.inputs import InputItem, Problem, walk_inputs

__all__ = [
    "CLASSES_TXT",
    "DATASET_YAML_NAMES",
    "LABEL_SKIP_NAMES",
    "MAX_CLASS_ID",
    "MAX_IMAGE_ID",
    "BoxLabel",
    "ClassNames",
    "CocoDet",
    "CocoImage",
    "ImageId",
    "ImageMap",
    "PixelBoxes",
    "boxes_to_pixels",
    "clip_boxes",
    "coco_dets_to_xyxy",
    "collect_class_names",
    "collect_label_files",
    "find_class_names_file",
    "find_image_for_label",
    "image_candidates",
    "image_id_key",
    "load_coco_categories",
    "load_coco_images",
    "load_image_map",
    "parse_coco_dets",
    "parse_yaml_names",
    "parse_yolo_labels",
    "read_class_names",
    "read_image_map",
    "resolve_coco_images",
    "yolo_class_names",
]

#: Files skipped when walking label folders (case-insensitive).
LABEL_SKIP_NAMES: tuple[str, ...] = ("classes.txt", "predefined_classes.txt")

ImageId = Union[int, str]

#: Largest class id, COCO category id and track id (int32 max: survives int32 and int64 arrays,
#: JSON readers that use int32, and float64 exactly).
MAX_CLASS_ID = 2**31 - 1

# A plain ASCII decimal numeral: groups (integer digits, fraction digits, fraction digits
# without integer part, exponent). ``re.ASCII``: ``\d`` must not match '٣' or '３'. No two
# ways to split a digit run (``\d+\.?\d*`` had them): a long digit run followed by a bad
# character then backtracks in O(n) rather than O(n^2) (20,000 digits took 10 s).
_NUMBER = re.compile(r"[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?\Z", re.ASCII)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# --------------------------------------------------------------------------- YOLO rows


@dataclass
class BoxLabel:
    """One YOLO box row: normalised centre/size, optional confidence and track id."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float
    conf: float | None = None
    track_id: int | None = None
    line: int = 0


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a label file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError:  # a NUL character in the path
        raise InputError(f"{path!r}: not a valid file name") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None


def _tok(text: str) -> str:
    """A field for an error message: quoted, control characters escaped, long ones cut."""
    if len(text) > 40:
        return f"{text[:30]!r}... ({len(text)} characters)"
    return repr(text)


def _exact_int(m: re.Match[str]) -> int | None:
    """The integer a :data:`_NUMBER` match denotes exactly, or None when it is not an integer.

    Callers check the range with ``float()`` first, so the result has at most ~20 digits.
    Exact, unlike ``float(text).is_integer()`` (``"1.0000000000000001"``, ``"1e-400"``).
    """
    ip = m.group(1) or ""
    fp = m.group(2) or m.group(3) or ""
    digits = (ip + fp).lstrip("0")
    if not digits:
        return 0
    core = digits.rstrip("0")
    exp = m.group(4) or "0"
    mag = exp.lstrip("+-").lstrip("0") or "0"
    if len(mag) > 9:  # |exponent| >= 1e9: tiny (not an integer) or caught as out of range
        return None
    e = (-int(mag) if exp.startswith("-") else int(mag)) - len(fp) + (len(digits) - len(core))
    if e < 0 or len(core) + e > 40:
        return None
    value = int(core) * 10**e
    return -value if m.group(0).startswith("-") else value


def _parse_float(text: str, what: str, where: str) -> float:
    if _NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
        raise InputError(f"{where}: {what} {_tok(text)} is out of range")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {_tok(text)} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} {_tok(text)} is not finite")
    # float() accepts more than a label file should hold: '1_0', '٣', '３'
    raise InputError(f"{where}: {what} {_tok(text)} is not a number (plain ASCII decimals only: "
                     "no '_' separators, no non-ASCII digits)")


def _parse_int(text: str, what: str, where: str, hint: str = "") -> int:
    """An id: a decimal numeral equal to an integer in [0, MAX_CLASS_ID] (``3``, ``3.0``, ``3e0``)."""
    noun = what if what.endswith(" id") else f"{what} id"
    bounds = f"{noun}s are integers from 0 to {MAX_CLASS_ID}"
    m = _NUMBER.match(text)
    if m is None:
        _parse_float(text, what, where)  # raises with the reason
        raise AssertionError("unreachable")
    value = float(text)
    if value < 0:
        raise InputError(f"{where}: {what} {_tok(text)} is negative ({bounds})")
    if not value <= MAX_CLASS_ID:  # also inf: '1e400'
        raise InputError(f"{where}: {what} {_tok(text)} is out of range ({bounds})")
    exact = _exact_int(m)
    if exact is None:
        raise InputError(f"{where}: {what} {_tok(text)} is not an integer{hint}")
    if not 0 <= exact <= MAX_CLASS_ID:  # float rounding at the edges
        raise InputError(f"{where}: {what} {_tok(text)} is out of range ({bounds})")
    return exact


def _parse_conf(text: str, where: str) -> float:
    value = _parse_float(text, "confidence", where)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{where}: confidence {_tok(text)} is outside [0, 1]")
    return value + 0.0  # -0.0 -> 0.0


def parse_yolo_labels(path: Path | str) -> list[BoxLabel]:
    """Read a YOLO box label file (see the module docstring); rows in file order."""
    path = Path(path)
    text = _read_text(path)
    out: list[BoxLabel] = []
    for lineno, raw in enumerate(_LINE_BREAK.split(text), start=1):
        row = raw.split("#", 1)[0]
        fields = row.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        n = len(fields)
        if n > 7:
            raise InputError(
                f"{where}: {n} columns: this is a segment (polygon) label, not a box; "
                "from-boxes needs rows 'class cx cy w h [conf [track_id]]'"
            )
        if n < 5:
            raise InputError(
                f"{where}: {n} column{'s' if n != 1 else ''}, expected 5 to 7 "
                "('class cx cy w h [conf [track_id]]')"
            )
        cls = _parse_int(fields[0], "class", where)
        cx, cy, w, h = (
            _parse_float(fields[i], name, where)
            for i, name in ((1, "cx"), (2, "cy"), (3, "w"), (4, "h"))
        )
        conf = _parse_conf(fields[5], where) if n >= 6 else None
        track = (
            _parse_int(
                fields[6], "track id", where,
                " (a 7-column row of fractions may be a 3-point segment label)",
            )
            if n == 7
            else None
        )
        out.append(BoxLabel(cls, cx, cy, w, h, conf, track, lineno))
    return out


# --------------------------------------------------------------------------- to pixels


class PixelBoxes(NamedTuple):
    """Result of :func:`boxes_to_pixels` / :func:`clip_boxes`.

    ``xyxy``: ``(N, 4)`` float64 pixel boxes ``x1 y1 x2 y2`` clipped to ``[0, W] x [0, H]``
    (pixel-corner coordinates), one row per input box, in input order. ``keep``: ``(N,)``
    bool, False for boxes that are empty after clipping (use ``xyxy[keep]``). ``warnings``:
    one message per dropped box, naming its source (``file:line`` or COCO entry).
    """

    xyxy: np.ndarray
    keep: np.ndarray
    warnings: list[str]


def clip_boxes(
    xyxy: np.ndarray | Sequence[Sequence[float]],
    width: int,
    height: int,
    *,
    names: Sequence[str] | None = None,
    min_size: float = 0.0,
) -> PixelBoxes:
    """Clip pixel ``xyxy`` boxes to a ``width x height`` image; drop empty ones with a warning.

    A box is kept when, after clipping, both its width and height are greater than
    ``min_size`` pixels. Boxes with x2 < x1 or y2 < y1 (negative size) are dropped too.
    ``names[i]`` prefixes box i's warning.
    """
    arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    n = arr.shape[0]
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    clipped = arr.copy()
    np.clip(clipped[:, 0::2], 0.0, float(width), out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0.0, float(height), out=clipped[:, 1::2])
    clipped[np.isnan(clipped)] = 0.0  # NaN in: an empty box out, dropped below
    bw = clipped[:, 2] - clipped[:, 0]
    bh = clipped[:, 3] - clipped[:, 1]
    keep = (bw > min_size) & (bh > min_size)
    warnings: list[str] = []
    for i in np.flatnonzero(~keep):
        name = names[i] if names is not None else f"box {i}"
        x1, y1, x2, y2 = (float(v) for v in arr[i])
        if x2 < x1 or y2 < y1:
            why = "has a negative width or height"
        elif not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
            why = "is not finite in pixels"
        elif x2 - x1 <= min_size or y2 - y1 <= min_size:
            why = "has zero size" if min_size == 0 else f"is not over {min_size:g} px"
        else:
            why = f"is empty after clipping to the {width}x{height} image"
        warnings.append(
            f"{name}: box [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] (pixels) {why}; skipped"
        )
    return PixelBoxes(clipped, keep, warnings)


def boxes_to_pixels(
    labels: Sequence[BoxLabel],
    width: int,
    height: int,
    *,
    source: Path | str | None = None,
    min_size: float = 0.0,
) -> PixelBoxes:
    """Normalised YOLO boxes -> clipped pixel ``xyxy`` for a ``width x height`` image.

    ``x1 = (cx - w/2) * width`` etc.; then :func:`clip_boxes`. ``source`` (the label file)
    prefixes warnings as ``file:line``.
    """
    if labels:
        a = np.array([[b.cx, b.cy, b.w, b.h] for b in labels], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # 1e308-sized boxes: +-inf, clipped
            xyxy = np.stack(
                [
                    (a[:, 0] - a[:, 2] / 2) * width,
                    (a[:, 1] - a[:, 3] / 2) * height,
                    (a[:, 0] + a[:, 2] / 2) * width,
                    (a[:, 1] + a[:, 3] / 2) * height,
                ],
                axis=1,
            )
    else:
        xyxy = np.zeros((0, 4), dtype=np.float64)
    prefix = f"{source}:" if source is not None else "line "
    names = [f"{prefix}{b.line}" for b in labels]
    return clip_boxes(xyxy, width, height, names=names, min_size=min_size)


# --------------------------------------------------------------------------- image lookup


def image_candidates(stem_path: Path) -> list[Path]:
    """``stem_path`` + each image suffix, in preference order (lower case, then upper)."""
    base = str(stem_path)
    out: list[Path] = []
    for suf in IMAGE_SUFFIXES:
        out.append(Path(base + suf))
        out.append(Path(base + suf.upper()))
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


def collect_label_files(
    inputs: list[str], glob: str | None = None, stdin: TextIO | None = None
) -> tuple[list[InputItem], list[Problem]]:
    """YOLO label files (``.txt``) named by ``inputs`` (files, folders, ``-``), and problems.

    Walked like :func:`samcli.io.inputs.collect_images`; ``classes.txt`` and
    ``predefined_classes.txt`` are skipped inside folders. ``InputItem.root`` is the labels
    folder (pass it to :func:`find_image_for_label` as ``labels_root``).
    """
    return walk_inputs(
        inputs, (".txt",), glob=glob, stdin=stdin, skip_names=LABEL_SKIP_NAMES,
        kind="label file",
    )


# --------------------------------------------------------------------------- COCO

#: Largest integer image id (int64 max): exact in numpy int64 arrays and pycocotools.
MAX_IMAGE_ID = 2**63 - 1

_CANONICAL_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z", re.ASCII)


@dataclass(frozen=True)
class CocoDet:
    """One COCO detection: ``bbox`` is ``(x, y, w, h)`` in pixels; ``index`` its list position.

    ``image_id`` is the id as written in the file (an int stays an int, a string a string),
    also when :func:`parse_coco_dets` grouped it with another spelling of the same id.
    """

    image_id: ImageId
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float | None
    index: int

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


class _BigInt:
    """A JSON integer too long to be any id (Python refuses to convert over 4300 digits)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _json_int(text: str) -> int | _BigInt:
    return int(text) if len(text) <= 40 else _BigInt(text)


class _DupDict(dict):
    """A JSON object in which ``duplicate`` appeared more than once."""

    duplicate: str = ""


def _show(value: Any, limit: int = 80) -> str:
    """A JSON value for an error message: JSON spelling, ASCII, cut when long."""
    if isinstance(value, _BigInt):
        return f"{value.text[:20]}... ({len(value.text)}-digit number)"
    try:
        text = json.dumps(value, ensure_ascii=True, default=lambda o: "<number>")
    except (ValueError, RecursionError):
        text = "<value>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_where(data: Any) -> tuple[str, str] | None:
    """Where the first object with a repeated key is: (JSON path, key), or None."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _DupDict):
                return where or "the top-level object", node.duplicate
            children = [(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


def _load_json(path: Path) -> Any:
    """JSON with the file named in every error: bad syntax (``file:line: ... (column c)``),
    nesting too deep, a key repeated in one object (JSON keeps the last silently; here it
    is an error naming the object), numbers with more digits than any id."""
    text = _read_text(path)
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        d = dict(items)
        if len(d) != len(items):
            seen: set[str] = set()
            d = _DupDict(d)
            for key, _ in items:
                if key in seen:
                    d.duplicate = key
                    break
                seen.add(key)
            duplicates.append(d.duplicate)
        return d

    try:
        data = json.loads(text, parse_int=_json_int, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None
    except MemoryError:
        raise InputError(f"{path}: too large to read into memory") from None
    except ValueError as exc:  # defensive: any other number the decoder refuses
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if duplicates:
        found = _json_where(data)
        where, key = found if found is not None else ("an object", duplicates[0])
        raise InputError(f"{path}: {where}: key {_show(key)} appears more than once "
                         "(which one is meant is ambiguous)")
    return data


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_uint(v: Any, bound: int) -> int | None:
    """``v`` as an integer in [0, bound] (a JSON integer or an integer-valued float), else None."""
    if not _is_number(v):
        return None
    if isinstance(v, float):
        if not (math.isfinite(v) and v.is_integer()):
            return None
        v = int(v)
    return v if 0 <= v <= bound else None


def _valid_text(s: str) -> bool:
    """Encodable as UTF-8 (JSON's \\ud800 escapes make lone surrogates) and no NUL."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in s


def _image_id(v: Any, where: str, key: str = "image_id") -> ImageId:
    if isinstance(v, str):
        if v != "" and _valid_text(v):
            return v
    elif not isinstance(v, bool) and v is not None:
        n = _json_uint(v, MAX_IMAGE_ID)
        if n is not None:
            return n
    raise InputError(
        f"{where}: {key} must be an integer from 0 to 2^63-1 or a non-empty string, "
        f"got {_show(v)}"
    )


def image_id_key(image_id: ImageId) -> ImageId:
    """The id COCO readers compare by: an integer written as a string (``"139"``) is the
    integer (``139``); other strings (``"0139"``, ``"a"``) and integers are themselves."""
    if isinstance(image_id, str) and len(image_id) <= 19 and _CANONICAL_INT.match(image_id):
        n = int(image_id)
        if n <= MAX_IMAGE_ID:
            return n
    return image_id


def _coco_entry(e: Any, i: int, path: Path) -> CocoDet:
    where = f"{path}: entry {i}"
    if not isinstance(e, dict):
        raise InputError(f"{where}: expected an object, got {_json_type(e)}")
    for key in ("image_id", "category_id", "bbox"):
        if key not in e:
            raise InputError(f"{where}: missing {key!r}")
    image_id = _image_id(e["image_id"], where)
    cat = _json_uint(e["category_id"], MAX_CLASS_ID)
    if cat is None:
        raise InputError(f"{where}: category_id must be an integer from 0 to {MAX_CLASS_ID}, "
                         f"got {_show(e['category_id'])}")
    bbox = e["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(v) and math.isfinite(v) for v in bbox)
    ):
        raise InputError(f"{where}: bbox must be [x, y, width, height] (4 finite numbers), "
                         f"got {_show(bbox)}")
    score = e.get("score")
    if score is not None:
        if not _is_number(score) or not math.isfinite(score):
            raise InputError(f"{where}: score must be a finite number, got {_show(score)}")
        if not 0.0 <= score <= 1.0:
            raise InputError(f"{where}: score {_show(score)} is outside [0, 1]")
    return CocoDet(
        image_id=image_id,
        category_id=cat,
        bbox=tuple(float(v) for v in bbox),  # type: ignore[arg-type]
        score=None if score is None else float(score) + 0.0,
        index=i,
    )


def _json_type(v: Any) -> str:
    if isinstance(v, _BigInt):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null", int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def parse_coco_dets(path: Path | str) -> dict[ImageId, list[CocoDet]]:
    """COCO detection results grouped by image id (ids in first-seen order, entries in file
    order). Spellings of one id (``1`` and ``"1"``, see :func:`image_id_key`) form one group,
    keyed by the first spelling seen. A bad entry raises :class:`InputError`
    ``"<file>: entry <i>: ..."`` (``i`` counts from 0, the list index)."""
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        entries = data["annotations"]
    elif isinstance(data, list):
        entries = data
    else:
        raise InputError(
            f"{path}: expected a JSON list of detections "
            "({'image_id', 'category_id', 'bbox', 'score'}) or an object with an "
            f"'annotations' list, got {_json_type(data)}"
        )
    out: dict[ImageId, list[CocoDet]] = {}
    first: dict[ImageId, ImageId] = {}
    for i, e in enumerate(entries):
        det = _coco_entry(e, i, path)
        group = first.setdefault(image_id_key(det.image_id), det.image_id)
        out.setdefault(group, []).append(det)
    return out


def coco_dets_to_xyxy(
    dets: Sequence[CocoDet], width: int, height: int, *, source: Path | str | None = None,
    min_size: float = 0.0,
) -> PixelBoxes:
    """COCO ``[x, y, w, h]`` boxes -> clipped pixel ``xyxy`` (see :func:`clip_boxes`)."""
    xyxy = np.array([d.xyxy for d in dets], dtype=np.float64).reshape(-1, 4)
    prefix = f"{source}: " if source is not None else ""
    names = [f"{prefix}entry {d.index}" for d in dets]
    return clip_boxes(xyxy, width, height, names=names, min_size=min_size)


# --------------------------------------------------------------------------- image maps


@dataclass(frozen=True)
class CocoImage:
    """One image of an image map: a COCO ground-truth ``images`` entry, or one pair of a
    plain ``{"<id>": "<file name>"}`` map (whose ids are strings, JSON keys being strings).

    ``id`` as written (int or str); ``width``/``height`` as written, ``None`` when absent;
    ``index`` the entry's position in ``images`` (or among the plain map's keys).
    """

    id: ImageId
    file_name: str
    width: int | None = None
    height: int | None = None
    index: int = 0


@dataclass(frozen=True)
class ImageMap:
    """An ``--image-map`` file read once (:func:`read_image_map`).

    ``images``: its entries in file order. ``categories``: ``{id: name}`` from a COCO file's
    ``categories`` list (empty for a plain map or a file without one). ``is_coco``: whether it
    is a COCO ground-truth file (an object with an ``images`` list).
    """

    path: Path
    images: tuple[CocoImage, ...]
    categories: dict[int, str]
    is_coco: bool

    def file_names(self) -> dict[ImageId, str]:
        """``{id: file_name}`` with the ids as written."""
        return {im.id: im.file_name for im in self.images}

    def get(self, image_id: ImageId) -> CocoImage | None:
        """The entry for ``image_id``, matched by :func:`image_id_key` (``139`` finds
        ``"139"`` and back), or None."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {image_id_key(im.id): im for im in self.images}
            object.__setattr__(self, "_index", index)
        return index.get(image_id_key(image_id))


def _image_size(e: dict, key: str, where: str) -> int | None:
    v = e.get(key)
    if v is None:
        return None
    n = _json_uint(v, MAX_CLASS_ID)
    if n is None or n == 0:
        raise InputError(f"{where}: {key} must be a positive integer, got {_show(v)}")
    return n


def _file_name(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v or not _valid_text(v):
        raise InputError(f"{where}: file_name must be a non-empty string, got {_show(v)}")
    return v


def _read_categories(data: dict, path: Path) -> dict[int, str]:
    cats = data.get("categories")
    if cats is None:
        return {}
    if not isinstance(cats, list):
        raise InputError(f"{path}: 'categories' must be a list, got {_json_type(cats)}")
    out: dict[int, str] = {}
    index: dict[int, int] = {}
    for i, c in enumerate(cats):
        where = f"{path}: categories[{i}]"
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise InputError(f"{where}: expected an object with 'id' and 'name'")
        cid = _json_uint(c["id"], MAX_CLASS_ID)
        if cid is None:
            raise InputError(f"{where}: id must be an integer from 0 to {MAX_CLASS_ID}, "
                             f"got {_show(c['id'])}")
        name = c["name"]
        if not isinstance(name, str) or not name or not _valid_text(name):
            raise InputError(f"{where}: name must be a non-empty string, got {_show(name)}")
        if cid in out and out[cid] != name:
            raise InputError(f"{where}: category id {cid} is already categories[{index[cid]}] "
                             f"({_show(out[cid])}), now {_show(name)}")
        out.setdefault(cid, name)
        index.setdefault(cid, i)
    return out


def read_image_map(path: Path | str) -> ImageMap:
    """Read an ``--image-map`` file: a COCO ground-truth file (an object with an ``images``
    list of ``{"id", "file_name", "width"?, "height"?}``, and optionally ``categories``), or a
    plain JSON object ``{"<image_id>": "<file name>"}``.

    Errors (:class:`InputError`, naming the file and entry): ids as for detections (integers
    from 0 to 2^63-1 or non-empty strings), empty or non-string file names, sizes that are not
    positive integers, the same image id twice (also as ``1`` and ``"1"``), category ids
    outside [0, 2^31-1] or one id with two names, and anything that is neither form.
    """
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict) and "images" in data:
        images = data["images"]
        if not isinstance(images, list):
            raise InputError(f"{path}: 'images' must be a list, got {_json_type(images)}")
        out: list[CocoImage] = []
        seen: dict[ImageId, int] = {}
        for i, e in enumerate(images):
            where = f"{path}: images[{i}]"
            if not isinstance(e, dict) or "id" not in e or "file_name" not in e:
                raise InputError(f"{where}: expected an object with 'id' and 'file_name'")
            image_id = _image_id(e["id"], where, key="id")
            key = image_id_key(image_id)
            if key in seen:
                raise InputError(f"{where}: image id {_show(image_id)} is already "
                                 f"images[{seen[key]}]")
            seen[key] = i
            out.append(CocoImage(image_id, _file_name(e["file_name"], where),
                                 _image_size(e, "width", where), _image_size(e, "height", where),
                                 i))
        return ImageMap(path, tuple(out), _read_categories(data, path), True)
    if isinstance(data, dict):
        if "annotations" in data or "categories" in data:
            raise InputError(f"{path}: a COCO file without an 'images' list cannot map image "
                             "ids to files")
        out = []
        seen = {}
        for i, (key_text, name) in enumerate(data.items()):
            where = f"{path}: entry {_tok(key_text)}"
            image_id = _image_id(key_text, where, key="the key")
            key = image_id_key(image_id)
            if key in seen:  # "1" and 1 cannot both be keys, but keep the rule uniform
                raise InputError(f"{where}: image id {_show(image_id)} appears twice")
            seen[key] = i
            if not isinstance(name, str) or not name or not _valid_text(name):
                raise InputError(f"{where}: file name must be a non-empty string, "
                                 f"got {_show(name)}")
            out.append(CocoImage(image_id, name, None, None, i))
        return ImageMap(path, tuple(out), {}, False)
    raise InputError(
        f"{path}: expected a COCO file with an 'images' list or a JSON object "
        f"{{\"<image_id>\": \"<file name>\"}}, got {_json_type(data)}"
    )


def load_image_map(path: Path | str) -> dict[ImageId, str]:
    """``image_id -> file name`` from a COCO ground-truth file (``images`` list) or a plain
    JSON object ``{"<id>": "<file name>"}`` (:func:`read_image_map`; ids as written)."""
    return read_image_map(path).file_names()


def load_coco_images(path: Path | str) -> list[CocoImage]:
    """The ``images`` entries of an image map (id, file_name, width, height), in file order,
    ids as written, so outputs can reuse the ground truth's ids (:func:`read_image_map`)."""
    return list(read_image_map(path).images)


def load_coco_categories(path: Path | str) -> dict[int, str]:
    """``{category id: name}`` from a COCO ground-truth file's ``categories`` list; ``{}``
    when it has none (or is a plain map). Ids not listed have no name: callers fall back to
    ``str(id)``."""
    return dict(read_image_map(path).categories)


def _is_file(path: Path) -> bool:
    """``path.is_file()`` that is False, not an error, for names the OS refuses (too long,
    NUL, unencodable)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _map_index(mapping: Mapping[Any, str]) -> dict[ImageId, tuple[ImageId, str] | None]:
    """``{image_id_key(id): (id, name)}``; None where two spellings name different files."""
    out: dict[ImageId, tuple[ImageId, str] | None] = {}
    for k, name in mapping.items():
        key = image_id_key(k)
        if key in out and (out[key] is None or out[key][1] != name):  # type: ignore[index]
            out[key] = None
        else:
            out.setdefault(key, (k, name))
    return out


def resolve_coco_images(
    image_ids: Iterable[ImageId],
    images_dir: Path | str,
    image_map: Path | str | ImageMap | Mapping[Any, str] | None = None,
) -> tuple[dict[ImageId, InputItem], list[Problem]]:
    """Image files for COCO image ids: ``{id: InputItem}`` (keys are the ids passed in, ints
    staying ints and strings strings) plus problem messages.

    ``image_map``: a file for :func:`read_image_map`, an :class:`ImageMap`, an already loaded
    ``{id: file name}`` mapping, or ``None`` (the id is the file stem: ``DIR/<id>.<ext>``,
    then ``DIR/<id:012d>.<ext>`` for integer ids; a string id must then be a relative path
    without ``.``, ``..`` or empty parts, so lookups stay inside ``DIR``). Ids match by
    :func:`image_id_key` (``139`` finds ``"139"`` and back; ``"0139"`` is a different id).
    ``InputItem.rel`` is the file name from the map (``\\`` read as ``/``, ``./`` and ``//``
    collapsed), or the found file's path relative to ``images_dir``.

    Problems (the caller reports them, exit 3): ids with no map entry or no file, and ids
    that name the same file (same ``rel``) as another id, e.g. two ``images`` entries with one
    ``file_name``, or ``139`` and ``"000000000139"`` without a map. Such ids are left out, all
    of them, with one message per file naming every id: output image ids are the input's,
    and one image cannot carry two ids, so samcli neither merges nor picks one silently.
    """
    images_dir = Path(images_dir)
    index: dict[ImageId, tuple[ImageId, str] | None] | None
    map_name = ""
    if image_map is None:
        index = None
    elif isinstance(image_map, ImageMap):
        map_name = str(image_map.path)
        index = _map_index(image_map.file_names())
    elif isinstance(image_map, (str, os.PathLike)):
        map_name = str(image_map)
        index = _map_index(read_image_map(Path(image_map)).file_names())
    else:
        map_name = "the image map"
        index = _map_index(image_map)
    found: dict[ImageId, InputItem] = {}
    done: set[ImageId] = set()
    problems: list[Problem] = []

    def problem(image_id: ImageId, message: str) -> None:
        problems.append(Problem(f"image_id {_show(image_id)}", f"image_id {_show(image_id)}: "
                                + message))

    for image_id in image_ids:
        if image_id in done:
            continue
        done.add(image_id)
        key = image_id_key(image_id)
        if index is not None:
            if key not in index:
                problem(image_id, f"not in {map_name}")
                continue
            entry = index[key]
            if entry is None:
                problem(image_id, f"{map_name} names it twice, with different files")
                continue
            name = entry[1]
            rel = PurePosixPath(name.replace("\\", "/")).as_posix()
            path = images_dir / rel
            if not _is_file(path) and rel != name and _is_file(images_dir / name):
                path = images_dir / name
            if not _is_file(path):
                problem(image_id, f"{path}: no such file")
                continue
            found[image_id] = InputItem(path=path, rel=rel, root=images_dir)
            continue
        stems = [str(image_id)]
        if isinstance(key, int):
            stems.append(f"{key:012d}")
        elif "\\" in stems[0] or any(part in ("", ".", "..") for part in stems[0].split("/")):
            # '/etc/x', '../x', '.' (-> '<DIR>.jpg') would leave DIR
            problem(image_id, f"not a file name under {images_dir} (give an image map to name "
                    "the files)")
            continue
        hit = None
        for stem in stems:
            hit = _first_existing(images_dir / stem)
            if hit is not None:
                break
        if hit is None:
            shown = stems[0] if len(stems[0]) <= 60 else stems[0][:50] + "..."
            problem(image_id, f"no image {images_dir / shown}.<jpg|png|...> (give an image map "
                    "to name the files)")
            continue
        rel = PurePosixPath(hit.relative_to(images_dir)).as_posix()
        found[image_id] = InputItem(path=hit, rel=rel, root=images_dir)

    # Two ids, one file: report them all (never keep only the last one's boxes)
    by_rel: dict[str, list[ImageId]] = {}
    for image_id, item in found.items():
        by_rel.setdefault(item.rel, []).append(image_id)
    for rel, ids in by_rel.items():
        if len(ids) < 2:
            continue
        for image_id in ids:
            del found[image_id]
        source = f" in {map_name}" if map_name else ""
        problems.append(Problem(rel, (
            f"{images_dir / rel}: image ids {', '.join(_show(i) for i in ids)} all name this "
            f"file{source}; their boxes are not used (give each image a single id)")))
    return found, problems


# --------------------------------------------------------------------------- class names

#: The class-name list LabelImg and YOLO exporters write next to label files.
CLASSES_TXT = "classes.txt"
#: Dataset YAML files whose ``names:`` is read, in preference order.
DATASET_YAML_NAMES: tuple[str, ...] = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")

_YAML_NAMES_KEY = re.compile(r"""(?:names|'names'|"names")[ \t]*:(?=[ \t]|\Z)(.*)\Z""")
_YAML_DECORATED_NAMES = re.compile(r"""(?:[&!][^ \t]*[ \t]+)+(?:names|'names'|"names")[ \t]*:""")
_YAML_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
                 "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
                 "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_YAML_HEX = {"x": 2, "u": 4, "U": 8}


def _scalar_starts(before: str, flow: bool = False) -> bool:
    """Whether a quote after ``before`` opens a quoted scalar (else it is part of a plain
    one, as in ``it's`` or ``a:'b``): at the start, or after ``:``/``-`` and a blank, or (in
    the line's text) right after ``[``, ``{`` or ``,``."""
    stripped = before.rstrip(" \t")
    if not stripped:
        return True
    if stripped != before and stripped[-1] in ":-":
        return True
    return not flow and stripped[-1] in "[{,"


def _strip_yaml_comment(line: str) -> str:
    """``line`` without a ``#`` comment (one at the start or after a blank, outside quotes)."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote == "'":
            if ch == "'":
                if line[i + 1: i + 2] == "'":
                    i += 2
                    continue
                quote = None
        elif quote == '"':
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                quote = None
        elif ch in "'\"" and _scalar_starts(line[:i]):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
        i += 1
    return line


def _yaml_unescape(body: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise InputError(f"{where}: names: malformed quote in {_tok(body)}")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1: i + 2]
        if esc in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[esc])
            i += 2
        elif esc in _YAML_HEX:
            digits = body[i + 2: i + 2 + _YAML_HEX[esc]]
            if len(digits) != _YAML_HEX[esc] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise InputError(f"{where}: names: bad escape {_tok(body[i:i + 10])}")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise InputError(f"{where}: names: bad escape {_tok(body[i:i + 10])}")
            out.append(chr(code))
            i += 2 + len(digits)
        else:
            raise InputError(f"{where}: names: unknown escape {_tok(body[i:i + 2])}")
    return "".join(out)


def _yaml_scalar(text: str, where: str) -> str | None:
    """A YAML scalar (plain, 'single' or "double" quoted) as text; None for null/empty."""
    t = text.strip(" \t")
    if not t:
        return None
    if t[0] == "'":
        inner = t[1:-1]
        if len(t) < 2 or t[-1] != "'" or "'" in inner.replace("''", ""):
            raise InputError(f"{where}: names: unterminated or malformed quote in {_tok(t)}")
        value = inner.replace("''", "'")
    elif t[0] == '"':
        if len(t) < 2 or t[-1] != '"':
            raise InputError(f"{where}: names: unterminated or malformed quote in {_tok(t)}")
        value = _yaml_unescape(t[1:-1], where)  # a stray '"' or a final lone '\\' raises
    else:
        if t[0] in "&*!|>%@`[]{},?" or t.startswith("- ") or t == "-":
            raise InputError(f"{where}: names: unsupported YAML {_tok(t)} (write the names as "
                             "a list or an 'id: name' mapping of plain or quoted strings)")
        if ": " in t or t.endswith(":") or ":\t" in t:
            raise InputError(f"{where}: names: nested mapping {_tok(t)} is not a name")
        if t in ("~", "null", "Null", "NULL"):
            return None
        value = t
    if not _valid_text(value):
        raise InputError(f"{where}: names: {_tok(value)} is not valid text")
    return value or None  # '' has no name, like a blank classes.txt line


def _yaml_flow(lines: list[str], i: int, start: str, source: str
               ) -> tuple[list[tuple[str, int]], int]:
    """Items of a flow collection ``[...]``/``{...}`` that begins ``start`` (the rest of line
    ``i``) and may span lines: ``[(item text, line index)]`` and the index after its end."""
    closer = "]" if start[0] == "[" else "}"
    items: list[tuple[str, int]] = []
    cur: list[str] = []
    quote = None
    line, s, pos, item_line = i, start, 1, i
    while True:
        if pos >= len(s):
            # YAML line folding: blanks around a line break go; the break becomes a space,
            # or one newline per empty line after it; an escaped break ("...\) joins lines
            text = "".join(cur)
            stripped = text.rstrip(" \t")
            escaped = (quote == '"' and (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1
                       and stripped == text)
            cur = [stripped[:-1] if escaped else stripped]
            empty = 0
            while True:
                line += 1
                if line >= len(lines):
                    raise InputError(f"{source}:{i + 1}: names: {start[0]!r} is never closed")
                s = lines[line]
                if s.strip(" \t"):
                    break
                empty += 1
            pos = len(s) - len(s.lstrip(" \t"))
            if not escaped and (quote is not None or stripped.strip(" \t")):  # in a scalar
                cur.append("\n" * empty if empty else " ")
            continue
        ch = s[pos]
        if quote is not None:
            cur.append(ch)
            if ch == "\\" and quote == '"' and pos + 1 < len(s):
                cur.append(s[pos + 1])
                pos += 2
                continue
            if ch == quote:
                if quote == "'" and s[pos + 1: pos + 2] == "'":
                    cur.append("'")
                    pos += 2
                    continue
                quote = None
            pos += 1
            continue
        if ch in "'\"":
            if _scalar_starts("".join(cur), flow=True):
                quote = ch
        elif ch == "#" and (pos == 0 or s[pos - 1] in " \t" or not "".join(cur).strip(" \t")):
            pos = len(s)  # a comment (at an item's start too: '[a,#c' is how PyYAML reads it)
            continue
        elif ch in "[{":
            raise InputError(f"{source}:{line + 1}: names: nested collections are not supported")
        elif ch == ",":
            items.append(("".join(cur), item_line))
            cur, item_line = [], line
            pos += 1
            continue
        elif ch == closer:
            items.append(("".join(cur), item_line))
            rest = _strip_yaml_comment(s[pos + 1:])
            if rest.strip():
                raise InputError(f"{source}:{line + 1}: names: unexpected {_tok(rest.strip())} "
                                 f"after {closer!r}")
            break
        elif ch in "]}":
            raise InputError(f"{source}:{line + 1}: names: unexpected {ch!r}")
        cur.append(ch)
        pos += 1
    if items and not items[-1][0].strip():  # '[a, b,]' and '[]'
        items.pop()
    return items, line + 1


def _yaml_key(text: str, where: str, seen: dict[int, str]) -> int:
    key = _yaml_scalar(text, where)
    if key is None or not _CANONICAL_INT.match(key) or len(key) > 10 or int(key) > MAX_CLASS_ID:
        raise InputError(f"{where}: names: key {_tok(text.strip())} is not a class id "
                         f"(an integer from 0 to {MAX_CLASS_ID})")
    if int(key) in seen:
        raise InputError(f"{where}: names: class {key} appears twice")
    return int(key)


def _split_pair(text: str, where: str) -> tuple[str, str]:
    """``"0: person"`` -> ``("0", "person")`` (a plain or quoted key, ``:``, a blank)."""
    t = text.strip(" \t")
    end = t.find(t[0], 1) + 1 if t[:1] in ("'", '"') else 0
    colon = t.find(":", end) if end or t[:1] not in ("'", '"') else -1
    if not t or colon <= 0 or (colon + 1 < len(t) and t[colon + 1] not in " \t"):
        raise InputError(f"{where}: names: expected 'id: name', got {_tok(t)}")
    return t[:colon], t[colon + 1:]


def parse_yaml_names(text: str, source: str = "<yaml>") -> dict[int, str] | None:
    """``{id: name}`` from the top-level ``names:`` of a dataset YAML, or None without one.

    The forms ultralytics, YOLOv5 and Roboflow write: a flow list ``names: ['a', "b", c]``
    (may span lines), a block list of ``- name`` lines, a block or flow mapping ``0: name``
    (``{0: a, 1: b}``); plain, 'single' and "double" quoted names; ``#`` comments. A list
    gives ids 0, 1, ...; a null entry (``~``, empty) has no name. Other YAML there (anchors,
    tags, nested collections) and malformed input are an :class:`InputError`
    ``"<source>:<line>: names: ..."``; everything else in the file is ignored.
    """
    lines = _LINE_BREAK.split(text)
    base = 0  # the top-level mapping's indentation: that of the first content line
    for line in lines:
        body = _strip_yaml_comment(line).rstrip(" \t")
        if body.strip(" \t") and not body.startswith(("---", "...", "%")):
            base = len(body) - len(body.lstrip(" "))
            break
    found: int | None = None
    for i, line in enumerate(lines):
        if line[:base].strip(" ") or line[base: base + 1] in (" ", "\t"):
            continue
        m = _YAML_NAMES_KEY.match(line, base)
        if m is None:
            if _YAML_DECORATED_NAMES.match(line, base):
                raise InputError(f"{source}:{i + 1}: names: unsupported YAML (an anchor or tag "
                                 "on the key)")
            continue
        if found is not None:
            raise InputError(f"{source}:{i + 1}: 'names' appears twice (first on line {found + 1})")
        found = i
    if found is None:
        return None
    i = found
    rest = _strip_yaml_comment(_YAML_NAMES_KEY.match(lines[i], base).group(1)).strip(" \t")  # type: ignore[union-attr]
    out: dict[int, str] = {}
    if rest.startswith(("[", "{")):
        items, _ = _yaml_flow(lines, i, rest, source)
        for n, (item, line) in enumerate(items):
            where = f"{source}:{line + 1}"
            if rest[0] == "[":
                name = _yaml_scalar(item, where)
                if name is None and not item.strip():
                    raise InputError(f"{where}: names: empty entry in the list")
            else:
                key_text, value = _split_pair(item, where)
                n = _yaml_key(key_text, where, out)
                name = _yaml_scalar(value, where)
            if name is not None:
                out[n] = name
        return out
    if rest:
        _yaml_scalar(rest, f"{source}:{i + 1}")  # unsupported forms raise here
        raise InputError(f"{source}:{i + 1}: names: expected a list or a mapping of class names, "
                         f"got {_tok(rest)}")
    form: str | None = None
    indent = base
    count = 0
    seen_keys: dict[int, str] = {}
    for j in range(i + 1, len(lines)):
        body = _strip_yaml_comment(lines[j]).rstrip(" \t")
        if not body.strip(" \t"):
            continue
        where = f"{source}:{j + 1}"
        ind = len(body) - len(body.lstrip(" "))
        if body[ind] == "\t":
            raise InputError(f"{where}: names: tabs are not allowed for indentation in YAML")
        item = body[ind:]
        is_dash = item == "-" or item.startswith(("- ", "-\t"))
        if ind < indent or (ind == base and not (is_dash and form in (None, "list"))):
            # the end of the block: the next top-level key (anything else would be
            # misread by stopping here, so it is an error)
            if ind != base or item[0] in "|>[]{}&!*'\"?:%@`-,#" and item not in ("---", "..."):
                raise InputError(f"{where}: names: unsupported YAML {_tok(item)} after the names")
            break
        if form is None:
            form, indent = ("list" if is_dash else "map"), ind
        elif ind > indent:
            raise InputError(f"{where}: names: nested values are not supported")
        if form == "list":
            if not is_dash:
                raise InputError(f"{where}: names: expected '- name', got {_tok(item)}")
            name = _yaml_scalar(item[1:], where)
            if name is not None:
                out[count] = name
            count += 1
        else:
            if is_dash:
                raise InputError(f"{where}: names: expected 'id: name', got {_tok(item)}")
            key_text, value = _split_pair(item, where)
            key = _yaml_key(key_text, where, seen_keys)
            seen_keys[key] = value
            name = _yaml_scalar(value, where)
            if name is not None:
                out[key] = name
    return out


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

    First ``classes.txt`` in the label's folder, then in each parent up to ``labels_root``
    (the folder given on the command line, ``InputItem.root``; only the label's own folder
    for a file given directly). Then a dataset YAML (``data.yaml``, ``data.yml``,
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
        if _is_file(d / CLASSES_TXT):
            return d / CLASSES_TXT
    parts = label_path.absolute().parts[:-1]
    idx = max((i for i, p in enumerate(parts) if p == "labels"), default=None)
    if idx is not None and idx > 0:
        ds_root = Path(*parts[:idx])
        for d in (ds_root, ds_root.parent) if ds_root.parent != ds_root else (ds_root,):
            for name in DATASET_YAML_NAMES:
                if _is_file(d / name):
                    return d / name
    return None


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
