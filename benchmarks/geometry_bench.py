"""Timings of samcli.geometry: mask -> polygon, --max-vertices fitting, the YOLO ring bridge.

    python benchmarks/geometry_bench.py                    # the current samcli.geometry
    python benchmarks/geometry_bench.py --compare OLD.py   # and an older copy, side by side
    python benchmarks/geometry_bench.py --only max-vertices --only yolo --compare OLD.py

(An older copy: ``git show <commit>:samcli/geometry.py > /tmp/geometry_old.py``, from before
geometry became a package. Package versions import their modules as ``samcli.geometry.*``,
so to compare two of them, run this script without ``--compare`` in each checkout.)

``simplify`` cases: a smooth 1000x1000 disc; 512x512 salt noise at density 0.5 (17k parts, 22k
rings); 512x512 smooth random blobs with 2% of the pixels flipped; a 600x600 near-full mask
with 5% one-pixel holes (one part, 16k rings: the case that made GEOS' joint simplification
quadratic). Each at simplify 0 (exact), the default 0.4 and 1.0.

``max-vertices`` cases (``mask_to_geometry(m, simplify, max_vertices)``): a smooth disc; a
300x200 mask of blobs with 2.7% of its pixels flipped (about 700 parts and 400 holes: the
README's example ``--simplify 1.5 --max-vertices 64`` on a fragmented proposal); 500x500 salt
noise (16,780 parts).

``yolo`` cases (``geometry_to_yolo_ring`` of the exact geometry, the same input for both
versions): the 300x200 fragmented mask, the 16k-part salt noise, and the 600x600 mask with
16k holes.

Best of ``--repeat`` runs (a single run where one takes over 5 s). The older version runs in
a child process that is stopped after ``--timeout`` seconds a case. "same": both versions
return the same output.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import sys
import time

import cv2
import numpy as np


def simplify_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:1000, :1000]
    disc = (yy - 500) ** 2 + (xx - 500) ** 2 < 400**2
    noise = rng.random((512, 512)) < 0.5
    coarse = cv2.resize(rng.random((40, 40)), (512, 512), interpolation=cv2.INTER_CUBIC)
    blobs = (coarse > 0.5) ^ (rng.random((512, 512)) < 0.02)
    speckled = ~(rng.random((600, 600)) < 0.05)
    return {"disc 1000x1000": disc, "noise 512 d=0.5": noise, "blobs+2% salt 512": blobs,
            "600 with 5% pinholes": speckled}


def fragmented_300x200() -> np.ndarray:
    """Blobs with 2.7% of the pixels flipped: about 700 parts and 400 holes."""
    rng = np.random.default_rng(0)
    coarse = cv2.resize(rng.random((34, 50)), (300, 200), interpolation=cv2.INTER_CUBIC)
    return (coarse > 0.55) ^ (rng.random((200, 300)) < 0.027)


def noise_16k() -> np.ndarray:
    """500x500 salt noise at density 0.5: 16,780 parts."""
    return np.random.default_rng(0).random((500, 500)) < 0.5


def max_vertices_cases() -> list[tuple[str, np.ndarray, float, int]]:
    yy, xx = np.mgrid[:300, :300]
    disc = (yy - 150) ** 2 + (xx - 150) ** 2 < 120**2
    frag, noise = fragmented_300x200(), noise_16k()
    return [
        ("disc 300 (1 part)", disc, 1.5, 64),
        ("fragmented 300x200", frag, 1.5, 64),
        ("fragmented 300x200", frag, 0.0, 1000),
        ("noise 500 (16k parts)", noise, 1.5, 64),
    ]


def yolo_cases() -> dict[str, np.ndarray]:
    return {"fragmented 300x200": fragmented_300x200(), "noise 500 (16k parts)": noise_16k(),
            "600 with 5% pinholes": simplify_cases()["600 with 5% pinholes"]}


def load(path: str):
    """A single-file geometry module (from before the package) under its own name."""
    spec = importlib.util.spec_from_file_location("geometry_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
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


def _child(path, kind, args, repeat, conn):
    mod = load(path)
    warm = np.zeros((20, 20), bool)
    warm[3:9, 4:12] = True
    mod.mask_to_geometry(warm, 0.4)
    if kind == "geometry":
        conn.send(best_of(lambda: mod.mask_to_geometry(*args), repeat))
    else:
        conn.send(best_of(lambda: mod.geometry_to_yolo_ring(args[0]), repeat))


def run_old(path: str, kind: str, args: tuple, repeat: int, timeout: float):
    """(seconds, output) of the old version in a child process; (None, None) on timeout."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(path, kind, args, repeat, send))
    proc.start()
    ready = recv.poll(timeout)
    out = recv.recv() if ready else (None, None)
    if not ready:
        proc.terminate()
    proc.join()
    return out


