"""samcli.io.outputs: output paths never escape their folder."""

from __future__ import annotations

import pytest

from samcli.errors import InputError
from samcli.io.outputs import output_relpath


def test_output_relpath_never_escapes():
    assert output_relpath("sub/dir/a.jpg").as_posix() == "sub/dir/a.jpg"
    assert output_relpath("/abs/a.jpg").as_posix() == "abs/a.jpg"
    assert output_relpath("../up/./a.jpg").as_posix() == "__/up/a.jpg"
    with pytest.raises(InputError):
        output_relpath("/")


def _writers(tmp_path, *kinds):
    from samcli.io.formats import JsonlWriter
    from samcli.io.visuals import CropsWriter, PreviewWriter

    make = {"crops": CropsWriter, "preview": PreviewWriter, "jsonl": JsonlWriter}
    return [make[k](tmp_path / folder) for k, folder in kinds]


@pytest.mark.parametrize("label, kinds, images, clash", [
    ("preview file = chips folder", [("preview", "x"), ("crops", "x")],
     ["a.png", "a.png.jpg"], "a.png.jpg"),
    ("same folder, no shared path", [("preview", "x"), ("crops", "x"), ("jsonl", "x")],
     ["a.png", "b.png"], None),
    ("preview and chips in two folders", [("preview", "x"), ("crops", "y")],
     ["a.png", "a.png.jpg"], None),
    ("one image's own outputs", [("preview", "x"), ("jsonl", "x")], ["a.png"], None),
])
def test_check_clashes_across_writers(tmp_path, label, kinds, images, clash):
    """Two images whose outputs, from two writers sharing a folder, are one path: refused
    before any work, naming both images and the path (not a failure at write time)."""
    from samcli.io.outputs import check_clashes

    writers = _writers(tmp_path, *kinds)
    if clash is None:
        check_clashes(writers, images)
        return
    with pytest.raises(InputError) as err:
        check_clashes(writers, images)
    message = str(err.value)
    assert all(image in message for image in images) and str(tmp_path / "x" / clash) in message
