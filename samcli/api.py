"""samcli as a library: load a model once, then proposals for arrays or image files.

::

    from samcli import Segmenter

    seg = Segmenter(model="vit_b")                 # weights from the cache (downloaded once)
    props = seg.automask("photo.jpg", preset="proposals", points_per_side=16)
    for p in props:                                # typed Proposal objects
        print(p.id, p.bbox, p.area, p.predicted_iou)
    mask = props[0].mask()                         # bool (H, W)
    props.to_coco()                                # dict: annotations.json for this image

    boxes = seg.from_boxes(rgb_array, [[10, 20, 200, 180]], classes=[3], confidences=[0.9])

The same unit of work as the command line does the image's journey
(:class:`samcli.jobs.AutomaskWork` / :func:`samcli.jobs.segment_boxes` and
:func:`samcli.jobs.finish`), and the converters are the writers' own functions
(:mod:`samcli.io.formats`): ``props.records`` are the JSON Lines records ``samcli automask``
prints for the same image and options, byte for byte once encoded (:meth:`Proposals.to_jsonl`).

Errors are :class:`samcli.errors.SamcliError` (bad options: ``UsageError``/``ConfigError``; an
unreadable image: ``InputError``), the exceptions the command line turns into ``Error: ...``,
with the messages in the library's terms: an option is named by its keyword
(``points_per_side``), not by the command's flag.
"""

from __future__ import annotations

import functools
import os
import pickle
import threading
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Sequence, Union

import numpy as np
from PIL import Image as PILImage

from samcli.api_checks import (COMMAND_ONLY_BOX_OPTIONS, api_terms, boxes_xyxy, class_ids,
                               confidences_array, fs_text, is_int, only_classes_text,
                               path_text, record_name, short, typed_options)
from samcli.config import (DEFAULT_MAX_PIXELS, DEFAULT_PRESET, DEFAULT_SIMPLIFY, MAX_CLASS_ID,
                           SCORES, AutomaskConfig, FromBoxesConfig, ModelOptions,
                           PolygonOptions, canonical, preset_config)
from samcli.errors import ConfigError, InputError, SamcliError, UsageError
from samcli.io.formats import (DEFAULT_CATEGORIES, coco_documents, coco_part, geojson_document,
                               yolo_label_text)
from samcli.io.images import read_image, rgb_of_pil
from samcli.io.labels import clip_boxes
from samcli.io.records import RECORD_KEYS, dumps, kept_indices
from samcli.jobs import AutomaskWork, Render, finish, segment_boxes
from samcli.loader import ModelLoader
from samcli.maskset import MaskSet
from samcli.results import ImageResult
from samcli.rle import decode_mask, rle_to_json

#: An image: a path to a file (str, bytes or path-like; read as the command line reads it:
#: EXIF orientation, bit depth, alpha), a Pillow image (converted by the same rules, EXIF
#: orientation included), or a uint8 array, (H, W, 3) RGB or (H, W) grey.
Image = Union[str, bytes, os.PathLike, np.ndarray, PILImage.Image]


@dataclass(frozen=True)
class Proposal:
    """One mask proposal; coordinates in image pixels (x right, y down, pixel (col, row) is
    the square [col, col+1] x [row, row+1]).

    - ``id``: position in the image's proposals (``0..n-1``), as the record's ``id``.
    - ``bbox``: ``[x, y, w, h]`` (ints) of the mask's pixels.
    - ``area``: the mask's pixel count.
    - ``predicted_iou``, ``stability_score``: SAM's quality estimates (6 decimals).
    - ``point``: the point prompt ``[x, y]`` (None for box prompts); ``crop_box``: the crop
      ``[x, y, w, h]`` it came from.
    - ``rle``: the mask as COCO compressed RLE ``{"size": [h, w], "counts": str}`` (column
      major, pycocotools' ``mask.decode`` reads it).
    - ``polygon``: the GeoJSON geometry (Polygon or MultiPolygon, pixel frame) when polygons
      were asked for, else None.
    - ``extras``: the record's other fields (from-boxes: ``class``, ``box_confidence``,
      ``prompt_box`` (xyxy), ``box_iou``; tiled images: ``tiles``).
    """

    id: int
    bbox: list[int]
    area: int
    predicted_iou: float | None
    stability_score: float | None
    point: list[float] | None
    crop_box: list[int]
    rle: dict
    polygon: dict | None
    extras: dict

    def mask(self) -> np.ndarray:
        """The mask: bool (H, W)."""
        return decode_mask({"size": self.rle["size"], "counts": self.rle["counts"].encode("ascii")})


