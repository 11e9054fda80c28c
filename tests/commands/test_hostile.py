"""Hostile and unlucky inputs, folders, faults and signals: one labelled case per failure
class of issue 14, each checking the exit code, the stderr line, the manifest and that what was
finished stays intact. (Label readers: tests/io/test_labels*.py; weights and the cache:
tests/model; the manifest's own rules: tests/test_runner.py.)"""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.commands.conftest import (FAST, REPO, error_lines, invoke, jsonl, run_interrupted,
                                     write_image)


def _manifest(out: Path) -> dict[str, dict]:
    return {e["input"]: e for e in (json.loads(line) for line in
                                    (out / "manifest.jsonl").read_text().splitlines())}


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != "manifest.jsonl" and ".samcli" not in p.parts}


def _strip(path: Path, h: int, w: int, seed: int = 0) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 255, (h, w, 3)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


# ------------------------------------------------------------------ 1. one bad input, no abort


@pytest.mark.parametrize("label, size, layers", [
    ("a 3000 x 1 strip (the resize to 1024 used to round the short side to 0)", (1, 3000), 0),
    ("a 1 x 3000 strip", (3000, 1), 0),
    ("a single pixel", (1, 1), 0),
    ("a single pixel, two crop layers (empty crops are left out)", (1, 1), 2),
    ("a 64 x 1 row, one crop layer (two of its five crops are empty)", (1, 64), 1),
])
def test_extreme_shapes_are_processed(tmp_path, mobile_ckpt, label, size, layers):
    image = _strip(tmp_path / "strip.png", *size)
    result = invoke("automask", image, "--checkpoint", mobile_ckpt, *FAST,
                    "--crop-n-layers", layers)
    assert result.exit_code == 0, (label, result.stderr)
    records = jsonl(result.stdout)
    assert records, label
    assert all(r["area"] >= 1 for r in records), label
    masks = [json.dumps(r["segmentation"], sort_keys=True) for r in records]
    assert len(masks) == len(set(masks)), f"{label}: identical proposals"
    if size == (1, 1):
        assert len(records) == 1, label


def test_file_names_that_are_not_utf8(tmp_path, mobile_ckpt):
    """The name's undecodable byte is written as \\xff in records, output names and the
    manifest; stdout stays UTF-8 JSON Lines."""
    root = tmp_path / "in"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"caf\xff.png")
    write_image(Path(os.fsdecode(raw)))
    write_image(root / "ok.png", seed=2)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "samcli", "automask", str(root),
                             "--checkpoint", str(mobile_ckpt), *FAST], capture_output=True,
                            cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # strict: valid UTF-8
    assert {r["image"] for r in jsonl(text)} == {"caf\\xff.png", "ok.png"}
    files = invoke("automask", root, "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert files.exit_code == 0, files.stderr
    assert (out / "caf\\xff.png.jsonl").is_file()
    assert set(_manifest(out)) == {"caf\\xff.png", "ok.png"}
    (out / "manifest.jsonl").read_bytes().decode("utf-8")


def test_a_file_name_cannot_split_or_forge_error_lines(tmp_path, mobile_ckpt):
    """A broken image named 'x<newline>Error: fake.png' (with an escape sequence) is one
    Error line, its control characters escaped; the good image is done."""
    write_image(tmp_path / "in" / "ok.png")
    (tmp_path / "in" / "x\nError: fake\x1b[2J.png").write_text("not an image")
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST)
    assert result.exit_code == 3
    (error,) = error_lines(result.stderr)
    assert "x\\nError: fake\\x1b[2J.png" in error and "\x1b" not in result.stderr
    assert {r["image"] for r in jsonl(result.stdout)} == {"ok.png"}


@pytest.mark.parametrize("label, folder", [
    ("a folder named like another input's output", "a.png.jsonl"),
    ("a folder named like the manifest", "manifest.jsonl"),
])
def test_an_output_path_taken_by_another_kind_of_file_fails_that_input(tmp_path, mobile_ckpt,
                                                                       label, folder):
    """The input whose output path is taken fails alone (named); the others are done, and a
    rerun finishes them instead of stopping at the same place every time."""
    root = tmp_path / "in"
    write_image(root / "a.png", seed=1)
    write_image(root / folder / "b.png", seed=2)
    write_image(root / "z" / "c.png", seed=3)
    args = ["automask", root, "--checkpoint", mobile_ckpt, *FAST, "-o", tmp_path / "o"]
    result = invoke(*args)
    assert result.exit_code == 3, (label, result.stderr)
    (error,) = error_lines(result.stderr)
    assert error.startswith(f"Error: {folder}/b.png: cannot write its output"), label
    entries = _manifest(tmp_path / "o")
    assert entries["z/c.png"]["status"] == "done", label
    assert entries[f"{folder}/b.png"]["status"] == "failed", label
    again = invoke(*args)
    assert again.exit_code == 3 and len(error_lines(again.stderr)) == 1, label


