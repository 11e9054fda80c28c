"""--format labelstudio (samcli.io.labelstudio): Label Studio tasks with polygon predictions,
checked by Label Studio's own code rather than by a reader of ours:

- label-studio-converter (test extra): Label Studio's export converter turns the tasks (their
  predictions accepted as annotations, as a person accepting them would) into COCO with our
  label_config.xml; the exported polygons, rasterised by pycocotools, give back the masks,
  holes and parts included;
- label-studio-sdk, where installed (its pins clash with this project's OpenCV, so it is not in
  the test extra): its LabelInterface validates every prediction against the config.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samcli.io.labelstudio import LabelStudioWriter, label_config
from samcli.io.records import kept_indices
from tests.io.helpers import H, W, box_extras, make_result, records_of, with_records

IMAGES = ["sub ü/a b.jpg", "x/a.jpg", "b.png"]


def _run(root: Path, batches, simplify=0.0, **kw) -> tuple[list, str]:
    done = []
    for batch in batches:
        w = LabelStudioWriter(root, **kw)
        for image in batch:
            res = make_result(image, extras=box_extras(5) if kw.get("names") else None,
                              seed=IMAGES.index(image))
            w.write(with_records(res, records_of(res, simplify, None)))
            done.append(image)
        w.finish(done)
    return (json.loads((root / "tasks.json").read_text()),
            (root / "label_config.xml").read_text())


def test_tasks_as_label_studio_imports_them(tmp_path):
    tasks, config = _run(tmp_path, [IMAGES], model_version="samcli test")
    assert [t["data"]["image"] for t in tasks] == [  # image-path order, quoted for a URL
        "/data/local-files/?d=b.png", "/data/local-files/?d=sub%20%C3%BC/a%20b.jpg",
        "/data/local-files/?d=x/a.jpg"]
    ids = set()
    for task in tasks:
        (pred,) = task["predictions"]
        assert pred["model_version"] == "samcli test"
        regions = pred["result"]
        assert len(regions) == 4  # one per record (the empty mask has none)
        assert pred["score"] == pytest.approx(np.mean([r["score"] for r in regions]))
        for r in regions:
            assert (r["type"], r["from_name"], r["to_name"]) == ("polygonlabels", "label",
                                                                  "image")
            assert (r["original_width"], r["original_height"]) == (W, H)
            assert r["value"]["polygonlabels"] == ["object"] and r["value"]["closed"] is True
            pts = np.array(r["value"]["points"])
            assert pts.shape[1] == 2 and len(pts) >= 3
            assert pts.min() >= 0 and pts.max() <= 100
            ids.add(r["id"])
    assert len(ids) == 12  # unique in the file, as Label Studio requires
    assert '<Label value="object"/>' in config and 'toName="image"' in config


def test_resumed_run_gives_the_same_files_and_url_prefix_is_applied_at_finish(tmp_path):
    one = _run(tmp_path / "one", [IMAGES])
    two = _run(tmp_path / "two", [IMAGES[:1], IMAGES[1:]])
    assert one == two
    LabelStudioWriter(tmp_path / "two", image_root_url="https://h/imgs/").finish(IMAGES)
    url = json.loads((tmp_path / "two" / "tasks.json").read_text())
    assert [t["data"]["image"] for t in url] == [
        "https://h/imgs/b.png", "https://h/imgs/sub%20%C3%BC/a%20b.jpg", "https://h/imgs/x/a.jpg"]


def test_class_names_and_scores(tmp_path):
    tasks, config = _run(tmp_path, [["b.png"]], names={3: "cat"}, score="product")
    res = make_result("b.png", extras=box_extras(5), seed=2)
    regions = tasks[0]["predictions"][0]["result"]
    assert [r["value"]["polygonlabels"] for r in regions] == [["cat"], ["4"], ["cat"], ["cat"]]
    for r, i in zip(regions, kept_indices(res.masks)):
        conf = res.extras[i]["box_confidence"]
        sam = (res.masks.predicted_iou[i] + res.masks.stability_score[i]) / 2
        assert r["score"] == pytest.approx((1.0 if conf is None else float(conf)) * sam,
                                           abs=1e-6)
    assert '<Label value="cat"/>' in config and '<Label value="4"/>' in config


def test_label_config_quotes_names():
    names = ['a "b" & <c>', "it's", "ü"]
    root = ET.fromstring(label_config(names))
    assert [e.get("value") for e in root.iter("Label")] == names


# (name in classes.txt, label in both files): kept as is where XML can hold it (tab, LF and
# CR as character references), else the characters XML 1.0 cannot hold spelled as text
LABEL_CASES = {
    "ordinary": ("car", "car"),
    "non-ASCII": ("café", "café"),
    "space": ("traffic light", "traffic light"),
    "tab": ("with\ttab", "with\ttab"),
    "newline": ("two\nlines", "two\nlines"),
    "CR": ("cr\rhere", "cr\rhere"),
    "CRLF and blanks": (" a\r\n\tb ", " a\r\n\tb "),
    "ampersand": ("salt & pepper", "salt & pepper"),
    "less than": ("<b>", "<b>"),
    "quotes": ('say "hi" \'x\'', 'say "hi" \'x\''),
    "entity-like": ("&amp;&#9;", "&amp;&#9;"),
    "SOH": ("car\x01", "car\\x01"),
    "ESC": ("\x1b[31mred", "\\x1b[31mred"),
    "form feed": ("a\x0cb", "a\\x0cb"),
    "DEL and C1 (allowed)": ("a\x7f\x85b", "a\x7f\x85b"),
    "U+FFFE": ("x\ufffe", "x\\ufffe"),
    "U+FFFF": ("\uffffy", "\\uffffy"),
    "undecodable byte": ("caf\udce9", "caf\\xe9"),
    "lone surrogate": ("s\ud800", "s\\ud800"),
    "astral": ("🐈 cat", "🐈 cat"),
}


def _config_labels(root: Path) -> list[str]:
    return [e.get("value") for e in ET.parse(root / "label_config.xml").iter("Label")]


def _region_labels(tasks: list) -> set[str]:
    return {label for t in tasks for r in t["predictions"][0]["result"]
            for label in r["value"]["polygonlabels"]}


@pytest.mark.parametrize("name,label", LABEL_CASES.values(), ids=LABEL_CASES.keys())
def test_config_parses_and_names_exactly_the_region_labels(tmp_path, name, label):
    """label_config.xml is well-formed XML whose labels, as a parser reads them back, are the
    labels of tasks.json's regions; a name XML can hold is kept as it is."""
    tasks, _ = _run(tmp_path, [IMAGES], names={3: name, 4: "dog"})
    config = _config_labels(tmp_path)
    assert sorted(config) == sorted(set(config))  # one Label per label
    assert set(config) == _region_labels(tasks) == {label, "dog"}
    assert (tmp_path / "tasks.json").read_bytes().decode("utf-8")  # valid UTF-8
    direct = ET.fromstring(label_config([name, "dog"]))
    assert [e.get("value") for e in direct.iter("Label")] == [label, "dog"]