class Proposals(Sequence[Proposal]):
    """The proposals of one image, in output order, with converters to samcli's formats.

    ``image`` (the records' ``image`` field), ``width``/``height`` (pixels, after EXIF
    orientation), ``records`` (the JSON Lines records, README's "Output formats"), ``masks`` (the
    :class:`~samcli.maskset.MaskSet`), ``warnings`` (what the command line would print as
    ``Warning:`` lines for this image), ``result`` (the :class:`~samcli.results.ImageResult`
    the writers take), ``score`` (how the COCO converters score a mask by default, as
    ``--score``: ``sam`` for automask, ``from_boxes``'s ``score`` option, default
    ``detector``), ``categories`` (the COCO converters' default categories, as the command's:
    automask's one ``object``; none for from-boxes, whose classes are added as used, each
    named by its id).

    ``records`` and the :class:`Proposal` items are the caller's own copies, made on first
    use, and so is what each converter returns (changing them changes no later output);
    ``result`` and ``masks`` are the writers' own objects, not to be changed.
    """

    def __init__(self, result: ImageResult, score: str = "sam",
                 categories: Sequence[dict] = DEFAULT_CATEGORIES, boxes: bool = False,
                 polygons: bool = True) -> None:
        self.result = result
        self.score = score
        self.categories = [dict(c) for c in categories]
        self._boxes = boxes  # from box prompts: the detector's confidence can score them
        self._polygons = polygons  # (asked for: the records have them, when there are any)

    image = property(lambda self: self.result.image)
    width = property(lambda self: self.result.width)
    height = property(lambda self: self.result.height)
    masks = property(lambda self: self.result.masks)
    warnings = property(lambda self: self.result.warnings)

    @functools.cached_property
    def records(self) -> list[dict]:
        return _json_copy(self.result.records)

    @functools.cached_property
    def _items(self) -> list[Proposal]:
        rles = [self.result.masks.rles[int(i)] for i in kept_indices(self.result.masks)]
        return [_proposal(rec, rle) for rec, rle in zip(_json_copy(self.result.records), rles)]

    def __len__(self) -> int:
        return len(self.result.records)

    def __getitem__(self, index):  # type: ignore[override]
        return self._items[index]

    def __iter__(self) -> Iterator[Proposal]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"<Proposals {self.image!r} {self.width}x{self.height}: {len(self)} masks>"

    def to_jsonl(self) -> str:
        """The JSON Lines text ``samcli ... `` prints for this image (one record a line)."""
        return "".join(dumps(r) + "\n" for r in self.result.records)

    def to_geojson(self) -> dict:
        """A GeoJSON FeatureCollection in pixel coordinates (``--format geojson``)."""
        self._need_polygons("to_geojson")
        return _json_copy(geojson_document(self.result))  # (it shares the records' lists)

    def to_yolo(self) -> str:
        """The YOLO segment label file's text (``--format yolo``)."""
        self._need_polygons("to_yolo")
        return yolo_label_text(self.result)

    def to_coco(self, categories: Sequence[dict] | None = None, score: str | None = None
                ) -> dict:
        """``annotations.json`` for this image alone (``--format coco``): image id 1 (or the
        input's own), annotation ids 1..n. ``categories``: ``[{"id": int, "name": str}, ...]``
        (default: :attr:`categories`; a class used but not listed is added, named by its id);
        ``score``: ``sam``, ``detector`` or ``product`` (as ``--score``; default: the
        proposals' own, :attr:`score`; automask's proposals have no detector confidence, so
        only ``sam``)."""
        return self._coco(categories, score)[0]

    def to_coco_results(self, categories: Sequence[dict] | None = None,
                        score: str | None = None) -> list[dict]:
        """COCO detection results (``results.json``: what ``COCO.loadRes`` takes); arguments
        as :meth:`to_coco`'s."""
        return self._coco(categories, score)[1]

    def _coco(self, categories: Sequence[dict] | None, score: str | None
              ) -> tuple[dict, list[dict]]:
        categories = self.categories if categories is None else categories
        score = self.score if score is None else score
        score = canonical(score, SCORES)  # (in any case, as --score reads it)
        if score not in SCORES:
            raise UsageError(f"score {score!r}: expected one of {', '.join(SCORES)}")
        if score != "sam" and not self._boxes:
            raise UsageError(f"score {score!r}: automask's proposals have no detector "
                             "confidence; they are scored by SAM alone (score='sam')")
        if not isinstance(categories, (list, tuple)) or not all(
                isinstance(c, dict) and is_int(c.get("id")) and isinstance(c.get("name"), str)
                for c in categories):
            raise ConfigError("categories: expected a list of {'id': int, 'name': str}, got "
                              f"{short(categories)}")
        ids = [int(c["id"]) for c in categories]
        outside = [i for i in ids if not 0 <= i <= MAX_CLASS_ID]
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        if outside or twice:  # (pycocotools keeps the last of one id's names, without a word)
            why = (f"{outside[0]} is outside 0..{MAX_CLASS_ID}" if outside
                   else f"{twice[0]} is given twice")
            raise ConfigError(f"categories: id {why}; each category needs its own id")
        # (a copy: the documents share the records' lists, bbox and point among them)
        return _json_copy(coco_documents([coco_part(self.result, categories, score)],
                                         categories))

    def _need_polygons(self, what: str) -> None:
        if not self._polygons:
            raise ConfigError(f"{what} needs polygons: make the proposals with polygons=True")


