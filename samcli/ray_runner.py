"""``samcli automask --ray``: the same job on Ray Data, on a laptop or on a cluster.

An optional extra (``pip install 'samcli[ray]'``): ``ray`` is imported only inside these
functions, and a missing Ray is a :class:`~samcli.errors.ConfigError` saying how to install it.

A run, with the ``samcli`` process as Ray's driver:

1. Inputs are collected, checked for output clashes and filtered against the manifest exactly
   as in a local run (:meth:`~samcli.runner.Runner.start`): images already done with the same
   parameters are not even read. The manifest hash is the local run's (Ray options change no
   output), so local and Ray runs resume each other.
2. ``ray.data.read_binary_files`` reads the remaining files' bytes on the cluster (not
   ``read_images``, which ignores EXIF). A fixed pool of actors (:class:`Segmenter`), each
   holding one model (:class:`~samcli.pipeline.LazyPredictor`; one GPU per actor when the
   cluster has GPUs and ``--device`` allows), runs :func:`~samcli.pipeline.automask_image` on
   each file's bytes: samcli's own reader (same EXIF, bit-depth, alpha and size rules),
   generation and postprocessing, i.e. the very unit of work of a local run.
3. Each image comes back to the driver as it is done: its :class:`~samcli.results.ImageResult`
   (pickled; masks are compressed RLE, the decoded image only travels when ``--crops`` or
   ``--preview`` need it) or its :class:`~samcli.errors.InputError` message. The driver writes it
   with the run's writers and appends its manifest line (:meth:`~samcli.runner.Runner.write`,
   :meth:`~samcli.runner.Runner.fail_item`), so the files are byte-identical to a local run's,
   and a Ray run stopped at any point (Ctrl-C, a lost driver) resumes like a local one.

Other :class:`~samcli.errors.SamcliError` raised in an actor (weights that cannot be loaded or
downloaded) stop the run with that error, as they would locally. Nothing of Ray's reaches
stdout: Ray's logs, warnings and progress bars are off or on stderr; samcli's own progress bar
and summary are the local run's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Iterator, TextIO

from samcli.config import (AutomaskConfig, InputOptions, ModelOptions, OutputOptions,
                           PolygonOptions, ScaleOptions)
from samcli.errors import ConfigError, InputError, SamcliError
from samcli.io.inputs import InputItem
from samcli.runner import Summary

INSTALL_HINT = "pip install 'samcli[ray]'"

# CPUs given to each model replica on a cluster without GPUs (torch threads of one actor).
CPUS_PER_ACTOR = 4


def import_ray():
    """``ray`` with Ray Data, or a ConfigError naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data needs more than ray core: pyarrow, pandas)
        import ray.data.exceptions  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--ray needs Ray Data, which is not installed here ({exc}); install it with: "
            f"{INSTALL_HINT}"
        ) from None
    return ray


# --------------------------------------------------------------------------------- driver


