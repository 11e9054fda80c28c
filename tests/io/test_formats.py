"""The format writers (samcli.io.formats): JSON Lines, COCO, YOLO, GeoJSON."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from samcli.errors import InputError, SamcliError
from samcli.geometry import geometry_to_mask
from samcli.io.formats import CocoWriter, GeoJsonWriter, JsonlStdoutWriter, JsonlWriter, YoloWriter
from samcli.io.records import kept_indices
from tests.io.helpers import H, W, box_extras, files, make_result, records_of, with_records


# --------------------------------------------------------------------------------------------
# jsonl


def test_jsonl_files_mirror_the_tree_without_collisions(tmp_path):
    w = JsonlWriter(tmp_path)
    written = {}
    for image in ["x/a.jpg", "y/a.jpg", "x/a.png", "b.jpg"]:
        res = make_result(image)
        recs = records_of(res, 0.0, None)
        (path,) = w.write(with_records(res, recs))
        written[image] = path
        lines = path.read_text().splitlines()
        assert [json.loads(line) for line in lines] == recs
    assert files(tmp_path) == ["b.jpg.jsonl", "x/a.jpg.jsonl", "x/a.png.jsonl", "y/a.jpg.jsonl"]
    assert w.outputs_for("x/a.jpg") == [tmp_path / "x" / "a.jpg.jsonl"]
    w.finish(["x/a.jpg"])


def test_jsonl_empty_image_gives_empty_file(tmp_path):
    res = make_result(masks=np.zeros((0, H, W), bool))
    (p,) = JsonlWriter(tmp_path).write(with_records(res, []))
    assert p.read_text() == ""


def test_jsonl_stdout_is_compact_and_flushed():
    class Stream(io.StringIO):
        flushes = 0

        def flush(self):
            Stream.flushes += 1

    s = Stream()
    w = JsonlStdoutWriter(s)
    res = make_result()
    recs = records_of(res, 0.0, None)
    assert w.write(with_records(res, recs)) == []
    lines = s.getvalue().splitlines()
    assert len(lines) == len(recs) and ", " not in lines[0] and '": ' not in lines[0]
    assert json.loads(lines[2]) == recs[2]
    assert Stream.flushes >= 1


@pytest.mark.parametrize("label, encoding", [
    ("a Latin-1 locale", "latin-1"),
    ("an ASCII locale", "ascii"),
    ("UTF-8", "utf-8"),
])
def test_jsonl_stdout_is_utf8_whatever_the_streams_encoding(label, encoding):
    """README: stdout stays valid UTF-8. A legacy locale (or PYTHONIOENCODING) gave Latin-1
    bytes for 'café', and a traceback for a letter the encoding cannot hold."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding)
    res = make_result("fotos/\U0001f697 café.png")
    recs = records_of(res, 0.0, None)
    JsonlStdoutWriter(stream).write(with_records(res, recs))
    stream.flush()
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == recs, label
    assert recs[0]["image"] == "fotos/\U0001f697 café.png"


# --------------------------------------------------------------------------------------------
# coco


def _coco_run(root: Path, images, batches, categories=None, extras=False):
    """Write ``images`` in ``batches`` (a new writer per batch, as a resumed run), finishing
    after each batch with every image done so far."""
    done = []
    for batch in batches:
        w = CocoWriter(root, categories)
        for image in batch:
            res = make_result(image, extras=box_extras(5) if extras else None,
                              seed=images.index(image))
            w.write(with_records(res, records_of(res, 0.0, None)))
            done.append(image)
        w.finish(done)
    return root / "annotations.json"


def test_coco_loads_and_evaluates(tmp_path, capsys):
    images = ["x/a.jpg", "y/a.jpg", "b.png"]
    path = _coco_run(tmp_path, images, [images])
    doc = json.loads(path.read_text())
    assert [i["file_name"] for i in doc["images"]] == ["b.png", "x/a.jpg", "y/a.jpg"]
    assert [i["id"] for i in doc["images"]] == [1, 2, 3]
    assert doc["categories"] == [{"id": 1, "name": "object"}]
    ann = doc["annotations"][0]
    assert list(ann)[:8] == ["id", "image_id", "category_id", "segmentation", "area", "bbox",
                             "score", "iscrowd"]
    assert isinstance(ann["segmentation"]["counts"], str)
    assert ann["segmentation"]["size"] == [H, W]
    assert [a["id"] for a in doc["annotations"]] == list(range(1, 13))

    gt = COCO(str(path))
    res = make_result("b.png", seed=2)
    first = gt.loadAnns(gt.getAnnIds(imgIds=[1]))
    for ann, i in zip(first, kept_indices(res.masks)):
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        assert np.array_equal(mask_utils.decode(rle).astype(bool), res.masks.mask(i))
        assert ann["area"] == int(mask_utils.area(rle))
        assert ann["score"] == pytest.approx(
            (ann["predicted_iou"] + ann["stability_score"]) / 2, abs=1e-5)

    dt = gt.loadRes(str(tmp_path / "results.json"))  # the results file, as it is
    assert len(dt.getAnnIds()) == len(doc["annotations"])
    ev = COCOeval(gt, dt, "segm")
    ev.params.useCats = 0
    ev.params.maxDets = [1, 10, 100, 1000]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # detections == ground truth


