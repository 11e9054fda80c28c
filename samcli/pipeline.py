"""A run, wired: inputs, model, unit of work, executor, writers and runner.

Library code (no Typer): :func:`run` takes a :class:`~samcli.request.RunRequest` and returns
the run's :class:`~samcli.runner.Summary`; the commands only build the request. What happens
to each input is :mod:`samcli.jobs`; where it happens, :mod:`samcli.executors`; how results
become files, manifest lines and progress, :mod:`samcli.runner`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Callable, Sequence, TextIO

from samcli.config import OutputOptions, hash_params, params_of
from samcli.console import stdout_was_closed, warn
from samcli.errors import ConfigError, InputError
from samcli.executors import Executor
from samcli.executors.local import InProcess
from samcli.fs import create_exclusive, text_of_path
from samcli.io.geo import georef_sidecars
from samcli.io.inputs import (InputItem, Problem, collect_images, link_trouble,
                              read_stdin_list)
from samcli.io.outputs import STATE_DIR
from samcli.io.labels import (CLASSES_TXT, CocoImage, collect_class_names, collect_label_files,
                              is_named_names_file, parse_coco_dets, read_image_map,
                              resolve_coco_images)
from samcli.io.writers import WHOLE_RUN_FILES, make_writers, other_formats_files
from samcli.jobs import AutomaskWork, FromBoxesWork, Render
from samcli.loader import ModelLoader
from samcli.lock import OutputLock
from samcli.manifest import params_hash
from samcli.request import RunRequest
from samcli.runner import RunOptions, Runner, Summary


@dataclass
class Inputs:
    """A run's work items, the problems met collecting them, and (from-boxes with COCO
    detections) each image's detections."""

    items: list[InputItem]
    problems: list[Problem | str]
    coco: dict[str, Any] | None = None
    coco_images: dict[str, CocoImage] | None = None
    #: from-boxes: ``{class id: name}`` from the ground truth's categories or the YOLO class
    #: names, and warnings met reading them
    class_names: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: from-boxes: ``{class id: supercategory}`` from the ground truth's categories
    supercategories: dict[int, str] = field(default_factory=dict)


def run(request: RunRequest, stdin: TextIO | None = None, stdout: TextIO | None = None) -> Summary:
    """Run ``request``: every input through the unit of work, written by the runner.

    Everything that can be refused is refused before any work (SamcliError): bad model,
    device or precision, no inputs, output clashes. ``stdin``/``stdout`` default to the
    process's (a '-' input reads paths from ``stdin``; records go to ``stdout`` without -o).
    """
    out = request.output
    if out.output is None and stdout is None and stdout_was_closed():
        raise ConfigError("stdout is closed, and records go to stdout without -o: give an "
                          "output folder with -o DIR")
    model = _model(request)
    inputs = _collect(request, stdin or sys.stdin)
    categories = ([{"id": 1, "name": "object"}] if request.automask
                  else [{"id": cid, "name": name} | _super(inputs.supercategories, cid)
                        for cid, name in inputs.class_names.items()])
    writers = make_writers(out, categories, stdout or sys.stdout,  # (touches no file)
                           score="sam" if request.automask else request.task.score,
                           class_names={0: "object"} if request.automask else inputs.class_names,
                           model_version=_model_version(request))
    # (every refusal first: a refused run must leave no .samcli marker, by which later walks
    # of an input folder would skip it)
    _check_output_folders(request, inputs)
    _refuse_overwriting_inputs(writers, inputs)
    Runner.check_output_clashes(writers, inputs.items)
    left = [f"{path}: left by an earlier --format {fmt} run into this folder; this run "
            f"(--format {out.format}) does not update it" for path, fmt in
            other_formats_files(out)]  # (before the marker is made: samcli's files only)
    for option, folder in _output_folders(out):  # (the runner takes the locks; in use: refused)
        OutputLock(folder, option).check_free()
    _prepare_output_folders(request)
    for message in model.warnings + request.task.warnings() + inputs.warnings + left:
        warn(message)
    render = Render(polygon=request.polygon if any(w.needs_geometry for w in writers) else None,
                    keep_rgb=any(w.needs_rgb for w in writers))
    max_pixels = request.input.max_pixels or None
    if request.automask:
        work: Any = AutomaskWork(request.task, render, max_pixels)
    else:
        work = FromBoxesWork(request.task, render, max_pixels, inputs.coco, inputs.coco_images)
    runner = Runner(writers, RunOptions(
        hash=manifest_hash(request, model), output_dir=Path(out.output) if out.output else None,
        overwrite=out.overwrite, fail_fast=request.input.fail_fast, quiet=out.quiet,
        unit=work.unit, folders=[folder for _, folder in _output_folders(out)],
        image_of=work.image_of if isinstance(work, FromBoxesWork) else None,
        companions=georef_sidecars if out.geo else None,
        content_of=_coco_content(inputs) if inputs.coco is not None else None,
        whole_run_is_this_run=inputs.coco is not None,
        whole_run_files=WHOLE_RUN_FILES.get(out.format, ()) if out.output else ()))
    return runner.run(inputs.items, _executor(request, work, model, runner), inputs.problems)


