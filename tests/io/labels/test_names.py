"""Class names: classes.txt and dataset YAML names: (samcli.io.labels.names, .yaml_names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from samcli.errors import InputError
from samcli.io.labels import (
    collect_class_names,
    collect_label_files,
    find_class_names_file,
    parse_yaml_names,
    read_class_names,
    yolo_class_names,
)
from tests.io.labels.files import touch, write


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
    # found by the review of 2026-12-07: YAML's blanks are space and tab only; quoted keys
    ("names: [\xa0]\n", {0: "\xa0"}),  # a no-break space is a name
    ("names: [a, \u2003 ]\n", {0: "a", 1: "\u2003"}),
    ("'names':\n- a\n- b\n'path': x\n", {0: "a", 1: "b"}),  # PyYAML's default_style="'"
    ('"names":\n  0: a\n"pa\\"th": x\n', {0: "a"}),
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


# A quoted name over several lines (YAML line folding), as PyYAML reads it: the blanks around
# a line break go, the break becomes a space, or one newline per empty line after it; "\" at
# the end of a line in double quotes joins the lines
YAML_MULTILINE = [
    ("block list, double quotes", 'names:\n  - "traffic\n    light"\n  - car\n',
     {0: "traffic light", 1: "car"}),
    ("block list, single quotes, '' inside", "names:\n  - 'it''s\n    x'\n", {0: "it's x"}),
    ("block mapping, double quotes", 'names:\n  0: "a\n     b"\n  1: c\n', {0: "a b", 1: "c"}),
    ("block mapping, single quotes, an empty line", "names:\n  3: 'a\n\n     b'\n",
     {3: "a\nb"}),
    ("two empty lines, two newlines", 'names:\n- "a\n\n\n  b"\n', {0: "a\n\nb"}),
    ("blanks around the break go", 'names:\n  - "a \t\n   \t b"\n', {0: "a b"}),
    ("an escaped break joins", 'names:\n  - "a\\\n    b"\n', {0: "ab"}),
    ("an escaped break keeps the empty lines", 'names:\n  - "a\\\n\n    b"\n', {0: "a\nb"}),
    ("an escaped blank before the break stays", 'names:\n  - "a\\ \n    b"\n', {0: "a  b"}),
    ("a backslash in single quotes is text", "names:\n  - 'a\\\n    b'\n", {0: "a\\ b"}),
    ("breaks just inside the quotes", 'names:\n  - "\n    b"\n  - "c\n    "\n',
     {0: " b", 1: "c "}),
    ("lines after at any indentation are text", 'names:\n  - "a\nnc: 2"\n  - "b\n  - c"\n',
     {0: "a nc: 2", 1: "b - c"}),
    ("'#' inside is text, a comment after", 'names:\n  - "a\n    # b"  # c\n  - d\n',
     {0: "a # b", 1: "d"}),
    ("a tab before the next line's text", 'names:\n  - "a\n\tb"\n', {0: "a b"}),
    ("CRLF line breaks", 'names:\r\n  - "a\r\n\r\n   b"\r\n  - c\r\n', {0: "a\nb", 1: "c"}),
    ("escapes on the next line", 'names:\n  - "caf\n    \\u00e9 \\"x\\""\n', {0: 'caf é "x"'}),
    ("an empty name over two lines", 'names:\n  - a\n  - "\\\n    "\n  - c\n', {0: "a", 2: "c"}),
    # in flow collections
    ("flow: an escaped blank before the break stays", 'names: ["a\\ \n b", c]\n',
     {0: "a  b", 1: "c"}),
    ("flow: an escaped tab too", 'names: ["a\\\t\n b"]\n', {0: "a\t b"}),
    ("flow: an escaped break keeps the empty lines", 'names: {0: "a\\\n\n  b"}\n', {0: "a\nb"}),
    ("flow: empty lines before ','", "names: ['a\n  b'\n\n  , c\n\n  ]\n", {0: "a b", 1: "c"}),
    ("flow: empty lines after a plain name too", "names: [a\n\n  , b]\n", {0: "a", 1: "b"}),
    ("flow: a value on the line after 'key:'", "names: {0: # c\n\n  'a\n  b', 1: c}\n",
     {0: "a b", 1: "c"}),
    ("flow: a quote after ' - ' is text", "names: [a - 'b,\n  c']\n", {0: "a - 'b", 1: "c'"}),
]


def _pyyaml_names(text: str) -> dict:
    """PyYAML's ``names``, a list as ``{id: name}`` (null and '' keep their id, no name)."""
    yaml = pytest.importorskip("yaml")
    ref = yaml.safe_load(text.lstrip("\ufeff"))["names"]
    return {i: v for i, v in enumerate(ref) if v} if isinstance(ref, list) else ref


@pytest.mark.parametrize("label,text,expected", YAML_MULTILINE, ids=[c[0] for c in YAML_MULTILINE])
def test_parse_yaml_names_multiline_quoted(tmp_path, label, text, expected):
    p = write(tmp_path / "data.yaml", text)
    assert read_class_names(p) == expected, label


@pytest.mark.parametrize("label,text,expected", YAML_MULTILINE, ids=[c[0] for c in YAML_MULTILINE])
def test_parse_yaml_names_multiline_quoted_as_pyyaml_reads(label, text, expected):
    ref = _pyyaml_names(text)
    assert ref == expected, label  # the table states PyYAML's names
    assert parse_yaml_names(text) == ref, label


YAML_MULTILINE_ERRORS = [
    ("never closed: the line it opened on", 'names:\n  - "a\n    b"\n  - \'c\n\n', 4,
     "unterminated or malformed quote in \"'c\""),
    ("flow: never closed: the line it opened on", "names: [a,\n  'b,\n  c]\n", 2,
     "\"'b,\" ('[' on line 1 is never closed)"),
    ("a document marker ends it", 'names:\n  - "a\n---\n  b"\n', 2,
     "'\"a' (line 3 starts a new document)"),
    ("flow: a document marker ends it", 'names: ["a\n...\n b"]\n', 1,
     "(line 2 starts a new document)"),
    ("flow: a document marker in a plain list", "names: [a,\n---\n b]\n", 1,
     "'[' is never closed (line 2 starts a new document)"),
    ("text after the closing quote", 'names:\n  - "a\n    b" c\n', 2,
     "malformed quote in '\"a b\" c'"),
    ("a key after the closing quote", 'names:\n  0: "a\n     b": c\n', 2,
     "malformed quote in '\"a b\": c'"),
    ("a bad escape on the next line", 'names:\n  - "a\n    \\q"\n', 2, "unknown escape '\\\\q'"),
    ("flow: an error names the line its item starts on", 'names: [a,\n  "\\q"]\n', 2,
     "unknown escape"),
    ("flow: a comment ends an item", "names: [a # c\n  b]\n", 2,
     "expected ',' or ']' before 'b]' (after a comment)"),
    ("flow: 'a:' then an empty line is a mapping", "names: [a:\n\n  b]\n", 1,
     "nested mapping"),
]


@pytest.mark.parametrize("label,text,line,fragment", YAML_MULTILINE_ERRORS,
                         ids=[c[0] for c in YAML_MULTILINE_ERRORS])
def test_parse_yaml_names_multiline_errors(tmp_path, label, text, line, fragment):
    p = write(tmp_path / "data.yaml", text)
    with pytest.raises(InputError) as ei:
        read_class_names(p)
    assert str(ei.value).startswith(f"{p}:{line}: "), (label, str(ei.value))
    assert fragment in str(ei.value), (label, str(ei.value))


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
