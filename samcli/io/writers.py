"""Proposal records and the output writers (jsonl, coco, yolo, geojson, crops, preview).

Records
-------
:func:`proposal_records` is the one place where the SPEC's JSON Lines records are made. Keys, in
this order: ``image, width, height, id, bbox, area, predicted_iou, stability_score, point,
crop_box, segmentation``, then ``tiles`` (tiled runs only: the tile boxes ``[x, y, w, h]`` the
proposal came from), then the ``ImageResult.extras`` keys in their order. Masks with no
pixels are dropped *before* numbering, so ids are always ``0..n-1`` (and
:func:`kept_indices` tells a writer which masks of the ``MaskSet`` the records are). Scores are
rounded to 6 decimals, ``point`` to 2 (``null`` when the mask had no point prompt), polygon
coordinates are ints for exact polygons and rounded to 2 decimals once simplified.

Output naming (``-o DIR``)
--------------------------
Output files mirror the ``image`` path (the path relative to its input root). Per-image files
keep the image's whole file name and add the format's suffix, so ``a.jpg`` and ``a.png`` in one
folder, and ``x/a.jpg`` and ``y/a.jpg`` in two, never collide:

==========  ==========================================================================
jsonl       ``DIR/<image>.jsonl`` (``DIR/sub/a.jpg.jsonl``), one record per line
geojson     ``DIR/<image>.geojson``, one FeatureCollection (pixels; in the image's CRS with
            ``geo``, see :class:`GeoJsonWriter`)
coco        ``DIR/annotations.json`` for the run, built by ``finish`` from per-image parts
            ``DIR/.samcli/coco/<image>.json``
yolo        ``DIR/<image dir>/<image stem>.txt`` (the YOLO convention); two images whose
            labels would be the same file (``a.jpg`` + ``a.png``) are an ``InputError``
crops       ``CROPS/<image>/<id>.png``: RGBA chip of the mask's box, alpha = mask
preview     ``PREVIEW/<image>.jpg``: the image with filled, outlined, numbered masks
==========  ==========================================================================

``image`` is made safe as a relative path first (:func:`output_relpath`): backslashes count as
``/``, a leading ``/`` is dropped, empty and ``.`` parts are skipped and ``..`` parts become
``__``, so no output ever lands outside its folder.

Every file is written atomically (:func:`atomic_write_bytes`: a temporary file in the same
folder, fsync, ``os.replace``), so an interrupted run never leaves a half-written output.

Writer interface
----------------
``check_inputs(images)`` (optional, before any work: name clashes), ``outputs_for(image)``
(the paths the writer owns for that image), ``write(result, records) -> [paths written]``
(once per image) and ``finish(done_images)`` (once per run, with every image done so far,
this run or earlier, for whole-run files such as COCO's ``annotations.json``).
``needs_rgb`` tells the runner to keep the decoded image in ``ImageResult.rgb``.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence, TextIO

import cv2
import numpy as np

from samcli.config import DEFAULT_SIMPLIFY
from samcli.errors import ConfigError, InputError, SamcliError, UsageError
from samcli.geometry import geometry_to_yolo_ring, mask_to_geometry
from samcli.io.geo import GEO_FORMAT_MESSAGE, GeoRef, image_georef, require_rasterio
from samcli.results import ImageResult
from samcli.rle import rle_to_json

RECORD_KEYS = (
    "image",
    "width",
    "height",
    "id",
    "bbox",
    "area",
    "predicted_iou",
    "stability_score",
    "point",
    "crop_box",
    "segmentation",
)
FORMATS = ("jsonl", "coco", "yolo", "geojson")
DEFAULT_CATEGORIES = ({"id": 1, "name": "object"},)
COCO_FILE = "annotations.json"
STATE_DIR = ".samcli"

_COMPACT = (",", ":")


# --------------------------------------------------------------------------------------------
# atomic files


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    Creates missing parent folders. On any error the temporary file is removed and ``path`` is
    left as it was. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort; not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=_COMPACT, ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------------------------
# records


def _jsonable(v: Any) -> Any:
    """numpy scalars/arrays, tuples and NaN -> plain JSON values."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if not math.isfinite(f) else f
    if isinstance(v, Path):
        return v.as_posix()
    return v


