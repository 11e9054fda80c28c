"""Where the time of one everything-mode image goes: samcli's generate under cProfile.

Same seeded weights as ``bench_automask.py`` (made there, or here on first use). After one
untimed warm-up image, the image runs once more with the profiler on; the table lists the
functions by cumulative time. On a GPU the host waits inside the calls that synchronise
(``.cpu()``, ``.numpy()``, ``torch.cuda.synchronize``), so GPU work shows up there.

Usage (repository root, test extras installed):

    python benchmarks/profile_automask.py --model vit_b --image astronaut
    python benchmarks/profile_automask.py --device cuda --dtype bfloat16 --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h", "mobile_sam"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--decoder-dtype", default=None,
                    help="the mask decoder's: auto (default), mixed, float32, bfloat16, float16")
    ap.add_argument("--image", default="astronaut", help="a scikit-image sample or WxH")
    ap.add_argument("--top", type=int, default=25, help="functions to list")
    args = ap.parse_args()

    import torch

    from bench_automask import _image, _weights
    from samcli.automask import generate
    from samcli.config import AutomaskConfig
    from samcli.model.build import build_model
    from samcli.predictor import Predictor, resolve_decoder_precision

    model = build_model(args.model)
    model.load_state_dict(torch.load(_weights(args.model), weights_only=True), strict=True)
    dtype = getattr(torch, args.dtype)
    decoder, products = resolve_decoder_precision(args.decoder_dtype or "auto", dtype,
                                                  args.device)
    predictor = Predictor(model, device=args.device, dtype=dtype, decoder_dtype=decoder,
                          decoder_products=products)
    image, cfg = _image(args.image), AutomaskConfig()
    cuda = predictor.device.type == "cuda"

    generate(predictor, image, cfg)  # warm-up: kernel selection, allocator growth
    if cuda:
        torch.cuda.synchronize()
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    masks = generate(predictor, image, cfg)
    if cuda:
        torch.cuda.synchronize()
    profile.disable()
    total = time.perf_counter() - t0
    print(f"{args.model} {args.dtype} (decoder {decoder}, products {products}) on "
          f"{args.device}, {args.image}: {total:.3f} s, "
          f"{len(masks)} masks (profiler on)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
