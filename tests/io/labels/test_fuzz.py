"""Property/fuzz tests for the label readers (issue 14): no input produces a traceback.

Every reader, given any bytes (random bytes, rows of odd numbers, random JSON, mangled
YAML), either returns a result that holds the documented rules or raises ``InputError``
whose message starts with the file's path; any other exception, and any numpy warning,
fails. A seeded generator (no extra dependency): the seed and the offending input are in
the failure message. ``SAMCLI_FUZZ_SEED`` and ``SAMCLI_FUZZ_SCALE`` (a multiplier on the
number of cases, default 1) explore further, e.g. ``SAMCLI_FUZZ_SCALE=20``.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from samcli.errors import InputError
from samcli.io import labels as L
from samcli.io.labels.jsonio import _show

SEED = int(os.environ.get("SAMCLI_FUZZ_SEED", "20240514"))
SCALE = float(os.environ.get("SAMCLI_FUZZ_SCALE", "1"))


def n_cases(base: int) -> int:
    return max(1, int(base * SCALE))


# ----------------------------------------------------------------------------- generators

ODD_NUMBERS = [
    "0", "1", "7", "-1", "-0", "+3", "0.5", ".5", "5.", "1e5", "1E-5", "5e-1", "0.000",
    "3.0", "3e0", "1.5", "-0.5", "2147483647", "2147483648", "2.147483647e9",
    "9223372036854775807", "9223372036854775808", "99999999999999999999", "3e19", "1e18",
    "1e308", "-1e308", "1e400", "1e999", "1e-400", "-1e-400", "1.0000000000000001",
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "infinity", "1_0", "0_5", "0x10",
    "0b1", "1j", "\u0663", "\uff13", "0.\u0665", "\u00bd", "1,5", "--1", "1e", "e1", ".",
    "+", "1.2.3", "1e+", "", "\x00", "1\x00", "\x07", "\x1b[31m", "\u200b1", "1\u200b",
    "\ud7ff", "é", "#", "1#2", "0" * 50 + "1", "1" + "0" * 400, "9" * 5000,
    "0." + "0" * 400 + "1", "1e" + "9" * 30, "1e-" + "9" * 30, "4" * 30 + "e-30",
]

SEPARATORS = [" ", "  ", "\t", " \t ", "\x0b", "\x0c", "\xa0", "\u3000", "\x1c", "\x85"]
LINE_ENDS = ["\n", "\r\n", "\r", "\n\n", "\u2028"]


def rand_text(rng: random.Random, n: int) -> str:
    pools = [
        "0123456789.eE+-",
        " \t",
        "abcxyz#_,",
        "\x00\x01\x07\x1b\x7f",
        "\u0663\uff13\u00e9\u200b\u2028\ufeff\ud7ff\U0001f600",
    ]
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


def rand_token(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return rng.choice(ODD_NUMBERS)
    if r < 0.8:
        return repr(rng.uniform(-2, 2)) if rng.random() < 0.5 else str(rng.randint(0, 99))
    if r < 0.9:
        return rand_text(rng, rng.randint(1, 8))
    return rng.choice(ODD_NUMBERS) + rng.choice(ODD_NUMBERS)


def yolo_content(rng: random.Random) -> bytes:
    """A label file: rows of 0..9 odd tokens, comments, odd separators and line ends, a BOM,
    or random bytes (invalid UTF-8 included), sometimes one very long line."""
    kind = rng.random()
    if kind < 0.12:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    if kind < 0.15:
        return ("0 " + "1" * rng.randint(1000, 200_000) + " 0.5 0.1 0.1\n").encode()
    rows = []
    for _ in range(rng.randint(0, 6)):
        n = rng.choice([5, 5, 5, 6, 6, 7, 7, 0, 1, 4, 8, 9])
        fields = [rand_token(rng) for _ in range(n)]
        if rng.random() < 0.5 and n >= 5:  # mostly-plausible rows reach the deeper checks
            fields[0] = str(rng.choice([0, 1, 3, 2147483647]))
            for i in range(1, 5):
                if rng.random() < 0.7:
                    fields[i] = repr(rng.uniform(-0.2, 1.2))
        row = rng.choice(SEPARATORS).join(fields)
        if rng.random() < 0.15:
            row += " # " + rand_text(rng, 5)
        if rng.random() < 0.1:
            row = "  " + row + "  "
        rows.append(row)
    text = "".join(r + rng.choice(LINE_ENDS) for r in rows)
    if rng.random() < 0.1:
        text = "\ufeff" + text
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:
        data += b"\xff\xfe"
    return data


BIG = [0, 1, 7, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63)]
ODD_JSON_NUMBERS = [float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 1.5, 0.5, 1.0,
                    1e-300, 3e19, 2.0**63, 139.0]
ODD_STRINGS = ["", "1", "139", "0139", "-1", " 1", "a.jpg", "./a.jpg", "a\\b.jpg", "s/b.jpg",
               "../x.jpg", "/abs.jpg", "\u0663", "\x00", "a\x00b", "\ud800", "x" * 3000,
               "000000000002", "\U0001f600.png", "con", "."]


def rand_scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.3:
        return rng.choice(BIG)
    if r < 0.5:
        return rng.choice(ODD_JSON_NUMBERS)
    if r < 0.75:
        return rng.choice(ODD_STRINGS)
    if r < 0.85:
        return rng.choice([True, False, None])
    return rng.uniform(-10, 1000)


def rand_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.5:
        return rand_scalar(rng)
    if r < 0.75:
        return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["image_id", "category_id", "bbox", "score", "id", "file_name", "name", "width",
            "height", "images", "categories", "annotations", "x"]
    return {rng.choice(keys): rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def rand_det(rng: random.Random) -> Any:
    det: dict[str, Any] = {
        "image_id": rng.choice([1, 2, "1", "a", 139, "000000000002"]),
        "category_id": rng.choice([0, 1, 80]),
        "bbox": [rng.uniform(-5, 60) for _ in range(4)],
        "score": rng.random(),
    }
    for _ in range(rng.randint(0, 2)):  # mutate some fields
        key = rng.choice(list(det) + ["extra"])
        det[key] = rand_json(rng, 2) if rng.random() < 0.5 else rand_scalar(rng)
    if rng.random() < 0.1:
        det.pop(rng.choice(list(det)), None)
    return det


def encode_json(rng: random.Random, value: Any) -> bytes:
    text = json.dumps(value, allow_nan=True, ensure_ascii=rng.random() < 0.5)
    r = rng.random()
    if r < 0.05:  # truncated
        text = text[: rng.randint(0, len(text))]
    elif r < 0.1:  # a repeated key, written by hand
        text = text.replace("{", '{"k": 1, "k": 2, ', 1) if "{" in text else text
    elif r < 0.13:  # a number with more digits than Python converts
        text = text.replace("1", "1" * 5000, 1)
    elif r < 0.16:  # deep nesting
        text = "[" * 50_000 + "]" * 50_000
    elif r < 0.2:  # a stray random byte
        i = rng.randint(0, len(text))
        return text[:i].encode("utf-8", "surrogatepass") + bytes([rng.getrandbits(8)]) + \
            text[i:].encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


def dets_content(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 100)))
    if r < 0.25:
        return encode_json(rng, rand_json(rng))
    dets = [rand_det(rng) for _ in range(rng.randint(0, 6))]
    value: Any = {"images": [], "annotations": dets} if rng.random() < 0.2 else dets
    return encode_json(rng, value)


def map_content(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 100)))
    if r < 0.2:
        return encode_json(rng, rand_json(rng))
    names = ["a.jpg", "./a.jpg", "1.jpg", "000000000002.png", "s/b.jpg", "s\\b.jpg", "gone.jpg"]
    if r < 0.45:
        plain = {str(rng.choice([1, 2, "a", 139, "01"])): rng.choice(names + [rand_scalar(rng)])
                 for _ in range(rng.randint(0, 4))}
        return encode_json(rng, plain)
    images = []
    for _ in range(rng.randint(0, 5)):
        e: dict[str, Any] = {"id": rng.choice([1, 2, "1", "a", 139, 7]),
                             "file_name": rng.choice(names)}
        if rng.random() < 0.6:
            e["width"], e["height"] = rng.choice([64, 0, -1, 1.0, "64", None]), 48
        if rng.random() < 0.2:
            e[rng.choice(["id", "file_name", "width"])] = rand_scalar(rng)
        images.append(e)
    gt: dict[str, Any] = {"images": images}
    if rng.random() < 0.7:
        gt["categories"] = [{"id": rng.choice([0, 1, 2, 2**31, -1, 1.0]),
                             "name": rng.choice(["person", "car", "", 5, "a\x00"])}
                            for _ in range(rng.randint(0, 3))]
    return encode_json(rng, gt)


YAML_PIECES = [
    "names:", "names: ", "names: [", "]", "{", "}", "'a'", '"b"', "c", ",", ", ", "- ", "-",
    "0: ", "1:", " # c", "#", "\n", "\r\n", "\n  ", "\n\t", "~", "&x ", "*x", "!!str ", "|",
    "'it''s'", '"\\u00e9"', '"\\q"', "'", '"', "nc: 2", "\n- ", "\u00e9", "\x00", ":", "2147483648: ",
    "-1: ", "[a, [b]]",
]


def yaml_content(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.1:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 100)))
    if r < 0.4:  # a valid form, then mutated
        forms = ["names: ['a', \"b\", c]\n", "names:\n  - a\n  - 'b c'\n", "names:\n  0: a\n  3: b\n",
                 "names: {0: a, 1: b}\n", "names:\n- a\n- b\nnc: 2\n",
                 "names: ['a',\n  'b']\n"]
        text = rng.choice(forms)
        for _ in range(rng.randint(0, 3)):
            i = rng.randint(0, len(text))
            text = text[:i] + rng.choice(YAML_PIECES) + text[i + rng.randint(0, 2):]
    else:
        text = "names:" + "".join(rng.choice(YAML_PIECES) for _ in range(rng.randint(0, 14)))
    return text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------- the checks


@pytest.fixture
def fuzz_dir(tmp_path):
    """A folder in memory (``/dev/shm``) where there is one, else ``tmp_path``: thousands of
    small files on a busy disk cost seconds of IO wait, and would be kept by pytest."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="samcli-fuzz-") as d:
            yield Path(d)
    else:
        yield tmp_path


