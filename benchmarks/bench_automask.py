"""samcli vs Meta's segment_anything, side by side, same weights, images and parameters.

Each (implementation, dtype) runs in its own subprocess so peak RSS is its own (the loaded
state dict is dropped once the model holds the weights, in both). Per image it
reports: encoder time (one set_image), everything-mode time (whole generate, encoder included),
peak RSS of the process, the number of masks, and parity against the reference float32 masks
(our float32 run) or our float32 masks (the other runs; with ``--skip-ref`` too): masks are
matched one-to-one, greedily by IoU. "matched IoU" is the mean / minimum over all masks, a
mask left without a partner counting 0, so it mixes two things: masks that changed shape, and
masks that crossed a threshold (stability, predicted IoU, NMS) and dropped in or out of the
set. The last column separates them: the share of masks with a partner at IoU >= 0.5, and
those pairs' mean IoU.

Runs: the reference float32, samcli float32, then samcli with a bfloat16 image encoder and each
decoder precision of ``--bf16-decoders`` (default: all three: ``mixed``, a float32 decoder
whose products with the image tokens run in bfloat16, the CPU's default for ``--dtype
bfloat16``; ``bfloat16``, the whole decoder; ``float32``), and with ``--fp16`` samcli float16 (CUDA). ``--device cuda`` runs both implementations on the GPU: each
worker first runs one untimed image, times are taken after a synchronize, and the table adds
the peak GPU memory (``torch.cuda.max_memory_allocated``).

Weights: the official architecture with seeded random weights, plus the decoder wiring of
``tests/automask_models.py`` so that masks are confident and varied (with plain random weights
almost every mask is filtered out and the comparison would measure nothing).

Usage (from the repository root, with the test extras installed):

    python benchmarks/bench_automask.py                       # vit_b, astronaut + coffee, 32x32
    python benchmarks/bench_automask.py --images astronaut --points-per-side 16 --model mobile_sam
    python benchmarks/bench_automask.py --large 4000x3000     # also: our RSS on a large image
    python benchmarks/bench_automask.py --device cuda --fp16 --model vit_h \
        --images astronaut coffee chelsea rocket page            # on a GPU

Prints a Markdown table (paste into BENCHMARKS.md) and writes the raw numbers as JSON to
``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------------------- worker side

def _image(name: str) -> np.ndarray:
    if "x" in name and name.replace("x", "").isdigit():  # synthetic large image WxH
        w, h = (int(v) for v in name.split("x"))
        import skimage.data as data

        tile = data.astronaut()
        reps = (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1)
        return np.ascontiguousarray(np.tile(tile, reps)[:h, :w])
    import skimage.data as data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


_WARMUP = np.zeros((64, 64, 3), np.uint8)

# --decoder-dtype of the bfloat16 runs -> their label in the table
BF16_DECODERS = {
    "mixed": "samcli bfloat16, mixed decoder",
    "bfloat16": "samcli bfloat16",
    "float32": "samcli bf16 encoder, f32 decoder",
}


def _weights(model: str) -> Path:
    """Seeded weights with the everything-mode decoder wiring, made once and cached."""
    path = OUT / f"weights_{model}.pt"
    if not path.exists():
        import torch

        from samcli.model.build import build_model
        from tests.automask_models import automask_state_dict

        torch.manual_seed(0)
        m = build_model(model)
        OUT.mkdir(parents=True, exist_ok=True)
        torch.save(automask_state_dict(m, seed=0), path)
    return path


def _reference_model(model: str, state):
    if model == "mobile_sam":
        from mobile_sam import sam_model_registry
        ref = sam_model_registry["vit_t"](checkpoint=None)
    else:
        from segment_anything import sam_model_registry
        ref = sam_model_registry[model](checkpoint=None)
    ref.load_state_dict(state, strict=True)
    return ref.eval()


def worker(args: argparse.Namespace) -> None:
    import torch

    state = torch.load(_weights(args.model), weights_only=True)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    params = dict(points_per_side=args.points_per_side, points_per_batch=args.points_per_batch)
    results = []
    if args.worker == "ref":
        if args.model == "mobile_sam":
            from mobile_sam import SamAutomaticMaskGenerator, SamPredictor
        else:
            from segment_anything import SamAutomaticMaskGenerator, SamPredictor
        model = _reference_model(args.model, state).to(device)
        del state  # the loaded copy is the harness's, not the implementation's: drop it
        predictor = SamPredictor(model)
        gen = SamAutomaticMaskGenerator(model, output_mode="coco_rle", **params)
        with torch.inference_mode():
            predictor.set_image(_WARMUP)  # first-call overheads are not what we measure
            if cuda:  # kernel selection and the allocator's first growth, likewise
                gen.generate(_image(args.images[0]))
        for name in args.images:
            img = _image(name)
            t0 = _clock(cuda)
            with torch.inference_mode():
                predictor.set_image(img)
            t1 = _clock(cuda)
            with torch.inference_mode():
                anns = gen.generate(img)
            t2 = _clock(cuda)
            rles = [a["segmentation"] for a in anns]
            results.append(dict(image=name, encoder_s=t1 - t0, automask_s=t2 - t1,
                                n=len(rles), rles=rles))
    else:
        from samcli.automask import generate
        from samcli.config import AutomaskConfig
        from samcli.rle import rle_to_json
        from samcli.model.build import build_model
        from samcli.predictor import Predictor, resolve_decoder_precision

        model = build_model(args.model)
        model.load_state_dict(state, strict=True)
        del state
        dtype = getattr(torch, args.dtype)
        decoder, products = resolve_decoder_precision(args.decoder_dtype or "auto", dtype,
                                                      device)
        predictor = Predictor(model, device=device, dtype=dtype, decoder_dtype=decoder,
                              decoder_products=products)
        cfg = AutomaskConfig(**params)
        predictor.set_image(_WARMUP)
        if cuda:
            generate(predictor, _image(args.images[0]), cfg)
        for name in args.images:
            img = _image(name)
            t0 = _clock(cuda)
            predictor.set_image(img)
            t1 = _clock(cuda)
            masks = generate(predictor, img, cfg)
            t2 = _clock(cuda)
            rles = [rle_to_json(r) for r in masks.rles] if not args.no_masks else []
            results.append(dict(image=name, encoder_s=t1 - t0, automask_s=t2 - t1,
                                n=len(masks), rles=rles))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    gpu = dict(gpu=torch.cuda.get_device_name(device),
               peak_gpu_mib=torch.cuda.max_memory_allocated(device) / 2**20) if cuda else {}
    print(json.dumps(dict(impl=args.worker, dtype=args.dtype, peak_rss_mib=peak,
                          threads=torch.get_num_threads(), results=results, **gpu)))


def _clock(cuda: bool) -> float:
    """Wall seconds, after the GPU's queued work has finished (CUDA runs asynchronously)."""
    if cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


