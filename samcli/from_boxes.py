"""Box prompts -> masks: one encoder pass per image, all its boxes decoded in batches.

Boxes are **xyxy** in image pixels (pixel-corner coordinates, as YOLO and COCO boxes scaled to
the image). Each box gives one mask: the single-mask output, or with ``multimask`` the best of
the three candidates by predicted IoU. Every mask carries quality fields for filtering:
``predicted_iou``, ``stability_score`` and ``box_iou`` (IoU of the mask's tight box, in the same
pixel-corner frame, with the prompt box).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from samcli.boxes import mask_boxes
from samcli.config import FromBoxesConfig
from samcli.decode import MASK_THRESHOLD, binary_masks, chunk_slices, clean_mask, stability_score
from samcli.maskset import MaskSet, encode_masks
from samcli.memory import trim_between_chunks
from samcli.predictor import PromptModel

STABILITY_OFFSET = 1.0  # as the reference generator's default


@dataclass
class BoxPrompts:
    """The boxes of one image: ``xyxy`` float64 (N, 4) pixels, and per box ``cls`` (int64),
    ``conf`` (float64, NaN when the detector gave none) and optionally ``where`` (object array
    of str: the box's source for warnings, ``file:line`` or a COCO entry)."""

    xyxy: np.ndarray
    cls: np.ndarray
    conf: np.ndarray
    where: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float64).reshape(n, 4)
        self.cls = np.asarray(self.cls, dtype=np.int64).reshape(n)
        self.conf = np.asarray(self.conf, dtype=np.float64).reshape(n)
        if self.where is not None:
            self.where = np.asarray(self.where, dtype=object).reshape(n)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "BoxPrompts":
        return BoxPrompts(self.xyxy[index], self.cls[index], self.conf[index],
                          None if self.where is None else self.where[index])


def wanted(prompts: BoxPrompts, min_conf: float, classes: frozenset[int] | None) -> np.ndarray:
    """(N,) bool: boxes passing ``--min-conf`` (a box without a confidence passes) and
    ``--classes``."""
    keep = ~(prompts.conf < min_conf)  # NaN compares False: kept
    if classes is not None:
        keep &= np.isin(prompts.cls, list(classes))
    return keep


def segment_image(get_predictor: Callable[[], PromptModel], rgb: np.ndarray,
                  prompts: BoxPrompts, cfg: FromBoxesConfig, source: Path | str
                  ) -> tuple[MaskSet, list[dict], list[str]]:
    """One image's boxes -> its masks, extra record fields and warnings (each names the box's
    ``prompts.where``, else ``source``).

    The box filters (``--min-conf``, ``--classes``) run first; the model is asked for
    (``get_predictor()``, which may load it) only when a box is left. Masks that came out
    empty are dropped with a warning; masks whose ``box_iou`` is under ``--min-box-iou`` are
    dropped silently (that is what the option asks for).
    """
    h, w = rgb.shape[:2]
    prompts = prompts[wanted(prompts, cfg.min_conf, cfg.class_set())]
    if not len(prompts):
        return MaskSet.empty((h, w)), [], []
    predictor = get_predictor()
    predictor.set_image(rgb)
    masks, extras = segment_boxes(predictor, prompts, (h, w), cfg.multimask,
                                  cfg.min_region_area, cfg.boxes_per_batch)
    where = prompts.where if prompts.where is not None else np.full(len(prompts), str(source))
    warnings = [f"{where[i]}: box {extras[i]['prompt_box']} (class {extras[i]['class']}) gave "
                "an empty mask; no record" for i in np.flatnonzero(masks.areas == 0)]
    good = np.array([e["box_iou"] >= cfg.min_box_iou for e in extras], dtype=bool)
    good &= masks.areas > 0
    return masks[good], [e for e, g in zip(extras, good) if g], warnings


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) xyxy box arrays (same frame) -> (N,) float64."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def segment_boxes(
    predictor: PromptModel,
    prompts: BoxPrompts,
    image_size: tuple[int, int],
    multimask: bool = False,
    min_region_area: int = 0,
    batch_size: int = 64,
    max_chunk_bytes: int = 256 * 2**20,
) -> tuple[MaskSet, list[dict]]:
    """Masks for ``prompts`` on the image already set in ``predictor``.

    Returns the MaskSet (one mask per box, in box order) and the per-mask extra record fields
    ``class``, ``box_confidence`` (None when unknown), ``prompt_box`` (xyxy), ``box_iou``.
    """
    h, w = image_size
    parts = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start:start + batch_size]
        parts.append(_decode(predictor, batch.xyxy, (h, w), multimask, min_region_area,
                             max_chunk_bytes))
    masks = MaskSet.concat(parts, (h, w))

    # Quality of each mask against its prompt
    tight = masks.boxes + np.array([[0, 0, 1, 1]], dtype=np.float64)  # inclusive -> corners
    ious = box_iou(tight, prompts.xyxy) if len(masks) else np.zeros(0)
    ious = np.where(masks.areas > 0, ious, 0.0)
    extras = [
        {
            "class": int(prompts.cls[i]),
            "box_confidence": None if np.isnan(prompts.conf[i]) else round(float(prompts.conf[i]), 6),
            "prompt_box": [round(float(v), 2) for v in prompts.xyxy[i]],
            "box_iou": round(float(ious[i]), 6),
        }
        for i in range(len(masks))
    ]
    return masks, extras


def _decode(predictor: PromptModel, xyxy: np.ndarray, image_size: tuple[int, int],
            multimask: bool, min_region_area: int, max_chunk_bytes: int) -> MaskSet:
    h, w = image_size
    low_res, iou = predictor.predict(boxes=torch.as_tensor(xyxy, dtype=torch.float32),
                                     multimask_output=multimask, upscaled_only=True)
    # Best of the candidates by predicted IoU (a no-op for single-mask output)
    best = iou.argmax(dim=1)
    rows = torch.arange(len(best), device=best.device)
    low_res, iou = low_res[rows, best][:, None], iou[rows, best]

    # Full-size logits a chunk at a time: stability, binary mask, optional cleanup, RLE
    rles, boxes, stability = [], [], []
    for part in chunk_slices(len(best), 4 * h * w, max_chunk_bytes):
        logits = predictor.upscale(low_res[part])[:, 0].float()
        stability.append(stability_score(logits, MASK_THRESHOLD, STABILITY_OFFSET).cpu())
        masks = binary_masks(logits, MASK_THRESHOLD)
        del logits
        if min_region_area > 0:
            masks = [clean_mask(np.ascontiguousarray(m), min_region_area)[0] for m in masks]
        rles += encode_masks(masks)
        boxes.append(mask_boxes(masks))
        trim_between_chunks(h * w)
    n = len(rles)
    return MaskSet(
        image_size=(h, w),
        rles=rles,
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        predicted_iou=iou.cpu().numpy(),
        stability_score=torch.cat(stability).numpy() if stability else np.zeros(0),
        points=np.full((n, 2), np.nan),
        crop_boxes=np.tile(np.array([0, 0, w, h], dtype=np.int64), (n, 1)),
    )