def _round(v: Any, ndigits: int) -> float | None:
    f = float(v)
    return round(f, ndigits) if math.isfinite(f) else None


def kept_indices(result: ImageResult) -> np.ndarray:
    """Indices into ``result.masks`` of the masks that get records (non-empty ones), in order.

    Record ``id`` k describes mask ``kept_indices(result)[k]``.
    """
    return np.flatnonzero(np.asarray(result.masks.areas) > 0)


def proposal_records(
    result: ImageResult,
    simplify: float = DEFAULT_SIMPLIFY,
    max_vertices: int | None = None,
) -> list[dict]:
    """The JSON Lines records of one image (see the module docstring for keys and rounding).

    ``simplify`` and ``max_vertices`` go to :func:`samcli.geometry.mask_to_geometry`
    (``max_vertices`` 0 or None: no limit). Empty masks are dropped before numbering.
    """
    ms = result.masks
    if max_vertices is not None and max_vertices <= 0:
        max_vertices = None
    bbox = ms.bbox_xywh
    records: list[dict] = []
    for i in kept_indices(result):
        i = int(i)
        window, x0, y0 = ms.window(i)
        geom = mask_to_geometry(window, simplify, max_vertices, offset=(x0, y0))
        if geom is None:  # cannot happen for a non-empty mask; keep ids contiguous anyway
            continue
        px, py = (float(v) for v in ms.points[i])
        point = [round(px, 2), round(py, 2)] if math.isfinite(px) and math.isfinite(py) else None
        x1, y1, x2, y2 = (int(v) for v in ms.crop_boxes[i])
        rec = {
            "image": result.image,
            "width": int(result.width),
            "height": int(result.height),
            "id": len(records),
            "bbox": [int(v) for v in bbox[i]],
            "area": int(ms.areas[i]),
            "predicted_iou": _round(ms.predicted_iou[i], 6),
            "stability_score": _round(ms.stability_score[i], 6),
            "point": point,
            "crop_box": [x1, y1, x2 - x1, y2 - y1],
            "segmentation": geom,
        }
        if ms.tiles is not None:  # tiled run: the tile boxes [x, y, w, h] it came from
            rec["tiles"] = [[t[0], t[1], t[2] - t[0], t[3] - t[1]] for t in ms.tiles[i]]
        if result.extras:
            for key, value in result.extras[i].items():
                if key in rec:
                    raise ValueError(f"extra field {key!r} would replace a standard record key")
                rec[key] = _jsonable(value)
        records.append(rec)
    return records


# --------------------------------------------------------------------------------------------
# paths


def output_relpath(image: str) -> PurePosixPath:
    """The ``image`` field as a safe relative POSIX path for outputs (see module docstring)."""
    parts = []
    for part in str(image).replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        parts.append("__" if part == ".." else part)
    if not parts:
        raise InputError(f"cannot name output files for image {image!r}")
    return PurePosixPath(*parts)


def _with_suffix(root: Path, image: str, suffix: str) -> Path:
    rel = output_relpath(image)
    return root.joinpath(*rel.parent.parts, rel.name + suffix)


# --------------------------------------------------------------------------------------------
# writers


class Writer:
    """Base class; see the module docstring for the protocol."""

    #: Whether ``write`` needs ``ImageResult.rgb`` (the decoded image).
    needs_rgb = False

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def check_inputs(self, images: Iterable[str]) -> None:
        """Raise before any work if ``images`` would overwrite one another's outputs."""
        owners: dict[str, str] = {}
        for image in images:
            for p in self.outputs_for(image):
                other = owners.setdefault(str(p), image)
                if other != image:
                    raise InputError(_clash_message(other, image, p))

    def outputs_for(self, image: str) -> list[Path]:
        """Paths (files, or a folder for crops) this writer owns for ``image``."""
        return []

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        """Write one image's outputs; returns the files written."""
        raise NotImplementedError

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        """Whole-run outputs from every image done (this run or before); returns files written."""
        return []

    def _claim(self, image: str) -> None:
        """Refuse a second, different image whose outputs would land on the same paths."""
        for p in self.outputs_for(image):
            other = self._seen.setdefault(str(p), image)
            if other != image:
                raise InputError(_clash_message(other, image, p))


