"""Box prompts per image with the image encoder's large blocks mmapped or kept in the heap.

samcli mmaps the image encoder's blocks from a threshold up (see ``samcli.memory``): 64 MiB,
and 128 MiB for MobileSAM's TinyViT, whose 64 MiB first-stage activations carry little
arithmetic. This runs the from-boxes work (``set_image`` then three box prompts, single mask)
on a few 640 x 480 images, once as shipped and once with the encoder's threshold forced to
64 MiB, each in its own process (peak RSS is the process's ``VmHWM``), and prints seconds per
image (median after the first) and peak RSS. Random weights; the numbers do not depend on them.

Usage (repository root)::

    python benchmarks/bench_encoder_heap.py --models mobile_sam vit_b --images 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(name: str, forced_mib: float | None, n_images: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    import samcli.memory as memory
    from samcli.loader import make_predictor
    from samcli.model.build import build_model
    from samcli.model.specs import family_of

    if forced_mib is not None:
        memory.LIGHT_ENCODER_MMAP_THRESHOLD = int(forced_mib * 2**20)
        memory.ENCODER_MMAP_THRESHOLD = int(forced_mib * 2**20)
        import samcli.predictor as predictor_module

        predictor_module.LIGHT_ENCODER_MMAP_THRESHOLD = memory.LIGHT_ENCODER_MMAP_THRESHOLD
        predictor_module.ENCODER_MMAP_THRESHOLD = memory.ENCODER_MMAP_THRESHOLD
    torch.manual_seed(0)
    predictor = make_predictor(family_of(name), build_model(name), device="cpu",
                               dtype=torch.float32)
    rng = np.random.default_rng(0)
    boxes = np.array([[10, 10, 200, 200], [100, 50, 400, 300], [300, 200, 600, 470]], float)
    times = []
    for _ in range(n_images):
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        start = time.perf_counter()
        predictor.set_image(image)
        predictor.predict(boxes=boxes, multimask_output=False)
        times.append(time.perf_counter() - start)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    return {"s_per_image": statistics.median(times[1:]), "peak_rss_mib": hwm // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mobile_sam", "vit_b"])
    ap.add_argument("--images", type=int, default=6,
                    help="images per run, at least 2 (the first is not timed)")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "FORCED_MIB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.images < 2:
        ap.error("--images must be at least 2: the first image is not timed")
    if args.child:
        name, forced = args.child
        print(json.dumps(child(name, None if forced == "none" else float(forced), args.images)))
        return
    print("| model | encoder blocks mmapped from | s per image (median) | peak RSS MiB |")
    print("|---|---|---|---|")
    for name in args.models:
        for label, forced in (("as shipped", "none"), ("64 MiB (forced)", "64")):
            out = subprocess.run([sys.executable, __file__, "--child", name, forced,
                                  "--images", str(args.images)], capture_output=True, text=True,
                                 check=True, cwd=ROOT)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {name} | {label} | {r['s_per_image']:.3f} | {r['peak_rss_mib']} |",
                  flush=True)


if __name__ == "__main__":
    main()
