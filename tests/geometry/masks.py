"""Labelled masks and helpers shared by the geometry tests."""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils


def make_mask(h: int, w: int, pixels=(), rects=()) -> np.ndarray:
    m = np.zeros((h, w), bool)
    for r, c in pixels:
        m[r, c] = True
    for r0, r1, c0, c1 in rects:
        m[r0:r1, c0:c1] = True
    return m


def polygons(geom: dict) -> list:
    return [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]


def n_vertices(geom: dict) -> int:
    return sum(len(r) - 1 for p in polygons(geom) for r in p)


def coco_rasterize(geom: dict, h: int, w: int) -> np.ndarray:
    """pycocotools polygon rasterization: union over parts of (exterior minus holes)."""
    out = np.zeros((h, w), bool)

    def ring(r):
        rle = mask_utils.frPyObjects([np.asarray(r, float).ravel().tolist()], h, w)
        return mask_utils.decode(mask_utils.merge(rle)).astype(bool)

    for poly in polygons(geom):
        part = ring(poly[0])
        for hole in poly[1:]:
            part &= ~ring(hole)
        out |= part
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def ring_ok(ring) -> bool:
    """Closed, >= 3 distinct points, no repeated consecutive or collinear vertices."""
    pts = np.asarray(ring, float)
    if len(pts) < 4 or np.any(pts[0] != pts[-1]):
        return False
    p = pts[:-1]
    if np.any(np.all(p == np.roll(p, 1, axis=0), axis=1)):
        return False
    a, b = p - np.roll(p, 1, axis=0), np.roll(p, -1, axis=0) - p
    return bool(np.all(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0))


# --------------------------------------------------------------------------------------------
# labelled cases

CASES = {
    "single pixel": make_mask(3, 3, pixels=[(0, 0)]),
    "single pixel centre": make_mask(3, 3, pixels=[(1, 1)]),
    "10x10 square": make_mask(12, 12, rects=[(1, 11, 1, 11)]),
    "square with hole": make_mask(10, 10, rects=[(1, 9, 1, 9)])
    & ~make_mask(10, 10, rects=[(4, 6, 4, 6)]),
    "two parts": make_mask(10, 12, rects=[(1, 4, 1, 4), (5, 9, 6, 11)]),
    "corner-touching pixels": make_mask(3, 3, pixels=[(0, 0), (1, 1)]),
    "anti-diagonal touching": make_mask(3, 3, pixels=[(0, 1), (1, 0)]),
    "checkerboard 4x4": (np.indices((4, 4)).sum(0) % 2 == 0),
    "horizontal stroke": make_mask(5, 20, rects=[(2, 3, 1, 19)]),
    "vertical stroke": make_mask(20, 5, rects=[(1, 19, 2, 3)]),
    "diagonal staircase 8-conn": np.eye(12, dtype=bool),
    "diagonal staircase 4-conn": np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool),
    "annulus": (lambda yy, xx: ((yy - 15) ** 2 + (xx - 15) ** 2 <= 144)
                & ((yy - 15) ** 2 + (xx - 15) ** 2 > 36))(*np.mgrid[:31, :31]),
    "hole touching shell at a corner": make_mask(4, 4, rects=[(0, 3, 0, 3)], pixels=[(3, 3)])
    & ~make_mask(4, 4, pixels=[(1, 1), (2, 2)]),
    "island in hole": make_mask(9, 9, rects=[(0, 9, 0, 9)]) & ~make_mask(9, 9, rects=[(2, 7, 2, 7)])
    | make_mask(9, 9, pixels=[(4, 4)]),
    "pinched ring (8-connected loop)": make_mask(5, 5, pixels=[(0, 1), (1, 0), (1, 2), (2, 1)]),
    "full image": np.ones((6, 7), bool),
}


# --------------------------------------------------------------------------------------------
# random masks


def random_masks(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 24, 2))
        yield rng.random((h, w)) < rng.uniform(0.05, 0.95)