# ----------------------------------------------------------------------------- parent side

def _run(impl: str, dtype: str, images: list[str], args: argparse.Namespace,
         no_masks: bool = False, decoder_dtype: str | None = None) -> dict | None:
    """One worker process; None (its traceback shown on stderr) when it fails."""
    cmd = [sys.executable, __file__, "--worker", impl, "--dtype", dtype, "--model", args.model,
           "--device", args.device,
           "--points-per-side", str(args.points_per_side),
           "--points-per-batch", str(args.points_per_batch), "--images", *images]
    if no_masks:
        cmd.append("--no-masks")
    if decoder_dtype:
        cmd += ["--decoder-dtype", decoder_dtype]
    print(f"# running {impl} {dtype} {decoder_dtype or ''} on {', '.join(images)} ...",
          file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"#   FAILED (exit {proc.returncode})", file=sys.stderr, flush=True)
        return None
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    print("#   " + ", ".join(f"{r['image']} {r['automask_s']:.3f} s ({r['n']} masks)"
                              for r in run["results"]), file=sys.stderr, flush=True)
    return run


def _parity(ours: list[dict], ref: list[dict]) -> tuple[float, float, float, float]:
    """A one-to-one greedy matching of two RLE lists by IoU: the mean and min IoU over all
    masks (a mask left without a partner counts 0), then the share of masks (of the larger
    list) with a partner at IoU >= 0.5 and the mean IoU of those pairs."""
    from pycocotools import mask as mu

    if not ours and not ref:
        return 1.0, 1.0, 1.0, 1.0
    if not ours or not ref:
        return 0.0, 0.0, 0.0, 0.0
    enc = lambda rs: [{"size": r["size"], "counts": r["counts"].encode()  # noqa: E731
                       if isinstance(r["counts"], str) else r["counts"]} for r in rs]
    iou = mu.iou(enc(ours), enc(ref), [0] * len(ref))
    matched = []
    used_r, used_o = set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if i in used_o or j in used_r:
            continue
        used_o.add(i), used_r.add(j)
        matched.append(iou[i, j])
    n = max(len(ours), len(ref))
    close = [v for v in matched if v >= 0.5]
    matched += [0.0] * (n - len(matched))
    return (float(np.mean(matched)), float(np.min(matched)), len(close) / n,
            float(np.mean(close)) if close else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=["ours", "ref"])
    ap.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h", "mobile_sam"])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--decoder-dtype", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--images", nargs="+", default=["astronaut", "coffee"])
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--points-per-batch", type=int, default=64)
    ap.add_argument("--no-masks", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="also run samcli with --dtype bfloat16 (see --bf16-decoders)")
    ap.add_argument("--bf16-decoders", nargs="+", default=list(BF16_DECODERS),
                    choices=list(BF16_DECODERS),
                    help="with --bf16: one run per --decoder-dtype given here")
    ap.add_argument("--fp16", action="store_true",
                    help="also run samcli with --dtype float16 (CUDA only)")
    ap.add_argument("--device", default="cpu",
                    help="cpu or cuda[:N]: both implementations run there (on CUDA, each "
                    "first runs one untimed everything-mode pass; times are taken after a "
                    "synchronize, and the table adds the peak GPU memory)")
    ap.add_argument("--skip-ref", action="store_true", help="samcli only (no ratios)")
    ap.add_argument("--large", default=None, help="also run samcli alone on a WxH image "
                    "(e.g. 4000x3000) and report its peak RSS")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    _weights(args.model)  # made once, before the timed processes start
    runs = {}
    if not args.skip_ref:
        runs["reference float32"] = _run("ref", "float32", args.images, args)
    runs["samcli float32"] = _run("ours", "float32", args.images, args)
    if args.bf16:
        for decoder in args.bf16_decoders:
            runs[BF16_DECODERS[decoder]] = _run("ours", "bfloat16", args.images, args,
                                                decoder_dtype=decoder)
    if args.fp16:
        runs["samcli float16"] = _run("ours", "float16", args.images, args)
    if args.large:
        runs[f"samcli float32 {args.large}"] = _run("ours", "float32", [args.large], args,
                                                    no_masks=True)

    runs = {label: run for label, run in runs.items() if run is not None}
    if "samcli float32" not in runs:
        sys.exit("samcli float32 failed: no table")
    ref = runs.get("reference float32")
    f32 = runs["samcli float32"]
    on_gpu = "gpu" in f32
    where = f"device {args.device} ({f32['gpu']})" if on_gpu else f"threads {f32['threads']}"
    lines = [
        f"model {args.model}, points_per_side {args.points_per_side}, points_per_batch "
        f"{args.points_per_batch}, {where}, torch {__import__('torch').__version__}",
        "",
        "| run | image | encoder s | everything-mode s | masks | peak RSS MiB | "
        + ("peak GPU MiB | " if on_gpu else "")
        + "speed-up vs reference | matched IoU mean / min | pairs IoU >= 0.5: share / mean |",
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if on_gpu else ""),
    ]
    for label, run in runs.items():
        for k, r in enumerate(run["results"]):
            base = ref["results"][k] if ref and r["image"] == ref["results"][k]["image"] \
                else None
            # our float32 is compared with the reference; the other runs with our float32
            # (also without the reference, --skip-ref)
            mine = f32["results"][k] if k < len(f32["results"]) \
                and f32["results"][k]["image"] == r["image"] else None
            other = base if label == "samcli float32" else mine
            speed = f"{base['automask_s'] / r['automask_s']:.2f}x" if base else "-"
            parity = pairs = "-"
            if other is not None and r["rles"] and label != "reference float32":
                mean, low, share, close = _parity(r["rles"], other["rles"])
                parity = f"{mean:.4f} / {low:.4f}"
                pairs = f"{share:.3f} / {close:.4f}"
            lines.append(f"| {label} | {r['image']} | {r['encoder_s']:.{3 if on_gpu else 2}f} | "
                         f"{r['automask_s']:.{3 if on_gpu else 1}f} | {r['n']} | "
                         f"{run['peak_rss_mib']:.0f} | "
                         + (f"{run['peak_gpu_mib']:.0f} | " if on_gpu else "")
                         + f"{speed} | {parity} | {pairs} |")
    lines.append("")
    for label, run in runs.items():
        if args.large and args.large in label:
            continue
        tot_o = sum(r["automask_s"] for r in run["results"])
        line = (f"{label}: {len(run['results']) / tot_o:.2f} images/s everything-mode "
                f"({tot_o / len(run['results']):.2f} s an image)")
        if ref and label != "reference float32":
            tot_r = sum(r["automask_s"] for r in ref["results"])
            enc_r = sum(r["encoder_s"] for r in ref["results"])
            enc_o = sum(r["encoder_s"] for r in run["results"])
            line += (f", {tot_r / tot_o:.2f}x faster than the reference, encoder "
                     f"{enc_r / enc_o:.2f}x, peak RSS "
                     f"{run['peak_rss_mib'] / ref['peak_rss_mib']:.2f}x")
            if on_gpu:
                line += f", peak GPU memory {run['peak_gpu_mib'] / ref['peak_gpu_mib']:.2f}x"
            line += " of the reference"
        lines.append(line)
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (OUT / f"bench-{args.model}-{stamp}.json").write_text(json.dumps(
        {k: {**v, "results": [{kk: vv for kk, vv in r.items() if kk != "rles"}
                              for r in v["results"]]} for k, v in runs.items()}, indent=1))
    (OUT / f"bench-{args.model}-{stamp}.md").write_text(text + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
