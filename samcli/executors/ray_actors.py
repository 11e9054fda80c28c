"""RayExecutor: the unit of work on a pool of Ray actors (``samcli automask --ray``).

An optional extra (``pip install 'samcli[ray]'``): ``ray`` is imported only when a Ray run
starts, and a missing Ray is a :class:`~samcli.errors.ConfigError` saying how to install it.

A run, with the ``samcli`` process as Ray's driver:

1. The runner collects the inputs, checks output clashes and drops what the manifest says is
   done exactly as in a local run, before this executor sees them: images already done with
   the same parameters are not even read. The manifest hash is the local run's (Ray options
   change no output), so local and Ray runs resume each other.
2. A dataset of the remaining items (their resolved paths, one item a block) goes to a fixed
   pool of actors (:class:`Segmenter`), each holding one model
   (:class:`~samcli.loader.ModelLoader`; one GPU per actor when the cluster has GPUs and
   ``--device`` allows). Each actor runs the run's work object
   (:class:`~samcli.jobs.AutomaskWork`) on each file: samcli's own reader (so a file that
   cannot be read is that input's error, as locally), generation, postprocess and records
   with their polygons, i.e. the very unit of work of a local run. The files must be
   readable by those paths on every node (one machine, or a shared file system).
3. Each image comes back to the driver as it is done, as an :class:`~samcli.executors.Outcome`:
   its pickled :class:`~samcli.results.ImageResult` (masks as compressed RLE and the records;
   the decoded image only travels when ``--crops`` or ``--preview`` need it) or its
   :class:`~samcli.errors.InputError` message. The runner writes it with the run's writers and
   appends its manifest line, so the files are those of a local run, and a Ray run stopped at
   any point (Ctrl-C, a lost driver) resumes like a local one.

Across nodes: the pool is planned from the nodes alive when it starts
(:func:`~samcli.executors.ray_plan.actor_plan`: each actor fits on one node, with a CPU to
spare for Ray Data's read tasks), and each actor runs the model with the driver's torch
thread count (:mod:`samcli.threads`), so its records are those of a plain run, byte for byte.
When a node is lost, Ray's own actor restarts are off: a restarted actor keeps the shape of
the old plan, which may no longer fit on the nodes left, and the tasks bound to it would then
wait for ever. Instead the run goes on with a new pool planned on the nodes still alive, for
the images not yet written (at most :data:`MAX_POOL_RESTARTS` times; then, or when Ray fails
otherwise, the run stops with one ``Error:`` line and a rerun with ``-o`` resumes). The driver
writes each image once: a row for an image already written (a task Ray ran again) is
dropped, and an image that never comes back stops the run with an error instead of being
lost silently.

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
import signal
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from samcli.config import ModelOptions, ScaleOptions
from samcli.console import counted
from samcli.errors import ConfigError, InputError, SamcliError
from samcli.executors import OnItemBatch, Outcome
from samcli.executors.ray_plan import ActorPlan, actor_plan, cluster_totals
from samcli.io.inputs import InputItem
from samcli.threads import ENV as THREADS_ENV
from samcli.threads import model_threads

INSTALL_HINT = "pip install 'samcli[ray]'"

#: New actor pools a run may start after losing actors, nodes or results (see the module
#: docstring); the run stops with an error after that many.
MAX_POOL_RESTARTS = 3


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


class RayExecutor:
    """Runs ``work`` on a pool of Ray actors (see the module docstring).

    ``model``: the run's model options (each actor makes its own loader); ``ordered``: keep
    input order (stdout output, like a local run); ``report``: a stderr line (the plan);
    ``quiet``: Ray's own console lines only for errors; ``precision``: the driver loader's
    resolved precision and the options that ask for it (``ModelLoader.precision``,
    ``precision_flags()``), which the manifest hash holds: an actor that resolves ``auto``
    otherwise (on a GPU, under a head without one) stops the run before its first image.
    """

    def __init__(self, work: Any, model: ModelOptions, scale: ScaleOptions, *,
                 ordered: bool, quiet: bool, report: Callable[[str], None],
                 precision: tuple[dict[str, Any], str] | None = None) -> None:
        self.ray = import_ray()  # before any work: a missing extra is a configuration error
        if model.checkpoint is not None:  # (an actor's working folder is not the driver's)
            model = dataclasses.replace(model, checkpoint=os.path.abspath(
                os.path.expanduser(model.checkpoint)))
        self.work, self.model, self.scale = work, model, scale
        self.ordered, self.quiet, self.report = ordered, quiet, report
        self.precision = precision

    def outcomes(self, items: Sequence[InputItem],
                 on_batch: OnItemBatch | None = None) -> Iterator[Outcome]:
        if not items:
            return
        ray = self.ray
        # Ray prints its drivers' error messages ("(raylet) ... actor is dead") on sys.stdout;
        # records are bound to the real stdout already, so send everything else to stderr.
        with (contextlib.redirect_stdout(sys.stderr), _ray_logging(quiet=self.quiet),
              _connected(ray, self.scale, quiet=self.quiet), _data_context(ray, self.ordered)):
            yield from self._run(ray, items)

    def _run(self, ray, items: Sequence[InputItem]) -> Iterator[Outcome]:
        # The dataset's rows name the items by position; the driver maps them back.
        by_key: dict[int, InputItem] = dict(enumerate(items))
        written: set[int] = set()  # each image is yielded (written) once, whatever Ray does
        threads = model_threads()  # the driver's: every actor runs the model with it
        restarts, on_gpus = 0, False
        while True:
            left = [key for key in by_key if key not in written]
            try:
                # after a loss, Ray may list a node that has just died for a few seconds
                # more (until its health checks fail): plan on the nodes that answer
                nodes = _nodes_that_answer(ray) if restarts else _alive_nodes(ray)
                plan = actor_plan(cluster_totals(nodes) if restarts else ray.cluster_resources(),
                                  self.model, self.scale, nodes=nodes, threads=threads)
            except ConfigError as exc:
                if not restarts:
                    raise
                raise SamcliError(_stopped(None, f"no room for a new actor pool: {exc}")) from None
            if restarts and on_gpus and not plan.num_gpus:  # CPU records would differ
                raise SamcliError(_stopped(None, "no GPU left for a new actor pool"))
            on_gpus = bool(plan.num_gpus)
            if not self.quiet:
                self.report(f"samcli: Ray: {plan.describe()} for {len(left)} {self.work.unit}")
            pool = self._pool(ray, plan, left, by_key)
            try:
                for key, outcome in pool:
                    if key not in written:
                        written.add(key)
                        yield outcome
            except _PoolLost as lost:
                restarts += 1
                if restarts > MAX_POOL_RESTARTS:
                    raise SamcliError(_stopped(lost.error, f"after {MAX_POOL_RESTARTS} new "
                                               "actor pools")) from None
                # stderr, even with --quiet: the run goes on, but the user should know why
                self.report(f"samcli: Ray: {_describe(lost.error)}; a new actor pool goes on "
                            f"with the {counted(len(by_key) - len(written), self.work.unit)} left "
                            f"({restarts} of at most {MAX_POOL_RESTARTS})")
                continue
            finally:
                pool.close()  # leaving early (fail-fast, Ctrl-C) stops the pipeline
            missing = [by_key[key].rel for key in by_key if key not in written]
            if missing:  # never lose an image silently
                shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
                raise SamcliError(_stopped(None, f"{len(missing)} {self.work.unit} never came "
                                           f"back from the cluster ({shown})"))
            return

    def _pool(self, ray, plan: ActorPlan, keys: list[int],
              by_key: dict[int, InputItem]) -> Iterator[tuple[int, Outcome]]:
        """One actor pool over the items ``keys``: (key, outcome) as images come back.
        Raises :class:`_PoolLost` when the pool loses actors, nodes or results."""
        ds = _one_item_per_block(ray, {key: by_key[key] for key in keys})
        ds = _map_batches(
            ds, Segmenter,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=plan.actors),
            fn_constructor_kwargs={"model": plan.model, "work": self.work,
                                   "threads": plan.threads, "expected": self.precision},
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus,
        )
        rows = _guard_ray_errors(ray, _rows(ds))
        try:
            for row in rows:
                key = int(row["key"])
                item = by_key[key]
                if row["fatal"]:
                    raise pickle.loads(row["fatal"])
                seconds = float(row["seconds"])
                read_as = _path_of(row["path"])  # named as a local run names it
                if row["error"]:
                    yield key, Outcome(item, error=row["error"].replace(read_as, str(item.path)),
                                       seconds=seconds)
                    continue
                result = pickle.loads(row["result"])
                result.image, result.source = item.rel, item.path
                result.warnings = [w.replace(read_as, str(item.path)) for w in result.warnings]
                for record in result.records:
                    record["image"] = item.rel
                yield key, Outcome(item, result=result, seconds=seconds)
        finally:
            rows.close()  # stops the pipeline when leaving early (fail-fast, Ctrl-C)


def _one_item_per_block(ray, items: dict[int, InputItem]):
    """A dataset of rows ``{"key", "path"}``, one an item and one item a block (each image is
    then one task of one actor, written as soon as it is done). The path is the resolved
    one, as bytes: the actor opens the very file the driver found, whatever the name holds
    (Ray Data's own file reading passes names through URLs, losing tabs and line breaks and
    bytes that are not UTF-8, and fails the whole dataset on one unreadable file; the actor
    reads each file with samcli's reader instead, whose errors are that input's)."""
    rows = [{"key": key, "path": os.fsencode(os.path.realpath(item.path))}
            for key, item in items.items()]
    try:
        return ray.data.from_items(rows, override_num_blocks=len(rows))
    except TypeError:  # pragma: no cover - Ray before 2.10 calls it parallelism
        return ray.data.from_items(rows, parallelism=len(rows))


def _path_of(value: Any) -> str:
    """A row's path (bytes, or numpy bytes) as the str Python gives that name."""
    return os.fsdecode(bytes(value))


