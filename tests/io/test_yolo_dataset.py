"""data.yaml for --format yolo (samcli.io.yolo_dataset) and the YOLO writer's dataset checks;
read back by PyYAML, by samcli's own names reader, and by supervision (a real client)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from samcli.io.formats import YoloWriter
from samcli.io.labels import parse_yaml_names
from samcli.io.records import kept_indices
from samcli.io.yolo_dataset import (DENSE_NAMES_LIMIT, dataset_yaml, image_root, splits_of,
                                    ultralytics_label_path)
from tests.io.helpers import H, W, make_result, records_of, with_records

LABEL_PATHS = [
    ("the images folder becomes labels", "/d/images/train/a.jpg", "/d/labels/train/a.txt"),
    ("the last images folder wins", "/images/x/images/a.png", "/images/x/labels/a.txt"),
    ("no images folder: beside the image", "/d/photos/a.jpg", "/d/photos/a.txt"),
    ("a file named images is no folder", "/d/x/images", "/d/x/images.txt"),
    ("'images2' is not 'images'", "/d/images2/a.jpg", "/d/images2/a.txt"),
    ("dotted stem keeps its dots", "/d/images/a.b.jpg", "/d/labels/a.b.txt"),
]


@pytest.mark.parametrize("label, image, expected", LABEL_PATHS, ids=[c[0] for c in LABEL_PATHS])
def test_ultralytics_label_path(label, image, expected):
    assert ultralytics_label_path(Path(image)) == Path(expected), label


SPLITS = [
    ("train and val folders", ["train/a.jpg", "val/b.jpg", "train/c/d.jpg"],
     {"train": ["train"], "val": ["val"]}),
    ("valid is val, test kept", ["train/a.jpg", "valid/b.jpg", "test/c.jpg"],
     {"train": ["train"], "val": ["valid"], "test": ["test"]}),
    ("train without val: no splits", ["train/a.jpg", "other/b.jpg"], {}),
    ("flat", ["a.jpg", "b.jpg"], {}),
]


@pytest.mark.parametrize("label, images, expected", SPLITS, ids=[c[0] for c in SPLITS])
def test_splits_of(label, images, expected):
    assert splits_of(images) == expected, label


def test_image_root():
    assert image_root(Path("/d/images/train/a.jpg"), "train/a.jpg") == Path("/d/images")
    assert image_root(Path("/d/images/a.jpg"), "train/a.jpg") is None  # found flat
    # a name that is not UTF-8: the record writes its byte as \xff, the file system keeps it
    # as a surrogate; one undecodable file name stopped data.yaml for the whole dataset
    assert image_root(Path("/d/images/train/caf\udcff.jpg"),
                      "train/caf\\xff.jpg") == Path("/d/images")


def test_dataset_yaml_reads_back_in_pyyaml_and_samcli():
    names = {0: "person", 2: 'a "quoted" name: with colon # and hash', 3: "ü"}
    text = dataset_yaml([Path("/data/ds/images")], ["train/a.jpg", "val/b.jpg"], names,
                        used=[5])
    doc = yaml.safe_load(text)
    assert doc["path"] == "/data/ds/images"
    assert (doc["train"], doc["val"]) == ("train", "val") and "test" not in doc
    expected = {0: "person", 1: "1", 2: names[2], 3: "ü", 4: "4", 5: "5"}  # no gaps
    assert doc["names"] == expected
    assert parse_yaml_names(text) == expected

    several = yaml.safe_load(dataset_yaml([Path("/a/x"), Path("/a/y")], ["p.jpg"], {}))
    assert several["path"] == "/a" and several["train"] == several["val"] == ["x", "y"]
    assert "test" not in several
    assert several["names"] == {}


@pytest.mark.parametrize("label, top, dense", [
    ("at the limit: every id below the largest", DENSE_NAMES_LIMIT - 1, True),
    ("just over it: only the ids named or used", DENSE_NAMES_LIMIT, False),
    ("the largest id allowed (2^31 - 1) takes no memory to speak of", 2**31 - 1, False),
])
def test_dataset_yaml_with_huge_class_ids(label, top, dense):
    text = dataset_yaml([Path("/d/images")], ["a.jpg"], {0: "person"}, used=[7, top])
    assert len(text) < (20 * DENSE_NAMES_LIMIT if dense else 1000), label
    # PyYAML's C loader where it has one: the pure-Python one takes 10 s on 100 000 names
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if dense:
        assert len(doc["names"]) == top + 1 and doc["names"][top] == str(top), label
    else:
        assert doc["names"] == {0: "person", 7: "7", top: str(top)}, label
        assert "renumber" in text, label
    assert parse_yaml_names(text) == doc["names"], label


def _dataset(root: Path, splits=("train", "val")) -> list:
    """Images on disk under root/images/<split>/, and results pointing at them."""
    results = []
    for seed, split in enumerate(splits):
        path = root / "images" / split / f"{split}1.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 90, np.uint8)).save(path)
        extras = [{"class": 2 + (i % 2)} for i in range(5)]
        res = dataclasses.replace(make_result(f"{split}/{split}1.png", extras=extras, seed=seed),
                                  source=path)
        results.append(with_records(res, records_of(res, 0.0, None)))
    return results


def _run(writer: YoloWriter, results) -> list[Path]:
    for res in results:
        writer.write(res)
    return writer.finish([r.image for r in results])


def test_yolo_dataset_where_ultralytics_looks(tmp_path):
    """Issue 17.6: -o DIR/labels beside DIR/images: every label is where ultralytics looks,
    and data.yaml names the image folders and every class."""
    results = _dataset(tmp_path / "ds")
    said: list[str] = []
    (data,) = _run(YoloWriter(tmp_path / "ds" / "labels", {2: "cat"}, warn=said.append),
                   results)
    assert said == []
    assert data == tmp_path / "ds" / "labels" / "data.yaml"
    for res in results:
        assert ultralytics_label_path(res.source).is_file()
    doc = yaml.safe_load(data.read_text())
    assert Path(doc["path"]) == tmp_path / "ds" / "images"
    assert (doc["train"], doc["val"]) == ("train", "val")
    assert doc["names"] == {0: "0", 1: "1", 2: "cat", 3: "3"}


def test_yolo_labels_elsewhere_are_named_in_one_warning(tmp_path):
    results = _dataset(tmp_path / "ds")
    said: list[str] = []
    _run(YoloWriter(tmp_path / "out", warn=said.append), results)
    (message,) = said
    assert "ultralytics will not find" in message and "labels/train/train1.txt" in message
    assert f"where samcli wrote {tmp_path / 'out' / 'train' / 'train1.txt'}" in message
    assert (tmp_path / "out" / "data.yaml").is_file()  # still right about the images


def test_yolo_images_outside_the_mirror_get_no_data_yaml(tmp_path):
    (res,) = _dataset(tmp_path / "ds", splits=("train",))
    flat = dataclasses.replace(res, image="elsewhere/train1.png")
    said: list[str] = []
    assert _run(YoloWriter(tmp_path / "out", warn=said.append), [flat]) == []
    assert len(said) == 1 and "data.yaml not written" in said[0]
    assert f"such as {res.source}, whose record path is elsewhere/train1.png" in said[0]
    assert "--images DIR flat" not in said[0]  # one cause among several, not the only one


def test_resumed_yolo_run_with_nothing_to_do_writes_the_same_data_yaml(tmp_path):
    results = _dataset(tmp_path / "ds")
    out = tmp_path / "ds" / "labels"
    _run(YoloWriter(out, warn=print), results)
    before = (out / "data.yaml").read_text()
    assert YoloWriter(out, warn=print).finish([r.image for r in results]) == [
        out / "data.yaml"]
    assert (out / "data.yaml").read_text() == before


def test_resumed_yolo_run_with_nothing_to_do_replaces_an_earlier_runs_data_yaml(tmp_path):
    """Issue F3: a run killed after its last label, before data.yaml, leaves the data.yaml of
    the run before it (train only: ``train: "."``); the rerun, with nothing left to do,
    writes the data.yaml of the uninterrupted run (``train: "train"``, ``val: "val"``)."""
    train, val = _dataset(tmp_path / "ds")
    out, ref = tmp_path / "ds" / "labels", tmp_path / "ds" / "ref"
    for folder in (out, ref):
        _run(YoloWriter(folder, {2: "cat"}, warn=print), [train])
    assert yaml.safe_load((out / "data.yaml").read_text())["train"] == "."
    _run(YoloWriter(ref, {2: "cat"}, warn=print), [train, val])  # uninterrupted
    YoloWriter(out, {2: "cat"}, warn=print).write(val)  # killed before finish
    assert yaml.safe_load((out / "data.yaml").read_text())["val"] == "."  # stale
    YoloWriter(out, {2: "cat"}, warn=print).finish([train.image, val.image])  # the rerun
    assert (out / "data.yaml").read_bytes() == (ref / "data.yaml").read_bytes()
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert (doc["train"], doc["val"]) == ("train", "val")


def test_resumed_yolo_run_names_classes_as_this_run_does(tmp_path):
    """Issue F3: a class renamed since (classes.txt) is renamed in data.yaml by a rerun with
    nothing left to do, as in Label Studio's files; a class this run does not name keeps
    the name the earlier run's parts kept."""
    results = _dataset(tmp_path / "ds")
    out = tmp_path / "ds" / "labels"
    _run(YoloWriter(out, {2: "cat", 3: "dog"}, warn=print), results)
    YoloWriter(out, {2: "kitty"}, warn=print).finish([r.image for r in results])
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    assert names == {0: "0", 1: "1", 2: "kitty", 3: "dog"}


