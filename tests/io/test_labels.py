"""YOLO box labels, pixel conversion, image lookup, label folders, COCO detections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samcli.errors import InputError
from samcli.io.labels import (
    MAX_CLASS_ID,
    MAX_IMAGE_ID,
    BoxLabel,
    CocoDet,
    CocoImage,
    ImageMap,
    boxes_to_pixels,
    clip_boxes,
    coco_dets_to_xyxy,
    collect_class_names,
    collect_label_files,
    find_class_names_file,
    find_image_for_label,
    image_id_key,
    load_coco_categories,
    load_coco_images,
    load_image_map,
    parse_coco_dets,
    parse_yaml_names,
    parse_yolo_labels,
    read_class_names,
    read_image_map,
    resolve_coco_images,
    yolo_class_names,
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


# ----------------------------------------------------------------------------- YOLO rows

GOOD = [
    # (file content, expected [(cls, cx, cy, w, h, conf, track, line)])
    ("0 0.5 0.5 0.2 0.4\n", [(0, 0.5, 0.5, 0.2, 0.4, None, None, 1)]),
    ("3 0.5 0.5 0.2 0.4 0.87\n", [(3, 0.5, 0.5, 0.2, 0.4, 0.87, None, 1)]),
    ("3 0.5 0.5 0.2 0.4 0.87 12\n", [(3, 0.5, 0.5, 0.2, 0.4, 0.87, 12, 1)]),
    ("  1   0.1\t0.2 \t 0.3  0.4  \n", [(1, 0.1, 0.2, 0.3, 0.4, None, None, 1)]),
    ("0 .5 5e-1 1E-1 +0.25\r\n1 0.5 0.5 1 1\r\n",
     [(0, 0.5, 0.5, 0.1, 0.25, None, None, 1), (1, 0.5, 0.5, 1.0, 1.0, None, None, 2)]),
    ("\ufeff2 0.5 0.5 0.1 0.1\n", [(2, 0.5, 0.5, 0.1, 0.1, None, None, 1)]),
    ("# header\n\n   \n0 0.5 0.5 0.1 0.1 # a car\n#0 1 1 1 1\n1 0.2 0.2 0.1 0.1",
     [(0, 0.5, 0.5, 0.1, 0.1, None, None, 4), (1, 0.2, 0.2, 0.1, 0.1, None, None, 6)]),
    ("0 1.5 -0.2 -0.1 3\n", [(0, 1.5, -0.2, -0.1, 3.0, None, None, 1)]),  # not errors here
    ("7.0 0.5 0.5 0.1 0.1 0.5 4.0\n", [(7, 0.5, 0.5, 0.1, 0.1, 0.5, 4, 1)]),
    ("", []),
    ("\n\n# only comments\n", []),
    # ids written as any numeral equal to an integer, up to 2^31 - 1
    ("2147483647 0.5 0.5 0.1 0.1 1 2.147483647e9\n",
     [(2147483647, 0.5, 0.5, 0.1, 0.1, 1.0, 2147483647, 1)]),
    ("3e0 0.5 0.5 0.1 0.1 0 -0\n", [(3, 0.5, 0.5, 0.1, 0.1, 0.0, 0, 1)]),
    ("0.000 0.5 0.5 0.1 0.1 -0.0\n", [(0, 0.5, 0.5, 0.1, 0.1, 0.0, None, 1)]),
    # a lone CR ends a line too (classic Mac files)
    ("0 0.5 0.5 0.1 0.1\r1 0.5 0.5 0.1 0.1\r", [(0, 0.5, 0.5, 0.1, 0.1, None, None, 1),
                                            (1, 0.5, 0.5, 0.1, 0.1, None, None, 2)]),
    # huge but finite coordinates are clipped later, not errors here
    ("0 1e300 0.5 1e308 0.1\n", [(0, 1e300, 0.5, 1e308, 0.1, None, None, 1)]),
]


@pytest.mark.parametrize("content,expected", GOOD)
def test_parse_good(tmp_path, content, expected):
    p = write(tmp_path / "a.txt", content)
    got = parse_yolo_labels(p)
    assert [(b.cls, b.cx, b.cy, b.w, b.h, b.conf, b.track_id, b.line) for b in got] == expected
    assert all(isinstance(b.cls, int) for b in got)


BAD = [
    # (content, line, message fragment)
    ("0 0.5 0.5 0.1\n", 1, "4 columns, expected 5 to 7"),
    ("0 0.5 0.5 0.1 0.1\n0\n", 2, "1 column, expected"),
    ("0 0.5 0.5 0.1 zero\n", 1, "h 'zero' is not a number"),
    ("0 0.5 0.5 0.1 0.1,\n", 1, "is not a number"),
    ("car 0.5 0.5 0.1 0.1\n", 1, "class 'car' is not a number"),
    ("1.5 0.5 0.5 0.1 0.1\n", 1, "class '1.5' is not an integer"),
    ("-1 0.5 0.5 0.1 0.1\n", 1, "class '-1' is negative"),
    ("0 nan 0.5 0.1 0.1\n", 1, "cx 'nan' is not finite"),
    ("0 0.5 inf 0.1 0.1\n", 1, "cy 'inf' is not finite"),
    ("0 0.5 0.5 1e999 0.1\n", 1, "w '1e999' is out of range"),
    ("0 0.5 0.5 0.1 0.1 high\n", 1, "confidence 'high' is not a number"),
    ("\n# c\n0 0.5 0.5 0.1 0.1 0.9 0.25\n", 3, "track id '0.25' is not an integer"),
    ("0 0.1 0.1 0.2 0.1 0.2 0.2 0.1\n", 1, "segment (polygon) label, not a box"),
    ("0 0.5 0.5 0.1 0.1\r\n1 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9\r\n", 2, "10 columns"),
    # issue 14.1: ids too large for an integer are errors, not OverflowError or a wrapped id
    ("99999999999999999999 0.5 0.5 0.1 0.1\n", 1,
     "class '99999999999999999999' is out of range (class ids are integers from 0 to 2147483647)"),
    ("9223372036854775808 0.5 0.5 0.1 0.1\n", 1, "class '9223372036854775808' is out of range"),
    ("3e19 0.5 0.5 0.1 0.1\n", 1, "class '3e19' is out of range"),
    ("1e400 0.5 0.5 0.1 0.1\n", 1, "class '1e400' is out of range"),
    ("2147483648 0.5 0.5 0.1 0.1\n", 1, "class '2147483648' is out of range"),
    ("0 0.5 0.5 0.1 0.1 0.5 9223372036854775808\n", 1,
     "track id '9223372036854775808' is out of range (track ids are integers from 0 to"),
    ("0 0.5 0.5 0.1 0.1 0.5 3e19\n", 1, "track id '3e19' is out of range"),
    ("0 0.5 0.5 0.1 0.1 0.5 -2\n", 1, "track id '-2' is negative"),
    # exactness: no float rounding to an integer
    ("1.0000000000000001 0.5 0.5 0.1 0.1\n", 1, "class '1.0000000000000001' is not an integer"),
    ("1e-400 0.5 0.5 0.1 0.1\n", 1, "class '1e-400' is not an integer"),
    ("-1e-400 0.5 0.5 0.1 0.1\n", 1, "class '-1e-400' is not an integer"),
    # forms Python's float()/int() accept but a label file should not hold
    ("1_0 0.5 0.5 0.1 0.1\n", 1, "class '1_0' is not a number (plain ASCII decimals only"),
    ("\u0663 0.5 0.5 0.1 0.1\n", 1, "class '\u0663' is not a number (plain ASCII"),
    ("0 0.5 0.5 0.1 0.1 0.5 \uff17\n", 1, "track id '\uff17' is not a number"),
    ("0 0.\u0665 0.5 0.1 0.1\n", 1, "cx '0.\u0665' is not a number"),
    ("0 0.5 0.5 0.1 0.1 0_5\n", 1, "confidence '0_5' is not a number"),
    ("0 0.5 0.5 0.1 0.1 nan\n", 1, "confidence 'nan' is not finite"),
    ("0 0.5 0.5 0.1 0.1 -inf\n", 1, "confidence '-inf' is not finite"),
    ("0 0.5 0.5 0.1 0.1 1e999\n", 1, "confidence '1e999' is out of range"),
    ("0 0.5 0.5 0.1 0.1 0x1\n", 1, "confidence '0x1' is not a number"),
    # confidences outside [0, 1]: an error naming the line, not clipped
    ("0 0.5 0.5 0.1 0.1 1.5\n", 1, "confidence '1.5' is outside [0, 1]"),
    ("0 0.5 0.5 0.1 0.1 -0.01\n", 1, "confidence '-0.01' is outside [0, 1]"),
    ("0 0.5 0.5 0.1 0.1 87\n", 1, "confidence '87' is outside [0, 1]"),
    # control characters and NUL bytes are named, escaped
    ("0 0.5\x00 0.5 0.1 0.1\n", 1, "cx '0.5\\x00' is not a number"),
    ("0 0.5 0.5 0.1 0.1\n\x07 0.5 0.5 0.1 0.1\n", 2, "class '\\x07' is not a number"),
    # very long fields are cut in the message
    ("1" * 5000 + " 0.5 0.5 0.1 0.1\n", 1, "... (5000 characters) is out of range"),
]


@pytest.mark.parametrize("content,line,fragment", BAD)
def test_parse_bad_names_file_and_line(tmp_path, content, line, fragment):
    p = write(tmp_path / "sub dir" / "lbl.txt", content)
    with pytest.raises(InputError) as ei:
        parse_yolo_labels(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:{line}: "), msg
    assert fragment in msg


def test_ids_reach_int64_arrays_unchanged(tmp_path):
    # the largest id survives the int64 (and int32) arrays downstream
    p = write(tmp_path / "a.txt", "2147483647 0.5 0.5 0.1 0.1 0.5 2147483647\n")
    (b,) = parse_yolo_labels(p)
    assert np.array([b.cls], dtype=np.int64)[0] == b.cls == 2147483647
    assert np.array([b.track_id], dtype=np.int32)[0] == b.track_id


def test_long_bad_number_is_linear(tmp_path):
    # '\\d+\\.?\\d*' backtracked in O(n^2): 20,000 digits and an 'x' took 10 s
    import time

    p = write(tmp_path / "a.txt", "0 " + "1" * 1_000_000 + "x 0.5 0.1 0.1\n")
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="is not a number"):
        parse_yolo_labels(p)
    assert time.perf_counter() - t0 < 2.0


def test_long_error_message_is_short(tmp_path):
    p = write(tmp_path / "a.txt", "0 " + "9" * 1_000_000 + " 0.5 0.1 0.1\n")
    with pytest.raises(InputError) as ei:
        parse_yolo_labels(p)
    assert len(str(ei.value)) < 200 + len(str(p))


def test_parse_file_problems(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        parse_yolo_labels(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="folder"):
        parse_yolo_labels(tmp_path)
    p = write(tmp_path / "latin1.txt", b"0 0.5 0.5 0.1 0.1\n# caf\xe9\n")
    with pytest.raises(InputError, match=r"latin1.txt:2: not UTF-8"):
        parse_yolo_labels(p)


# ----------------------------------------------------------------------------- to pixels


def test_boxes_to_pixels_basic():
    labels = [BoxLabel(0, 0.5, 0.5, 0.5, 0.5, line=1), BoxLabel(1, 0.25, 0.75, 0.5, 0.5, line=2)]
    xyxy, keep, warnings = boxes_to_pixels(labels, 640, 480)
    np.testing.assert_allclose(xyxy, [[160, 120, 480, 360], [0, 240, 320, 480]])
    assert keep.tolist() == [True, True] and warnings == []
    assert xyxy.dtype == np.float64 and xyxy.shape == (2, 4)


@pytest.mark.parametrize(
    "label,expected,kept,why",
    [
        # out of range: clipped to the image
        (BoxLabel(0, 1.0, 1.0, 0.5, 0.5, line=3), [75, 75, 100, 100], True, None),
        (BoxLabel(0, -0.1, 0.5, 0.4, 0.2, line=3), [0, 40, 10, 60], True, None),
        (BoxLabel(0, 0.5, 0.5, 3.0, 3.0, line=3), [0, 0, 100, 100], True, None),
        # entirely outside: empty after clipping
        (BoxLabel(0, 1.5, 0.5, 0.2, 0.2, line=3), [100, 40, 100, 60], False, "empty after clipping"),
        (BoxLabel(0, -0.5, -0.5, 0.2, 0.2, line=3), [0, 0, 0, 0], False, "empty after clipping"),
        # zero and negative sizes
        (BoxLabel(0, 0.5, 0.5, 0.0, 0.2, line=3), [50, 40, 50, 60], False, "zero size"),
        (BoxLabel(0, 0.5, 0.5, 0.2, -0.2, line=3), [40, 60, 60, 40], False, "negative"),
    ],
)
def test_boxes_to_pixels_clip_and_skip(tmp_path, label, expected, kept, why):
    src = tmp_path / "l.txt"
    xyxy, keep, warnings = boxes_to_pixels([label], 100, 100, source=src)
    np.testing.assert_allclose(xyxy[0], expected, atol=1e-9)
    assert keep.tolist() == [kept]
    if kept:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert warnings[0].startswith(f"{src}:3: ") and why in warnings[0] and "skipped" in warnings[0]


def test_boxes_to_pixels_empty_and_min_size():
    xyxy, keep, warnings = boxes_to_pixels([], 10, 10)
    assert xyxy.shape == (0, 4) and keep.shape == (0,) and warnings == []
    tiny = [BoxLabel(0, 0.5, 0.5, 0.05, 0.05, line=1)]  # 0.5 px at 10x10
    assert boxes_to_pixels(tiny, 10, 10).keep.tolist() == [True]
    res = boxes_to_pixels(tiny, 10, 10, min_size=1.0)
    assert res.keep.tolist() == [False] and "1 px" in res.warnings[0]


def test_boxes_to_pixels_huge_finite_values_no_overflow_warning(tmp_path):
    import warnings as _w

    labels = [BoxLabel(0, 0.5, 0.5, 1e308, 1e308, line=1),  # whole image
              BoxLabel(0, 1e308, 1e308, 1e308, 1e308, line=2),  # +inf both sides: empty
              BoxLabel(0, -1e308, 0.5, 0.1, 0.1, line=3)]  # -inf: empty
    with _w.catch_warnings():
        _w.simplefilter("error")
        xyxy, keep, warnings = boxes_to_pixels(labels, 640, 480, source="l.txt")
    np.testing.assert_array_equal(xyxy[0], [0, 0, 640, 480])
    assert keep.tolist() == [True, False, False]
    assert np.isfinite(xyxy).all()
    assert [w.split(":")[1] for w in warnings] == ["2", "3"]


def test_clip_boxes_bad_size():
    with pytest.raises(ValueError):
        clip_boxes([[0, 0, 1, 1]], 0, 10)


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


def test_label_items_feed_image_lookup(tmp_path):
    ds = tmp_path / "ds"
    touch(ds / "labels" / "train" / "a.txt", ds / "images" / "train" / "a.jpg")
    items, _ = collect_label_files([str(ds / "labels")])
    assert find_image_for_label(items[0].path, None, items[0].root) == ds / "images" / "train" / "a.jpg"


# ----------------------------------------------------------------------------- COCO


def test_parse_coco_dets_good(tmp_path):
    dets = [
        {"image_id": 1, "category_id": 3, "bbox": [10, 20, 30, 40], "score": 0.9},
        {"image_id": "x.jpg", "category_id": 1.0, "bbox": [0.5, 0.5, 1, 1]},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.1, "segmentation": []},
    ]
    p = write(tmp_path / "dets.json", json.dumps(dets))
    out = parse_coco_dets(p)
    assert list(out) == [1, "x.jpg"]
    assert [d.index for d in out[1]] == [0, 2]
    d0 = out[1][0]
    assert d0 == CocoDet(1, 3, (10.0, 20.0, 30.0, 40.0), 0.9, 0)
    assert d0.xyxy == (10.0, 20.0, 40.0, 60.0)
    assert out["x.jpg"][0].score is None and out["x.jpg"][0].category_id == 1


def test_parse_coco_dets_gt_style_and_empty(tmp_path):
    gt = {"images": [], "annotations": [{"image_id": 5, "category_id": 1, "bbox": [1, 2, 3, 4]}]}
    assert list(parse_coco_dets(write(tmp_path / "gt.json", json.dumps(gt)))) == [5]
    assert parse_coco_dets(write(tmp_path / "e.json", "[]")) == {}


@pytest.mark.parametrize(
    "entries,fragment",
    [
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}, 5], "entry 1: expected an object"),
        ([{"category_id": 1, "bbox": [1, 2, 3, 4]}], "entry 0: missing 'image_id'"),
        ([{"image_id": 1, "bbox": [1, 2, 3, 4]}], "entry 0: missing 'category_id'"),
        ([{"image_id": 1, "category_id": 1}], "entry 0: missing 'bbox'"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}], "entry 0: bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, "3", 4]}], "entry 0: bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, None]}], "entry 0: bbox must be"),
        ([{"image_id": 1, "category_id": "car", "bbox": [1, 2, 3, 4]}], "category_id must be an integer"),
        ([{"image_id": 1, "category_id": 1.5, "bbox": [1, 2, 3, 4]}], "category_id must be an integer"),
        ([{"image_id": True, "category_id": 1, "bbox": [1, 2, 3, 4]}], "image_id must be"),
        ([{"image_id": None, "category_id": 1, "bbox": [1, 2, 3, 4]}], "image_id must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": "hi"}], "score must be"),
        # image ids: integers 0..2^63-1 or non-empty strings
        ([{"image_id": False, "category_id": 1, "bbox": [1, 2, 3, 4]}], "image_id must be"),
        ([{"image_id": 1.5, "category_id": 1, "bbox": [1, 2, 3, 4]}], "got 1.5"),
        ([{"image_id": -1, "category_id": 1, "bbox": [1, 2, 3, 4]}], "got -1"),
        ([{"image_id": 2**63, "category_id": 1, "bbox": [1, 2, 3, 4]}], "from 0 to 2^63-1"),
        ([{"image_id": 1e300, "category_id": 1, "bbox": [1, 2, 3, 4]}], "image_id must be"),
        ([{"image_id": [1], "category_id": 1, "bbox": [1, 2, 3, 4]}], "got [1]"),
        ([{"image_id": {"id": 1}, "category_id": 1, "bbox": [1, 2, 3, 4]}], 'got {"id": 1}'),
        ([{"image_id": "", "category_id": 1, "bbox": [1, 2, 3, 4]}], "non-empty string"),
        # category ids: like YOLO class ids, 0..2^31-1
        ([{"image_id": 1, "category_id": 2**31, "bbox": [1, 2, 3, 4]}],
         "category_id must be an integer from 0 to 2147483647, got 2147483648"),
        ([{"image_id": 1, "category_id": -3, "bbox": [1, 2, 3, 4]}], "got -3"),
        ([{"image_id": 1, "category_id": True, "bbox": [1, 2, 3, 4]}], "got true"),
        ([{"image_id": 1, "category_id": 9223372036854775808, "bbox": [1, 2, 3, 4]}],
         "category_id must be an integer"),
        # bbox: 4 finite numbers
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4, 5]}], "bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": []}], "bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, [3], 4]}], "bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, True, 4]}], "bbox must be"),
        ([{"image_id": 1, "category_id": 1, "bbox": {"x": 1}}], "bbox must be"),
        # score: in [0, 1]
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1.5}],
         "score 1.5 is outside [0, 1]"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": -0.1}], "outside [0, 1]"),
        ([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": True}], "score must be"),
    ],
)
def test_parse_coco_dets_bad_entries(tmp_path, entries, fragment):
    p = write(tmp_path / "d.json", json.dumps(entries))
    with pytest.raises(InputError) as ei:
        parse_coco_dets(p)
    assert str(ei.value).startswith(f"{p}: entry ")
    assert fragment in str(ei.value)


def test_parse_coco_dets_nan_and_bad_files(tmp_path):
    p = write(tmp_path / "nan.json", '[{"image_id": 1, "category_id": 1, "bbox": [NaN, 0, 1, 1]}]')
    with pytest.raises(InputError, match="entry 0: bbox"):
        parse_coco_dets(p)
    p = write(tmp_path / "bad.json", '[{"image_id": 1,\n "category_id": }]')
    with pytest.raises(InputError, match=r"bad.json:2: not valid JSON"):
        parse_coco_dets(p)
    p = write(tmp_path / "obj.json", '{"x": 1}')
    with pytest.raises(InputError, match="expected a JSON list"):
        parse_coco_dets(p)
    with pytest.raises(InputError, match="no such file"):
        parse_coco_dets(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('[{"image_id": 1, "category_id": 1, "bbox": [Infinity, 0, 1, 1]}]', "entry 0: bbox"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [1e400, 0, 1, 1]}]', "entry 0: bbox"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]', "score must"),
        ('[{"image_id": NaN, "category_id": 1, "bbox": [0, 0, 1, 1]}]', "image_id must"),
        ('[{"image_id": 1, "category_id": -Infinity, "bbox": [0, 0, 1, 1]}]', "category_id must"),
        # ints over Python's 4300-digit limit: an InputError, not ValueError
        ('[{"image_id": ' + "7" * 5000 + ', "category_id": 1, "bbox": [0, 0, 1, 1]}]',
         "5000-digit number"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, ' + "7" * 5000 + ', 1]}]',
         "entry 0: bbox must be"),
        # duplicate keys: JSON keeps the last silently; here an error naming the object
        ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]},\n'
         ' {"image_id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]',
         "[1]: key \"image_id\" appears more than once"),
        ('{"annotations": [], "annotations": [{"image_id": 1}]}',
         "the top-level object: key \"annotations\" appears more than once"),
        # not a list of detections
        ("3", "expected a JSON list of detections"),
        ('"dets"', "got a string"),
        ("null", "got null"),
        ('{"annotations": 5}', "got an object"),
        ("[[1, 2, 3, 4]]", "entry 0: expected an object, got a list"),
        # nesting and syntax
        ("[" * 100000, "JSON nested too deeply"),
        ("", "1: not valid JSON"),
        ('[{"image_id": 1}\n\n, ]', ":3: not valid JSON"),
        ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}] trailing', "1: not valid JSON: Extra data (column 59)"),
    ],
)
def test_parse_coco_dets_bad_files(tmp_path, text, fragment):
    p = write(tmp_path / "d.json", text)
    with pytest.raises(InputError) as ei:
        parse_coco_dets(p)
    assert str(ei.value).startswith(f"{p}"), str(ei.value)
    assert fragment in str(ei.value), str(ei.value)
    assert len(str(ei.value)) < 400


def test_parse_coco_dets_bounds_and_spellings(tmp_path):
    dets = [
        {"image_id": MAX_IMAGE_ID, "category_id": MAX_CLASS_ID, "bbox": [0, 0, 1, 1], "score": 1},
        {"image_id": 1, "category_id": 0, "bbox": [0, 0, 1, 1], "score": 0},
        {"image_id": "a", "category_id": 2.0, "bbox": [0, 0, -1, 1]},  # negative size: later
        {"image_id": "1", "category_id": 0, "bbox": [0, 0, 1, 1]},  # same image as 1
        {"image_id": 1.0, "category_id": 0, "bbox": [0, 0, 1, 1]},
        {"image_id": "01", "category_id": 0, "bbox": [0, 0, 1, 1]},  # not 1: a string id
    ]
    out = parse_coco_dets(write(tmp_path / "d.json", json.dumps(dets)))
    assert list(out) == [MAX_IMAGE_ID, 1, "a", "01"]
    # ids as written on each detection; one group per image
    assert [(d.image_id, d.index) for d in out[1]] == [(1, 1), ("1", 3), (1, 4)]
    assert isinstance(out[1][2].image_id, int) and out[MAX_IMAGE_ID][0].category_id == MAX_CLASS_ID
    assert out["a"][0].category_id == 2 and isinstance(out["a"][0].category_id, int)
    assert np.array([d.category_id for d in out[MAX_IMAGE_ID]], dtype=np.int32)[0] == MAX_CLASS_ID
    res = coco_dets_to_xyxy(out["a"], 10, 10, source="d.json")
    assert res.keep.tolist() == [False] and "entry 2: " in res.warnings[0]
    assert "negative" in res.warnings[0]


def test_image_id_key():
    assert image_id_key("139") == 139 and image_id_key(139) == 139
    assert image_id_key("0139") == "0139" and image_id_key("0") == 0
    assert image_id_key("-1") == "-1" and image_id_key(" 1") == " 1"
    assert image_id_key("\u0663") == "\u0663"  # a non-ASCII digit is not the integer 3
    assert image_id_key(str(2**63)) == str(2**63)


def test_coco_dets_to_xyxy(tmp_path):
    dets = [CocoDet(1, 1, (10, 10, 20, 20), 0.9, 0), CocoDet(1, 1, (95, 95, 10, 10), None, 1),
            CocoDet(1, 1, (120, 0, 10, 10), None, 2)]
    xyxy, keep, warnings = coco_dets_to_xyxy(dets, 100, 100, source="d.json")
    np.testing.assert_allclose(xyxy, [[10, 10, 30, 30], [95, 95, 100, 100], [100, 0, 100, 10]])
    assert keep.tolist() == [True, True, False]
    assert warnings[0].startswith("d.json: entry 2: ")


def test_load_image_map_both_styles(tmp_path):
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 4}, {"id": "k", "file_name": "s/b.png"}]}
    assert load_image_map(write(tmp_path / "gt.json", json.dumps(gt))) == {1: "a.jpg", "k": "s/b.png"}
    simple = {"1": "a.jpg", "k": "s/b.png"}
    assert load_image_map(write(tmp_path / "m.json", json.dumps(simple))) == simple
    for bad, frag in [({"images": [{"id": 1}]}, "images[0]"), ({"images": 3}, "must be a list"),
                      ({"1": 5}, "entry '1'"), ([1, 2], "expected a COCO file")]:
        with pytest.raises(InputError, match=frag.replace("[", r"\[").replace("]", r"\]")):
            load_image_map(write(tmp_path / "bad.json", json.dumps(bad)))


def test_resolve_coco_images_with_map(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "a.jpg", images / "s" / "b.png")
    gt = write(tmp_path / "gt.json", json.dumps(
        {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "s/b.png"},
                    {"id": 3, "file_name": "gone.jpg"}]}))
    found, problems = resolve_coco_images([1, 2, 3, 4, 1], images, gt)
    assert found[1].path == images / "a.jpg" and found[1].rel == "a.jpg"
    assert found[2].path == images / "s" / "b.png" and found[2].rel == "s/b.png"
    assert len(problems) == 2
    assert "image_id 3" in problems[0].message and "no such file" in problems[0].message
    assert "image_id 4" in problems[1].message and "gt.json" in problems[1].message
    # int ids find string keys of a plain map and back
    found, problems = resolve_coco_images([1, "2"], images, {"1": "a.jpg", 2: "s/b.png"})
    assert problems == [] and set(found) == {1, "2"}


def test_read_image_map_gt(tmp_path):
    gt = {"images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480.0},
                     {"id": "x", "file_name": "s/b.png", "width": None}],
          "categories": [{"id": 1, "name": "person", "supercategory": "p"},
                         {"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
          "annotations": []}
    p = write(tmp_path / "gt.json", json.dumps(gt))
    m = read_image_map(p)
    assert m.is_coco and m.path == p
    assert m.images == (CocoImage(7, "a.jpg", 640, 480, 0), CocoImage("x", "s/b.png", None, None, 1))
    assert isinstance(m.images[1].id, str) and isinstance(m.images[0].height, int)
    assert m.categories == {1: "person", 3: "car"}
    assert m.get("7") is m.images[0] and m.get(7) is m.images[0] and m.get("07") is None
    assert load_coco_images(p) == list(m.images)
    assert load_coco_categories(p) == {1: "person", 3: "car"}
    assert load_image_map(p) == {7: "a.jpg", "x": "s/b.png"}
    # a plain map has string ids and no categories
    plain = write(tmp_path / "m.json", json.dumps({"7": "a.jpg"}))
    assert read_image_map(plain).images == (CocoImage("7", "a.jpg", None, None, 0),)
    assert load_coco_categories(plain) == {} and not read_image_map(plain).is_coco
    assert load_coco_categories(write(tmp_path / "nc.json", json.dumps({"images": []}))) == {}


@pytest.mark.parametrize(
    "data,fragment",
    [
        ({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}]},
         "images[1]: image id 1 is already images[0]"),
        ({"images": [{"id": 1, "file_name": "a.jpg"}, {"id": "1", "file_name": "b.jpg"}]},
         'images[1]: image id "1" is already images[0]'),
        ({"images": [{"id": True, "file_name": "a.jpg"}]}, "images[0]: id must be"),
        ({"images": [{"id": -4, "file_name": "a.jpg"}]}, "images[0]: id must be"),
        ({"images": [{"id": 1, "file_name": ""}]}, "file_name must be a non-empty string"),
        ({"images": [{"id": 1, "file_name": 3}]}, "file_name must be"),
        ({"images": [{"id": 1, "file_name": "a\u0000.jpg"}]}, "file_name must be"),
        ({"images": [{"id": 1, "file_name": "a.jpg", "width": 0}]}, "width must be a positive"),
        ({"images": [{"id": 1, "file_name": "a.jpg", "height": "480"}]}, "height must be"),
        ({"images": [], "categories": {"1": "a"}}, "'categories' must be a list"),
        ({"images": [], "categories": [{"id": 1}]}, "categories[0]: expected an object"),
        ({"images": [], "categories": [{"id": 2**31, "name": "a"}]}, "categories[0]: id must"),
        ({"images": [], "categories": [{"id": 1, "name": ""}]}, "name must be a non-empty"),
        ({"images": [], "categories": [{"id": 1, "name": "a"}, {"id": 1.0, "name": "b"}]},
         'categories[1]: category id 1 is already categories[0] ("a"), now "b"'),
        ({"annotations": [], "categories": []}, "without an 'images' list"),
        ({"": "a.jpg"}, "entry '': the key must be"),
        ([], "got a list"),
    ],
)
def test_read_image_map_errors(tmp_path, data, fragment):
    p = write(tmp_path / "map.json", json.dumps(data))
    with pytest.raises(InputError) as ei:
        read_image_map(p)
    assert str(ei.value).startswith(f"{p}: ") and fragment in str(ei.value), str(ei.value)


def test_read_image_map_lone_surrogate_and_duplicate_keys(tmp_path):
    p = write(tmp_path / "m.json", '{"images": [{"id": 1, "file_name": "\\ud800.jpg"}]}')
    with pytest.raises(InputError, match="file_name must be"):
        read_image_map(p)
    p = write(tmp_path / "m.json", '{"1": "a.jpg", "1": "b.jpg"}')
    with pytest.raises(InputError, match="top-level object: key \"1\" appears more than once"):
        read_image_map(p)
    p = write(tmp_path / "m.json", '{"images": [{"id": 1, "file_name": "a", "file_name": "b"}]}')
    with pytest.raises(InputError, match=r"images\[0\]: key \"file_name\" appears"):
        read_image_map(p)


# issue 14.4: several ids naming one file were silently reduced to the last one's boxes


def _covers(ids, found, problems):
    """Every id is either found or named in a problem: nothing dropped silently."""
    for i in ids:
        assert i in found or any(json.dumps(i) in p.message for p in problems), (i, found,
                                                                          problems)


def test_resolve_two_gt_ids_one_file_is_reported(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "a.jpg", images / "b.jpg")
    gt = write(tmp_path / "gt.json", json.dumps({"images": [
        {"id": 5, "file_name": "a.jpg"}, {"id": 9, "file_name": "./a.jpg"},
        {"id": 2, "file_name": "b.jpg"}]}))
    found, problems = resolve_coco_images([5, 2, 9], images, gt)
    assert list(found) == [2]
    assert len(problems) == 1
    assert problems[0].message.startswith(
        f"{images / 'a.jpg'}: image ids 5, 9 all name this file in ")
    assert "gt.json" in problems[0].message and "not used" in problems[0].message
    # only one of them used: no clash
    found, problems = resolve_coco_images([9, 2], images, gt)
    assert found[9].rel == "a.jpg" and problems == []


def test_resolve_spellings_of_one_id(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "1.jpg", images / "000000000139.jpg")
    # parse_coco_dets merges 1 and "1" (one group), so the pipeline sees one id
    dets = write(tmp_path / "d.json", json.dumps([
        {"image_id": "1", "category_id": 1, "bbox": [0, 0, 1, 1]},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]}]))
    groups = parse_coco_dets(dets)
    found, problems = resolve_coco_images(groups, images)
    assert list(found) == ["1"] and problems == [] and len(groups["1"]) == 2
    # given both spellings directly, they clash rather than one being dropped
    found, problems = resolve_coco_images([1, "1"], images)
    assert found == {} and len(problems) == 1
    assert 'image ids 1, "1" all name' in problems[0].message
    # the zero-padded stem is found for an id written as a string too, and clashes with it
    found, problems = resolve_coco_images(["139"], images)
    assert found["139"].rel == "000000000139.jpg"
    ids = [139, "000000000139"]
    found, problems = resolve_coco_images(ids, images)
    assert found == {} and "image ids 139, \"000000000139\" all name" in problems[0].message
    _covers(ids, found, problems)


def test_resolve_keeps_id_types_and_matches_map_canonically(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "a.jpg", images / "b.jpg", images / "s" / "c.jpg")
    m = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": "2", "file_name": "b.jpg"},
                    {"id": "x", "file_name": "s\\c.jpg"}]}
    gt = write(tmp_path / "gt.json", json.dumps(m))
    found, problems = resolve_coco_images(["1", 2, "x", "01"], images, read_image_map(gt))
    assert list(found) == ["1", 2, "x"]  # keys: the ids given, types kept
    assert found["1"].rel == "a.jpg" and found[2].rel == "b.jpg"
    assert found["x"].rel == "s/c.jpg" and found["x"].path == images / "s" / "c.jpg"
    assert len(problems) == 1 and problems[0].message.startswith('image_id "01": not in ')
    # a caller's mapping with two spellings for different files: that id is a problem
    found, problems = resolve_coco_images([1], images, {"1": "a.jpg", 1: "b.jpg"})
    assert found == {} and "names it twice" in problems[0].message


def test_resolve_odd_ids_do_not_raise(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    ids = ["x" * 5000, "a\u0000b", "../" * 2000 + "etc", "\udcff", "/", ".", ""]
    found, problems = resolve_coco_images(ids, images)
    assert found == {} and len(problems) == len(ids)
    assert all(len(p.message) < 300 for p in problems)
    found, problems = resolve_coco_images([1], images, {"1": "y" * 5000 + ".jpg"})
    assert found == {} and "no such file" in problems[0].message


def test_resolve_id_stems_stay_inside_images_dir(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "a" / "x.jpg", images / "b" / "x.jpg", tmp_path / "imgs.jpg", tmp_path / "up.jpg")
    ids = ["a/x", "b/x", ".", "../up", "/etc/passwd", "a//x", "a\\x"]
    found, problems = resolve_coco_images(ids, images)
    # two folders' x.jpg are two images (rel is the path under DIR, not the bare name)
    assert {k: v.rel for k, v in found.items()} == {"a/x": "a/x.jpg", "b/x": "b/x.jpg"}
    assert len(problems) == 5 and all("not a file name under" in p.message for p in problems)
    _covers(ids, found, problems)


def test_resolve_coco_images_by_id_stem(tmp_path):
    images = tmp_path / "imgs"
    touch(images / "7.png", images / "000000000139.jpg", images / "frame_a.jpg")
    found, problems = resolve_coco_images([7, 139, "frame_a", 8], images)
    assert found[7].path == images / "7.png"
    assert found[139].path == images / "000000000139.jpg" and found[139].rel == "000000000139.jpg"
    assert found["frame_a"].path == images / "frame_a.jpg"
    assert len(problems) == 1 and "image_id 8" in problems[0].message


# ----------------------------------------------------------------------------- class names

YAML_GOOD = [
    # ultralytics: block mapping
    ("path: ../ds\ntrain: images/train\nnames:\n  0: person\n  1: bicycle  # two wheels\n"
     "  7: 'traffic light'\n", {0: "person", 1: "bicycle", 7: "traffic light"}),
    # YOLOv5: flow list over several lines, comments and quotes
    ("nc: 4\nnames: ['person', \"bicycle\", car,  # first row\n"
     "        'it''s', ]\n", {0: "person", 1: "bicycle", 2: "car", 3: "it's"}),
    # Roboflow: block list (at the key's indentation too)
    ("names:\n- cat\n- dog\nnc: 2\nroboflow:\n  workspace: w\n", {0: "cat", 1: "dog"}),
    ("names:\n  - cat\n\n  # a comment\n  - \"d\\u00f6g \\\"x\\\"\"\n", {0: "cat", 1: 'd\u00f6g "x"'}),
    ("names: {0: a, 2: 'b c'}\n", {0: "a", 2: "b c"}),
    ("names: []\n", {}),
    ("names:\n  - a\n  - ~\n  - c\n", {0: "a", 2: "c"}),  # a null keeps its id, no name
    ("\ufeffnames: [a]\r\nnc: 1\r\n", {0: "a"}),
    ("x:\n  names: [nested, ignored]\nnames: [top]\n", {0: "top"}),
    ("download: |\n  names: [in, a, block]\nnames:\n  0: real\n", {0: "real"}),
    # found by the fuzz test's comparison with PyYAML
    ("names: ['a', \"\n\tb\", c]\n", {0: "a", 1: " b", 2: "c"}),  # line folding
    ("names: [a\n  b, 'c  \n\n   d', \"e\\\n   f\"]\n", {0: "a b", 1: "c\nd", 2: "ef"}),
    ("names: [\n  a,\n\n  b\n]\n", {0: "a", 1: "b"}),
    ("names: ['a',#c\n  'b']\n", {0: "a", 1: "b"}),
    ("names: [it's, a:'b]\n", {0: "it's", 1: "a:'b"}),  # quotes inside plain names
    ("names:\n  - it's\n  - ''\n  - c\n", {0: "it's", 2: "c"}),
    ("\n  nc: 2\n  names: [a, b]\n", {0: "a", 1: "b"}),  # an indented document
    ("  x: 1\n  names:\n  - a\n  y: 2\n", {0: "a"}),
]


@pytest.mark.parametrize("text,expected", YAML_GOOD)
def test_parse_yaml_names(tmp_path, text, expected):
    p = write(tmp_path / "data.yaml", text)
    assert read_class_names(p) == expected


@pytest.mark.parametrize("text,expected", YAML_GOOD)
def test_parse_yaml_names_agrees_with_pyyaml(text, expected):
    yaml = pytest.importorskip("yaml")
    ref = yaml.safe_load(text.lstrip("\ufeff"))["names"]
    if isinstance(ref, list):  # null and '' entries keep their id but have no name
        ref = {i: v for i, v in enumerate(ref) if v}
    assert ref == expected


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ("names: [a, [b]]\n", 1, "nested collections are not supported"),
        ("nc: 2\nnames: [a, b\n", 2, "'[' is never closed"),
        ("names: &n [a]\n", 1, "unsupported YAML"),
        ("names: !!python/tuple [a]\n", 1, "unsupported YAML"),
        ("names: coco.names\n", 1, "expected a list or a mapping"),
        ("names:\n  0: a\n  0: b\n", 3, "class 0 appears twice"),
        ("names:\n  -1: a\n", 2, "key '-1' is not a class id"),
        ("names:\n  2147483648: a\n", 2, "is not a class id"),
        ("names:\n  person: 0\n", 2, "key 'person' is not a class id"),
        ("names:\n  - a\n    - b\n", 3, "nested values are not supported"),
        ("names:\n  - a: b\n", 2, "nested mapping"),
        ("names:\n\t- a\n", 2, "tabs are not allowed"),
        ("names: ['a]\n", 1, "never closed"),
        ("names:\n  - 'a\n", 2, "malformed quote"),
        ('names: ["a\\q"]\n', 1, "unknown escape"),
        ("names: [a]\nnames: [b]\n", 2, "'names' appears twice"),
        ("names: [a,,b]\n", 1, "empty entry"),
        ("names: [a] b\n", 1, "unexpected 'b'"),
        ('names: ["\\u0000"]\n', 1, "is not valid text"),
        ("&a names: [x]\n", 1, "an anchor or tag on the key"),
        ("names:\n- \n|\n  a\n", 3, "unsupported YAML '|' after the names"),
        ("names:\n  - a\n - b\n", 3, "unsupported YAML '- b'"),
        ('names: ["a"b"]\n', 1, "malformed quote"),
    ],
)
def test_parse_yaml_names_errors(tmp_path, text, line, fragment):
    p = write(tmp_path / "data.yaml", text)
    with pytest.raises(InputError) as ei:
        read_class_names(p)
    assert str(ei.value).startswith(f"{p}:{line}: "), str(ei.value)
    assert fragment in str(ei.value)


def test_parse_yaml_names_absent():
    assert parse_yaml_names("nc: 3\ntrain: x\n") is None
    assert parse_yaml_names("names:\n") == {}  # null


def test_read_classes_txt(tmp_path):
    p = write(tmp_path / "classes.txt", "\ufeffperson\r\n  traffic light \n\ncar\n\n")
    assert read_class_names(p) == {0: "person", 1: "traffic light", 3: "car"}
    assert read_class_names(write(tmp_path / "e" / "classes.txt", "")) == {}
    with pytest.raises(InputError, match=r"classes.txt:2: not UTF-8"):
        read_class_names(write(tmp_path / "b" / "classes.txt", b"a\n\xff\n"))


def test_find_class_names_file(tmp_path):
    ds = tmp_path / "ds"
    lbl = ds / "labels" / "train" / "sub" / "a.txt"
    touch(lbl)
    assert find_class_names_file(lbl, ds / "labels") is None
    write(ds / "data.yaml", "names: [a]\n")
    assert find_class_names_file(lbl, ds / "labels") == ds / "data.yaml"
    write(ds / "labels" / "classes.txt", "x\n")  # up to the folder given: found
    assert find_class_names_file(lbl, ds / "labels") == ds / "labels" / "classes.txt"
    # the folder given is below it: not looked for above the root, the dataset YAML wins
    assert find_class_names_file(lbl, ds / "labels" / "train") == ds / "data.yaml"
    write(ds / "labels" / "train" / "sub" / "classes.txt", "y\n")  # nearest first
    assert find_class_names_file(lbl, None) == ds / "labels" / "train" / "sub" / "classes.txt"
    assert yolo_class_names(lbl) == {0: "y"}
    # Roboflow: ds/train/labels with data.yaml in ds
    rf = tmp_path / "rf"
    touch(rf / "train" / "labels" / "b.txt")
    write(rf / "data.yaml", "names:\n- cat\n")
    assert yolo_class_names(rf / "train" / "labels" / "b.txt", rf / "train" / "labels") == {0: "cat"}
    # dataset.yaml is looked for too; no labels component: no dataset root
    touch(tmp_path / "flat" / "c.txt")
    write(tmp_path / "data.yaml", "names: [no]\n")
    assert find_class_names_file(tmp_path / "flat" / "c.txt") is None


def test_find_class_names_relative_paths(tmp_path, monkeypatch):
    touch(tmp_path / "labels" / "a.txt")
    write(tmp_path / "dataset.yaml", "names: {3: truck}\n")
    monkeypatch.chdir(tmp_path / "labels")
    assert yolo_class_names(Path("a.txt")) == {3: "truck"}


def test_collect_class_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a / "labels" / "classes.txt", "person\ncar\n")
    write(b / "labels" / "classes.txt", "person\nbus\ntruck\n")
    touch(a / "labels" / "1.txt", a / "labels" / "2.txt", b / "labels" / "x" / "3.txt")
    items, _ = collect_label_files([str(a / "labels"), str(b / "labels")])
    got = collect_class_names(items)
    assert got.names == {0: "person", 1: "car", 2: "truck"}
    assert got.sources == [a / "labels" / "classes.txt", b / "labels" / "classes.txt"]
    assert len(got.warnings) == 1 and "class 1 is 'bus' here but 'car'" in got.warnings[0]
    # an unreadable names file is a warning, not an error
    write(b / "labels" / "classes.txt", b"\xff")
    got = collect_class_names(items)
    assert got.names == {0: "person", 1: "car"} and "not UTF-8" in got.warnings[0]
    assert collect_class_names([]) == ({}, [], [])
