"""YOLO box rows (strict numbers, exact ids) and boxes to clipped pixels
(samcli.io.labels.yolo, .numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from samcli.errors import InputError
from samcli.io.labels import (
    BoxLabel,
    boxes_to_pixels,
    clip_boxes,
    parse_yolo_labels,
)
from tests.io.labels.files import write


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
    # ultralytics tracking without save_conf: 'class cx cy w h track_id' (ids from 1)
    ("0 0.5 0.5 0.1 0.1 1\n2 0.5 0.5 0.1 0.1 7\n0 0.5 0.5 0.1 0.1 0\n",
     [(0, 0.5, 0.5, 0.1, 0.1, None, 1, 1), (2, 0.5, 0.5, 0.1, 0.1, None, 7, 2),
      (0, 0.5, 0.5, 0.1, 0.1, None, 0, 3)]),
    ("0 0.5 0.5 0.1 0.1 2.0\n1 0.5 0.5 0.1 0.1\n",  # with 5-column rows (no track)
     [(0, 0.5, 0.5, 0.1, 0.1, None, 2, 1), (1, 0.5, 0.5, 0.1, 0.1, None, None, 2)]),
    ("0 0.5 0.5 0.1 0.1 3\n0 0.5 0.5 0.1 0.1 0.9 3\n",  # 7-column rows keep their conf
     [(0, 0.5, 0.5, 0.1, 0.1, None, 3, 1), (0, 0.5, 0.5, 0.1, 0.1, 0.9, 3, 2)]),
    # ids 0 and 1 alone are confidences 0 and 1 (they cannot be told apart)
    ("0 0.5 0.5 0.1 0.1 1\n0 0.5 0.5 0.1 0.1 0\n",
     [(0, 0.5, 0.5, 0.1, 0.1, 1.0, None, 1), (0, 0.5, 0.5, 0.1, 0.1, 0.0, None, 2)]),
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
    ("0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.1\n", 1, "9 columns: this is a segment (polygon) "
     "label, not a box"),
    ("0 0.5 0.5 0.1 0.1\r\n1 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9\r\n", 2,
     "10 columns, expected 5 to 7"),
    ("0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.3 0.3 0.3\n", 1, "11 columns: this is a segment"),
    ("0 0.5 0.5 0.4 0.4 0.9 3 junk\n", 1, "8 columns, expected 5 to 7"),
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
    # a whole number over 1 beside confidences: neither column reading fits the file
    ("0 0.5 0.5 0.1 0.1 0.8\n0 0.5 0.5 0.1 0.1 7\n", 2,
     "confidence '7' is outside [0, 1]; a track id? a file of 'class cx cy w h track_id'"),
    ("0 0.5 0.5 0.1 0.1 -0.01\n", 1, "confidence '-0.01' is outside [0, 1]"),
    ("0 0.5 0.5 0.1 0.1 87.5\n", 1, "confidence '87.5' is outside [0, 1]"),  # a percent
    # (a whole 87 alone is a track id: ultralytics tracking without save_conf)
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
    xyxy, keep, warnings, names = boxes_to_pixels(labels, 640, 480)
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
    xyxy, keep, warnings, names = boxes_to_pixels([label], 100, 100, source=src)
    np.testing.assert_allclose(xyxy[0], expected, atol=1e-9)
    assert keep.tolist() == [kept] and names == [f"{src}:3"]
    if kept:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert warnings[0].startswith(f"{src}:3: ") and why in warnings[0] and "skipped" in warnings[0]


def test_boxes_to_pixels_empty_and_min_size():
    xyxy, keep, warnings, names = boxes_to_pixels([], 10, 10)
    assert xyxy.shape == (0, 4) and keep.shape == (0,) and warnings == [] and names == []
    tiny = [BoxLabel(0, 0.5, 0.5, 0.05, 0.05, line=1)]  # 0.5 px at 10x10
    assert boxes_to_pixels(tiny, 10, 10, min_size=0.25).keep.tolist() == [True]
    res = boxes_to_pixels(tiny, 10, 10, min_size=2.0)
    assert res.keep.tolist() == [False] and "under 2 px" in res.warnings[0]


# (label, box at 100x100 as cx cy w h fractions, kept, words in the warning): issue 14.13,
# a sub-pixel box used to be kept as a prompt
SUB_PIXEL = [
    ("half a pixel wide", (0.5, 0.5, 0.005, 0.2), False, ["0.5 x 20 px", "under 1 px"]),
    ("half a pixel high", (0.5, 0.5, 0.2, 0.005), False, ["20 x 0.5 px", "under 1 px"]),
    ("a tenth of a pixel both ways", (0.5, 0.5, 0.001, 0.001), False, ["under 1 px"]),
    ("exactly one pixel", (0.505, 0.505, 0.01, 0.01), True, []),
    ("one pixel wide, tall", (0.5, 0.5, 0.01, 0.5), True, []),
    ("clipped to under a pixel at the edge", (1.002, 0.5, 0.01, 0.2), False,
     ["0.3 x 20 px after clipping", "under 1 px"]),
    ("clipped to exactly a pixel", (0.0, 0.5, 0.02, 0.2), True, []),
]


@pytest.mark.parametrize("label, box, kept, words", SUB_PIXEL, ids=[c[0] for c in SUB_PIXEL])
def test_sub_pixel_boxes_are_dropped_with_file_and_line(tmp_path, label, box, kept, words):
    src = tmp_path / "l.txt"
    res = boxes_to_pixels([BoxLabel(3, *box, line=7)], 100, 100, source=src)
    assert res.keep.tolist() == [kept], label
    if kept:
        assert res.warnings == []
    else:
        (message,) = res.warnings
        assert message.startswith(f"{src}:7: box ") and message.endswith("; skipped")
        assert all(w in message for w in words), message


def test_boxes_to_pixels_huge_finite_values_no_overflow_warning(tmp_path):
    import warnings as _w

    labels = [BoxLabel(0, 0.5, 0.5, 1e308, 1e308, line=1),  # whole image
              BoxLabel(0, 1e308, 1e308, 1e308, 1e308, line=2),  # +inf both sides: empty
              BoxLabel(0, -1e308, 0.5, 0.1, 0.1, line=3)]  # -inf: empty
    with _w.catch_warnings():
        _w.simplefilter("error")
        xyxy, keep, warnings, names = boxes_to_pixels(labels, 640, 480, source="l.txt")
    np.testing.assert_array_equal(xyxy[0], [0, 0, 640, 480])
    assert keep.tolist() == [True, False, False]
    assert np.isfinite(xyxy).all()
    assert [w.split(":")[1] for w in warnings] == ["2", "3"]


@pytest.mark.parametrize("label, box, kept, why", [
    ("NaN x1", [np.nan, 8, 52, 32], None, "has a NaN coordinate"),
    ("NaN everywhere", [np.nan] * 4, None, "has a NaN coordinate"),
    ("minus infinity is the left edge", [-np.inf, 8, 52, 32], [0, 8, 52, 32], None),
    ("infinite both ways: the image", [-np.inf, -np.inf, np.inf, np.inf], [0, 0, 64, 48],
     None),
    ("infinite left to right: zero size", [np.inf, 8, np.inf, 32], None, "has zero size"),
])
def test_clip_boxes_nan_and_infinity(label, box, kept, why):
    res = clip_boxes([box], 64, 48)
    if kept is None:
        assert res.keep.tolist() == [False] and len(res.warnings) == 1, label
        assert res.warnings[0].endswith(f"{why}; skipped"), res.warnings
        assert np.isfinite(res.xyxy).all()
    else:
        assert res.keep.tolist() == [True] and res.warnings == [], label
        assert res.xyxy[0].tolist() == kept


@pytest.mark.parametrize("label, bad, told", [
    ("as many as told one by one", 20, 20),
    ("one more: counted", 21, 21),
    ("a flood: counted in one line", 100_000, 21),
])
def test_dropped_boxes_are_told_one_by_one_up_to_a_cap(label, bad, told):
    """The first MAX_BOX_WARNINGS dropped boxes one a line, then one line naming the next
    and counting the rest (a dump of empty rows would flood stderr)."""
    boxes = [[10, 10, 10, 20]] * bad + [[0, 0, 30, 30]]
    names = [f"a.txt:{i + 1}" for i in range(len(boxes))]
    res = clip_boxes(boxes, 64, 48, names=names)
    assert res.keep.sum() == 1 and len(res.warnings) == told, label
    assert res.warnings[19] == ("a.txt:20: box [10.0, 10.0, 10.0, 20.0] (pixels) has zero "
                                "size; skipped"), label
    if bad > 20:
        assert res.warnings[20] == (f"a.txt:21: this box and {bad - 21} more after it skipped "
                                    "too (empty, under a pixel, negative or NaN; only the "
                                    "first 20 are told one by one)"), label


def test_clip_boxes_bad_size():
    with pytest.raises(ValueError):
        clip_boxes([[0, 0, 1, 1]], 0, 10)
