"""Throughput of ``samcli automask --ray`` on 1, 2 and 3 simulated nodes, against a plain run.

One folder of small images, the tests' confident random-weight MobileSAM (no download, no
reference package), the same options for every run. For each cluster size a
``ray.cluster_utils.Cluster`` is started (a head with ``--head-cpus`` CPUs for the driver
and Ray Data's read tasks, and N worker nodes of ``--node-cpus`` CPUs), and a ``samcli``
driver joins it by address with one actor per worker node. The run's work object is
wrapped (:class:`TimedWork`) so that each unit of work notes when it started and ended and
in which process; the driver notes when it recorded each image and its own CPU time. All
on one machine, so the clocks agree. The table shows:

- ``wall s``: the driver process, start to end (Ray connection, pool start-up included);
- ``first s``: until the first image is written (start-up: connection, actors, model load);
- ``img/s``: steady rate, once every actor has finished its first image (model loaded):
  images finished after that / the time from that to the last;
- ``work s/img``: the unit of work's own time (decode, model, records), median, each
  process's first image (which loads the model) left out;
- ``overhead s/img``: per image and actor slot, what the steady rate leaves beyond that:
  ``actors / rate - work time`` (scheduling, transfers, idle actors);
- ``lag ms``: from an image's end in its actor to its manifest line (median / max): the
  driver keeps up when this stays flat;
- ``driver ms/img``: the driver's CPU time per image in the steady part (Ray Data's
  streaming executor, unpickling, writing, manifest fsync); ``driver CPU %``: the same
  time over the steady part's length. Ray Data's executor loop costs CPU while it waits,
  so at a slow rate ms/img overstates what one more image costs: the ceiling row measures
  that;
- ``record ms/img``: the runner's writing alone (files and manifest line), wall time;
- ``same``: every output file equals the plain run's, byte for byte.

The last row (``--ceiling N`` images, 2 worker nodes) takes the model's time out: each actor
computes its first image and returns a copy of that result for every later one, so the
images come back as fast as Ray and the driver can carry them, with real result sizes. Its
``img/s`` is the driver's ceiling: no cluster, however many GPUs, returns images faster
than one driver writes them.

On a machine with fewer cores than actors x threads, the nodes share cores: the work time
per image then grows with the nodes (the ``work s/img`` column shows it); the Ray costs are
the other columns.

Usage (from the repository root, test extras installed)::

    python benchmarks/bench_ray.py                        # 18 images, 1/2/3 nodes
    python benchmarks/bench_ray.py --images 48 --nodes 1 2 3 --threads 1 --node-cpus 1
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class TimedWork:
    """The run's work object, noting (image, start, end, pid) of each unit in ``trace``
    (a file every process appends to; importable on the simulated nodes as
    ``benchmarks.bench_ray``). With ``replay``, each process computes its first image and
    returns a copy of that result for every later one: the model's time is gone, and what is
    left is Ray's and the driver's cost per image (the ceiling run)."""

    def __init__(self, work: Any, trace: str, replay: bool = False) -> None:
        self.work, self.trace, self.replay = work, trace, replay
        self._first: Any = None

    @property
    def unit(self) -> str:
        return self.work.unit

    def __call__(self, model, item, on_batch=None):
        t = time.time()
        if self.replay and self._first is not None:
            result = copy.deepcopy(self._first)
        else:
            result = self.work(model, item, on_batch=on_batch)
            self._first = result if self.replay else None
        line = json.dumps({"path": str(item.path), "start": t, "end": time.time(),
                           "pid": os.getpid()})
        with open(self.trace, "a") as fh:
            fh.write(line + "\n")
        return result


# The driver: samcli's CLI with the work wrapped and Runner.record timed; its trace is
# written at exit.
DRIVER = r"""
import atexit, json, os, resource, sys, time
from samcli.runner import Runner
from samcli.executors import local, ray_actors
from benchmarks.bench_ray import TimedWork
trace, work_trace = [], os.environ["BENCH_TRACE"] + ".work"
record = Runner.record

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def timed_record(self, outcome, summary):
    t = time.perf_counter()
    ok = record(self, outcome, summary)
    trace.append({"path": os.path.abspath(outcome.item.path), "t": time.time(),
                  "record": time.perf_counter() - t, "cpu": cpu()})
    return ok

def wrap(cls):
    init = cls.__init__
    def wrapped(self, work, *args, **kwargs):
        init(self, TimedWork(work, work_trace, replay=bool(os.environ.get("BENCH_REPLAY"))),
             *args, **kwargs)
    cls.__init__ = wrapped

Runner.record = timed_record
wrap(local.InProcess)
wrap(ray_actors.RayExecutor)
t0 = time.time()
atexit.register(lambda: open(os.environ["BENCH_TRACE"], "w").write(
    json.dumps({"t0": t0, "records": trace})))
