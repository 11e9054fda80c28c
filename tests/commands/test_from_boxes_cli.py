"""``samcli from-boxes`` end to end: YOLO datasets, COCO detections, errors naming file:line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from tests.commands.conftest import error_lines, invoke, jsonl, write_image

# The random test model's single-mask output is often empty; its best-of-3 is not.
BOX_FAST = ["--multimask", "-q"]


@pytest.fixture
def dataset(tmp_path) -> Path:
    """YOLO layout with the same file name in two splits, plus a label with no image."""
    root = tmp_path / "data"
    for split, seed in (("train", 1), ("val", 2)):
        write_image(root / "images" / split / "a.jpg", seed=seed)
        (root / "labels" / split).mkdir(parents=True)
        (root / "labels" / split / "a.txt").write_text(
            "0 0.3 0.4 0.3 0.4 0.9\r\n"
            "# a comment\n"
            "\n"
            "3  0.7 0.6 0.4 0.5  0.25 7\n"
        )
    (root / "labels" / "val" / "orphan.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "train" / "classes.txt").write_text("cat\ndog\n")
    return root


def test_yolo_dataset_to_records(dataset, mobile_ckpt):
    result = invoke("from-boxes", dataset / "labels", "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 3, result.stderr  # the orphan label has no image
    (err,) = error_lines(result.stderr)
    assert err == (f"Error: {dataset / 'labels' / 'val' / 'orphan.txt'}: no image found for "
                   "this label file (by the /labels/ -> /images/ rule or beside it; use "
                   "--images DIR)")
    records = jsonl(result.stdout)
    assert {r["image"] for r in records} == {"train/a.jpg", "val/a.jpg"}
    for r in records:
        assert list(r)[-4:] == ["class", "box_confidence", "prompt_box", "box_iou"]
        assert r["point"] is None
    train = [r for r in records if r["image"] == "train/a.jpg"]
    assert [r["class"] for r in train] == [0, 3]
    assert [r["box_confidence"] for r in train] == [0.9, 0.25]
    x1, y1, x2, y2 = train[0]["prompt_box"]
    assert (x1, y1, x2, y2) == pytest.approx((9.6, 9.6, 28.8, 28.8))


def test_a_label_without_its_image_under_images_says_where_it_looked(dataset, mobile_ckpt):
    """With --images given, the error says where it looked, not to use --images."""
    result = invoke("from-boxes", dataset / "labels" / "val", "--images",
                    dataset / "images" / "val", "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 3, result.stderr
    assert error_lines(result.stderr) == [
        f"Error: {dataset / 'labels' / 'val' / 'orphan.txt'}: no image found for this label "
        f"file (under {dataset / 'images' / 'val'}, by the label tree's path or flat)"]


def test_filters_min_conf_and_classes(dataset, mobile_ckpt):
    labels = dataset / "labels" / "train"
    r1 = invoke("from-boxes", labels, "--checkpoint", mobile_ckpt, *BOX_FAST, "--min-conf", "0.5")
    assert [r["class"] for r in jsonl(r1.stdout)] == [0]
    r2 = invoke("from-boxes", labels, "--checkpoint", mobile_ckpt, *BOX_FAST, "--classes", "3")
    assert [r["class"] for r in jsonl(r2.stdout)] == [3]
    r3 = invoke("from-boxes", labels, "--checkpoint", mobile_ckpt, *BOX_FAST, "--classes", "x")
    assert r3.exit_code == 2 and "--classes" in error_lines(r3.stderr)[0]


def test_yolo_seg_dataset_no_collisions_no_duplicates(dataset, tmp_path, mobile_ckpt):
    out = tmp_path / "seg"
    args = ["from-boxes", dataset / "labels", "--checkpoint", mobile_ckpt, *BOX_FAST, "-o", out,
            "--format", "yolo"]
    invoke(*args)
    invoke(*args, "--overwrite")  # rerunning must not duplicate rows
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt"))
    assert files == ["train/a.txt", "val/a.txt"]
    for f in files:
        rows = (out / f).read_text().splitlines()
        assert len(rows) == 2
        assert [row.split()[0] for row in rows] == ["0", "3"]
        for row in rows:
            coords = [float(v) for v in row.split()[1:]]
            assert len(coords) >= 6 and len(coords) % 2 == 0
            assert all(0.0 <= c <= 1.0 for c in coords)


def test_yolo_dataset_for_ultralytics(tmp_path, mobile_ckpt):
    """Issue 17.6, the README's worked example: detector labels elsewhere, images in
    data/images, -o data/labels: labels where ultralytics looks, and a data.yaml."""
    import yaml

    from samcli.io.yolo_dataset import ultralytics_label_path

    pred = tmp_path / "runs" / "detect" / "predict" / "labels"
    for split, seed in (("train", 1), ("val", 2)):
        write_image(tmp_path / "data" / "images" / split / f"{split}_1.jpg", seed=seed)
        (pred / split).mkdir(parents=True)
        (pred / split / f"{split}_1.txt").write_text("0 0.3 0.4 0.3 0.4 0.9\n2 0.7 0.6 0.4 0.5\n")
    (pred / "classes.txt").write_text("person\nbicycle\ncar\n")
    result = invoke("from-boxes", pred, "--images", tmp_path / "data" / "images",
                    "--checkpoint", mobile_ckpt, *BOX_FAST, "-o", tmp_path / "data" / "labels",
                    "--format", "yolo")
    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr
    for split in ("train", "val"):
        image = tmp_path / "data" / "images" / split / f"{split}_1.jpg"
        assert ultralytics_label_path(image).read_text().count("\n") == 2
    doc = yaml.safe_load((tmp_path / "data" / "labels" / "data.yaml").read_text())
    assert doc == {"path": str(tmp_path / "data" / "images"), "train": "train", "val": "val",
                   "names": {0: "person", 1: "bicycle", 2: "car"}}


@pytest.mark.parametrize("label, images, needle", [
    ("missing", "nodir", "--images {images}: no such folder"),
    ("a file", "data/labels/val/orphan.txt", "--images {images}: is not a folder"),
    ("empty", "", "--images '': give the images' folder"),
])
def test_a_bad_images_folder_is_refused_before_any_work(dataset, tmp_path, monkeypatch,
                                                        mobile_ckpt, label, images, needle):
    """(Not one failure per input, and an empty value is not silently the label rules.)"""
    monkeypatch.chdir(tmp_path)
    result = invoke("from-boxes", dataset / "labels", "--images", images, "--checkpoint",
                    mobile_ckpt, "-q")
    assert result.exit_code == 1, label
    (error,) = error_lines(result.stderr)
    assert error.startswith(f"Error: {needle.format(images=images)}"), label
    assert result.stdout == ""


def test_coco_output_keeps_categories(dataset, tmp_path, mobile_ckpt):
    out = tmp_path / "coco"
    invoke("from-boxes", dataset / "labels", "--checkpoint", mobile_ckpt, *BOX_FAST, "-o", out,
           "--format", "coco")
    gt = COCO(str(out / "annotations.json"))
    # names from classes.txt (train/); class 3 has none: its id as its name
    assert gt.dataset["categories"] == [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"},
                                        {"id": 3, "name": "3"}]
    assert gt.getImgIds() == [1, 2]  # YOLO inputs: 1..N in path order
    assert {a["category_id"] for a in gt.loadAnns(gt.getAnnIds())} == {0, 3}


def _whole_run_names(out: Path, fmt: str) -> dict[str, str]:
    """{class id (text): name} as the whole-run file of ``fmt`` (coco, yolo) gives them."""
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        return {str(c["id"]): c["name"] for c in doc["categories"]}
    lines = (out / "data.yaml").read_text().split("names:\n", 1)[1].splitlines()
    return {k.strip(): json.loads(v) for k, v in (ln.split(":", 1) for ln in lines)}


def _label_studio(out: Path) -> tuple[list[str], list[list[str]]]:
    """label_config.xml's labels and the tasks' region labels, in order."""
    tasks = json.loads((out / "tasks.json").read_text())
    return (re.findall(r'<Label value="([^"]*)"', (out / "label_config.xml").read_text()),
            [r["value"]["polygonlabels"] for t in tasks for r in t["predictions"][0]["result"]])


@pytest.mark.parametrize("fmt", ["coco", "yolo", "labelstudio"])
def test_runs_over_two_folders_into_one_output_keep_each_folders_names(tmp_path, mobile_ckpt,
                                                                       fmt):
    """One folder names class 1 (classes.txt), the other's class 9 has no name: the second
    run's whole-run files still name the first folder's class (each image's part keeps its
    classes' names), and from-boxes' Label Studio config has no automask 'object' label."""
    for folder, image, row in (("one", "a", "1"), ("two", "b", "9")):
        write_image(tmp_path / folder / f"{image}.png", seed=len(image))
        (tmp_path / folder / f"{image}.txt").write_text(f"{row} 0.5 0.5 0.5 0.5\n")
    (tmp_path / "one" / "classes.txt").write_text("zero\nfive\n")
    out = tmp_path / "out"

    def run(folder: str) -> None:
        result = invoke("from-boxes", tmp_path / folder, "--checkpoint", mobile_ckpt,
                        *BOX_FAST, "-o", out, "--format", fmt)
        assert result.exit_code == 0, result.stderr

    run("one")
    run("two")
    if fmt == "coco":
        assert _whole_run_names(out, fmt) == {"1": "five", "9": "9"}
    elif fmt == "yolo":
        assert _whole_run_names(out, fmt) == {**{str(i): str(i) for i in range(10)},
                                              "1": "five"}
        text = (out / "data.yaml").read_text()
        assert 'train: ["one", "two"]' in text, text  # both runs' image folders
    else:
        assert _label_studio(out) == (["five", "9"], [["five"], ["9"]])
        # a class renamed in classes.txt is renamed in every task, with nothing redone
        (tmp_path / "one" / "classes.txt").write_text("zero\nFIVE\n")
        run("one")
        assert _label_studio(out) == (["zero", "FIVE", "9"], [["FIVE"], ["9"]])


@pytest.mark.parametrize(
    "label, row, needle",
    [
        ("non-numeric", "0 0.5 abc 0.2 0.2", ":1:"),
        ("too few columns", "0 0.5 0.5 0.2", ":1:"),
        ("segment row", "0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2", "segment"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, mobile_ckpt, label, row, needle):
    write_image(tmp_path / "img.png")
    (tmp_path / "img.txt").write_text(row + "\n")
    result = invoke("from-boxes", tmp_path / "img.txt", "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 3, label
    (err,) = error_lines(result.stderr)
    assert "img.txt" in err and needle in err, (label, err)


def test_zero_size_box_warns_and_is_skipped(tmp_path, mobile_ckpt):
    write_image(tmp_path / "img.png")
    (tmp_path / "img.txt").write_text("0 0.5 0.5 0 0.2\n1 1.2 -0.1 0.6 0.4\n")
    result = invoke("from-boxes", tmp_path / "img.txt", "--checkpoint", mobile_ckpt,
                    "--multimask")
    assert result.exit_code == 0, result.stderr
    assert "img.txt:1" in result.stderr and "skipped" in result.stderr
    records = jsonl(result.stdout)
    assert [r["class"] for r in records] == [1]  # clipped to the image, kept
    x1, y1, x2, y2 = records[0]["prompt_box"]
    assert x2 == 64 and y1 == 0


def test_coco_dets(tmp_path, mobile_ckpt):
    images = tmp_path / "imgs"
    write_image(images / "000000000139.jpg")
    dets = [{"image_id": 139, "category_id": 18, "bbox": [5, 5, 20, 20], "score": 0.8},
            {"image_id": 139, "category_id": 1, "bbox": [30, 10, 20, 30], "score": 0.3}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    result = invoke("from-boxes", "--coco-dets", tmp_path / "dets.json", "--images", images,
                    "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [(r["image"], r["class"], r["box_confidence"]) for r in records] == [
        ("000000000139.jpg", 18, 0.8), ("000000000139.jpg", 1, 0.3)]
    assert records[0]["prompt_box"] == [5, 5, 25, 25]


@pytest.fixture
def val2017(tmp_path) -> Path:
    """A COCO-style ground truth with the sparse ids of val2017, its images, and detections
    (one image's recorded size is wrong, one detection's category is not in the ground
    truth)."""
    images = tmp_path / "val2017"
    for seed, image_id in enumerate((139, 285, 632)):
        write_image(images / f"{image_id:012d}.jpg", seed=seed)
    gt = {"images": [{"id": 139, "file_name": "000000000139.jpg", "width": 64, "height": 48},
                     {"id": 285, "file_name": "000000000285.jpg", "width": 64, "height": 48},
                     {"id": 632, "file_name": "000000000632.jpg", "width": 48, "height": 64}],
          "annotations": [],
          "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                         {"id": 18, "name": "dog", "supercategory": "animal"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    dets = [{"image_id": 139, "category_id": 18, "bbox": [5, 5, 20, 20], "score": 0.8},
            {"image_id": 285, "category_id": 1, "bbox": [30, 10, 20, 30], "score": 0.3},
            {"image_id": 632, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9},
            {"image_id": 632, "category_id": 44, "bbox": [2, 2, 30, 30]}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    return tmp_path


def test_coco_dets_keep_the_ground_truths_ids_and_names(val2017, mobile_ckpt):
    """Issue 17.1: image ids, category ids and names are the ground truth's."""
    args = ["--coco-dets", val2017 / "dets.json", "--images", val2017 / "val2017",
            "--image-map", val2017 / "gt.json", "--checkpoint", mobile_ckpt, *BOX_FAST]
    result = invoke("from-boxes", *args, "-o", val2017 / "out", "--format", "coco")
    assert result.exit_code == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "will not line up" in line]
    assert "000000000632.jpg" in warning and "48x64" in warning and "64x48" in warning
    doc = json.loads((val2017 / "out" / "annotations.json").read_text())
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in doc["images"]] == [
        (139, "000000000139.jpg", 64, 48), (285, "000000000285.jpg", 64, 48),
        (632, "000000000632.jpg", 64, 48)]  # the image's real size: the masks'
    assert doc["categories"] == [{"id": 1, "name": "person", "supercategory": "person"},
                                 {"id": 18, "name": "dog", "supercategory": "animal"},
                                 {"id": 44, "name": "44"}]  # (the ground truth's fields)
    anns = doc["annotations"]
    assert [(a["image_id"], a["category_id"]) for a in anns] == [
        (139, 18), (285, 1), (632, 1), (632, 44)]
    assert all("image_id" not in list(a)[3:] for a in anns)  # once, in COCO's place
    gt = COCO(str(val2017 / "gt.json"))
    assert gt.loadRes(anns)  # ids line up with the ground truth's

    stdout = invoke("from-boxes", *args)
    assert stdout.exit_code == 0, stdout.stderr
    records = jsonl(stdout.stdout)
    assert [r["image_id"] for r in records] == [a["image_id"] for a in anns]
    assert all(list(r)[-1] == "image_id" for r in records)  # a new key goes last


