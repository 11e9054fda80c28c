"""Everything-mode: a grid of point prompts (optionally over crop layers) -> a MaskSet.

Makes the same decisions as the reference ``SamAutomaticMaskGenerator`` for the same parameters
(same masks, same order) and, with a SAM 2 predictor (``family == "sam2"``), as Meta's
``SAM2AutomaticMaskGenerator``. Per batch of points, in the reference's order: decode (three
masks per point, or one with ``multimask_output`` off); with ``use_m2m``, refine every
candidate once (its point again, its own low-res logits as a mask prompt, one output: the
refined logits and predicted IoU replace the first ones); predicted-IoU filter (>); stability
at ``mask_threshold`` +- offset (>=); masks cut at ``mask_threshold``; boxes; crop-edge filter;
RLE. Then box NMS per crop, NMS between crops, and ``min_region_area``: for SAM 1 the
reference's hole and island clean-up of the full-size masks followed by NMS again; for SAM 2,
as its generator, the clean-up of the *low-res logits* before upsampling (holes and islands
of at most that many low-res pixels: :meth:`samcli.predictor_sam2.Sam2Predictor.upscale`) and
nothing at the end. The upsampling itself is the predictor's (SAM 1: through the padded 1024
frame; SAM 2: one bilinear resize). ``mask_threshold``, ``use_m2m`` and ``multimask_output``
work with SAM 1 models too (SAM 1's predictor feeds mask prompts back unclamped, as
``SamPredictor`` returns them).

Two differences in how, not what:

- the predicted-IoU filter runs on the low-res logits *before* upsampling (each mask is
  independent, so the result is the same), and
- upsampled logits are processed in chunks sized by ``max_chunk_bytes``, so memory does not grow
  with ``points_per_batch x 3 x H x W`` (the reference holds ~9 GB of float logits for one batch
  on a 4000x3000 image).

One difference in what, where the reference's output is degenerate: masks that are exactly
equal to an earlier mask are dropped at the end. Box NMS removes such duplicates whenever their
box has an area (IoU 1), so this changes nothing on ordinary images while NMS is on; on
images a pixel tall or wide every box has zero area, NMS keeps everything, and a 1 x 1 image
gave 17 copies of one pixel. With NMS off (``box_nms_thresh`` >= 1) the reference keeps every
copy; samcli still keeps one (README says so).

Coordinates: points are (x, y) pixels; crop boxes are xyxy with exclusive ends in the image frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Callable

import numpy as np
import torch

from samcli.boxes import box_nms, mask_boxes, near_crop_edge
from samcli.config import AutomaskConfig
from samcli.decode import binary_masks, chunk_slices, clean_mask, stability_score
from samcli.device_masks import encode_on_device, mask_boxes_on_device
from samcli.mask_windows import WindowResize, resize_window, support_windows
from samcli.maskset import MaskSet, encode_masks
from samcli.memory import trim_between_chunks
from samcli.predictor import PromptModel
from samcli.rle import encode_window



@dataclass(frozen=True)
class Crop:
    """One crop: ``box`` xyxy (exclusive end) in image pixels, and its crop layer (0 = whole)."""

    box: tuple[int, int, int, int]
    layer: int


def point_grid(n_per_side: int) -> np.ndarray:
    """(n*n, 2) float64 points (x, y) in [0, 1], cell centres of an n x n grid, row-major."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs, ys = np.meshgrid(side, side)
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def crop_boxes(height: int, width: int, n_layers: int, overlap_ratio: float) -> list[Crop]:
    """The whole image, then for layer i >= 1 a 2^i x 2^i grid of overlapping crops."""
    crops = [Crop((0, 0, width, height), 0)]
    short = min(height, width)
    for layer in range(1, n_layers + 1):
        n = 2**layer
        overlap = int(overlap_ratio * short * (2 / n))
        crop_w = math.ceil((overlap * (n - 1) + width) / n)
        crop_h = math.ceil((overlap * (n - 1) + height) / n)
        xs = [int((crop_w - overlap) * i) for i in range(n)]
        ys = [int((crop_h - overlap) * i) for i in range(n)]
        for x0, y0 in product(xs, ys):
            x1, y1 = min(x0 + crop_w, width), min(y0 + crop_h, height)
            if x1 > x0 and y1 > y0:  # images a few pixels across leave some crops empty
                crops.append(Crop((x0, y0, x1, y1), layer))
    return crops


