"""from-boxes output read by the real client: ``COCO(gt).loadRes("results.json")`` and
``COCOeval`` (issue 17.2), what ``--score`` puts in the results, and the same run as Label
Studio tasks (issue 17.8).

The masks must equal the ground truth's for a perfect AP, which SAM with random weights would
not give: the model is replaced by a box *oracle* (as ``tests/test_tiling.py``'s point oracle):
for a box prompt it returns the painted object (a connected region of one colour) covering most
of the box, exactly, with predicted IoU 0.99 and stable logits (stability score 1). Everything
else is the real command: label reading, ids, writers, manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from skimage.measure import label as label_regions

from samcli.loader import ModelLoader
from tests.commands.conftest import invoke, jsonl


class BoxOracle:
    """Segments by colour: a box's mask is the region covering most of the box."""

    def set_image(self, image: np.ndarray) -> None:
        rgb = image.astype(np.int64)
        colour = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
        self.labels = label_regions(colour + 1, background=1, connectivity=1)  # 0 = background

    def predict(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                multimask_output=True, iou_floor=None, upscaled_only=False):  # (hints)
        ids = []
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64):
            inside = self.labels[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
            counts = np.bincount(inside.ravel(), minlength=2)
            counts[0] = 0
            ids.append(int(counts.argmax()) if counts.any() else 0)
        k = 3 if multimask_output else 1
        low_res = torch.tensor(ids, dtype=torch.float32)[:, None, None, None].expand(-1, k, 1, 1)
        iou = torch.where(low_res[:, :, 0, 0] > 0, 0.99, 0.0)
        return low_res.clone(), iou

    def upscale(self, low_res: torch.Tensor) -> torch.Tensor:
        ids = low_res[:, 0, 0, 0].numpy().astype(np.int64)
        inside = (self.labels[None] == ids[:, None, None]) & (ids[:, None, None] > 0)
        return torch.from_numpy(np.where(inside, 20.0, -20.0).astype(np.float32))[:, None]


@pytest.fixture
def oracle(monkeypatch):
    monkeypatch.setattr(ModelLoader, "get", lambda self: BoxOracle())


def _objects(h: int, w: int, seed: int) -> list[np.ndarray]:
    """Three clean objects: a ring (a hole), a disc and an L, placed by ``seed``."""
    yy, xx = np.mgrid[:h, :w]
    dy, dx = 3 * seed, 5 * seed
    ring = ((yy - 20 - dy) ** 2 + (xx - 22 - dx) ** 2 < 14**2) & \
           ((yy - 20 - dy) ** 2 + (xx - 22 - dx) ** 2 >= 6**2)
    disc = (yy - 52) ** 2 + (xx - 70 - dx) ** 2 < 9**2
    ell = ((yy >= 8) & (yy < 40) & (xx >= 60 + dx) & (xx < 66 + dx)) | \
          ((yy >= 34) & (yy < 40) & (xx >= 60 + dx) & (xx < 80 + dx))
    return [ring, disc & ~ell, ell]


@pytest.fixture
def coco_set(tmp_path) -> Path:
    """val2017-like ids (139, 285, 632), named categories, ground-truth masks of clean painted
    objects, and detections: each ground truth box with a confidence (one without), plus one
    low-confidence detection of the wrong category."""
    h, w = 72, 96
    categories = [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]
    images, annotations, dets = [], [], []
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    for seed, image_id in enumerate((139, 285, 632)):
        name = f"{image_id:012d}.png"  # lossless: colours stay exact
        img = np.zeros((h, w, 3), np.uint8)
        for k, (obj, colour) in enumerate(zip(_objects(h, w, seed), colours)):
            img[obj] = colour
            rle = mask_utils.encode(np.asfortranarray(obj.astype(np.uint8)))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            rle["counts"] = rle["counts"].decode()
            cat = (1, 18, 1)[k]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": cat, "segmentation": rle, "bbox": bbox,
                                "area": float(obj.sum()), "iscrowd": 0})
            det = {"image_id": image_id, "category_id": cat, "bbox": bbox}
            if (seed, k) != (1, 2):  # one detection without a confidence
                det["score"] = round(0.5 + 0.1 * k + 0.05 * seed, 3)
            dets.append(det)
        path = tmp_path / "val2017" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
    # a false positive: the ring of image 139 called a dog, with a low confidence
    dets.append({"image_id": 139, "category_id": 18, "bbox": annotations[0]["bbox"],
                 "score": 0.05})
    gt = {"images": images, "annotations": annotations, "categories": categories}
    (tmp_path / "instances_val2017.json").write_text(json.dumps(gt))
    (tmp_path / "detections.json").write_text(json.dumps(dets))
    return tmp_path