def test_long_file_names(tmp_path, mobile_ckpt):
    """A name of 240 bytes is written (its temporary name is shortened to fit); one so long
    that its output name cannot exist fails alone, named; the rest of the run goes on."""
    root = tmp_path / "in"
    long_ok = "a" * 236 + ".png"  # output a...png.jsonl: 246 bytes
    too_long = "b" * 247 + ".png"  # output 257 bytes: over the 255-byte name limit
    write_image(root / long_ok)
    write_image(root / too_long, seed=1)
    out = tmp_path / "out"
    result = invoke("automask", root, "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert result.exit_code == 3, result.stderr
    (error,) = error_lines(result.stderr)
    assert too_long in error and "File name too long" in error
    manifest = _manifest(out)
    assert manifest[long_ok]["status"] == "done" and manifest[too_long]["status"] == "failed"
    assert (out / f"{long_ok}.jsonl").is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_tiny_file_claiming_ten_billion_pixels(tmp_path, mobile_ckpt):
    """With --max-pixels 0 (no limit) a 100000 x 100000 PNG header is refused by memory, by
    name, before any pixel is decoded; the run goes on."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    bomb = tmp_path / "in" / "bomb.png"
    bomb.parent.mkdir()
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000,
                                                                       100_000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    write_image(tmp_path / "in" / "fine.png")
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                    "--max-pixels", "0")
    assert result.exit_code == 3, result.stderr
    (error,) = error_lines(result.stderr)
    assert "bomb.png" in error and "GB" in error and "available" in error
    assert {r["image"] for r in jsonl(result.stdout)} == {"fine.png"}


# ------------------------------------------------------------------ 2. resume identity


def test_resume_redoes_changed_inputs(tmp_path, mobile_ckpt):
    """Skipped only if the same file: another folder with the same names into the same -o,
    or an image replaced in place (same size, timestamp restored), are done again."""
    first, second = tmp_path / "one", tmp_path / "two"
    write_image(first / "a.bmp", seed=1)  # BMP: the size depends on the dimensions only
    write_image(second / "a.bmp", seed=2)
    out = tmp_path / "out"
    base = ["--checkpoint", mobile_ckpt, *FAST[:-1], "-o", out]
    assert invoke("automask", first, *base).exit_code == 0
    assert "1 skipped" in invoke("automask", first, *base).stderr
    other = invoke("automask", second, *base)
    assert "1 image done" in other.stderr, other.stderr
    assert _manifest(out)["a.bmp"]["source"]["path"] == os.path.realpath(second / "a.bmp")
    # the same size and timestamp, other pixels
    st = (second / "a.bmp").stat()
    replaced = write_image(tmp_path / "x.bmp", seed=3).read_bytes()
    assert len(replaced) == st.st_size
    (second / "a.bmp").write_bytes(replaced)
    os.utime(second / "a.bmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    again = invoke("automask", second, *base)
    assert "1 image done" in again.stderr, again.stderr
    # other pixels in the middle only (past the first and last 64 KiB), timestamp restored
    big = write_image(tmp_path / "three" / "a.bmp", h=300, w=300, seed=4)
    assert big.stat().st_size > 3 * 64 * 1024
    assert "1 image done" in invoke("automask", big.parent, *base).stderr
    st, data = big.stat(), bytearray(big.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes(255 - b for b in data[middle : middle + 3000])
    big.write_bytes(bytes(data))
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    edited = invoke("automask", big.parent, *base)
    assert "1 image done" in edited.stderr, edited.stderr


def test_resume_redoes_everything_for_other_weights_at_the_same_path(tmp_path, mobile_ckpt,
                                                                     monkeypatch):
    import torch

    monkeypatch.setenv("SAMCLI_HOME", str(tmp_path / "cache"))
    ckpt = tmp_path / "w.pt"
    state = torch.load(mobile_ckpt, weights_only=True)
    torch.save(state, ckpt)
    size = ckpt.stat().st_size
    write_image(tmp_path / "in" / "a.png")
    base = ["automask", tmp_path / "in", "--checkpoint", ckpt, *FAST[:-1], "-o", tmp_path / "o"]
    assert invoke(*base).exit_code == 0
    state["mask_decoder.iou_prediction_head.layers.2.bias"] += 0.01  # other weights
    torch.save(state, ckpt)
    assert ckpt.stat().st_size == size
    again = invoke(*base)
    assert "1 image done" in again.stderr and "skipped" not in again.stderr, again.stderr


def test_resume_redoes_a_label_whose_image_is_now_another_file(tmp_path, mobile_ckpt):
    """A label done with images/a.png, then an a.jpg appears that the lookup prefers: the
    label is redone with it (and the COCO file names it), not skipped."""
    write_image(tmp_path / "images" / "a.png", seed=1)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.6 0.6\n")
    base = ["from-boxes", tmp_path / "labels", "--checkpoint", mobile_ckpt, "--multimask",
            "-q", "-o", tmp_path / "o", "--format", "coco"]
    assert invoke(*base).exit_code == 0
    Image.open(tmp_path / "images" / "a.png").save(tmp_path / "images" / "a.jpg")
    again = invoke(*base)
    assert again.exit_code == 0, again.stderr
    entry = _manifest(tmp_path / "o")["a.txt"]
    assert entry["image"] == "a.jpg"
    assert entry["image_source"]["path"] == os.path.realpath(tmp_path / "images" / "a.jpg")
    doc = json.loads((tmp_path / "o" / "annotations.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["a.jpg"]
    third = invoke(*base[:-5], "-o", tmp_path / "o", "--format", "coco")
    assert "1 skipped" in third.stderr, third.stderr


def test_resume_redoes_the_outputs_of_an_earlier_samcli(tmp_path, mobile_ckpt, monkeypatch):
    """Outputs that a samcli with other numerics or writers left (an older OUTPUT_REVISION)
    are redone, never resumed; the same revision resumes."""
    import samcli.pipeline

    write_image(tmp_path / "in" / "a.png")
    base = ["automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST[:-1],
            "-o", tmp_path / "o"]
    assert invoke(*base).exit_code == 0
    first = _manifest(tmp_path / "o")["a.png"]["hash"]
    assert "1 skipped" in invoke(*base).stderr
    monkeypatch.setattr(samcli.pipeline, "OUTPUT_REVISION", samcli.pipeline.OUTPUT_REVISION + 1)
    again = invoke(*base)
    assert again.exit_code == 0
    assert "1 image done" in again.stderr and "skipped" not in again.stderr, again.stderr
    assert _manifest(tmp_path / "o")["a.png"]["hash"] != first


def test_an_input_that_fails_on_rerun_leaves_no_stale_files(tmp_path, mobile_ckpt):
    """a.txt done (YOLO labels and crops), then a bad row makes it fail: its label file and
    chips from the first run are removed (ultralytics would train on them), b.txt's stay."""
    for i, name in enumerate("ab"):
        write_image(tmp_path / "images" / f"{name}.png", seed=i)
        (tmp_path / "labels").mkdir(exist_ok=True)
        (tmp_path / "labels" / f"{name}.txt").write_text(f"{i} 0.5 0.5 0.4 0.4\n")
    out, crops = tmp_path / "o", tmp_path / "crops"
    args = ["from-boxes", tmp_path / "labels", "--checkpoint", mobile_ckpt, "--multimask", "-q",
            "-o", out, "--format", "yolo", "--crops", crops]
    assert invoke(*args).exit_code == 0
    assert (out / "a.txt").is_file() and list((crops / "a.png").iterdir())
    with open(tmp_path / "labels" / "a.txt", "a") as f:
        f.write("3 0.5 0.5 0.4 0.4 1.5\n")
    again = invoke(*args)
    assert again.exit_code == 3
    (error,) = error_lines(again.stderr)
    assert "a.txt:2" in error
    assert not (out / "a.txt").exists() and not (crops / "a.png").exists()
    assert (out / "b.txt").is_file() and list((crops / "b.png").iterdir())
    assert _manifest(out)["a.txt"]["status"] == "failed"


def _break_link(image: Path) -> None:
    image.unlink()
    image.symlink_to(image.parent / "gone" / image.name)


@pytest.mark.parametrize("label, given, first, then, spoil", [
    ("a walked folder's image now a broken link", ["in"], ["--format", "coco"],
     ["--format", "coco"], _break_link),
    ("a named './' input now gone", ["./in/a.png", "./in/b.png"], ["--format", "coco"],
     ["--format", "coco"], Path.unlink),
    ("done as JSON Lines with chips, failing in a COCO run without them", ["in"],
     ["--format", "jsonl", "--crops", "{crops}"], ["--format", "coco"],
     lambda p: p.write_bytes(b"not a png")),
])
def test_an_input_done_before_that_fails_now_keeps_none_of_its_files(
        tmp_path, mobile_ckpt, monkeypatch, label, given, first, then, spoil):
    """README: an input done before that fails when redone loses its per-image files and
    leaves the whole-run files. Its failure was recorded under the path as given, not its
    key (so it stayed done, listed in annotations.json), and files of a format or chips
    folder this run does not write were kept."""
    monkeypatch.chdir(tmp_path)
    for i, name in enumerate("ab"):
        write_image(tmp_path / "in" / f"{name}.png", seed=i)
    crops = tmp_path / "crops"
    fill = [str(a).format(crops=crops) for a in first]
    args = ["automask", *given, "--checkpoint", mobile_ckpt, *FAST, "-o", "out"]
    assert invoke(*args, *fill).exit_code == 0, label
    written = {p for p in (tmp_path / "out").rglob("*") if p.is_file()}
    spoil(tmp_path / "in" / "a.png")
    again = invoke(*args, *then)
    assert again.exit_code == 3, (label, again.stderr)
    assert len(error_lines(again.stderr)) == 1, label
    key = "in/a.png" if given != ["in"] else "a.png"
    assert _manifest(tmp_path / "out")[key]["status"] == "failed", label
    doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert [im["file_name"] for im in doc["images"]] == [key.replace("a.png", "b.png")], label
    left = {p for p in (tmp_path / "out").rglob("*") if p.is_file()} & written
    assert not any("a.png" in p.name for p in left), (label, sorted(map(str, left)))
    assert not (crops / "a.png").exists() or not list((crops / "a.png").iterdir()), label
    if crops.exists():
        assert list((crops / "b.png").iterdir()), label


# ------------------------------------------------------------------ 3. one run per -o


def test_a_second_run_on_a_folder_in_use_stops_at_once(tmp_path, mobile_ckpt):
    """The first run is frozen (SIGSTOP) right after recording its first image, holding the
    locks: a second run on its -o, or on another -o with its --crops folder, stops before any
    work with one Error line naming it, having made none of its new output folders (whose
    .samcli marker would make later walks skip them); the first, resumed, finishes
    normally."""
    root = tmp_path / "in"
    for i in range(2):
        write_image(root / f"{i}.png", seed=i)
    out = tmp_path / "out"
    args = ["automask", root, "--checkpoint", mobile_ckpt, *FAST, "--crops", tmp_path / "chips",
            "--format", "coco", "-o", out]
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.interrupt_driver", "record", "1", "STOP", "--",
         *map(str, args)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    _, status = os.waitpid(first.pid, os.WUNTRACED)  # returns once the child has stopped
    assert os.WIFSTOPPED(status), f"the first run ended instead: {first.stderr.read()}"
    try:
        for label, folder, option, other in (
                ("its -o", out, "-o", [*args, "--preview", tmp_path / "views"]),
                ("its --crops", tmp_path / "chips", "--crops",
                 [*args[:-1], tmp_path / "out2"])):
            second = invoke(*other)
            assert second.exit_code == 1, label
            (error,) = error_lines(second.stderr)
            assert error.startswith(f"Error: {folder} is in use by another samcli run"), label
            assert error.endswith(f"; wait for it to finish or use another {option} folder")
            assert f"pid {first.pid}" in error and second.stdout == "", label
        assert not (tmp_path / "out2").exists() and not (tmp_path / "views").exists()
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    doc = json.loads((out / "annotations.json").read_text())
    assert len(doc["images"]) == 2


# ------------------------------------------------------------------ 5. outputs over inputs


def test_outputs_that_would_overwrite_inputs_are_refused(tmp_path, mobile_ckpt, monkeypatch):
    labels = tmp_path / "data" / "labels"
    labels.mkdir(parents=True)
    (labels / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    write_image(tmp_path / "data" / "images" / "a.png")
    before = (labels / "a.txt").read_bytes()
    result = invoke("from-boxes", labels, "--checkpoint", mobile_ckpt, "-q", "-o", labels,
                    "--format", "yolo")
    assert result.exit_code == 1
    (error,) = error_lines(result.stderr)
    assert "input folder" in error
    monkeypatch.chdir(labels)  # a lone file's outputs mirror its path as given: a.txt -> ./a.txt
    lone = invoke("from-boxes", "a.txt", "--images", tmp_path / "data" / "images",
                  "--checkpoint", mobile_ckpt, "-q", "-o", ".", "--format", "yolo")
    assert lone.exit_code == 1 and error_lines(lone.stderr) == [
        "Error: -o . holds the input a.txt: samcli's files would be mixed with the inputs (and "
        "read back as inputs by a later run over the folder); choose another folder"]
    assert (labels / "a.txt").read_bytes() == before
    # the refused run marked nothing: a later walk of the folder still finds its labels
    assert not (labels / ".samcli").exists()


def test_a_run_refused_for_an_output_clash_marks_no_folder(tmp_path, mobile_ckpt):
    """a.png and a.jpg would share a.txt: refused before any folder is made or marked, so a
    later walk of the tree still finds the images in the -o folder given."""
    write_image(tmp_path / "data" / "cam1" / "a.png")
    write_image(tmp_path / "data" / "cam1" / "a.jpg")
    write_image(tmp_path / "data" / "cam2" / "b.png")
    out = tmp_path / "data" / "cam2"
    result = invoke("automask", tmp_path / "data" / "cam1", "--checkpoint", mobile_ckpt, *FAST,
                    "-o", out, "--format", "yolo", "--crops", tmp_path / "chips")
    assert result.exit_code == 1, result.stderr
    (error,) = error_lines(result.stderr)
    assert "a.txt" in error
    assert not (out / ".samcli").exists() and not (tmp_path / "chips").exists()


def test_preview_and_crops_in_one_folder_clash_before_any_work(tmp_path, mobile_ckpt):
    """The preview of a.png is x/a.png.jpg, the chips folder of a.png.jpg too: one Error line
    before any work (it used to fail that input at write time, on every rerun)."""
    for name in ("a.png", "a.png.jpg"):
        write_image(tmp_path / "in" / name)
    out = tmp_path / "x"
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                    "--preview", out, "--crops", out)
    assert result.exit_code == 1, result.stderr
    (error,) = error_lines(result.stderr)
    assert f"its output {out / 'a.png.jpg'} would overwrite" in error
    assert {"a.png:", "a.png;"} & set(error.split()) and "folders of their own" in error
    assert result.stdout == "" and not out.exists()


def test_crops_inside_the_input_tree_are_not_read_back(tmp_path, mobile_ckpt):
    root = tmp_path / "in"
    write_image(root / "a.png")
    args = ["automask", root, "--checkpoint", mobile_ckpt, *FAST, "--crops", root / "chips"]
    first = invoke(*args)
    assert first.exit_code == 0 and list((root / "chips").rglob("*.png"))
    again = invoke(*args)
    assert {r["image"] for r in jsonl(again.stdout)} == {"a.png"}


# ------------------------------------------------------------------ 6. I/O faults


@pytest.mark.parametrize("label, option, make", [
    ("-o under a file", "-o", lambda t: (t / "f").write_text("x") and t / "f" / "out"),
    ("-o is a file", "-o", lambda t: (t / "f").write_text("x") and t / "f"),
    ("--crops onto a file", "--crops", lambda t: (t / "c").write_text("x") and t / "c"),
    ("--preview under a file", "--preview", lambda t: (t / "p").write_text("x") and t / "p" / "q"),
])
def test_unusable_output_folders_are_refused_before_any_work(tmp_path, mobile_ckpt, label,
                                                            option, make, monkeypatch):
    import samcli.loader as loader

    monkeypatch.setattr(loader.ModelLoader, "get", lambda self: pytest.fail("model loaded"))
    write_image(tmp_path / "in" / "a.png")
    target = make(tmp_path)
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                    option, target)
    assert result.exit_code == 1, (label, result.stderr)
    (error,) = error_lines(result.stderr)
    assert option in error and str(target) in error, label


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
@pytest.mark.parametrize("label, option, make, message", [
    ("-o a broken link", "-o", lambda t: os.symlink("nowhere", t / "olink") or t / "olink",
     "{t}/olink: broken symbolic link (its target nowhere is gone)"),
    ("-o under a broken link", "-o",
     lambda t: os.symlink(t / "nowhere", t / "olink") or t / "olink" / "sub",
     "{t}/olink/sub: {t}/olink: broken symbolic link (its target {t}/nowhere is gone)"),
    ("-o a link loop", "-o", lambda t: os.symlink("oloop", t / "oloop") or t / "oloop",
     "{t}/oloop: symbolic link loop (it points to oloop; following the links never reaches a "
     "file or folder)"),
    ("--crops a broken link", "--crops",
     lambda t: os.symlink("nowhere", t / "clink") or t / "clink",
     "{t}/clink: broken symbolic link (its target nowhere is gone)"),
], ids=["-o broken link", "-o under broken link", "-o link loop", "--crops broken link"])
def test_output_folders_on_links_that_lead_nowhere_are_refused_by_name(
        tmp_path, mobile_ckpt, label, option, make, message, monkeypatch):
    """Not "cannot write there (olink: File exists)": the error says the link is broken."""
    import samcli.loader as loader

    monkeypatch.setattr(loader.ModelLoader, "get", lambda self: pytest.fail("model loaded"))
    write_image(tmp_path / "in" / "a.png")
    target = make(tmp_path)
    made = sorted(os.listdir(tmp_path))
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                    option, target)
    assert result.exit_code == 1, (label, result.stderr)
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [f"Error: {option} {message.format(t=tmp_path)}"]
    assert sorted(os.listdir(tmp_path)) == made  # nothing created, through the link or not


