"""``samcli automask``: options -> one :class:`~samcli.request.RunRequest` -> :func:`samcli.pipeline.run`."""

from __future__ import annotations

import inspect
from typing import List

import typer

from samcli.commands._common import guarded
from samcli.commands.options import build_command, make, take
from samcli.config import (DEFAULT_PRESET, GEN, PRESET_HELP, AutomaskConfig,
                           InputOptions, ModelOptions, OutputOptions, PolygonOptions,
                           ScaleOptions, preset_config)
from samcli.request import RunRequest

#: The line ``samcli --help`` lists (one line: HELP's first paragraph has its own breaks)
SHORT_HELP = ("Everything-mode proposals: a grid of point prompts over each image, filtered and "
              "merged, written as polygons (JSON Lines on stdout, or files with -o).")
HELP = """Everything-mode proposals: a grid of point prompts over each image, filtered and
merged, written as polygons. JSON Lines on stdout, or files with -o.

With a SAM 2 model the defaults are those of Meta's SAM2AutomaticMaskGenerator
(--pred-iou-thresh 0.8); a preset value or an explicit option wins.

Example: samcli automask photos/ --preset dense -o out/ --format coco
"""


def _automask(**kw) -> None:
    inputs = kw.pop("inputs")
    preset = kw.pop("preset")
    given = take(kw, AutomaskConfig)
    preset_config(preset, given)  # every option value is checked before the checkpoint is read
    model = make(kw, ModelOptions)
    polygon, output = make(kw, PolygonOptions), make(kw, OutputOptions)
    input_opts, scale = make(kw, InputOptions), make(kw, ScaleOptions)
    # The defaults depend on the model family (SAM 2's generator has its own): the family
    # comes from --model, or from the keys of --checkpoint (read, not loaded)
    from samcli.model.loading import model_family

    family = model_family(model.model, model.checkpoint)
    request = RunRequest(
        "automask", tuple(inputs), preset_config(preset, given, family),
        model=model, polygon=polygon, output=output, input=input_opts, scale=scale)

    from samcli.pipeline import run

    raise typer.Exit(run(request).exit_code)


_LEADING = [
    inspect.Parameter(
        "inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=List[str],
        default=typer.Argument(..., help="Image files or folders (recursed); '-' reads paths, "
                               "one a line, from stdin.", show_default=False, metavar="INPUT..."),
    ),
    inspect.Parameter(
        "preset", inspect.Parameter.KEYWORD_ONLY, annotation=str,
        default=typer.Option(DEFAULT_PRESET, "--preset", help=PRESET_HELP,
                             metavar="NAME", rich_help_panel=GEN),
    ),
]


def register(app: typer.Typer) -> None:
    fn = build_command(
        guarded(_automask), _LEADING,
        [(AutomaskConfig, True), (PolygonOptions, False), (OutputOptions, False),
         (InputOptions, False), (ModelOptions, False), (ScaleOptions, False)],
    )
    app.command("automask", help=HELP, short_help=SHORT_HELP)(fn)