sys.argv = ["samcli", *sys.argv[1:]]
from samcli.cli import main
main()
"""


def make_inputs(folder: Path, n: int, seed: int = 0) -> None:
    from tests.commands.conftest import write_image

    for i in range(n):
        write_image(folder / f"part{i % 3}" / f"img{i:03d}.png", h=96, w=128, seed=seed + i)


def run_driver(args: list[str], trace: Path, env: dict) -> tuple[float, dict, list[dict]]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, env={
        **env, "BENCH_TRACE": str(trace)}, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"samcli failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    work = [json.loads(line) for line in Path(f"{trace}.work").read_text().splitlines()]
    return wall, json.loads(trace.read_text()), work


def summarise(label: str, actors: int, wall: float, driver: dict, work: list[dict],
              same: str) -> dict:
    records = sorted(driver["records"], key=lambda r: r["t"])
    by_path = {w["path"]: w for w in work}  # the last unit of an image (a pool may redo one)
    firsts: dict[int, dict] = {}
    for w in sorted(work, key=lambda w: w["end"]):
        firsts.setdefault(w["pid"], w)
    warm = max(w["end"] for w in firsts.values())  # every process has loaded its model
    later = [w["end"] for w in work if w["end"] > warm]
    rate = len(later) / (max(later) - warm) if later else float("nan")
    seconds = [w["end"] - w["start"] for w in work if w not in firsts.values()]
    work_s = statistics.median(seconds) if seconds else float("nan")
    lag = [1000 * (r["t"] - by_path[r["path"]]["end"]) for r in records]
    steady = [r for r in records if r["t"] > warm] or records
    span = steady[-1]["t"] - steady[0]["t"]
    cpu = steady[-1]["cpu"] - steady[0]["cpu"]
    local = actors == 0  # a plain run: the driver is the worker, its CPU is the model's
    return {"run": label, "actors": max(actors, 1), "wall s": wall,
            "first s": records[0]["t"] - driver["t0"], "img/s": rate, "work s/img": work_s,
            "overhead s/img": max(actors, 1) / rate - work_s,
            "lag ms": f"{statistics.median(lag):.0f} / {max(lag):.0f}",
            "driver ms/img": "-" if local else 1000 * cpu / max(1, len(steady) - 1),
            "driver CPU %": "-" if local else 100 * cpu / span if span else float("nan"),
            "record ms/img": 1000 * statistics.median(r["record"] for r in records),
            "same": same}


def files_of(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.jsonl"))
            if p.name != "manifest.jsonl"}


def on_cluster(nodes: int, opts, args: list[str], trace: Path, env: dict):
    """``run_driver`` against a new simulated cluster: a head and ``nodes`` worker nodes,
    one actor each; the cluster is shut down afterwards."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": opts.head_cpus, "include_dashboard": False})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=opts.node_cpus)
        cluster.wait_for_nodes()
        return run_driver([*args, "--ray-address", cluster.address, "--ray-actors", str(nodes)],
                          trace, env)
    finally:
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=18)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--node-cpus", type=float, default=1, help="CPUs of each worker node")
    ap.add_argument("--head-cpus", type=float, default=1, help="CPUs of the head node")
    ap.add_argument("--threads", type=int, default=1,
                    help="$SAMCLI_THREADS for every run (plain and actors)")
    ap.add_argument("--points-per-side", type=int, default=4)
    ap.add_argument("--ceiling", type=int, default=150, metavar="N",
                    help="images of the ceiling run (2 nodes, replayed results); 0: none")
    opts = ap.parse_args()

    import torch

    from tests.commands.conftest import confident_mobile_sam

    env = {**os.environ, "SAMCLI_THREADS": str(opts.threads),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    env.pop("RAY_ADDRESS", None)
    os.environ.update({k: env[k] for k in ("SAMCLI_THREADS", "PYTHONPATH")})  # node processes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "mobile.pt"
        torch.save(confident_mobile_sam().state_dict(), ckpt)
        make_inputs(tmp / "in", opts.images)
        options = ["--checkpoint", str(ckpt), "--points-per-side", str(opts.points_per_side),
                   "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "-q"]
        base = ["automask", str(tmp / "in"), *options]

        wall, driver, work = run_driver([*base, "-o", str(tmp / "plain")],
                                        tmp / "plain.json", env)
        plain = files_of(tmp / "plain")
        rows.append(summarise("plain", 0, wall, driver, work, "-"))
        print(f"plain: {wall:.1f} s", file=sys.stderr, flush=True)

        for k in opts.nodes:
            out = tmp / f"ray{k}"
            wall, driver, work = on_cluster(k, opts, [*base, "-o", str(out)],
                                            tmp / f"ray{k}.json", env)
            same = "yes" if files_of(out) == plain else "NO"
            rows.append(summarise(f"{k} node(s)", k, wall, driver, work, same))
            print(f"{k} node(s): {wall:.1f} s", file=sys.stderr, flush=True)

        if opts.ceiling:  # the model's time taken out: how fast Ray and the driver go
            make_inputs(tmp / "many", opts.ceiling, seed=1000)
            wall, driver, work = on_cluster(
                2, opts, ["automask", str(tmp / "many"), *options, "-o", str(tmp / "many-out")],
                tmp / "ceiling.json", {**env, "BENCH_REPLAY": "1"})
            rows.append(summarise(f"ceiling: {opts.ceiling} replayed", 2, wall, driver, work,
                                  "-"))
            print(f"ceiling: {wall:.1f} s", file=sys.stderr, flush=True)

    cols = list(rows[0])
    print(f"{opts.images} images 96x128, {opts.points_per_side}x{opts.points_per_side} points, "
          f"MobileSAM (random), SAMCLI_THREADS={opts.threads}, worker nodes of "
          f"{opts.node_cpus:g} CPU, head {opts.head_cpus:g} CPU; {os.cpu_count()} cores here, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