def _rows(ds) -> Iterator[dict]:
    """The dataset's rows as each block arrives. Not ``iter_rows``: it prefetches a block,
    holding each image back until the next one is done."""
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
        yield from batch.to_pylist()


def _map_batches(ds, fn, **kwargs):
    """``ds.map_batches`` with Ray's actor restarts off: a lost actor fails its tasks, and a
    new pool takes over (see the module docstring). Ray Data takes ``max_restarts`` only
    among the "remote args" it calls deprecated (no named parameter exists for it yet), so
    its warning is silenced here; a Ray that no longer takes it keeps its own restarts."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        try:
            return ds.map_batches(fn, max_restarts=0, **kwargs)
        except TypeError:  # pragma: no cover - a future Ray without remote args
            return ds.map_batches(fn, **kwargs)


class _PoolLost(Exception):
    """The pool lost actors, a node or results it made: a new pool may go on."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


# Ray's errors for lost actors, nodes, workers and objects (names, for older Rays' sake)
_LOST = ("RayActorError", "NodeDiedError", "ObjectLostError", "WorkerCrashedError",
         "OutOfMemoryError", "ActorUnschedulableError", "TaskUnschedulableError")


def _lost_resources(ray, exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says that actors, nodes, workers or objects
    were lost, rather than that the work itself failed."""
    lost = tuple(getattr(ray.exceptions, name) for name in _LOST if hasattr(ray.exceptions, name))
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        err = todo.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, lost):
            return True
        todo += [err.__cause__, err.__context__, getattr(err, "cause", None)]
    return False


def _guard_ray_errors(ray, rows) -> Iterator[dict]:
    """Rows of the dataset. A lost actor, node or result becomes :class:`_PoolLost` (a new
    pool may go on); any other failure of Ray itself a SamcliError: what was written so far
    stays done, and a rerun resumes from there."""
    try:
        yield from rows
    except (ray.exceptions.RayError, ray.data.exceptions.SystemException) as exc:
        if _lost_resources(ray, exc):
            raise _PoolLost(exc) from None
        raise SamcliError(_stopped(exc)) from None


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stopped(exc: BaseException | None, why: str = "") -> str:
    """The one-line message of a Ray run that stops."""
    reason = "; ".join(part for part in (why, _describe(exc)) if part)
    return (f"the Ray run stopped: {reason}. The images written so far are kept; with -o, "
            "rerunning the same command resumes from there.")


def _alive_nodes(ray) -> list[dict[str, Any]]:
    """The resources of each node alive now (empty when Ray cannot say: Ray Client)."""
    try:
        return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]
    except Exception:  # noqa: BLE001 - then plan from the cluster's totals
        return []


#: Seconds a node may take to answer a probe after a loss (Ray's health checks mark a dead
#: node within about 30 s by default); a hang guard only, not a timing the run depends on.
PROBE_TIMEOUT_S = 300


def _probe() -> bool:
    return True


def _nodes_that_answer(ray) -> list[dict[str, Any]]:
    """The resources of each node listed alive that runs a task now: a probe task (no CPU)
    pinned to each node either runs or fails once Ray has marked the node dead."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        alive = [node for node in ray.nodes() if node.get("Alive")]
    except Exception:  # noqa: BLE001 - Ray Client: plan from the cluster's totals
        return [dict(ray.cluster_resources())]
    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote() for node in alive]
    answered = []
    for node, ref in zip(alive, refs):
        try:
            ray.get(ref, timeout=PROBE_TIMEOUT_S)
        except (ray.exceptions.RayError, TimeoutError):
            continue
        answered.append(dict(node.get("Resources") or {}))
    return answered