def test_resumed_yolo_run_makes_a_data_yaml_a_stopped_run_never_wrote(tmp_path):
    """The run that wrote the labels stopped before data.yaml (killed, or data.yaml was a
    folder then): a resumed run with nothing left to do makes it from the images' parts."""
    results = _dataset(tmp_path / "ds")
    out = tmp_path / "ds" / "labels"
    _run(YoloWriter(out, {2: "cat"}, warn=print), results)
    before = (out / "data.yaml").read_text()
    (out / "data.yaml").unlink()
    assert YoloWriter(out, {2: "cat"}, warn=print).finish([r.image for r in results]) == [
        out / "data.yaml"]
    assert (out / "data.yaml").read_text() == before
    assert YoloWriter(out, warn=print).finish([]) == []  # no done images: none made


def test_supervision_reads_the_dataset(tmp_path):
    """A real client: supervision's YOLO loader takes the labels and data.yaml as written."""
    sv = pytest.importorskip("supervision")

    results = _dataset(tmp_path / "ds")
    _run(YoloWriter(tmp_path / "ds" / "labels", {2: "cat", 3: "dog"}, warn=print), results)
    for res in results:
        split = res.image.split("/")[0]
        ds = sv.DetectionDataset.from_yolo(
            images_directory_path=str(tmp_path / "ds" / "images" / split),
            annotations_directory_path=str(tmp_path / "ds" / "labels" / split),
            data_yaml_path=str(tmp_path / "ds" / "labels" / "data.yaml"), force_masks=True)
        assert ds.classes == ["0", "1", "cat", "dog"]
        ((_, _, det),) = list(ds)
        assert det.class_id.tolist() == [r["class"] for r in res.records]
        for mask, i in zip(det.mask, kept_indices(res.masks)):
            # supervision fills polygons at pixel indices (cv2.fillPoly), samcli's vertices
            # are pixel corners: its mask is ours plus, at most, the next pixel right/down,
            # and for a bridged two-part mask the 1-px line of the bridge
            want = res.masks.mask(int(i))
            grown = want.copy()
            grown[1:] |= want[:-1]
            grown[:, 1:] |= grown[:, :-1]
            assert not (want & ~mask).any()
            assert (mask & ~grown).sum() <= (max(H, W) if i == 1 else 0)


@pytest.mark.parametrize("label, name", [
    ("a line separator between blanks", "a \u2028 z"),
    ("next line and paragraph separators", "x\x85 y\u2029 w"),
    ("DEL and a C1 control", "d\x7f c\x9f"),
    ("plain non-ASCII, a quote and a tab", "é \"q\"\t"),
])
def test_names_read_back_unchanged_by_a_yaml_reader(label, name):
    """JSON leaves these characters raw; YAML reads some as line breaks (losing the blanks
    beside them) and refuses others: they are written as escapes."""
    text = dataset_yaml([Path("/d/images")], ["a.jpg"], {0: name})
    assert yaml.safe_load(text)["names"] == {0: name}, label
    assert parse_yaml_names(text, "data.yaml") == {0: name}, label
