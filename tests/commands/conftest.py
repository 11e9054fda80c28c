"""Fixtures for end-to-end command tests: a small random-weight checkpoint and image trees."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from samcli.cli import get_app


def confident_mobile_sam(seed: int = 0) -> torch.nn.Module:
    """MobileSAM with random weights, its decoder scaled so masks have large logits (stable)
    and predicted IoU around 0.9: enough proposals survive the default filters to test I/O."""
    from samcli.model.build import build_model

    torch.manual_seed(seed)
    model = build_model("mobile_sam")
    dec = model.mask_decoder
    with torch.no_grad():
        for mlp in dec.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(300)
        dec.iou_prediction_head.layers[-1].weight.mul_(5)
        dec.iou_prediction_head.layers[-1].bias.fill_(0.9)
    return model


def write_image(path: Path, h: int = 48, w: int = 64, seed: int = 0) -> Path:
    """A small RGB image with a few coloured rectangles on a grey background."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 128, np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
        img[y:y + 10, x:x + 12] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


FAST = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
        "-q"]


REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Reference:
    """A command line over ``tree`` and the -o folder of its uninterrupted run (``full``):
    the outputs an interrupted, killed or failed run of it must finish to, or keep a part of."""

    tree: Path
    args: tuple
    full: Path


@pytest.fixture(scope="session")
def coco_reference(tmp_path_factory, mobile_ckpt) -> Reference:
    """Three images (``0.png`` ...) and one uninterrupted ``--format coco`` run of them, made
    once for every test that stops such a run at a known point (after the second image, in
    its third file write) and checks what is kept or how a rerun ends. Tests read ``full``
    and never write there; their own runs go to their own folders."""
    root = tmp_path_factory.mktemp("coco_reference")
    for i in range(3):
        write_image(root / "in" / f"{i}.png", seed=i)
    args = ("automask", root / "in", "--checkpoint", mobile_ckpt, *FAST, "--format", "coco")
    result = invoke(*args, "-o", root / "full")
    assert result.exit_code == 0, result.stderr
    return Reference(root / "in", args, root / "full")


def run_interrupted(point: str, n: int, signal_name: str, *args, **kwargs):
    """The CLI in a child process that signals itself at a known point (see
    ``tests/interrupt_driver.py``); returns the CompletedProcess (text, stdout/stderr
    captured unless given)."""
    import os
    import signal
    import subprocess
    import sys

    kwargs.setdefault("capture_output", True)
    # A shell without job control starts background jobs with SIGINT ignored, and the ignore
    # is inherited (Python then never raises KeyboardInterrupt): give the child the default.
    return subprocess.run(
        [sys.executable, "-m", "tests.interrupt_driver", point, str(n), signal_name, "--",
         *map(str, args)],
        cwd=REPO, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def invoke(*args, input: str | None = None):
    return CliRunner().invoke(get_app(), [str(a) for a in args], input=input)


def jsonl(text: str) -> list[dict]:
    """Every stdout line must be one JSON object."""
    return [json.loads(line) for line in text.splitlines()]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]
