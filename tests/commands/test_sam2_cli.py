"""SAM 2.1 end to end: ``samcli automask`` and ``samcli from-boxes`` with
``--model sam2.1_hiera_tiny --checkpoint FILE``.

FILE is laid out as Meta's official ``sam2.1_hiera_tiny.pt``: ``{"model": state_dict}`` with
the reference's full key set (the video modules included). For automask the image path has
the everything-mode test weights of :mod:`tests.automask_models_sam2` (so the default filters
keep masks); that wiring answers points, not boxes, so from-boxes gets the session's seeded
random pair (``sam2_tiny_pair``) instead. The commands build the official 1024-input network
and load the file strictly, less the listed video-only keys; a damaged file is refused
before any work.

What works for SAM 1 works with this model: every writer (each file holds the plain run's
proposals), the manifest's identity (a rerun skips what is done with the same weights and
resolved options, SAM 2's defaults included, and redoes it for other weights or options)
and Ray (an actor gives the plain run's records, byte for byte).

Cost: the 1024 encoder (seconds an image, on one intra-op thread: on a shared 2-core machine
two threads mostly wait for each other). So the model runs once for the plain run, and the
writer runs write its masks (``AutomaskWork.segment`` memoised by options, model and image:
``segment_once``); the manifest cases need no masks at all (``segment`` answers none, and
counts its calls); the Ray actor runs the model on its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samcli.io.records import RECORD_KEYS
from samcli.jobs import AutomaskWork
from samcli.maskset import MaskSet
from tests.commands.conftest import error_lines, invoke

MODEL = ["--model", "sam2.1_hiera_tiny"]
FEW = ["--points-per-side", "4"]

#: The commands run the model on one thread (``$SAMCLI_THREADS``; see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def official_state(sam2_automask_pair) -> dict:
    """The test weights under the reference's full key set (an official file's)."""
    return {k: v.detach().clone() for k, v in sam2_automask_pair[1].state_dict().items()}


def _save_official(state: dict, folder: Path) -> Path:
    path = folder / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(official_state, tmp_path_factory) -> Path:
    return _save_official(official_state, tmp_path_factory.mktemp("sam2"))


@pytest.fixture(scope="module")
def random_ckpt(sam2_tiny_pair, tmp_path_factory) -> Path:
    """The seeded random weights (noise on every tensor) in an official file."""
    return _save_official(sam2_tiny_pair[1].state_dict(), tmp_path_factory.mktemp("sam2r"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """skimage's cat at half size, uint8 (150, 225, 3), as a PNG in its own folder."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    image = Image.fromarray(skimage.data.chelsea()).resize((225, 150), Image.BILINEAR)
    image.save(root / "cat.png")
    return root / "cat.png"


def _records(stdout: str) -> list[dict]:
    """stdout, line by line: every line one JSON object (nothing else is written there)."""
    out = []
    for n, line in enumerate(stdout.splitlines(), start=1):
        assert line.startswith("{") and line.endswith("}"), f"stdout line {n}: {line[:80]!r}"
        out.append(json.loads(line))
    return out


@pytest.fixture(scope="module")
def segment_once():
    """``AutomaskWork.segment`` memoised for the module by (options, model, image content):
    a command on an image seen with the same options and model writes the masks computed
    then, without running the model again."""
    real, done = AutomaskWork.segment, {}

    def segment(self, model, rgb, on_batch=None):
        key = (self.cfg, model.opts, rgb.shape, rgb.tobytes())
        if key not in done:
            done[key] = real(self, model, rgb, on_batch)
        return done[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AutomaskWork, "segment", segment)
        yield


@pytest.fixture(scope="module")
def plain(segment_once, ckpt, photo):
    """The plain run on the photo's folder (4 x 4 points, SAM 2's defaults): JSON Lines on
    stdout."""
    result = invoke("automask", photo.parent, *MODEL, "--checkpoint", ckpt, *FEW, "-q")
    assert result.exit_code == 0, result.stderr
    return result


