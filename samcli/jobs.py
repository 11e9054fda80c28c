"""THE unit of work: one input -> one finished, writer-ready :class:`ImageResult`.

One image's whole journey, in the order it happens:

1. pixels: :func:`samcli.io.images.read_image` (EXIF, bit depth, alpha, size limit), from the
   file or from bytes an executor already read;
2. the model, loaded on first use (:class:`samcli.loader.ModelLoader`), so unreadable inputs
   load nothing;
3. masks: everything-mode (:mod:`samcli.automask`, or :mod:`samcli.tiling` for images above
   the tiling threshold) then samcli's postprocess (:mod:`samcli.postprocess`); or, for
   from-boxes, the label file's boxes as prompts (:mod:`samcli.io.labels`,
   :mod:`samcli.from_boxes`);
4. records (:func:`samcli.io.records.proposal_records`), with polygons only when a writer
   needs them (:class:`Render`), and the decoded image kept only for crops and previews.

A work object (:class:`AutomaskWork`, :class:`FromBoxesWork`) is a small frozen, picklable
description of the run's per-input settings; calling it on an input runs the journey.
Executors (:mod:`samcli.executors`: in this process, or Ray actors) call the same objects,
so a record is made the same way wherever it is made; the runner (:mod:`samcli.runner`)
turns the results into files and manifest lines. Per-input failures are
:class:`~samcli.errors.InputError` (the executor reports them as that input's error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping, Sequence

import numpy as np

from samcli import automask, postprocess, tiling
from samcli.config import AutomaskConfig, FromBoxesConfig, PolygonOptions
from samcli.errors import InputError
from samcli.from_boxes import BoxPrompts, segment_image
from samcli.io.images import read_image
from samcli.io.inputs import InputItem
from samcli.io.labels import (CocoDet, CocoImage, ImageId, PixelBoxes, boxes_to_pixels,
                              coco_dets_to_xyxy, coco_id_stems, find_image_for_label,
                              parse_yolo_labels, rival_images, rivals_warning)
from samcli.io.records import proposal_records
from samcli.loader import ModelLoader
from samcli.maskset import MaskSet
from samcli.results import ImageResult

#: ``on_batch(done, total)``: progress through one input's prompt batches.
OnBatch = Callable[[int, int], None]


@dataclass(frozen=True)
class Render:
    """What the run's writers need besides masks: ``polygon`` (how to make each record's
    ``segmentation``; None when no writer reads polygons) and ``keep_rgb`` (crops and
    previews draw on the decoded image)."""

    polygon: PolygonOptions | None = PolygonOptions()
    keep_rgb: bool = False


def finish(image: str, source: Path, rgb: np.ndarray, masks: MaskSet, render: Render,
           extras: Sequence[dict] = (), warnings: Sequence[str] = (),
           image_id: ImageId | None = None) -> ImageResult:
    """The writer-ready result of one image: records made as ``render`` asks."""
    h, w = rgb.shape[:2]
    records = proposal_records(image, w, h, masks, list(extras), render.polygon)
    return ImageResult(image=image, source=Path(source), width=w, height=h, masks=masks,
                       extras=list(extras), records=records,
                       rgb=rgb if render.keep_rgb else None, warnings=list(warnings),
                       image_id=image_id)


@dataclass(frozen=True)
class AutomaskWork:
    """Everything-mode on one image file."""

    cfg: AutomaskConfig
    render: Render = Render()
    max_pixels: int | None = None  # None or 0: no limit

    unit = "images"

    def __call__(self, model: ModelLoader, item: InputItem,
                 on_batch: OnBatch | None = None) -> ImageResult:
        notes: list[str] = []
        rgb = read_image(item.path, max_pixels=self.max_pixels or None, notes=notes)
        notes += [f"{item.path}: {w}" for w in self.cfg.image_warnings(*rgb.shape[:2])]
        return finish(item.rel, item.path, rgb, self.segment(model, rgb, on_batch), self.render,
                      warnings=notes)

    def segment(self, model: ModelLoader, rgb: np.ndarray, on_batch: OnBatch | None = None
                ) -> MaskSet:
        """The proposals of a decoded image (uint8 (h, w, 3) RGB): everything-mode, tiled
        above the tiling threshold, then samcli's postprocess."""
        h, w = rgb.shape[:2]
        tile = tiling.tile_size_for(h, w, self.cfg)
        if tile:
            masks = tiling.generate_tiled(model.get(), rgb, self.cfg, tile, on_batch=on_batch)
        else:
            masks = automask.generate(model.get(), rgb, self.cfg, on_batch=on_batch)
        return postprocess.postprocess(masks, self.cfg)


