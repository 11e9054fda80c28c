"""``samcli automask`` end to end: stdout contract, files, manifest/resume, bad inputs, errors."""

from __future__ import annotations

import json
import signal
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from samcli.io.records import RECORD_KEYS
from tests.commands.conftest import (FAST, error_lines, invoke, jsonl, run_interrupted,
                                     write_image)


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "in put"  # spaces in paths
    write_image(root / "a.png", seed=1)
    write_image(root / "sub" / "a.png", seed=2)  # same name, other folder
    write_image(root / "ünï" / "b c.jpg", seed=3)
    return root


def test_stdout_is_jsonl_records_only(tree, mobile_ckpt):
    result = invoke("automask", tree, "--checkpoint", mobile_ckpt, *FAST)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert records, "the confident test model should give proposals"
    assert {r["image"] for r in records} == {"a.png", "sub/a.png", "ünï/b c.jpg"}
    for r in records:
        assert list(r)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
        assert "tiles" not in r  # untiled (tiled records: test_tiled_records_name_their_tiles)
        assert (r["width"], r["height"]) == (64, 48)
        x, y, w, h = r["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 48
        assert r["segmentation"]["type"] in ("Polygon", "MultiPolygon")
    ids = [r["id"] for r in records if r["image"] == "a.png"]
    assert ids == list(range(len(ids)))
    assert result.stderr == ""  # -q: nothing on stderr


@pytest.mark.parametrize("label, args", [
    ("bfloat16 encoder, decoder auto (mixed on the CPU)", ["--dtype", "bfloat16"]),
    ("mixed decoder after a float32 encoder", ["--decoder-dtype", "mixed"]),
])
def test_mixed_precision_runs(tree, mobile_ckpt, label, args):
    result = invoke("automask", tree / "a.png", "--checkpoint", mobile_ckpt, *FAST, *args)
    assert result.exit_code == 0, (label, result.stderr)
    records = jsonl(result.stdout)
    assert records and all(r["image"].endswith("a.png") for r in records), label


def test_summary_on_stderr_without_quiet(tree, mobile_ckpt):
    args = [a for a in FAST if a != "-q"]
    result = invoke("automask", tree / "a.png", "--checkpoint", mobile_ckpt, *args)
    assert result.exit_code == 0
    assert "1 image done" in result.stderr
    assert all(line.startswith("{") for line in result.stdout.splitlines())


def test_stdin_list_and_glob(tree, mobile_ckpt):
    listing = f"{tree / 'a.png'}\n\n{tree / 'sub'}\n"
    result = invoke("automask", "-", "--checkpoint", mobile_ckpt, *FAST, input=listing)
    assert result.exit_code == 0, result.stderr
    assert {r["image"] for r in jsonl(result.stdout)} == {str(tree / "a.png"), "a.png"}
    result = invoke("automask", tree, "--glob", "*.jpg", "--checkpoint", mobile_ckpt, *FAST)
    assert {r["image"] for r in jsonl(result.stdout)} == {"ünï/b c.jpg"}


@pytest.mark.parametrize("fmt", ["jsonl", "coco", "yolo", "geojson"])
def test_formats_write_files_and_manifest(tree, tmp_path, mobile_ckpt, fmt):
    out = tmp_path / "out"
    result = invoke("automask", tree, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
                    "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(e["image"] for e in manifest) == ["a.png", "sub/a.png", "ünï/b c.jpg"]
    assert all(e["status"] == "done" for e in manifest)
    if fmt == "coco":
        gt = COCO(str(out / "annotations.json"))
        assert len(gt.getImgIds()) == 3 and gt.getAnnIds()
        assert gt.loadCats(gt.getCatIds())[0]["name"] == "object"
    elif fmt == "yolo":
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt"))
        assert files == ["a.txt", "sub/a.txt", "ünï/b c.txt"]
        for p in out.rglob("*.txt"):
            for row in p.read_text().splitlines():
                vals = [float(v) for v in row.split()[1:]]
                assert len(vals) >= 6 and all(0 <= v <= 1 for v in vals)
    else:
        ext = {"jsonl": "jsonl", "geojson": "geojson"}[fmt]
        assert (out / f"sub/a.png.{ext}").is_file() and (out / f"a.png.{ext}").is_file()


def test_rerun_skips_done_and_overwrite_redoes(tree, tmp_path, mobile_ckpt):
    """One image (the tree's sub folder): skipping, redoing and overwriting are per image."""
    out = tmp_path / "out"
    base = ["automask", tree / "sub", "--checkpoint", mobile_ckpt, "--points-per-side", "2",
            "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "-o", out]
    assert invoke(*base).exit_code == 0
    before = (out / "a.png.jsonl").read_bytes()
    again = invoke(*base)
    assert again.exit_code == 0 and "1 skipped" in again.stderr
    (out / "a.png.jsonl").unlink()  # deleted by hand: redone, not skipped
    deleted = invoke(*base)
    assert deleted.exit_code == 0 and "1 image done" in deleted.stderr, deleted.stderr
    assert "skipped" not in deleted.stderr and (out / "a.png.jsonl").read_bytes() == before
    changed = invoke(*base, "--points-per-side", "1")  # new parameters: new hash, redone
    assert "1 image done" in changed.stderr and "skipped" not in changed.stderr
    assert invoke(*base, "--overwrite").exit_code == 0
    assert (out / "a.png.jsonl").read_bytes() == before
    statuses = [json.loads(line)["status"] for line in (out / "manifest.jsonl").open()]
    assert statuses == ["done", "started", "done", "started", "done", "started", "done"]


def _bad_inputs(root: Path) -> None:
    write_image(root / "good.png")
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    good = (root / "good.png").read_bytes()
    buf = root / "trunc.jpg"
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(buf, quality=90)
    buf.write_bytes(buf.read_bytes()[:200])
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(root / "rgba.png")
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(root / "deep16.png")
    assert good


def test_bad_inputs_reported_and_run_goes_on(tmp_path, mobile_ckpt):
    root = tmp_path / "mixed"
    _bad_inputs(root)
    out = tmp_path / "out"
    result = invoke("automask", root, "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert result.exit_code == 3, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 3
    for name in ("zero.jpg", "text.png", "trunc.jpg"):
        assert any(name in e for e in errors), (name, errors)
    manifest = {json.loads(l)["image"]: json.loads(l)
                for l in (out / "manifest.jsonl").read_text().splitlines()}
    assert manifest["zero.jpg"]["status"] == "failed" and manifest["zero.jpg"]["error"]
    for ok in ("good.png", "rgba.png", "deep16.png"):
        assert manifest[ok]["status"] == "done"
        assert (out / f"{ok}.jsonl").is_file()
    assert "Traceback" not in result.stderr


def test_fail_fast_stops_at_first_failure(tmp_path, mobile_ckpt):
    """One image done, then two that fail (in path order): the run stops at the first."""
    root = tmp_path / "mixed"
    write_image(root / "good.png")
    (root / "text.png").write_text("not an image")
    (root / "zero.jpg").write_bytes(b"")
    result = invoke("automask", root, "--checkpoint", mobile_ckpt, *FAST, "--fail-fast")
    assert result.exit_code == 3
    (error,) = error_lines(result.stderr)
    assert "text.png" in error
    assert {r["image"] for r in jsonl(result.stdout)} == {"good.png"}


@pytest.mark.parametrize(
    "label, args, code, needle",
    [
        ("unknown model", ["--model", "vit_z"], 2, "vit_b, vit_l, vit_h, mobile_sam"),
        ("bad format", ["--format", "xml", "-o", "OUT"], 2, "--format"),
        ("format without -o", ["--format", "coco"], 1, "-o"),
        ("bad area", ["--min-area", "lots"], 2, "--min-area"),
        ("area out of range", ["--min-area", "120%"], 1, "--min-area"),
        ("bad preset", ["--preset", "fast"], 2, "--preset"),
        ("missing checkpoint", ["--checkpoint", "nope.pth"], 1, "nope.pth: no such file"),
        ("a folder as checkpoint", ["--checkpoint", "OUT"], 1, "is a folder, not a weights file"),
        ("bad device", ["--device", "tpu"], 2, "tpu"),
        ("absent device", ["--device", "cuda"], 1, "CUDA is not available"),
        ("float16 decoder on CPU", ["--device", "cpu", "--decoder-dtype", "float16"], 1,
         "--decoder-dtype float16 is not supported on the CPU"),
        ("bad decoder dtype", ["--decoder-dtype", "half-ish"], 2, "unknown --decoder-dtype"),
        ("no images", ["--glob", "*.nothing"], 1,
         "no images found in TREE matching --glob '*.nothing' (matched"),
    ],
)
def test_errors_before_any_work(tree, tmp_path, label, args, code, needle):
    args = [str(tmp_path / "o") if a == "OUT" else a for a in args]
    (tmp_path / "o").mkdir()
    result = invoke("automask", tree, *args)
    assert result.exit_code == code, (label, result.stderr)
    errors = error_lines(result.stderr)
    needle = needle.replace("TREE", str(tree))
    assert len(errors) == 1 and needle in errors[0], (label, result.stderr)
    assert result.stdout == ""


def test_corrupt_checkpoint_one_paragraph(tree, tmp_path):
    bad = tmp_path / "sam_vit_b.pth"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    result = invoke("automask", tree, "--checkpoint", bad, "--model", "vit_b")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert str(bad) in line


def test_offline_download_error_names_url_and_path(tree, tmp_path, monkeypatch):
    from samcli.model import loading, specs

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    # load_model's default opener is bound at definition time: replace the default itself
    monkeypatch.setitem(loading.load_model.__kwdefaults__, "opener", offline)
    result = invoke("automask", tree, "--model", "mobile_sam")
    assert result.exit_code == 1, result.stderr
    (line,) = error_lines(result.stderr)
    assert specs.get_spec("mobile_sam").url in line
    assert str(tmp_path / "cache" / "mobile_sam.pt") in line
    assert not (tmp_path / "cache" / "mobile_sam.pt").exists()


def _names(d: Path) -> list[str]:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*")
                  if p.is_file() and p.name != "manifest.jsonl")


@pytest.mark.parametrize("label, point, n", [
    ("after the second image is recorded", "record", 2),
    ("inside a file write, between the temporary file and its rename", "write", 3),
])
def test_killed_run_resumes_to_identical_outputs(tmp_path, coco_reference, label, point, n):
    """kill -9 at a known point, then the same command again: the outputs of an uninterrupted
    run (``coco_reference``), byte for byte; nothing half-written is ever left or taken as
    done."""
    args, full, part = coco_reference.args, coco_reference.full, tmp_path / "part"

    killed = run_interrupted(point, n, "KILL", *args, "-o", part)
    assert killed.returncode == -signal.SIGKILL, label
    done_before = (part / "manifest.jsonl").read_text().count('"done"')
    assert done_before == 2, label  # (the 3rd write is the third image's COCO part)
    assert not (part / "annotations.json").exists(), label
    rerun = invoke(*args, "-o", part)
    assert rerun.exit_code == 0, (label, rerun.stderr)
    assert not list(part.rglob("*.tmp")), label
    assert _names(part) == _names(full), label
    for rel in _names(full):
        assert (part / rel).read_bytes() == (full / rel).read_bytes(), (label, rel)


def test_crops_and_preview(tree, tmp_path, mobile_ckpt):
    crops, preview = tmp_path / "chips", tmp_path / "look"
    result = invoke("automask", tree / "a.png", "--checkpoint", mobile_ckpt, *FAST,
                    "--crops", crops, "--preview", preview)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    chips = sorted(p for p in crops.rglob("*.png") if p.is_file())  # "a.png/" is a folder
    assert len(chips) == len(records) > 0
    chip = np.array(Image.open(chips[0]))
    assert chip.ndim == 3 and chip.shape[2] == 4  # RGBA: transparent outside the mask
    first = records[int(chips[0].stem)]
    assert chip.shape[:2] == (first["bbox"][3], first["bbox"][2])
    assert (chip[..., 3] > 0).sum() == first["area"]
    (shot,) = [p for p in preview.rglob("*.jpg") if p.is_file()]
    assert Image.open(shot).size == (64, 48)


@pytest.mark.parametrize("case, args, n_tiles", [
    ("explicit tiles (2 x 2)", ["--tile", "64", "--tile-overlap", "16"], 4),
    ("automatic above the pixel budget", ["--tile-above", "1000"], 1),
])
def test_tiled_records_name_their_tiles(tmp_path, mobile_ckpt, case, args, n_tiles):
    from shapely.geometry import shape

    image = write_image(tmp_path / "big.png", h=100, w=100, seed=5)
    result = invoke("automask", image, "--checkpoint", mobile_ckpt, *FAST, *args)
    assert result.exit_code == 0, (case, result.stderr)
    records = jsonl(result.stdout)
    assert records, case
    assert [r["id"] for r in records] == list(range(len(records)))
    seen = set()
    for r in records:
        assert list(r)[len(RECORD_KEYS)] == "tiles", case
        for x, y, w, h in r["tiles"]:
            assert 0 <= x and 0 <= y and x + w <= 100 and y + h <= 100
            seen.add((x, y, w, h))
        assert shape(r["segmentation"]).is_valid
    assert len(seen) <= n_tiles


def test_bad_tile_option_is_one_error_line(tmp_path, mobile_ckpt):
    image = write_image(tmp_path / "small.png", seed=5)
    result = invoke("automask", image, "--checkpoint", mobile_ckpt, "--tile", "256",
                    "--tile-overlap", "200")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: --tile-overlap 200 must be less than half the tile size (--tile 256)"]
    assert result.stdout == ""


def test_help_lists_every_option_with_its_default():
    import dataclasses
    import re

    from samcli.config import AutomaskConfig, flag_of

    from typer.testing import CliRunner

    from samcli.cli import get_app

    # Wide enough that rich does not cut long flag names (it does at 80 columns)
    result = CliRunner().invoke(get_app(), ["automask", "--help"],
                                env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    text = re.sub(r"[\s│]+", " ", result.stdout)  # rich wraps help lines inside boxes
    for f in dataclasses.fields(AutomaskConfig):
        assert flag_of(f).split("/")[0] in text, f.name
    assert "(grid of N x N). [default: 32]" in text
    assert "[default: 0; --preset may change it]" in text  # --crop-n-layers
    assert "[default: 36000000]" in text  # --tile-above


def test_whole_run_files_of_another_format_are_named_once(tmp_path, mobile_ckpt):
    """Switching --format in one -o leaves the earlier run's annotations.json: said, since
    this run does not update it. A folder samcli never wrote into is not looked at."""
    write_image(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    args = ["automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST, "-o", out]
    assert invoke(*args, "--format", "coco").exit_code == 0
    again = invoke(*args, "--format", "jsonl")
    assert again.exit_code == 0, again.stderr
    assert [line for line in again.stderr.splitlines() if line.startswith("Warning:")] == [
        f"Warning: {out / name}: left by an earlier --format coco run into this folder; this "
        "run (--format jsonl) does not update it" for name in ("annotations.json",
                                                                "results.json")]
    theirs = tmp_path / "dataset"
    theirs.mkdir()
    (theirs / "data.yaml").write_text("names: [a]\n")
    fresh = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST, "-o", theirs,
                   "--format", "coco")
    assert fresh.exit_code == 0 and "Warning" not in fresh.stderr, fresh.stderr


@pytest.mark.parametrize("label, fmt, options, warned", [
    ("COCO, other options", "coco", ["--points-per-side", "3"], True),
    ("COCO, the same options", "coco", [], False),
    ("Label Studio, other options", "labelstudio", ["--points-per-side", "3"], True),
    ("JSON Lines: per-image files only", "jsonl", ["--points-per-side", "3"], False),
])
def test_inputs_left_out_of_whole_run_files_for_other_options_are_named(
        tmp_path, mobile_ckpt, monkeypatch, label, fmt, options, warned):
    """A run over folder b with other options into the -o that holds a's: a's image is not
    in annotations.json (one run's options); one warning says so."""
    for name in ("a", "b"):
        write_image(tmp_path / name / f"{name}.png")
    monkeypatch.chdir(tmp_path)
    base = ("--checkpoint", mobile_ckpt, *FAST, "-o", "out", "--format", fmt)
    assert invoke("automask", "a", *base).exit_code == 0
    second = invoke("automask", "b", *base, *options)
    assert second.exit_code == 0, second.stderr
    said = [line for line in second.stderr.splitlines() if line.startswith("Warning:")]
    files = {"coco": "annotations.json, results.json",
             "labelstudio": "tasks.json, label_config.xml"}.get(fmt)
    assert said == ([f"Warning: 1 input done into out by an earlier run with other options or "
                     f"another samcli (such as a.png) is left out of {files}, which hold one "
                     "run's options: run them again with these options to include them"]
                    if warned else []), label


@pytest.mark.parametrize("label, folders, listed, warned", [
    ("an empty folder among others", ["in", "empty"], None, ["empty"]),
    ("a folder of other files", ["in", "texts"], None, ["texts"]),
    ("a folder inside another given one", ["in", "in/sub"], None, []),
    ("the same folder twice", ["in", "in"], None, []),
    ("an empty folder listed on stdin", ["-"], "in\nempty\n", ["empty"]),
    ("listed on stdin, the images given", ["in", "-"], "texts\r\nin/sub\r\n", ["texts"]),
    ("listed on stdin, the empty one given", ["empty", "-"], "in\n", ["empty"]),
])
def test_a_folder_that_gives_no_image_is_named(tmp_path, mobile_ckpt, monkeypatch, label,
                                               folders, listed, warned):
    write_image(tmp_path / "in" / "sub" / "a.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    result = invoke("automask", *folders, "--checkpoint", mobile_ckpt, *FAST, input=listed)
    assert result.exit_code == 0, (label, result.stderr)
    assert [line for line in result.stderr.splitlines() if line.startswith("Warning:")] == [
        f"Warning: {folder}: no images found in this folder" for folder in warned], label
    assert [r["image"] for r in jsonl(result.stdout)][:1] == ["sub/a.png"], label


def test_a_folder_whose_image_is_refused_is_not_called_empty(tmp_path, mobile_ckpt,
                                                              monkeypatch):
    """twoB/a.png goes by the name of twoA/a.png: one error says so; twoB is not empty."""
    for folder in ("twoA", "twoB"):
        write_image(tmp_path / folder / "a.png")
    monkeypatch.chdir(tmp_path)
    result = invoke("automask", "twoA", "twoB", "--checkpoint", mobile_ckpt, *FAST)
    assert result.exit_code == 3
    assert [line.split(":")[0] for line in result.stderr.splitlines()
            if line.startswith(("Warning:", "Error:"))] == ["Error"], result.stderr
    assert error_lines(result.stderr)[0].startswith("Error: twoB/a.png: goes by the name a.png")


def _summary_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("samcli: "))


def test_a_done_input_whose_files_another_input_rewrote_is_redone(tmp_path, mobile_ckpt):
    """a.png, then a.jpg (both name a.txt), then a.png again: the third run must not take
    a.png's earlier line as done, since a.txt now holds a.jpg's masks."""
    images, out = tmp_path / "images", tmp_path / "labels"
    write_image(images / "a.png", seed=3)
    args = ("automask", images, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
            "--format", "yolo")
    assert invoke(*args).exit_code == 0
    from_png = (out / "a.txt").read_bytes()
    png = (images / "a.png").rename(tmp_path / "a.png")
    write_image(images / "a.jpg", seed=9)
    assert invoke(*args).exit_code == 0
    assert (out / "a.txt").read_bytes() != from_png
    (images / "a.jpg").unlink()
    png.rename(images / "a.png")  # the very file of the first run, mtime and all
    again = invoke(*[a for a in args if a != "-q"])
    assert again.exit_code == 0, again.stderr
    assert _summary_line(again.stderr).startswith("samcli: 1 image done;")
    assert (out / "a.txt").read_bytes() == from_png


def test_automask_after_from_boxes_into_one_folder_redoes_what_it_overwrote(tmp_path,
                                                                            mobile_ckpt):
    """Both commands name image 0.png's COCO part alike: the automask rerun redoes its
    input instead of building annotations.json from from-boxes' masks."""
    data = tmp_path / "data"
    write_image(data / "images" / "0.png")
    (data / "labels").mkdir()
    (data / "labels" / "0.txt").write_text("0 0.5 0.5 0.6 0.6\n")
    auto = ("automask", data / "images", "--checkpoint", mobile_ckpt, *FAST, "--format",
            "coco")
    assert invoke(*auto, "-o", tmp_path / "ref").exit_code == 0
    assert invoke(*auto, "-o", tmp_path / "x").exit_code == 0
    boxes = invoke("from-boxes", data / "labels", "--checkpoint", mobile_ckpt, "-q", "-o",
                   tmp_path / "x", "--format", "coco")
    assert boxes.exit_code == 0, boxes.stderr
    again = invoke(*[a for a in auto if a != "-q"], "-o", tmp_path / "x")
    assert _summary_line(again.stderr).startswith("samcli: 1 image done;"), again.stderr
    assert ((tmp_path / "x" / "annotations.json").read_bytes()
            == (tmp_path / "ref" / "annotations.json").read_bytes())
