"""SAM 2.1 end to end: ``samcli automask`` and ``samcli from-boxes`` with
``--model sam2.1_hiera_tiny --checkpoint FILE``.

FILE is laid out as Meta's official ``sam2.1_hiera_tiny.pt``: ``{"model": state_dict}`` with
the reference's full key set (the video modules included). For automask the image path has
the everything-mode test weights of :mod:`tests.automask_models_sam2` (so the default filters
keep masks); that wiring answers points, not boxes, so from-boxes gets the session's seeded
random pair (``sam2_tiny_pair``) instead. The commands build the official 1024-input network
and load the file strictly, less the listed video-only keys. Each command runs once (the 1024
encoder is the cost, on one intra-op thread: on a shared 2-core machine two threads mostly
wait for each other); a damaged file is refused before any work.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samcli.io.records import RECORD_KEYS
from tests.commands.conftest import error_lines, invoke

MODEL = ["--model", "sam2.1_hiera_tiny"]

#: The commands run the model on one thread (``$SAMCLI_THREADS``; see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def official_state(sam2_automask_pair) -> dict:
    """The test weights under the reference's full key set (an official file's)."""
    return {k: v.detach().clone() for k, v in sam2_automask_pair[1].state_dict().items()}


def _save_official(state: dict, folder: Path) -> Path:
    path = folder / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(official_state, tmp_path_factory) -> Path:
    return _save_official(official_state, tmp_path_factory.mktemp("sam2"))


@pytest.fixture(scope="module")
def random_ckpt(sam2_tiny_pair, tmp_path_factory) -> Path:
    """The seeded random weights (noise on every tensor) in an official file."""
    return _save_official(sam2_tiny_pair[1].state_dict(), tmp_path_factory.mktemp("sam2r"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """skimage's cat at half size, uint8 (150, 225, 3), as a PNG in its own folder."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    image = Image.fromarray(skimage.data.chelsea()).resize((225, 150), Image.BILINEAR)
    image.save(root / "cat.png")
    return root / "cat.png"


def _records(stdout: str) -> list[dict]:
    """stdout, line by line: every line one JSON object (nothing else is written there)."""
    out = []
    for n, line in enumerate(stdout.splitlines(), start=1):
        assert line.startswith("{") and line.endswith("}"), f"stdout line {n}: {line[:80]!r}"
        out.append(json.loads(line))
    return out


def test_automask_with_sam2_defaults(ckpt, photo):
    result = invoke("automask", photo.parent, *MODEL, "--checkpoint", ckpt, "--points-per-side",
                    "4", "-q")
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert len(records) >= 3, "the test weights keep masks at SAM 2's default thresholds"
    for i, r in enumerate(records):
        assert list(r)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
        assert (r["image"], r["id"], r["width"], r["height"]) == ("cat.png", i, 225, 150)
        assert r["segmentation"]["type"] in ("Polygon", "MultiPolygon")
        assert r["stability_score"] >= 0.95
    # SAM 2's default --pred-iou-thresh is 0.8: masks SAM 1's 0.88 would drop are kept
    scores = np.array([r["predicted_iou"] for r in records])
    assert scores.min() > 0.8 and (scores <= 0.88).any(), scores
    assert result.stderr == ""


def test_from_boxes_with_sam2(random_ckpt, photo, tmp_path):
    labels = tmp_path / "cat.txt"
    labels.write_text("0 0.3 0.4 0.3 0.4 0.9\n2 0.7 0.6 0.4 0.5 0.5\n")
    result = invoke("from-boxes", labels, "--images", photo.parent, *MODEL, "--checkpoint",
                    random_ckpt, "-q")
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    assert [r["class"] for r in records] == [0, 2]
    assert [r["box_confidence"] for r in records] == [0.9, 0.5]
    for r in records:
        assert r["image"].endswith("cat.png") and r["area"] > 0
        assert 0.0 <= r["box_iou"] <= 1.0
    np.testing.assert_allclose(records[0]["prompt_box"], [33.75, 30.0, 101.25, 90.0])


@pytest.mark.parametrize("label, corrupt, needle", [
    ("an image-path key missing", lambda sd: sd.pop("sam_mask_decoder.iou_token.weight"),
     "iou_token"),
    ("a key reshaped", lambda sd: sd.__setitem__("sam_mask_decoder.iou_token.weight",
                                                 torch.zeros(2, 256)), "iou_token"),
    ("an unknown key", lambda sd: sd.__setitem__("extra.weight", torch.zeros(1)), "extra"),
])
def test_a_damaged_official_file_is_one_error_line(official_state, photo, tmp_path, label,
                                                   corrupt, needle):
    state = dict(official_state)
    corrupt(state)
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": state}, path)
    result = invoke("automask", photo, *MODEL, "--checkpoint", path, "-q")
    assert result.exit_code == 1, (label, result.stderr)
    assert result.stdout == "", label
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, (label, result.stderr)
    assert needle in result.stderr, (label, result.stderr)
