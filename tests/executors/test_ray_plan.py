"""Ray actor planning (:mod:`samcli.executors.ray_plan`): pure arithmetic on the cluster's
resources, tested without Ray."""

from __future__ import annotations

import pytest

from samcli.config import ModelOptions, ScaleOptions
from samcli.errors import ConfigError
from samcli.threads import model_threads


def test_a_huge_actor_count_is_refused_at_once(monkeypatch):
    """--ray-actors 1000000000 tried a CPU share for every count up to it (minutes at full
    CPU); shares stop at 0.01 CPU, so a node is tried for at most 100 per CPU."""
    from samcli.executors import ray_plan

    tried = []
    real = ray_plan._share
    monkeypatch.setattr(ray_plan, "_share", lambda x: tried.append(x) or real(x))
    with pytest.raises(ConfigError, match="do not fit"):
        ray_plan.actor_plan({"CPU": 2.0}, ModelOptions(), ScaleOptions(ray_actors=10**9),
                            nodes=[{"CPU": 2.0}], threads=1)
    assert len(tried) <= 2 + 200


@pytest.mark.parametrize(
    "resources, device, actors, expected",
    [
        ({"CPU": 2.0}, "auto", 0, (1, 1, 0)),  # a laptop: one actor, a CPU left for reading
        ({"CPU": 16.0}, "auto", 0, (4, 3, 0)),  # one actor per 4 CPUs
        ({"CPU": 16.0}, "cpu", 2, (2, 4, 0)),  # --ray-actors
        ({"CPU": 2.0}, "auto", 3, (3, 0.33, 0)),  # more actors than CPUs: shares, still fits
        ({"CPU": 1.0}, "auto", 0, (1, 0.5, 0)),
        ({"CPU": 32.0, "GPU": 4.0}, "auto", 0, (4, 1, 1)),  # one actor per GPU
        ({"CPU": 32.0, "GPU": 4.0}, "auto", 8, (8, 1, 0.5)),  # two replicas per GPU
        ({"CPU": 32.0, "GPU": 4.0}, "cpu", 0, (8, 3, 0)),  # --device cpu ignores the GPUs
    ],
)
def test_actor_plan(resources, device, actors, expected, monkeypatch):
    from samcli.executors.ray_plan import actor_plan

    monkeypatch.setenv("SAMCLI_THREADS", "4")  # the driver's count, whatever its cores

    plan = actor_plan(resources, ModelOptions(device=device), ScaleOptions(ray_actors=actors))
    assert (plan.actors, plan.num_cpus, plan.num_gpus) == expected
    assert plan.threads == model_threads()  # the driver's count, whatever an actor reserves
    # the pool fits the cluster with a CPU to spare for Ray Data's read tasks
    assert plan.actors * plan.num_cpus <= max(resources["CPU"] - 1, resources["CPU"] / 2)
    assert plan.actors * plan.num_gpus <= resources.get("GPU", 0)


@pytest.mark.parametrize(
    "node_cpus, actors, expected",
    [
        ((1, 4, 4), 0, (2, 4)),  # one actor per 4 CPUs of each node; the head's CPU reads
        ((6, 6, 6), 0, (3, 4)),  # not 18 // 4 = 4 actors: a fourth fits on no node
        ((1, 1, 1, 1), 0, (4, 0.75)),  # at least one per node with a CPU, one CPU to spare
        ((0, 2, 2), 2, (2, 1)),  # a head without CPUs
        ((1, 4), 2, (2, 2)),  # the 3 CPUs a total would give each fit on no node
        ((1, 2, 2, 2), 3, (3, 2)),
    ],
)
def test_actor_plan_fits_each_actor_on_one_node(node_cpus, actors, expected):
    """On a cluster the plan is made from each node's CPUs: an actor never asks for more
    than one node has (it could not be placed, and the run would wait for it for ever)."""
    from samcli.executors.ray_plan import actor_plan

    nodes = [{"CPU": float(c)} for c in node_cpus]
    plan = actor_plan({"CPU": float(sum(node_cpus))}, ModelOptions(),
                      ScaleOptions(ray_actors=actors), nodes=nodes, threads=4)
    assert (plan.actors, plan.num_cpus, plan.threads) == (*expected, 4)
    assert sum(int(c / plan.num_cpus + 1e-9) for c in node_cpus) >= plan.actors
    assert plan.actors * plan.num_cpus <= sum(node_cpus) - 1


def test_actor_plan_without_room_is_an_error():
    """Every node with CPUs lost (a head without CPUs left): an error, never a pool that waits
    for ever; GPU actors also need the CPUs they ask for on the node of their GPU."""
    from samcli.executors.ray_plan import actor_plan

    with pytest.raises(ConfigError, match="do not fit on the Ray cluster's nodes"):
        actor_plan({"CPU": 0.0}, ModelOptions(), ScaleOptions(), nodes=[{"CPU": 0.0}])
    plan = actor_plan({"CPU": 9.0, "GPU": 2.0}, ModelOptions(), ScaleOptions(),
                      nodes=[{"CPU": 8.0}, {"CPU": 1.0, "GPU": 2.0}])
    assert (plan.actors, plan.num_gpus, plan.num_cpus) == (2, 1, 0.5)


def test_actor_plan_devices():
    from samcli.executors.ray_plan import actor_plan

    plan = actor_plan({"CPU": 8, "GPU": 2}, ModelOptions(device="cuda:1"), ScaleOptions())
    assert plan.model.device == "cuda"  # an actor sees only the GPU Ray gave it
    with pytest.raises(ConfigError, match="no GPUs"):
        actor_plan({"CPU": 8}, ModelOptions(device="cuda"), ScaleOptions())