def run_automask_ray(
    inputs: list[str],
    cfg: AutomaskConfig,
    model: ModelOptions,
    poly: PolygonOptions,
    out: OutputOptions,
    inp: InputOptions,
    scale: ScaleOptions,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> Summary:
    """:func:`samcli.pipeline.run_automask` with the images processed on Ray."""
    from samcli.pipeline import start_automask

    ray = import_ray()  # before any work: a missing extra is a configuration error

    try:
        items, problems, job = start_automask(inputs, cfg, model, poly, out, inp, stdin, stdout)
    except ConfigError as exc:
        if model.device != "auto" or {model.dtype, model.decoder_dtype} != {"auto"}:
            raise ConfigError(f"{exc} (with --ray, --device and the dtypes are also checked on "
                              "this machine; on a head node without a GPU leave them at auto: "
                              "each actor picks its own GPU)") from None
        raise
    runner = job.runner

    todo, summary = runner.start(items, problems)
    if todo is None:  # --fail-fast and a problem found while collecting inputs
        return summary
    if todo:
        # Ray prints its drivers' error messages ("(raylet) ... actor is dead") on sys.stdout;
        # records are bound to the real stdout already, so send everything else to stderr.
        with (contextlib.redirect_stdout(sys.stderr), _ray_logging(quiet=out.quiet),
              _connected(ray, scale, quiet=out.quiet)):
            _process_on_ray(ray, todo, job, cfg, model, inp, scale, summary,
                            ordered=out.output is None)
    return runner.finish(summary)


def _process_on_ray(ray, todo: list[InputItem], job, cfg: AutomaskConfig, model: ModelOptions,
                    inp: InputOptions, scale: ScaleOptions, summary: Summary,
                    ordered: bool) -> None:
    """Run the pool over ``todo`` and write each result on arrival (see the module doc)."""
    runner = job.runner
    plan = actor_plan(ray.cluster_resources(), model, scale)
    if not runner.opts.quiet:
        runner.report(f"samcli: Ray: {plan.describe()} for {len(todo)} {runner.opts.unit}")

    # The dataset names files by absolute path; the driver maps them back to the items.
    by_path: dict[str, InputItem] = {os.path.abspath(item.path): item for item in todo}

    with _data_context(ray, ordered):
        ds = ray.data.read_binary_files(list(by_path), include_paths=True)
        ds = ds.map_batches(
            Segmenter,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=plan.actors),
            fn_constructor_kwargs={"model": plan.model, "cfg": cfg, "inp": inp,
                                   "keep_rgb": job.keep_rgb, "threads": plan.threads},
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus,
        )
        with runner.progress(len(todo)) as bar:
            task = bar.add_task(runner.opts.unit, total=len(todo), proposals=0)
            rows = _guard_ray_errors(ray, ds.iter_rows())
            try:
                for row in rows:
                    path = row["path"]
                    item = by_path[path]
                    if row["fatal"]:
                        raise pickle.loads(row["fatal"])
                    if row["error"]:  # named as a local run names it
                        runner.fail_item(summary, item.rel,
                                         row["error"].replace(path, str(item.path)))
                        ok = False
                    else:
                        result = pickle.loads(row["result"])
                        result.image, result.source = item.rel, item.path
                        ok = runner.write(item, result, summary, float(row["seconds"]))
                    bar.update(task, advance=1, proposals=summary.proposals)
                    if not ok and runner.opts.fail_fast:
                        break
            finally:
                rows.close()  # stops the pipeline when leaving early (fail-fast, Ctrl-C)


def _guard_ray_errors(ray, rows) -> Iterator[dict]:
    """Rows of the dataset; a failure of Ray itself (a dead node, a crashed actor) becomes a
    SamcliError: what was written so far stays done, and a rerun resumes from there."""
    try:
        yield from rows
    except (ray.exceptions.RayError, ray.data.exceptions.SystemException) as exc:
        text = str(exc).strip()
        raise SamcliError(f"the Ray run stopped: {type(exc).__name__}: {text}\nThe images "
                          "written so far are kept; with -o, rerunning the same command "
                          "resumes from there.") from None


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How many model replicas, and what each one asks Ray for."""

    actors: int
    num_cpus: float
    num_gpus: float
    threads: int | None  # torch threads of a CPU actor
    model: ModelOptions  # the options as each actor sees them

    def describe(self) -> str:
        gpu = f"{self.num_gpus:g} GPU + " if self.num_gpus else ""
        return f"{self.actors} actor(s), each with {gpu}{self.num_cpus:g} CPU"


def actor_plan(resources: dict[str, Any], model: ModelOptions, scale: ScaleOptions) -> ActorPlan:
    """Actors and their resources from the cluster's totals (``ray.cluster_resources()``).

    The whole pool must fit in the cluster with a CPU to spare (half of a 1-CPU one): Ray
    Data's read tasks need one, and an actor that cannot be placed would stall the run.

    - GPUs in the cluster and ``--device`` auto or cuda: one actor per GPU (or
      ``--ray-actors``; more actors than GPUs share them: 0.5 GPU each for twice as many),
      each with up to one CPU. ``cuda:N`` becomes ``cuda`` inside an actor, which sees only
      the GPU Ray gave it.
    - Otherwise: one actor per :data:`CPUS_PER_ACTOR` CPUs (or ``--ray-actors``), each
      reserving up to that many CPUs (a share of one when there are more actors than CPUs)
      and running as many torch threads.
    """
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
        return ActorPlan(actors, num_cpus=_share(min(1.0, spare / actors)),
                         num_gpus=_share(min(1.0, gpus / actors)), threads=None, model=inner)
    actors = scale.ray_actors or max(1, int(cpus) // CPUS_PER_ACTOR)
    per_actor = _share(min(float(CPUS_PER_ACTOR), spare / actors))
    return ActorPlan(actors, num_cpus=per_actor, num_gpus=0,
                     threads=max(1, int(per_actor)), model=model)


def _share(x: float) -> float:
    """Whole units when there is at least one, else a fraction rounded down (0.33, not 1/3)."""
    return float(int(x)) if x >= 1 else max(0.01, int(x * 100) / 100)


@contextlib.contextmanager
def _connected(ray, scale: ScaleOptions, quiet: bool) -> Iterator[None]:
    """Ray for the run: a connection made elsewhere (a library caller, the tests) is used as
    is; otherwise ``ray.init`` (``--ray-address``, else $RAY_ADDRESS or a cluster started with
    ``ray start`` on this machine, else a new local instance), shut down afterwards."""
    if ray.is_initialized():
        yield
        return
    address = scale.ray_address
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.WARNING}
    if not (address or "").startswith("ray://"):  # Ray Client takes few driver options
        kwargs.update(include_dashboard=False, log_to_driver=False)
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - connection problems of every kind
        where = f"the Ray cluster at {address}" if address else "Ray"
        raise ConfigError(f"cannot start or reach {where}: {type(exc).__name__}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _data_context(ray, ordered: bool) -> Iterator[Any]:
    """Ray Data settings for the run, restored afterwards: no Ray progress bars (samcli draws
    its own on stderr) and, for stdout output, results in input order like a local run."""
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = ordered
    try:
        yield ctx
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved


class _DropRayChatter(logging.Filter):
    """Ray Data's console lines: warnings and errors only (errors only with --quiet), and not
    the hint about its progress bars, which samcli turns off on purpose."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return False
        return not str(record.msg).startswith("Progress bars disabled")