def test_automask_with_sam2_defaults(plain):
    records = _records(plain.stdout)
    assert len(records) >= 3, "the test weights keep masks at SAM 2's default thresholds"
    for i, r in enumerate(records):
        assert list(r)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
        assert (r["image"], r["id"], r["width"], r["height"]) == ("cat.png", i, 225, 150)
        assert r["segmentation"]["type"] in ("Polygon", "MultiPolygon")
        assert r["stability_score"] >= 0.95
    # SAM 2's default --pred-iou-thresh is 0.8: masks SAM 1's 0.88 would drop are kept
    scores = np.array([r["predicted_iou"] for r in records])
    assert scores.min() > 0.8 and (scores <= 0.88).any(), scores
    assert plain.stderr == ""


# ------------------------------------------------------------------------------ writers


def _jsonl(out: Path, records: list[dict], plain_stdout: str) -> None:
    assert (out / "cat.png.jsonl").read_text(encoding="utf-8") == plain_stdout
    chips = sorted(int(p.stem) for p in (out / "chips" / "cat.png").glob("*.png"))
    assert chips == [r["id"] for r in records]
    for r in records[:3]:
        alpha = np.array(Image.open(out / "chips" / "cat.png" / f"{r['id']}.png"))[..., 3]
        assert alpha.shape == (r["bbox"][3], r["bbox"][2]) and (alpha > 0).sum() == r["area"]
    assert Image.open(out / "look" / "cat.png.jpg").size == (225, 150)


def _geojson(out: Path, records: list[dict], plain_stdout: str) -> None:
    doc = json.loads((out / "cat.png.geojson").read_text(encoding="utf-8"))
    assert doc["samcli"]["crs"] == "pixel"
    assert [f["geometry"] for f in doc["features"]] == [r["segmentation"] for r in records]
    assert [f["properties"] for f in doc["features"]] == [
        {k: v for k, v in r.items() if k != "segmentation"} for r in records]


def _coco(out: Path, records: list[dict], plain_stdout: str) -> None:
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    gt = COCO(str(out / "annotations.json"))
    (image,) = gt.loadImgs(gt.getImgIds())
    assert (image["file_name"], image["width"], image["height"]) == ("cat.png", 225, 150)
    anns = sorted(gt.loadAnns(gt.getAnnIds()), key=lambda a: a["id"])
    assert len(anns) == len(records)
    for a, r in zip(anns, records):
        assert (a["area"], a["bbox"], a["predicted_iou"]) == (r["area"], r["bbox"],
                                                              r["predicted_iou"])
        assert int(mask_utils.decode(gt.annToRLE(a)).sum()) == r["area"]
        assert a["score"] == pytest.approx((r["predicted_iou"] + r["stability_score"]) / 2,
                                           abs=1e-6)
    assert len(gt.loadRes(str(out / "results.json")).getAnnIds()) == len(records)


def _yolo(out: Path, records: list[dict], plain_stdout: str) -> None:
    rows = (out / "cat.txt").read_text().splitlines()
    assert len(rows) == len(records)
    for row, r in zip(rows, records):
        cls, *values = row.split()
        xy = np.array(values, dtype=float).reshape(-1, 2) * [225, 150]
        x, y, w, h = r["bbox"]
        assert cls == "0" and len(xy) >= 3
        np.testing.assert_allclose(xy.min(0), [x, y], atol=1.0)
        np.testing.assert_allclose(xy.max(0), [x + w, y + h], atol=1.0)


def _labelstudio(out: Path, records: list[dict], plain_stdout: str) -> None:
    (task,) = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert task["data"]["image"].endswith("cat.png")
    (prediction,) = task["predictions"]
    assert prediction["model_version"].endswith("sam2.1_hiera_tiny")
    regions = prediction["result"]
    assert len(regions) == len(records)
    for region, r in zip(regions, records):
        points = np.array(region["value"]["points"]) / 100 * [225, 150]
        x, y, w, h = r["bbox"]
        np.testing.assert_allclose(points.min(0), [x, y], atol=1.0)
        np.testing.assert_allclose(points.max(0), [x + w, y + h], atol=1.0)


