"""The golden runs: fixed inputs, fixed models and a table of command lines whose outputs were
recorded from the code before the 2026-12 restructuring (commit 6fad898) and must not change;
the SAM 2.1 cases (``sam2-*``, a sam2.1_hiera_tiny file in the official layout) were added
at output revision 2.

Everything here is deterministic and independent of how the model package builds its modules:
the checkpoints' tensors are drawn per key from a generator seeded by the key's name
(:func:`_seeded`), so reordering module construction cannot change the weights.

:func:`run_case` runs one command line in this process (Typer's test runner) and returns its
outputs normalised for comparison (:func:`normalise`): records and JSON documents as parsed
JSON, YOLO rows as numbers, PNG chips and JPEG previews as summaries of their pixels, the
manifest reduced to what it promises (input, image, status, error, proposals, outputs relative
to the run folder). Ray runs are held to the plain run's outputs by tests/executors instead.

Re-record (only when an output change is intended, saying why in the commit):
``python -m tests.golden.record``; it refuses to change a recording until
``samcli.pipeline.OUTPUT_REVISION`` has been raised.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EXPECTED = Path(__file__).parent / "expected"
#: samcli.pipeline.OUTPUT_REVISION when the recordings were made (see tests/test_golden.py)
REVISION_FILE = EXPECTED / "output_revision.txt"


def recorded_revision() -> int | None:
    """The output revision the recordings were made at (None: not recorded)."""
    try:
        return int(REVISION_FILE.read_text().strip())
    except (OSError, ValueError):
        return None

# Few prompts and no score filters: every run is quick and keeps many proposals.
FAST = ["--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
        "-q"]
BOXES = ["--multimask", "-q"]


@dataclass(frozen=True)
class Case:
    """One command line. ``args`` may use {ckpt}, {in} (the input root) and {out} (a fresh
    output folder), {crops}, {preview}."""

    name: str
    args: tuple[str, ...]


def _c(name: str, *args: str) -> Case:
    return Case(name, tuple(args))


CASES: tuple[Case, ...] = (
    _c("stdout", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST),
    _c("jsonl-files", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST, "-o", "{out}"),
    _c("coco", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST, "-o", "{out}",
       "--format", "coco"),
    _c("yolo", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST, "-o", "{out}",
       "--format", "yolo"),
    _c("geojson", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST, "-o", "{out}",
       "--format", "geojson"),
    _c("crops-preview-exact", "automask", "{in}/imgs", "--checkpoint", "{ckpt}", *FAST,
       "--crops", "{crops}", "--preview", "{preview}", "--simplify", "0"),
    _c("postprocess", "automask", "{in}/imgs/a.png", "--checkpoint", "{ckpt}", *FAST,
       "--min-area", "12", "--merge-iou", "0.5", "--containment", "drop",
       "--max-proposals", "6", "--max-vertices", "8"),
    # merging never grows a mask past --max-area (revision 6: a 330-pixel union was made)
    _c("merge-max-area", "automask", "{in}/imgs/a.png", "--checkpoint", "{ckpt}", *FAST,
       "--box-nms-thresh", "1", "--merge-iou", "0.1", "--max-area", "200"),
    _c("border-max-area", "automask", "{in}/imgs/sub ü", "--checkpoint", "{ckpt}", *FAST,
       "--drop-border", "--max-area", "40%", "--simplify", "1"),
    _c("crop-layers", "automask", "{in}/imgs/a.png", "--checkpoint", "{ckpt}", *FAST,
       "--crop-n-layers", "1", "--min-region-area", "10"),
    _c("tiled", "automask", "{in}/strip", "--checkpoint", "{ckpt}", *FAST,
       "--tile", "64", "--tile-overlap", "16", "-o", "{out}"),
    _c("boxes-stdout", "from-boxes", "{in}/ds/labels", "--checkpoint", "{ckpt}", *BOXES),
    _c("boxes-single", "from-boxes", "{in}/ds/labels", "--checkpoint", "{ckpt}", "-q",
       "--min-box-iou", "0.1"),
    _c("boxes-yolo", "from-boxes", "{in}/ds/labels", "--checkpoint", "{ckpt}", *BOXES,
       "-o", "{out}", "--format", "yolo"),
    _c("boxes-coco", "from-boxes", "{in}/ds/labels", "--checkpoint", "{ckpt}", *BOXES,
       "-o", "{out}", "--format", "coco"),
    _c("boxes-cocodets", "from-boxes", "--coco-dets", "{in}/dets.json", "--images",
       "{in}/ds/images", "--image-map", "{in}/gt.json", "--checkpoint", "{ckpt}", *BOXES,
       "-o", "{out}", "--format", "coco"),
    _c("sam2-coco", "automask", "{in}/imgs", "--checkpoint", "{sam2}", *FAST, "-o", "{out}",
       "--format", "coco", "--use-m2m"),
    _c("sam2-single-mask", "automask", "{in}/imgs/a.png", "--checkpoint", "{sam2}", *FAST,
       "--no-multimask-output"),
)


# ------------------------------------------------------------------------------- model


def _seeded(model) -> dict:
    """Seeded weights for ``model``'s state dict, each tensor drawn from its own generator
    (seeded by the CRC-32 of its key), scaled by fan-in."""
    import torch

    out = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            out[key] = value.detach().clone()
            continue
        gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        shape = tuple(value.shape)
        draw = torch.randn(shape, generator=gen)
        if key.endswith("running_var"):
            t = 0.5 + torch.rand(shape, generator=gen)
        elif "positional_encoding_gaussian_matrix" in key:
            t = draw
        elif value.ndim <= 1:
            t = (1.0 + 0.1 * draw) if key.endswith("weight") else 0.02 * draw
        else:
            t = draw / np.sqrt(max(1, value[0].numel()))
        out[key] = t.to(value.dtype)
    return out


def golden_state_dict(model) -> dict:
    """:func:`_seeded` weights, then MobileSAM's decoder made confident as in
    ``tests.commands.conftest.confident_mobile_sam`` (large, stable logits, predicted IoU
    near 0.9)."""
    out = _seeded(model)
    for i in range(4):
        out[f"mask_decoder.output_hypernetworks_mlps.{i}.layers.2.weight"] *= 300
    out["mask_decoder.iou_prediction_head.layers.2.weight"] *= 5
    out["mask_decoder.iou_prediction_head.layers.2.bias"].fill_(0.9)
    return out


def golden_sam2_state_dict() -> dict:
    """sam2.1_hiera_tiny (the official 1024-input network, image path): :func:`_seeded`
    weights, then the everything-mode wiring of :mod:`tests.automask_models_sam2` (confident,
    nested masks around each point prompt)."""
    from samcli.model import build_model
    from tests.automask_models_sam2 import automask_state_dict

    model = build_model("sam2.1_hiera_tiny")
    model.load_state_dict(_seeded(model), strict=True)
    return automask_state_dict(model, seed=0)


#: The SAM 2.1 checkpoint, written beside the MobileSAM one (``{sam2}`` in a case's args)
SAM2_FILE = "golden_sam2.1_hiera_tiny.pt"


def write_checkpoint(path: Path) -> Path:
    """The MobileSAM checkpoint at ``path`` (a plain state dict) and the SAM 2.1 one beside
    it as the official files are laid out (``{"model": state dict}``)."""
    import torch

    from samcli.model import build_model

    model = build_model("mobile_sam")
    torch.save(golden_state_dict(model), path)
    torch.save({"model": golden_sam2_state_dict()}, path.with_name(SAM2_FILE))
    return path


# ------------------------------------------------------------------------------- inputs


def _image(path: Path, h: int, w: int, seed: int, n: int = 4) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 128, np.uint8)
    img += rng.integers(0, 8, (h, w, 3), dtype=np.uint8)
    for _ in range(n):
        bh, bw = rng.integers(6, max(7, h // 3)), rng.integers(6, max(7, w // 3))
        y, x = rng.integers(0, h - bh), rng.integers(0, w - bw)
        img[y:y + bh, x:x + bw] = rng.integers(0, 255, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def write_inputs(root: Path) -> Path:
    """The input tree: two images in nested folders (one with a name that needs care), a
    wide image for tiling, a YOLO dataset (labels with confidences, a comment, a track id)
    and COCO detections for its images."""
    _image(root / "imgs" / "a.png", 48, 64, 1)
    _image(root / "imgs" / "sub ü" / "a.png", 64, 48, 2)
    _image(root / "strip" / "wide.png", 100, 160, 4, n=8)
    for split, seed in (("train", 5), ("val", 6)):
        _image(root / "ds" / "images" / split / f"{split}1.png", 48, 64, seed)
        labels = root / "ds" / "labels" / split
        labels.mkdir(parents=True, exist_ok=True)
        (labels / f"{split}1.txt").write_text(
            "0 0.3 0.4 0.3 0.4 0.9\n# a comment\n3 0.7 0.6 0.4 0.5 0.25 7\n"
            "1 0.5 0.5 0.9 0.9\n")
    dets = [
        {"image_id": 139, "category_id": 2, "bbox": [5, 6, 20, 18], "score": 0.8},
        {"image_id": 139, "category_id": 1, "bbox": [30, 10, 25, 30], "score": 0.6},
        {"image_id": 285, "category_id": 2, "bbox": [2, 2, 40, 40], "score": 0.95},
    ]
    (root / "dets.json").write_text(json.dumps(dets))
    gt = {"images": [{"id": 139, "file_name": "train/train1.png", "width": 64, "height": 48},
                     {"id": 285, "file_name": "val/val1.png", "width": 64, "height": 48}],
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (root / "gt.json").write_text(json.dumps(gt))
    return root


# ------------------------------------------------------------------------------- running


def run_case(case: Case, inputs: Path, ckpt: Path, work: Path) -> dict[str, Any]:
    """Run ``case`` in this process; its outputs normalised (see :func:`normalise`)."""
    from tests.commands.conftest import invoke

    places = {"{ckpt}": str(ckpt), "{sam2}": str(ckpt.with_name(SAM2_FILE)),
              "{in}": str(inputs), "{out}": str(work / "out"),
              "{crops}": str(work / "crops"), "{preview}": str(work / "preview")}
    args = []
    for a in case.args:
        for k, v in places.items():
            a = a.replace(k, v)
        args.append(a)
    result = invoke(*args)
    got = normalise(result.exit_code, result.stdout, work)
    # A lone file's record names it as given: make that independent of where the inputs are
    return json.loads(json.dumps(got, ensure_ascii=False).replace(str(inputs), "{in}"))


def normalise(exit_code: int, stdout: str, work: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        rel = path.relative_to(work).as_posix()
        if "/.samcli/" in f"/{rel}":
            continue  # internal state (COCO parts): not an output
        files[rel] = _file(path, work)
    return {"exit_code": exit_code,
            "stdout": [json.loads(line) for line in stdout.splitlines()],
            "files": files}


def _file(path: Path, work: Path) -> Any:
    name = path.name
    if name == "manifest.jsonl":
        keep = ("input", "image", "status", "error", "proposals")
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            row = {k: e.get(k) for k in keep}
            row["outputs"] = sorted(Path(p).relative_to(work).as_posix()
                                    for p in e.get("outputs") or [])
            entries.append(row)
        return sorted(entries, key=lambda e: e["input"])
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if name.endswith((".json", ".geojson")):
        return json.loads(path.read_text(encoding="utf-8"))
    if name.endswith(".txt"):
        return [[float(v) for v in row.split()] for row in path.read_text().splitlines()]
    if name.endswith(".yaml"):  # YOLO's data.yaml: its lines (paths made relative by run_case)
        return path.read_text(encoding="utf-8").splitlines()
    if name.endswith((".png", ".jpg")):
        from PIL import Image

        a = np.asarray(Image.open(path)).astype(np.float64)
        summary = {"shape": list(a.shape), "mean": [round(float(v), 3) for v in
                                                    a.reshape(-1, a.shape[-1]).mean(0)]}
        if name.endswith(".png"):  # lossless: the mask (alpha) pixel count is exact
            summary["alpha_pixels"] = int(np.count_nonzero(a[..., 3]))
        return summary
    return path.read_bytes().hex()