def test_coco_dets_without_a_ground_truth_keep_the_detections_ids(tmp_path, mobile_ckpt):
    images = tmp_path / "imgs"
    write_image(images / "000000000139.jpg")
    write_image(images / "frame_7.png")
    dets = [{"image_id": 139, "category_id": 3, "bbox": [5, 5, 20, 20], "score": 0.8},
            {"image_id": "frame_7", "category_id": 3, "bbox": [5, 5, 20, 20], "score": 0.8}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    result = invoke("from-boxes", "--coco-dets", tmp_path / "dets.json", "--images", images,
                    "--checkpoint", mobile_ckpt, *BOX_FAST, "-o", tmp_path / "out",
                    "--format", "coco")
    assert result.exit_code == 0, result.stderr
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [(i["id"], i["file_name"]) for i in doc["images"]] == [
        (139, "000000000139.jpg"), ("frame_7", "frame_7.png")]
    assert doc["categories"] == [{"id": 3, "name": "3"}]


GOOD_DETS = '[{"image_id": 1, "category_id": 0, "bbox": [0, 0, 4, 4], "score": 0.9}]'


@pytest.mark.parametrize("label, dets, image_map, needle", [
    ("a box with a string", '[{"image_id": 1, "bbox": [0, 0, "x", 4]}]', None,
     "--coco-dets {dets}: entry 0"),
    ("no detections file", None, None, "--coco-dets {dets}: no such file"),
    ("no image map file", GOOD_DETS, "absent", "--image-map {map}: no such file"),
    ("an image map that is not JSON", GOOD_DETS, "{", "--image-map {map}:1: not valid JSON"),
])
def test_broken_coco_dets_or_map_is_an_error_before_any_work(tmp_path, mobile_ckpt, label, dets,
                                                             image_map, needle):
    """One Error line naming the option and its file (exit 1), no work, no output."""
    paths = {"dets": tmp_path / "dets.json", "map": tmp_path / "map.json"}
    if dets is not None:
        paths["dets"].write_text(dets)
    if image_map not in (None, "absent"):
        paths["map"].write_text(image_map)
    extra = [] if image_map is None else ["--image-map", paths["map"]]
    result = invoke("from-boxes", "--coco-dets", paths["dets"], "--images", tmp_path, *extra,
                    "--checkpoint", mobile_ckpt, "-o", tmp_path / "out")
    assert result.exit_code == 1, (label, result.stderr)
    (err,) = error_lines(result.stderr)
    assert err.startswith("Error: " + needle.format(**paths)), (label, err)
    assert result.stdout == "" and not (tmp_path / "out").exists(), label


@pytest.mark.parametrize("label, dets, labels, code, needle", [
    ("no detections at all: said, not a silent exit 0", "[]", False, 1, "no detections in"),
    ("label files too: one source of boxes would be ignored", '[{"image_id": 1, "category_id"'
     ': 0, "bbox": [0, 0, 4, 4], "score": 0.9}]', True, 2, "not both"),
])
def test_coco_dets_refusals(tmp_path, mobile_ckpt, label, dets, labels, code, needle):
    (tmp_path / "dets.json").write_text(dets)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    args = [tmp_path / "labels"] if labels else []
    result = invoke("from-boxes", *args, "--coco-dets", tmp_path / "dets.json", "--images",
                    tmp_path, "--checkpoint", mobile_ckpt)
    assert result.exit_code == code, (label, result.stderr)
    (err,) = error_lines(result.stderr)
    assert needle in err, label
    assert result.stdout == "", label


def _dets(*entries: tuple[int, list[float]]) -> str:
    return json.dumps([{"image_id": i, "category_id": 3, "bbox": box, "score": 0.9}
                       for i, box in entries])


DETS_1_2 = _dets((1, [5, 5, 20, 20]), (2, [10, 10, 30, 20]))
MAP_1_2 = {"1": "1.jpg", "2": "2.jpg"}


@pytest.mark.parametrize("label, dets, image_map, summary, expected", [
    ("nothing changed", DETS_1_2, MAP_1_2, "0 images done, 2 skipped",
     [(1, "1.jpg", [5, 5, 25, 25]), (2, "2.jpg", [10, 10, 40, 30])]),
    ("image 1's box edited", _dets((1, [0, 0, 20, 20]), (2, [10, 10, 30, 20])), MAP_1_2,
     "1 image done, 1 skipped",
     [(1, "1.jpg", [0, 0, 20, 20]), (2, "2.jpg", [10, 10, 40, 30])]),
    ("image 1's boxes moved after image 2's", _dets((2, [10, 10, 30, 20]), (1, [5, 5, 20, 20])),
     MAP_1_2, "0 images done, 2 skipped",
     [(1, "1.jpg", [5, 5, 25, 25]), (2, "2.jpg", [10, 10, 40, 30])]),
    ("image 2 no longer named", _dets((1, [5, 5, 20, 20])), MAP_1_2,
     "0 images done, 1 skipped", [(1, "1.jpg", [5, 5, 25, 25])]),
    ("id 1 mapped to another file", DETS_1_2, {"1": "x.png", "2": "2.jpg"},
     "1 image done, 1 skipped", [(2, "2.jpg", [10, 10, 40, 30]), (1, "x.png", [5, 5, 25, 25])]),
])
def test_coco_dets_edited_between_runs(tmp_path, mobile_ckpt, label, dets, image_map, summary,
                                       expected):
    """The detections file and the image map are shared by every image: an image whose
    detections or map entry changed is redone, one untouched is skipped, and annotations.json
    holds this run's images only (in path order), each id once (not an earlier run's image
    for the id)."""
    images = tmp_path / "imgs"
    for seed, name in enumerate(("1.jpg", "2.jpg", "x.png")):
        write_image(images / name, seed=seed)
    paths = {"dets": tmp_path / "dets.json", "map": tmp_path / "map.json"}
    out = tmp_path / "out"
    args = ["from-boxes", "--coco-dets", paths["dets"], "--images", images, "--image-map",
            paths["map"], "--checkpoint", mobile_ckpt, "--multimask", "-o", out, "--format",
            "coco"]
    paths["dets"].write_text(DETS_1_2)
    paths["map"].write_text(json.dumps(MAP_1_2))
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    paths["dets"].write_text(dets)
    paths["map"].write_text(json.dumps(image_map))
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert summary in again.stderr, (label, again.stderr)
    doc = json.loads((out / "annotations.json").read_text())
    names = {i["id"]: i["file_name"] for i in doc["images"]}
    assert len(names) == len(doc["images"]), label  # each image id once
    assert [(a["image_id"], names[a["image_id"]], a["prompt_box"])
            for a in doc["annotations"]] == expected, label
    results = json.loads((out / "results.json").read_text())
    assert len(results) == len(expected), label


@pytest.mark.parametrize("label, files, used, others", [
    ("one image", ["x.jpg"], "x.jpg", []),
    ("three suffixes", ["x.webp", "x.png", "x.jpg"], "x.jpg", ["x.png", "x.webp"]),
    ("an upper-case suffix counts as its own", ["x.png", "x.JPG"], "x.JPG", ["x.png"]),
])
def test_a_label_matching_several_images_says_which_is_used(tmp_path, mobile_ckpt, label, files,
                                                           used, others):
    for seed, name in enumerate(files):
        write_image(tmp_path / "images" / name, seed=seed)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    result = invoke("from-boxes", tmp_path / "labels", "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 0, result.stderr
    assert {r["image"] for r in jsonl(result.stdout)} == {used}, label
    said = [line for line in result.stderr.splitlines() if "images match" in line]
    if not others:
        assert said == [], label
        return
    (line,) = said
    assert line == (f"Warning: {tmp_path / 'labels' / 'x.txt'}: {len(others) + 1} images match "
                    f"({', '.join([used] + others)}); {used} is used (the first in suffix "
                    "order: .jpg .jpeg .png .bmp .tif .tiff .webp)"), label


def test_a_coco_id_matching_several_images_says_which_is_used(tmp_path, mobile_ckpt):
    images = tmp_path / "imgs"
    write_image(images / "1.jpg")
    write_image(images / "000000000001.png", seed=1)
    write_image(images / "2.jpg", seed=2)
    (tmp_path / "dets.json").write_text(_dets((1, [5, 5, 20, 20]), (2, [5, 5, 20, 20])))
    result = invoke("from-boxes", "--coco-dets", tmp_path / "dets.json", "--images", images,
                    "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 0, result.stderr
    assert [r["image"] for r in jsonl(result.stdout)] == ["1.jpg", "2.jpg"]
    said = [line for line in result.stderr.splitlines() if "images match" in line]
    assert said == ["Warning: image_id 1: 2 images match (1.jpg, 000000000001.png); 1.jpg is "
                    "used (the id's own name first, then its 12-digit form; each in suffix "
                    "order; --image-map names the file)"]
    mapped = tmp_path / "map.json"
    mapped.write_text(json.dumps({"1": "000000000001.png", "2": "2.jpg"}))
    result = invoke("from-boxes", "--coco-dets", tmp_path / "dets.json", "--images", images,
                    "--image-map", mapped, "--checkpoint", mobile_ckpt, *BOX_FAST)
    assert result.exit_code == 0 and "images match" not in result.stderr, result.stderr


@pytest.mark.parametrize("label, names_file, note", [
    ("classes.txt", "classes.txt", "a class-names file, not labels: skipped (read for the "
     "class names of the labels beside it)"),
    ("classes.txt in another case", "Classes.TXT", "a class-names file, not labels: skipped "
     "(read for the class names of the labels beside it)"),
    ("LabelImg's list", "predefined_classes.txt", "LabelImg's list of classes to offer, not "
     "labels: skipped (class names come from classes.txt or the dataset's data.yaml)"),
])
def test_a_class_names_file_named_directly_is_skipped_with_a_warning(dataset, tmp_path,
                                                                     mobile_ckpt, label,
                                                                     names_file, note):
    """``labels/train/*.txt`` from a shell names classes.txt too: not read as labels (it would
    fail as one), said once; classes.txt's names (in any case: the walk skips it in any case)
    still name the classes."""
    train = dataset / "labels" / "train"
    if names_file == "Classes.TXT":
        (train / "classes.txt").rename(train / names_file)
    if names_file == "predefined_classes.txt":
        (train / names_file).write_text("zebra\n")
    out = tmp_path / "out"
    result = invoke("from-boxes", train / "a.txt", train / names_file, "--checkpoint",
                    mobile_ckpt, *BOX_FAST, "-o", out, "--format", "coco")
    assert result.exit_code == 0, (label, result.stderr)
    assert result.stderr.splitlines() == [f"Warning: {train / names_file}: {note}"], label
    doc = json.loads((out / "annotations.json").read_text())
    assert {c["id"]: c["name"] for c in doc["categories"]}[0] == "cat", label


def test_an_image_replaced_while_its_label_is_processed_is_redone(tmp_path, mobile_ckpt,
                                                                  monkeypatch):
    """The image's identity is taken when the run starts, as the label's is: a file
    replaced after it was read is recorded as the old one, so the next run redoes it
    (it used to record the new file beside the old file's masks, and skip it)."""
    import samcli.jobs

    data = tmp_path / "data"
    image = write_image(data / "images" / "a.png", seed=3)
    (data / "labels").mkdir()
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.6 0.6\n")
    segment = samcli.jobs.segment_boxes

    def replace_then_segment(*args, **kwargs):
        write_image(image, seed=9)  # after the image was read, before the outputs
        return segment(*args, **kwargs)

    monkeypatch.setattr(samcli.jobs, "segment_boxes", replace_then_segment)
    args = ("from-boxes", data / "labels", "--checkpoint", mobile_ckpt, "--multimask", "-o",
            tmp_path / "out")
    assert invoke(*args).exit_code == 0
    monkeypatch.setattr(samcli.jobs, "segment_boxes", segment)
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert "samcli: 1 label file done;" in again.stderr


def test_images_folder_spelled_otherwise_redoes_nothing(dataset, mobile_ckpt, monkeypatch):
    """--images dir, dir/ and the absolute path are one folder in the resume key."""
    monkeypatch.chdir(dataset)
    out = dataset.parent / "out"
    for images in ("images/val", "images/val/", str(dataset / "images" / "val")):
        result = invoke("from-boxes", dataset / "labels" / "val" / "a.txt", "--images", images,
                        "--checkpoint", mobile_ckpt, "--multimask", "-o", out)
        assert result.exit_code == 0, result.stderr
        summary = next(line for line in result.stderr.splitlines()
                       if line.startswith("samcli: "))
        expected = "1 label file done" if images == "images/val" else "0 label files done"
        assert summary.startswith(f"samcli: {expected}"), (images, summary)
