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


def test_records_and_proposals_are_the_callers_copies(seg, image):
    """``records`` and each Proposal are the caller's to change: the converters keep to the
    proposals as made, and neither copy changes with the other."""
    props = seg.automask(image, name="a.png", **FAST_OPTIONS)
    coco, jsonl_text = props.to_coco(), props.to_jsonl()
    n, area, x = len(props), props[0].area, props[0].bbox[0]
    records = props.records
    records[0]["area"] = -1
    records[0]["bbox"][0] = -1
    records.append({"id": 99})
    props[0].bbox[0] = -2
    props[0].polygon["coordinates"].clear()
    assert props.records is records  # one copy, kept
    assert (len(props), props[0].area, records[0]["bbox"][0]) == (n, area, -1)
    assert props.to_coco() == coco and props.to_jsonl() == jsonl_text
    assert json.loads(jsonl_text.splitlines()[0])["bbox"][0] == x


def test_what_a_converter_returns_is_the_callers_own(seg, image):
    """Changing to_coco()'s or to_geojson()'s document changes no later output (they shared
    the records' lists: a bbox edited there was in every later converter's output)."""
    props = seg.automask(image, name="a.png", **FAST_OPTIONS)
    made = (props.to_jsonl(), props.to_yolo(), props.to_coco(), props.to_geojson(),
            props.to_coco_results())
    coco, geojson = props.to_coco(), props.to_geojson()
    coco["annotations"][0]["bbox"][0] = -99
    coco["annotations"][0]["point_coords"] = None
    geojson["features"][0]["geometry"]["coordinates"].clear()
    geojson["features"][0]["properties"]["bbox"][0] = -99
    props.to_coco_results()[0]["score"] = -99
    assert (props.to_jsonl(), props.to_yolo(), props.to_coco(), props.to_geojson(),
            props.to_coco_results()) == made
    assert props.records[0]["bbox"][0] != -99 and props[0].bbox[0] != -99


@pytest.mark.parametrize("label, given", [
    ("a leading ./", "./in/a.png"),
    ("a doubled slash", "in//a.png"),
    ("a ./ inside", "in/./a.png"),
])
def test_a_path_names_its_records_as_the_command_names_them(seg, image, monkeypatch, label,
                                                            given, mobile_ckpt):
    monkeypatch.chdir(image.parent.parent)
    props = seg.automask(given, **FAST_OPTIONS)
    cli = invoke("automask", given, "--checkpoint", mobile_ckpt, "--model", "mobile_sam",
                 "--device", "cpu", *FAST)
    assert cli.exit_code == 0, cli.stderr
    assert props.image == "in/a.png" and props.to_jsonl() == cli.stdout, label


def test_arrays_give_the_same_proposals_as_their_files(seg, image, props):
    rgb = np.asarray(Image.open(image).convert("RGB"))
    from_array = seg.automask(rgb, name="a.png", **FAST_OPTIONS)
    assert from_array.records == props.records  # props: from the file
    grey = seg.automask(rgb[:, :, 0], **FAST_OPTIONS)
    assert grey.image == "image" and (grey.width, grey.height) == (64, 48)


@pytest.mark.parametrize("label, save", [
    ("a palette PNG: its colours, not its palette indices", lambda im, p: im.convert("P")
     .save(p.with_suffix(".png")) or p.with_suffix(".png")),
    ("an EXIF-rotated JPEG: turned as its file is", lambda im, p: im.save(
        p.with_suffix(".jpg"), exif=_orientation_6(), quality=95) or p.with_suffix(".jpg")),
    ("RGBA: composited onto white as its file is", lambda im, p: im.convert("RGBA")
     .save(p.with_suffix(".png")) or p.with_suffix(".png")),
])
def test_pillow_images_are_read_as_their_files(seg, image, tmp_path, label, save):
    """Image.open(path) gives the proposals of path itself (it was np.asarray'd: palette
    indices taken for grey, EXIF orientation ignored)."""
    path = save(Image.open(image).convert("RGB"), tmp_path / "b")
    with Image.open(path) as pil:
        from_pil = seg.automask(pil, name="b", **FAST_OPTIONS)
    from_file = seg.automask(path, name="b", **FAST_OPTIONS)
    assert (from_pil.width, from_pil.height) == (from_file.width, from_file.height), label
    assert from_pil.records == from_file.records, label


def _orientation_6():
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: width and height swap
    return exif