def test_coco_resumed_run_gives_identical_file(tmp_path):
    images = ["x/a.jpg", "y/a.jpg", "b.png", "c/d/e.tif"]
    one = _coco_run(tmp_path / "one", images, [images]).read_bytes()
    two = _coco_run(tmp_path / "two", images, [images[:1], images[1:3], images[3:]]).read_bytes()
    rev = _coco_run(tmp_path / "rev", images, [images[::-1]]).read_bytes()
    assert one == two == rev
    assert (tmp_path / "two" / ".samcli" / "coco" / "c" / "d" / "e.tif.json").is_file()


def _coco_run_with_ids(root: Path, ids: dict, batches):
    done = []
    for batch in batches:
        w = CocoWriter(root, [{"id": 3, "name": "cat"}, {"id": 4, "name": "dog"}])
        for image in batch:
            res = make_result(image, extras=box_extras(5), seed=list(ids).index(image))
            res = dataclasses.replace(res, image_id=ids[image])
            w.write(with_records(res, records_of(res, 0.0, None)))
            done.append(image)
        w.finish(done)
    return root / "annotations.json"


def test_coco_keeps_the_inputs_image_ids_across_a_resumed_run(tmp_path):
    """Issue 17.1: given image ids (from-boxes with COCO detections) are kept, in the parts
    too, so a resumed run writes the very same file."""
    ids = {"val/000000000632.jpg": 632, "val/000000000139.jpg": 139, "b.png": "frame_7",
           "c/d.tif": 285}
    images = list(ids)
    one = _coco_run_with_ids(tmp_path / "one", ids, [images])
    two = _coco_run_with_ids(tmp_path / "two", ids, [images[:1], images[1:3], images[3:]])
    assert one.read_bytes() == two.read_bytes()
    doc = json.loads(one.read_text())
    assert [(i["id"], i["file_name"]) for i in doc["images"]] == [
        ("frame_7", "b.png"), (285, "c/d.tif"), (139, "val/000000000139.jpg"),
        (632, "val/000000000632.jpg")]  # path order, the input's ids
    assert {a["image_id"] for a in doc["annotations"]} == {"frame_7", 285, 139, 632}
    assert [a["id"] for a in doc["annotations"]] == list(range(1, len(doc["annotations"]) + 1))
    COCO(str(one))


def test_coco_parts_with_and_without_ids_are_an_error(tmp_path):
    w = CocoWriter(tmp_path)
    res = make_result("a.jpg")
    w.write(with_records(res, records_of(res, 0.0, None)))
    res = dataclasses.replace(make_result("b.jpg"), image_id=7)
    w.write(with_records(res, records_of(res, 0.0, None)))
    with pytest.raises(SamcliError, match="--overwrite"):
        w.finish(["a.jpg", "b.jpg"])


def test_coco_from_boxes_categories_and_extras(tmp_path):
    images = ["a.jpg"]
    cats = [{"id": 3, "name": "cat"}]
    path = _coco_run(tmp_path, images, [images], categories=cats, extras=True)
    doc = json.loads(path.read_text())
    assert doc["categories"] == [{"id": 3, "name": "cat"}, {"id": 4, "name": "4"}]
    assert {a["category_id"] for a in doc["annotations"]} == {3, 4}
    assert doc["annotations"][0]["prompt_box"] == [1.0, 2.0, 30.0, 20.0]
    assert "box_iou" in doc["annotations"][0]
    COCO(str(path))


def test_coco_empty_run(tmp_path):
    p, r = CocoWriter(tmp_path).finish([])
    doc = json.loads(p.read_text())
    assert doc["images"] == [] and doc["annotations"] == []
    assert r.name == "results.json" and json.loads(r.read_text()) == []