@dataclass(frozen=True)
class FromBoxesWork:
    """Box prompts for one input: a YOLO label file (its image found by the label rules), or
    with ``coco`` (``--coco-dets``) an image whose detections are ``coco[item.rel]``.

    ``coco_images[item.rel]`` (with ``coco``): the image's entry in the image map, whose
    ``id`` the outputs keep (records gain ``image_id``, last); without an entry, the
    detections' own id. A ground-truth size other than the decoded image's is a warning:
    masks have the image's size, so evaluation against that ground truth cannot line up."""

    cfg: FromBoxesConfig
    render: Render = Render()
    max_pixels: int | None = None
    coco: Mapping[str, Sequence[CocoDet]] | None = None
    coco_images: Mapping[str, CocoImage] | None = None

    @property
    def unit(self) -> str:
        return "images" if self.coco is not None else "label files"

    def __call__(self, model: ModelLoader, item: InputItem,
                 on_batch: OnBatch | None = None) -> ImageResult:
        notes: list[str] = []
        if self.coco is not None:
            dets = self.coco[item.rel]
            rgb = read_image(item.path, max_pixels=self.max_pixels or None, notes=notes)
            h, w = rgb.shape[:2]
            boxes = coco_dets_to_xyxy(dets, w, h, source=self.cfg.coco_dets)
            cls = np.array([d.category_id for d in dets])
            conf = np.array([np.nan if d.score is None else d.score for d in dets])
            image_path, image_rel = item.path, item.rel
            image_id, size_warnings = self._coco_image(item, dets, w, h)
            if not self.cfg.image_map and dets:  # found by its id: the only lookup by rule
                size_warnings = self._coco_rivals(item, dets[0].image_id) + size_warnings
        else:
            labels = parse_yolo_labels(item.path)
            image_path = self._image_of(item)
            rgb = read_image(image_path, max_pixels=self.max_pixels or None, notes=notes)
            h, w = rgb.shape[:2]
            boxes = boxes_to_pixels(labels, w, h, source=item.path)
            cls = np.array([b.cls for b in labels])
            conf = np.array([np.nan if b.conf is None else b.conf for b in labels])
            image_rel = str(PurePosixPath(item.rel).with_suffix(image_path.suffix))
            image_id = None
            size_warnings = rivals_warning(item.path, image_path, rival_images(image_path))
        masks, extras, warnings = self._segment(model, rgb, boxes, cls, conf, item)
        if image_id is not None:
            extras = [{**e, "image_id": image_id} for e in extras]
        return finish(image_rel, image_path, rgb, masks, self.render, extras,
                      notes + size_warnings + warnings, image_id)

    def _coco_image(self, item: InputItem, dets: Sequence[CocoDet], w: int, h: int
                    ) -> tuple[ImageId | None, list[str]]:
        """The output image id of a COCO input and a warning if the ground truth's size is
        not the image's."""
        entry = (self.coco_images or {}).get(item.rel)
        if entry is None:
            return (dets[0].image_id if dets else None), []
        gt = (entry.width, entry.height)
        if None not in gt and gt != (w, h):
            where = f" in {self.cfg.image_map}" if self.cfg.image_map else ""
            return entry.id, [
                f"{item.path}: image id {entry.id!r} is {gt[0]}x{gt[1]}{where} but the image "
                f"is {w}x{h} (after EXIF orientation): masks have the image's size, so "
                "evaluation against that ground truth will not line up"]
        return entry.id, []

    def _coco_rivals(self, item: InputItem, image_id: ImageId) -> list[str]:
        """A warning when other files match ``image_id`` too (``139.png``, or
        ``000000000139.jpg``; see :func:`~samcli.io.labels.coco_id_stems`)."""
        stems = [Path(self.cfg.images or ".") / stem for stem in coco_id_stems(image_id)]
        return rivals_warning(f"image_id {image_id!r}", item.path,
                              rival_images(item.path, stems),
                              "the id's own name first, then its 12-digit form; each in "
                              "suffix order; --image-map names the file")

    def image_of(self, item: InputItem) -> Path | None:
        """The image a label file input resolves to now (None: none; with ``coco`` the input
        is the image itself: None)."""
        if self.coco is not None:
            return None
        images_dir = Path(self.cfg.images) if self.cfg.images else None
        return find_image_for_label(item.path, images_dir, item.root)

    def _image_of(self, item: InputItem) -> Path:
        image_path = self.image_of(item)
        if image_path is None:
            images_dir = Path(self.cfg.images) if self.cfg.images else None
            where = (f"under {images_dir}, by the label tree's path or flat" if images_dir
                     else "by the /labels/ -> /images/ rule or beside it; use --images DIR")
            raise InputError(f"{item.path}: no image found for this label file ({where})")
        return image_path

    def _segment(self, model: ModelLoader, rgb: np.ndarray, boxes: PixelBoxes,
                 cls: np.ndarray, conf: np.ndarray, item: InputItem
                 ) -> tuple[MaskSet, list[dict], list[str]]:
        return segment_boxes(model, rgb, boxes, cls, conf, self.cfg, item.path)


def segment_boxes(model: ModelLoader, rgb: np.ndarray, boxes: PixelBoxes, cls: np.ndarray,
                  conf: np.ndarray, cfg: FromBoxesConfig, source: Path | str
                  ) -> tuple[MaskSet, list[dict], list[str]]:
    """Box prompts on a decoded image (uint8 (h, w, 3) RGB): ``boxes`` clipped pixel xyxy
    (:func:`samcli.io.labels.clip_boxes`; the dropped ones warned about), ``cls`` (N,) int and
    ``conf`` (N,) float (NaN: none) per box. Returns the masks, their extra record fields
    and the warnings (naming each box's source, ``boxes.names``, or else ``source``)."""
    prompts = BoxPrompts(boxes.xyxy, cls, conf, boxes.names)[boxes.keep]
    masks, extras, warnings = segment_image(model.get, rgb, prompts, cfg, source)
    return masks, extras, list(boxes.warnings) + warnings
