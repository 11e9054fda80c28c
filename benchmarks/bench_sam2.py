"""samcli vs Meta's ``SAM2AutomaticMaskGenerator``: SAM 2.1 everything-mode, same weights,
images and parameters, in one process, one run.

Weights: the official networks (``--models``: sam2.1_hiera_tiny, sam2.1_hiera_large, ...; 1024
input) with seeded random weights plus the decoder wiring of ``tests/automask_models_sam2.py``, so that dozens of masks survive SAM 2's
default filters (with plain random weights nearly none do and the comparison would measure
nothing). Parameters: SAM2AutomaticMaskGenerator's defaults (pred_iou_thresh 0.8, ...) except
``--points-per-side`` (default 8, to keep a CPU run short) and ``--points-per-batch``.

Per image and run: the time of one whole ``generate`` (the encoder included: both sides
encode the image inside it), as wall-clock seconds and as the process's CPU seconds (with one
intra-op thread the CPU time is the work done, steadier than the wall clock when other
processes share the cores; the speed-ups are from CPU time), the number of masks, and parity with the reference's masks:
a one-to-one greedy matching by IoU (``bench_automask._parity``): mean / minimum IoU, a mask
left without a partner counting 0. Runs, interleaved per image and repeated ``--repeats``
times (the best time of each is reported): the reference float32, samcli float32, samcli
``--dtype bfloat16`` (bfloat16 image encoder, the CPU's default "mixed" decoder). Each side
first runs one untimed small image (first-call overheads are not what is measured).

Usage (repository root, test extras installed):

    python benchmarks/bench_sam2.py                            # chelsea + coffee, 8x8 points
    python benchmarks/bench_sam2.py --points-per-side 16 --images astronaut
    python benchmarks/bench_sam2.py --threads 1 --repeats 3     # a shared machine
    python benchmarks/bench_sam2.py --models sam2.1_hiera_tiny sam2.1_hiera_large \
        --images chelsea coffee coffee@2.5                        # coffee scaled to 1000x1500

Prints a Markdown table for BENCHMARKS.md, with the machine (CPU model, cores, torch threads,
load average before and after: other processes on a shared machine slow both sides).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _image(spec: str) -> np.ndarray:
    """scikit-image's image ``name``, or ``name@F`` resized by F (bicubic)."""
    import cv2
    import skimage.data as data

    name, _, factor = spec.partition("@")
    img = np.ascontiguousarray(getattr(data, name)()[..., :3])
    if factor:
        img = cv2.resize(img, None, fx=float(factor), fy=float(factor),
                         interpolation=cv2.INTER_CUBIC)
    return img


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["sam2.1_hiera_tiny"])
    ap.add_argument("--images", nargs="+", default=["chelsea", "coffee"],
                    help="scikit-image names, NAME@F for one resized by F")
    ap.add_argument("--points-per-side", type=int, default=8)
    ap.add_argument("--points-per-batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 run")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads for both sides (0: torch's default); on a "
                    "shared machine 1 is steadier")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from bench_automask import _parity
    from samcli.automask import generate
    from samcli.config import preset_config
    from samcli.predictor import resolve_decoder_precision
    from samcli.predictor_sam2 import Sam2Predictor
    from samcli.rle import rle_to_json
    from tests.automask_models_sam2 import make_automask_pair
    from tests.sam2_factories import fit_reference_predictor, quiet

    with quiet():
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    params = dict(points_per_side=args.points_per_side, points_per_batch=args.points_per_batch)
    cfg = preset_config("sam", params, family="sam2")  # SAM 2's defaults below the flags

    def reference(ref_model):
        gen = SAM2AutomaticMaskGenerator(ref_model, output_mode="coco_rle", **params)
        fit_reference_predictor(gen.predictor)

        def run(img):
            with quiet(), torch.inference_mode():
                return [a["segmentation"] for a in gen.generate(img)]
        return run

    def samcli(ours_model, dtype):
        decoder, products = resolve_decoder_precision("auto", dtype, torch.device("cpu"))
        import copy

        predictor = Sam2Predictor(copy.deepcopy(ours_model), dtype=dtype,
                                  decoder_dtype=decoder, decoder_products=products)

        def run(img):
            return [rle_to_json(r) for r in generate(predictor, img, cfg).rles]
        return run

    warm = _image("camera")[:64, :96]
    warm = np.ascontiguousarray(np.repeat(warm[..., None], 3, axis=2) if warm.ndim == 2
                                else warm)
    load_before = os.getloadavg()
    rows = []
    for model in args.models:
        with quiet():
            ours_model, ref_model = make_automask_pair(seed=0, image_size=1024, name=model)
        runs = {"reference float32": reference(ref_model),
                "samcli float32": samcli(ours_model, torch.float32)}
        if not args.no_bf16:
            runs["samcli bfloat16"] = samcli(ours_model, torch.bfloat16)
        for run in runs.values():
            run(warm)
        for name in args.images:
            img = _image(name)
            cpu: dict[str, float] = {}
            wall: dict[str, float] = {}
            masks: dict[str, list] = {}
            for _ in range(args.repeats):
                for label, run in runs.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    masks[label] = run(img)
                    dt, dc = time.perf_counter() - t0, time.process_time() - c0
                    wall[label] = min(wall.get(label, dt), dt)
                    cpu[label] = min(cpu.get(label, dc), dc)
                    print(f"# {model} {name} {label}: {dt:.2f} s wall, {dc:.2f} s CPU, "
                          f"{len(masks[label])} masks", file=sys.stderr, flush=True)
            ref = masks["reference float32"]
            for label in runs:
                mean, low, _, _ = _parity(masks[label], ref)
                speed = cpu["reference float32"] / cpu[label]
                rows.append(f"| {model} | {label} | {name} {img.shape[1]}x{img.shape[0]} "
                            f"| {cpu[label]:.2f} | {wall[label]:.2f} | {len(masks[label])} "
                            f"| {speed:.2f}x | {mean:.4f} / {low:.4f} |")
        del runs, ours_model, ref_model
    load_after = os.getloadavg()

    print(f"1024 input, test weights, points_per_side {args.points_per_side}, points_per_batch "
          f"{args.points_per_batch}, SAM 2 defaults otherwise; {_cpu_name()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; best of {args.repeats}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after\n")
    print("| model | run | image | everything-mode CPU s | wall s | masks "
          "| speed-up vs reference (CPU) | matched IoU vs reference mean / min |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
