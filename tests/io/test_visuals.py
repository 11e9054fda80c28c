"""Crops and previews (samcli.io.visuals)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samcli.io.records import kept_indices
from samcli.io.visuals import CropsWriter, PreviewWriter
from tests.io.helpers import H, W, files, make_result, records_of, with_records


def test_crops_are_rgba_chips_of_the_box(tmp_path):
    res = make_result("x/a.jpg", with_rgb=True)
    recs = records_of(res, 0.0, None)
    w = CropsWriter(tmp_path)
    assert w.needs_rgb
    paths = w.write(with_records(res, recs))
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"x/a.jpg/{i}.png" for i in range(4)]
    for p, r, i in zip(paths, recs, kept_indices(res.masks)):
        chip = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        x, y, bw, bh = r["bbox"]
        assert chip.shape == (bh, bw, 4)
        mask = res.masks.mask(i)[y:y + bh, x:x + bw]
        assert np.array_equal(chip[:, :, 3] > 0, mask)
        assert np.array_equal(chip[:, :, 2::-1][mask], res.rgb[y:y + bh, x:x + bw][mask])
    # a rerun with fewer proposals removes the stale chips
    w2 = CropsWriter(tmp_path)
    w2.write(with_records(res, recs[:2]))
    assert files(tmp_path) == ["x/a.jpg/0.png", "x/a.jpg/1.png"]


def test_crops_without_rgb_is_a_programming_error(tmp_path):
    res = make_result()
    with pytest.raises(ValueError):
        CropsWriter(tmp_path).write(with_records(res, records_of(res, 0.0, None)))


def test_preview(tmp_path):
    res = make_result("x/a.jpg", with_rgb=True)
    (p,) = PreviewWriter(tmp_path).write(with_records(res, records_of(res, 0.0, None)))
    assert p == tmp_path / "x" / "a.jpg.jpg"
    img = cv2.imread(str(p))
    assert img.shape == (H, W, 3)
    assert not np.array_equal(img[..., ::-1], res.rgb)
    assert res.rgb is not None and res.rgb.flags.writeable  # input untouched, still usable