def generate(
    predictor: PromptModel,
    image: np.ndarray,
    cfg: AutomaskConfig,
    on_batch: Callable[[int, int], None] | None = None,
    max_chunk_bytes: int = 64 * 2**20,
) -> MaskSet:
    """Run everything-mode on one uint8 (H, W, 3) RGB image.

    ``on_batch(done, total)`` is called after each prompt batch (for progress bars).
    ``max_chunk_bytes`` bounds the float32 full-size logits upsampled at once (their masks,
    stability counts and RLE temporaries come on top, about as much again).
    Returns the masks in the reference's order (NMS order: best first).
    """
    h, w = image.shape[:2]
    crops = crop_boxes(h, w, cfg.crop_n_layers, cfg.crop_overlap_ratio)
    grids = [point_grid(cfg.points_per_side // cfg.crop_n_points_downscale_factor**i)
             for i in range(cfg.crop_n_layers + 1)]
    total = sum(math.ceil(len(grids[c.layer]) / cfg.points_per_batch) for c in crops)
    progress = _Counter(total, on_batch)

    # Each crop: embed once, decode the grid in batches, NMS inside the crop
    masks = MaskSet.concat(
        [_process_crop(predictor, image, c, grids[c.layer], cfg, progress, max_chunk_bytes)
         for c in crops],
        (h, w),
    )

    # Duplicates between crops: keep the mask from the smaller crop
    if len(crops) > 1:
        cb = masks.crop_boxes.astype(np.float64)
        crop_area = (cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1])
        masks = masks[box_nms(masks.boxes, (1 / crop_area).astype(np.float32),
                              cfg.crop_nms_thresh)]

    # Small holes and islands inside each mask, then NMS again (SAM 1; SAM 2 cleaned its
    # low-res logits instead, before upsampling)
    if cfg.min_region_area > 0 and not _sam2_recipe(predictor):
        masks = clean_small_regions(masks, cfg.min_region_area,
                                    max(cfg.box_nms_thresh, cfg.crop_nms_thresh))

    # Exact duplicates that NMS cannot see (zero-area boxes; see the module docstring)
    return masks[first_of_equal(masks)]


def _sam2_recipe(predictor: PromptModel) -> bool:
    """Whether ``predictor`` runs SAM 2's everything-mode (see the module docstring)."""
    return getattr(predictor, "family", "sam") == "sam2"


def first_of_equal(masks: MaskSet) -> np.ndarray:
    """Indices of the masks not equal to an earlier mask of ``masks``, in order."""
    seen: set[bytes] = set()
    keep = []
    for i, rle in enumerate(masks.rles):
        counts = rle["counts"]
        key = counts if isinstance(counts, bytes) else str(counts).encode()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.array(keep, dtype=np.int64)


