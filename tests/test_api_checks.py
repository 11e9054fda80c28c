"""samcli.api_checks: Python values -> what the command line's parser would give, or
samcli's errors (no model needed; the API's own tests call them through Segmenter)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from samcli.api_checks import (api_terms, boxes_xyxy, class_ids, confidences_array,
                               only_classes_text, path_text, record_name, typed_options)
from samcli.config import AutomaskConfig, FromBoxesConfig
from samcli.errors import ConfigError, InputError, UsageError


@pytest.mark.parametrize("label, options, expected", [
    ("python values kept", {"points_per_side": 8, "pred_iou_thresh": 0.5},
     {"points_per_side": 8, "pred_iou_thresh": 0.5}),
    ("numpy scalars become python ones", {"points_per_side": np.int64(8),
                                          "pred_iou_thresh": np.float32(0.5),
                                          "drop_border": np.bool_(True)},
     {"points_per_side": 8, "pred_iou_thresh": 0.5, "drop_border": True}),
    ("an int where a number is wanted", {"pred_iou_thresh": 1}, {"pred_iou_thresh": 1.0}),
    ("a number where text is wanted", {"min_area": 500}, {"min_area": "500"}),
    ("None: not given", {"points_per_side": None}, {}),
    ("NaN passes the type (the range check refuses it)", {"box_nms_thresh": float("nan")},
     {"box_nms_thresh": math.nan}),
])
def test_typed_options(label, options, expected):
    got = typed_options(AutomaskConfig, options)
    assert got.keys() == expected.keys(), label
    for key, value in expected.items():
        assert type(got[key]) is type(value), (label, key)
        assert got[key] == value or (math.isnan(value) and math.isnan(got[key])), label


@pytest.mark.parametrize("label, cls, options, match", [
    ("text for an integer", AutomaskConfig, {"points_per_side": "8"}, "expected an integer"),
    ("a fraction for an integer", AutomaskConfig, {"points_per_side": 2.5}, "an integer"),
    ("a bool for an integer", AutomaskConfig, {"points_per_side": True}, "an integer"),
    ("text for a yes/no", AutomaskConfig, {"drop_border": "false"}, "True or False"),
    ("a number for a yes/no", AutomaskConfig, {"drop_border": 1}, "True or False"),
    ("text for a number", FromBoxesConfig, {"min_conf": "0.5"}, "expected a number"),
    ("a list for text", AutomaskConfig, {"containment": ["keep"]}, "text or a number"),
])
def test_typed_options_refuse_other_kinds(label, cls, options, match):
    with pytest.raises(UsageError, match=match):
        typed_options(cls, options)


@pytest.mark.parametrize("label, boxes, shape", [
    ("list", [[1, 2, 3, 4]], (1, 4)),
    ("tuple of tuples", ((1, 2, 3, 4), (5, 6, 7, 8)), (2, 4)),
    ("empty", [], (0, 4)),
    ("uint8 array", np.ones((3, 4), np.uint8), (3, 4)),
    ("generator", (b for b in [[1, 2, 3, 4]]), (1, 4)),
])
def test_boxes_xyxy(label, boxes, shape):
    got = boxes_xyxy(boxes)
    assert got.dtype == np.float64 and got.shape == shape, label


@pytest.mark.parametrize("label, boxes", [
    ("flat", [1, 2, 3, 4]), ("2x2", [[1, 2], [3, 4]]), ("ragged", [[1, 2, 3, 4], [1]]),
    ("text", "1 2 3 4"), ("words", [["a", "b", "c", "d"]]), ("dict", {"x": 1}), ("None", None),
])
def test_boxes_xyxy_refuses(label, boxes):
    with pytest.raises(ConfigError, match="boxes"):
        boxes_xyxy(boxes)


def test_class_ids_and_confidences():
    assert class_ids(None, 2).tolist() == [0, 0]
    assert class_ids([0, np.int32(2147483647)], 2).tolist() == [0, 2147483647]
    assert class_ids([1.0, np.float32(3)], 2).tolist() == [1, 3]  # as label files' '3.0'
    conf = confidences_array([None, float("nan"), 0, np.float32(1)], 4)
    assert np.isnan(conf[:2]).all() and conf[2:].tolist() == [0.0, 1.0]
    for bad in ([-1], [2**31], [1.5], [float("nan")], [float("inf")], [-1.0], [True],
                ["1"]):
        with pytest.raises(ConfigError, match="classes"):
            class_ids(bad, 1)
    for bad in ([1.5], [-0.1], [float("inf")], ["x"], [True]):
        with pytest.raises(ConfigError, match="confidences"):
            confidences_array(bad, 1)
    with pytest.raises(ConfigError, match="one per box"):
        class_ids([1, 2], 3)


@pytest.mark.parametrize("given, expected", [
    (None, None), ("0,3", "0,3"), ([0, 3], "0,3"), (np.array([7]), "7"), ({5}, "5"),
])
def test_only_classes_text(given, expected):
    assert only_classes_text(given) == expected


@pytest.mark.parametrize("given", [[], 3, ["a"], [1.5], b"0,3"])
def test_only_classes_text_refuses(given):
    with pytest.raises(UsageError, match="only_classes"):
        only_classes_text(given)


def test_paths_and_record_names(tmp_path):
    assert path_text(tmp_path, "image") == str(tmp_path)
    assert path_text(os.fsencode(tmp_path) + b"/caf\xff.png", "image").endswith("caf\udcff.png")
    for bad in ("", "a\0b"):
        with pytest.raises(InputError):
            path_text(bad, "image")
    with pytest.raises(UsageError):
        path_text(5, "image")
    assert record_name("caf\udcff.png") == "caf\\xff.png"
    assert record_name("x\ud800") == "x\\ud800"  # a lone surrogate not from a file name
    assert record_name("plain ü.png") == "plain ü.png"


@pytest.mark.parametrize("label, message, expected", [
    ("a flag becomes its keyword", "--points-per-side must be at least 1",
     "points_per_side must be at least 1"),
    ("two in one message", "--min-area 500 is above --max-area 20",
     "min_area 500 is above max_area 20"),
    ("both flags of a pair", "--no-use-m2m and --use-m2m", "use_m2m and use_m2m"),
    ("a flag named otherwise in Python", "--classes 'x': expected ids",
     "only_classes 'x': expected ids"),
    ("the preset", "--preset 'fast': expected one of", "preset 'fast': expected one of"),
    ("model options, a value's placeholder", "pass --checkpoint FILE or --decoder-dtype "
     "float32", "pass checkpoint=FILE or decoder_dtype float32"),
    ("a placeholder of a flag the library does not take", "use --images DIR",
     "use --images DIR"),
    ("a capital word that is not a placeholder", "--dtype A100s", "dtype A100s"),
    ("a flag the library does not take stays", "--overwrite redoes them",
     "--overwrite redoes them"),
    ("not inside a word or a path", "/data/--points-per-side/x and a--points-per-side",
     "/data/--points-per-side/x and a--points-per-side"),
    ("not a prefix of a longer flag", "--points-per-side-x", "--points-per-side-x"),
])
def test_api_terms_name_options_by_keyword(label, message, expected):
    assert api_terms(message) == expected, label


@pytest.mark.parametrize("label, message, keep, expected", [
    ("a file named like a flag", "--simplify.png: no such file", ["--simplify.png"],
     "--simplify.png: no such file"),
    ("a flag in a file name, and after it", "a --checkpoint X.png: see --simplify",
     ["a --checkpoint X.png"], "a --checkpoint X.png: see simplify"),
    ("texts without -- are not looked for (a name 'a' inside --max-area)",
     "--max-area 5", ["a"], "max_area 5"),
])
def test_api_terms_leave_the_callers_texts_as_they_are(label, message, keep, expected):
    assert api_terms(message, keep) == expected, label


@pytest.mark.parametrize("label, value, text", [
    ("a float with an exponent", 1e16, "10000000000000000"),
    ("a small float", 1e-5, "0.00001"),
    ("a float32, its own digits", np.float32(1e-5), "0.00001"),
    ("an int", 500, "500"),
    ("text as it is", "0.5%", "0.5%"),
])
def test_areas_given_as_numbers_are_text_the_option_reads(label, value, text):
    from samcli.api_checks import typed_options
    from samcli.config import AutomaskConfig, parse_area

    given = typed_options(AutomaskConfig, {"min_area": value})["min_area"]
    assert given == text, label
    parse_area(given, "--min-area")
