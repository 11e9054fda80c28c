"""Detector boxes for ``from-boxes``: YOLO label files and COCO detection results.

YOLO box labels (:func:`parse_yolo_labels`)
    One box a row: ``class cx cy w h [conf [track_id]]`` (5, 6 or 7 columns; ultralytics'
    ``save_conf`` appends the confidence, tracking appends an id). Coordinates are normalised
    to the image width and height. Lines end with ``\n``, ``\r\n`` or a lone ``\r``; fields
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

COCO detection results (:func:`parse_coco_dets`)
    The results format: a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}`` in pixels (extra keys ignored; ``score`` optional). A ground-truth style
    object with an ``annotations`` list is accepted too. Images are found by
    :func:`resolve_coco_images` from ``--images DIR`` plus an image map (a COCO ground-truth
    file's ``images`` list of ``{"id", "file_name"}``, or a plain JSON object
    ``{"<image_id>": "<file name>"}``), or, with no map, by the id itself as the file stem
    (``DIR/139.jpg``, then COCO's zero-padded ``DIR/000000000139.jpg``).
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
from samcli.io.inputs import InputItem, walk_inputs

__all__ = [
    "LABEL_SKIP_NAMES",
    "BoxLabel",
    "CocoDet",
    "ImageId",
    "PixelBoxes",
    "boxes_to_pixels",
    "clip_boxes",
    "coco_dets_to_xyxy",
    "collect_label_files",
    "find_image_for_label",
    "image_candidates",
    "load_image_map",
    "parse_coco_dets",
    "parse_yolo_labels",
    "resolve_coco_images",
]

#: Files skipped when walking label folders (case-insensitive).
LABEL_SKIP_NAMES: tuple[str, ...] = ("classes.txt", "predefined_classes.txt")

ImageId = Union[int, str]

#: Largest class id, COCO category id and track id (int32 max: survives int32 and int64 arrays,
#: JSON readers that use int32, and float64 exactly).
MAX_CLASS_ID = 2**31 - 1

# A plain ASCII decimal numeral: groups (integer digits, fraction digits, fraction digits
# without integer part, exponent). ``re.ASCII``: ``\d`` must not match '٣' or '３'.
_NUMBER = re.compile(r"[+-]?(?:(\d+)\.?(\d*)|\.(\d+))(?:[eE]([+-]?\d+))?\Z", re.ASCII)
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
        if cand.is_file():
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
) -> tuple[list[InputItem], list[str]]:
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


@dataclass(frozen=True)
class CocoDet:
    """One COCO detection: ``bbox`` is ``(x, y, w, h)`` in pixels; ``index`` its list position."""

    image_id: ImageId
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float | None
    index: int

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


def _load_json(path: Path) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _image_id(v: Any, where: str) -> ImageId:
    if isinstance(v, bool) or v is None:
        raise InputError(f"{where}: image_id must be an integer or a string, got {json.dumps(v)}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v != "":
        return v
    raise InputError(f"{where}: image_id must be an integer or a string, got {json.dumps(v)}")


def _coco_entry(e: Any, i: int, path: Path) -> CocoDet:
    where = f"{path}: entry {i}"
    if not isinstance(e, dict):
        raise InputError(f"{where}: expected an object, got {type(e).__name__}")
    for key in ("image_id", "category_id", "bbox"):
        if key not in e:
            raise InputError(f"{where}: missing {key!r}")
    image_id = _image_id(e["image_id"], where)
    cat = e["category_id"]
    if not _is_number(cat) or not math.isfinite(cat) or not float(cat).is_integer():
        raise InputError(f"{where}: category_id must be an integer, got {json.dumps(cat)}")
    bbox = e["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(v) and math.isfinite(v) for v in bbox)
    ):
        raise InputError(f"{where}: bbox must be [x, y, width, height] (4 finite numbers), "
                         f"got {json.dumps(bbox)[:80]}")
    score = e.get("score")
    if score is not None and (not _is_number(score) or not math.isfinite(score)):
        raise InputError(f"{where}: score must be a finite number, got {json.dumps(score)}")
    return CocoDet(
        image_id=image_id,
        category_id=int(cat),
        bbox=tuple(float(v) for v in bbox),  # type: ignore[arg-type]
        score=None if score is None else float(score),
        index=i,
    )


def parse_coco_dets(path: Path | str) -> dict[ImageId, list[CocoDet]]:
    """COCO detection results grouped by ``image_id`` (ids in first-seen order, entries in
    file order). A bad entry raises :class:`InputError` ``"<file>: entry <i>: ..."`` (``i``
    counts from 0, the list index)."""
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        entries = data["annotations"]
    elif isinstance(data, list):
        entries = data
    else:
        raise InputError(
            f"{path}: expected a JSON list of detections "
            "({'image_id', 'category_id', 'bbox', 'score'}) or an object with 'annotations'"
        )
    out: dict[ImageId, list[CocoDet]] = {}
    for i, e in enumerate(entries):
        det = _coco_entry(e, i, path)
        out.setdefault(det.image_id, []).append(det)
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


def load_image_map(path: Path | str) -> dict[ImageId, str]:
    """``image_id -> file name`` from a COCO ground-truth file (``images`` list) or a plain
    JSON object ``{"<id>": "<file name>"}``. Raises :class:`InputError` naming the entry."""
    path = Path(path)
    data = _load_json(path)
    out: dict[ImageId, str] = {}
    if isinstance(data, dict) and "images" in data:
        images = data["images"]
        if not isinstance(images, list):
            raise InputError(f"{path}: 'images' must be a list")
        for i, e in enumerate(images):
            where = f"{path}: images[{i}]"
            if not isinstance(e, dict) or "id" not in e or "file_name" not in e:
                raise InputError(f"{where}: expected an object with 'id' and 'file_name'")
            name = e["file_name"]
            if not isinstance(name, str) or not name:
                raise InputError(f"{where}: file_name must be a non-empty string")
            out[_image_id(e["id"], where)] = name
        return out
    if isinstance(data, dict):
        for key, name in data.items():
            if not isinstance(name, str) or not name:
                raise InputError(f"{path}: entry {key!r}: file name must be a non-empty string")
            out[key] = name
        return out
    raise InputError(
        f"{path}: expected a COCO file with an 'images' list or a JSON object "
        "{\"<image_id>\": \"<file name>\"}"
    )


def _lookup(mapping: Mapping[Any, str], image_id: ImageId) -> str | None:
    if image_id in mapping:
        return mapping[image_id]
    alt: ImageId | None = None
    if isinstance(image_id, int):
        alt = str(image_id)
    elif isinstance(image_id, str) and re.fullmatch(r"-?\d+", image_id.strip()):
        alt = int(image_id)
    if alt is not None and alt in mapping:
        return mapping[alt]
    return None


def resolve_coco_images(
    image_ids: Iterable[ImageId],
    images_dir: Path | str,
    image_map: Path | str | Mapping[Any, str] | None = None,
) -> tuple[dict[ImageId, InputItem], list[str]]:
    """Image files for COCO image ids: ``{id: InputItem}`` plus problem messages.

    ``image_map``: a file for :func:`load_image_map`, an already loaded mapping, or ``None``
    (the id is the file stem: ``DIR/<id>.<ext>``, then ``DIR/<id:012d>.<ext>`` for integer
    ids). Integer ids match string keys and back (``139`` finds ``"139"``). ``InputItem.rel``
    is the file name from the map (or the found file's name), relative to ``images_dir``.
    Ids with no entry or no file become problems (the caller reports them, exit 3).
    """
    images_dir = Path(images_dir)
    mapping: Mapping[Any, str] | None
    map_name = ""
    if image_map is None:
        mapping = None
    elif isinstance(image_map, (str, os.PathLike)):
        map_name = str(image_map)
        mapping = load_image_map(Path(image_map))
    else:
        mapping = image_map
        map_name = "the image map"
    found: dict[ImageId, InputItem] = {}
    problems: list[str] = []
    for image_id in image_ids:
        if image_id in found:
            continue
        if mapping is not None:
            name = _lookup(mapping, image_id)
            if name is None:
                problems.append(f"image_id {image_id!r}: not in {map_name}")
                continue
            path = images_dir / name
            if not path.is_file():
                problems.append(f"image_id {image_id!r}: {path}: no such file")
                continue
            rel = PurePosixPath(name.replace("\\", "/")).as_posix()
            found[image_id] = InputItem(path=path, rel=rel, root=images_dir)
            continue
        stems = [str(image_id)]
        if isinstance(image_id, int) and image_id >= 0:
            stems.append(f"{image_id:012d}")
        hit = None
        for stem in stems:
            hit = _first_existing(images_dir / stem)
            if hit is not None:
                break
        if hit is None:
            problems.append(
                f"image_id {image_id!r}: no image {images_dir / stems[0]}.<jpg|png|...> "
                "(give an image map to name the files)"
            )
            continue
        found[image_id] = InputItem(path=hit, rel=hit.name, root=images_dir)
    return found, problems
