"""``samcli automask --ray``: Ray Data gives a plain run's records and files, and resumes.

One local 2-CPU Ray instance serves the module (start-up takes seconds); the CLI runs in this
process use it as it is, and one subprocess connects to it with ``--ray-address``. Without Ray
installed those tests skip; the others (the missing-extra error, the actor plan) still run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from samcli.config import ModelOptions, ScaleOptions
from samcli.errors import ConfigError
from samcli.io.outputs import STATE_DIR
from tests.commands.conftest import FAST, error_lines, invoke, jsonl, write_image

ONE_ACTOR = ["--ray", "--ray-actors", "1"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray instance for the module (its GCS address); skips without Ray (the
    tests that need no cluster still run, the missing-extra error among them)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    # address="local": a new instance of our own, never a cluster this machine already runs
    # (ray.init() alone joins the last `ray start` or ray.cluster_utils cluster recorded in
    # /tmp/ray/ray_current_cluster, or $RAY_ADDRESS: a stale record from a killed test run
    # would turn this fixture into "connecting to an existing cluster")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Two images (one in a nested folder with an awkward name) and one broken file."""
    root = tmp_path_factory.mktemp("ray") / "in put"
    write_image(root / "a.png", seed=1)
    write_image(root / "sub ü#1" / "a.png", seed=2)
    (root / "broken.png").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def plain(tree, mobile_ckpt):
    """The plain (local) run over the tree, JSON Lines on stdout."""
    result = invoke("automask", tree, "--checkpoint", mobile_ckpt, *FAST)
    assert result.exit_code == 3, result.stderr  # the broken file fails, the rest is done
    return result


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_odd_names_and_unreadable_files_are_as_in_a_plain_run(tmp_path, mobile_ckpt,
                                                              ray_cluster):
    """Ray Data's own reading lost names with undecodable bytes, tabs or line breaks, failed
    the whole run on one unreadable file, and mapped ``link/../a.png`` to another file (a
    review found each). The actors now read by resolved path: odd names are done, an
    unreadable file fails alone with the plain run's message, and a name through a symlink
    and ``..`` is the file the OS opens."""
    root = tmp_path / "in"
    write_image(root / "ok.png", seed=1)
    for name in (b"caf\xff.png", b"new\nline.png", b"t\tab.png"):
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write((root / "ok.png").read_bytes())
    (root / "bad.png").write_bytes(b"not a png")
    (root / "deep" / "er").mkdir(parents=True)
    write_image(root / "deep" / "ok.png", seed=2)  # what link/../ok.png opens
    (tmp_path / "link").symlink_to(root / "deep" / "er")
    extra = [tmp_path / "link" / ".." / "ok.png"]
    plain = invoke("automask", root, *extra, "--checkpoint", mobile_ckpt, *FAST)
    result = invoke("automask", root, *extra, "--checkpoint", mobile_ckpt, *FAST, *ONE_ACTOR)
    assert (result.exit_code, plain.exit_code) == (3, 3), result.stderr
    assert result.stdout == plain.stdout and len(jsonl(result.stdout)) > 0
    assert error_lines(result.stderr) == error_lines(plain.stderr)
    assert len(error_lines(result.stderr)) == 1 and "bad.png" in error_lines(result.stderr)[0]
    assert "Traceback" not in result.stderr


# A driver whose Runner.record raises KeyboardInterrupt after the first image: Ctrl-C, on time.
INTERRUPTED_DRIVER = """
from samcli.runner import Runner

record = Runner.record

def record_then_interrupt(self, outcome, summary):
    ok = record(self, outcome, summary)
    if outcome.result is not None:  # the first image written: Ctrl-C
        raise KeyboardInterrupt
    return ok

Runner.record = record_then_interrupt
from samcli.cli import main
main()
"""


def test_interrupted_ray_run_resumes_to_the_plain_runs_files(tree, tmp_path, mobile_ckpt,
                                                            ray_cluster, plain, monkeypatch):
    """Ctrl-C on a Ray driver, then a --ray rerun in this process: the plain run's files,
    and the broken file's error line. (A Ray run's stdout, byte for byte: the cluster tests.)
    The rerun's driver only writes: with a spy on the polygon builder in this (the driver's)
    process, its files still hold the plain run's polygons and the spy is never called; a
    plain run in this process calls it."""
    import samcli.io.records as records_module

    base = ["automask", tree, "--checkpoint", mobile_ckpt, *FAST, *ONE_ACTOR, "-o", tmp_path]

    # Ctrl-C on a driver joining the cluster, right after the first image is written: the
    # pool's actors are killed, and Ray's "(raylet) ... actor is dead" lines stay off stdout
    args = [sys.executable, "-c", INTERRUPTED_DRIVER, *map(str, base),
            "--ray-address", ray_cluster]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    stopped = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    assert error_lines(stopped.stderr)[-1] == "Error: interrupted", stopped.stderr
    assert stopped.stdout == ""
    (first,) = [e["image"] for e in _manifest(tmp_path) if e["status"] == "done"]

    # The rerun reads and segments only the image left, on the actors...
    calls = []
    real = records_module.mask_to_geometry
    monkeypatch.setattr(records_module, "mask_to_geometry",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    again = invoke(*[a for a in base if a != "-q"])
    assert again.exit_code == 3, again.stderr
    assert "1 image done, 1 skipped (already done), 1 failed" in again.stderr
    (error,) = error_lines(again.stderr)  # the broken file, named as a plain run names it
    assert "broken.png" in error and error_lines(plain.stderr) == [error]
    assert "Traceback" not in again.stderr
    assert calls == [], "polygons were built on the driver"
    done = [e["image"] for e in _manifest(tmp_path) if e["status"] == "done"]
    assert done[0] == first and sorted(done) == ["a.png", "sub ü#1/a.png"]

    # ...and ends with the plain run's outputs: each image's file holds its records, byte
    # for byte (the same lines a plain -o run writes; stdout and files share one encoder)
    lines = plain.stdout.splitlines(keepends=True)
    for image in done:
        expected = "".join(line for line in lines if json.loads(line)["image"] == image)
        assert (tmp_path / f"{image}.jsonl").read_text() == expected
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                   if p.is_file() and STATE_DIR not in p.relative_to(tmp_path).parts)
    assert files == ["a.png.jsonl", "manifest.jsonl", "sub ü#1/a.png.jsonl"]
    assert invoke("automask", tree / "a.png", "--checkpoint", mobile_ckpt, *FAST).stdout
    assert calls, "the spy must see a local run's polygons"