def test_detector_tensors_are_taken_as_they_come(seg):
    """A torchvision or ultralytics detector's output as it is: boxes with autograd, float
    class ids (ultralytics' boxes.cls), confidence tensors."""
    import torch

    rgb = np.zeros((48, 64, 3), np.uint8)
    boxes = [[4.0, 4.0, 30.0, 30.0], [20.0, 10.0, 60.0, 40.0]]
    plain = seg.from_boxes(rgb, boxes, classes=[12, 1], confidences=[0.9, 0.5])
    tensors = seg.from_boxes(rgb, torch.tensor(boxes, requires_grad=True),
                             classes=torch.tensor([12.0, 1.0]),
                             confidences=torch.tensor([0.9, 0.5], dtype=torch.float64))
    assert tensors.records == plain.records and tensors.warnings == plain.warnings
    assert _prompted(seg.from_boxes(rgb, boxes, classes=[12.0, np.float32(1)])) == [1, 12]
    # a detector under bfloat16 autocast; list(tensor) and list(array): 0-d elements
    autocast = seg.from_boxes(rgb, torch.tensor(boxes, dtype=torch.bfloat16),
                              classes=list(torch.tensor([12.0, 1.0], dtype=torch.bfloat16)),
                              confidences=list(np.array([0.9, 0.5])))
    assert autocast.records == plain.records and autocast.warnings == plain.warnings
    with pytest.raises(ConfigError, match=r"classes\[0\]=2.5: expected an integer"):
        seg.from_boxes(rgb, boxes, classes=[2.5, 1])


def test_without_polygons_records_have_no_segmentation(seg, image):
    props = seg.automask(image, polygons=False, **FAST_OPTIONS)
    assert props.records and all("segmentation" not in r for r in props.records)
    assert props.to_coco()["annotations"]  # COCO uses the RLE: no polygon needed
    with pytest.raises(ConfigError, match="polygons=True"):
        props.to_yolo()
    none = seg.automask(image, polygons=False, **FAST_OPTIONS, min_area="100%")
    assert len(none) == 0  # (with no proposal either: it depends on the call, not the count)
    for converter in (none.to_yolo, none.to_geojson):
        with pytest.raises(ConfigError, match="polygons=True"):
            converter()


def _fifo(folder: Path) -> Path:
    import os

    path = folder / "pipe.png"
    os.mkfifo(path)
    return path


class NoModel:
    """A loader that fails the test if used: argument errors come before any work."""

    def get(self):
        raise AssertionError("the model was used")


@pytest.fixture
def unloaded(mobile_ckpt):
    seg = Segmenter(model="mobile_sam", checkpoint=mobile_ckpt, device="cpu")
    seg.loader = NoModel()
    return seg


