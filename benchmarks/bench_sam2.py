"""samcli vs Meta's ``SAM2AutomaticMaskGenerator``: SAM 2.1 everything-mode, same weights,
images and parameters, in one run of this script.

Weights: the official networks (``--models``: sam2.1_hiera_tiny, sam2.1_hiera_large, ...; 1024
input) with seeded random weights plus the decoder wiring of
``tests/automask_models_sam2.py``, so that dozens of masks survive SAM 2's default filters
(with plain random weights nearly none do and the comparison would measure nothing).
Parameters: SAM2AutomaticMaskGenerator's defaults (pred_iou_thresh 0.8, ...) except
``--points-per-side`` (default 8, to keep a CPU run short) and ``--points-per-batch``.

Each run is its own worker process, as in ``bench_automask.py``, so each side runs as its
users get it and neither inherits the other's heap: the reference with glibc's default
allocator, samcli with the allocator tuning its predictor applies (``samcli.memory``; it is
process-wide, so in one shared process the reference would run with it too). Runs: the
reference float32; with ``--reference-tuned`` also the reference in a process whose allocator
samcli tuned first (for comparison only: Meta's code does not do this); samcli float32;
samcli ``--dtype bfloat16`` (bfloat16 image encoder, the CPU's default "mixed" decoder).
With ``--device cuda`` (each worker then first runs one untimed image of the list): the
reference also runs under ``torch.autocast(bfloat16)``, as Meta's examples run SAM 2 on a GPU;
times are taken after a synchronize, the speed-ups are ratios of wall time, and the table
adds images/s and the peak GPU memory (``torch.cuda.max_memory_allocated``).

Per image and run: the time of one whole ``generate`` (the encoder included: both sides
encode the image inside it), as wall-clock seconds and as the process's CPU seconds (with one
intra-op thread the CPU time is the work done, steadier than the wall clock when other
processes share the cores; the speed-ups are from CPU time), the number of masks, and parity
with the reference's masks: a one-to-one greedy matching by IoU (``bench_automask._parity``):
mean / minimum IoU, a mask left without a partner counting 0. Each worker first runs one
untimed small image (first-call overheads are not what is measured) and takes the best of
``--repeats`` per image.

Usage (repository root, test extras installed):

    python benchmarks/bench_sam2.py                            # chelsea + coffee, 8x8 points
    python benchmarks/bench_sam2.py --points-per-side 16 --images astronaut
    python benchmarks/bench_sam2.py --threads 1 --repeats 3     # a shared machine
    python benchmarks/bench_sam2.py --models sam2.1_hiera_tiny sam2.1_hiera_large \
        --images chelsea astronaut@2 --points-per-side 32 --threads 1 --reference-tuned
    python benchmarks/bench_sam2.py --device cuda --models sam2.1_hiera_tiny \
        sam2.1_hiera_large --images chelsea astronaut@2 --points-per-side 32   # on a GPU

Prints a Markdown table for BENCHMARKS.md, with the machine (CPU model, cores, torch threads,
load average before and after: other processes on a shared machine slow both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
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


# Worker labels -> the row label in the table
RUNS = {
    "ref": "reference float32",
    "ref-tuned": "reference float32, samcli's allocator",
    "ref-bf16": "reference bfloat16 autocast",
    "f32": "samcli float32",
    "bf16": "samcli bfloat16",
}


def worker(args: argparse.Namespace) -> None:
    """One run (``args.worker``) over every image; prints one JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import samcli.memory
    from bench_automask import _clock
    from tests.automask_models_sam2 import make_automask_model, make_automask_pair
    from tests.sam2_factories import fit_reference_predictor, quiet

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    params = dict(points_per_side=args.points_per_side, points_per_batch=args.points_per_batch)
    if args.worker.startswith("ref"):
        if args.worker == "ref-tuned":
            samcli.memory.tune_cpu_allocator()
        with quiet():
            from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

            model = make_automask_pair(seed=0, image_size=1024, name=args.model)[1].to(device)
        gen = SAM2AutomaticMaskGenerator(model, output_mode="coco_rle", **params)
        fit_reference_predictor(gen.predictor)
        # how Meta's examples run SAM 2 on a GPU: the float32 model under bfloat16 autocast
        autocast = torch.autocast(device.type, dtype=torch.bfloat16,
                                  enabled=args.worker == "ref-bf16")

        def run(img):
            with quiet(), torch.inference_mode(), autocast:
                return [a["segmentation"] for a in gen.generate(img)]
    else:
        from samcli.automask import generate
        from samcli.config import preset_config
        from samcli.predictor import resolve_decoder_precision
        from samcli.predictor_sam2 import Sam2Predictor
        from samcli.rle import rle_to_json

        dtype = torch.float32 if args.worker == "f32" else torch.bfloat16
        decoder, products = resolve_decoder_precision("auto", dtype, device)
        with quiet():
            model = make_automask_model(seed=0, image_size=1024, name=args.model)
        predictor = Sam2Predictor(model, device=device, dtype=dtype, decoder_dtype=decoder,
                                  decoder_products=products)
        cfg = preset_config("sam", params, family="sam2")  # SAM 2's defaults below the flags

        def run(img):
            return [rle_to_json(r) for r in generate(predictor, img, cfg).rles]
    tuned = args.worker in ("ref-tuned", "f32", "bf16")  # samcli tunes it on the CPU only
    if not cuda and samcli.memory._ALLOCATOR_TUNED != tuned:
        raise SystemExit(f"{args.worker}: allocator tuning is not as this run requires")

    warm = _image("camera")[:64, :96]
    run(np.ascontiguousarray(np.repeat(warm[..., None], 3, axis=2) if warm.ndim == 2
                             else warm))
    if cuda:  # kernel selection and the allocator's first growth are not what is measured
        run(_image(args.images[0]))
        torch.cuda.reset_peak_memory_stats(device)
    results = []
    for name in args.images:
        img = _image(name)
        best_cpu = best_wall = float("inf")
        for _ in range(args.repeats):
            t0, c0 = _clock(cuda), time.process_time()
            masks = run(img)
            best_wall = min(best_wall, _clock(cuda) - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        print(f"# {args.model} {name} {RUNS[args.worker]}: {best_wall:.2f} s wall, "
              f"{best_cpu:.2f} s CPU, {len(masks)} masks", file=sys.stderr, flush=True)
        results.append(dict(image=name, size=[img.shape[1], img.shape[0]], cpu=best_cpu,
                            wall=best_wall, rles=masks))
    gpu = dict(gpu=torch.cuda.get_device_name(device),
               peak_gpu_mib=torch.cuda.max_memory_allocated(device) / 2**20) if cuda else {}
    print(json.dumps(dict(threads=torch.get_num_threads(), results=results, **gpu)))


def _run(label: str, model: str, args: argparse.Namespace) -> dict:
    """One worker process (``--worker label``); its JSON line."""
    cmd = [sys.executable, __file__, "--worker", label, "--models", model,
           "--images", *args.images, "--points-per-side", str(args.points_per_side),
           "--points-per-batch", str(args.points_per_batch), "--repeats", str(args.repeats),
           "--threads", str(args.threads), "--device", args.device]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"worker {label} ({model}) failed with exit status {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["sam2.1_hiera_tiny"])
    ap.add_argument("--images", nargs="+", default=["chelsea", "coffee"],
                    help="scikit-image names, NAME@F for one resized by F")
    ap.add_argument("--points-per-side", type=int, default=8)
    ap.add_argument("--points-per-batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-bf16", action="store_true", help="skip the bfloat16 run")
    ap.add_argument("--reference-tuned", action="store_true",
                    help="also run the reference with samcli's allocator tuning")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads for both sides (0: torch's default); on a "
                    "shared machine 1 is steadier")
    ap.add_argument("--device", default="cpu",
                    help="cpu or cuda[:N]; on a GPU the speed-ups are from wall time (after a "
                    "synchronize), the table adds images/s and peak GPU memory, and the "
                    "reference also runs under bfloat16 autocast")
    ap.add_argument("--worker", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.model = args.models[0]
        return worker(args)

    from bench_automask import _parity

    cuda = args.device.startswith("cuda")
    timer = "wall" if cuda else "cpu"  # what the speed-ups are ratios of
    labels = ["ref"] + (["ref-tuned"] if args.reference_tuned and not cuda else []) \
        + (["ref-bf16"] if cuda else []) + ["f32"] + ([] if args.no_bf16 else ["bf16"])
    load_before = os.getloadavg()
    rows = []
    threads = 0
    gpu = ""
    for model in args.models:
        runs = {label: _run(label, model, args) for label in labels}
        threads = runs["f32"]["threads"]
        gpu = runs["f32"].get("gpu", "")
        for i, name in enumerate(args.images):
            ref = runs["ref"]["results"][i]
            for label in labels:
                res = runs[label]["results"][i]
                mean, low, _, _ = _parity(res["rles"], ref["rles"])
                tuned = "ref-tuned" in runs and label != "ref"
                cells = [model, RUNS[label], f"{name} {res['size'][0]}x{res['size'][1]}",
                         f"{res['cpu']:.2f}", f"{res['wall']:.2f}"]
                if cuda:
                    cells.append(f"{1 / res['wall']:.3f}")
                cells += [str(len(res["rles"])), f"{ref[timer] / res[timer]:.2f}x"
                          + (f" ({runs['ref-tuned']['results'][i]['cpu'] / res['cpu']:.2f}x)"
                             if tuned else ""), f"{mean:.4f} / {low:.4f}"]
                if cuda:
                    cells.append(f"{runs[label]['peak_gpu_mib']:.0f}")
                rows.append("| " + " | ".join(cells) + " |")
    load_after = os.getloadavg()

    import torch

    print(f"1024 input, test weights, points_per_side {args.points_per_side}, points_per_batch "
          f"{args.points_per_batch}, SAM 2 defaults otherwise; {_cpu_name()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} with {threads} "
          f"threads{', ' + gpu if gpu else ''}; one process per run; best of {args.repeats}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n")
    head = ["model", "run", "image", "everything-mode CPU s", "wall s"] \
        + (["images/s"] if cuda else []) + ["masks", f"speed-up vs reference ({'wall' if cuda else 'CPU'})"
        + (" (vs the reference with samcli's allocator)" if "ref-tuned" in labels else ""),
        "matched IoU vs reference mean / min"] + (["peak GPU MiB"] if cuda else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
