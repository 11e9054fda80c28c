"""The writer factory (samcli.io.writers) and all writers together."""

from __future__ import annotations

import pytest

from samcli.config import OutputOptions
from samcli.errors import ConfigError, UsageError
from samcli.io.writers import make_writers
from tests.io.helpers import make_result, records_of, with_records


def _opts(output=None, format="jsonl", crops=None, preview=None) -> OutputOptions:
    return OutputOptions(output=output and str(output), format=format,
                         crops=crops and str(crops), preview=preview and str(preview)).validate()


@pytest.mark.parametrize("label, kw, kinds, geometry, rgb", [
    ("stdout", {}, ["JsonlStdoutWriter"], True, False),
    ("jsonl files", {"output": "OUT"}, ["JsonlWriter"], True, False),
    ("coco + crops + preview", {"output": "OUT", "format": "coco", "crops": "C", "preview": "P"},
     ["CocoWriter", "CropsWriter", "PreviewWriter"], False, True),
    ("coco alone needs no polygon", {"output": "OUT", "format": "coco"}, ["CocoWriter"], False,
     False),
    ("yolo", {"output": "OUT", "format": "yolo"}, ["YoloWriter"], True, False),
    ("geojson", {"output": "OUT", "format": "geojson"}, ["GeoJsonWriter"], True, False),
    ("stdout + crops", {"crops": "C"}, ["JsonlStdoutWriter", "CropsWriter"], True, True),
])
def test_make_writers(tmp_path, label, kw, kinds, geometry, rgb):
    kw = {k: tmp_path / v if k != "format" else v for k, v in kw.items()}
    ws = make_writers(_opts(**kw))
    assert [type(w).__name__ for w in ws] == kinds, label
    assert any(w.needs_geometry for w in ws) is geometry, label
    assert any(w.needs_rgb for w in ws) is rgb, label


def test_make_writers_categories_and_refused_options(tmp_path):
    cats = [{"id": 0, "name": "person"}]
    assert make_writers(_opts(tmp_path, "coco"), cats)[0].categories == cats
    with pytest.raises(ConfigError, match="-o"):
        _opts(None, "coco")
    # An unknown format name does not parse: a usage error (exit 2), not a config error.
    with pytest.raises(UsageError, match="--format"):
        _opts(tmp_path, "xml")


def test_all_writers_end_to_end_leave_no_tempfiles(tmp_path):
    ws = make_writers(_opts(tmp_path / "out", "coco", tmp_path / "crops", tmp_path / "prev"))
    for image in ["x/a.jpg", "y/a.jpg"]:
        res = make_result(image, with_rgb=True)
        recs = records_of(res, 0.4, None)
        for w in ws:
            for p in w.write(with_records(res, recs)):
                assert p.is_file()
    for w in ws:
        w.finish(["x/a.jpg", "y/a.jpg"])
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert (tmp_path / "out" / "annotations.json").is_file()


def test_discard_removes_only_the_images_own_files(tmp_path):
    """discard(image) removes the image's per-image file, but never a path another image
    of this run has claimed (a clash: that file is the other image's)."""
    from samcli.io.formats import JsonlWriter

    w = JsonlWriter(tmp_path)
    for name in ("a.png", "b.png"):
        (tmp_path / f"{name}.jsonl").write_text("{}\n")
    w.discard("a.png")
    assert not (tmp_path / "a.png.jsonl").exists()
    w._claim("b.png")
    w.discard("b.png")  # its own claim: removed
    assert not (tmp_path / "b.png.jsonl").exists()
    (tmp_path / "c.png.jsonl").write_text("{}\n")
    w._seen[str(tmp_path / "c.png.jsonl")] = "other/c.png"
    w.discard("c.png")
    assert (tmp_path / "c.png.jsonl").exists()


@pytest.mark.parametrize("label, kw, written", [
    ("jsonl", {"output": "OUT"}, ["OUT/x/a.jpg.jsonl"]),
    ("geojson", {"output": "OUT", "format": "geojson"}, ["OUT/x/a.jpg.geojson"]),
    ("yolo: the label and its part", {"output": "OUT", "format": "yolo"},
     ["OUT/x/a.txt", "OUT/.samcli/yolo/x/a.jpg.json"]),
    ("coco: the part", {"output": "OUT", "format": "coco"}, ["OUT/.samcli/coco/x/a.jpg.json"]),
    ("a chip a record, the preview", {"output": "OUT", "crops": "C", "preview": "P"},
     ["OUT/x/a.jpg.jsonl", "C/x/a.jpg/0.png", "C/x/a.jpg/3.png", "P/x/a.jpg.jpg"]),
])
def test_files_present_notices_each_file_deleted(tmp_path, label, kw, written):
    """After writing x/a.jpg and y/a.jpg, every writer has all files of both; deleting any
    one of x/a.jpg's files (named in ``written``, a sample) is noticed for x/a.jpg, and
    only for it. An image without records has no chips to look for."""
    kw = {k: tmp_path / v if k != "format" else v for k, v in kw.items()}
    ws = make_writers(_opts(**kw))
    counts = {}
    for image in ["x/a.jpg", "y/a.jpg"]:
        res = make_result(image, with_rgb=True)
        res = with_records(res, records_of(res, 0.4, None))
        counts[image] = len(res.records)
        for w in ws:
            w.write(res)

    def present(image):
        return all(w.files_present(image, counts[image]) for w in ws)

    assert present("x/a.jpg") and present("y/a.jpg"), label
    for name in written:
        path = tmp_path / name
        data = path.read_bytes()
        path.unlink()
        assert not present("x/a.jpg") and present("y/a.jpg"), (label, name)
        path.write_bytes(data)
        assert present("x/a.jpg"), (label, name)
    assert all(w.files_present("z/none.jpg", 0) for w in ws if type(w).__name__ == "CropsWriter")


