"""``samcli automask --ray`` across nodes: a simulated cluster of three nodes on this machine.

``ray.cluster_utils.Cluster`` starts a head (1 CPU) and two worker nodes (2 CPUs each),
each its own raylet with its own resources and object store; the drivers are separate
``samcli`` processes joining by address, as on a real cluster. The nodes are started with
this checkout on ``PYTHONPATH``, so every actor imports the samcli under test. What is held:

- runs killed mid-run, a plain one and then a Ray driver on the cluster (which skips what
  the plain run wrote), and a plain run that finishes, end with the plain run's files and one
  manifest line per image: Ray and plain runs resume each other;
- a driver on the whole cluster plans a model replica on every worker node, and prints the
  plain run's records, byte for byte and in input order (the actors run the model with the
  driver's torch thread count: :mod:`samcli.threads`), even when a worker node is lost
  while it holds an image: the run goes on with a new pool on the nodes left, each image
  written once, in order. (One run holds both: a run that loses no node is the same run up
  to the loss, and the records it must print are the same.)

Every interruption happens at a known point (after the N-th recorded image, or once a node
holds an image), never after a delay. Without Ray (or its ``cluster_utils``) the module
skips, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.commands.conftest import REPO, error_lines, invoke, run_interrupted, write_image

# Enough points that 1 and 2 torch threads give different records (see samcli/threads.py)
ARGS = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
WAIT_S = 300  # a hang guard only: every step waits for an event, not for a time


def _skip_without_cluster_utils():
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'samcli[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed")
    return pytest.importorskip("ray.cluster_utils",
                               reason="this Ray has no ray.cluster_utils to simulate nodes")


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    """The drivers (and so their actors) and the plain run use 2 torch threads, whatever
    this machine's cores: the plans asserted below are those of a 2-thread driver (and
    more threads than a 2-core test machine has would only spin)."""
    saved = os.environ.get("SAMCLI_THREADS")
    os.environ["SAMCLI_THREADS"] = "2"
    yield
    if saved is None:
        os.environ.pop("SAMCLI_THREADS", None)
    else:
        os.environ["SAMCLI_THREADS"] = saved


@pytest.fixture(scope="module")
def cluster():
    """A head with 1 CPU and two workers with 2 CPUs each; node failures are noticed within
    seconds (health checks every second). Shut down, with every node process, at the end."""
    cluster_utils = _skip_without_cluster_utils()
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved) if p)
    os.environ.pop("RAY_ADDRESS", None)
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False,
        "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
                           "health_check_failure_threshold": 3}})
    try:
        workers = [c.add_node(num_cpus=2) for _ in range(2)]
        c.wait_for_nodes()
        yield c, workers
    finally:
        c.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Three images of three shapes in nested folders (names with spaces and non-ASCII): one
    for each killed driver and one left for the run that finishes; one more than a pool's
    two actors hold at a time."""
    root = tmp_path_factory.mktemp("cluster") / "in put"
    write_image(root / "a.png", seed=1)
    write_image(root / "sub ü" / "b.png", h=120, w=160, seed=2)
    write_image(root / "sub ü" / "deeper" / "c.png", h=64, w=48, seed=3)
    return root


@pytest.fixture(scope="module")
def plain(tree, mobile_ckpt):
    """The plain run's stdout."""
    result = invoke("automask", tree, "--checkpoint", mobile_ckpt, *ARGS, "-q")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) > 8, "the test model should give proposals"
    return result.stdout


def _files_equal_plain(out: Path, plain: str) -> None:
    """Each image's file holds the plain run's records of it; one manifest line per image."""
    lines = plain.splitlines(keepends=True)
    images = sorted({json.loads(line)["image"] for line in lines})
    for image in images:
        expected = "".join(line for line in lines if json.loads(line)["image"] == image)
        got = (out / f"{image}.jsonl").read_text()
        assert got == expected, _first_difference(image, got, expected)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    done = [e["input"] for e in manifest if e["status"] == "done"]
    assert sorted(done) == images, manifest  # every image once: none lost, none twice


def _first_difference(image: str, got: str, expected: str) -> str:
    """Where a file first differs from the plain run's records (the assertion message)."""
    pairs = zip(got.splitlines() + [""], expected.splitlines() + [""])
    n, (a, b) = next((i, p) for i, p in enumerate(pairs) if p[0] != p[1])
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(0, at - 40)
    return f"{image}, line {n + 1}, column {at}: {a[lo:at + 60]!r} != {b[lo:at + 60]!r}"


def test_killed_drivers_resume_across_plain_and_ray_runs(cluster, tree, mobile_ckpt, plain,
                                                         tmp_path):
    """kill -9 of a plain run after its first image, then of a Ray driver on the cluster after
    its first (it skips the plain run's image), then a plain run finishes: the plain run's
    files, every image written once."""
    c, _ = cluster
    base = ["automask", tree, "--checkpoint", mobile_ckpt, *ARGS, "-q", "-o", tmp_path]

    killed = run_interrupted("record", 1, "KILL", *base)
    assert killed.returncode == -9, killed.stderr
    killed = run_interrupted("record", 1, "KILL", *base, "--ray-address", c.address,
                             "--ray-actors", "2")
    assert killed.returncode == -9, killed.stderr
    manifest = (tmp_path / "manifest.jsonl").read_text()
    assert manifest.count('"status": "done"') == 2, manifest  # each killed run wrote one

    again = invoke(*[a for a in base if a != "-q"])
    assert again.exit_code == 0, again.stderr
    assert "1 image done, 2 skipped (already done)" in again.stderr, again.stderr
    _files_equal_plain(tmp_path, plain)


def test_losing_a_worker_node_mid_run(cluster, tree, mobile_ckpt, plain, tmp_path):
    """A driver joining the three-node cluster: the default plan puts a model replica on
    every worker node (2 CPUs each; the head's 1 CPU is too few for a 2-thread replica). A
    worker node is removed while its actor holds an image (the last test here: the cluster
    keeps one worker after it). The pool is lost; a new pool on the two nodes left does the
    images not yet written, and stdout is the plain run's, byte for byte: each image once,
    in order."""
    c, workers = cluster
    head = c.head_node.node_id
    marker = tmp_path / "stalled-node"
    args = ["automask", tree, "--checkpoint", mobile_ckpt, *ARGS, "--ray-address", c.address]
    out, err = (tmp_path / "stdout").open("w+"), (tmp_path / "stderr").open("w+")
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.executors.cluster_driver", head, str(marker), "--",
         *map(str, args)], cwd=REPO, stdout=out, stderr=err, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not marker.exists():  # a worker node holds an image now
            assert driver.poll() is None, "the driver ended before a node held an image"
            assert time.monotonic() < deadline, "no worker node took an image"
            time.sleep(0.1)
        (victim,) = [w for w in workers if w.node_id == marker.read_text()]
        c.remove_node(victim, allow_graceful=False)
        returncode = driver.wait(timeout=WAIT_S)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
        out.close(), err.close()

    assert returncode == 0, stderr
    assert "a new actor pool goes on with the" in stderr, stderr
    first, replanned = stderr.split("a new actor pool goes on", 1)
    # planned on the whole cluster: one replica on each worker node
    assert "samcli: Ray: 2 actor(s), each with 2 CPU and 2 torch thread(s)" in first, stderr
    # planned on the nodes left: the head (1 CPU) and one worker (2 CPUs)
    assert "samcli: Ray: 1 actor(s), each with 2 CPU and 2 torch thread(s)" in replanned, stderr
    assert stdout == plain
    assert error_lines(stderr) == [] and "Traceback" not in stderr
