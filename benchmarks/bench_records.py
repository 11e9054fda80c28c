"""What a writer that needs no polygon saves: one image's records and COCO part, with and
without tracing polygons (``--format coco`` traces none since the unit of work asks the
writers what they need; before, every polygon was built and thrown away).

    python benchmarks/bench_records.py [--repeat 3]

The image: 40 proposals on a 1000 x 1000 image, fragmented as everything-mode masks of real
photos can be (smooth blobs with 2% of their pixels flipped: hundreds of parts and holes a
mask), plus 40 clean blobs for comparison. Timed: ``proposal_records`` (the default
simplification) + ``CocoWriter.write``, against ``proposal_records(polygon=None)`` + the
same write. Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samcli.config import PolygonOptions  # noqa: E402
from samcli.io.formats import CocoWriter  # noqa: E402
from samcli.io.records import proposal_records  # noqa: E402
from samcli.maskset import MaskSet, encode_masks, rle_boxes  # noqa: E402
from samcli.results import ImageResult  # noqa: E402

SIZE = 1000


def masks(n: int, flip: float, seed: int) -> MaskSet:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = cv2.resize(rng.random((12, 12)), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        m = coarse > 0.62
        if flip:
            m ^= (rng.random((SIZE, SIZE)) < flip) & cv2.dilate(
                m.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
        out.append(m)
    rles = encode_masks(np.stack(out))
    return MaskSet(image_size=(SIZE, SIZE), rles=rles, boxes=rle_boxes(rles),
                   predicted_iou=np.full(n, 0.9), stability_score=np.full(n, 0.95),
                   points=np.zeros((n, 2)), crop_boxes=np.tile([0, 0, SIZE, SIZE], (n, 1)))


def timed(ms: MaskSet, polygon: PolygonOptions | None, folder: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        records = proposal_records("a.png", SIZE, SIZE, ms, [], polygon)
        CocoWriter(folder).write(ImageResult("a.png", Path("a.png"), SIZE, SIZE, ms,
                                             records=records))
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print("| masks (40 a 1000x1000 image) | with polygons (before) | without (--format coco now)"
          " | speed-up |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, flip in (("fragmented: blobs, 2% of pixels flipped", 0.02),
                            ("clean blobs", 0.0)):
            ms = masks(40, flip, seed=1)
            with_poly = timed(ms, PolygonOptions(), Path(tmp), args.repeat)
            without = timed(ms, None, Path(tmp), args.repeat)
            print(f"| {label} | {with_poly:.2f} s | {without:.3f} s | "
                  f"{with_poly / without:.0f}x |")


if __name__ == "__main__":
    main()