def _require_reachable(address: str | None, timeout: float = 10.0) -> None:
    """A cluster named by ``HOST:PORT`` must answer on that port: ``ray.init`` retries an
    address where nothing listens for as long as it runs, printing Ray's own errors, deaf to
    SIGTERM. Other forms (``auto``, ``local``, ``ray://``) are left to Ray."""
    text = (address or "").strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or "://" in text:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {text}: {exc.strerror or exc} "
                          "(is its head running? `ray start --head` on it)") from None


def _signal_handlers() -> dict[int, Any]:
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(handlers: dict[int, Any]) -> None:
    for sig, handler in handlers.items():
        if handler is not None:  # (set even if it reads the same: Ray's C++ side sets its own)
            with contextlib.suppress(ValueError):  # (not the main thread: nothing to undo)
                signal.signal(sig, handler)


@contextlib.contextmanager
def _connected(ray, scale: ScaleOptions, quiet: bool) -> Iterator[None]:
    """Ray for the run: a connection made elsewhere (a library caller, the tests) is used as
    is; otherwise ``ray.init`` (``--ray-address``, else $RAY_ADDRESS or a cluster started with
    ``ray start`` on this machine, else a new local instance), shut down afterwards."""
    if ray.is_initialized():
        yield
        return
    address = scale.ray_address
    _require_reachable(address if address is not None else os.environ.get("RAY_ADDRESS"))
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.WARNING}
    if not (address or "").startswith("ray://"):  # Ray Client takes few driver options
        kwargs.update(include_dashboard=False, log_to_driver=False)
    handlers = _signal_handlers()
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # noqa: BLE001 - connection problems of every kind
        where = f"the Ray cluster at {address}" if address else "Ray"
        raise ConfigError(f"cannot start or reach {where}: {type(exc).__name__}: {exc}") from None
    finally:
        # ray.init puts its own SIGTERM handler in (sys.exit(15)): samcli's, which ends the
        # run as Ctrl-C does (finished images kept, whole-run files written, exit 143), goes
        # back in
        _restore_signal_handlers(handlers)
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


