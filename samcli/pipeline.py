"""The jobs behind the commands: wire inputs, model, generation, postprocess and writers.

Library code (no Typer): ``run_automask`` and ``run_from_boxes`` take the config dataclasses
and return a :class:`~samcli.runner.Summary`; the commands only parse options and call these.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, TextIO

import numpy as np

from samcli import automask, postprocess, tiling
from samcli.config import (AutomaskConfig, FromBoxesConfig, InputOptions, ModelOptions,
                           OutputOptions, PolygonOptions, ScaleOptions, params_of)
from samcli.errors import CheckpointError, ConfigError, InputError, UsageError
from samcli.from_boxes import BoxPrompts, segment_boxes
from samcli.io.images import read_image
from samcli.io.inputs import InputItem, collect_images
from samcli.io.labels import (PixelBoxes, boxes_to_pixels, coco_dets_to_xyxy, collect_label_files,
                              find_image_for_label, parse_coco_dets, parse_yolo_labels,
                              resolve_coco_images)
from samcli.maskset import MaskSet
from samcli.io.writers import JsonlStdoutWriter, make_writers
from samcli.results import ImageResult
from samcli.runner import RunOptions, Runner, Summary, params_hash


class LazyPredictor:
    """Loads the model on first use, so a resumed run with nothing left to do loads nothing."""

    def __init__(self, opts: ModelOptions) -> None:
        from samcli.model.specs import get_spec
        from samcli.predictor import resolve_decoder_precision, resolve_device, resolve_dtype

        # Bad names, devices, dtypes and missing checkpoint files fail before any work
        if opts.model is not None:
            get_spec(opts.model)
        if opts.checkpoint and not Path(opts.checkpoint).is_file():
            raise CheckpointError(f"checkpoint {opts.checkpoint}: no such file")
        self.device = resolve_device(opts.device)
        self.dtype = resolve_dtype(opts.dtype, self.device)
        self.decoder_dtype, self.decoder_products = resolve_decoder_precision(
            opts.decoder_dtype, self.dtype, self.device)
        self.opts = opts
        self._predictor = None

    @property
    def identity(self) -> dict[str, Any]:
        """What identifies the weights, for the manifest hash (name, checkpoint file and size)."""
        ident: dict[str, Any] = {"model": self.opts.model or "vit_b", "dtype": self.opts.dtype}
        if self.decoder_dtype != self.dtype:  # absent otherwise: earlier runs' hashes hold
            ident["decoder_dtype"] = str(self.decoder_dtype).removeprefix("torch.")
        if self.decoder_products is not None:
            ident["decoder_products"] = str(self.decoder_products).removeprefix("torch.")
        if self.opts.checkpoint:
            p = Path(self.opts.checkpoint)
            ident["checkpoint"] = str(p.resolve())
            ident["checkpoint_size"] = p.stat().st_size if p.exists() else None
        return ident

    def get(self):
        if self._predictor is None:
            from samcli.console import download_progress
            from samcli.model.loading import load_model
            from samcli.predictor import Predictor

            checkpoint = Path(self.opts.checkpoint) if self.opts.checkpoint else None
            with download_progress(f"{self.opts.model or 'vit_b'} weights") as progress:
                model = load_model(self.opts.model, checkpoint, device=self.device,
                                   progress=progress)
            self._predictor = Predictor(model, device=self.device, dtype=self.dtype,
                                        decoder_dtype=self.decoder_dtype,
                                        decoder_products=self.decoder_products)
        return self._predictor


@dataclass
class Outputs:
    """The writers of a run plus what the runner needs to know about them."""

    writers: list
    output_dir: Path | None


def open_outputs(out: OutputOptions, categories: list[dict], stdout: TextIO) -> Outputs:
    """Writers for ``out``: JSON Lines on ``stdout`` without ``-o``, else files (+ crops/preview)."""
    output_dir = Path(out.output) if out.output else None
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"-o {output_dir}: exists and is not a folder")
    writers = make_writers(output_dir, out.format,
                           Path(out.crops) if out.crops else None,
                           Path(out.preview) if out.preview else None,
                           categories, geo=out.geo)
    if output_dir is None:
        writers.insert(0, JsonlStdoutWriter(stdout))
    return Outputs(writers, output_dir)


@dataclass
class Job:
    """What both commands set up the same way: the lazy model, the runner and its writers."""

    predictor: LazyPredictor
    runner: Runner
    keep_rgb: bool  # whether a writer (crops, preview) needs the decoded image


def start_job(name: str, cfg: Any, model: ModelOptions, poly: PolygonOptions,
              out: OutputOptions, inp: InputOptions, categories: list[dict],
              stdout: TextIO | None, unit: str = "images") -> Job:
    """Model (loaded on first use), writers and a runner whose manifest hash covers the model,
    ``cfg`` and every output option."""
    predictor = LazyPredictor(model)
    outputs = open_outputs(out, categories, stdout or sys.stdout)
    hash_params = {"job": name, "model": predictor.identity, "cfg": params_of(cfg),
                   "polygon": params_of(poly), "format": out.format,
                   "crops": bool(out.crops), "preview": bool(out.preview),
                   **({"geo": True} if out.geo else {})}  # absent without --geo: old hashes hold
    opts = RunOptions(
        simplify=poly.simplify, max_vertices=poly.max_vertices, hash=params_hash(hash_params),
        output_dir=outputs.output_dir, overwrite=out.overwrite, fail_fast=inp.fail_fast,
        quiet=out.quiet, unit=unit,
    )
    return Job(predictor, Runner(outputs.writers, opts),
               any(w.needs_rgb for w in outputs.writers))


def run_automask(
    inputs: list[str],
    cfg: AutomaskConfig,
    model: ModelOptions,
    poly: PolygonOptions,
    out: OutputOptions,
    inp: InputOptions,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    scale: ScaleOptions | None = None,
) -> Summary:
    """Everything-mode proposals for every image under ``inputs`` (on Ray with ``scale.ray``)."""
    if scale is not None and scale.enabled:
        from samcli.ray_runner import run_automask_ray

        return run_automask_ray(inputs, cfg, model, poly, out, inp, scale, stdin, stdout)
    items, problems, job = start_automask(inputs, cfg, model, poly, out, inp, stdin, stdout)
    predictor, runner, keep_rgb = job.predictor, job.runner, job.keep_rgb

    def process(item: InputItem, on_batch: Callable[[int, int], None]) -> ImageResult:
        return automask_image(predictor, item, cfg, inp, keep_rgb, on_batch)

    return runner.run(items, process, pre_failed=problems)


def start_automask(inputs: list[str], cfg: AutomaskConfig, model: ModelOptions,
                   poly: PolygonOptions, out: OutputOptions, inp: InputOptions,
                   stdin: TextIO | None, stdout: TextIO | None
                   ) -> tuple[list[InputItem], list[str], Job]:
    """An automask run's inputs (items and problems found collecting them) and its job (model
    loaded on first use, writers, runner); shared by the local and the Ray runner."""
    # Inputs
    items, problems = collect_images(inputs, glob=inp.glob, stdin=stdin or sys.stdin)
    if not items and not problems:
        raise UsageError(f"no images found in {', '.join(inputs)}")

    # Model (loaded on first use) and writers
    job = start_job("automask", cfg, model, poly, out, inp, [{"id": 1, "name": "object"}], stdout)
    return items, problems, job


def automask_image(predictor: LazyPredictor, item: InputItem, cfg: AutomaskConfig,
                   inp: InputOptions, keep_rgb: bool = False,
                   on_batch: Callable[[int, int], None] | None = None,
                   data: bytes | None = None) -> ImageResult:
    """One image: read, generate, postprocess (the unit of work of every automask runner).

    The model is loaded on first use (``predictor.get()``), after the image was read, so a
    folder of unreadable files loads nothing.
    """
    rgb = read_image(item.path, max_pixels=inp.max_pixels or None, data=data)
    h, w = rgb.shape[:2]
    tile = tiling.tile_size_for(h, w, cfg)
    if tile:
        masks = tiling.generate_tiled(predictor.get(), rgb, cfg, tile, on_batch=on_batch)
    else:
        masks = automask.generate(predictor.get(), rgb, cfg, on_batch=on_batch)
    masks = postprocess.postprocess(masks, cfg)
    return ImageResult(image=item.rel, source=item.path, width=w, height=h, masks=masks,
                       rgb=rgb if keep_rgb else None)


def run_from_boxes(
    inputs: list[str],
    cfg: FromBoxesConfig,
    model: ModelOptions,
    poly: PolygonOptions,
    out: OutputOptions,
    inp: InputOptions,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> Summary:
    """Masks for detector boxes: YOLO label files under ``inputs``, or ``cfg.coco_dets``."""
    classes = cfg.class_set()
    job = start_job("from-boxes", cfg, model, poly, out, inp, [], stdout,
                    unit="label files" if not cfg.coco_dets else "images")
    predictor, runner, keep_rgb = job.predictor, job.runner, job.keep_rgb

    # Boxes of one image -> masks, quality fields, filters
    def segment(item: InputItem, image_path: Path, image_rel: str, boxes: PixelBoxes,
                cls: np.ndarray, conf: np.ndarray, rgb: np.ndarray) -> ImageResult:
        for message in boxes.warnings:
            runner.report(f"Warning: {message}", "yellow")
        prompts = BoxPrompts(boxes.xyxy, cls, conf)[boxes.keep]
        prompts = prompts[_wanted(prompts, cfg.min_conf, classes)]
        h, w = rgb.shape[:2]
        masks, extras = MaskSet.empty((h, w)), []
        if len(prompts):
            predictor_ = predictor.get()
            predictor_.set_image(rgb)
            masks, extras = segment_boxes(predictor_, prompts, (h, w), cfg.multimask,
                                          cfg.min_region_area, cfg.boxes_per_batch)
            for i in np.flatnonzero(masks.areas == 0):
                runner.report(f"Warning: {item.path}: box {extras[i]['prompt_box']} (class "
                              f"{extras[i]['class']}) gave an empty mask; no record", "yellow")
            good = np.array([e["box_iou"] >= cfg.min_box_iou for e in extras], dtype=bool)
            good &= masks.areas > 0
            masks, extras = masks[good], [e for e, g in zip(extras, good) if g]
        return ImageResult(image=image_rel, source=image_path, width=w, height=h, masks=masks,
                           extras=extras, rgb=rgb if keep_rgb else None)

    if cfg.coco_dets:
        # COCO detection results: one work item per image
        try:  # an unreadable detections file or image map stops the run before any work
            dets = parse_coco_dets(Path(cfg.coco_dets))
            found, problems = resolve_coco_images(dets.keys(), Path(cfg.images), cfg.image_map)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        by_rel = {item.rel: image_id for image_id, item in found.items()}

        def process(item: InputItem, on_batch) -> ImageResult:
            image_dets = dets[by_rel[item.rel]]
            rgb = read_image(item.path, max_pixels=inp.max_pixels or None)
            h, w = rgb.shape[:2]
            boxes = coco_dets_to_xyxy(image_dets, w, h, source=cfg.coco_dets)
            return segment(item, item.path, item.rel, boxes,
                           np.array([d.category_id for d in image_dets]),
                           np.array([np.nan if d.score is None else d.score for d in image_dets]),
                           rgb)

        items = sorted(found.values(), key=lambda it: it.rel)
        return runner.run(items, process, pre_failed=problems)

    # YOLO label files: one work item per label file
    items, problems = collect_label_files(inputs, glob=inp.glob, stdin=stdin or sys.stdin)
    if not items and not problems:
        raise UsageError(f"no label files (.txt) found in {', '.join(inputs)}")
    images_dir = Path(cfg.images) if cfg.images else None

    def process(item: InputItem, on_batch) -> ImageResult:
        labels = parse_yolo_labels(item.path)
        image_path = find_image_for_label(item.path, images_dir, item.root)
        if image_path is None:
            where = f"under {images_dir}" if images_dir else "by the /labels/ -> /images/ rule " \
                "or beside it"
            raise InputError(f"{item.path}: no image found for this label file ({where}; "
                             "use --images DIR)")
        rgb = read_image(image_path, max_pixels=inp.max_pixels or None)
        h, w = rgb.shape[:2]
        boxes = boxes_to_pixels(labels, w, h, source=item.path)
        image_rel = str(PurePosixPath(item.rel).with_suffix(image_path.suffix))
        return segment(item, image_path, image_rel, boxes,
                       np.array([b.cls for b in labels]),
                       np.array([np.nan if b.conf is None else b.conf for b in labels]), rgb)

    return runner.run(items, process, pre_failed=problems)


def _wanted(prompts: BoxPrompts, min_conf: float, classes: frozenset[int] | None) -> np.ndarray:
    """Boxes passing --min-conf (unknown confidence passes) and --classes."""
    keep = ~(prompts.conf < min_conf)  # NaN compares False: kept
    if classes is not None:
        keep &= np.isin(prompts.cls, list(classes))
    return keep