RGB = np.zeros((8, 8, 3), np.uint8)
BOX = [[0, 0, 4, 4]]
BAD_CALLS = [
    # label, call(seg, image, tmp_path), error, match
    ("unknown option", lambda s, i, t: s.automask(i, points_per_sid=4), UsageError,
     "unknown option"),
    ("bad preset", lambda s, i, t: s.automask(i, preset="fast"), UsageError, "^preset 'fast'"),
    ("preset not text", lambda s, i, t: s.automask(i, preset=3), UsageError, "preset=3"),
    ("no points", lambda s, i, t: s.automask(i, points_per_side=0), ConfigError,
     "^points_per_side must be"),
    ("points as text", lambda s, i, t: s.automask(i, points_per_side="8"), UsageError,
     "points_per_side='8': expected an integer"),
    ("points fractional", lambda s, i, t: s.automask(i, points_per_side=2.5), UsageError,
     "points_per_side=2.5: expected an integer"),
    ("points as a bool", lambda s, i, t: s.automask(i, points_per_side=True), UsageError,
     "expected an integer"),
    ("batch fractional", lambda s, i, t: s.automask(i, points_per_batch=1.5), UsageError,
     "points_per_batch"),
    ("max proposals fractional", lambda s, i, t: s.automask(i, max_proposals=1.5), UsageError,
     "max_proposals"),
    ("threshold as text", lambda s, i, t: s.automask(i, pred_iou_thresh="0.5"), UsageError,
     "pred_iou_thresh='0.5': expected a number"),
    ("float32 NaN", lambda s, i, t: s.automask(i, box_nms_thresh=np.float32("nan")),
     ConfigError, "^box_nms_thresh nan: expected a finite number"),
    ("float32 inf", lambda s, i, t: s.automask(i, mask_threshold=np.float32("inf")),
     ConfigError, "expected a finite number"),
    ("yes/no as text", lambda s, i, t: s.automask(i, drop_border="false"), UsageError,
     "drop_border='false': expected True or False"),
    ("m2m as text", lambda s, i, t: s.automask(i, use_m2m="no"), UsageError, "use_m2m"),
    ("polygons as text", lambda s, i, t: s.automask(i, polygons="no"), UsageError, "polygons"),
    ("simplify inf", lambda s, i, t: s.automask(i, simplify=np.float32("inf")), ConfigError,
     "^simplify inf"),
    ("bad simplify", lambda s, i, t: s.automask(i, simplify=-1), ConfigError,
     "^simplify must not be negative"),
    ("vertices fractional", lambda s, i, t: s.automask(i, max_vertices=4.5), UsageError,
     "max_vertices"),
    ("name not text", lambda s, i, t: s.automask(i, name=5), UsageError, "name=5"),
    ("no image at all", lambda s, i, t: s.automask(None), InputError,
     r"^image=None: expected a path, a Pillow image or a uint8"),
    # a file's name is not rewritten as if it named an option (--simplify -> simplify)
    ("a file named like a flag", lambda s, i, t: s.automask(t / "--simplify.png"), InputError,
     r"/--simplify\.png: "),
    ("a file with a flag inside", lambda s, i, t: s.automask("a --checkpoint X.png"),
     InputError, "^a --checkpoint X.png: "),
    ("float array", lambda s, i, t: s.automask(RGB.astype(np.float32)), InputError, "uint8"),
    ("missing file", lambda s, i, t: s.automask(t / "nope.png"), InputError, "nope.png"),
    ("empty path", lambda s, i, t: s.automask(""), InputError, "empty"),
    ("NUL in path", lambda s, i, t: s.automask("a\0.png"), InputError, "NUL"),
    ("device file", lambda s, i, t: s.automask("/dev/zero"), InputError,
     "/dev/zero: not a regular file"),
    ("named pipe", lambda s, i, t: s.automask(_fifo(t)), InputError, "not a regular file"),
    ("flat boxes", lambda s, i, t: s.from_boxes(RGB, [1, 2, 3]), ConfigError, r"\(N, 4\)"),
    ("boxes 2x2", lambda s, i, t: s.from_boxes(RGB, [[18, 8], [52, 32]]), ConfigError,
     r"shape \(2, 2\)"),
    ("boxes 1x8", lambda s, i, t: s.from_boxes(RGB, [[1, 1, 20, 20, 30, 10, 60, 40]]),
     ConfigError, r"shape \(1, 8\)"),
    ("ragged boxes", lambda s, i, t: s.from_boxes(RGB, [[1, 2, 3, 4], [1, 2]]), ConfigError,
     "boxes"),
    ("boxes as text", lambda s, i, t: s.from_boxes(RGB, "18 8 52 32"), ConfigError, "boxes"),
    ("box of words", lambda s, i, t: s.from_boxes(RGB, [["a", "b", "c", "d"]]), ConfigError,
     "numbers"),
    ("classes count", lambda s, i, t: s.from_boxes(RGB, BOX, classes=[1, 2]), ConfigError,
     "one per box"),
    ("classes a number", lambda s, i, t: s.from_boxes(RGB, BOX, classes=3), ConfigError,
     "classes"),
    ("negative class", lambda s, i, t: s.from_boxes(RGB, BOX, classes=[-1]), ConfigError,
     r"classes\[0\]=-1: expected an integer from 0 to 2147483647"),
    ("huge class", lambda s, i, t: s.from_boxes(RGB, BOX, classes=[2**40]), ConfigError,
     "from 0 to 2147483647"),
    ("fractional class", lambda s, i, t: s.from_boxes(RGB, BOX, classes=[3.7]), ConfigError,
     "3.7"),
    ("uint64 class", lambda s, i, t: s.from_boxes(RGB, BOX, classes=np.array([2**64 - 1],
                                                                                np.uint64)),
     ConfigError, "from 0 to"),
    ("class None", lambda s, i, t: s.from_boxes(RGB, BOX, classes=[None]), ConfigError,
     "classes"),
    ("confidence a number", lambda s, i, t: s.from_boxes(RGB, BOX, confidences=0.5),
     ConfigError, "confidences"),
    ("confidence inf", lambda s, i, t: s.from_boxes(RGB, BOX, confidences=[float("inf")]),
     ConfigError, r"confidences\[0\]=inf: expected a number from 0 to 1"),
    ("confidence negative", lambda s, i, t: s.from_boxes(RGB, BOX, confidences=[-1.0]),
     ConfigError, "from 0 to 1"),
    ("confidence above 1", lambda s, i, t: s.from_boxes(RGB, BOX, confidences=[5.0]),
     ConfigError, "from 0 to 1"),
    ("confidence text", lambda s, i, t: s.from_boxes(RGB, BOX, confidences=["x"]),
     ConfigError, "confidences"),
    ("only classes empty", lambda s, i, t: s.from_boxes(RGB, BOX, only_classes=[]), UsageError,
     "keep no box"),
    ("only classes a number", lambda s, i, t: s.from_boxes(RGB, BOX, only_classes=3),
     UsageError, "only_classes=3"),
    ("only classes words", lambda s, i, t: s.from_boxes(RGB, BOX, only_classes=["a"]),
     UsageError, "integer class ids"),
    ("only classes bad text", lambda s, i, t: s.from_boxes(RGB, BOX, only_classes="0;3"),
     UsageError, "^only_classes "),
    ("min conf text", lambda s, i, t: s.from_boxes(RGB, BOX, min_conf="0.5"), UsageError,
     "min_conf"),
    ("min box iou float32 NaN", lambda s, i, t: s.from_boxes(RGB, BOX,
                                                             min_box_iou=np.float32("nan")),
     ConfigError, "finite"),
    ("multimask as text", lambda s, i, t: s.from_boxes(RGB, BOX, multimask="no"), UsageError,
     "multimask"),
    ("boxes per batch fractional", lambda s, i, t: s.from_boxes(RGB, BOX, boxes_per_batch=1.5),
     UsageError, "boxes_per_batch"),
    ("bad score", lambda s, i, t: s.from_boxes(RGB, BOX, score="iou"), UsageError, "^score 'iou'"),
    ("a file over max_pixels", lambda s, i, t: _limited(s, 100).automask(i), InputError,
     r"over the limit of 100 \(raise it with max_pixels, 0 for no limit\)$"),
    ("an array over max_pixels", lambda s, i, t: _limited(s, 10).automask(RGB), InputError,
     "more than max_pixels=10$"),
]