def _clash_message(a: str, b: str, path: Path) -> str:
    return (
        f"{b}: its output {path} would overwrite the one of {a}; rename one of the two images "
        "or use another output format"
    )


class JsonlStdoutWriter(Writer):
    """Records as JSON Lines on a text stream (stdout by default), flushed after each image."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        stream = self.stream if self.stream is not None else sys.stdout
        if records:
            stream.write("".join(_dumps(r) + "\n" for r in records))
        stream.flush()
        return []


class _TextFileWriter(Writer):
    """One text file per image under ``root``; subclasses set ``suffix`` and ``render``."""

    suffix = ""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        return [_with_suffix(self.root, image, self.suffix)]

    def render(self, result: ImageResult, records: Sequence[dict]) -> str:
        raise NotImplementedError

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        self._claim(result.image)
        text = self.render(result, records)
        return [atomic_write_text(self.outputs_for(result.image)[0], text)]


class JsonlWriter(_TextFileWriter):
    """``DIR/<image>.jsonl``: the image's records, one a line (an empty file for none)."""

    suffix = ".jsonl"

    def render(self, result: ImageResult, records: Sequence[dict]) -> str:
        return "".join(_dumps(r) + "\n" for r in records)


class GeoJsonWriter(_TextFileWriter):
    """``DIR/<image>.geojson``: a FeatureCollection in pixel coordinates (y down).

    ``geo=True`` (``--geo``, needs rasterio): an image with a georeference
    (:func:`samcli.io.geo.image_georef`: CRS + geotransform, orientation 1) gets its
    geometries in the image's CRS instead (:func:`samcli.io.geo.transform_geometry`; the
    properties ``bbox``, ``area``, ``point``, ``crop_box`` stay in pixels), a top-level
    ``"crs"`` member of the 2008 GeoJSON form that GDAL and QGIS read (``urn:ogc:def:crs:EPSG::
    <code>``, ``OGC:1.3:CRS84`` for EPSG:4326; left out for a CRS without an EPSG code), and
    ``"samcli": {"crs": "EPSG:<code>" (or the WKT), ..., "transform": [a, b, c, d, e, f]}``.
    An image without one is written in pixels as without ``geo``, with ``"transform": null``
    added to the ``"samcli"`` member, and :meth:`finish` names such images in one warning
    (``warn``; default: a ``Warning:`` line on stderr). Without ``geo`` the output is exactly
    what it was before ``--geo`` existed.
    """

    suffix = ".geojson"

    def __init__(self, root: Path, geo: bool = False,
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__(root)
        self.geo = bool(geo)
        if self.geo:
            require_rasterio()
        self._warn = warn
        self._pixel_only: list[str] = []

    def render(self, result: ImageResult, records: Sequence[dict]) -> str:
        georef = None
        if self.geo:
            georef = image_georef(result.source, result.width, result.height)
            if georef is None:
                self._pixel_only.append(result.image)
        features = [
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": r["segmentation"] if georef is None
                else georef.apply(r["segmentation"]),
                "properties": {k: v for k, v in r.items() if k != "segmentation"},
            }
            for r in records
        ]
        if georef is not None:
            return _dumps(_geo_collection(result, georef, features)) + "\n"
        doc = {
            "type": "FeatureCollection",
            "samcli": {
                "crs": "pixel",
                "image": result.image,
                "width": int(result.width),
                "height": int(result.height),
                "convention": "x right, y down, in pixels; pixel (col, row) is the square "
                "[col, col+1] x [row, row+1]; not WGS84",
            },
            "features": features,
        }
        if self.geo:  # asked for, none found: say so in the file
            doc["samcli"]["transform"] = None
        return _dumps(doc) + "\n"

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        if self._pixel_only:
            names = self._pixel_only
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            listed = ", ".join(names[:3]) + more
            message = (f"--geo: {len(names)} image(s) without a georeference (CRS and "
                       f"geotransform) written in pixel coordinates: {listed}")
            if self._warn is not None:
                self._warn(message)
            else:
                print(f"Warning: {message}", file=sys.stderr, flush=True)
            self._pixel_only = []
        return []


