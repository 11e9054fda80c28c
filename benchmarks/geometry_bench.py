"""Timings of samcli.geometry.mask_to_geometry on smooth and on fragmented masks.

    python benchmarks/geometry_bench.py                    # the current samcli.geometry
    python benchmarks/geometry_bench.py --compare OLD.py   # and an older copy, side by side

(An older copy: ``git show <commit>:samcli/geometry.py > /tmp/geometry_old.py``.)

Cases: a smooth 1000x1000 disc; 512x512 salt noise at density 0.5 (17k parts, 22k rings);
512x512 smooth random blobs with 2% of the pixels flipped; a 600x600 near-full mask with 5%
one-pixel holes (one part, 16k rings: the case that made GEOS' joint simplification
quadratic). Each at simplify 0 (exact), the default 0.4 and 1.0. Best of ``--repeat`` runs (a single run where one takes over 5 s). Also
checks that both versions return the same geometry.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import cv2
import numpy as np


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:1000, :1000]
    disc = (yy - 500) ** 2 + (xx - 500) ** 2 < 400**2
    noise = rng.random((512, 512)) < 0.5
    coarse = cv2.resize(rng.random((40, 40)), (512, 512), interpolation=cv2.INTER_CUBIC)
    blobs = (coarse > 0.5) ^ (rng.random((512, 512)) < 0.02)
    speckled = ~(rng.random((600, 600)) < 0.05)
    return {"disc 1000x1000": disc, "noise 512 d=0.5": noise, "blobs+2% salt 512": blobs,
            "600 with 5% pinholes": speckled}


def load(path: str):
    spec = importlib.util.spec_from_file_location("geometry_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
        if best > 5.0:
            break
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", metavar="OLD.py", help="path to an older copy of geometry.py")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from samcli import geometry as new

    mods = [("new", new)]
    if args.compare:
        mods.insert(0, ("old", load(args.compare)))
    header = f"{'case':<20} {'simplify':>8}" + "".join(f" {name + ' s':>10}" for name, _ in mods)
    if len(mods) == 2:
        header += f" {'speed-up':>9}  same"
    print(header)
    warm = np.zeros((20, 20), bool)
    warm[3:9, 4:12] = True
    for _, mod in mods:  # first calls pay for lazy imports and caches
        mod.mask_to_geometry(warm)
        mod.mask_to_geometry(warm, 0.4)
    for name, m in cases().items():
        for tol in (0.0, 0.4, 1.0):
            times, outs = [], []
            for _, mod in mods:
                t, out = best_of(lambda: mod.mask_to_geometry(m, tol), args.repeat)
                times.append(t)
                outs.append(out)
            line = f"{name:<20} {tol:>8}" + "".join(f" {t:>10.4f}" for t in times)
            if len(times) == 2:
                line += f" {times[0] / times[1]:>8.1f}x  {outs[0] == outs[1]}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