class Files:
    """A fresh file per case (``"<n> <name>"``), the previous one removed: overwriting one
    file truncates it, which costs milliseconds on ext4 (a flush on close)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name, self.n = folder, name, 0
        self.last: Path | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, data: bytes) -> Path:
        if self.last is not None:
            self.last.unlink()
        self.n += 1
        self.last = self.folder / f"{self.n:05d} {self.name}"
        self.last.write_bytes(data)
        return self.last


def call(path: Path, fn: Callable[[], Any], data: bytes) -> Any:
    """``fn()``'s result, or None when it raised an InputError naming ``path`` first.
    Anything else (another exception, a numpy warning) fails with the input shown."""
    shown = data[:300]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return fn()
    except InputError as exc:
        msg = str(exc)
        assert msg.startswith(str(path)), f"seed {SEED}: message {msg[:200]!r} for {shown!r}"
        assert len(msg) < 1000 + len(str(path)), f"seed {SEED}: long message for {shown!r}"
        return None
    except Exception as exc:  # noqa: BLE001 - the property under test
        pytest.fail(f"seed {SEED}: {type(exc).__name__}: {exc} for input {shown!r}")


def check_box_labels(got: list[L.BoxLabel], data: bytes) -> None:
    for b in got:
        assert type(b.cls) is int and 0 <= b.cls <= L.MAX_CLASS_ID, (b, data[:200])
        assert all(math.isfinite(v) for v in (b.cx, b.cy, b.w, b.h)), (b, data[:200])
        assert b.conf is None or (type(b.conf) is float and 0.0 <= b.conf <= 1.0), b
        assert b.track_id is None or (type(b.track_id) is int
                                      and 0 <= b.track_id <= L.MAX_CLASS_ID), b
    # what the pipeline does next: int64 class arrays, pixels for any image size
    cls = np.array([b.cls for b in got], dtype=np.int64)
    assert cls.tolist() == [b.cls for b in got]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for w, h in ((1, 1), (640, 480), (100_000, 3)):
            res = L.boxes_to_pixels(got, w, h, source="f.txt")
            assert res.xyxy.shape == (len(got), 4) and np.isfinite(res.xyxy).all()
            kept = res.xyxy[res.keep]
            assert ((kept[:, 2] > kept[:, 0]) & (kept[:, 3] > kept[:, 1])).all()
            assert (kept >= 0).all() and (kept[:, 0::2] <= w).all() and (kept[:, 1::2] <= h).all()
            assert len(res.warnings) == int((~res.keep).sum())


def test_fuzz_yolo_rows(fuzz_dir):
    rng = random.Random(SEED)
    files = Files(fuzz_dir / "lbl dir", "a.txt")
    ok = 0
    for _ in range(n_cases(8000)):
        data = yolo_content(rng)
        path = files.write(data)
        got = call(path, lambda: L.parse_yolo_labels(path), data)
        if got is not None:
            ok += 1
            check_box_labels(got, data)
    assert ok > n_cases(8000) // 10  # the generator reaches valid files too


def check_dets(got: dict, data: bytes) -> None:
    for image_id, dets in got.items():
        assert dets and isinstance(image_id, (int, str)) and not isinstance(image_id, bool)
        assert len({L.image_id_key(d.image_id) for d in dets}) == 1
        for d in dets:
            assert L.image_id_key(d.image_id) == L.image_id_key(image_id)
            assert type(d.category_id) is int and 0 <= d.category_id <= L.MAX_CLASS_ID
            assert len(d.bbox) == 4 and all(math.isfinite(v) for v in d.bbox), d
            assert d.score is None or 0.0 <= d.score <= 1.0
            if isinstance(d.image_id, int):
                assert 0 <= d.image_id <= L.MAX_IMAGE_ID
            else:
                assert d.image_id != ""
        res = L.coco_dets_to_xyxy(dets, 64, 48, source="d.json")
        assert np.isfinite(res.xyxy).all() and len(res.keep) == len(dets)
    keys = [L.image_id_key(i) for i in got]
    assert len(set(keys)) == len(keys), "spellings of one id must form one group"


def images_dir(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    for name in ("1.jpg", "000000000002.png", "a.jpg", "s/b.jpg", "000000000139.jpg"):
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(b"x")
    return d


def check_resolved(ids: list, found: dict, problems: list) -> None:
    assert set(found) <= set(ids)
    rels = [item.rel for item in found.values()]
    assert len(set(rels)) == len(rels), "two ids for one file must not both be kept"
    for item in found.values():
        assert item.path.is_file()
    for image_id in ids:  # nothing dropped silently
        assert image_id in found or any(_show(image_id)[:20] in str(p) for p in problems), \
            (image_id, found, problems)


def test_fuzz_coco_dets_and_resolve(fuzz_dir):
    rng = random.Random(SEED + 1)
    files = Files(fuzz_dir / "dets", "d ets.json")
    imgs = images_dir(fuzz_dir)
    ok = 0
    for _ in range(n_cases(4000)):
        data = dets_content(rng)
        path = files.write(data)
        got = call(path, lambda: L.parse_coco_dets(path), data)
        if got is None:
            continue
        ok += 1
        check_dets(got, data)
        ids = list(got)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            found, problems = L.resolve_coco_images(ids, imgs)
        check_resolved(ids, found, problems)
    assert ok > n_cases(4000) // 10


def test_fuzz_image_maps(fuzz_dir):
    rng = random.Random(SEED + 2)
    files = Files(fuzz_dir / "maps", "gt.json")
    imgs = images_dir(fuzz_dir)
    ok = 0
    for _ in range(n_cases(3000)):
        data = map_content(rng)
        path = files.write(data)
        m = call(path, lambda: L.read_image_map(path), data)
        if m is None:
            continue
        ok += 1
        seen = set()
        for im in m.images:
            assert isinstance(im.id, (int, str)) and not isinstance(im.id, bool)
            assert L.image_id_key(im.id) not in seen
            seen.add(L.image_id_key(im.id))
            assert isinstance(im.file_name, str) and im.file_name
            assert im.width is None or (type(im.width) is int and im.width > 0)
            assert im.height is None or (type(im.height) is int and im.height > 0)
            assert m.get(im.id) is im
        for cid, name in m.categories.items():
            assert type(cid) is int and 0 <= cid <= L.MAX_CLASS_ID and isinstance(name, str)
        assert L.load_image_map(path) == m.file_names()
        ids = [rng.choice([1, 2, "1", "a", 139, "01", 7, "000000000002"])
               for _ in range(rng.randint(0, 6))]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for image_map in (m, path, m.file_names()):
                found, problems = L.resolve_coco_images(ids, imgs, image_map)
                check_resolved(list(dict.fromkeys(ids)), found, problems)
    assert ok > n_cases(3000) // 10


def test_fuzz_class_names(fuzz_dir):
    rng = random.Random(SEED + 3)
    yamls = Files(fuzz_dir / "yaml", "data.yaml")
    txts = Files(fuzz_dir / "txt", "classes.txt")
    ok = 0
    for _ in range(n_cases(5000)):
        data = yaml_content(rng)
        yml = yamls.write(data)
        got = call(yml, lambda: L.read_class_names(yml), data)
        if got is not None:
            ok += 1
            assert all(type(k) is int and 0 <= k <= L.MAX_CLASS_ID for k in got)
            assert all(isinstance(v, str) and v for v in got.values())
            try:
                yaml = __import__("yaml")
                ref = yaml.safe_load(data.decode("utf-8-sig"))
            except Exception:  # noqa: BLE001 - PyYAML refusing is fine; ours may be laxer
                continue
            # where PyYAML reads a list of strings, we read the same names ('' has none)
            names = ref.get("names") if isinstance(ref, dict) else None
            if isinstance(names, list) and all(isinstance(v, str) for v in names):
                assert got == {i: v for i, v in enumerate(names) if v}, (data, got, names)
        data = yolo_content(rng)
        txt = txts.write(data)
        got = call(txt, lambda: L.read_class_names(txt), data)
        if got is not None:
            assert all(isinstance(v, str) and v == v.strip() and v for v in got.values())
    assert ok > n_cases(5000) // 20
