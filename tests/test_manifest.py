"""The manifest (:mod:`samcli.manifest`): which lines are trusted, what counts as done."""

from __future__ import annotations

import json

import pytest

from samcli.errors import ConfigError
from samcli.manifest import MANIFEST, Manifest
from tests.test_runner import HASH, SOURCE, _done, _write_manifest


@pytest.mark.parametrize("label, lines, done", [
    ("plain", [_done("a"), _done("b")], ["a", "b"]),
    ("last line wins: failed after done", [_done("a"), {**_done("a"), "status": "failed"}], []),
    ("last line wins: done after failed", [{**_done("a"), "status": "failed"}, _done("a")],
     ["a"]),
    ("other parameters: not done", [_done("a", hash_="other")], []),
    ("not JSON", ["{nope", _done("b")], ["b"]),
    ("not an object", ["[1, 2]", "3", "null", _done("b")], ["b"]),
    ("no image", [{k: v for k, v in _done("a").items() if k != "image"}], []),
    ("no input", [{k: v for k, v in _done("a").items() if k != "input"}], []),
    ("input not a string", [{**_done("a"), "input": 7}], []),
    ("hash not a string", [{**_done("a"), "hash": ["h"]}], []),
    ("status not a string", [{**_done("a"), "status": True}], []),
    ("deeply nested junk", ["[" * 100_000, _done("b")], ["b"]),
    ("an image no output can be named after", [{**_done("a"), "image": "/./"}], []),
    ("started after done: replacing its files", [_done("a"), {**_done("a"), "status":
                                                              "started"}], []),
])
def test_manifest_lines(tmp_path, label, lines, done):
    _write_manifest(tmp_path, lines)
    m = Manifest(tmp_path)
    assert m.done_images(HASH) == done, label
    assert [k for k in ("a", "b") if m.is_done(k, HASH, SOURCE)] == done, label


@pytest.mark.parametrize("label, entry, now, done", [
    ("same file", _done("a"), SOURCE, True),
    ("another file at the same path (size)", _done("a"), {**SOURCE, "size": 4}, False),
    ("touched", _done("a"), {**SOURCE, "mtime_ns": 2}, False),
    ("same size and time, other content", _done("a"), {**SOURCE, "head_tail_sha256": "cd"},
     False),
    ("another folder, same names", _done("a"), {**SOURCE, "path": "/other/x"}, False),
    ("line of an older samcli (no source)", {k: v for k, v in _done("a").items()
                                             if k != "source"}, SOURCE, False),
    ("input unreadable now", _done("a"), None, False),
])
def test_done_means_the_same_input_file(tmp_path, label, entry, now, done):
    _write_manifest(tmp_path, [entry])
    assert Manifest(tmp_path).is_done("a", HASH, now) is done, label


def test_from_boxes_also_checks_the_labels_image(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"pixels")
    from samcli.fs import file_identity

    _write_manifest(tmp_path / "out", [_done("a.txt", image_source=file_identity(image))])
    assert Manifest(tmp_path / "out").is_done("a.txt", HASH, SOURCE, image)
    # the label resolves to another image now (an a.jpg the lookup prefers), or to none
    other = tmp_path / "a.jpg"
    other.write_bytes(b"pixels")
    assert not Manifest(tmp_path / "out").is_done("a.txt", HASH, SOURCE, other)
    assert not Manifest(tmp_path / "out").is_done("a.txt", HASH, SOURCE, None)
    image.write_bytes(b"other pixels")
    assert not Manifest(tmp_path / "out").is_done("a.txt", HASH, SOURCE, image)


def test_torn_last_line_is_ignored_and_the_next_line_starts_fresh(tmp_path):
    _write_manifest(tmp_path, [_done("a")])
    with open(tmp_path / MANIFEST, "a") as fh:
        fh.write(json.dumps(_done("b"))[:25])  # killed mid-line
    m = Manifest(tmp_path)
    assert m.done_images(HASH) == ["a"]
    m.append(_done("c"))
    again = Manifest(tmp_path)
    assert again.done_images(HASH) == ["a", "c"]
    assert (tmp_path / MANIFEST).read_text().splitlines()[-1] == json.dumps(_done("c"))


def test_undecodable_bytes_do_not_stop_the_reading(tmp_path):
    (tmp_path / MANIFEST).write_bytes(b"\xff\xfe junk\n" + json.dumps(_done("a")).encode()
                                      + b"\n")
    assert Manifest(tmp_path).done_images(HASH) == ["a"]


@pytest.mark.parametrize("label, make", [
    ("a folder", lambda p: p.mkdir()),
    ("a symlink", lambda p: p.symlink_to(p.parent / "elsewhere.jsonl")),
])
def test_manifest_that_is_not_a_file_is_refused_before_any_work(tmp_path, label, make):
    make(tmp_path / MANIFEST)
    with pytest.raises(ConfigError, match=MANIFEST):
        Manifest(tmp_path)
    assert not (tmp_path / "elsewhere.jsonl").exists(), label


def test_names_with_unicode_line_breaks_resume(tmp_path):
    """Only "\\n" ends a manifest line: a name holding U+2028, U+2029 or U+0085 (JSON keeps
    them unescaped) is read back whole."""
    names = ["a\u2028b", "c\u2029d", "e\x85f", "g\x1ch"]
    m = Manifest(tmp_path)
    for name in names:
        m.append(_done(name))
    assert Manifest(tmp_path).done_images(HASH) == sorted(names)
