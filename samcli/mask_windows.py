"""Full-size mask logits computed only inside the window where a mask can be.

Everything-mode upsamples every candidate that passes the predicted-IoU filter from the
decoder's 256 x 256 logits to the image (or crop) size, then thresholds it three times (the
mask and the two stability masks). A bilinear resize (``align_corners=False``, no
antialiasing) makes each output pixel a convex combination of at most 2 x 2 low-res logits,
so an output pixel whose low-res neighbours are all at most ``t`` is at most ``t`` itself.
With ``t`` the loosest threshold in use (``mask_threshold - stability_score_offset``), the
low-res logits above ``t`` give a window outside of which the mask, both stability masks and
their pixel counts are empty: only the window needs resizing, thresholding and counting.
SAM's masks are mostly small (a few percent of the image each), so this turns the
per-candidate cost from the image's pixels into the mask's.

Values: the window is resized one axis at a time with PyTorch's bilinear source-index rule
(``area_pixel_compute_source_index``) in float32, the columns first and then the rows, each
tap pair combined as one fused multiply-add, as ``upsample_bilinear2d``'s vectorised CPU
kernel does: on CPUs with FMA (x86-64 with AVX2 or AVX-512, ARMv8) the window holds the very
values ``F.interpolate`` gives on the whole image (tests check bit equality against it), and
elsewhere the same to float32 rounding. The support test keeps a margin (:data:`MARGIN`) so
rounding can never put a pixel outside the window above ``t``.

Frames: low-res logits (256, 256) cover the model input's padded square scaled by 1/4 for
SAM 1 and the whole (unpadded) image for SAM 2; :class:`AxisTaps` describe the resize of one
axis from ``in_size`` low-res samples to ``out_size`` output pixels, and windows are
``(y0, y1, x0, x1)`` half-open ranges of output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Low-res logits within MARGIN of the threshold count as support: far above float32 rounding
# of a two-tap interpolation of logits (|logit| < 1e4 in practice), far below any real margin.
MARGIN = 1e-3


@dataclass(frozen=True)
class AxisTaps:
    """Bilinear taps of one axis, per output pixel: source indices ``lo`` and ``hi``
    (int64 (out_size,), never decreasing), the weight ``frac`` of ``hi`` and ``rest`` =
    1 - frac of ``lo`` (float32 (out_size,)); the pixel is ``rest * x[lo] + frac * x[hi]``."""

    lo: np.ndarray
    hi: np.ndarray
    frac: np.ndarray
    rest: np.ndarray

    @property
    def size(self) -> int:
        return len(self.lo)

    def reach(self, first: int, last: int) -> tuple[int, int]:
        """Half-open range of output pixels that read any source sample in [first, last]."""
        start = int(np.searchsorted(self.hi, first, side="left"))
        end = int(np.searchsorted(self.lo, last, side="right"))
        return (start, end) if end > start else (0, 0)


def axis_taps(in_size: int, out_size: int) -> AxisTaps:
    """Taps of a linear resize ``in_size -> out_size`` (align_corners=False, edge-clamped),
    computed as PyTorch's CPU kernels do: scale = in/out in float32, source coordinate
    ``scale * (dst + 0.5) - 0.5`` (one fused multiply-add: the product is exact in float64,
    so rounding the float64 result once is the FMA's value) clamped at 0, ``lo`` its floor,
    ``hi`` the next sample (or ``lo`` at the last one), ``frac`` the remainder in [0, 1]."""
    scale = np.float32(in_size) / np.float32(out_size)
    dst = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
    real = (np.float64(scale) * dst.astype(np.float64) - 0.5).astype(np.float32)
    real = np.maximum(real, np.float32(0))
    lo = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    frac = np.clip(real - lo.astype(np.float32), 0, 1).astype(np.float32)
    hi = lo + (lo < in_size - 1)
    return AxisTaps(lo, hi, frac, np.float32(1) - frac)


@dataclass(frozen=True)
class AxisResize:
    """One axis of an upscaling: linear resizes applied one after the other (SAM 2: one, to
    the image; SAM 1: x4 to the padded 1024 frame, then its kept part to the image)."""

    stages: tuple[AxisTaps, ...]

    def reach(self, first: int, last: int) -> tuple[int, int]:
        """Half-open range of output pixels that read any input sample in [first, last]."""
        start, end = first, last + 1
        for stage in self.stages:
            start, end = stage.reach(start, end - 1)
            if end <= start:
                return 0, 0
        return start, end

    def spans(self, start: int, end: int) -> list[tuple[int, int]]:
        """The ranges each stage reads to make outputs [start, end): the input's range first,
        then each stage's output range (``lo`` / ``hi`` never decrease)."""
        out = [(start, end)]
        for stage in reversed(self.stages):
            s, e = out[-1]
            out.append((int(stage.lo[s]), int(stage.hi[e - 1]) + 1))
        return out[::-1]

    def apply(self, x: np.ndarray, axis: int, spans: list[tuple[int, int]]) -> np.ndarray:
        """Resize ``x`` (holding the input range ``spans[0]`` along ``axis``) to the output
        range ``spans[-1]``, stage by stage."""
        for stage, (base, _), (s, e) in zip(self.stages, spans, spans[1:]):
            shape = [1] * x.ndim
            shape[axis] = e - s
            x = _blend(np.take(x, stage.lo[s:e] - base, axis=axis),
                       np.take(x, stage.hi[s:e] - base, axis=axis),
                       stage.rest[s:e].reshape(shape), stage.frac[s:e].reshape(shape))
        return x


@dataclass(frozen=True)
class WindowResize:
    """A predictor's upscaling of low-res logits as per-axis resizes: ``rows`` then
    ``cols`` when ``rows_first`` (SAM 1's separable passes), else columns first (SAM 2's
    one bilinear resize, whose kernel combines the column taps first)."""

    rows: AxisResize
    cols: AxisResize
    rows_first: bool = False


def support_windows(lows: torch.Tensor, threshold: float, resize: WindowResize
                    ) -> list[tuple[int, int, int, int]]:
    """The window ``(y0, y1, x0, x1)`` of output pixels that can exceed ``threshold``, for
    each mask's low-res logits in ``lows`` (k, h, w) float32 upscaled by ``resize``;
    (0, 0, 0, 0) for a mask none of whose pixels can (empty at every threshold >=
    ``threshold``)."""
    above = lows > (threshold - MARGIN)
    row_hit = above.any(dim=2).numpy()  # (k, h)
    col_hit = above.any(dim=1).numpy()  # (k, w)
    out = []
    for r, c in zip(row_hit, col_hit):
        ys, xs = np.flatnonzero(r), np.flatnonzero(c)
        if len(ys) == 0:
            out.append((0, 0, 0, 0))
            continue
        y0, y1 = resize.rows.reach(int(ys[0]), int(ys[-1]))
        x0, x1 = resize.cols.reach(int(xs[0]), int(xs[-1]))
        out.append((y0, y1, x0, x1) if y1 > y0 and x1 > x0 else (0, 0, 0, 0))
    return out


def resize_window(low: np.ndarray, resize: WindowResize, window: tuple[int, int, int, int]
                  ) -> np.ndarray:
    """The upscaled logits inside ``window`` only: low (h, w) float32 -> (y1 - y0, x1 - x0).

    Only the low-res samples the window reads are resized, in the predictor's axis order,
    in numpy on one thread (thread-pool hand-offs for a window of a few hundred pixels cost
    more than the work)."""
    y0, y1, x0, x1 = window
    if y1 <= y0 or x1 <= x0:
        return np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32)
    rows, cols = resize.rows.spans(y0, y1), resize.cols.spans(x0, x1)
    x = low[rows[0][0]:rows[0][1], cols[0][0]:cols[0][1]]
    if resize.rows_first:
        return resize.cols.apply(resize.rows.apply(x, 0, rows), 1, cols)
    return resize.rows.apply(resize.cols.apply(x, 1, cols), 0, rows)


def _blend(a: np.ndarray, b: np.ndarray, rest: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """``rest * a + (frac * b)`` in float32 with the sum fused (one rounding), as the CPU
    kernel's FMA: the float32 product ``frac * b`` first, then ``rest * a`` (exact in float64)
    plus it, rounded once to float32."""
    part = b * frac  # float32
    out = a.astype(np.float64)
    out *= rest
    out += part
    return out.astype(np.float32)