def n_vertices(geom) -> int:
    if geom is None:
        return 0
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return sum(len(r) - 1 for p in polys for r in p)


def n_parts(geom) -> int:
    return 0 if geom is None else 1 if geom["type"] == "Polygon" else len(geom["coordinates"])


def _fmt(t) -> str:
    return f"{t:>10.4f}" if t is not None else f"{'> timeout':>10}"


def bench_simplify(new, old_path, args) -> None:
    mods = [("new", new)] + ([("old", load(old_path))] if old_path else [])
    mods.reverse()
    warm = np.zeros((20, 20), bool)
    warm[3:9, 4:12] = True
    for _, mod in mods:  # first calls pay for lazy imports and caches
        mod.mask_to_geometry(warm)
        mod.mask_to_geometry(warm, 0.4)
    header = f"{'case':<22} {'simplify':>8}" + "".join(f" {n + ' s':>10}" for n, _ in mods)
    print(header + (f" {'speed-up':>9}  same" if len(mods) == 2 else ""))
    for name, m in simplify_cases().items():
        for tol in (0.0, 0.4, 1.0):
            times, outs = [], []
            for _, mod in mods:
                t, out = best_of(lambda: mod.mask_to_geometry(m, tol), args.repeat)
                times.append(t)
                outs.append(out)
            line = f"{name:<22} {tol:>8}" + "".join(f" {t:>10.4f}" for t in times)
            if len(times) == 2:
                line += f" {times[0] / times[1]:>8.1f}x  {outs[0] == outs[1]}"
            print(line, flush=True)


def bench_max_vertices(new, old_path, args) -> None:
    print(f"{'case':<22} {'simplify':>8} {'max_v':>6}" + (f" {'old s':>10}" if old_path else "")
          + f" {'new s':>10}" + (f" {'speed-up':>9}  same" if old_path else "")
          + "  new: parts, vertices (of all parts)")
    for name, m, tol, nv in max_vertices_cases():
        t_new, g_new = best_of(lambda: new.mask_to_geometry(m, tol, nv), args.repeat)
        line = f"{name:<22} {tol:>8} {nv:>6}"
        if old_path:
            t_old, g_old = run_old(old_path, "geometry", (m, tol, nv), args.repeat, args.timeout)
            line += f" {_fmt(t_old)} {t_new:>10.4f}"
            line += (f" {t_old / t_new:>8.2g}x  {g_old == g_new}" if t_old is not None
                     else f" {'>' + format(args.timeout / t_new, '.0f') + 'x':>9}  -")
        else:
            line += f" {t_new:>10.4f}"
        exact = new.mask_to_geometry(m)
        line += f"  {n_parts(g_new)}, {n_vertices(g_new)} (of {n_parts(exact)})"
        print(line, flush=True)


def bench_yolo(new, old_path, args) -> None:
    print(f"{'case':<22} {'rings':>6}" + (f" {'old s':>10}" if old_path else "")
          + f" {'new s':>10}" + (f" {'speed-up':>9}  same" if old_path else "")
          + f" {'points':>8}")
    for name, m in yolo_cases().items():
        geom = new.mask_to_geometry(m)
        rings = sum(len(p) for p in ([geom["coordinates"]] if geom["type"] == "Polygon"
                                     else geom["coordinates"]))
        t_new, r_new = best_of(lambda: new.geometry_to_yolo_ring(geom), args.repeat)
        line = f"{name:<22} {rings:>6}"
        if old_path:
            t_old, r_old = run_old(old_path, "yolo", (geom,), args.repeat, args.timeout)
            same = "-" if r_old is None else str(np.array_equal(r_old, r_new))
            line += f" {_fmt(t_old)} {t_new:>10.4f}"
            line += (f" {t_old / t_new:>8.0f}x  {same}" if t_old is not None
                     else f" {'>' + format(args.timeout / t_new, '.0f') + 'x':>9}  {same}")
        else:
            line += f" {t_new:>10.4f}"
        print(line + f" {len(r_new):>8}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", metavar="OLD.py", help="an older, single-file geometry.py")
    ap.add_argument("--only", action="append", choices=["simplify", "max-vertices", "yolo"],
                    help="run only these sections (repeatable; default: all)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds a case of the older version may take before it is stopped")
    args = ap.parse_args()
    from samcli import geometry as new

    warm = np.zeros((20, 20), bool)
    warm[3:9, 4:12] = True
    new.mask_to_geometry(warm)  # first calls pay for lazy imports and caches
    new.mask_to_geometry(warm, 0.4)
    sections = args.only or ["simplify", "max-vertices", "yolo"]
    for section, fn in (("simplify", bench_simplify), ("max-vertices", bench_max_vertices),
                        ("yolo", bench_yolo)):
        if section in sections:
            print(f"\n## {section}", flush=True)
            fn(new, args.compare, args)


if __name__ == "__main__":
    main()
