"""The image of a label file, and label folders (samcli.io.labels.lookup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from samcli.io.labels import (
    collect_label_files,
    find_image_for_label,
)
from tests.io.labels.files import touch


# ----------------------------------------------------------------------------- image lookup


def test_yolo_rule(tmp_path):
    lbl = tmp_path / "data" / "labels" / "train" / "a.txt"
    img = tmp_path / "data" / "images" / "train" / "a.jpg"
    touch(lbl, img)
    assert find_image_for_label(lbl) == img


def test_yolo_rule_last_labels_component_wins(tmp_path):
    lbl = tmp_path / "labels" / "proj" / "labels" / "val" / "b.txt"
    right = tmp_path / "labels" / "proj" / "images" / "val" / "b.png"
    wrong = tmp_path / "images" / "proj" / "labels" / "val" / "b.png"
    touch(lbl, right, wrong)
    assert find_image_for_label(lbl) == right


def test_yolo_rule_relative_path(tmp_path, monkeypatch):
    touch(tmp_path / "labels" / "a.txt", tmp_path / "images" / "a.webp")
    monkeypatch.chdir(tmp_path)
    assert find_image_for_label(Path("labels/a.txt")) == Path("images/a.webp")
    # inside the labels folder: the absolute path supplies the component
    monkeypatch.chdir(tmp_path / "labels")
    assert find_image_for_label(Path("a.txt")) == tmp_path / "images" / "a.webp"


def test_labels_must_be_whole_component(tmp_path):
    lbl = tmp_path / "mylabels" / "a.txt"
    touch(lbl, tmp_path / "myimages" / "a.jpg", tmp_path / "mylabels" / "a.png")
    assert find_image_for_label(lbl) == tmp_path / "mylabels" / "a.png"  # beside it


def test_beside_when_yolo_rule_misses(tmp_path):
    lbl = tmp_path / "labels" / "a.txt"
    beside = tmp_path / "labels" / "a.jpg"
    touch(lbl, beside)
    assert find_image_for_label(lbl) == beside


def test_extension_preference_and_case(tmp_path):
    d = tmp_path / "x"
    lbl = d / "a.txt"
    touch(lbl, d / "a.png", d / "a.webp", d / "a.JPG", d / "a.jpeg")
    # .jpg (upper-case spelling) comes before .jpeg, .png, .webp
    found = find_image_for_label(lbl)
    assert found is not None and found.name.lower() == "a.jpg"
    (d / "a.JPG").unlink()
    assert find_image_for_label(lbl) == d / "a.jpeg"
    touch(d / "b.txt", d / "b.TIFF")
    assert find_image_for_label(d / "b.txt") == d / "b.TIFF"


def test_dotted_stem(tmp_path):
    lbl = tmp_path / "labels" / "img.001.txt"
    img = tmp_path / "images" / "img.001.png"
    touch(lbl, img)
    assert find_image_for_label(lbl) == img


def test_not_found(tmp_path):
    lbl = tmp_path / "labels" / "a.txt"
    touch(lbl, tmp_path / "images" / "a.gif")
    assert find_image_for_label(lbl) is None


def test_images_dir_mirrors_labels_root(tmp_path):
    labels = tmp_path / "lbl"
    images = tmp_path / "img"
    lbl = labels / "train" / "a.txt"
    touch(lbl, images / "train" / "a.png", images / "a.jpg", tmp_path / "images" / "train" / "a.jpg")
    assert find_image_for_label(lbl, images, labels) == images / "train" / "a.png"
    # a lone label file: DIR / stem
    assert find_image_for_label(lbl, images, None) == images / "a.jpg"
    # mirrored path missing: flat DIR / stem
    (images / "train" / "a.png").unlink()
    assert find_image_for_label(lbl, images, labels) == images / "a.jpg"
    # --images is the only place searched when given
    (images / "a.jpg").unlink()
    assert find_image_for_label(lbl, images, labels) is None


# ----------------------------------------------------------------------------- label folders


def test_collect_label_files(tmp_path):
    root = tmp_path / "labels"
    touch(root / "b.txt", root / "a" / "c.TXT", root / "classes.txt", root / "Classes.txt",
          root / "sub" / "predefined_classes.txt", root / "data.yaml", root / ".cache" / "x.txt",
          root / "img.jpg")
    items, problems = collect_label_files([str(root)])
    assert problems == []
    assert [i.rel for i in items] == ["a/c.TXT", "b.txt"]
    assert all(i.root == root for i in items)
    items, problems = collect_label_files([str(root / "classes.txt"), str(root / "img.jpg"),
                                           str(root / "nope.txt")])
    assert [i.rel for i in items] == [str(root / "classes.txt")]  # named explicitly: used
    assert len(problems) == 2 and "not a supported label file type" in problems[0].message


@pytest.mark.parametrize("label, files, given, kept, refused", [
    ("one folder", ["a.txt", "a.TXT", "b.Txt"], ["."], ["a.TXT", "b.Txt"], ["a.txt"]),
    ("named directly", ["a.txt", "a.TXT"], ["a.txt", "a.TXT"], ["a.txt"], ["a.TXT"]),
    ("other folders", ["x/a.txt", "y/a.TXT"], ["."], ["x/a.txt", "y/a.TXT"], []),
    ("other stems", ["a.txt", "a.b.txt", "A.txt"], ["."], ["A.txt", "a.b.txt", "a.txt"], []),
])
def test_label_files_that_differ_only_in_the_case_of_txt_are_refused(
        tmp_path, monkeypatch, label, files, given, kept, refused):
    """a.txt and a.TXT find the same image and write the same outputs (a.png.jsonl): the
    first (walk order: sorted, case-sensitively) is kept, the later one is a problem."""
    monkeypatch.chdir(tmp_path)
    touch(*(tmp_path / f for f in files))
    items, problems = collect_label_files(given)
    assert sorted(Path(i.path).as_posix().removeprefix("./") for i in items) == kept, label
    assert [p.input for p in problems] == refused, label
    for problem in problems:
        assert "names the same image as" in problem.message, label


def test_label_items_feed_image_lookup(tmp_path):
    ds = tmp_path / "ds"
    touch(ds / "labels" / "train" / "a.txt", ds / "images" / "train" / "a.jpg")
    items, _ = collect_label_files([str(ds / "labels")])
    assert find_image_for_label(items[0].path, None, items[0].root) == ds / "images" / "train" / "a.jpg"
