"""Proposal records and the output writers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from samcli.errors import InputError, SamcliError, UsageError
from samcli.geometry import geometry_to_mask
from samcli.io.writers import (
    RECORD_KEYS,
    CocoWriter,
    CropsWriter,
    GeoJsonWriter,
    JsonlStdoutWriter,
    JsonlWriter,
    PreviewWriter,
    YoloWriter,
    atomic_write_bytes,
    atomic_write_text,
    kept_indices,
    make_writers,
    output_relpath,
    proposal_records,
)
from samcli.maskset import MaskSet, encode_masks
from samcli.results import ImageResult

H, W = 40, 60


def _masks(seed: int = 0) -> np.ndarray:
    """A few masks: a square with a hole, two parts, a disc, an empty one, a 1-px stroke."""
    m = np.zeros((5, H, W), bool)
    m[0, 5:25, 5:25] = True
    m[0, 12:16, 12:16] = False
    m[1, 2:6, 30:40] = True
    m[1, 30:38, 45:58] = True
    yy, xx = np.mgrid[:H, :W]
    m[2] = (yy - 20) ** 2 + (xx - 40) ** 2 < 8**2 + seed
    m[4, 35, 3:30] = True  # m[3] stays empty
    return m


def _boxes(masks: np.ndarray) -> np.ndarray:
    out = np.zeros((len(masks), 4))
    for i, m in enumerate(masks):
        if m.any():
            ys, xs = np.nonzero(m)
            out[i] = [xs.min(), ys.min(), xs.max(), ys.max()]
    return out


def make_result(image: str = "x/a.jpg", masks: np.ndarray | None = None, extras=None,
                with_rgb: bool = False, seed: int = 0) -> ImageResult:
    masks = _masks(seed) if masks is None else masks
    n, h, w = masks.shape
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, [w, h], (n, 2))
    points[1:2] = np.nan
    ms = MaskSet(
        image_size=(h, w),
        rles=encode_masks(masks),
        boxes=_boxes(masks),
        predicted_iou=rng.uniform(0.85, 1.0, n),
        stability_score=rng.uniform(0.9, 1.0, n),
        points=points,
        crop_boxes=np.tile([0, 0, w, h], (n, 1)),
    )
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if with_rgb else None
    return ImageResult(image=image, source=Path(image), width=w, height=h, masks=ms,
                       extras=extras or [], rgb=rgb)


def _box_extras(n: int) -> list[dict]:
    return [
        {"class": np.int64(i % 2 + 3), "box_confidence": np.float32(0.5) if i else None,
         "prompt_box": np.array([1.0, 2.0, 30.0, 20.0]), "box_iou": 0.91234567}
        for i in range(n)
    ]


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# records


def test_records_keys_types_and_ids():
    res = make_result()
    recs = proposal_records(res, 0.0, None)
    assert len(recs) == 4  # the empty mask is dropped before numbering
    assert [r["id"] for r in recs] == [0, 1, 2, 3]
    assert kept_indices(res).tolist() == [0, 1, 2, 4]
    for r, i in zip(recs, kept_indices(res)):
        assert tuple(r) == RECORD_KEYS
        assert r["image"] == "x/a.jpg" and (r["width"], r["height"]) == (W, H)
        assert all(type(v) is int for v in r["bbox"]) and len(r["bbox"]) == 4
        assert r["bbox"] == res.masks.bbox_xywh[i].tolist()
        assert type(r["area"]) is int and r["area"] == int(res.masks.mask(i).sum())
        assert type(r["predicted_iou"]) is float and type(r["stability_score"]) is float
        assert r["predicted_iou"] == round(float(res.masks.predicted_iou[i]), 6)
        assert r["crop_box"] == [0, 0, W, H]
        mask = geometry_to_mask(r["segmentation"], H, W)
        assert np.array_equal(mask, res.masks.mask(i))
    assert recs[1]["point"] is None  # NaN point
    assert all(type(v) is float for v in recs[0]["point"])
    assert recs[0]["segmentation"]["type"] == "Polygon"
    assert len(recs[0]["segmentation"]["coordinates"]) == 2  # hole
    assert recs[1]["segmentation"]["type"] == "MultiPolygon"
    json.dumps(recs, allow_nan=False)


def test_records_extras_follow_in_order_as_plain_json():
    res = make_result(extras=_box_extras(5))
    recs = proposal_records(res, 0.4, 0)
    assert list(recs[0])[len(RECORD_KEYS):] == ["class", "box_confidence", "prompt_box", "box_iou"]
    assert recs[0]["class"] == 3 and type(recs[0]["class"]) is int
    assert recs[0]["box_confidence"] is None
    assert recs[1]["box_confidence"] == pytest.approx(0.5)
    assert recs[3]["class"] == 3  # extras of mask 4 (mask 3 was empty)
    assert recs[0]["prompt_box"] == [1.0, 2.0, 30.0, 20.0]
    json.dumps(recs, allow_nan=False)


def test_records_extras_may_not_shadow_standard_keys():
    res = make_result(extras=[{"area": 1} for _ in range(5)])
    with pytest.raises(ValueError):
        proposal_records(res, 0.0, None)


def test_records_simplified_coordinates_and_max_vertices():
    res = make_result()
    recs = proposal_records(res, 1.0, 8)
    for r in recs:
        g = r["segmentation"]
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        assert sum(len(ring) - 1 for p in polys for ring in p) <= 8
        assert shapely.is_valid(shapely.geometry.shape(g))


def test_records_of_an_image_without_masks():
    res = make_result(masks=np.zeros((0, H, W), bool))
    assert proposal_records(res, 0.0, None) == []


# --------------------------------------------------------------------------------------------
# atomic writes and paths


def test_atomic_write_leaves_no_temp_file(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "f.json", "hello")
    assert p.read_text() == "hello"
    atomic_write_bytes(p, b"again")
    assert p.read_bytes() == b"again"
    with pytest.raises(TypeError):
        atomic_write_bytes(p, "not bytes")  # fails mid-write
    assert p.read_bytes() == b"again"  # the old file is intact
    assert _files(tmp_path) == ["sub/f.json"]


def test_output_relpath_never_escapes():
    assert output_relpath("sub/dir/a.jpg").as_posix() == "sub/dir/a.jpg"
    assert output_relpath("/abs/a.jpg").as_posix() == "abs/a.jpg"
    assert output_relpath("../up/./a.jpg").as_posix() == "__/up/a.jpg"
    with pytest.raises(InputError):
        output_relpath("/")


# --------------------------------------------------------------------------------------------
# jsonl


def test_jsonl_files_mirror_the_tree_without_collisions(tmp_path):
    w = JsonlWriter(tmp_path)
    written = {}
    for image in ["x/a.jpg", "y/a.jpg", "x/a.png", "b.jpg"]:
        res = make_result(image)
        recs = proposal_records(res, 0.0, None)
        (path,) = w.write(res, recs)
        written[image] = path
        lines = path.read_text().splitlines()
        assert [json.loads(line) for line in lines] == recs
    assert _files(tmp_path) == ["b.jpg.jsonl", "x/a.jpg.jsonl", "x/a.png.jsonl", "y/a.jpg.jsonl"]
    assert w.outputs_for("x/a.jpg") == [tmp_path / "x" / "a.jpg.jsonl"]
    w.finish(["x/a.jpg"])


def test_jsonl_empty_image_gives_empty_file(tmp_path):
    res = make_result(masks=np.zeros((0, H, W), bool))
    (p,) = JsonlWriter(tmp_path).write(res, [])
    assert p.read_text() == ""


def test_jsonl_stdout_is_compact_and_flushed():
    class Stream(io.StringIO):
        flushes = 0

        def flush(self):
            Stream.flushes += 1

    s = Stream()
    w = JsonlStdoutWriter(s)
    res = make_result()
    recs = proposal_records(res, 0.0, None)
    assert w.write(res, recs) == []
    lines = s.getvalue().splitlines()
    assert len(lines) == len(recs) and ", " not in lines[0] and '": ' not in lines[0]
    assert json.loads(lines[2]) == recs[2]
    assert Stream.flushes >= 1


# --------------------------------------------------------------------------------------------
# coco


def _coco_run(root: Path, images, batches, categories=None, extras=False):
    """Write ``images`` in ``batches`` (a new writer per batch, as a resumed run), finishing
    after each batch with every image done so far."""
    done = []
    for batch in batches:
        w = CocoWriter(root, categories)
        for image in batch:
            res = make_result(image, extras=_box_extras(5) if extras else None,
                              seed=images.index(image))
            w.write(res, proposal_records(res, 0.0, None))
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
    for ann, i in zip(first, kept_indices(res)):
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        assert np.array_equal(mask_utils.decode(rle).astype(bool), res.masks.mask(i))
        assert ann["area"] == int(mask_utils.area(rle))
        assert ann["score"] == pytest.approx(
            (ann["predicted_iou"] + ann["stability_score"]) / 2, abs=1e-5)

    dt = gt.loadRes(doc["annotations"])
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


def test_coco_missing_part_is_a_clear_error(tmp_path):
    w = CocoWriter(tmp_path)
    with pytest.raises(SamcliError, match="missing"):
        w.finish(["never/written.jpg"])


def test_coco_empty_run(tmp_path):
    (p,) = CocoWriter(tmp_path).finish([])
    doc = json.loads(p.read_text())
    assert doc["images"] == [] and doc["annotations"] == []


# --------------------------------------------------------------------------------------------
# yolo


def _yolo_rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_yolo_rows(tmp_path):
    w = YoloWriter(tmp_path)
    res = make_result("x/a.jpg")
    (path,) = w.write(res, proposal_records(res, 0.0, None))
    assert path == tmp_path / "x" / "a.txt"
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
    res = make_result("a.png", extras=_box_extras(5))
    (path,) = YoloWriter(tmp_path).write(res, proposal_records(res, 0.4, None))
    assert [int(r[0]) for r in _yolo_rows(path)] == [3, 4, 3, 3]


def test_yolo_same_stem_collision_is_an_input_error(tmp_path):
    w = YoloWriter(tmp_path)
    res = make_result("x/a.jpg")
    w.write(res, proposal_records(res, 0.0, None))
    w.write(res, proposal_records(res, 0.0, None))  # the same image again is fine
    res2 = make_result("x/a.png")
    with pytest.raises(InputError, match="a.txt"):
        w.write(res2, proposal_records(res2, 0.0, None))
    with pytest.raises(InputError):
        YoloWriter(tmp_path).check_inputs(["x/a.jpg", "y/a.jpg", "x/a.png"])
    YoloWriter(tmp_path).check_inputs(["x/a.jpg", "y/a.jpg"])


def test_yolo_empty_image_gives_empty_file(tmp_path):
    res = make_result(masks=np.zeros((0, H, W), bool))
    (p,) = YoloWriter(tmp_path).write(res, [])
    assert p.read_text() == ""


# --------------------------------------------------------------------------------------------
# geojson


def test_geojson_feature_collection(tmp_path):
    res = make_result("x/a.jpg", extras=_box_extras(5))
    recs = proposal_records(res, 0.4, None)
    (path,) = GeoJsonWriter(tmp_path).write(res, recs)
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


# --------------------------------------------------------------------------------------------
# crops and previews


def test_crops_are_rgba_chips_of_the_box(tmp_path):
    res = make_result("x/a.jpg", with_rgb=True)
    recs = proposal_records(res, 0.0, None)
    w = CropsWriter(tmp_path)
    assert w.needs_rgb
    paths = w.write(res, recs)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"x/a.jpg/{i}.png" for i in range(4)]
    for p, r, i in zip(paths, recs, kept_indices(res)):
        chip = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        x, y, bw, bh = r["bbox"]
        assert chip.shape == (bh, bw, 4)
        mask = res.masks.mask(i)[y:y + bh, x:x + bw]
        assert np.array_equal(chip[:, :, 3] > 0, mask)
        assert np.array_equal(chip[:, :, 2::-1][mask], res.rgb[y:y + bh, x:x + bw][mask])
    # a rerun with fewer proposals removes the stale chips
    w2 = CropsWriter(tmp_path)
    w2.write(res, recs[:2])
    assert _files(tmp_path) == ["x/a.jpg/0.png", "x/a.jpg/1.png"]


def test_crops_without_rgb_is_a_programming_error(tmp_path):
    res = make_result()
    with pytest.raises(ValueError):
        CropsWriter(tmp_path).write(res, proposal_records(res, 0.0, None))


def test_preview(tmp_path):
    res = make_result("x/a.jpg", with_rgb=True)
    (p,) = PreviewWriter(tmp_path).write(res, proposal_records(res, 0.0, None))
    assert p == tmp_path / "x" / "a.jpg.jpg"
    img = cv2.imread(str(p))
    assert img.shape == (H, W, 3)
    assert not np.array_equal(img[..., ::-1], res.rgb)
    assert res.rgb is not None and res.rgb.flags.writeable  # input untouched, still usable


# --------------------------------------------------------------------------------------------
# factory


def test_make_writers(tmp_path):
    kinds = lambda ws: [type(w).__name__ for w in ws]  # noqa: E731
    assert kinds(make_writers(None, "jsonl", None, None, None)) == []
    assert kinds(make_writers(tmp_path, "jsonl", None, None, None)) == ["JsonlWriter"]
    assert kinds(make_writers(tmp_path, "coco", tmp_path / "c", tmp_path / "p", None)) == [
        "CocoWriter", "CropsWriter", "PreviewWriter"]
    assert kinds(make_writers(tmp_path, "yolo", None, None, None)) == ["YoloWriter"]
    assert kinds(make_writers(tmp_path, "geojson", None, None, None)) == ["GeoJsonWriter"]
    assert kinds(make_writers(None, "jsonl", tmp_path, None, None)) == ["CropsWriter"]
    cats = [{"id": 0, "name": "person"}]
    assert make_writers(tmp_path, "coco", None, None, cats)[0].categories == cats
    with pytest.raises(UsageError):
        make_writers(None, "coco", None, None, None)
    with pytest.raises(UsageError):
        make_writers(tmp_path, "xml", None, None, None)


def test_all_writers_end_to_end_leave_no_temp_files(tmp_path):
    ws = make_writers(tmp_path / "out", "coco", tmp_path / "crops", tmp_path / "prev", None)
    for image in ["x/a.jpg", "y/a.jpg"]:
        res = make_result(image, with_rgb=True)
        recs = proposal_records(res, 0.4, None)
        for w in ws:
            for p in w.write(res, recs):
                assert p.is_file()
    for w in ws:
        w.finish(["x/a.jpg", "y/a.jpg"])
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert (tmp_path / "out" / "annotations.json").is_file()