def _coco_content(inputs: Inputs) -> Callable[[InputItem], str]:
    """An image's share of --coco-dets and --image-map, as a digest for its identity: its
    detections as read (image id spelling, class, box, score; not their positions in the
    file, which other images' entries move) and its image-map entry (id, file name, size)."""
    coco, images = inputs.coco or {}, inputs.coco_images or {}

    def content(item: InputItem) -> str:
        dets = [(d.image_id, d.category_id, d.bbox, d.score) for d in coco.get(item.rel, ())]
        image = images.get(item.rel)
        entry = None if image is None else (image.id, image.file_name, image.width,
                                             image.height)
        return params_hash({"detections": repr(dets), "image": repr(entry)})

    return content


def _super(supercategories: dict[int, str], cid: int) -> dict[str, str]:
    """A COCO category's ``supercategory`` field, when the ground truth gave it one."""
    return {"supercategory": supercategories[cid]} if cid in supercategories else {}


def _model_version(request: RunRequest) -> str:
    """How Label Studio names the predictions' model: samcli's version and the weights."""
    from samcli import __version__
    from samcli.model.specs import DEFAULT_MODEL

    m = request.model
    weights = m.model or (Path(m.checkpoint).name if m.checkpoint else DEFAULT_MODEL)
    return f"samcli {__version__} {request.command} {weights}"


# samcli's own part of the resume key. Bump it with any change that gives other outputs for
# the same inputs, weights and options (numerics, filters, polygons, writers): outputs that an
# earlier samcli left in a folder are then redone on resume instead of mixed with new ones.
# The golden recordings (tests/golden: MobileSAM and SAM 2.1 tiny runs in float32) hold the
# revision they were made at, and recording changed outputs refuses until it is raised; a
# change the goldens do not see (bfloat16, GPU paths) must be caught by the one who makes it.
OUTPUT_REVISION = 6


def manifest_hash(request: RunRequest, model: ModelLoader) -> str:
    """The hash of everything that changes an input's outputs (the manifest's resume key):
    samcli's :data:`OUTPUT_REVISION`, the model's identity, the task's parameters, polygons and
    the output options (the --crops and --preview folders by their resolved paths). Where
    the work runs (Ray or not) changes nothing, so it is not part of it."""
    out = request.output
    cfg = hash_params(request.task)
    for key in _PATH_PARAMS:  # 'dir', 'dir/' and /abs/dir are one folder: no redo
        if cfg.get(key):
            cfg[key] = _folder_key(cfg[key])
    params = {"revision": OUTPUT_REVISION,
              "job": request.command, "model": model.identity, "cfg": cfg,
              "polygon": params_of(request.polygon), "format": out.format,
              "crops": _folder_key(out.crops), "preview": _folder_key(out.preview),
              "geo": bool(out.geo)}
    return params_hash(params)


#: The task's path options, in the resume key by their resolved paths (what the files hold
#: is in each input's identity: the image a label resolved to, the detections' content).
_PATH_PARAMS = ("images", "coco_dets", "image_map")


def _folder_key(folder: str | None) -> str | bool:
    """An optional output folder in the resume key: its resolved path (chips asked for in
    another folder than before redo their inputs), False when not asked for."""
    return text_of_path(os.path.realpath(folder)) if folder else False


def _model(request: RunRequest) -> ModelLoader:
    """The run's model (checked now, loaded on first use). With Ray, device and dtypes are
    checked on this machine too, which may not be the one with the GPUs: say so."""
    try:
        return ModelLoader(request.model)
    except ConfigError as exc:
        m = request.model
        if request.scale.enabled and (m.device != "auto" or {m.dtype, m.decoder_dtype} != {"auto"}):
            raise ConfigError(f"{exc} (with --ray, --device and the dtypes are also checked on "
                              "this machine; on a head node without a GPU leave them at auto: "
                              "each actor picks its own GPU)") from None
        raise