@pytest.mark.parametrize("mode, expected", [
    ("sam", lambda piou, stab, conf: (piou + stab) / 2),
    ("detector", lambda piou, stab, conf: 1.0 if conf is None else conf),
    ("product", lambda piou, stab, conf: (1.0 if conf is None else conf) * (piou + stab) / 2),
])
def test_coco_score_modes(tmp_path, mode, expected):
    res = make_result("a.jpg", extras=box_extras(5))
    w = CocoWriter(tmp_path, [], score=mode)
    w.write(with_records(res, records_of(res, 0.0, None)))
    w.finish(["a.jpg"])
    doc = json.loads((tmp_path / "annotations.json").read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == len(doc["annotations"]) == 4
    for ann, r in zip(doc["annotations"], results):
        i = int(kept_indices(res.masks)[ann["id"] - 1])
        want = expected(res.masks.predicted_iou[i], res.masks.stability_score[i],
                        ann["box_confidence"])
        assert ann["score"] == r["score"] == pytest.approx(want, abs=1e-6)


def test_coco_unknown_score_mode_fails_at_once(tmp_path):
    with pytest.raises(ValueError, match="unknown score"):
        CocoWriter(tmp_path, score="iou")


# --------------------------------------------------------------------------------------------
# yolo


def _yolo_rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_yolo_rows(tmp_path):
    w = YoloWriter(tmp_path)
    res = make_result("x/a.jpg")
    path, part = w.write(with_records(res, records_of(res, 0.0, None)))
    assert path == tmp_path / "x" / "a.txt"
    assert part == tmp_path / ".samcli" / "yolo" / "x" / "a.jpg.json"
    rows = _yolo_rows(path)
    assert len(rows) == 4
    for row in rows:
        assert row[0] == 0
        xy = row[1:]
        assert len(xy) % 2 == 0 and len(xy) >= 6
        assert all(0.0 <= v <= 1.0 for v in xy)
    for line in path.read_text().splitlines():
        assert all(len(v.split(".")[1]) == 6 for v in line.split()[1:])
    # the square with a hole: one bridged ring that fills back to the mask
    ring = np.array(rows[0][1:]).reshape(-1, 2) * [W, H]
    closed = np.concatenate([ring, ring[:1]]).tolist()
    back = geometry_to_mask({"type": "Polygon", "coordinates": [closed]}, H, W)
    assert np.array_equal(back, res.masks.mask(0))


def test_yolo_class_from_records(tmp_path):
    res = make_result("a.png", extras=box_extras(5))
    path, _ = YoloWriter(tmp_path).write(with_records(res, records_of(res, 0.4, None)))
    assert [int(r[0]) for r in _yolo_rows(path)] == [3, 4, 3, 3]


def test_yolo_same_stem_collision_is_an_input_error(tmp_path):
    w = YoloWriter(tmp_path)
    res = make_result("x/a.jpg")
    w.write(with_records(res, records_of(res, 0.0, None)))
    w.write(with_records(res, records_of(res, 0.0, None)))  # the same image again is fine
    res2 = make_result("x/a.png")
    with pytest.raises(InputError, match="a.txt"):
        w.write(with_records(res2, records_of(res2, 0.0, None)))
    with pytest.raises(InputError):
        YoloWriter(tmp_path).check_inputs(["x/a.jpg", "y/a.jpg", "x/a.png"])
    YoloWriter(tmp_path).check_inputs(["x/a.jpg", "y/a.jpg"])


def test_yolo_empty_image_gives_empty_file(tmp_path):
    res = make_result(masks=np.zeros((0, H, W), bool))
    p, _ = YoloWriter(tmp_path).write(with_records(res, []))
    assert p.read_text() == ""


# --------------------------------------------------------------------------------------------
# geojson


def test_geojson_feature_collection(tmp_path):
    res = make_result("x/a.jpg", extras=box_extras(5))
    recs = records_of(res, 0.4, None)
    (path,) = GeoJsonWriter(tmp_path).write(with_records(res, recs))
    assert path == tmp_path / "x" / "a.jpg.geojson"
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection"
    assert doc["samcli"]["crs"] == "pixel"
    assert (doc["samcli"]["image"], doc["samcli"]["width"], doc["samcli"]["height"]) == (
        "x/a.jpg", W, H)
    assert len(doc["features"]) == len(recs)
    for f, r in zip(doc["features"], recs):
        assert f["type"] == "Feature"
        assert shapely.is_valid(shapely.geometry.shape(f["geometry"]))
        assert f["geometry"] == r["segmentation"]
        assert f["properties"] == {k: v for k, v in r.items() if k != "segmentation"}
        assert list(f["properties"])[-1] == "box_iou"


def test_supervision_reads_the_coco_output(tmp_path):
    """A real client: supervision's COCO loader takes annotations.json as it is (RLE masks,
    names, the images by file_name)."""
    sv = pytest.importorskip("supervision")
    from PIL import Image

    images = ["x/a.png", "b.png"]
    for image in images:
        (tmp_path / "imgs" / image).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "imgs" / image)
    path = _coco_run(tmp_path / "out", images, [images],
                     categories=[{"id": 3, "name": "cat"}, {"id": 4, "name": "dog"}],
                     extras=True)
    ds = sv.DetectionDataset.from_coco(str(tmp_path / "imgs"), str(path), force_masks=True)
    assert ds.classes == ["cat", "dog"]
    loaded = {Path(p).relative_to(tmp_path / "imgs").as_posix(): det for p, _, det in ds}
    assert sorted(loaded) == sorted(images)
    for image in images:
        res = make_result(image, extras=box_extras(5), seed=images.index(image))
        det = loaded[image]
        assert len(det) == 4
        for mask, i in zip(det.mask, kept_indices(res.masks)):
            assert np.array_equal(mask, res.masks.mask(int(i)))
