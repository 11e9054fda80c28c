"""A folder, end to end, as a user runs it: images/s, first-image delay, peak memory, parity.

    python benchmarks/bench_folder.py --model vit_b --device cuda --images 50 --large 5
    python benchmarks/bench_folder.py --model mobile_sam --images 6 --large 1 \\
        --points-per-side 8 --parity 2                            # a quick CPU smoke run

The folder: ``--images`` photos (skimage's astronaut, coffee, chelsea, rocket, Hubble deep
field, immunohistochemistry, retina, resized to 0.3-2 megapixels, repeated) plus ``--large`` 2-4 megapixel ones, all
different files. samcli runs it through the library exactly as the CLI does
(``samcli.pipeline.run`` of a RunRequest with ``-o DIR --format coco``: reading, the model,
records, writers, manifest), in this process. Reported:

- first-image delay: from the start of the run (model load included) to the first image
  written; then images/s over the rest (steady state) and over the whole folder;
- peak host memory (max RSS of this process) and, on CUDA, peak GPU memory;
- parity on a subset (``--parity`` images): the reference generator (``segment_anything``'s
  ``SamAutomaticMaskGenerator``, MobileSAM's for mobile_sam) on the same weights and images,
  float32, against samcli's masks: matched IoU (mean / min; a mask without a partner counts
  0) and the mask counts.

Weights: the benchmark's seeded, confident wiring (``bench_automask._weights``), so that masks
pass the default filters. Prints a Markdown row per run; ``--json FILE`` keeps the numbers.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina")
SIZES = ((640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200))
LARGE = ((2000, 1500), (2400, 1600), (2304, 1728))


def make_folder(root: Path, n: int, large: int) -> list[Path]:
    import cv2
    import skimage.data as data

    photos = [np.ascontiguousarray(getattr(data, name)()[..., :3]) for name in PHOTOS]
    paths = []
    for k in range(n + large):
        photo = photos[k % len(photos)]
        w, h = LARGE[k % len(LARGE)] if k >= n else SIZES[(k // len(photos)) % len(SIZES)]
        img = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
        img = np.roll(img, 7 * k, axis=1)  # every file different, as in a real folder
        path = root / f"{k:03d}.png"
        cv2.imwrite(str(path), img[..., ::-1])
        paths.append(path)
    return paths


def run_samcli(folder: Path, out: Path, args: argparse.Namespace, weights: Path) -> dict:
    from samcli import pipeline
    from samcli.config import AutomaskConfig, ModelOptions, OutputOptions
    from samcli.request import RunRequest
    from samcli.runner import Runner

    written: list[float] = []
    record = Runner.record

    def timed_record(self, outcome, summary):
        ok = record(self, outcome, summary)
        written.append(time.perf_counter())
        return ok

    Runner.record = timed_record
    request = RunRequest(
        "automask", (str(folder),),
        AutomaskConfig(points_per_side=args.points_per_side,
                       points_per_batch=args.points_per_batch),
        model=ModelOptions(model=args.model, checkpoint=str(weights), device=args.device,
                           dtype=args.dtype),
        output=OutputOptions(output=str(out), format="coco", quiet=True))
    t0 = time.perf_counter()
    try:
        summary = pipeline.run(request)
    finally:
        Runner.record = record
    total = time.perf_counter() - t0
    n = len(written)
    steady = (n - 1) / (written[-1] - written[0]) if n > 1 else float("nan")
    gpu = {}
    if args.device.startswith("cuda"):
        import torch

        gpu = {"gpu": torch.cuda.get_device_name(), "peak_gpu_gib":
               torch.cuda.max_memory_allocated() / 2**30}
    return {"images": n, "failed": len(summary.failed), "first_image_s": written[0] - t0,
            "images_per_s": n / total, "steady_images_per_s": steady, "total_s": total,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, **gpu}


def parity(paths: list[Path], out: Path, args: argparse.Namespace, weights: Path) -> dict:
    import torch
    from pycocotools.coco import COCO

    from bench_automask import _parity, _reference_model

    state = torch.load(weights, weights_only=True)
    ref = _reference_model(args.model, state).to(args.device)
    if args.model == "mobile_sam":
        from mobile_sam import SamAutomaticMaskGenerator
    else:
        from segment_anything import SamAutomaticMaskGenerator
    gen = SamAutomaticMaskGenerator(ref, points_per_side=args.points_per_side,
                                    points_per_batch=args.points_per_batch,
                                    output_mode="coco_rle")
    coco = COCO(str(out / "annotations.json"))
    by_name = {im["file_name"]: im["id"] for im in coco.dataset["images"]}
    rows = []
    for path in paths:
        import cv2

        rgb = cv2.imread(str(path))[..., ::-1].copy()
        with torch.inference_mode():
            theirs = [a["segmentation"] for a in gen.generate(rgb)]
        ours = [a["segmentation"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[by_name[
            path.name]]))]
        mean, low, _, _ = _parity(ours, theirs)
        rows.append({"image": path.name, "ours": len(ours), "reference": len(theirs),
                     "matched_iou_mean": mean, "matched_iou_min": low})
    return {"parity": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="vit_b")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--large", type=int, default=5)
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--points-per-batch", type=int, default=64)
    ap.add_argument("--parity", type=int, default=3, help="images compared with the reference")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from bench_automask import _weights

    weights = _weights(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "images", Path(tmp) / "out"
        folder.mkdir()
        paths = make_folder(folder, args.images, args.large)
        result = {"model": args.model, "device": args.device, "dtype": args.dtype,
                  "points_per_side": args.points_per_side, **run_samcli(folder, out, args,
                                                                         weights)}
        if args.parity:
            step = max(1, len(paths) // args.parity)
            result.update(parity(paths[::step][: args.parity], out, args, weights))
    print("| model | device | dtype | images | first image | images/s (steady) | peak RSS "
          "| peak GPU | parity: matched IoU mean / min (masks ours/ref) |")
    print("|---|---|---|---|---|---|---|---|---|")
    par = "; ".join(f"{r['matched_iou_mean']:.3f} / {r['matched_iou_min']:.3f} "
                    f"({r['ours']}/{r['reference']})" for r in result.get("parity", []))
    gpu = f"{result['peak_gpu_gib']:.1f} GiB" if "peak_gpu_gib" in result else "-"
    print(f"| {args.model} | {args.device} | {args.dtype} | {result['images']} | "
          f"{result['first_image_s']:.1f} s | {result['images_per_s']:.2f} "
          f"({result['steady_images_per_s']:.2f}) | {result['peak_rss_gib']:.1f} GiB | {gpu} "
          f"| {par} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