#: The YOLO writer warns when the labels are not where ultralytics looks (beside images/).
ULTRALYTICS = "Warning: ultralytics will not find these YOLO labels"


@pytest.mark.parametrize("fmt, extra, check, warnings", [
    ("jsonl", ["--crops", "{out}/chips", "--preview", "{out}/look"], _jsonl, []),
    ("geojson", [], _geojson, []),
    ("coco", [], _coco, []),
    ("yolo", [], _yolo, [ULTRALYTICS]),
    ("labelstudio", [], _labelstudio, []),
], ids=["jsonl, crops and preview", "geojson", "coco", "yolo", "labelstudio"])
def test_writers_hold_the_plain_runs_proposals(plain, ckpt, photo, tmp_path, fmt, extra,
                                                check, warnings):
    out = tmp_path / "out"
    args = [a.format(out=out) for a in extra]
    result = invoke("automask", photo.parent, *MODEL, "--checkpoint", ckpt, *FEW, "-q", "-o",
                    out, "--format", fmt, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(warnings), result.stderr
    assert all(line.startswith(w) for line, w in zip(lines, warnings)), result.stderr
    (entry,) = _manifest(out)
    assert (entry["image"], entry["status"]) == ("cat.png", "done")
    records = _records(plain.stdout)
    assert len(records) >= 3
    check(out, records, plain.stdout)


# ------------------------------------------------------------------------------ manifest


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def done(plain, ckpt, photo, tmp_path_factory) -> Path:
    """An output folder where the plain run's image is done (JSON Lines files)."""
    out = tmp_path_factory.mktemp("done") / "out"
    result = invoke("automask", photo.parent, *MODEL, "--checkpoint", ckpt, *FEW, "-q", "-o",
                    out)
    assert result.exit_code == 0, result.stderr
    assert (out / "cat.png.jsonl").read_text(encoding="utf-8") == plain.stdout
    return out


@pytest.fixture(scope="module")
def ckpt_copy(ckpt, tmp_path_factory) -> Path:
    """The test weights again, in another file."""
    return Path(shutil.copyfile(ckpt, tmp_path_factory.mktemp("copy") / "same.pt"))


@pytest.mark.parametrize("label, args, redone", [
    ("the same command", [], False),
    ("SAM 2's default --pred-iou-thresh, given", ["--pred-iou-thresh", "0.8"], False),
    ("the same weights in another file", ["--checkpoint", "{copy}"], False),
    ("SAM 1's default --pred-iou-thresh", ["--pred-iou-thresh", "0.88"], True),
    ("--use-m2m", ["--use-m2m"], True),
    ("--no-multimask-output", ["--no-multimask-output"], True),
    ("--mask-threshold", ["--mask-threshold", "0.5"], True),
    ("other weights", ["--checkpoint", "{other}"], True),
    ("another precision", ["--dtype", "bfloat16"], True),
])
def test_rerun_skips_only_what_is_done_the_same_way(done, ckpt, ckpt_copy, random_ckpt, photo,
                                                    tmp_path, monkeypatch, label, args, redone):
    """On a copy of ``done``: the image is redone exactly when the weights or a resolved
    option differ. (``segment`` answers no masks here: what matters is whether it runs.)"""
    out = tmp_path / "out"
    shutil.copytree(done, out)
    before = (out / "cat.png.jsonl").read_bytes()
    calls = []

    def segment(self, model, rgb, on_batch=None):
        calls.append(self.cfg)
        return MaskSet.empty(rgb.shape[:2])

    monkeypatch.setattr(AutomaskWork, "segment", segment)
    given = [a.format(copy=ckpt_copy, other=random_ckpt) for a in args]
    checkpoint = [] if "--checkpoint" in given else ["--checkpoint", ckpt]
    result = invoke("automask", photo.parent, *MODEL, *checkpoint, *FEW, "-o", out, *given)
    assert result.exit_code == 0, (label, result.stderr)
    assert result.stdout == "", label
    if redone:
        assert len(calls) == 1 and "1 image done" in result.stderr, (label, result.stderr)
        assert (out / "cat.png.jsonl").read_bytes() == b"", label
    else:
        assert calls == [] and "1 skipped" in result.stderr, (label, result.stderr)
        assert (out / "cat.png.jsonl").read_bytes() == before, label
    assert [e["status"] for e in _manifest(out)] == ["done"] + ["started", "done"] * redone, \
        label


# ------------------------------------------------------------------------------ Ray


def test_ray_run_gives_the_plain_runs_records(plain, ckpt, photo):
    """A new local Ray instance started by the command (``--ray-address local``), one actor
    loading the SAM 2 file: the plain run's stdout, byte for byte (the actor runs the
    driver's thread count)."""
    pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    result = invoke("automask", photo.parent, *MODEL, "--checkpoint", ckpt, *FEW, "-q",
                    "--ray-address", "local", "--ray-actors", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == plain.stdout
    assert error_lines(result.stderr) == [] and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------ from-boxes


def test_from_boxes_with_sam2(random_ckpt, photo, tmp_path):
    labels = tmp_path / "cat.txt"
    labels.write_text("0 0.3 0.4 0.3 0.4 0.9\n2 0.7 0.6 0.4 0.5 0.5\n")
    result = invoke("from-boxes", labels, "--images", photo.parent, *MODEL, "--checkpoint",
                    random_ckpt, "-q")
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert [r["class"] for r in records] == [0, 2]
    assert [r["box_confidence"] for r in records] == [0.9, 0.5]
    for r in records:
        assert r["image"].endswith("cat.png") and r["area"] > 0
        assert 0.0 <= r["box_iou"] <= 1.0
    np.testing.assert_allclose(records[0]["prompt_box"], [33.75, 30.0, 101.25, 90.0])


def test_a_sam2_0_file_named_as_2_1_runs_with_one_warning(sam2_tiny_pair, photo, tmp_path):
    from samcli.model.sam2.keys import KEYS_ONLY_IN_2_1

    old = tmp_path / "sam2_hiera_tiny.pt"
    torch.save({"model": {k: v for k, v in sam2_tiny_pair[1].state_dict().items()
                          if k not in KEYS_ONLY_IN_2_1}}, old)
    labels = tmp_path / "cat.txt"
    labels.write_text("0 0.3 0.4 0.3 0.4 0.9\n")
    result = invoke("from-boxes", labels, "--images", photo.parent, *MODEL, "--checkpoint",
                    old, "-q")
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Warning:")] == [
        f"Warning: checkpoint {old} holds sam2_hiera_tiny's weights, not sam2.1_hiera_tiny's: "
        "the two share one network, so it runs with the weights as given (leave --model out "
        "to have the file name its model)"]
    assert len(_records(result.stdout)) == 1


@pytest.mark.parametrize("label, corrupt, needle", [
    ("an image-path key missing", lambda sd: sd.pop("sam_mask_decoder.iou_token.weight"),
     "iou_token"),
    ("a key reshaped", lambda sd: sd.__setitem__("sam_mask_decoder.iou_token.weight",
                                                 torch.zeros(2, 256)), "iou_token"),
    ("an unknown key", lambda sd: sd.__setitem__("extra.weight", torch.zeros(1)), "extra"),
])
def test_a_damaged_official_file_is_one_error_line(official_state, photo, tmp_path, label,
                                                   corrupt, needle):
    state = dict(official_state)
    corrupt(state)
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    result = invoke("automask", photo, *MODEL, "--checkpoint", path, "-q")
    assert result.exit_code == 1, (label, result.stderr)
    assert result.stdout == "", label
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, (label, result.stderr)
    assert needle in result.stderr, (label, result.stderr)