@pytest.mark.parametrize("name,label", LABEL_CASES.values(), ids=LABEL_CASES.keys())
def test_label_for_the_default_name_too(tmp_path, name, label):
    tasks, _ = _run(tmp_path, [IMAGES[:1]], default_name=name)
    assert set(_config_labels(tmp_path)) == _region_labels(tasks) == {label}


def test_names_spelled_alike_are_one_label(tmp_path):
    """A name with a control character and one holding its spelling are the same label."""
    tasks, _ = _run(tmp_path, [IMAGES], names={3: "car\x01", 4: "car\\x01"})
    assert _config_labels(tmp_path) == ["car\\x01"]
    assert _region_labels(tasks) == {"car\\x01"}
    assert [e.get("value") for e in ET.fromstring(label_config(["a\x01", "a\\x01"]))
            .iter("Label")] == ["a\\x01"]


def test_labels_of_parts_from_earlier_runs_are_made_safe_at_finish(tmp_path):
    """Parts written before names were made safe keep the raw names (JSON escapes them):
    finish gives them the same spelling in tasks.json and label_config.xml."""
    _run(tmp_path, [IMAGES], names={3: "car", 4: "dog"})
    for image in IMAGES:
        path = LabelStudioWriter(tmp_path).part_path(image)
        part = json.loads(path.read_text())
        part["names"] = {"3": "car\x01", "4": "with\ttab"}
        for r in part["predictions"][0]["result"]:
            r["value"]["polygonlabels"] = ["stale\x1b"]  # made again from the class ids
        path.write_text(json.dumps(part))
    LabelStudioWriter(tmp_path).finish(IMAGES)  # resumed run without names of its own
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert set(_config_labels(tmp_path)) == _region_labels(tasks) == {"car\\x01",
                                                                     "with\ttab"}


