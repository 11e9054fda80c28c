"""Tiling with a SAM 2 model: every tile gets SAM 2's everything-mode.

``samcli automask --tile`` runs everything-mode on each tile and merges the objects cut by the
seams (the seam logic is tests/test_tiling.py's, with an oracle predictor). What depends on
the model family is each tile's generation: with a SAM 2 predictor it must be Meta's
``SAM2AutomaticMaskGenerator`` on that tile, with its defaults and its recipe. Here
``min_region_area`` tells the recipes apart: SAM 2's cleans the low-res logits, SAM 1's the
full-size masks followed by another NMS, which keeps other masks on these tiles.

Setup: the SAM 2 everything-mode test model (:mod:`tests.automask_models_sam2`, 256 model
input) on the top 256 rows of skimage's cat (256 x 451), cut into three 256-pixel tiles
overlapping by 64, through :meth:`samcli.jobs.AutomaskWork.segment` (the unit of work's path:
the tile size from the config, tiling, then samcli's postprocess) with SAM 2's defaults, 4 x 4
points a tile and ``min_region_area`` 30. A spy on :func:`samcli.automask.generate` keeps each
tile's image and the masks tiling got for it. At a 256 input the encoder is cheap: about a
second a tile, both sides together.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samcli import automask
from samcli.config import preset_config
from samcli.jobs import AutomaskWork
from samcli.predictor_sam2 import Sam2Predictor
from tests.test_automask import assert_same_masks
from tests.test_automask_sam2 import POINT_ATOL, reference_records, resolve_ties

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = dict(points_per_side=4, points_per_batch=16, min_region_area=30)
TILING = dict(tile=256, tile_overlap=64)

#: Tiles of a 256 x 451 image, xyxy: three starts spread evenly from 0 to 451 - 256.
TILES = [(0, 0, 256, 256), (98, 0, 354, 256), (195, 0, 451, 256)]


class _Loaded:
    """What AutomaskWork takes as its model: ``get()`` gives the predictor."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def get(self):
        return self.predictor


@pytest.fixture(scope="module")
def image(chelsea_image) -> np.ndarray:
    return np.ascontiguousarray(chelsea_image[:256])


@pytest.fixture(scope="module")
def tiled(sam2_automask_pair, image):
    """(the tiled MaskSet, [(tile image, its MaskSet in the tile frame)] in tiling's order)."""
    cfg = preset_config("sam", dict(PARAMS, **TILING), family="sam2")
    assert cfg.pred_iou_thresh == 0.8  # SAM 2's default
    predictor = Sam2Predictor(copy.deepcopy(sam2_automask_pair[0]))
    calls = []
    real = automask.generate

    def spy(predictor, tile, cfg, **kwargs):
        masks = real(predictor, tile, cfg, **kwargs)
        calls.append((tile.copy(), masks))
        return masks

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(automask, "generate", spy)
        masks = AutomaskWork(cfg).segment(_Loaded(predictor), image)
    return masks, calls


@pytest.mark.parametrize("k", range(len(TILES)), ids=[f"tile at x {t[0]}" for t in TILES])
def test_each_tile_is_the_sam2_generators(tiled, image, sam2_automask_pair, k):
    _, calls = tiled
    assert len(calls) == len(TILES)
    tile, masks = calls[k]
    x0, y0, x1, y1 = TILES[k]
    np.testing.assert_array_equal(tile, image[y0:y1, x0:x1])
    model = sam2_automask_pair[1]
    records = reference_records(model, tile, **PARAMS)
    records, replaced = resolve_ties(
        masks, records, lambda: reference_records(model, tile, **dict(PARAMS, box_nms_thresh=1.0)))
    assert replaced <= 2, f"{replaced} masks differ by a tie: the test model needs a look"
    assert_same_masks(masks, records, point_atol=POINT_ATOL)
    assert len(masks) >= 10, f"the test model should keep dozens of masks, got {len(masks)}"


def _in_image(mask: np.ndarray, tile: tuple[int, int, int, int], shape) -> np.ndarray:
    full = np.zeros(shape[:2], bool)
    full[tile[1]:tile[3], tile[0]:tile[2]] = mask
    return full


def test_tiled_masks_are_the_tiles_masks_in_the_image_frame(tiled, image):
    """Every tile's mask, moved to the image frame, lies inside one proposal that names its
    tile; the proposals cover exactly the tiles' masks; objects across a seam are joined."""
    masks, calls = tiled
    out = mask_utils.decode(masks.rles).astype(bool)  # (H, W, n)
    assert out.shape[:2] == image.shape[:2]
    names = [{tuple(t) for t in tiles} for tiles in masks.tiles]
    assert set().union(*names) <= set(TILES)

    covered = np.zeros(image.shape[:2], bool)
    for tile, (_, local) in zip(TILES, calls):
        for i in range(len(local)):
            m = _in_image(local.mask(i), tile, image.shape)
            covered |= m
            inside = out[m].all(axis=0)  # proposals holding every pixel of m
            assert any(inside[j] and tile in names[j] for j in range(len(masks))), (tile, i)
    np.testing.assert_array_equal(out.any(axis=2), covered)

    joined = sum(len(n) >= 2 for n in names)
    assert joined >= 2, "objects across a seam expected"
    assert len(masks) < sum(len(local) for _, local in calls)