class _Counter:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.done, self.total, self.callback = 0, total, callback

    def step(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(self.done, self.total)


def _process_crop(predictor: PromptModel, image: np.ndarray, crop: Crop, grid: np.ndarray,
                  cfg: AutomaskConfig, progress: _Counter, max_chunk_bytes: int) -> MaskSet:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = crop.box
    predictor.set_image(np.ascontiguousarray(image[y0:y1, x0:x1]))
    points = grid * np.array([[x1 - x0, y1 - y0]], dtype=np.float64)

    # Decode the grid in batches
    parts = []
    for start in range(0, len(points), cfg.points_per_batch):
        parts.append(_process_batch(predictor, points[start:start + cfg.points_per_batch],
                                    crop, (h, w), cfg, max_chunk_bytes))
        progress.step()
    masks = MaskSet.concat(parts, (h, w))

    # Duplicates inside the crop (boxes in the crop frame, as the reference)
    local = masks.boxes - np.array([[x0, y0, x0, y0]], dtype=np.float64)
    return masks[box_nms(local, masks.predicted_iou, cfg.box_nms_thresh)]


def _process_batch(predictor: PromptModel, points: np.ndarray, crop: Crop,
                   image_size: tuple[int, int], cfg: AutomaskConfig,
                   max_chunk_bytes: int) -> MaskSet:
    h, w = image_size
    x0, y0, x1, y1 = crop.box

    # Three candidate masks per point (or one), low-res logits, flattened point-major
    coords = torch.as_tensor(points, dtype=torch.float32)[:, None, :]
    labels = torch.ones(len(points), 1, dtype=torch.int64)
    # (the IoU filter below is the last word on these masks unless m2m refines them first:
    # then prompts none of whose masks pass it are not upscaled, and only the logits the
    # upscaling reads are made; m2m feeds the whole logits back as mask prompts)
    floor = cfg.pred_iou_thresh if cfg.pred_iou_thresh > 0.0 else None
    low_res, iou = predictor.predict(coords, labels, multimask_output=cfg.multimask_output,
                                     iou_floor=None if cfg.use_m2m else floor,
                                     upscaled_only=not cfg.use_m2m)
    n_out = low_res.shape[1]
    low_res = low_res.flatten(0, 1)
    iou = iou.flatten(0, 1).float().cpu()
    mask_points = np.repeat(points, n_out, axis=0) + np.array([[x0, y0]], dtype=np.float64)

    # Mask-to-mask: every candidate refined once, its predicted IoU replaced
    if cfg.use_m2m:
        low_res, iou = refine_with_m2m(predictor, np.repeat(points, n_out, axis=0), low_res,
                                       cfg.points_per_batch, iou_floor=floor)

    # Predicted-IoU filter, before any upsampling
    idx = torch.arange(len(iou))
    if floor is not None:
        idx = idx[iou > floor]

    # Upsample in chunks: stability filter, binarise, boxes, crop-edge filter, RLE (SAM 2:
    # small holes and islands of the low-res logits cleaned first, as its generator does)
    fill = cfg.min_region_area if _sam2_recipe(predictor) else 0
    resize = _window_resize(predictor, low_res)
    if resize is not None:  # the same, mask by mask, inside each mask's window
        lows = (predictor.clean_low_res(low_res[idx][:, None], fill)[:, 0] if fill
                else low_res[idx].float())
        return _binarise_windows(lows, resize, idx.numpy(), iou, mask_points, crop, (h, w),
                                 cfg)
    parts = []
    for part in chunk_slices(len(idx), 4 * (y1 - y0) * (x1 - x0), max_chunk_bytes):
        sel = idx[part]
        chunk = low_res[sel][:, None]
        logits = (predictor.upscale(chunk, fill_area=fill) if fill
                  else predictor.upscale(chunk))[:, 0].float()
        parts.append(_binarise(logits, sel.numpy(), iou, mask_points, crop, (h, w), cfg))
        del logits
        trim_between_chunks((y1 - y0) * (x1 - x0))
    return MaskSet.concat(parts, (h, w))


def refine_with_m2m(predictor: PromptModel, points: np.ndarray, low_res: torch.Tensor,
                    batch: int, iou_floor: float | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's ``refine_with_m2m``: each candidate's point (``points`` (K, 2), crop
    pixels) decoded again with the candidate's own low-res logits (``low_res`` (K, 256, 256))
    as a mask prompt (the predictor's ``as_mask_input``: SAM 2 clamps them to +-32) and a
    single-mask output, ``batch`` candidates a call. Returns the refined low-res logits
    (K, 256, 256) and predicted IoU (K,) on the CPU; with ``iou_floor`` (the IoU filter that
    follows) candidates whose refined IoU is not above it may come back NaN."""
    as_mask_input = getattr(predictor, "as_mask_input", None)
    prompt = as_mask_input(low_res) if as_mask_input is not None else low_res
    coords = torch.as_tensor(points, dtype=torch.float32)[:, None, :]
    labels = torch.ones(len(points), 1, dtype=torch.int64)
    lows, ious = [], []
    for s in range(0, len(points), batch):
        low, iou = predictor.predict(coords[s:s + batch], labels[s:s + batch],
                                     mask_input=prompt[s:s + batch, None],
                                     multimask_output=False, iou_floor=iou_floor,
                                     upscaled_only=True)
        lows.append(low[:, 0])
        ious.append(iou[:, 0].float().cpu())
    if not lows:
        return low_res, torch.zeros(0)
    return torch.cat(lows), torch.cat(ious)


def _binarise(logits: torch.Tensor, sel: np.ndarray, iou: torch.Tensor, mask_points: np.ndarray,
              crop: Crop, image_size: tuple[int, int], cfg: AutomaskConfig) -> MaskSet:
    """Filter one chunk of full-crop-size logits (k, ch, cw), on the predictor's device, and
    encode what survives (mask by mask: a 12-megapixel image makes 48 MB of logits a mask)."""
    h, w = image_size
    x0, y0, x1, y1 = crop.box

    # Stability filter
    threshold = cfg.mask_threshold
    stability = stability_score(logits, threshold, cfg.stability_score_offset).cpu()
    kept = np.arange(len(sel))
    if cfg.stability_score_thresh > 0.0:
        kept = np.flatnonzero((stability >= cfg.stability_score_thresh).numpy())

    # Binary masks (crop frame) and their boxes in the image frame: on the host, column-major;
    # on an accelerator they stay there (see samcli.device_masks)
    on_host = _masks_on_host(logits.device)
    if on_host:
        masks = binary_masks(logits, threshold, kept)
        boxes = mask_boxes(masks)
    else:
        masks = torch.gt(logits[torch.as_tensor(kept, device=logits.device)], threshold)
        boxes = mask_boxes_on_device(masks)
    boxes = boxes.astype(np.float64) + np.array([[x0, y0, x0, y0]], dtype=np.float64)

    # Masks touching an inner crop edge are likely cut by the crop
    inside = ~near_crop_edge(boxes, crop.box, (0, 0, w, h))
    kept, boxes = kept[inside], boxes[inside]
    if len(kept) == 0:
        return MaskSet.empty((h, w))

    # RLE in the image frame
    if on_host:
        masks = [m for m, ok in zip(masks, inside) if ok]
        if crop.box != (0, 0, w, h):
            masks = [_place(m, crop.box, (h, w)) for m in masks]
        rles = encode_masks(masks)
    else:
        rles = encode_on_device(masks[torch.as_tensor(inside, device=masks.device)], crop.box,
                                (h, w))
    return _mask_set(rles, boxes, sel[kept], stability[kept].numpy(), iou, mask_points, crop,
                     (h, w))


def _mask_set(rles: list[dict], boxes: np.ndarray, rows: np.ndarray, stability: np.ndarray,
              iou: torch.Tensor, mask_points: np.ndarray, crop: Crop,
              image_size: tuple[int, int]) -> MaskSet:
    """The MaskSet of one crop's surviving candidates ``rows`` (indices into the batch's
    ``iou`` and ``mask_points``), their image-frame RLEs, boxes and stability scores."""
    return MaskSet(
        image_size=image_size,
        rles=rles,
        boxes=boxes,
        predicted_iou=iou[rows].numpy(),
        stability_score=stability,
        points=mask_points[rows],
        crop_boxes=np.repeat(np.array([crop.box], dtype=np.int64), len(rows), axis=0),
    )


def _window_resize(predictor: PromptModel, low_res: torch.Tensor) -> WindowResize | None:
    """The predictor's upscaling as per-axis taps when masks can be made window by window:
    where masks are made on the host (the CPU), for predictors that describe it
    (``window_resize``)."""
    window_resize = getattr(predictor, "window_resize", None)
    if window_resize is None or not _masks_on_host(low_res.device):
        return None
    return window_resize(tuple(low_res.shape[-2:]))


def _binarise_windows(lows: torch.Tensor, resize: WindowResize, sel: np.ndarray,
                      iou: torch.Tensor, mask_points: np.ndarray, crop: Crop,
                      image_size: tuple[int, int], cfg: AutomaskConfig) -> MaskSet:
    """:func:`_binarise` for float32 CPU low-res logits ``lows`` (k, h, w) of the batch's
    candidates ``sel``, each mask resized, counted, cut, boxed and encoded only inside the
    window where it can be above the loosest threshold (:mod:`samcli.mask_windows`): the same
    stability scores, masks, boxes and RLEs, at a cost that grows with the mask, not the
    image."""
    h, w = image_size
    x0, y0 = crop.box[:2]
    threshold, offset = cfg.mask_threshold, cfg.stability_score_offset
    loosest = min(threshold, threshold - offset, threshold + offset)
    masks = []
    high = np.zeros(len(sel), np.float32)
    low = np.zeros(len(sel), np.float32)
    windows = support_windows(lows, loosest, resize)
    for i, (logits, window) in enumerate(zip(lows.numpy(), windows)):
        values = resize_window(logits, resize, window)
        high[i] = np.count_nonzero(values > threshold + offset)
        low[i] = np.count_nonzero(values > threshold - offset)
        masks.append(values > threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        stability = high / low  # as decode.stability_score: NaN for a mask empty at both
    kept = np.arange(len(sel))
    if cfg.stability_score_thresh > 0.0:
        kept = np.flatnonzero(stability >= cfg.stability_score_thresh)

    # Boxes in the image frame (an empty mask's box is [0, 0, 0, 0] in the crop's frame)
    boxes = mask_boxes([masks[i] for i in kept])
    for row, i in enumerate(kept):
        if masks[i].any():
            boxes[row] += (windows[i][2], windows[i][0], windows[i][2], windows[i][0])
    boxes = boxes.astype(np.float64) + np.array([[x0, y0, x0, y0]], dtype=np.float64)
    inside = ~near_crop_edge(boxes, crop.box, (0, 0, w, h))
    kept, boxes = kept[inside], boxes[inside]
    if len(kept) == 0:
        return MaskSet.empty((h, w))
    rles = [encode_window(masks[i], x0 + windows[i][2], y0 + windows[i][0], (h, w))
            for i in kept]
    return _mask_set(rles, boxes, sel[kept], stability[kept], iou, mask_points, crop, (h, w))


def _masks_on_host(device: torch.device) -> bool:
    """Whether binary masks are made on the host (the CPU) or stay on the device (GPUs)."""
    return device.type == "cpu"


def _place(mask: np.ndarray, box: tuple[int, int, int, int], image_size: tuple[int, int]
           ) -> np.ndarray:
    """A crop's mask (ch, cw) inside an all-False image-size column-major mask (H, W)."""
    x0, y0, x1, y1 = box
    full = np.zeros(image_size, dtype=bool, order="F")
    full[y0:y1, x0:x1] = mask
    return full


def clean_small_regions(masks: MaskSet, min_area: int, nms_thresh: float) -> MaskSet:
    """Fill holes and drop islands smaller than ``min_area`` px in each mask, then box NMS
    preferring masks that needed no change (the reference's ``postprocess_small_regions``)."""
    if len(masks) == 0:
        return masks
    rles, boxes, unchanged = list(masks.rles), masks.boxes.copy(), np.zeros(len(masks), np.float32)
    for i in range(len(masks)):
        m, changed = clean_mask(masks.mask(i), min_area)
        if changed:
            rles[i] = encode_masks([m])[0]
            boxes[i] = mask_boxes([m])[0]
        else:
            unchanged[i] = 1.0
    cleaned = MaskSet(
        image_size=masks.image_size, rles=rles, boxes=boxes,
        predicted_iou=masks.predicted_iou, stability_score=masks.stability_score,
        points=masks.points, crop_boxes=masks.crop_boxes,
    )
    return cleaned[box_nms(boxes, unchanged, nms_thresh)]
