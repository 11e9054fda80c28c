"""The format writers: JSON Lines (stdout or files), GeoJSON, YOLO segments, COCO.

==========  ==========================================================================
jsonl       ``DIR/<image>.jsonl`` (``DIR/sub/a.jpg.jsonl``), one record per line
geojson     ``DIR/<image>.geojson``, one FeatureCollection (pixels; in the image's CRS with
            ``geo``, see :class:`GeoJsonWriter`)
coco        ``DIR/annotations.json`` and ``DIR/results.json`` (detection results for
            ``loadRes``) for the run, built by ``finish`` from per-image parts
            ``DIR/.samcli/coco/<image>.json``
yolo        ``DIR/<image dir>/<image stem>.txt`` (the YOLO convention); two images whose
            labels would be the same file (``a.jpg`` + ``a.png``) are an ``InputError``;
            ``DIR/data.yaml`` for ultralytics, built by ``finish`` with what the per-image
            parts ``DIR/.samcli/yolo/<image>.json`` keep (image folder, class names)
crops       ``CROPS/<image>/<id>.png``: RGBA chip of the mask's box, alpha = mask
preview     ``PREVIEW/<image>.jpg``: the image with filled, outlined, numbered masks
==========  ==========================================================================

Every file is written atomically (:func:`samcli.fs.atomic_write_text`). Paths and the writer
protocol: :mod:`samcli.io.outputs`; the records: :mod:`samcli.io.records`.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

import numpy as np

from samcli.console import warn
from samcli.errors import SamcliError, StdoutClosed
from samcli.fs import atomic_write_files, atomic_write_text
from samcli.geometry import geometry_to_yolo_ring
from samcli.io.geo import GeoRef, image_georef, require_rasterio
from samcli.io.outputs import (STATE_DIR, Writer, names_with_earlier,
                               output_relpath, part_names, read_part, usable_parts,
                               with_suffix)
from samcli.io.yolo_dataset import DATA_YAML, dataset_yaml, image_root, ultralytics_label_path
from samcli.io.records import RECORD_KEYS, dumps, jsonable, kept_indices, proposal_score
from samcli.results import ImageResult
from samcli.rle import rle_to_json

DEFAULT_CATEGORIES = ({"id": 1, "name": "object"},)
COCO_FILE = "annotations.json"
#: COCO detection results beside ``annotations.json``: what ``COCO.loadRes`` takes as it is
RESULTS_FILE = "results.json"


class JsonlStdoutWriter(Writer):
    """Records as JSON Lines on a text stream (stdout by default), flushed after each image.

    When the reader goes away (a closed pipe: ``samcli automask dir | head``), writing raises
    :class:`~samcli.errors.StdoutClosed` (the run ends quietly, exit 141); any other write
    error (``> /dev/full``, a closed descriptor) is a SamcliError that stops the run.
    """

    needs_geometry = True

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def write(self, result: ImageResult) -> list[Path]:
        stream = self.stream if self.stream is not None else sys.stdout
        records = result.records
        try:
            if records:
                _write_utf8(stream, "".join(dumps(r) + "\n" for r in records))
            stream.flush()
        except BrokenPipeError:
            raise StdoutClosed() from None
        except OSError as exc:
            raise SamcliError(f"cannot write records to stdout: {exc.strerror or exc}") from None
        return []


def _write_utf8(stream: TextIO, text: str) -> None:
    """``text`` on ``stream`` as UTF-8 whatever the stream's own encoding (a legacy locale or
    PYTHONIOENCODING would otherwise write a name's non-ASCII letters in Latin-1, say, or
    fail on one it cannot encode): through its byte buffer when it has one."""
    buffer = getattr(stream, "buffer", None)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    if buffer is None or codecs.lookup(encoding).name == "utf-8":
        stream.write(text)
        return
    stream.flush()  # (nothing of the text layer may come after these bytes)
    buffer.write(text.encode("utf-8"))
    buffer.flush()


class _TextFileWriter(Writer):
    """One text file per image under ``root``; subclasses set ``suffix`` and ``render``."""

    suffix = ""
    needs_geometry = True

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        return [with_suffix(self.root, image, self.suffix)]

    def render(self, result: ImageResult) -> str:
        raise NotImplementedError

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        text = self.render(result)
        return [atomic_write_text(self.outputs_for(result.image)[0], text)]


class JsonlWriter(_TextFileWriter):
    """``DIR/<image>.jsonl``: the image's records, one a line (an empty file for none)."""

    suffix = ".jsonl"

    def render(self, result: ImageResult) -> str:
        return "".join(dumps(r) + "\n" for r in result.records)


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

    def render(self, result: ImageResult) -> str:
        georef = None
        if self.geo:
            georef = image_georef(result.source, result.width, result.height)
            if georef is None:
                self._pixel_only.append(result.image)
        return dumps(geojson_document(result, georef, geo_asked=self.geo)) + "\n"

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        if self._pixel_only:
            names = self._pixel_only
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            listed = ", ".join(names[:3]) + more
            message = (f"--geo: this run wrote {len(names)} image(s) without a georeference "
                       f"(CRS and geotransform) in pixel coordinates: {listed}")
            (self._warn or warn)(message)
            self._pixel_only = []
        return []