@contextlib.contextmanager
def _ray_logging(quiet: bool) -> Iterator[None]:
    """Filter Ray Data's console handlers (stderr) for the run; its log files keep everything."""
    handlers = [h for h in logging.getLogger("ray.data").handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                and "File" not in type(h).__name__]
    quiet_filter = _DropRayChatter(logging.ERROR if quiet else logging.WARNING)
    for h in handlers:
        h.addFilter(quiet_filter)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet_filter)


# --------------------------------------------------------------------------------- actors


class Segmenter:
    """A Ray Data actor holding one model: file bytes in, pickled ImageResults out.

    Every row comes back with its ``path`` and one of ``result`` (a pickled ImageResult),
    ``error`` (an InputError's message: the image failed, the run goes on) or ``fatal``
    (another pickled SamcliError: the run stops with it). Actors know images by their absolute
    path only; the driver puts back the record path (``rel``) and the path as found.
    """

    def __init__(self, model: ModelOptions, cfg: AutomaskConfig, inp: InputOptions,
                 keep_rgb: bool, threads: int | None = None) -> None:
        from samcli.pipeline import LazyPredictor

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.cfg, self.inp, self.keep_rgb = cfg, inp, keep_rgb
        self.predictor: Any = None
        self.fatal: bytes = b""
        try:
            self.predictor = LazyPredictor(model)  # device and dtype checked on this worker
        except SamcliError as exc:
            self.fatal = pickle.dumps(exc)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from samcli.pipeline import automask_image

        out: dict[str, list] = {"path": [], "result": [], "error": [], "fatal": [],
                                "seconds": []}
        for path, data in zip(batch["path"], batch["bytes"]):
            path = str(path)
            result, error, fatal = b"", "", self.fatal
            t0 = time.perf_counter()
            if not fatal:
                try:
                    image = automask_image(self.predictor, InputItem(Path(path), path),
                                           self.cfg, self.inp, self.keep_rgb, data=bytes(data))
                    result = pickle.dumps(image, protocol=pickle.HIGHEST_PROTOCOL)
                except InputError as exc:
                    error = str(exc)
                except SamcliError as exc:
                    fatal = pickle.dumps(exc)
            out["path"].append(path)
            out["result"].append(result)
            out["error"].append(error)
            out["fatal"].append(fatal)
            out["seconds"].append(time.perf_counter() - t0)
        return out