def _as_export(tasks: list) -> list:
    """The tasks as Label Studio exports them once each prediction is accepted."""
    out = []
    for k, task in enumerate(tasks, start=1):
        t = copy.deepcopy(task)
        t["id"] = k
        t["annotations"] = [{"id": k, "result": t.pop("predictions")[0]["result"]}]
        out.append(t)
    return out


def test_label_studio_converter_exports_the_masks_to_coco(tmp_path):
    """The real client: label-studio-converter's COCO export of the accepted predictions
    rasterises (pycocotools, even-odd) to the masks, a hole and a two-part mask included."""
    converter = pytest.importorskip("label_studio_converter.converter")
    tasks, _ = _run(tmp_path / "out", [IMAGES], names={3: "cat", 4: "dog"})
    export = tmp_path / "export.json"
    export.write_text(json.dumps(_as_export(tasks)))
    c = converter.Converter(str(tmp_path / "out" / "label_config.xml"), str(tmp_path),
                            download_resources=False)
    c.convert_to_coco(str(export), str(tmp_path / "coco"), is_dir=False)
    coco = json.loads((tmp_path / "coco" / "result.json").read_text())
    assert {c["name"] for c in coco["categories"]} >= {"cat", "dog"}
    by_image: dict = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for image_index, image in enumerate(sorted(IMAGES)):
        res = make_result(image, extras=box_extras(5), seed=IMAGES.index(image))
        anns = by_image[image_index]
        assert len(anns) == 4
        for ann, i in zip(anns, kept_indices(res.masks)):
            rle = mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], H, W))
            got = mask_utils.decode(rle).astype(bool)
            want = res.masks.mask(int(i))
            iou = (got & want).sum() / (got | want).sum()
            assert iou >= (0.99 if want.sum() >= 200 else 0.9), (image, int(i), iou)
        hole = res.masks.mask(0)[12:16, 12:16]  # the square's hole stays a hole
        got = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(
            anns[0]["segmentation"], H, W))).astype(bool)
        assert not hole.any() and not got[13:15, 13:15].any()


def test_label_studio_sdk_validates_the_predictions(tmp_path):
    """Where the SDK is installed: its LabelInterface accepts every prediction."""
    interface = pytest.importorskip("label_studio_sdk.label_interface")
    tasks, config = _run(tmp_path, [IMAGES], names={3: "cat", 4: "dog"})
    li = interface.LabelInterface(config)
    for task in tasks:
        assert task["data"].get("image")
        assert li.validate_prediction(task["predictions"][0], return_errors=True) == []
    bad = copy.deepcopy(tasks[0]["predictions"][0])
    bad["result"][0]["value"]["polygonlabels"] = ["no such label"]
    assert li.validate_prediction(bad, return_errors=True)  # the check does bite


def test_writer_in_a_run_needs_polygons(tmp_path):
    assert LabelStudioWriter(tmp_path).needs_geometry
    res = dataclasses.replace(make_result("a.jpg"), records=[])
    (part,) = LabelStudioWriter(tmp_path).write(res)
    assert json.loads(part.read_text())["predictions"][0] == {"model_version": "samcli",
                                                               "result": []}