def test_a_full_disk_stops_the_run_and_the_rerun_finishes_it(tmp_path, coco_reference,
                                                            monkeypatch):
    """ENOSPC on the third file: one Error line naming it; the manifest lists exactly the
    inputs whose files are complete; after space is freed the same command finishes to the
    uninterrupted outputs (``coco_reference``)."""
    import samcli.fs as fs

    args = coco_reference.args
    calls = [0]
    real = fs.atomic_write_bytes

    def filling_up(path, data):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(fs, "atomic_write_bytes", filling_up)
    import samcli.io.formats as formats

    monkeypatch.setattr(formats, "atomic_write_text",
                        lambda p, text: filling_up(p, text.encode("utf-8")))
    out = tmp_path / "out"
    stopped = invoke(*args, "-o", out)
    assert stopped.exit_code == 1
    (error,) = error_lines(stopped.stderr)
    assert "No space left on device" in error and "run the same command again" in error
    assert sorted(_manifest(out)) == ["0.png", "1.png"]
    monkeypatch.setattr(fs, "atomic_write_bytes", real)
    monkeypatch.setattr(formats, "atomic_write_text", fs.atomic_write_text)
    assert invoke(*args, "-o", out).exit_code == 0
    assert _files(out) == _files(coco_reference.full)


@pytest.mark.parametrize("label, redirect, code, needle", [
    ("stdout closed", ">&-", 1, "stdout is closed"),
    ("stdout is /dev/full", ">/dev/full", 1, "No space left on device"),
])
def test_unwritable_stdout(tmp_path, mobile_ckpt, label, redirect, code, needle):
    write_image(tmp_path / "a.png")
    cmd = (f"exec {sys.executable} -m samcli automask {tmp_path / 'a.png'} --checkpoint "
           f"{mobile_ckpt} {' '.join(FAST)} {redirect}")
    result = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, cwd=REPO,
                            timeout=600)
    assert result.returncode == code, (label, result.stderr)
    (error,) = error_lines(result.stderr)
    assert needle in error and "Traceback" not in result.stderr, label


