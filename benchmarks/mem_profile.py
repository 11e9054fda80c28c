"""Where the resident memory of one everything-mode run goes, stage by stage.

Runs samcli (or the reference, ``--impl ref``) on one image in this process and samples
``VmRSS`` from ``/proc/self/status`` every few milliseconds in a background thread (torch
releases the GIL inside its kernels, so the sampler sees the peaks inside them). Prints the
peak RSS of each stage (model load, warm-up, encoder, each prompt batch) and the process's
``VmHWM`` at the end. Linux only.

Usage (repository root; weights are the benchmark's cached seeded weights):

    python benchmarks/mem_profile.py                               # samcli, astronaut, 32x32
    python benchmarks/mem_profile.py --impl ref --points-per-side 16
    python benchmarks/mem_profile.py --image 4000x3000 --batches 1  # first prompt batch only
    python benchmarks/mem_profile.py --no-tune                      # glibc default allocator

Run one instance at a time: the numbers are this process's own RSS.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return -1


class Sampler:
    """Peak VmRSS per named stage, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self.order: list[str] = []
        self.cpu: dict[str, float] = {}
        self._t = time.thread_time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _note(self, rss: int) -> None:
        stage = self.stage
        if stage not in self.peaks:
            self.peaks[stage] = rss
            self.order.append(stage)
        elif rss > self.peaks[stage]:
            self.peaks[stage] = rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self._note(_status("VmRSS"))
            time.sleep(self.interval)

    def mark(self, stage: str) -> None:
        """Start ``stage`` (called from the main thread; its CPU time is charged per stage
        kind: the text before a batch number)."""
        self._note(_status("VmRSS"))
        now = time.thread_time()
        kind = self.stage.rstrip("0123456789 ")
        self.cpu[kind] = self.cpu.get(kind, 0.0) + now - self._t
        self._t = now
        self.stage = stage
        self._note(_status("VmRSS"))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.mark("end")
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["ours", "ref"], default="ours")
    ap.add_argument("--model", default="vit_b")
    ap.add_argument("--image", default="astronaut")
    ap.add_argument("--points-per-side", type=int, default=32)
    ap.add_argument("--points-per-batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=0, help="stop after this many prompt "
                    "batches (0: the whole run)")
    ap.add_argument("--no-tune", action="store_true", help="samcli without tune_cpu_allocator")
    ap.add_argument("--alloc", default="", help="experiment: 'trim' (malloc_trim after every "
                    "predictor call) or 'mmap:MB[:trimMB]' (glibc thresholds instead of the "
                    "tuning)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice); "
                    "with 1, the reported CPU time is all of the model's work")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--decoder-batch", type=int, default=0, help="Predictor.decoder_batch "
                    "(0: its default)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from bench_automask import _WARMUP, _image, _reference_model, _weights

    if args.threads:
        torch.set_num_threads(args.threads)
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    if args.alloc.startswith("mmap:"):
        mb = [int(v) for v in args.alloc.split(":")[1:]]
        libc.mallopt(-3, mb[0] * 2**20)
        libc.mallopt(-1, (mb[1] if len(mb) > 1 else mb[0] * 2) * 2**20)
        args.no_tune = True
    trim = args.alloc == "trim"
    trim_encoder = args.alloc in ("trim", "trim-encoder")
    img = _image(args.image)
    with Sampler() as s:
        s.mark("load")
        state = torch.load(_weights(args.model), weights_only=True)
        t0 = time.perf_counter()
        if args.impl == "ref":
            from segment_anything import SamAutomaticMaskGenerator

            model = _reference_model(args.model, state)
            del state
            gen = SamAutomaticMaskGenerator(model, points_per_side=args.points_per_side,
                                            points_per_batch=args.points_per_batch,
                                            output_mode="coco_rle")
            pred = gen.predictor
            s.mark("warm-up")
            with torch.inference_mode():
                pred.set_image(_WARMUP)
            s.mark("generate")
            with torch.inference_mode():
                n = len(gen.generate(img))
        else:
            from samcli import automask
            from samcli.config import AutomaskConfig
            from samcli.model.build import build_model
            from samcli.predictor import Predictor

            model = build_model(args.model)
            model.load_state_dict(state, strict=True)
            del state
            pred = Predictor(model, dtype=getattr(torch, args.dtype),
                             tune_allocator=not args.no_tune)
            if args.decoder_batch:
                pred.decoder_batch = args.decoder_batch
            s.mark("warm-up")
            pred.set_image(_WARMUP)
            cfg = AutomaskConfig(points_per_side=args.points_per_side,
                                 points_per_batch=args.points_per_batch)
            # Stage marks around the predictor's calls
            orig_set, orig_predict, orig_up = pred.set_image, pred.predict, pred.upscale
            count = {"batch": 0}

            class _Stop(Exception):
                pass

            def set_image(image: np.ndarray) -> None:
                s.mark("encoder")
                orig_set(image)
                if trim_encoder:
                    libc.malloc_trim(0)
                s.mark("after encoder")

            def predict(*a, **kw):
                if args.batches and count["batch"] >= args.batches:
                    raise _Stop
                count["batch"] += 1
                s.mark(f"batch {count['batch']}")
                out = orig_predict(*a, **kw)
                if trim:
                    libc.malloc_trim(0)
                s.mark(f"post {count['batch']}")
                return out

            def upscale(*a, **kw):
                s.mark(f"upscale {count['batch']}")
                out = orig_up(*a, **kw)
                if trim:
                    libc.malloc_trim(0)
                s.mark(f"post {count['batch']}")
                return out

            pred.set_image, pred.predict, pred.upscale = set_image, predict, upscale
            t1 = time.perf_counter()
            c1 = time.thread_time()
            try:
                n = len(automask.generate(pred, img, cfg))
            except _Stop:
                n = -1
            c_end = time.thread_time()
            s.mark("after generate")
        t_end = time.perf_counter()
    hwm = _status("VmHWM")
    print(f"{args.impl} {args.model} {args.image} {args.points_per_side}x{args.points_per_side} "
          f"tune={args.impl == 'ours' and not args.no_tune} alloc={args.alloc or '-'} masks={n} "
          f"total_s={t_end - t0:.1f}")
    if args.impl == "ours":
        print(f"generate_s={t_end - t1:.1f} main-thread CPU s={c_end - c1:.2f}")
    stages = s.order
    # Collapse the per-batch stages into first / max of the rest
    kinds = ("batch ", "upscale ", "post ")
    for k in stages:
        if k.startswith(kinds) and k.split()[-1] not in ("1", "2"):
            continue
        print(f"  {k:16s} peak RSS {s.peaks[k]:6d} MiB")
    for kind in kinds:
        rest = [s.peaks[k] for k in stages if k.startswith(kind) and int(k.split()[-1]) > 2]
        if rest:
            print(f"  {kind + '3..':16s} peak RSS {max(rest):6d} MiB")
    print(f"VmHWM {hwm} MiB")
    print("main-thread CPU s per stage: " + ", ".join(
        f"{k} {v:.2f}" for k, v in s.cpu.items() if v >= 0.01))


if __name__ == "__main__":
    main()