def geojson_document(result: ImageResult, georef: GeoRef | None = None,
                     geo_asked: bool = False) -> dict:
    """The FeatureCollection of one image (see :class:`GeoJsonWriter`): in pixels, or in the
    image's CRS with ``georef``; ``geo_asked`` without ``georef`` notes ``"transform": null``.
    One feature per record (``id``, ``geometry`` = its ``segmentation``, ``properties`` = the
    other fields)."""
    features = [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": r["segmentation"] if georef is None
            else georef.apply(r["segmentation"]),
            "properties": {k: v for k, v in r.items() if k != "segmentation"},
        }
        for r in result.records
    ]
    if georef is not None:
        return _geo_collection(result, georef, features)
    doc: dict[str, Any] = {
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
    if geo_asked:  # asked for, none found: say so in the file
        doc["samcli"]["transform"] = None
    return doc


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


def yolo_label_text(result: ImageResult) -> str:
    """One image's YOLO segment label file (see :class:`YoloWriter` for the rules): a row
    ``class x1 y1 x2 y2 ...`` (normalised, 6 decimals) per record, ``""`` for none."""
    w, h = float(result.width), float(result.height)
    rows = []
    for r in result.records:
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
    return "".join(row + "\n" for row in rows)


class YoloWriter(Writer):
    """``DIR/<image dir>/<stem>.txt``: YOLO segment rows ``class x1 y1 x2 y2 ...``, and
    ``DIR/data.yaml`` (:mod:`samcli.io.yolo_dataset`) for ultralytics.

    Coordinates are divided by the image width/height, clipped to [0, 1], 6 decimals. The class
    is the record's ``class`` field (from-boxes), else 0. Parts and holes are bridged into one
    ring (:func:`samcli.geometry.geometry_to_yolo_ring`). A mask whose ring has fewer than 3
    distinct points after rounding is left out. An image without proposals gets an empty file.

    :meth:`finish` writes ``data.yaml`` (``path``, ``train``/``val``, ``names`` from ``names``,
    else ``"object"`` for class 0 and ``str(id)``) for every done image, this run's and earlier
    runs' alike, each time (a run resumed with nothing left to do writes the file the run it
    resumes would have written, with this run's class names and, for classes this run does
    not name, the names the images' parts kept), and warns once (``warn``; default a
    ``Warning:`` line on stderr) when ultralytics would not find the labels: its rule puts the
    label of ``.../images/x/a.jpg`` at ``.../labels/x/a.txt``.
    """

    needs_geometry = True

    def __init__(self, root: Path, names: Mapping[int, str] | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.names = dict(names) if names is not None else {0: "object"}
        self._warn = warn
        self._roots: dict[Path, None] = {}
        # (image, source) of this run's first image whose image folder is not known
        self._unknown_root: tuple[str, Path] | None = None
        self._misplaced: list[tuple[Path, Path, Path]] = []  # (image, expected, written)

    def outputs_for(self, image: str) -> list[Path]:
        rel = output_relpath(image)
        stem = PurePosixPath(rel.name).stem or rel.name
        return [self.root.joinpath(*rel.parent.parts, stem + ".txt"), self.part_path(image)]

    def part_path(self, image: str) -> Path:
        """What ``data.yaml`` needs of an image, kept for later runs into this folder: the
        folder its path is relative to and its classes' names."""
        return with_suffix(self.root / STATE_DIR / "yolo", image, ".json")

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        path = self.outputs_for(result.image)[0]
        root = self._note_layout(result, path)
        classes = (int(r.get("class") or 0) for r in result.records)
        # ASCII JSON: a root that is not UTF-8 keeps its undecodable bytes as \udcXX escapes
        part = {"root": None if root is None else str(root),
                "names": part_names(self.names, classes)}
        return [atomic_write_text(path, yolo_label_text(result)),
                atomic_write_text(self.part_path(result.image), json.dumps(part))]

    def _note_layout(self, result: ImageResult, label: Path) -> Path | None:
        root = image_root(result.source, result.image)
        if root is None:
            self._unknown_root = self._unknown_root or (result.image, Path(result.source))
        else:
            self._roots.setdefault(root)
        expected = ultralytics_label_path(Path(os.path.abspath(result.source)))
        if expected != Path(os.path.abspath(label)) and len(self._misplaced) < 3:
            self._misplaced.append((Path(result.source), expected, label))
        return root

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        # made again every time from every done image (this run's and those the parts of
        # earlier runs describe), never kept: a run resumed with nothing left to do writes
        # what the run it resumes would have written, with the class names of this run
        done = sorted(set(done_images))
        written = []
        roots, names = self._earlier(done)
        unknown = self._unknown_root is not None or None in roots
        if not unknown and roots:
            text = dataset_yaml(sorted(r for r in roots if r is not None), done, names,
                                self._classes(done))
            written.append(atomic_write_text(self.root / DATA_YAML, text))
        if self._misplaced or unknown:
            self._say(self._layout_message(unknown))
        self._roots, self._unknown_root, self._misplaced = {}, None, []
        return written

    def _earlier(self, done: list[str]) -> tuple[set[Path | None], dict[int, str]]:
        """The image folders of every done image (this run or before; None: one not known)
        and the class names: this run's, then those the parts kept. An image done by an
        older samcli has no part and adds nothing."""
        roots: set[Path | None] = set(self._roots)
        kept: list[dict] = []
        for image in done:
            try:
                part = json.loads(self.part_path(image).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            roots.add(None if part.get("root") is None else Path(part["root"]))
            kept.append(part.get("names") or {})
        return roots, names_with_earlier(self.names, kept)

    def _classes(self, done: Iterable[str]) -> set[int]:
        """The class ids in the label files of every done image (this run or before)."""
        used: set[int] = set()
        for image in done:
            try:
                text = self.outputs_for(image)[0].read_text(encoding="utf-8")
            except (OSError, ValueError):
                continue
            used.update(int(line.split(" ", 1)[0]) for line in text.splitlines() if line)
        return used

    def _layout_message(self, unknown: bool) -> str:
        """``unknown``: some done image's folder is not known (this run's, or an earlier
        run's by its kept part)."""
        said = []
        if unknown:
            example = ""
            if self._unknown_root is not None:
                image, source = self._unknown_root
                example = f" (such as {source}, whose record path is {image})"
            said.append(f"{self.root / DATA_YAML} not written: the folder that some images' "
                        f"record paths are relative to is not known{example}: an absolute or "
                        "'..' path, a label file named directly, or an image found flat under "
                        "--images DIR. Name the images' (or labels') "
                        "folder as the input for a data.yaml")
        if self._misplaced:
            source, expected, written = self._misplaced[0]
            said.append(f"ultralytics will not find these YOLO labels: it looks for the label "
                        f"of {source} at {expected}, where samcli wrote {written}. Put the images "
                        "under a folder named 'images' and write the labels with -o to its "
                        "sibling 'labels' (README: YOLO datasets)")
        return "; ".join(said)

    def _say(self, message: str) -> None:
        (self._warn or warn)(message)


class CocoWriter(Writer):
    """``DIR/annotations.json`` (COCO instances with compressed RLE) and ``DIR/results.json``
    (the same masks as COCO detection results), resumable.

    Each image's part (its ``images`` entry and annotations, without annotation ids) is
    written atomically to ``DIR/.samcli/coco/<image>.json``; :meth:`finish` builds
    ``annotations.json`` from the parts of all done images, sorted by image path, annotation
    ids ``1..M`` in that order, so an interrupted and resumed run gives the very same file.
    A done image whose part is missing or unreadable (:func:`~samcli.io.outputs.read_part`)
    is left out, with a ``Warning:`` line (``warn``) naming it, its part and the fix, and
    named in :attr:`left_out`; :meth:`files_present` tells the runner to redo an input of
    the run whose part is so.
    Image ids: the input's own (``ImageResult.image_id``: from-boxes with COCO detections
    keeps the ground truth's ids, as written), kept in the part; else ``1..N`` in path order.
    ``width``/``height`` are the decoded image's, the size the masks have.

    Annotations: ``id, image_id, category_id, segmentation`` (``{"size": [h, w], "counts":
    str}``), ``area`` (mask pixels), ``bbox`` ``[x, y, w, h]``, ``score``
    (:func:`samcli.io.records.proposal_score` as ``score`` says: ``sam``, the mean of
    predicted IoU and stability score, for automask; from-boxes' ``--score``), ``iscrowd`` 0,
    then ``predicted_iou, stability_score, point, crop_box`` and the record's extra fields.
    ``category_id`` is the record's ``class`` when it has one (from-boxes), else the first
    category's id. ``categories`` come from the caller (default ``[{"id": 1, "name":
    "object"}]``); a class used but not listed is added with the name an earlier run's part
    kept for it (each part keeps its classes' names), else as ``{"id": c, "name": "<c>"}``.

    ``results.json``: a JSON list of ``{"image_id", "category_id", "segmentation", "score"}``,
    one per annotation, in the same order: ``COCO(gt).loadRes("results.json")`` takes it as
    it is (``loadRes`` wants a list, not ``annotations.json``'s object). It has no ``bbox``:
    given one, ``loadRes`` would take the box's area for the mask's, and COCOeval's area
    ranges would then be wrong.
    """

    def __init__(self, root: Path, categories: Sequence[dict] | None = None,
                 score: str = "sam", warn: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self._warn = warn
        cats = [dict(c) for c in DEFAULT_CATEGORIES] if categories is None else list(categories)
        self.categories = [jsonable(dict(c)) for c in cats]
        self.score = score
        proposal_score(score, 0.0, 0.0)  # an unknown mode fails now, not after the work

    def part_path(self, image: str) -> Path:
        return with_suffix(self.root / STATE_DIR / "coco", image, ".json")

    def outputs_for(self, image: str) -> list[Path]:
        return [self.part_path(image)]

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        part = coco_part(result, self.categories, self.score)
        return [atomic_write_text(self.part_path(result.image), dumps(part))]

    def files_present(self, image: str, proposals: int) -> bool:
        """Whether ``image``'s part is there and can be read back (a part emptied or cut
        short since: the image is redone, not left out of ``annotations.json``)."""
        return read_part(self.part_path(image), check_coco_part)[1] is None

    def _parts(self, done_images: Iterable[str]) -> list[dict]:
        """The parts of ``done_images`` in image order; one missing or unreadable is left out
        with a warning (:attr:`left_out`)."""
        parts, self.left_out = usable_parts(
            done_images, self.part_path, check_coco_part, f"{COCO_FILE} and {RESULTS_FILE}",
            self.root / STATE_DIR / "coco", self._warn or warn)
        given = sum("id" in part["image"] for part in parts)
        if 0 < given < len(parts):
            raise SamcliError("COCO output: some images have their input's ids and some do not "
                              "(parts from another kind of run?); rerun with --overwrite")
        return parts

    def finish(self, done_images: Iterable[str]) -> list[Path]:
        doc, results = coco_documents(self._parts(done_images), self.categories)
        # together: results.json's image ids are annotations.json's (a full disk or a kill
        # while the second is written must not leave one new beside the other old)
        return atomic_write_files([
            (self.root / COCO_FILE, (dumps(doc) + "\n").encode("utf-8")),
            (self.root / RESULTS_FILE,
             ("[" + ",\n".join(dumps(r) for r in results) + "]\n").encode("utf-8"))])


def coco_part(result: ImageResult, categories: Sequence[dict] = DEFAULT_CATEGORIES,
              score: str = "sam") -> dict:
    """One image's share of the COCO output (see :class:`CocoWriter`): ``{"image": {["id"],
    file_name, width, height}, "annotations": [...]}``, annotations without ``id`` and
    ``image_id`` (given when the parts are put together: :func:`coco_documents`)."""
    records = result.records
    idx = kept_indices(result.masks)
    if len(idx) != len(records):
        raise ValueError(f"{len(records)} records for {len(idx)} non-empty masks")
    ms = result.masks
    default_cat = int(categories[0]["id"]) if categories else 1
    anns = []
    for rec, i in zip(records, idx):
        extras = {k: v for k, v in rec.items() if k not in RECORD_KEYS and k != "image_id"}
        cls = extras.get("class")
        piou, stab = float(ms.predicted_iou[i]), float(ms.stability_score[i])
        ann = {
            "category_id": int(cls) if cls is not None else default_cat,
            "segmentation": rle_to_json(ms.rles[int(i)]),
            "area": rec["area"],
            "bbox": rec["bbox"],
            "score": proposal_score(score, piou, stab, rec.get("box_confidence")),
            "iscrowd": 0,
            "predicted_iou": rec["predicted_iou"],
            "stability_score": rec["stability_score"],
            "point": rec["point"],
            "crop_box": rec["crop_box"],
        }
        ann.update(extras)
        anns.append(ann)
    image: dict[str, Any] = {} if result.image_id is None else {"id": result.image_id}
    image.update(file_name=result.image, width=int(result.width), height=int(result.height))
    names = {int(c["id"]): str(c["name"]) for c in categories if "name" in c}
    return {"image": image, "annotations": anns,
            "names": part_names(names, (a["category_id"] for a in anns))}


def check_coco_part(part: Any) -> None:
    """Raise one of :data:`~samcli.io.outputs.PART_SHAPE_ERRORS` unless ``part`` has the shape
    :func:`coco_part` gives and :func:`coco_documents` reads."""
    if not isinstance(part["image"], dict) or not isinstance(part["annotations"], list):
        raise TypeError("'image' is not an object or 'annotations' not a list")
    for ann in part["annotations"]:
        if not isinstance(ann, dict):
            raise TypeError("an annotation is not an object")
        int(ann["category_id"])
    names = part.get("names", {})
    if not isinstance(names, dict):
        raise TypeError("'names' is not an object")
    for cid in names:
        int(cid)


def coco_documents(parts: Sequence[dict], categories: Sequence[dict] = DEFAULT_CATEGORIES
                   ) -> tuple[dict, list[dict]]:
    """``annotations.json``'s document and ``results.json``'s list from the images' parts
    (:func:`coco_part`) in order: image ids the parts' own, else ``1..N``; annotation ids
    ``1..M``; a category used but not in ``categories`` is added with the name a part kept
    for it (an earlier run's, :func:`~samcli.io.outputs.names_with_earlier`), else
    ``{"id": c, "name": "<c>"}``."""
    images, annotations = [], []
    used: set[int] = set()
    kept = names_with_earlier({}, (part.get("names", {}) for part in parts))
    for number, part in enumerate(parts, start=1):
        image_id = part["image"].get("id", number)
        images.append({"id": image_id, **part["image"]})
        for ann in part["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
            used.add(int(ann["category_id"]))
    cats = [jsonable(dict(c)) for c in categories]
    known = {int(c["id"]) for c in cats}
    cats += [{"id": c, "name": kept.get(c, str(c))} for c in sorted(used - known)]
    doc = {
        "info": {"description": "samcli mask proposals"},
        "images": images,
        "annotations": annotations,
        "categories": cats,
    }
    results = [{k: ann[k] for k in ("image_id", "category_id", "segmentation", "score")}
               for ann in annotations]
    return doc, results