def _output_folders(out: OutputOptions) -> list[tuple[str, Path]]:
    return [(option, Path(folder)) for option, folder in
            (("-o", out.output), ("--crops", out.crops), ("--preview", out.preview)) if folder]


def _check_output_folders(request: RunRequest, inputs: Inputs) -> None:
    """Before any work, touching no file: every output folder is a folder (or not there yet),
    none is an input folder, and none holds an input (a file named directly, or an input
    folder): its files would be mixed with the inputs, and its ``.samcli`` marker would make
    later walks of a folder above skip those inputs."""
    roots = {os.path.realpath(item.root): item.root for item in inputs.items
             if item.root is not None}
    cfg = request.task
    if not request.automask and cfg.images:
        roots[os.path.realpath(cfg.images)] = cfg.images
    lone = {os.path.realpath(item.path): item.path for item in inputs.items if item.root is None}
    for option, folder in _output_folders(request.output):
        broken = _unfollowable_link_on(folder)
        if broken is not None:
            raise ConfigError(f"{option} {folder}: {broken}")
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option} {folder}: exists and is not a folder")
        real = os.path.realpath(folder)
        if real in roots:
            raise ConfigError(f"{option} {folder} is an input folder: samcli's files would be "
                              "mixed with (or overwrite) the inputs; choose another folder")
        held = next((str(given) for real_path, given in [*sorted(roots.items()), *lone.items()]
                     if _within(real_path, real)), None)  # (the folder itself: refused above)
        if held is not None:
            raise ConfigError(f"{option} {folder} holds the input {held}: samcli's files would "
                              "be mixed with the inputs (and read back as inputs by a later "
                              "run over the folder); choose another folder")


def _unfollowable_link_on(folder: Path) -> str | None:
    """What is wrong with the first symbolic link on the way to ``folder`` (the folder itself
    or one above it) that leads nowhere (its target gone, a loop); None when there is none.
    (Creating the folder would fail with "File exists", which does not say why.)"""
    for path in (folder, *folder.parents):
        trouble = link_trouble(path)
        if trouble is not None:
            return trouble if path == folder else f"{text_of_path(str(path))}: {trouble}"
    return None


