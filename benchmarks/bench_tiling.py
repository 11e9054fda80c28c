"""Peak memory of tiled everything-mode on a very large image (and where it goes).

Runs ``samcli automask`` as a child process (``/usr/bin/time -f %M`` gives its peak RSS) on:

1. a 1024 x 1024 image, untiled: the baseline (model + one SAM input's working set);
2. a synthetic ``--size`` image (default 12000 x 12000) with ``--tile`` tiles.

The documented bound for a tiled run is::

    peak RSS <= baseline + 2 x (3 x H x W bytes)       # the RGB image, plus the decoder's copy
               + what the proposals hold (compressed RLEs: KB each)

(Pillow's decoded image and samcli's RGB array coexist while the file is read.) The script
prints both numbers, the bound, the tile count, the proposal count and the wall time.

Weights: MobileSAM with random weights whose decoder is scaled as in the tests' confident
model (``tests/commands/conftest.py``), so masks survive the filters; random weights do not
change memory, only what the masks look like. The scene: rectangles and discs of random colours
on a noisy background, many across tile seams.

Usage (from the repository root, test extras installed)::

    python benchmarks/bench_tiling.py                          # 12000 x 12000, 1024 tiles
    python benchmarks/bench_tiling.py --size 6000 --points-per-side 16
    python benchmarks/bench_tiling.py --loose                  # thresholds 0: many proposals
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scene(size: int, seed: int = 0) -> np.ndarray:
    """uint8 (size, size, 3): noisy grey, with ~1 object per 300 x 300 pixels."""
    import cv2

    rng = np.random.default_rng(seed)
    img = rng.integers(90, 110, (size, size, 3), dtype=np.uint8)
    for _ in range(max(1, size * size // 90_000)):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(20, 200))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), r, colour, -1)
        else:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(20, 200))), colour, -1)
    return img


def run(args: list[str]) -> tuple[int, float, str]:
    """(peak RSS bytes, wall seconds, stdout) of ``samcli ARGS``."""
    cmd = ["/usr/bin/time", "-f", "MAXRSS_KB=%M", sys.executable, "-m", "samcli", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"samcli failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    kb = int(next(line for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KB="))
             .split("=")[1])
    return kb * 1024, wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=12000, help="side of the square test image")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--tile-overlap", type=int, default=128)
    ap.add_argument("--points-per-side", type=int, default=8)
    ap.add_argument("--loose", action="store_true",
                    help="thresholds 0 (--pred-iou-thresh, --stability-score-thresh): many "
                    "more proposals, to weigh what the masks themselves cost")
    args = ap.parse_args()

    import torch
    from PIL import Image

    from samcli.tiling import tile_grid
    from tests.commands.conftest import confident_mobile_sam

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "mobile.pt"
        torch.save(confident_mobile_sam().state_dict(), ckpt)
        small, big = tmp / "small.png", tmp / "big.png"
        Image.fromarray(scene(1024, seed=1)).save(small)
        Image.MAX_IMAGE_PIXELS = None
        Image.fromarray(scene(args.size)).save(big, compress_level=1)
        common = ["--checkpoint", str(ckpt), "--points-per-side", str(args.points_per_side),
                  "-q", "--max-pixels", "0"]
        if args.loose:
            common += ["--pred-iou-thresh", "0", "--stability-score-thresh", "0"]

        base_rss, base_s, _ = run(["automask", str(small), *common])
        rss, wall, out = run(["automask", str(big), *common, "--tile", str(args.tile),
                              "--tile-overlap", str(args.tile_overlap)])

    n_tiles = len(tile_grid(args.size, args.size, args.tile, args.tile_overlap))
    n_props = sum(1 for line in out.splitlines() if line.strip())
    image_bytes = 3 * args.size * args.size
    bound = base_rss + 2 * image_bytes
    result = {
        "size": args.size, "tile": args.tile, "tile_overlap": args.tile_overlap,
        "points_per_side": args.points_per_side, "loose": args.loose, "tiles": n_tiles,
        "proposals": n_props,
        "baseline_rss_mb": round(base_rss / 2**20), "baseline_s": round(base_s, 1),
        "tiled_rss_mb": round(rss / 2**20), "tiled_s": round(wall, 1),
        "rgb_image_mb": round(image_bytes / 2**20), "bound_mb": round(bound / 2**20),
        "within_bound": rss <= bound,
    }
    print(json.dumps(result, indent=1))
    print(f"\n| image | tiles | proposals | peak RSS | bound (baseline + 2 x RGB) | time |\n"
          f"|---|---|---|---|---|---|\n"
          f"| 1024 x 1024, untiled (baseline) | 1 | - | {result['baseline_rss_mb']} MB | - | "
          f"{result['baseline_s']} s |\n"
          f"| {args.size} x {args.size}, --tile {args.tile} --tile-overlap {args.tile_overlap} | "
          f"{n_tiles} | {n_props} | {result['tiled_rss_mb']} MB | {result['bound_mb']} MB | "
          f"{result['tiled_s']} s |")


if __name__ == "__main__":
    main()