def _geo_collection(result: ImageResult, georef: GeoRef, features: list[dict]) -> dict:
    """The FeatureCollection of an image written in its CRS (see :class:`GeoJsonWriter`)."""
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if georef.epsg is not None:
        name = ("urn:ogc:def:crs:OGC:1.3:CRS84" if georef.epsg == 4326
                else f"urn:ogc:def:crs:EPSG::{georef.epsg}")
        doc["crs"] = {"type": "name", "properties": {"name": name}}
    doc["samcli"] = {
        "crs": georef.crs,
        "image": result.image,
        "width": int(result.width),
        "height": int(result.height),
        "transform": list(georef.transform),
        "convention": "coordinates in the image's CRS (crs; not WGS84 unless that is it), "
        "x east, y north as in its geotransform: the pixel corner (x, y) (x right, y down; "
        "pixel (col, row) is the square [col, col+1] x [row, row+1]) is the CRS point "
        "(a*x + b*y + c, d*x + e*y + f) for transform [a, b, c, d, e, f]; the properties "
        "bbox, area, point and crop_box stay in pixels",
    }
    doc["features"] = features
    return doc


class YoloWriter(Writer):
    """``DIR/<image dir>/<stem>.txt``: YOLO segment rows ``class x1 y1 x2 y2 ...``.

    Coordinates are divided by the image width/height, clipped to [0, 1], 6 decimals. The class
    is the record's ``class`` field (from-boxes), else 0. Parts and holes are bridged into one
    ring (:func:`samcli.geometry.geometry_to_yolo_ring`). A mask whose ring has fewer than 3
    distinct points after rounding is left out. An image without proposals gets an empty file.
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        rel = output_relpath(image)
        stem = PurePosixPath(rel.name).stem or rel.name
        return [self.root.joinpath(*rel.parent.parts, stem + ".txt")]

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        self._claim(result.image)
        w, h = float(result.width), float(result.height)
        rows = []
        for r in records:
            ring = geometry_to_yolo_ring(r["segmentation"])
            if len(ring) < 3:
                continue
            xy = np.clip(ring / np.array([w, h]), 0.0, 1.0)
            xy = np.round(xy, 6)
            xy = xy[np.any(xy != np.roll(xy, 1, axis=0), axis=1)] if len(xy) > 1 else xy
            if len(np.unique(xy, axis=0)) < 3:
                continue
            cls = r.get("class")
            cls = int(cls) if cls is not None else 0
            rows.append(f"{cls} " + " ".join(f"{v:.6f}" for v in xy.ravel()))
        text = "".join(row + "\n" for row in rows)
        return [atomic_write_text(self.outputs_for(result.image)[0], text)]


class CocoWriter(Writer):
    """``DIR/annotations.json`` (COCO instances with compressed RLE), resumable.

    Each image's part (its ``images`` entry and annotations, without ids) is written atomically
    to ``DIR/.samcli/coco/<image>.json``; :meth:`finish` builds ``annotations.json`` from the
    parts of all done images, sorted by image path, with image ids ``1..N`` and annotation ids
    ``1..M`` in that order, so an interrupted and resumed run gives the very same file.

    Annotations: ``id, image_id, category_id, segmentation`` (``{"size": [h, w], "counts":
    str}``), ``area`` (mask pixels), ``bbox`` ``[x, y, w, h]``, ``score`` (mean of predicted IoU
    and stability score), ``iscrowd`` 0, then ``predicted_iou, stability_score, point,
    crop_box`` and the record's extra fields. ``category_id`` is the record's ``class`` when it
    has one (from-boxes), else the first category's id. ``categories`` come from the caller
    (default ``[{"id": 1, "name": "object"}]``); a class used but not listed is added as
    ``{"id": c, "name": "<c>"}``.
    """

    def __init__(self, root: Path, categories: Sequence[dict] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        cats = [dict(c) for c in DEFAULT_CATEGORIES] if categories is None else list(categories)
        self.categories = [_jsonable(dict(c)) for c in cats]

    def part_path(self, image: str) -> Path:
        return _with_suffix(self.root / STATE_DIR / "coco", image, ".json")

    def outputs_for(self, image: str) -> list[Path]:
        return [self.part_path(image)]

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        self._claim(result.image)
        idx = kept_indices(result)
        if len(idx) != len(records):
            raise ValueError(f"{len(records)} records for {len(idx)} non-empty masks")
        ms = result.masks
        default_cat = int(self.categories[0]["id"]) if self.categories else 1
        anns = []
        for rec, i in zip(records, idx):
            extras = {k: v for k, v in rec.items() if k not in RECORD_KEYS}
            cls = extras.get("class")
            piou, stab = float(ms.predicted_iou[i]), float(ms.stability_score[i])
            ann = {
                "category_id": int(cls) if cls is not None else default_cat,
                "segmentation": rle_to_json(ms.rles[int(i)]),
                "area": rec["area"],
                "bbox": rec["bbox"],
                "score": _round((piou + stab) / 2, 6),
                "iscrowd": 0,
                "predicted_iou": rec["predicted_iou"],
                "stability_score": rec["stability_score"],
                "point": rec["point"],
                "crop_box": rec["crop_box"],
            }
            ann.update(extras)
            anns.append(ann)
        part = {
            "image": {
                "file_name": result.image,
                "width": int(result.width),
                "height": int(result.height),
            },
            "annotations": anns,
        }
        return [atomic_write_text(self.part_path(result.image), _dumps(part))]

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        images, annotations = [], []
        used: set[int] = set()
        for image_id, image in enumerate(sorted(set(done_images)), start=1):
            path = self.part_path(image)
            try:
                part = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise SamcliError(
                    f"COCO output: the part file for {image} ({path}) is missing; "
                    "rerun with --overwrite to redo it"
                ) from None
            except (OSError, ValueError) as exc:
                raise SamcliError(f"COCO output: cannot read {path}: {exc}") from None
            images.append({"id": image_id, **part["image"]})
            for ann in part["annotations"]:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
                used.add(int(ann["category_id"]))
        categories = list(self.categories)
        known = {int(c["id"]) for c in categories}
        categories += [{"id": c, "name": str(c)} for c in sorted(used - known)]
        doc = {
            "info": {"description": "samcli mask proposals"},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        return [atomic_write_text(self.root / COCO_FILE, _dumps(doc) + "\n")]


def _color(i: int) -> tuple[int, int, int]:
    """A distinct, deterministic RGB colour for proposal ``i`` (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.8, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _require_rgb(result: ImageResult, what: str) -> np.ndarray:
    if result.rgb is None:
        raise ValueError(f"{what} need the decoded image (ImageResult.rgb is None)")
    rgb = np.asarray(result.rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"ImageResult.rgb must be uint8 (h, w, 3), got {rgb.dtype} {rgb.shape}")
    return rgb


class CropsWriter(Writer):
    """``CROPS/<image>/<id>.png``: the mask's tight box cut from the image, RGBA, alpha = mask.

    Chips of an earlier run of the same image with ids that no longer exist are removed.
    """

    needs_rgb = True
    _NAME = re.compile(r"^\d+\.png$")

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        rel = output_relpath(image)
        return [self.root.joinpath(*rel.parts)]

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        self._claim(result.image)
        rgb = _require_rgb(result, "crops")
        folder = self.outputs_for(result.image)[0]
        written = []
        for rec, i in zip(records, kept_indices(result)):
            x, y, w, h = rec["bbox"]
            m = result.masks.window(int(i))[0]
            chip = np.dstack([rgb[y : y + h, x : x + w][:, :, ::-1], m.astype(np.uint8) * 255])
            ok, buf = cv2.imencode(".png", chip)
            if not ok:
                raise SamcliError(f"could not encode the crop {rec['id']} of {result.image}")
            written.append(atomic_write_bytes(folder / f"{rec['id']}.png", buf.tobytes()))
        keep = {p.name for p in written}
        if folder.is_dir():
            for p in folder.iterdir():
                if self._NAME.match(p.name) and p.name not in keep:
                    try:
                        p.unlink()
                    except OSError:
                        pass
        return written


class PreviewWriter(Writer):
    """``PREVIEW/<image>.jpg``: the image with each proposal filled (semi-transparent),
    outlined and labelled with its id; larger masks are drawn first so small ones stay visible.
    """

    needs_rgb = True
    suffix = ".jpg"
    alpha = 0.45

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        return [_with_suffix(self.root, image, self.suffix)]

    def write(self, result: ImageResult, records: Sequence[dict]) -> list[Path]:
        self._claim(result.image)
        rgb = _require_rgb(result, "previews")
        out = np.ascontiguousarray(rgb[:, :, ::-1])  # BGR copy for OpenCV
        side = min(result.width, result.height)
        thick = max(1, round(side / 500))
        order = sorted(zip(records, kept_indices(result)), key=lambda t: -t[0]["area"])
        outlines = []
        for rec, i in order:
            x, y, w, h = rec["bbox"]
            m = result.masks.window(int(i))[0]
            bgr = np.array(_color(rec["id"])[::-1], np.float32)
            region = out[y : y + h, x : x + w]  # a view: writes go to ``out``
            region[m] = (region[m] * (1 - self.alpha) + bgr * self.alpha + 0.5).astype(np.uint8)
            contours, _ = cv2.findContours(
                m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x, y)
            )
            outlines.append((contours, tuple(int(c) for c in bgr)))
        for contours, color in outlines:
            cv2.drawContours(out, contours, -1, color, thick, cv2.LINE_AA)
        scale = max(0.4, side / 900)
        for rec, (px, py) in zip(order, _label_points(result, order)):
            text = str(rec[0]["id"])
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            org = (int(px - tw / 2), int(py + th / 2))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2,
                        cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                        cv2.LINE_AA)
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise SamcliError(f"could not encode the preview of {result.image}")
        return [atomic_write_bytes(self.outputs_for(result.image)[0], buf.tobytes())]