def blob_suite(seed: int = 0):
    """Masks of >= 200 px: discs, rotated ellipses, smooth random blobs, strokes, polygons."""
    rng = np.random.default_rng(seed)
    out = []
    k = 0
    while len(out) < 100:
        h, w = int(rng.integers(30, 160)), int(rng.integers(30, 160))
        m = np.zeros((h, w), np.uint8)
        kind = k % 5
        k += 1
        if kind == 0:
            cv2.circle(m, (w // 2, h // 2), int(rng.uniform(8, min(h, w) / 2 - 1)), 1, -1)
        elif kind == 1:
            axes = (int(rng.uniform(5, w / 2 - 1)), int(rng.uniform(3, h / 2 - 1)))
            cv2.ellipse(m, (w // 2, h // 2), axes, rng.uniform(0, 180), 0, 360, 1, -1)
        elif kind == 2:
            noise = cv2.resize(rng.random((h // 4 + 2, w // 4 + 2)), (w, h),
                               interpolation=cv2.INTER_CUBIC)
            m = (noise > np.quantile(noise, rng.uniform(0.3, 0.9))).astype(np.uint8)
        elif kind == 3:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(m, p1, p2, 1, int(rng.integers(1, 4)))
        else:
            pts = rng.uniform([0, 0], [w, h], (int(rng.integers(3, 9)), 2)).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
        if m.sum() >= 200:
            out.append(m.astype(bool))
    return out


BLOBS = blob_suite()


def thin_strokes(seed: int = 11, n: int = 24):
    """Masks of >= 200 px drawn as 4-connected lines one or two pixels wide (wires, cracks):
    their smoothed outline passes 0.35 px from the pixel centres, closer than the default
    tolerance, so Douglas-Peucker can cut centres off (the issue 15 review's finding)."""
    rng = np.random.default_rng(seed)
    out = {}
    while len(out) < n:
        length, angle = rng.uniform(150, 300), rng.uniform(0, np.pi / 2)
        end = (int(5 + length * np.cos(angle)), int(5 + length * np.sin(angle)))
        width = 1 + len(out) % 2
        m = np.zeros((int(length) + 12, int(length) + 12), np.uint8)
        cv2.line(m, (5, 5), end, 1, width, lineType=cv2.LINE_4)
        if m.sum() >= 200:
            out[f"{width} px to {end}"] = m.astype(bool)
    return out


# --------------------------------------------------------------------------------------------
# fragmented masks


def fragmented(kind: str, size: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind.startswith("noise"):
        return rng.random((size, size)) < float(kind.split()[1])
    if kind == "checkerboard":  # (with a few defects when seeded)
        return (np.indices((size, size)).sum(0) % 2 == 0) ^ (rng.random((size, size)) < seed / 50)
    if kind == "blobs + noise":
        coarse = cv2.resize(rng.random((size // 16 + 2, size // 16 + 2)), (size, size),
                            interpolation=cv2.INTER_CUBIC)
        return (coarse > 0.5) ^ (rng.random((size, size)) < 0.05)
    if kind == "thick noise":  # 2x2 blocks, opened: many small parts with holes and pinches
        m = np.kron(rng.random((size // 2, size // 2)) < 0.55, np.ones((2, 2), bool))
        return m ^ (rng.random((size, size)) < 0.03)
    raise ValueError(kind)


def speckled(size: int, holes: float, seed: int) -> np.ndarray:
    """A near-full mask with one-pixel (and clustered) holes: one part with many rings."""
    rng = np.random.default_rng(seed)
    m = ~(rng.random((size, size)) < holes)
    m[:, : size // 10] = False  # a straight edge, and a notch the shell must go round
    m[size // 3 : size // 2, size // 2 :] = False
    return m


def blob_with_pinholes(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(12, 40))
    coarse = cv2.resize(rng.random((4, 4)), (size, size), interpolation=cv2.INTER_CUBIC)
    return (coarse > 0.5) & ~(rng.random((size, size)) < rng.uniform(0.02, 0.15))


def _equivalence_masks():
    """Small masks for the (quadratic) reference: the labelled cases, random noise of every
    density, blobs with salt, checkerboards with defects, pinches and holes touching."""
    out = dict(CASES)
    rng = np.random.default_rng(7)
    for i in range(24):
        h, w = (int(v) for v in rng.integers(4, 56, 2))
        out[f"noise {i}"] = rng.random((h, w)) < rng.uniform(0.05, 0.95)
    for kind in ("noise 0.1", "noise 0.5", "checkerboard", "blobs + noise", "thick noise"):
        for seed in range(3):
            out[f"{kind} #{seed}"] = fragmented(kind, 24 if kind == "checkerboard" else 40, seed)
    for m in BLOBS[::10]:
        out[f"blob {len(out)}"] = m & ~(rng.random(m.shape) < 0.05)
    return out


EQUIVALENCE = _equivalence_masks()

FRAGMENTED = ["noise 0.1", "noise 0.5", "checkerboard", "blobs + noise", "thick noise"]
FRAGMENTED_SIZE = {"checkerboard": 256}  # 32k parts; 512 (131k parts) only slows the checks