def _run(coco_set: Path, mobile_ckpt, out: str, *extra: str) -> Path:
    result = invoke("from-boxes", "--coco-dets", coco_set / "detections.json",
                    "--images", coco_set / "val2017",
                    "--image-map", coco_set / "instances_val2017.json",
                    "--checkpoint", mobile_ckpt, "-q", "-o", coco_set / out, "--format", "coco",
                    *extra)
    assert result.exit_code == 0, result.stderr
    return coco_set / out


def test_loadres_and_cocoeval_take_results_json_as_it_is(coco_set, mobile_ckpt, oracle):
    """The README's val2017 workflow: ground truth + detections -> from-boxes -> COCOeval,
    no remapping. Masks equal to the ground truth's and the false positive ranked last (the
    detector's confidence, the default --score) give AP 1.0."""
    out = _run(coco_set, mobile_ckpt, "out")
    gt = COCO(str(coco_set / "instances_val2017.json"))
    dt = gt.loadRes(str(out / "results.json"))  # a path, as users pass it
    assert len(dt.getAnnIds()) == 10
    ev = COCOeval(gt, dt, "segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]
    assert ev.stats[8] == pytest.approx(1.0)  # AR@100

    results = json.loads((out / "results.json").read_text())
    assert all(list(r) == ["image_id", "category_id", "segmentation", "score"] for r in results)
    doc = json.loads((out / "annotations.json").read_text())
    assert [(a["image_id"], a["category_id"], a["score"]) for a in doc["annotations"]] == [
        (r["image_id"], r["category_id"], r["score"]) for r in results]
    with pytest.raises(AssertionError):  # why results.json exists: loadRes wants a list
        gt.loadRes(str(out / "annotations.json"))


# (--score, the expected score of each detection given its confidence c, None when absent):
# the oracle's masks have predicted IoU 0.99 and stability 1.0, SAM's score 0.995
SCORES = [
    ("default: detector", [], lambda c: 1.0 if c is None else c),
    ("detector", ["--score", "detector"], lambda c: 1.0 if c is None else c),
    ("sam", ["--score", "sam"], lambda c: 0.995),
    ("product", ["--score", "product"], lambda c: 0.995 * (1.0 if c is None else c)),
]


@pytest.mark.parametrize("label, extra, expected", SCORES, ids=[s[0] for s in SCORES])
def test_score_choice(coco_set, mobile_ckpt, oracle, label, extra, expected):
    out = _run(coco_set, mobile_ckpt, "out", *extra)
    dets = json.loads((coco_set / "detections.json").read_text())
    by_image: dict = {}
    for d in dets:  # results come in image path order, then detection order
        by_image.setdefault(d["image_id"], []).append(d.get("score"))
    want = [expected(c) for image_id in sorted(by_image) for c in by_image[image_id]]
    results = json.loads((out / "results.json").read_text())
    assert [r["score"] for r in results] == pytest.approx(want, abs=1e-6), label
    doc = json.loads((out / "annotations.json").read_text())
    assert [a["score"] for a in doc["annotations"]] == [r["score"] for r in results]


def test_bad_score_is_refused_before_any_work(coco_set, mobile_ckpt):
    result = invoke("from-boxes", "--coco-dets", coco_set / "detections.json", "--images",
                    coco_set / "val2017", "--checkpoint", mobile_ckpt, "--score", "iou")
    assert result.exit_code == 2  # not one of the choices: a usage error, as --format's
    assert "--score 'iou'" in result.stderr and "detector, sam, product" in result.stderr


def test_label_studio_tasks_of_a_from_boxes_run(coco_set, mobile_ckpt, oracle):
    out = _run(coco_set, mobile_ckpt, "ls", "--format", "labelstudio", "--score", "sam",
               "--image-root-url", "/data/local-files/?d=val2017/")
    tasks = json.loads((out / "tasks.json").read_text())
    assert [t["data"]["image"] for t in tasks] == [
        f"/data/local-files/?d=val2017/{i:012d}.png" for i in (139, 285, 632)]
    labels = [r["value"]["polygonlabels"][0] for t in tasks for r in t["predictions"][0]["result"]]
    assert labels == ["person", "dog", "person", "dog"] + ["person", "dog", "person"] * 2
    assert {r["score"] for t in tasks for r in t["predictions"][0]["result"]} == {0.995}
    config = (out / "label_config.xml").read_text()
    assert '<Label value="person"/>' in config and '<Label value="dog"/>' in config
    assert tasks[0]["predictions"][0]["model_version"].startswith("samcli ")


def test_image_root_url_needs_labelstudio(coco_set, mobile_ckpt):
    result = invoke("from-boxes", "--coco-dets", coco_set / "detections.json", "--images",
                    coco_set / "val2017", "--checkpoint", mobile_ckpt, "-o", coco_set / "o",
                    "--format", "coco", "--image-root-url", "http://x/")
    assert result.exit_code == 1 and "--image-root-url" in result.stderr


# A box over the background: the oracle gives it an empty mask, which has no record and is
# warned about by the box's own source (file:line, COCO entry), as a box dropped by clipping is.
EMPTY_BOX_SOURCES = [
    ("YOLO label file: its line", "yolo", "labels/000000000139.txt:4"),
    ("COCO detections: the entry", "coco", "detections.json: entry 10"),
]


@pytest.mark.parametrize("label, kind, source", EMPTY_BOX_SOURCES,
                         ids=[c[0] for c in EMPTY_BOX_SOURCES])
def test_an_empty_mask_is_warned_about_by_its_boxs_line(coco_set, mobile_ckpt, oracle, label,
                                                        kind, source):
    background = [0.0, 62.0, 8.0, 8.0]  # COCO xywh, bottom-left corner of a 96x72 image
    if kind == "yolo":
        labels = coco_set / "labels"
        labels.mkdir()
        (labels / "000000000139.txt").write_text(
            "# one object, then a box over the background\n0 0.23 0.28 0.3 0.4\n\n"
            "1 0.0417 0.9167 0.0833 0.1111\n")
        args = [labels, "--images", coco_set / "val2017"]
    else:
        dets = json.loads((coco_set / "detections.json").read_text())
        dets.append({"image_id": 139, "category_id": 1, "bbox": background, "score": 0.9})
        (coco_set / "detections.json").write_text(json.dumps(dets))
        args = ["--coco-dets", coco_set / "detections.json", "--images", coco_set / "val2017"]
    result = invoke("from-boxes", *args, "--checkpoint", mobile_ckpt, "-q")
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if "gave an empty mask" in line]
    assert len(warned) == 1, (label, result.stderr)
    assert warned[0].startswith("Warning: ") and source in warned[0], (label, warned[0])
    assert "(class 1)" in warned[0], label
    records = jsonl(result.stdout)
    assert [r["class"] for r in records if r["image"].endswith("139.png")] == (
        [0] if kind == "yolo" else [1, 18, 1, 18]), label
