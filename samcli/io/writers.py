"""The writers of a run, from the output options: one format under ``-o`` (or JSON Lines on
stdout), then crops and previews. The writers themselves: :mod:`samcli.io.formats` and
:mod:`samcli.io.visuals`; their protocol and paths: :mod:`samcli.io.outputs`."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence, TextIO

from samcli.config import DEFAULT_IMAGE_ROOT_URL, OutputOptions
from samcli.io.formats import (COCO_FILE, RESULTS_FILE, CocoWriter, GeoJsonWriter,
                               JsonlStdoutWriter, JsonlWriter, YoloWriter)
from samcli.io.labelstudio import CONFIG_FILE, TASKS_FILE, LabelStudioWriter
from samcli.io.outputs import STATE_DIR, Writer
from samcli.io.visuals import CropsWriter, PreviewWriter
from samcli.io.yolo_dataset import DATA_YAML

#: The whole-run files each format writes at the top of -o (the others are per image).
WHOLE_RUN_FILES = {"coco": (COCO_FILE, RESULTS_FILE), "yolo": (DATA_YAML,),
                   "labelstudio": (TASKS_FILE, CONFIG_FILE)}


def make_writers(out: OutputOptions, categories: Sequence[dict] | None = None,
                 stdout: TextIO | None = None, score: str = "sam",
                 class_names: Mapping[int, str] | None = None,
                 model_version: str = "samcli") -> list[Writer]:
    """The writers for ``out`` (validated options): ``out.format`` under ``out.output`` (or
    JSON Lines on ``stdout`` without ``-o``), then crops, then preview. ``categories``: COCO's
    category list (default one ``object`` category); ``score``: how COCO scores a proposal
    (:func:`samcli.io.records.proposal_score`); ``class_names``: YOLO's ``{class id: name}``
    for ``data.yaml`` (default ``{0: "object"}``) and from-boxes' Label Studio labels;
    ``model_version``: Label Studio's name for the predictions' model."""
    writers: list[Writer] = []
    if out.output is None:
        writers.append(JsonlStdoutWriter(stdout))
    else:
        root = Path(out.output)
        writers.append({
            "jsonl": lambda: JsonlWriter(root),
            "geojson": lambda: GeoJsonWriter(root, geo=out.geo),
            "yolo": lambda: YoloWriter(root, class_names),
            "coco": lambda: CocoWriter(root, categories, score),
            "labelstudio": lambda: LabelStudioWriter(
                root, class_names, score, out.image_root_url or DEFAULT_IMAGE_ROOT_URL,
                model_version),
        }[out.format]())
    if out.crops:
        writers.append(CropsWriter(Path(out.crops)))
    if out.preview:
        writers.append(PreviewWriter(Path(out.preview)))
    return writers


def other_formats_files(out: OutputOptions) -> list[tuple[Path, str]]:
    """Whole-run files of other formats that an earlier samcli run left in ``-o`` (the
    folder holds samcli's marker): ``(path, format)``. This run does not update them, so
    they describe that run, not this one."""
    if out.output is None or not (Path(out.output) / STATE_DIR).is_dir():
        return []
    return [(Path(out.output) / name, fmt) for fmt, names in WHOLE_RUN_FILES.items()
            if fmt != out.format for name in names if (Path(out.output) / name).is_file()]