_RAY_DATA_TRACE_LINES = ("Full stack trace", "Exception occurred in Ray Data or Ray Core",
                         "Exception occurred in user code")


class _DropRayChatter(logging.Filter):
    """Ray Data's console lines: warnings and errors only (errors only with --quiet), without
    stack traces, and not the hint about its progress bars, which samcli turns off on
    purpose."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return False
        if record.exc_info or str(record.msg).startswith(_RAY_DATA_TRACE_LINES):
            # the stack traces of a failed pool: samcli says what happened in one line
            # (a new pool, or Error:); Ray Data's log file keeps them
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


def _other_precision(loader: Any, driver_flags: str) -> ConfigError:
    """An actor resolved ``auto`` precisions otherwise than the driver did (a GPU worker under
    a head without one): the manifest, hashed on the driver, would name a precision that did
    not run, and a later run with that precision would skip images it should redo."""
    flags = loader.precision_flags()
    return ConfigError(
        f"the Ray actors run the model on {loader.device.type} with {flags}, but this driver "
        f"resolved {driver_flags} for the manifest, which must name what runs: pass {flags}")


class Segmenter:
    """A Ray Data actor holding one model: item paths in, pickled ImageResults out.

    Every row comes back with its ``key`` and ``path`` and one of ``result`` (a pickled
    ImageResult), ``error`` (an InputError's message: the image failed, the run goes on) or
    ``fatal`` (another pickled SamcliError: the run stops with it). Actors know images by
    their resolved path only; the driver puts back the record path (``rel``) and the path as
    found.
    """

    def __init__(self, model: ModelOptions, work: Any, threads: int | None = None,
                 expected: tuple[dict[str, Any], str] | None = None) -> None:
        from samcli.loader import ModelLoader

        if threads:  # the driver's count: ModelLoader.get sets torch's threads from it
            os.environ[THREADS_ENV] = str(threads)
        self.work = work
        self.loader: Any = None
        self.fatal: bytes = b""
        try:
            self.loader = ModelLoader(model)  # device and dtype checked on this worker
        except SamcliError as exc:
            self.fatal = pickle.dumps(exc)
            return
        if expected is not None and self.loader.precision != expected[0]:
            self.fatal = pickle.dumps(_other_precision(self.loader, expected[1]))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"key": [], "path": [], "result": [], "error": [], "fatal": [],
                                "seconds": []}
        for key, raw in zip(batch["key"], batch["path"]):
            path = _path_of(raw)
            result, error, fatal = b"", "", self.fatal
            t0 = time.perf_counter()
            if not fatal:
                try:
                    image = self.work(self.loader, InputItem(Path(path), path))
                    result = pickle.dumps(image, protocol=pickle.HIGHEST_PROTOCOL)
                except InputError as exc:
                    error = str(exc)
                except SamcliError as exc:
                    fatal = pickle.dumps(exc)
            out["key"].append(int(key))
            out["path"].append(bytes(raw))
            out["result"].append(result)
            out["error"].append(error)
            out["fatal"].append(fatal)
            out["seconds"].append(time.perf_counter() - t0)
        return out