def test_closed_stderr_keeps_stdout_clean(tmp_path, mobile_ckpt):
    """With stderr closed, messages (here: a broken input's error) go nowhere, never into the
    JSON Lines on stdout."""
    write_image(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "bad.png").write_text("not an image")
    cmd = (f"exec {sys.executable} -m samcli automask {tmp_path / 'in'} --checkpoint "
           f"{mobile_ckpt} --points-per-side 2 --pred-iou-thresh 0 "
           "--stability-score-thresh 0 2>&-")
    result = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, cwd=REPO,
                            timeout=600)
    assert result.returncode == 3
    assert jsonl(result.stdout) and all(line.startswith("{") for line in
                                        result.stdout.splitlines())


def test_stderr_whose_reader_is_gone_loses_messages_and_the_run_goes_on(tmp_path, mobile_ckpt):
    """``2>&1 | head``, the reader gone before the first message: the broken inputs' errors
    are lost, every input is still done or recorded as failed, and the whole-run files are
    written (exit 3: inputs failed)."""
    root = tmp_path / "in"
    for name in ("0bad.png", "1bad.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("not an image")
    write_image(root / "2.png")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "samcli", "automask", str(root),
                             "--checkpoint", str(mobile_ckpt), *FAST, "-o", str(out),
                             "--format", "coco"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    proc.stderr.close()  # no reader: the first message meets a broken pipe
    assert proc.wait(timeout=600) == 3
    manifest = _manifest(out)
    assert {k: e["status"] for k, e in manifest.items()} == {
        "0bad.png": "failed", "1bad.png": "failed", "2.png": "done"}
    assert [i["file_name"] for i in json.loads((out / "annotations.json").read_text())[
        "images"]] == ["2.png"]


# ------------------------------------------------------------------ 7. signals and pipes


def test_sigterm_is_like_ctrl_c_with_exit_143(tmp_path, coco_reference):
    out = tmp_path / "out"
    proc = run_interrupted("record", 2, "TERM", *coco_reference.args, "-o", out)
    assert proc.returncode == 143, proc.stderr
    assert error_lines(proc.stderr) == ["Error: terminated (SIGTERM)"]
    doc = json.loads((out / "annotations.json").read_text())  # written for what is done
    assert [i["file_name"] for i in doc["images"]] == ["0.png", "1.png"]
    assert sorted(_manifest(out)) == ["0.png", "1.png"]


@pytest.mark.parametrize("signal_name, code, line", [
    ("TERM", 143, "Error: terminated (SIGTERM)"),
    ("INT", 130, "Error: interrupted"),
])
def test_a_signal_while_the_commands_load_ends_as_during_a_command(signal_name, code, line):
    proc = run_interrupted("startup", 1, signal_name, "models", "list")
    assert (proc.returncode, error_lines(proc.stderr)) == (code, [line]), proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("signal_name", ["INT", "TERM"])
def test_a_signal_during_teardown_keeps_the_exit_status(tmp_path, coco_reference, signal_name):
    """A second Ctrl-C (or a SIGTERM) while the interpreter shuts down, torch's exit hooks
    included, after the command has ended: ignored, no traceback, the run's own status."""
    out = tmp_path / "out"
    proc = run_interrupted("exit", 1, signal_name, *coco_reference.args, "-o", out)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert _files(out) == _files(coco_reference.full)


def test_ctrl_c_while_the_whole_run_files_are_written_waits_for_them(tmp_path, coco_reference):
    """Ctrl-C inside the fifth write (the three images' COCO parts, annotations.json, then
    results.json): exit 130 once results.json is written too; both as the uninterrupted run's."""
    out = tmp_path / "out"
    proc = run_interrupted("write", 5, "INT", *coco_reference.args, "-o", out)
    assert proc.returncode == 130, proc.stderr
    assert error_lines(proc.stderr) == ["Error: interrupted"]
    assert _files(out) == _files(coco_reference.full)


def test_a_closed_pipe_ends_the_run_quietly(tmp_path, mobile_ckpt):
    """``samcli automask dir | head -1``: the reader goes away after the first line; samcli
    ends at its next write (the second image's records) with exit 141 and nothing on
    stderr."""
    root = tmp_path / "in"
    for i in range(2):
        write_image(root / f"{i}.png", seed=i)
    proc = subprocess.Popen([sys.executable, "-m", "samcli", "automask", str(root),
                             "--checkpoint", str(mobile_ckpt), *FAST], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    assert json.loads(first)["image"] == "0.png"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=600)
    assert proc.returncode == 141, err
    assert err == ""


# ------------------------------------------------------------------ 8./9. manifests, options


def test_a_decoder_warning_is_one_warning_line_naming_the_image(tmp_path, mobile_ckpt):
    """Pillow's warning about a corrupt EXIF block: one 'Warning: <image>: ...' line, not
    Python's warning echo with a line of Pillow's source; the image is done."""
    from tests.io.test_images import _bad_exif_jpeg

    (tmp_path / "in").mkdir()
    bad = _bad_exif_jpeg(tmp_path / "in" / "bad.jpg")
    write_image(tmp_path / "in" / "ok.png")
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Warning: {bad}: Tag data larger than file. Skipping tag 271"]
    assert {r["image"] for r in jsonl(result.stdout)} <= {"bad.jpg", "ok.png"}


def test_collection_problems_are_in_the_manifest(tmp_path, mobile_ckpt):
    write_image(tmp_path / "a.png")
    out = tmp_path / "out"
    result = invoke("automask", tmp_path / "a.png", tmp_path / "missing.png", tmp_path / "x.gif",
                    "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert result.exit_code == 3
    manifest = _manifest(out)
    assert manifest[str(tmp_path / "missing.png")]["status"] == "failed"
    assert "no such file" in manifest[str(tmp_path / "missing.png")]["error"]
    assert manifest[str(tmp_path / "x.gif")]["status"] == "failed"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_links_in_a_folder_that_lead_nowhere_fail_by_name_and_the_run_goes_on(tmp_path,
                                                                              mobile_ckpt):
    """A link loop named like an image is reported as a dangling link is, not skipped."""
    d = tmp_path / "in"
    write_image(d / "a.png")
    os.symlink("loopb.png", d / "loopa.png")
    os.symlink("loopa.png", d / "loopb.png")
    os.symlink("gone.png", d / "dangling.png")
    out = tmp_path / "out"
    result = invoke("automask", d, "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    never = "following the links never reaches a file or folder"
    errors = {f"{d}/dangling.png": "broken symbolic link (its target gone.png is gone)",
              f"{d}/loopa.png": f"symbolic link loop (it points to loopb.png; {never})",
              f"{d}/loopb.png": f"symbolic link loop (it points to loopa.png; {never})"}
    assert error_lines(result.stderr) == [f"Error: {k}: {v}" for k, v in errors.items()]
    manifest = _manifest(out)
    assert manifest["a.png"]["status"] == "done"
    for name, text in errors.items():  # (keyed as the files would be: by their rel paths)
        key = name.removeprefix(f"{d}/")
        assert manifest[key]["status"] == "failed" and manifest[key]["error"] == \
            f"{name}: {text}"


def test_png_metadata_over_pillows_limit_reads_and_a_text_bomb_fails_by_name(tmp_path,
                                                                              mobile_ckpt):
    """Compressed PNG text over Pillow's 1 MiB (an image generator's workflow) is no reason to
    refuse the image; a zTXt chunk of 256 MiB of zeros is, by name, and the run goes on."""
    from PIL import PngImagePlugin

    d = tmp_path / "in"
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", "x" * 2_000_000, zip=True)
    Image.open(write_image(d / "big_text.png")).save(d / "big_text.png", pnginfo=info)
    png = write_image(d / "bomb.png").read_bytes()
    c, mib = zlib.compressobj(9), bytes(1 << 20)
    text = b"bomb\0\0" + b"".join(c.compress(mib) for _ in range(256)) + c.flush()
    chunk = struct.pack(">I", len(text)) + b"zTXt" + text + struct.pack(
        ">I", zlib.crc32(b"zTXt" + text))
    at = png.index(b"IDAT") - 4
    (d / "bomb.png").write_bytes(png[:at] + chunk + png[at:])
    out = tmp_path / "out"
    result = invoke("automask", d, "--checkpoint", mobile_ckpt, *FAST, "-o", out)
    assert result.exit_code == 3 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        f"Error: {d}/bomb.png: PNG metadata too large: a compressed text or ICC profile chunk "
        "decompresses to more than 64 MiB (refused as a possible decompression bomb)"]
    manifest = _manifest(out)
    assert manifest["big_text.png"]["status"] == "done"
    assert manifest["bomb.png"]["status"] == "failed"


def test_a_manifest_that_is_a_folder_is_one_error_line(tmp_path, mobile_ckpt):
    write_image(tmp_path / "in" / "a.png")
    (tmp_path / "out" / "manifest.jsonl").mkdir(parents=True)
    result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST, "-o",
                    tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (error,) = error_lines(result.stderr)
    assert "manifest.jsonl" in error


@pytest.mark.parametrize("label, args, needle", [
    ("negative --max-pixels", ["--max-pixels", "-1"], "--max-pixels"),
    ("--simplify nan", ["--simplify", "nan"], "--simplify"),
    ("--simplify inf", ["--simplify", "inf"], "--simplify"),
    ("absurd --points-per-side", ["--points-per-side", "100000"], "--points-per-side"),
    ("--pred-iou-thresh nan", ["--pred-iou-thresh", "nan"], "--pred-iou-thresh"),
    ("absurd --crop-n-layers", ["--crop-n-layers", "40"], "--crop-n-layers"),
    ("-o '' (an unset $OUT: no files beside the inputs)", ["-o", ""], "-o ''"),
    ("--crops ''", ["--crops", ""], "--crops ''"),
    ("--preview ''", ["--preview", ""], "--preview ''"),
    ("--image-root-url '' (not the default silently)",
     ["-o", "OUT", "--format", "labelstudio", "--image-root-url", ""],
     "--image-root-url '': an empty URL prefix"),
    ("--min-area above --max-area (no mask could pass)", ["--min-area", "10", "--max-area", "5"],
     "--min-area 10 is above --max-area 5"),
    ("the same in percent", ["--min-area", "2%", "--max-area", "1%"], "--min-area 2%"),
])
def test_bad_option_values_fail_before_any_work(tmp_path, label, args, needle):
    write_image(tmp_path / "a.png")
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = invoke("automask", tmp_path / "a.png", "--checkpoint", tmp_path / "none.pt", *args)
    assert result.exit_code == 1, (label, result.stderr)
    (error,) = error_lines(result.stderr)
    assert needle in error, label


def test_a_meaningless_threshold_is_warned_about(tmp_path, mobile_ckpt):
    write_image(tmp_path / "a.png")
    result = invoke("automask", tmp_path / "a.png", "--checkpoint", mobile_ckpt,
                    "--points-per-side", "2", "--pred-iou-thresh", "1.5", "-q")
    assert result.exit_code == 0
    assert "Warning: --pred-iou-thresh 1.5 is 1 or more" in result.stderr
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.5 0.5 0.9\n")
    boxes = invoke("from-boxes", tmp_path / "a.txt", "--checkpoint", mobile_ckpt,
                   "--min-conf", "2", "-q")
    assert boxes.exit_code == 0 and boxes.stdout == ""
    assert "Warning: --min-conf 2 is above 1" in boxes.stderr


@pytest.mark.parametrize("label, args, held", [
    ("--preview into the folder of a file named directly",
     ["automask", "data/imgs/a.png", "--preview", "data/imgs"], "data/imgs/a.png"),
    ("-o above an input folder", ["automask", "data/imgs", "-o", "data"], "data/imgs"),
    ("--crops above a file named directly", ["automask", "data/imgs/a.png", "-o", "out",
                                             "--crops", "data"], "data/imgs/a.png"),
    ("-o on a label file's folder", ["from-boxes", "data/labels/a.txt", "-o", "data/labels",
                                     "--format", "yolo"], "data/labels/a.txt"),
])
def test_output_folders_holding_inputs_are_refused(tmp_path, mobile_ckpt, monkeypatch, label,
                                                   args, held):
    """Outputs mirrored into a folder that holds an input would be read back by a later run
    over that folder (and its marker would hide the inputs from walks above it): refused
    before any work, marking nothing."""
    write_image(tmp_path / "data" / "imgs" / "a.png")
    (tmp_path / "data" / "labels").mkdir(parents=True)
    (tmp_path / "data" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    monkeypatch.chdir(tmp_path)
    options = FAST if args[0] == "automask" else ["-q"]
    result = invoke(*args, "--checkpoint", mobile_ckpt, *options)
    assert result.exit_code == 1, (label, result.stderr)
    (error,) = error_lines(result.stderr)
    assert f"holds the input {held}: samcli's files would be mixed with the inputs" in error, \
        label
    assert not list(tmp_path.rglob(".samcli")), label


def test_outputs_inside_an_input_folder_are_still_allowed(tmp_path, mobile_ckpt):
    """The other way round is fine: the output folder's marker keeps later walks out of it."""
    write_image(tmp_path / "imgs" / "a.png")
    first = invoke("automask", tmp_path / "imgs", "--checkpoint", mobile_ckpt, *FAST,
                   "--preview", tmp_path / "imgs" / "previews", "-o", tmp_path / "out")
    assert first.exit_code == 0, first.stderr
    again = invoke("automask", tmp_path / "imgs", "--checkpoint", mobile_ckpt, *FAST)
    assert again.exit_code == 0, again.stderr
    assert {r["image"] for r in jsonl(again.stdout)} == {"a.png"}


# ------------------------------------------------- 8. whole-run files made again on every rerun


def _state_files(d: Path) -> dict[str, bytes]:
    """Every file under ``d``, samcli's parts included, but the manifest and the lock."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name not in ("manifest.jsonl", "lock")}


def test_a_yolo_run_killed_before_data_yaml_finishes_on_rerun_as_uninterrupted(tmp_path,
                                                                              mobile_ckpt):
    """Issue F3: a run killed after its last label was recorded, before data.yaml, left the
    earlier run's data.yaml (``train: "."``, no val); the rerun, with nothing left to do,
    kept it. It now ends with the very files of the uninterrupted run."""
    import shutil

    data = tmp_path / "data"
    for i in range(2):
        write_image(data / "images" / "train" / f"{i}.png", seed=i)
    args = ("automask", data / "images", "--checkpoint", mobile_ckpt, *FAST, "--format",
            "yolo", "-o", data / "labels")
    assert invoke(*args).exit_code == 0
    write_image(data / "images" / "val" / "2.png", seed=2)
    shutil.copytree(data / "labels", tmp_path / "after_first")

    killed = run_interrupted("record", 1, "KILL", *args)  # after val/2.png, before data.yaml
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert 'val: "."' in (data / "labels" / "data.yaml").read_text()  # the first run's
    rerun = invoke(*args[:-1], data / "labels")
    assert rerun.exit_code == 0, rerun.stderr
    shutil.move(data / "labels", tmp_path / "killed_then_rerun")

    shutil.copytree(tmp_path / "after_first", data / "labels")  # the same start, not killed
    assert invoke(*args).exit_code == 0
    assert _state_files(tmp_path / "killed_then_rerun") == _state_files(data / "labels")
    text = (data / "labels" / "data.yaml").read_text()
    assert 'train: "train"' in text and 'val: "val"' in text, text


def test_a_class_renamed_since_is_renamed_in_data_yaml_with_nothing_redone(tmp_path,
                                                                          mobile_ckpt):
    """Issue F3: classes.txt renamed after a from-boxes YOLO run: the rerun (nothing to do)
    writes data.yaml with the new name, as a fresh run would (and as Label Studio's files
    do); a class it does not name keeps the earlier run's name."""
    data = tmp_path / "data"
    write_image(data / "images" / "a.png")
    (data / "labels").mkdir()
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.6 0.6\n1 0.3 0.3 0.4 0.4\n")
    (data / "labels" / "classes.txt").write_text("person\ncar\n")
    args = ("from-boxes", data / "labels", "--checkpoint", mobile_ckpt, "--multimask", "-q",
            "--format", "yolo", "-o", tmp_path / "out")
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    (data / "labels" / "classes.txt").write_text("human\n")
    again = invoke(*args[:-1], tmp_path / "out")
    assert again.exit_code == 0, again.stderr
    text = (tmp_path / "out" / "data.yaml").read_text()
    assert 'names:\n  0: "human"\n  1: "car"\n' in text, text


def _runs_into(out: Path, fmt: str, ckpt: Path):
    """A function running automask over a folder (named by tmp_path / its name) into
    ``out`` in ``fmt``, asserting exit 0; it returns the result."""
    def run(folder: str):
        result = invoke("automask", out.parent / folder, "--checkpoint", ckpt, *FAST[:-1],
                        "--format", fmt, "-o", out)
        assert result.exit_code == 0, result.stderr
        return result

    return run


def test_a_done_images_part_that_is_gone_is_left_out_and_the_run_goes_on(tmp_path,
                                                                          mobile_ckpt):
    """A done image of an earlier run over another folder whose COCO part is gone stopped
    every later run into the folder (exit 1, advising --overwrite, which redoes this run's
    inputs only), and so did an empty part of an input of the run. Now the run goes on:
    the input of the run is redone, the other image is left out of annotations.json with
    one Warning line naming it, its part and the fix, and a run over its folder redoes it."""
    write_image(tmp_path / "one" / "a.png", seed=0)
    write_image(tmp_path / "one" / "b.png", seed=1)
    write_image(tmp_path / "two" / "x.png", seed=2)
    out = tmp_path / "out"
    run = _runs_into(out, "coco", mobile_ckpt)

    def images() -> list[str]:
        doc = json.loads((out / "annotations.json").read_text())
        return [i["file_name"] for i in doc["images"]]

    run("one")
    run("two")
    gone = out / ".samcli" / "coco" / "a.png.json"
    gone.unlink()
    (out / ".samcli" / "coco" / "x.png.json").write_bytes(b"")
    result = run("two")
    assert error_lines(result.stderr) == []
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: annotations.json and results.json leave out a.png: its "
                        f"part file {gone} is missing, so it counts as not done; run samcli "
                        "again with the same options and -o over the input folder that holds "
                        "a.png to redo it"]
    assert "samcli: 1 image done" in result.stderr  # x.png, whose part was empty
    assert images() == ["b.png", "x.png"]
    result = run("one")
    assert "samcli: 1 image done, 1 skipped" in result.stderr  # a.png
    assert "Warning:" not in result.stderr
    assert images() == ["a.png", "b.png", "x.png"]


def test_left_out_image_is_recorded_as_not_done(tmp_path, mobile_ckpt):
    """The left-out image gets a failed line naming its part; the next run into the folder
    says nothing of it; a run over its folder redoes it."""
    write_image(tmp_path / "one" / "a.png", seed=0)
    write_image(tmp_path / "two" / "x.png", seed=2)
    out = tmp_path / "out"
    run = _runs_into(out, "labelstudio", mobile_ckpt)

    run("one")
    run("two")
    gone = out / ".samcli" / "labelstudio" / "a.png.json"
    gone.write_text("{")
    first = run("two")
    (warning,) = [line for line in first.stderr.splitlines() if line.startswith("Warning:")]
    entry = _manifest(out)["a.png"]
    assert entry["status"] == "failed" and entry["error"] == warning[len("Warning: "):]
    again = run("two")
    assert "Warning:" not in again.stderr and "0 images done, 1 skipped" in again.stderr
    assert [t["data"]["image"] for t in json.loads((out / "tasks.json").read_text())] == [
        "/data/local-files/?d=x.png"]
    redo = run("one")
    assert "1 image done" in redo.stderr and _manifest(out)["a.png"]["status"] == "done"
    assert len(json.loads((out / "tasks.json").read_text())) == 2
