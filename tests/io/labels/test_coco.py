"""COCO detection results, image maps, the image files of COCO ids (samcli.io.labels.coco, .jsonio)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from samcli.errors import InputError
from samcli.io.labels import (
    MAX_CLASS_ID,
    MAX_IMAGE_ID,
    CocoDet,
    CocoImage,
    coco_dets_to_xyxy,
    image_id_key,
    load_coco_categories,
    load_coco_images,
    load_image_map,
    parse_coco_dets,
    read_image_map,
    resolve_coco_images,
)
from tests.io.labels.files import touch, write


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
    xyxy, keep, warnings, names = coco_dets_to_xyxy(dets, 100, 100, source="d.json")
    np.testing.assert_allclose(xyxy, [[10, 10, 30, 30], [95, 95, 100, 100], [100, 0, 100, 10]])
    assert keep.tolist() == [True, True, False]
    assert warnings[0].startswith("d.json: entry 2: ")
    assert names == ["d.json: entry 0", "d.json: entry 1", "d.json: entry 2"]


@pytest.mark.parametrize("bbox, kept", [
    ((10, 10, 0.5, 20), False), ((10, 10, 20, 0.3), False), ((99.6, 10, 5, 5), False),
    ((10, 10, 1, 1), True), ((99, 10, 5, 5), True),
], ids=["0.5 px wide", "0.3 px high", "0.4 px after clipping", "1 px", "1 px after clipping"])
def test_coco_sub_pixel_boxes_are_dropped_naming_the_entry(bbox, kept):
    dets = [CocoDet(1, 1, (10, 10, 20, 20), 0.9, 0), CocoDet(1, 1, bbox, 0.5, 1)]
    xyxy, keep, warnings, names = coco_dets_to_xyxy(dets, 100, 100, source="d.json")
    assert keep.tolist() == [True, kept]
    if not kept:
        assert len(warnings) == 1 and warnings[0].startswith("d.json: entry 1: box ")
        assert "under 1 px" in warnings[0]


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
    assert m.categories == {1: "person", 3: "car"} and m.supercategories == {1: "p"}
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
        ({"images": [], "categories": [{"id": 1, "name": "a", "supercategory": 5}]},
         "categories[0]: supercategory must be a string, got 5"),
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


@pytest.mark.parametrize("label,second", [
    ("dot-dot", "sub/../a.jpg"),
    ("symlink", "link.jpg"),
    ("backslashes", "sub\\..\\a.jpg"),
])
def test_resolve_two_names_of_one_file_are_reported(tmp_path, label, second):
    """Two map entries whose names differ but reach one file: both left out, one problem
    naming each id with its name (one image is not segmented twice under two ids)."""
    images = tmp_path / "imgs"
    touch(images / "a.jpg", images / "sub" / "b.jpg", images / "b.jpg")
    (images / "link.jpg").symlink_to(images / "a.jpg")
    found, problems = resolve_coco_images([1, 2, 3], images,
                                          {"1": "a.jpg", "2": second, "3": "b.jpg"})
    assert list(found) == [3] and len(problems) == 1, problems
    shown = json.dumps(second.replace("\\", "/"))
    assert problems[0].message == (
        f"{images / 'a.jpg'}: image ids 1 (\"a.jpg\"), 2 ({shown}) in the image map all name "
        "this file; their boxes are not used (give each image a single id)")


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
