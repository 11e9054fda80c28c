"""``samcli from-boxes``: options -> one :class:`~samcli.request.RunRequest` -> :func:`samcli.pipeline.run`."""

from __future__ import annotations

import inspect
from typing import List, Optional

import typer

from samcli.commands._common import guarded
from samcli.commands.options import build_command, make
from samcli.config import (FromBoxesConfig, InputOptions, ModelOptions, OutputOptions,
                           PolygonOptions)
from samcli.errors import UsageError
from samcli.request import RunRequest

#: The line ``samcli --help`` lists (one line: HELP's first paragraph has its own breaks)
SHORT_HELP = ("Detector boxes (YOLO label files or COCO detections) -> SAM box prompts -> masks "
              "and polygons that keep the class and confidence.")
HELP = """Detector boxes -> SAM box prompts -> masks and polygons that keep the class and
confidence. Reads YOLO label files (rows: class cx cy w h, optionally conf and track id) or COCO
detection results.

Example: samcli from-boxes runs/detect/labels --images data/images -o seg --format yolo
"""


def _from_boxes(**kw) -> None:
    labels = kw.pop("labels") or []
    cfg = make(kw, FromBoxesConfig)
    if not labels and not cfg.coco_dets:
        raise UsageError("give YOLO label files or folders (LABELS...), or --coco-dets FILE")
    if labels and cfg.coco_dets:  # two sources of boxes: one would be ignored
        raise UsageError("give YOLO label files (LABELS...) or --coco-dets FILE, not both")
    request = RunRequest(
        "from-boxes", tuple(labels), cfg, model=make(kw, ModelOptions),
        polygon=make(kw, PolygonOptions), output=make(kw, OutputOptions),
        input=make(kw, InputOptions))

    from samcli.pipeline import run

    raise typer.Exit(run(request).exit_code)


_LEADING = [
    inspect.Parameter(
        "labels", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[List[str]],
        default=typer.Argument(None, help="YOLO label files (.txt) or folders of them; '-' reads "
                               "paths from stdin. Not needed with --coco-dets.",
                               show_default=False, metavar="LABELS..."),
    ),
]


def register(app: typer.Typer) -> None:
    fn = build_command(
        guarded(_from_boxes), _LEADING,
        [(FromBoxesConfig, False), (PolygonOptions, False), (OutputOptions, False),
         (InputOptions, False), (ModelOptions, False)],
    )
    app.command("from-boxes", help=HELP, short_help=SHORT_HELP)(fn)
