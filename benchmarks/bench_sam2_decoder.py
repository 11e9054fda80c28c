"""SAM 2.1's cost after the image encoder, in samcli alone: the mask decoder per prompt, and
everything-mode with and without skipping the prompts that the IoU filter empties.

Weights: the official network (``--model``, 1024 input) with the seeded test weights of
``tests/automask_models_sam2.py`` (as ``bench_sam2.py``). The image is encoded once and
left out of every timing. Times are the process's CPU seconds, best of ``--repeats``
(with one intra-op thread the CPU time is the work done, steady on a shared machine).

1. Decoder: ``predict`` on ``--prompts`` random point prompts (multimask), per precision:
   float32, and the ``--dtype bfloat16`` default on the CPU (bfloat16 encoder, float32
   decoder with bfloat16 products: "mixed"), the latter also with the upscaler's first
   product made plainly from the final image tokens instead of their low-rank history
   (``samcli.model.mask_decoder.first_upscale_product``), to show what that saves.
2. Everything-mode (float32, SAM 2's defaults, ``--points-per-side``) at each
   ``--pred-iou-thresh``: the default run, where a prompt none of whose masks passes the
   IoU filter is not upscaled (``samcli.model.mask_decoder.upscale_plan``), against the same
   run with that skip turned off; the masks must be the same.

Usage (repository root, test extras installed):

    python benchmarks/bench_sam2_decoder.py
    python benchmarks/bench_sam2_decoder.py --pred-iou-thresh 0.8 0.855 --points-per-side 16
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _best_cpu(fn, repeats: int):
    """(best CPU seconds, last result) of ``repeats`` calls of ``fn``."""
    best, out = float("inf"), None
    for _ in range(repeats):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="sam2.1_hiera_tiny")
    ap.add_argument("--image", default="chelsea", help="a scikit-image name")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--points-per-side", type=int, default=16)
    ap.add_argument("--pred-iou-thresh", type=float, nargs="+", default=[0.8, 0.855])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import pytest
    import skimage.data as data
    import torch

    torch.set_num_threads(args.threads)
    import samcli.model.sam2.mask_decoder as decoder_module
    from samcli.automask import generate
    from samcli.config import preset_config
    from samcli.predictor import resolve_decoder_precision
    from samcli.predictor_sam2 import Sam2Predictor
    from tests.automask_models_sam2 import make_automask_pair
    from tests.sam2_factories import quiet
    from tests.test_automask import note_upscale_plans

    img = np.ascontiguousarray(getattr(data, args.image)()[..., :3])
    with quiet():
        model = make_automask_pair(seed=0, image_size=1024, name=args.model)[0]
    print(f"{args.model}, {args.image} {img.shape[1]}x{img.shape[0]}, {args.threads} "
          f"thread(s), torch {torch.__version__}, best of {args.repeats}; encoder excluded\n")

    decoder, products = resolve_decoder_precision("auto", torch.bfloat16, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    coords = torch.rand(args.prompts, 1, 2, generator=gen) * torch.tensor(img.shape[1::-1])
    labels = torch.ones(args.prompts, 1, dtype=torch.int64)
    mixed = dict(dtype=torch.bfloat16, decoder_dtype=decoder, decoder_products=products)
    print("| decoder | ms a prompt |\n|---|---|")
    for label, kwargs, plain_first in (
            ("float32", {}, False),
            ("mixed (--dtype bfloat16)", mixed, False),
            ("mixed, first upscaler product from the final tokens", mixed, True)):
        predictor = Sam2Predictor(copy.deepcopy(model), **kwargs)
        predictor.set_image(img)
        with pytest.MonkeyPatch.context() as mp:
            if plain_first:
                mp.setattr(decoder_module, "first_upscale_product", lambda *a: None)
            seconds, _ = _best_cpu(lambda: predictor.predict(coords, labels), args.repeats)
        print(f"| {label} | {seconds / args.prompts * 1000:.2f} |")

    predictor = Sam2Predictor(copy.deepcopy(model))
    predictor.set_image(img)
    predictor.set_image = lambda image: None  # encoded above: generate() decodes only
    print("\n| pred_iou_thresh | prompts skipped | with the skip s | without s | masks |"
          "\n|---|---|---|---|---|")
    for thresh in args.pred_iou_thresh:
        cfg = preset_config("sam", dict(points_per_side=args.points_per_side,
                                        pred_iou_thresh=thresh), family="sam2")
        with pytest.MonkeyPatch.context() as mp:
            plans = note_upscale_plans(mp, decoder_module)
            with_skip, masks = _best_cpu(lambda: generate(predictor, img, cfg), args.repeats)
        skipped = plans[-args.points_per_side ** 2:].count(False)
        with pytest.MonkeyPatch.context() as mp:  # no plan: every prompt upscaled
            mp.setattr(decoder_module, "upscale_plan", lambda iou, floor: None)
            without, plain = _best_cpu(lambda: generate(predictor, img, cfg), args.repeats)
        same = [r["counts"] for r in masks.rles] == [r["counts"] for r in plain.rles]
        print(f"| {thresh} | {skipped} of {args.points_per_side ** 2} | {with_skip:.2f} "
              f"| {without:.2f} | {len(masks)}{'' if same else ' (DIFFERENT masks)'} |")


if __name__ == "__main__":
    main()