def test_missing_ray_is_a_clean_error(tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    result = invoke("automask", tree, "--ray")
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert "pip install 'samcli[ray]'" in line
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_bad_ray_options_are_errors_before_any_work(tree):
    result = invoke("automask", tree, "--ray-actors", "-1")
    assert result.exit_code == 1 and "--ray-actors" in error_lines(result.stderr)[0]


class _RayThatTakesSigterm:
    """ray.init as Ray's does it to a driver's signals: its own SIGTERM handler."""

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        import signal

        signal.signal(signal.SIGTERM, lambda *a: sys.exit(15))

    def shutdown(self):
        pass


def test_a_ray_driver_keeps_samclis_sigterm_handler():
    """SIGTERM ends a Ray run as Ctrl-C does (exit 143, whole-run files written): the handler
    ray.init puts in (sys.exit(15): no files, exit 15) is replaced by the one it found."""
    import signal

    from samcli.executors.ray_actors import _connected

    def samclis(signum, frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, samclis)
    try:
        with _connected(_RayThatTakesSigterm(), ScaleOptions(ray=True), quiet=True):
            assert signal.getsignal(signal.SIGTERM) is samclis
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("label, address, refused", [
    ("nothing listens there", "127.0.0.1:1", True),
    ("not a HOST:PORT: left to Ray", "auto", False),
    ("Ray Client: left to Ray", "ray://127.0.0.1:1", False),
    ("no address", None, False),
])
def test_a_cluster_address_where_nothing_listens_is_refused_at_once(label, address, refused):
    """ray.init retries such an address as long as it runs (deaf to SIGTERM): one error."""
    from samcli.executors.ray_actors import _require_reachable

    if not refused:
        _require_reachable(address, timeout=1)
        return
    with pytest.raises(ConfigError, match=rf"^cannot reach the Ray cluster at {address}: "):
        _require_reachable(address, timeout=1)


def test_a_relative_checkpoint_reaches_the_actors_whole(tmp_path, monkeypatch):
    """Actors run in another working folder (on a cluster): they get the file's full path."""
    pytest.importorskip("ray")
    from samcli.executors.ray_actors import RayExecutor

    monkeypatch.chdir(tmp_path)
    executor = RayExecutor(None, ModelOptions(checkpoint="ck.pt"), ScaleOptions(ray=True),
                           ordered=True, quiet=True, report=print)
    assert executor.model.checkpoint == str(tmp_path / "ck.pt")


@pytest.mark.parametrize("label, driver, flags", [
    ("a CPU head resolved auto to float32; the actor got bfloat16",
     {"dtype": "bfloat16", "decoder_dtype": "bfloat16", "decoder_products": None},
     "--dtype bfloat16 --decoder-dtype bfloat16"),
    ("the decoder's products differ",
     {"dtype": "float32", "decoder_dtype": "float32", "decoder_products": "bfloat16"},
     "--dtype float32 --decoder-dtype mixed"),
])
def test_an_actor_that_resolves_another_precision_stops_the_run(mobile_ckpt, label, driver,
                                                               flags):
    """The manifest hash holds the driver's resolved precision; an actor on other hardware
    (a GPU worker under a CPU head, with auto) resolves another, and would write records the
    manifest misnames: its first row is fatal, naming the options that ask for what it runs.
    (Here the actor is on this CPU, resolving float32; the driver's side is what differs.)"""
    pickle = pytest.importorskip("pickle")
    from samcli.executors.ray_actors import Segmenter

    def never(*_a, **_k):
        raise AssertionError("the image was segmented")

    model = ModelOptions(checkpoint=str(mobile_ckpt))
    actor = Segmenter(model, never, threads=1, expected=(driver, flags))
    rows = actor({"key": [0], "path": [b"/nowhere.png"]})
    error = pickle.loads(rows["fatal"][0])
    assert isinstance(error, ConfigError), label
    assert str(error) == (
        f"the Ray actors run the model on cpu with --dtype float32 --decoder-dtype float32, but "
        f"this driver resolved {flags} for the manifest, which must name what runs: pass "
        "--dtype float32 --decoder-dtype float32")
    # the same precision as the driver's: no fatal row
    from samcli.loader import ModelLoader

    here = ModelLoader(model)
    same = Segmenter(model, lambda loader, item: None, threads=1,
                     expected=(here.precision, here.precision_flags()))
    assert same.fatal == b""