def _json_copy(records: Any) -> Any:
    """A deep copy of JSON-like records (dicts, lists, str, numbers, None). Through pickle:
    half the time of ``copy.deepcopy``, which matters for masks whose polygons have hundreds
    of thousands of vertices (noisy masks with simplification off)."""
    return pickle.loads(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))


def _proposal(rec: dict, rle: dict) -> Proposal:
    """``rec``'s typed view (``rec``: the caller's own copy, taken over)."""
    return Proposal(
        id=rec["id"], bbox=rec["bbox"], area=rec["area"], predicted_iou=rec["predicted_iou"],
        stability_score=rec["stability_score"], point=rec["point"], crop_box=rec["crop_box"],
        rle=rle_to_json(rle), polygon=rec.get("segmentation"),
        extras={k: v for k, v in rec.items() if k not in RECORD_KEYS})


def _in_api_terms(method):
    """``method``'s samcli errors with the options they name as keywords, not flags
    (:func:`samcli.api_checks.api_terms`; the options' checks are the command's own), the
    caller's own paths and names left as they are."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SamcliError as exc:
            exc.args = (api_terms(str(exc), _callers_texts(args, kwargs)),)
            raise

    return call


def _callers_texts(args: Sequence[Any], kwargs: dict[str, Any]) -> list[str]:
    """The texts a call was given (paths, names) and its Segmenter's checkpoint: what a
    message may quote and :func:`api_terms` must not take for an option flag."""
    texts = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, Segmenter):
            value = getattr(value, "_checkpoint", None)
        if isinstance(value, (str, bytes, os.PathLike)):
            try:
                texts.append(record_name(os.fsdecode(value)))
            except (TypeError, ValueError):
                pass
    return texts


_AUTOMASK_OPTIONS = frozenset(f.name for f in fields(AutomaskConfig))
_BOX_OPTIONS = (frozenset(f.name for f in fields(FromBoxesConfig)) - COMMAND_ONLY_BOX_OPTIONS
                - {"classes"})  # (given as only_classes)


class Segmenter:
    """One model, loaded on first use and kept: ``automask`` and ``from_boxes`` on as many
    images as you like.

    ``model``: vit_b (default), vit_l, vit_h, mobile_sam, sam2.1_hiera_tiny/small/base_plus/
    large (``samcli models list`` lists them);
    ``checkpoint``: a weights file instead of the cached download; ``device``: auto, cpu,
    cuda, cuda:N, mps; ``dtype``/``decoder_dtype``: as ``--dtype``/``--decoder-dtype``.
    ``max_pixels``: images above this many pixels are refused (0: no limit).

    Calls on one Segmenter run one at a time (a lock: the model holds one image's features),
    each with samcli's thread count for the model (``$SAMCLI_THREADS``, else up to 4: the
    command's, so that records are the command's), torch's own setting restored after it.
    """

    @_in_api_terms
    def __init__(self, model: str | None = None, checkpoint: str | os.PathLike | None = None,
                 device: str = "auto", dtype: str = "auto", decoder_dtype: str = "auto",
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        for label, value in (("model", model), ("device", device), ("dtype", dtype),
                             ("decoder_dtype", decoder_dtype)):
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{label}={short(value)}: expected a string")
        if not is_int(max_pixels) or max_pixels < 0:
            raise ConfigError(f"max_pixels={short(max_pixels)}: expected a whole number of "
                              "pixels, 0 for no limit")
        if checkpoint is not None:  # (an empty one is refused by the loader, as the command's)
            checkpoint = fs_text(checkpoint, "checkpoint")
        self._checkpoint = checkpoint  # (quoted by the errors of later calls: the first loads)
        self.loader = ModelLoader(ModelOptions(
            model=model, checkpoint=checkpoint, device=device, dtype=dtype,
            decoder_dtype=decoder_dtype))
        for message in self.loader.warnings:  # (the command's "Warning:" lines)
            warnings.warn(api_terms(message, [checkpoint or ""]), UserWarning,
                          stacklevel=3)  # (past the wrapper)
        self.max_pixels = int(max_pixels)
        #: ``sam``, ``mobile_sam`` or ``sam2``: everything-mode's defaults follow it, as the
        #: command's do (the loader's model: with only a checkpoint, the one its keys name)
        self.family = self.loader.family
        self._lock = threading.Lock()

    @_in_api_terms
    def automask(self, image: Image, *, preset: str = DEFAULT_PRESET, polygons: bool = True,
                 simplify: float = DEFAULT_SIMPLIFY, max_vertices: int = 0,
                 name: str | None = None, **options: Any) -> Proposals:
        """Everything-mode on one image.

        ``preset`` and ``options`` as the command's (over the model family's defaults: SAM 2
        keeps masks above predicted IoU 0.8, as its generator does): option names are
        ``samcli automask``'s flags with ``_`` for ``-`` (``points_per_side=16``,
        ``pred_iou_thresh=0.8``, ``crop_n_layers=1``, ``min_area="0.1%"``, ...), each of the
        flag's type (NumPy scalars too); None leaves an option at the preset's value.
        ``polygons``/``simplify``/``max_vertices``: each proposal's polygon (``--simplify``,
        ``--max-vertices``). ``name``: the records' ``image`` field (default: the path as
        given, or ``"image"`` for an array).
        """
        unknown = sorted(set(options) - _AUTOMASK_OPTIONS)
        if unknown:
            raise UsageError(f"automask: unknown option(s) {', '.join(unknown)}; expected "
                              f"some of {', '.join(sorted(_AUTOMASK_OPTIONS))}")
        if not isinstance(preset, str):
            raise UsageError(f"preset={short(preset)}: expected a preset name")
        cfg: AutomaskConfig = preset_config(preset, typed_options(AutomaskConfig, options),
                                            self.family)
        for message in cfg.warnings():  # the command's "Warning:" lines before any work
            warnings.warn(api_terms(message), UserWarning, stacklevel=3)  # (past the wrapper)
        render = _render(polygons, simplify, max_vertices)
        rgb, source, label = self._read(image, name)
        with self._model_turn():
            masks = AutomaskWork(cfg, render).segment(self.loader, rgb)
        return Proposals(finish(label, source, rgb, masks, render), polygons=polygons)

    @_in_api_terms
    def from_boxes(self, image: Image, boxes: Sequence[Sequence[float]] | np.ndarray, *,
                   classes: Sequence[int] | None = None,
                   confidences: Sequence[float | None] | None = None,
                   polygons: bool = True, simplify: float = DEFAULT_SIMPLIFY,
                   max_vertices: int = 0, name: str | None = None,
                   **options: Any) -> Proposals:
        """Box prompts on one image: one mask per box.

        ``boxes``: (N, 4) **xyxy** in image pixels (pixel corners); boxes are clipped to the
        image (an infinite coordinate to its edge), and empty, sub-pixel or NaN ones are
        dropped with a warning (``.warnings``), as the command does.
        ``classes``/``confidences``: per box (default class 0, no confidence); class ids are
        integers from 0 to 2^31-1 and confidences numbers from 0 to 1 (None or NaN: none), as
        in label files; they become each record's ``class`` and ``box_confidence``.
        ``options``: the command's box options (``min_conf``, ``multimask``, ``min_box_iou``,
        ``min_region_area``, ``boxes_per_batch``, ``score``: also the COCO converters'
        default) and ``only_classes`` (its ``--classes``: a list of ids, or its text form
        ``"0,3"``).
        """
        only = options.pop("only_classes", None)
        unknown = sorted(set(options) - _BOX_OPTIONS)
        if unknown:
            raise UsageError(f"from_boxes: unknown option(s) {', '.join(unknown)}; expected "
                              f"some of {', '.join(sorted(_BOX_OPTIONS | {'only_classes'}))}")
        cfg = FromBoxesConfig(classes=only_classes_text(only),
                              **typed_options(FromBoxesConfig, options)).validate()
        for message in cfg.warnings():
            warnings.warn(api_terms(message), UserWarning, stacklevel=3)  # (past the wrapper)
        render = _render(polygons, simplify, max_vertices)
        xyxy = boxes_xyxy(boxes)
        n = len(xyxy)
        cls = class_ids(classes, n)
        conf = confidences_array(confidences, n)
        rgb, source, label = self._read(image, name)
        h, w = rgb.shape[:2]
        clipped = clip_boxes(xyxy, w, h)
        with self._model_turn():
            masks, extras, said = segment_boxes(self.loader, rgb, clipped, cls, conf, cfg,
                                                label)
        return Proposals(finish(label, source, rgb, masks, render, extras, said), cfg.score,
                         categories=(), boxes=True, polygons=polygons)

    def __reduce__(self):
        raise TypeError("a Segmenter cannot be pickled (it holds a loaded model and a lock): "
                        "make one in each process, from the same arguments")

    @contextmanager
    def _model_turn(self) -> Iterator[None]:
        """One call's use of the model: alone (the lock), torch's thread count restored."""
        import torch

        with self._lock:
            threads = torch.get_num_threads()
            try:
                yield
            finally:
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)

    def _read(self, image: Image, name: str | None) -> tuple[np.ndarray, Path, str]:
        """The image as uint8 (H, W, 3) RGB, its source path and its records' name."""
        if name is not None and not isinstance(name, str):
            raise UsageError(f"name={short(name)}: expected a string")
        if isinstance(image, (str, bytes, os.PathLike)):
            path = path_text(image, "image")
            if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
                # (a FIFO would block the read forever; /dev/zero never ends)
                raise InputError(f"{path}: not a regular file")
            rgb = read_image(path, max_pixels=self.max_pixels or None)
            # (named as the command names a file: ./a.png and a//b.png as a.png and a/b.png)
            return rgb, Path(path), record_name(name if name is not None else str(Path(path)))
        label = record_name(name) if name is not None else "image"
        if isinstance(image, PILImage.Image):
            arr = rgb_of_pil(image, label)
        else:
            arr = np.asarray(image)
        if arr.dtype == object:  # (None, a dict, ...: no array of numbers at all)
            raise InputError(f"image={short(image)}: expected a path, a Pillow image or a "
                             "uint8 (H, W, 3) RGB or (H, W) grey array")
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise InputError(f"image array: expected uint8 (H, W, 3) RGB or (H, W) grey, got "
                             f"{arr.dtype} {arr.shape}")
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if min(arr.shape[:2]) < 1:
            raise InputError(f"image array: empty ({arr.shape[0]}x{arr.shape[1]})")
        if self.max_pixels and arr.shape[0] * arr.shape[1] > self.max_pixels:
            raise InputError(f"image array: {arr.shape[1]}x{arr.shape[0]} is more than "
                             f"max_pixels={self.max_pixels}")
        return np.ascontiguousarray(arr), Path(label), label


def _render(polygons: bool, simplify: float, max_vertices: int) -> Render:
    if not isinstance(polygons, (bool, np.bool_)):
        raise UsageError(f"polygons={short(polygons)}: expected True or False")
    shape = typed_options(PolygonOptions, {"simplify": simplify, "max_vertices": max_vertices})
    polygon = PolygonOptions(**shape).validate()
    return Render(polygon=polygon if polygons else None)


__all__ = ["Image", "MaskSet", "Proposal", "Proposals", "Segmenter"]