def _limited(seg: Segmenter, max_pixels: int) -> Segmenter:
    seg.max_pixels = max_pixels
    return seg


@pytest.mark.parametrize("label, call, error, match", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_calls_raise_samcli_errors_before_any_work(unloaded, image, tmp_path, label, call,
                                                       error, match):
    with pytest.raises(error, match=match):
        call(unloaded, image, tmp_path)


@pytest.mark.parametrize("label, kwargs, error, match", [
    ("negative max pixels", {"max_pixels": -1}, ConfigError, "max_pixels=-1"),
    ("max pixels as text", {"max_pixels": "100"}, ConfigError, "max_pixels='100'"),
    ("fractional max pixels", {"max_pixels": 1.5}, ConfigError, "max_pixels"),
    ("device not text", {"device": 0}, UsageError, "device=0"),
    # the checkpoint's errors are the command's --checkpoint errors (exit 1)
    ("empty checkpoint path", {"checkpoint": ""}, CheckpointError,
     "^checkpoint '': give a weights file$"),
    ("empty checkpoint path as bytes", {"checkpoint": b""}, CheckpointError,
     "^checkpoint '': give a weights file$"),
    ("NUL in checkpoint path", {"checkpoint": "a\0b.pt"}, CheckpointError,
     r"^checkpoint 'a\\x00b.pt': not a valid path \(contains a NUL byte\)$"),
    ("checkpoint not a path", {"checkpoint": 5}, UsageError, "^checkpoint=5: expected a path$"),
    ("a checkpoint named like a flag", {"checkpoint": "--model.pt"}, CheckpointError,
     "^checkpoint --model.pt: no such file or directory$"),
])
def test_bad_segmenters_are_refused_when_made(mobile_ckpt, label, kwargs, error, match):
    with pytest.raises(error, match=match):
        Segmenter(**{"model": "mobile_sam", "checkpoint": mobile_ckpt, **kwargs})


def test_unlikely_values_warn_as_the_command_does(seg, image):
    with pytest.warns(UserWarning, match="^pred_iou_thresh 1.5 is 1 or more") as said:
        props = seg.automask(image, points_per_side=2, pred_iou_thresh=1.5)
    assert len(props) == 0
    assert [w.filename for w in said] == [__file__]  # pointing at the call, not at samcli


def test_model_errors_come_before_any_image(tmp_path):
    with pytest.raises(UsageError):
        Segmenter(model="vit_z")
    with pytest.raises(CheckpointError, match="no such file"):
        Segmenter(checkpoint=tmp_path / "missing.pt")


def test_from_boxes_score_is_the_coco_converters_default(seg, tmp_path, mobile_ckpt):
    """``score=`` scores the COCO converters as ``--score`` scores the files; without it
    they give what ``samcli from-boxes --format coco`` writes (the box's confidence)."""
    img, label, xyxy = _boxes_dataset(tmp_path)
    out = tmp_path / "out"
    cli = invoke("from-boxes", label, "--checkpoint", mobile_ckpt, "--model", "mobile_sam",
                 "--device", "cpu", "--multimask", "-q", "-o", out, "--format", "coco")
    assert cli.exit_code == 0, cli.stderr
    written = [a["score"] for a in json.loads((out / "annotations.json").read_text())
               ["annotations"]]
    props = seg.from_boxes(img, xyxy, classes=[3, 1], confidences=[0.9, None], multimask=True)
    assert [a["score"] for a in props.to_coco()["annotations"]] == written == [0.9, 1.0]
    for mode in ("sam", "product"):
        scored = seg.from_boxes(img, xyxy, classes=[3, 1], confidences=[0.9, None],
                                multimask=True, score=mode)
        assert scored.score == mode
        assert scored.to_coco() == props.to_coco(score=mode)
        assert scored.to_coco_results() == props.to_coco_results(score=mode)
    doc = json.loads((out / "annotations.json").read_text())
    named = seg.from_boxes(img, xyxy, classes=[3, 1], confidences=[0.9, None], multimask=True,
                           name=doc["images"][0]["file_name"])
    assert named.to_coco() == doc  # categories too: the classes used, named by their ids
    assert [c["id"] for c in doc["categories"]] == [1, 3]
    assert named.to_coco_results() == json.loads((out / "results.json").read_text())
    sam = [(r["predicted_iou"] + r["stability_score"]) / 2 for r in props.records]
    assert [a["score"] for a in props.to_coco(score="sam")["annotations"]] == pytest.approx(
        sam, abs=1e-6)


@pytest.mark.parametrize("label, call, error, match", [
    ("unknown score", lambda p: p.to_coco(score="bogus"), UsageError, "score 'bogus'"),
    ("a score in capitals, not one either", lambda p: p.to_coco(score="DETECTOR"), UsageError,
     "no detector confidence"),
    ("results score", lambda p: p.to_coco_results(score=3), UsageError, "score 3"),
    ("category without id", lambda p: p.to_coco(categories=[{"name": "x"}]), ConfigError,
     "categories"),
    ("category id text", lambda p: p.to_coco(categories=[{"id": "abc", "name": "x"}]),
     ConfigError, "categories"),
    ("categories a dict", lambda p: p.to_coco(categories={"id": 1}), ConfigError,
     "categories"),
    ("categories text", lambda p: p.to_coco(categories="object"), ConfigError, "categories"),
    ("a category id twice", lambda p: p.to_coco(categories=[{"id": 3, "name": "car"},
                                                            {"id": 3, "name": "truck"}]),
     ConfigError, "id 3 is given twice"),
    ("a negative category id", lambda p: p.to_coco(categories=[{"id": -1, "name": "x"}]),
     ConfigError, "id -1 is outside"),
    ("automask scored by a detector", lambda p: p.to_coco(score="detector"), UsageError,
     "no detector confidence"),
    ("automask results scored by a product", lambda p: p.to_coco_results(score="product"),
     UsageError, "no detector confidence"),
])
def test_bad_converter_arguments(props, label, call, error, match):
    with pytest.raises(error, match=match):
        call(props)


@pytest.mark.no_encoder_memo  # the point is two encoder passes at once
def test_one_segmenter_shared_by_threads_gives_each_call_its_own_result(seg):
    """The model holds one image's features: calls from two threads take turns (a lock), and
    every result equals the one made alone."""
    import threading

    images = [np.random.default_rng(k).integers(0, 255, (40, 56, 3), dtype=np.uint8)
              for k in range(2)]
    alone = [seg.automask(im, **FAST_OPTIONS).to_jsonl() for im in images]
    boxes_alone = [seg.from_boxes(im, [[4, 4, 30, 30]]).to_jsonl() for im in images]
    failures: list[str] = []

    def work(k: int) -> None:
        try:
            if seg.automask(images[k], **FAST_OPTIONS).to_jsonl() != alone[k]:
                failures.append(f"automask {k}")
            if seg.from_boxes(images[k], [[4, 4, 30, 30]]).to_jsonl() != boxes_alone[k]:
                failures.append(f"from_boxes {k}")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_calls_leave_torchs_thread_count_as_they_found_it(seg, image):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        seg.automask(image, **FAST_OPTIONS)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("label, box", [
    ("NaN x1", [np.nan, 8, 52, 32]),  # used to become x1 = 0: a real box
    ("NaN y2", [18, 8, 52, np.nan]),
])
def test_boxes_with_a_nan_are_dropped_with_a_warning(unloaded, label, box):
    props = unloaded.from_boxes(np.zeros((48, 64, 3), np.uint8), [box])
    assert len(props) == 0 and len(props.warnings) == 1, label
    assert props.warnings[0].startswith("box 0: ")
    assert props.warnings[0].endswith("has a NaN coordinate; skipped")


def _prompted(props) -> list[int]:
    """The classes of the boxes that prompted SAM: in a record, or named in an empty-mask
    warning."""
    import re

    said = [int(m) for w in props.warnings for m in re.findall(r"\(class (\d+)\) gave", w)]
    return sorted([r["class"] for r in props.records] + said)


def test_only_classes_takes_ids_or_the_commands_text(seg):
    rgb = np.zeros((48, 64, 3), np.uint8)
    boxes = [[4, 4, 30, 30], [20, 10, 60, 40]]
    assert _prompted(seg.from_boxes(rgb, boxes, classes=[12, 1])) == [1, 12]
    for only, expected in (("12", [12]), ("1, 12", [1, 12]), (np.array([1]), [1])):
        props = seg.from_boxes(rgb, boxes, classes=[12, 1], only_classes=only)
        assert _prompted(props) == expected, only


def test_paths_as_bytes_and_path_likes_and_undecodable_names(seg, image, tmp_path):
    """Any path form the os module takes; a name that is not UTF-8 gets the command's
    ``\\xNN`` in the records, so ``to_jsonl()`` encodes and equals the command's stdout."""
    import os
    import shutil

    class Where(os.PathLike):
        def __fspath__(self):
            return str(image)

    expected = seg.automask(image, **FAST_OPTIONS).records
    assert seg.automask(Where(), **FAST_OPTIONS).records == expected
    assert seg.automask(os.fsencode(image), **FAST_OPTIONS).records == expected
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = os.fsdecode(os.fsencode(folder) + b"/caf\xff.png")
    shutil.copy(image, odd)
    props = seg.automask(odd, **FAST_OPTIONS)
    assert props.image == f"{folder}/caf\\xff.png"
    assert props.to_coco()["images"][0]["file_name"] == props.image
    assert props.to_jsonl().encode("utf-8")
    assert seg.automask(image, name="x\udcff", **FAST_OPTIONS).image == "x\\xff"


def test_masks_read_with_warnings_as_errors(seg, image):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        props = seg.automask(image, min_region_area=10, **FAST_OPTIONS)
        assert props and props[0].mask().sum() == props[0].area


def test_a_proposal_is_a_copy_of_its_record(props):
    p = props[0]
    p.bbox.append(99)
    p.extras["x"] = 1
    assert props.records[0]["bbox"] == props[0].bbox[:4] and len(props.records[0]["bbox"]) == 4
    assert "x" not in props.records[0]


def test_a_score_is_read_in_any_case_as_the_option_is(props):
    assert props.to_coco(score="SAM") == props.to_coco(score="sam")


def test_a_segmenter_says_why_it_cannot_be_pickled(unloaded):
    import copy
    import pickle

    for copier in (pickle.dumps, copy.deepcopy):
        with pytest.raises(TypeError, match="make one in each process"):
            copier(unloaded)