def _prepare_output_folders(request: RunRequest) -> None:
    """Before any work (and before the model loads), once every check passed: every output
    folder exists and takes a new file. Each gets a ``.samcli`` marker folder, by which folder
    walks recognise samcli's own outputs and skip them (so crops or label files written
    inside an input tree are never read back as inputs)."""
    for option, folder in _output_folders(request.output):
        try:
            (folder / STATE_DIR).mkdir(parents=True, exist_ok=True)
            fd, probe = create_exclusive(folder, ".samcli-write-test-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            where = exc.filename or folder
            raise ConfigError(f"{option} {folder}: cannot write there ({where}: "
                              f"{exc.strerror or exc})") from None


def _refuse_overwriting_inputs(writers: list, inputs: Inputs) -> None:
    """No output file may be an input file (from-boxes --format yolo with -o on the labels)."""
    given = {os.path.realpath(item.path): item for item in inputs.items}
    for w in writers:
        for item in inputs.items:
            for path in w.outputs_for(item.rel):
                hit = given.get(os.path.realpath(path))
                if hit is not None:
                    raise ConfigError(f"{path} is both an input and an output of this run "
                                      f"({hit.path}); write the outputs to another folder")


def _collect(request: RunRequest, stdin: TextIO) -> Inputs:
    inp = request.input
    if not request.automask:
        _check_images_folder(request.task.images)
    # a list read from stdin is read here, once, so its folders are checked like the others
    listed = read_stdin_list(stdin) if "-" in request.inputs else []
    given = [s for s in request.inputs if s != "-"] + listed
    if request.automask:
        items, problems = collect_images(list(request.inputs), glob=inp.glob, stdin=listed)
        if not items and not problems:
            raise ConfigError(f"no images found in {', '.join(request.inputs)}"
                              + _glob_note(inp.glob))
        return Inputs(items, problems, warnings=_empty_folders(given, items, problems,
                                                                "images", inp.glob))
    cfg = request.task
    if cfg.coco_dets:
        # COCO detection results: one work item per image
        # an unreadable detections file or image map stops the run before any work; the
        # message names the option (the file's own name may not say which it was)
        dets = _read_option_file("--coco-dets", parse_coco_dets, Path(cfg.coco_dets))
        image_map = (_read_option_file("--image-map", read_image_map, cfg.image_map)
                     if cfg.image_map else None)
        found, problems = resolve_coco_images(dets.keys(), Path(cfg.images), image_map)
        if not found and not problems:
            raise ConfigError(f"no detections in {cfg.coco_dets}")
        items = sorted(found.values(), key=lambda it: it.rel)
        # outputs keep the ground truth's image ids (its spelling: loadRes compares them
        # exactly), else the detections' own
        gt = image_map if image_map is not None and image_map.is_coco else None
        images = {item.rel: (gt.get(image_id) if gt is not None else None)
                  or CocoImage(image_id, item.rel) for image_id, item in found.items()}
        return Inputs(items, problems, {item.rel: dets[image_id]
                                        for image_id, item in found.items()}, images,
                      dict(gt.categories) if gt is not None else {},
                      supercategories=dict(gt.supercategories) if gt is not None else {})
    # YOLO label files: one work item per label file
    items, problems = collect_label_files(list(request.inputs), glob=inp.glob, stdin=listed)
    # a class-names file named directly (a shell glob, labels/*.txt) is not a label file
    skipped = [item for item in items if is_named_names_file(item)]
    items = [item for item in items if item not in skipped]
    if not items and not problems:
        raise ConfigError(f"no label files (.txt) found in {', '.join(request.inputs)}"
                          + _glob_note(inp.glob))
    names = collect_class_names(items)
    return Inputs(items, problems, class_names=dict(sorted(names.names.items())),
                  warnings=[_names_file_note(item.path) for item in skipped]
                  + _empty_folders(given, items, problems, "label files (.txt)",
                                   inp.glob)
                  + list(names.warnings))


def _names_file_note(path: Path) -> str:
    """The warning for a class-names file named as an input (a shell glob, labels/*.txt)."""
    if path.name.lower() == CLASSES_TXT:
        return (f"{path}: a class-names file, not labels: skipped (read for the class names "
                "of the labels beside it)")
    return (f"{path}: LabelImg's list of classes to offer, not labels: skipped (class names "
            f"come from {CLASSES_TXT} or the dataset's data.yaml)")


def _empty_folders(given: Sequence[str], items: Sequence[InputItem],
                   problems: Sequence[Problem], what: str, glob: str | None) -> list[str]:
    """A warning for each folder named on the command line or in a stdin list that gave no
    input while others did (a mistyped or wrong folder among several would pass unnoticed);
    not for one whose inputs were found but refused (each is an error of its own)."""
    roots = {os.path.realpath(item.root) for item in items if item.root is not None}
    refused = {os.path.realpath(p.input) for p in problems if isinstance(p, Problem)}

    def reached(folder: str) -> bool:  # its files came through it, or a folder above it
        where = os.path.realpath(folder)
        return (any(_within(where, root) for root in roots)
                or any(_within(path, where) for path in refused))

    return [f"{folder}: no {what} found in this folder{_glob_note(glob)}" for folder in given
            if folder != "-" and os.path.isdir(folder) and not reached(folder)]


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both resolved, by path components)."""
    return PurePath(path).is_relative_to(folder)


def _glob_note(glob: str | None) -> str:
    """What an empty result owes to --glob (matched against paths relative to each folder
    given, case-sensitively)."""
    if not glob:
        return ""
    return (f" matching --glob {glob!r} (matched against each file's path relative to the "
            "folder given, case-sensitively)")


def _read_option_file(option: str, read: Callable[[Any], Any], path: Any) -> Any:
    """``read(path)`` for the file an option names; its InputError (which names the file)
    becomes a ConfigError that also names the option: ``--coco-dets dets.json: ...``."""
    try:
        return read(path)
    except InputError as exc:
        raise ConfigError(f"{option} {exc}") from None


def _check_images_folder(images: str | None) -> None:
    """``--images DIR`` is an existing folder (else every input would fail alone, or an empty
    value would silently mean the label rules)."""
    if images is None:
        return
    if not images:
        raise ConfigError("--images '': give the images' folder (or leave the option out to "
                          "find images by the label rules)")
    folder = Path(images)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "no such folder"
        raise ConfigError(f"--images {images}: {what}")


def _executor(request: RunRequest, work: Any, model: ModelLoader, runner: Runner) -> Executor:
    if request.scale.enabled:
        from samcli.executors.ray_actors import RayExecutor

        return RayExecutor(work, model.opts, request.scale, ordered=request.output.output is None,
                           quiet=request.output.quiet, report=runner.report,
                           precision=(model.precision, model.precision_flags()))
    return InProcess(work, model)