def _label_points(result: ImageResult, order: list) -> list[tuple[float, float]]:
    """Where to print each id: the point of the mask farthest from its edge, avoiding the
    smaller masks drawn over it where possible (so nested masks get separate labels)."""
    covered = np.zeros((result.height, result.width), bool)
    points: dict[int, tuple[float, float]] = {}
    for rec, i in reversed(order):  # smallest first
        x, y, w, h = rec["bbox"]
        m = result.masks.mask(int(i))
        free = m & ~covered
        region = (free if free.any() else m)[y : y + h, x : x + w]
        dist = cv2.distanceTransform(
            np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
        )
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
        points[rec["id"]] = (x + c - 1 + 0.5, y + r - 1 + 0.5)
        covered |= m
    return [points[rec["id"]] for rec, _ in order]


# --------------------------------------------------------------------------------------------
# factory


def make_writers(
    output_dir: Path | None,
    fmt: str = "jsonl",
    crops_dir: Path | None = None,
    preview_dir: Path | None = None,
    categories: Sequence[dict] | None = None,
    geo: bool = False,
) -> list[Writer]:
    """The file writers of a run: ``fmt`` under ``output_dir`` (if given), then crops, preview.

    With ``output_dir`` None no format writer is made (records go to stdout: the caller adds a
    :class:`JsonlStdoutWriter`), and ``fmt`` must be ``jsonl``. ``geo``: GeoJSON in each
    image's CRS (:class:`GeoJsonWriter`); only with ``fmt`` geojson (else ConfigError).
    """
    fmt = (fmt or "jsonl").lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if geo and fmt != "geojson":
        raise ConfigError(GEO_FORMAT_MESSAGE)
    writers: list[Writer] = []
    if output_dir is None:
        if fmt != "jsonl":
            raise UsageError(f"--format {fmt} writes files: give a folder with -o")
    else:
        root = Path(output_dir)
        if fmt == "jsonl":
            writers.append(JsonlWriter(root))
        elif fmt == "geojson":
            writers.append(GeoJsonWriter(root, geo=geo))
        elif fmt == "yolo":
            writers.append(YoloWriter(root))
        else:
            writers.append(CocoWriter(root, categories))
    if crops_dir is not None:
        writers.append(CropsWriter(Path(crops_dir)))
    if preview_dir is not None:
        writers.append(PreviewWriter(Path(preview_dir)))
    return writers
