"""The library API (samcli.api): its outputs equal the command line's for the same image and
options (records byte for byte, and each converter equal to the file the CLI writes), typed
proposals agree with their records, and bad calls raise samcli's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from samcli import Segmenter
from samcli.errors import CheckpointError, ConfigError, InputError, UsageError
from tests.commands.conftest import FAST, invoke, jsonl, write_image

FAST_OPTIONS = {"points_per_side": 2, "pred_iou_thresh": 0, "stability_score_thresh": 0}


@pytest.fixture(scope="module")
def seg(mobile_ckpt):
    return Segmenter(model="mobile_sam", checkpoint=mobile_ckpt, device="cpu")


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """in/a.png (tests only read it)."""
    return write_image(tmp_path_factory.mktemp("api") / "in" / "a.png", h=48, w=64, seed=2)


@pytest.fixture(scope="module")
def props(seg, image):
    """The image's proposals, named as a CLI run over its folder names them (``a.png``)."""
    return seg.automask(image, name="a.png", **FAST_OPTIONS)


def _boxes_dataset(tmp_path: Path) -> tuple[Path, Path, list[list[float]]]:
    """images/a.png and labels/a.txt with two boxes (class 3 conf 0.9; class 1 no conf)."""
    img = write_image(tmp_path / "data" / "images" / "a.png", h=48, w=64, seed=1)
    label = tmp_path / "data" / "labels" / "a.txt"
    label.parent.mkdir(parents=True)
    label.write_text("3 0.5 0.5 0.5 0.5 0.9\n1 0.25 0.3 0.3 0.4\n")
    xyxy = [[16.0, 12.0, 48.0, 36.0], [6.4, 4.8, 25.6, 24.0]]
    return img, label, xyxy


def test_automask_records_equal_the_cli_stdout(seg, image, mobile_ckpt):
    props = seg.automask(image, **FAST_OPTIONS)
    cli = invoke("automask", image, "--checkpoint", mobile_ckpt, "--model", "mobile_sam",
                 "--device", "cpu", *FAST)
    assert cli.exit_code == 0, cli.stderr
    assert len(props) > 0
    assert cli.stdout == props.to_jsonl()
    assert jsonl(cli.stdout) == props.records


@pytest.mark.parametrize("fmt, converter", [
    ("geojson", lambda p: json.dumps(p.to_geojson(), sort_keys=True)),
    ("yolo", lambda p: p.to_yolo()),
    ("coco", lambda p: json.dumps(p.to_coco(), sort_keys=True)),
])
def test_converters_equal_the_cli_files(props, image, mobile_ckpt, tmp_path, fmt, converter):
    out = tmp_path / "out"
    cli = invoke("automask", image.parent, "--checkpoint", mobile_ckpt, "--model", "mobile_sam",
                 "--device", "cpu", *FAST, "-o", out, "--format", fmt)
    assert cli.exit_code == 0, cli.stderr
    file = {"geojson": out / "a.png.geojson", "yolo": out / "a.txt",
            "coco": out / "annotations.json"}[fmt]
    text = file.read_text()
    expected = text if fmt == "yolo" else json.dumps(json.loads(text), sort_keys=True)
    assert converter(props) == expected
    if fmt == "coco":
        results = json.loads((out / "results.json").read_text())
        assert props.to_coco_results() == results


def test_from_boxes_equals_the_cli(seg, tmp_path, mobile_ckpt):
    img, label, xyxy = _boxes_dataset(tmp_path)
    cli = invoke("from-boxes", label, "--checkpoint", mobile_ckpt, "--model", "mobile_sam",
                 "--device", "cpu", "--multimask", "-q")
    assert cli.exit_code == 0, cli.stderr
    cli_records = jsonl(cli.stdout)
    props = seg.from_boxes(img, xyxy, classes=[3, 1], confidences=[0.9, None],
                           multimask=True, name=cli_records[0]["image"])
    assert len(props) == 2
    assert cli.stdout == props.to_jsonl()
    assert [p.extras["class"] for p in props] == [3, 1]
    assert props[0].extras["box_confidence"] == 0.9


def test_proposals_are_typed_views_of_their_records(props):
    for p, rec in zip(props, props.records):
        mask = p.mask()
        assert mask.dtype == bool and mask.shape == (48, 64)
        assert int(mask.sum()) == p.area == rec["area"]
        ys, xs = np.nonzero(mask)
        assert p.bbox == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        rle = {"size": p.rle["size"], "counts": p.rle["counts"].encode()}
        assert int(mask_utils.area(rle)) == p.area
        assert (p.id, p.predicted_iou, p.polygon) == (rec["id"], rec["predicted_iou"],
                                                     rec["segmentation"])


def test_arrays_give_the_same_proposals_as_their_files(seg, image, props):
    rgb = np.asarray(Image.open(image).convert("RGB"))
    from_array = seg.automask(rgb, name="a.png", **FAST_OPTIONS)
    assert from_array.records == props.records  # props: from the file
    grey = seg.automask(rgb[:, :, 0], **FAST_OPTIONS)
    assert grey.image == "image" and (grey.width, grey.height) == (64, 48)


def test_without_polygons_records_have_no_segmentation(seg, image):
    props = seg.automask(image, polygons=False, **FAST_OPTIONS)
    assert props.records and all("segmentation" not in r for r in props.records)
    assert props.to_coco()["annotations"]  # COCO uses the RLE: no polygon needed
    with pytest.raises(ConfigError, match="polygons=True"):
        props.to_yolo()


@pytest.mark.parametrize("call, error, match", [
    ("unknown option", ConfigError, "unknown option"),
    ("bad preset", UsageError, "--preset"),
    ("no points", ConfigError, "--points-per-side"),
    ("float array", InputError, "uint8"),
    ("missing file", InputError, "nope.png"),
    ("boxes shape", ConfigError, r"\(N, 4\)"),
    ("classes count", ConfigError, "one per box"),
    ("bad simplify", ConfigError, "--simplify"),
])
def test_bad_calls_raise_samcli_errors(seg, image, tmp_path, call, error, match):
    rgb = np.zeros((8, 8, 3), np.uint8)
    calls = {
        "unknown option": lambda: seg.automask(image, points_per_sid=4),
        "bad preset": lambda: seg.automask(image, preset="fast"),
        "no points": lambda: seg.automask(image, points_per_side=0),
        "float array": lambda: seg.automask(rgb.astype(np.float32)),
        "missing file": lambda: seg.automask(tmp_path / "nope.png"),
        "boxes shape": lambda: seg.from_boxes(rgb, [1, 2, 3]),
        "classes count": lambda: seg.from_boxes(rgb, [[0, 0, 4, 4]], classes=[1, 2]),
        "bad simplify": lambda: seg.automask(image, simplify=-1),
    }
    with pytest.raises(error, match=match):
        calls[call]()


def test_unlikely_values_warn_as_the_command_does(seg, image):
    with pytest.warns(UserWarning, match="--pred-iou-thresh 1.5 is 1 or more"):
        props = seg.automask(image, points_per_side=2, pred_iou_thresh=1.5)
    assert len(props) == 0


def test_model_errors_come_before_any_image(tmp_path):
    with pytest.raises(UsageError):
        Segmenter(model="vit_z")
    with pytest.raises(CheckpointError, match="no such file"):
        Segmenter(checkpoint=tmp_path / "missing.pt")
