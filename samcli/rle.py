"""COCO run-length encoding without full-image arrays: windows in, windows out.

pycocotools encodes and decodes whole (H, W) masks. On a 12k x 12k image that is 144 MB per mask
for a proposal that may cover a few hundred pixels, so tiling and the writers go through the
mask's tight box instead:

- :func:`encode_window` turns a bool window (bh, bw) placed at (x0, y0) in an (H, W) image into
  the image-size compressed RLE, touching only ``bh x bw`` values;
- :func:`decode_window` turns an image-size compressed RLE into the bool window of a box;
- :func:`rle_to_json` / :func:`rle_from_json` convert between pycocotools' RLE (bytes counts)
  and its JSON form (str counts), as the COCO writer and readers need.

The RLE is pycocotools' (``{"size": [H, W], "counts": bytes}``): runs alternate 0s and 1s,
starting with 0s, over the pixels in column-major order (flat index ``x * H + y``).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils


def counts_of(rle: dict) -> np.ndarray:
    """Run lengths (int64, (n,)) of a compressed RLE (the inverse of pycocotools' string coding).

    Each count is stored as 5-bit groups, low first, in characters ``48 + group`` with bit 0x20
    meaning "more groups follow" and bit 0x10 of the last group the sign; from the fourth count
    on, the stored value is the difference to the count two places earlier.
    """
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        return np.asarray(counts, dtype=np.int64)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    c = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    last = (c & 0x20) == 0  # the last group of each number
    number = np.concatenate([[0], np.cumsum(last)[:-1]])  # which number each group belongs to
    first = np.concatenate([[0], np.flatnonzero(last)[:-1] + 1])
    shift = 5 * (np.arange(c.size) - first[number])
    values = np.zeros(int(last.sum()), np.int64)
    np.add.at(values, number, (c & 0x1F) << shift)
    ends = np.flatnonzero(last)
    negative = (c[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (shift[ends][negative] + 5)
    # Undo the delta coding: counts[i] = value[i] + counts[i - 2] for i >= 3
    out = values.copy()
    if len(values) > 3:
        out[3::2] = np.cumsum(values[3::2]) + values[1]
    if len(values) > 4:
        out[4::2] = np.cumsum(values[4::2]) + values[2]
    return out


def _one_runs(rle: dict) -> tuple[np.ndarray, np.ndarray]:
    """Flat (column-major) [start, end) of every run of 1s."""
    bounds = np.concatenate([[0], np.cumsum(counts_of(rle))])
    return bounds[1:-1:2], bounds[2::2]


#: pycocotools 2.0.11's ``area`` sizes its output with a uint8 (``np.array((n,),
#: dtype=np.uint8)``), which NumPy 2 refuses for more than 255 RLEs: areas go in chunks
_AREA_CHUNK = 255


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel counts of compressed RLEs, int64 (N,); any number of them (see _AREA_CHUNK)."""
    rles = list(rles)
    if not rles:
        return np.zeros(0, np.int64)
    return np.concatenate([np.asarray(mask_utils.area(rles[i:i + _AREA_CHUNK]), np.int64)
                           for i in range(0, len(rles), _AREA_CHUNK)])


def decode_mask(rle: dict) -> np.ndarray:
    """A compressed RLE ``{"size": [h, w], "counts": bytes}`` as a bool (h, w) mask.

    pycocotools' ``decode`` (2.0.11) emits a DeprecationWarning under NumPy 2 (its array
    wrapper lacks the ``copy`` keyword); it is silenced here, so that code running with
    warnings as errors can still read masks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def decode_window(rle: dict, box: tuple[int, int, int, int]) -> np.ndarray:
    """The bool (y1 - y0, x1 - x0) window ``box`` = (x0, y0, x1, y1), exclusive ends, of an
    image-size RLE; cost grows with the window and the run count, not the image."""
    h = int(rle["size"][0])
    x0, y0, x1, y1 = (int(v) for v in box)
    bw, bh = max(0, x1 - x0), max(0, y1 - y0)
    # Column-major: one row of `out` per image column. Runs never overlap, so the difference
    # array holds -1/0/1 and its running sum 0/1: int8 keeps a 12k x 12k window at 144 MB.
    out = np.zeros((bw, bh + 1), np.int8)
    if bw == 0 or bh == 0:
        return np.zeros((bh, bw), bool)
    starts, ends = _one_runs(rle)
    # Runs overlapping the window's columns, split into one segment per column
    keep = (ends > x0 * h) & (starts < x1 * h)
    starts, ends = starts[keep], ends[keep]
    first_col, last_col = starts // h, (ends - 1) // h
    n = last_col - first_col + 1
    col = np.repeat(first_col, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    seg_start = np.maximum(np.repeat(starts, n), col * h) - col * h
    seg_end = np.minimum(np.repeat(ends, n), (col + 1) * h) - col * h
    # Clip to the window and paint with a difference array
    inside = (col >= x0) & (col < x1)
    col, r0 = col[inside] - x0, np.clip(seg_start[inside] - y0, 0, bh)
    r1 = np.clip(seg_end[inside] - y0, 0, bh)
    nonempty = r1 > r0
    np.add.at(out, (col[nonempty], r0[nonempty]), 1)
    np.add.at(out, (col[nonempty], r1[nonempty]), -1)
    return np.cumsum(out[:, :bh], axis=1, dtype=np.int8).T > 0


def encode_window(window: np.ndarray, x0: int, y0: int, image_size: tuple[int, int]) -> dict:
    """The image-size compressed RLE of a bool window (bh, bw) whose top-left pixel is
    (x0, y0) in an image of ``image_size = (H, W)``; pixels outside the window are 0."""
    h, w = int(image_size[0]), int(image_size[1])
    win = np.asarray(window, dtype=bool)
    bh, bw = win.shape
    if x0 < 0 or y0 < 0 or x0 + bw > w or y0 + bh > h:
        raise ValueError(f"window {bw}x{bh} at ({x0}, {y0}) does not fit a {w}x{h} image")
    # Run edges per image column (column-major), from the window padded with 0 above and below
    padded = np.zeros((bw, bh + 2), np.int8)
    padded[:, 1:-1] = win.T
    cols, rows = np.nonzero(np.diff(padded, axis=1))  # sorted by column, then row
    flat = (cols.astype(np.int64) + x0) * h + rows + y0
    starts, ends = flat[0::2], flat[1::2]
    # A run ending at a column's last row and one starting at the next column's first join up
    joined = ends[:-1] == starts[1:]
    if joined.any():
        starts = starts[np.concatenate([[True], ~joined])]
        ends = ends[np.concatenate([~joined, [True]])]
    edges = np.empty(2 * len(starts) + 2, np.int64)
    edges[0], edges[1:-1:2], edges[2:-1:2], edges[-1] = 0, starts, ends, h * w
    counts = np.diff(edges)
    if len(counts) > 1 and counts[-1] == 0:  # a mask that reaches the last pixel
        counts = counts[:-1]
    return mask_utils.frPyObjects({"size": [h, w], "counts": counts.tolist()}, h, w)


def rle_to_json(rle: dict) -> dict:
    """pycocotools compressed RLE -> JSON-safe ``{"size": [h, w], "counts": str}``."""
    counts = rle["counts"]
    if isinstance(counts, (bytes, bytearray)):
        counts = counts.decode("ascii")
    elif not isinstance(counts, str):  # uncompressed RLE (list of run lengths): compress it
        h, w = (int(v) for v in rle["size"])
        counts = mask_utils.frPyObjects({"size": [h, w], "counts": list(counts)}, h, w)["counts"]
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def rle_from_json(obj: dict) -> dict:
    """JSON RLE (str counts, or an uncompressed list of run lengths) -> pycocotools RLE (bytes)."""
    try:
        h, w = (int(v) for v in obj["size"])
        counts = obj["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a COCO RLE object: {exc}") from None
    if isinstance(counts, str):
        return {"size": [h, w], "counts": counts.encode("ascii")}
    if isinstance(counts, (bytes, bytearray)):
        return {"size": [h, w], "counts": bytes(counts)}
    return mask_utils.frPyObjects({"size": [h, w], "counts": list(counts)}, h, w)
