"""How many model replicas a Ray run starts, and what each asks Ray for (:func:`actor_plan`).

Pure arithmetic on the cluster's resources (``ray.cluster_resources()`` and the alive nodes'),
so it is planned, and tested, without Ray: see :class:`~samcli.executors.ray_actors.RayExecutor`
for when it runs (at the start, and after a lost node on the nodes left).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from samcli.config import ModelOptions, ScaleOptions
from samcli.errors import ConfigError
from samcli.threads import model_threads


def cluster_totals(nodes: list[dict[str, Any]]) -> dict[str, float]:
    """The cluster's totals of CPUs and GPUs over ``nodes``."""
    return {key: sum(float(n.get(key, 0) or 0) for n in nodes) for key in ("CPU", "GPU")}


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How many model replicas, and what each one asks Ray for."""

    actors: int
    num_cpus: float
    num_gpus: float
    threads: int  # torch threads of every actor: the driver's (samcli.threads)
    model: ModelOptions  # the options as each actor sees them

    def describe(self) -> str:
        gpu = f"{self.num_gpus:g} GPU + " if self.num_gpus else ""
        return (f"{self.actors} actor(s), each with {gpu}{self.num_cpus:g} CPU and "
                f"{self.threads} torch thread(s)")


def actor_plan(resources: dict[str, Any], model: ModelOptions, scale: ScaleOptions,
               nodes: Sequence[dict[str, Any]] = (), threads: int | None = None) -> ActorPlan:
    """Actors and their resources from the cluster's totals (``ray.cluster_resources()``)
    and, when given, each alive node's resources (``nodes``; without them the cluster is
    taken as one node).

    The whole pool must fit in the cluster with a CPU to spare (half of a 1-CPU one): Ray
    Data's read tasks need one. And each actor must fit on one node: an actor that cannot
    be placed would stall the run, so shares are made smaller until the pool fits, and a
    cluster with no room for one actor is an error.

    - GPUs in the cluster and ``--device`` auto or cuda: one actor per GPU (or
      ``--ray-actors``; more actors than GPUs share them: 0.5 GPU each for twice as many),
      each with up to one CPU. ``cuda:N`` becomes ``cuda`` inside an actor, which sees only
      the GPU Ray gave it.
    - Otherwise: one actor per ``threads`` CPUs of each node (one per node with a CPU when
      no node has that many; or ``--ray-actors``), each reserving up to ``threads`` CPUs
      (a share of one when there are more actors than CPUs).

    Every actor runs the model with ``threads`` torch threads (default:
    :func:`samcli.threads.model_threads`, the driver's), whatever it reserves: that is
    what makes its records equal to a plain run's.
    """
    threads = threads or model_threads()
    node_list = [dict(n) for n in nodes] or [dict(resources)]
    node_cpus = [float(n.get("CPU", 0) or 0) for n in node_list]
    node_gpus = [float(n.get("GPU", 0) or 0) for n in node_list]
    gpus = float(resources.get("GPU", 0) or 0)
    cpus = max(1.0, float(resources.get("CPU", 1) or 1))
    spare = max(cpus - 1, cpus / 2)  # CPUs the actors may take
    device = model.device.strip().lower()
    if device.startswith("cuda") and gpus < 1:
        raise ConfigError(f"--device {model.device}: the Ray cluster has no GPUs "
                          f"(resources: {cpus:g} CPU); use --device auto or cpu")
    if (gpus >= 1 and device in ("auto", "")) or device.startswith("cuda"):
        actors = scale.ray_actors or int(gpus)
        inner = dataclasses.replace(model, device="cuda") if device.startswith("cuda:") else model
        num_gpus = _share(min(1.0, gpus / actors))
        num_cpus = _fitting(_share(min(1.0, spare / actors)), actors, node_cpus,
                            node_gpus, num_gpus)
        return ActorPlan(actors, num_cpus=num_cpus, num_gpus=num_gpus, threads=threads,
                         model=inner)
    actors = scale.ray_actors or (sum(int(c) // threads for c in node_cpus)
                                  or max(1, sum(1 for c in node_cpus if c >= 1)))
    per_actor = _fitting(_share(min(float(threads), spare / actors)), actors, node_cpus)
    return ActorPlan(actors, num_cpus=per_actor, num_gpus=0, threads=threads, model=model)


def _fitting(want: float, actors: int, node_cpus: list[float],
             node_gpus: list[float] | None = None, gpu: float = 0.0) -> float:
    """The largest CPU share per actor, at most ``want``, with which ``actors`` actors (each
    also taking ``gpu`` GPUs) fit on the nodes, each actor on one node."""
    def placeable(cpu: float) -> int:
        total = 0
        for i, c in enumerate(node_cpus):
            n = int(c / cpu + 1e-9)
            if gpu:
                n = min(n, int((node_gpus or [])[i] / gpu + 1e-9))
            total += n
        return total

    # (a share is at least 0.01 CPU: more actors than a node has hundredths of a CPU never
    # fit on it, and a huge --ray-actors must not make this loop run for minutes)
    candidates = {want} | {_share(min(want, c / k)) for c in node_cpus if c > 0
                           for k in range(1, min(actors, int(c * 100)) + 1)}
    for cpu in sorted(candidates, reverse=True):
        if cpu > 0 and placeable(cpu) >= actors:
            return cpu
    room = ", ".join(f"{c:g} CPU" + (f" + {g:g} GPU" if g else "")
                     for c, g in zip(node_cpus, node_gpus or [0.0] * len(node_cpus)))
    raise ConfigError(f"{actors} model replica(s) do not fit on the Ray cluster's nodes "
                      f"({room or 'none'}); add nodes or lower --ray-actors")


def _share(x: float) -> float:
    """Whole units when there is at least one, else a fraction rounded down (0.33, not 1/3)."""
    return float(int(x)) if x >= 1 else max(0.01, int(x * 100) / 100)