# ------------------------------------------- whole-run files: a done image's part that is gone

_WHOLE_RUN = {"coco": ("annotations.json", "results.json"),
              "labelstudio": ("tasks.json", "label_config.xml")}
_DONE = ["a.png", "x/b.jpg", "c.png"]


def _make_whole_run(root, fmt, said):
    from samcli.io.formats import CocoWriter
    from samcli.io.labelstudio import LabelStudioWriter

    return (CocoWriter(root, warn=said.append) if fmt == "coco"
            else LabelStudioWriter(root, warn=said.append))


def _written(root, fmt, images):
    """A writer of ``fmt`` under ``root`` that has written ``images`` (and finished nothing)."""
    said = []
    w = _make_whole_run(root, fmt, said)
    for image in images:
        res = make_result(image, seed=_DONE.index(image) if image in _DONE else 0)
        w.write(with_records(res, records_of(res, 0.4, None)))
    return w


@pytest.mark.parametrize("fmt", ["coco", "labelstudio"])
@pytest.mark.parametrize("label, spoil, why", [
    ("missing", lambda p: p.unlink(), "is missing"),
    ("empty (truncated to 0 bytes)", lambda p: p.write_bytes(b""), "is empty"),
    ("cut short", lambda p: p.write_bytes(p.read_bytes()[:40]), "is not valid JSON"),
    ("bad JSON", lambda p: p.write_bytes(b'{"bad'), "is not valid JSON"),
    ("not UTF-8", lambda p: p.write_bytes(b"\xff\xfe{}"), "is not valid JSON"),
    ("JSON of another shape", lambda p: p.write_text("[1, 2]"), "does not hold what samcli"),
    ("an object without what the part holds", lambda p: p.write_text('{"image": "x/b.jpg"}'),
     "does not hold what samcli"),
    ("a folder", lambda p: (p.unlink(), p.mkdir()), "cannot be read"),
])
def test_a_done_image_whose_part_is_gone_is_left_out_with_one_warning(tmp_path, fmt, label,
                                                                       spoil, why):
    """Issue F7: a done image whose part is missing or unreadable (an earlier run's, over
    another input folder, which this run does not redo) is left out of the whole-run files,
    which are then those of a run without it, with one Warning line naming the image, its
    part and how to get it back; ``left_out`` names it for the runner, and files_present
    says it is not there (an input of the run is redone)."""
    out, ref = tmp_path / "out", tmp_path / "ref"
    w = _written(out, fmt, _DONE)
    _written(ref, fmt, ["a.png", "c.png"]).finish(["a.png", "c.png"])
    part = w.part_path("x/b.jpg")
    spoil(part)
    said = []
    w = _make_whole_run(out, fmt, said)
    w.finish(_DONE)  # no error: the run goes on
    for name in _WHOLE_RUN[fmt]:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), (label, name)
    (line,) = said
    assert f"leave out x/b.jpg: its part file {part} {why}" in line, (label, line)
    assert "run samcli again" in line and "input folder that holds x/b.jpg" in line, label
    assert "--overwrite" not in line, label
    assert w.left_out == {"x/b.jpg": line}, label
    assert not w.files_present("x/b.jpg", 4) and w.files_present("a.png", 4), label
    w.finish(["a.png", "c.png"])  # the next finish starts afresh
    assert w.left_out == {} and len(said) == 1, label


@pytest.mark.parametrize("fmt", ["coco", "labelstudio"])
def test_many_left_out_images_are_named_up_to_five_then_counted(tmp_path, fmt):
    images = [f"{i}.png" for i in range(8)]
    said = []
    w = _make_whole_run(tmp_path, fmt, said)
    w.finish(images)  # none has a part
    assert len(said) == 6 and all("run samcli again" in line for line in said)
    assert [line.split(" leave out ")[1].split(":")[0] for line in said[:5]] == images[:5]
    assert "3 more done images (5.png first)" in said[5]
    assert sorted(w.left_out) == images
    assert _listed(tmp_path, fmt) == []


def _listed(root, fmt):
    """The images (COCO) or tasks (Label Studio) the whole-run file lists."""
    import json

    doc = json.loads((root / _WHOLE_RUN[fmt][0]).read_text())
    return doc["images"] if fmt == "coco" else doc
