"""Cost of joining objects across tile seams (``samcli.tiling.merge_seams``) alone.

The per-tile masks come from a stand-in everything-mode that returns every connected region
of one colour in the tile, exactly (as ``tests/test_tiling.py`` does), on a scene of
rectangles, discs and meandering bands (rivers) on a plain background: about one object per
``--spacing``\\ ² pixels, so a 1024-pixel tile holds about a hundred masks, many cut by its
edges. Generation is not timed; ``merge_seams`` is, on the same masks, for this checkout's
module and, with ``--compare FILE``, for another version of ``samcli/tiling.py`` (e.g.
``git show HEAD~1:samcli/tiling.py > /tmp/old_tiling.py``). Prints tiles, masks, proposals and
seconds (best of ``--repeat``).

Usage (repository root)::

    python benchmarks/bench_seams.py --size 4096 --compare /tmp/old_tiling.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scene(size: int, spacing: int, seed: int = 0) -> np.ndarray:
    """uint8 (size, size, 3): objects of distinct colours on grey, a few of them rivers."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 128, np.uint8)
    n = max(1, size * size // spacing**2)
    colours = rng.choice(255**3 - 1, n, replace=False) + 1
    for k, code in enumerate(colours):
        colour = (int(code) >> 16 & 255, int(code) >> 8 & 255, int(code) & 255)
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(10, spacing))
        if k % 25 == 0:  # a river across the image, crossing seams again and again
            xs = np.arange(size)
            ys = (y + r * np.sin(xs / rng.uniform(15, 40))).astype(np.int32)
            cv2.polylines(img, [np.stack([xs, ys], 1)], False, colour, int(rng.integers(3, 9)))
        elif k % 2:
            cv2.circle(img, (x, y), r, colour, -1)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(10, spacing))), colour, -1)
    return img


def regions(tile: np.ndarray, count_only: bool = False) -> list[np.ndarray] | int:
    """Every 8-connected one-colour region of ``tile`` but the grey background (as bool
    masks, or how many with ``count_only``)."""
    import cv2

    code = (tile[..., 0].astype(np.int64) << 16) | (tile[..., 1].astype(np.int64) << 8) | tile[..., 2]
    out, count = [], 0
    for c in np.unique(code):
        if c == (128 << 16 | 128 << 8 | 128):
            continue
        n, lab = cv2.connectedComponents((code == c).astype(np.uint8), connectivity=8)
        count += n - 1
        if not count_only:
            out += [lab == i for i in range(1, n)]
    return count if count_only else out


def tile_masks(img: np.ndarray, size: int, overlap: int):
    from samcli.maskset import MaskSet, encode_masks, rle_boxes
    from samcli.tiling import tile_grid, to_image_frame

    h, w = img.shape[:2]
    tiles = tile_grid(h, w, size, overlap)
    parts = []
    for x0, y0, x1, y1 in tiles:
        found = regions(img[y0:y1, x0:x1])
        n, th, tw = len(found), y1 - y0, x1 - x0
        rles = encode_masks(np.stack(found)) if n else []
        local = MaskSet(image_size=(th, tw), rles=rles, boxes=rle_boxes(rles),
                        predicted_iou=np.full(n, 0.9), stability_score=np.ones(n),
                        points=np.zeros((n, 2)), crop_boxes=np.tile([0, 0, tw, th], (n, 1)))
        parts.append(to_image_frame(local, (x0, y0, x1, y1), (h, w)))
    masks = MaskSet.concat(parts, (h, w))
    owner = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)]).astype(np.int64)
    return masks, owner, tiles


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--overlap", type=int, default=256)
    ap.add_argument("--spacing", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", type=Path, help="another samcli/tiling.py to time alike")
    args = ap.parse_args()

    from geometry_bench import best_of  # (this folder is on sys.path when run as a script)

    from samcli import tiling

    img = scene(args.size, args.spacing)
    masks, owner, tiles = tile_masks(img, args.tile, args.overlap)
    truth = regions(img, count_only=True)
    print(f"{args.size}x{args.size}, {len(tiles)} tiles of {args.tile} (overlap {args.overlap}):"
          f" {len(masks)} tile masks, {truth} objects in the image")
    versions = [("this checkout", tiling)]
    if args.compare:
        spec = importlib.util.spec_from_file_location("other_tiling", args.compare)
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        if hasattr(other, "mask_utils"):  # (older versions: pycocotools' area, > 255 at once)
            import types

            from samcli.rle import _AREA_CHUNK

            area = other.mask_utils.area
            other.mask_utils = types.SimpleNamespace(**{
                k: getattr(other.mask_utils, k) for k in dir(other.mask_utils)
                if not k.startswith("__")})
            other.mask_utils.area = lambda rles: np.concatenate(
                [np.atleast_1d(area(list(rles)[i:i + _AREA_CHUNK]))
                 for i in range(0, len(rles), _AREA_CHUNK)]) if isinstance(rles, list) \
                else area(rles)
        versions.append((str(args.compare), other))
    for name, module in versions:
        seconds, out = best_of(lambda: module.merge_seams(masks, owner, tiles), args.repeat)
        print(f"  {name}: {len(out)} proposals in {seconds:.2f} s")


if __name__ == "__main__":
    main()
