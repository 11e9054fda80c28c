"""Tiling: tile grid, masks mapped to the image frame, objects cut by seams merged once.

The seam tests use an *oracle* predictor: for a point prompt it returns the painted object
under the point (a connected region of one colour), exactly, with predicted IoU 0.99 (0 on the
background). With it, everything-mode on the whole image finds each object once, exactly, so
a tiled run can be compared with the untiled one object by object.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from skimage.measure import label as label_regions

from samcli.config import AutomaskConfig, preset_config
from samcli.errors import ConfigError
from samcli.maskset import MaskSet, encode_masks
from samcli.automask import generate
from samcli.tiling import (generate_tiled, merge_seams, tile_grid, tile_size_for, tile_starts,
                           to_image_frame)


class OraclePredictor:
    """Segments by colour: the 3 candidate masks of a point are the region under it."""

    def set_image(self, image: np.ndarray) -> None:
        rgb = image.astype(np.int64)
        colour = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
        self.labels = label_regions(colour + 1, background=1, connectivity=1)  # 0 = background

    def predict(self, point_coords, point_labels, boxes=None, mask_input=None,
                multimask_output=True, iou_floor=None, upscaled_only=False):  # (hints)
        xy = np.asarray(point_coords)[:, 0, :].astype(np.int64)
        ids = self.labels[xy[:, 1], xy[:, 0]].astype(np.float32)
        low_res = torch.from_numpy(ids)[:, None, None, None].expand(-1, 3, 1, 1).clone()
        iou = torch.where(low_res[:, :, 0, 0] > 0, 0.99, 0.0)
        return low_res, iou

    def upscale(self, low_res: torch.Tensor) -> torch.Tensor:
        ids = low_res[:, 0, 0, 0].numpy().astype(np.int64)
        inside = self.labels[None] == ids[:, None, None]
        return torch.from_numpy(np.where(inside, 20.0, -20.0).astype(np.float32))[:, None]


def scene(h: int = 640, w: int = 640) -> tuple[np.ndarray, list[np.ndarray]]:
    """Objects on a black background, many across the seams of 256-pixel tiles overlapping by
    64 (tiles start at 0, 192, 384 on both axes: seams at 192..256 and 384..448)."""
    img = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    shapes = [
        (yy >= 100) & (yy < 160) & (xx >= 150) & (xx < 300),      # across the first x seam
        (yy >= 300) & (yy < 520) & (xx >= 60) & (xx < 120),       # across both y seams
        (yy - 224) ** 2 + (xx - 416) ** 2 < 70**2,                # disc on a 4-tile corner
        (yy >= 400) & (yy < 430) & (xx >= 200) & (xx < 250),      # inside an overlap (2x)
        (yy >= 20) & (yy < 80) & (xx >= 20) & (xx < 90),          # inside one tile
        (yy >= 560) & (yy < 620) & (xx >= 380) & (xx < 600),      # across the second x seam
        ((yy >= 480) & (yy < 600) & (xx >= 180) & (xx < 200))      # an L across a seam
        | ((yy >= 580) & (yy < 600) & (xx >= 180) & (xx < 300)),
    ]
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200),
               (200, 30, 200), (250, 120, 10)]
    for shape, colour in zip(shapes, colours):
        img[shape] = colour
    return img, shapes


def matched_iou(masks: MaskSet, shape: np.ndarray) -> tuple[int, float]:
    """How many masks overlap the object, and the best IoU."""
    target = encode_masks(shape[None])
    ious = np.asarray(mask_utils.iou(masks.rles, target, [0])).reshape(-1)
    return int((ious > 0).sum()), float(ious.max(initial=0.0))


CFG = AutomaskConfig(points_per_side=32, tile=256, tile_overlap=64)


@pytest.mark.parametrize("case, length, size, overlap, expected", [
    ("shorter than a tile", 200, 256, 64, [0]),
    ("exactly a tile", 256, 256, 64, [0]),
    ("three tiles", 640, 256, 64, [0, 192, 384]),
    ("uneven: spread evenly", 700, 256, 64, [0, 148, 296, 444]),
    ("no overlap", 512, 256, 0, [0, 256]),
])
def test_tile_starts_table(case, length, size, overlap, expected):
    starts = tile_starts(length, size, overlap)
    assert starts == expected, case
    assert starts[-1] + min(size, length) == length  # the last tile ends at the edge
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))  # overlap kept


def test_tile_grid_covers_the_image():
    tiles = tile_grid(500, 700, 256, 64)
    cover = np.zeros((500, 700), np.int32)
    for x0, y0, x1, y1 in tiles:
        assert (x1 - x0, y1 - y0) == (256, 256)
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1


@pytest.mark.parametrize("case, cfg, size, expected", [
    ("explicit --tile", dict(tile=512), (100, 100), 512),
    ("small image, automatic", dict(), (4000, 3000), 0),
    ("above the budget", dict(tile_above=1000), (100, 100), 1024),
    ("automatic off", dict(tile_above=0), (10000, 10000), 0),
])
def test_tile_size_for(case, cfg, size, expected):
    assert tile_size_for(*size, AutomaskConfig(**cfg)) == expected, case


@pytest.mark.parametrize("case, values, message", [
    ("tile too small", dict(tile=32), "--tile"),
    ("negative overlap", dict(tile_overlap=-1), "--tile-overlap"),
    ("no overlap: seams could not be joined", dict(tile=64, tile_overlap=0),
     "--tile-overlap 0: must be at least 1 pixel"),
    ("negative tile-above", dict(tile_above=-1), "--tile-above"),
    ("overlap half the tile", dict(tile=256, tile_overlap=128), "half the tile size"),
    ("overlap vs default tile", dict(tile_overlap=600),
     "(1024, the tiles of images above --tile-above)"),
    ("overlap given and too large for a small tile", dict(tile=128, tile_overlap=256),
     "(--tile 128)"),
])
def test_tile_options_validated(case, values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preset_config("sam", values)


@pytest.mark.parametrize("case, values, overlap", [
    ("untiled: the default", {}, 256),
    ("a large tile: the default", dict(tile=1024), 256),
    ("just above twice the default", dict(tile=513), 256),
    ("twice the default: a quarter", dict(tile=512), 128),
    ("the smallest tile", dict(tile=64), 16),
    ("given: kept", dict(tile=512, tile_overlap=200), 200),
])
def test_the_default_overlap_fits_small_tiles(case, values, overlap):
    assert preset_config("sam", values).tile_overlap == overlap, case


def test_to_image_frame_moves_masks_and_tags_the_tile():
    local = np.zeros((2, 50, 60), bool)
    local[0, 10:20, 5:15] = True
    local[1, 0:50, 55:60] = True  # touches the tile's right edge
    ms = MaskSet(image_size=(50, 60), rles=encode_masks(local),
                 boxes=[[5, 10, 14, 19], [55, 0, 59, 49]], predicted_iou=[0.9, 0.8],
                 stability_score=[1, 1], points=[[7, 12], [57, 3]],
                 crop_boxes=[[0, 0, 60, 50]] * 2)
    out = to_image_frame(ms, (100, 200, 160, 250), (300, 400))
    assert out.image_size == (300, 400)
    full = np.zeros((2, 300, 400), bool)
    full[:, 200:250, 100:160] = local
    for i in range(2):
        assert np.array_equal(out.mask(i), full[i])
    assert out.boxes.tolist() == [[105, 210, 114, 219], [155, 200, 159, 249]]
    assert out.points.tolist() == [[107, 212], [157, 203]]
    assert out.crop_boxes.tolist() == [[100, 200, 160, 250]] * 2
    assert out.tiles == [((100, 200, 160, 250),)] * 2
    assert out.areas.tolist() == [100, 250]


def test_each_object_once_and_equal_to_the_untiled_mask():
    img, shapes = scene()
    untiled = generate(OraclePredictor(), img, CFG)
    tiled = generate_tiled(OraclePredictor(), img, CFG, 256)
    assert len(untiled) == len(shapes)  # the oracle finds every object once
    assert len(tiled) == len(shapes)
    for k, shape in enumerate(shapes):
        n, iou = matched_iou(tiled, shape)
        assert n == 1, f"object {k} appears {n} times"
        assert iou >= 0.999, f"object {k}: IoU {iou}"
        _, iou_untiled = matched_iou(untiled, shape)
        assert iou_untiled >= 0.999


def test_records_say_which_tiles():
    img, shapes = scene()
    tiled = generate_tiled(OraclePredictor(), img, CFG, 256)
    by_object = {}
    for k, shape in enumerate(shapes):
        ious = np.asarray(mask_utils.iou(tiled.rles, encode_masks(shape[None]), [0])).ravel()
        by_object[k] = tiled.tiles[int(np.argmax(ious))]
    assert by_object[4] == ((0, 0, 256, 256),)  # inside one tile
    assert len(by_object[2]) == 4  # the disc on a corner of four tiles
    assert set(by_object[0]) == {(0, 0, 256, 256), (192, 0, 448, 256)}
    for k, tiles in by_object.items():  # every tile named holds part of the object
        for x0, y0, x1, y1 in tiles:
            assert shapes[k][y0:y1, x0:x1].any(), (k, tiles)


def test_tiled_masks_are_image_frame_with_consistent_fields():
    img, _ = scene()
    tiled = generate_tiled(OraclePredictor(), img, CFG, 256)
    for i in range(len(tiled)):
        m = tiled.mask(i)
        ys, xs = np.nonzero(m)
        assert tiled.boxes[i].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        assert tiled.areas[i] == m.sum()
        px, py = tiled.points[i]
        assert m[int(py), int(px)]  # the prompt point lies on its mask
    assert list(tiled.predicted_iou) == sorted(tiled.predicted_iou, reverse=True)


def _set(masks: np.ndarray, tile: tuple[int, int, int, int]) -> MaskSet:
    n = len(masks)
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return MaskSet(image_size=masks.shape[1:], rles=encode_masks(masks), boxes=boxes,
                   predicted_iou=np.full(n, 0.9), stability_score=np.ones(n),
                   points=np.zeros((n, 2)), crop_boxes=[tile] * n, tiles=[(tile,)] * n)


def test_neighbours_across_a_seam_are_not_merged():
    # Two objects side by side across the seam: each tile sees a cut piece of both
    h, w = 40, 100
    a_tile, b_tile = (0, 0, 60, 40), (40, 0, 100, 40)
    left = np.zeros((h, w), bool)
    left[5:35, 30:50] = True
    right = np.zeros((h, w), bool)
    right[5:35, 50:80] = True
    in_a = np.stack([left & (np.arange(w) < 60), right & (np.arange(w) < 60)])
    in_b = np.stack([left & (np.arange(w) >= 40), right & (np.arange(w) >= 40)])
    masks = MaskSet.concat([_set(in_a, a_tile), _set(in_b, b_tile)], (h, w))
    out = merge_seams(masks, np.array([0, 0, 1, 1]), [a_tile, b_tile])
    assert len(out) == 2
    got = sorted((out.mask(i) ^ left).sum() for i in range(2))
    assert got[0] == 0  # one output is exactly `left`
    assert sorted((out.mask(i) ^ right).sum() for i in range(2))[0] == 0


def test_a_part_does_not_swallow_its_whole():
    # Tile A sees the whole object and a part of it; tile B only the whole (cut): only the
    # mutually best pair merges, so the part survives as its own proposal.
    h, w = 40, 100
    a_tile, b_tile = (0, 0, 60, 40), (40, 0, 100, 40)
    whole = np.zeros((h, w), bool)
    whole[5:35, 20:70] = True
    part = np.zeros((h, w), bool)
    part[5:15, 45:58] = True
    a = np.stack([whole & (np.arange(w) < 60), part])
    b = (whole & (np.arange(w) >= 40))[None]
    masks = MaskSet.concat([_set(a, a_tile), _set(b, b_tile)], (h, w))
    out = merge_seams(masks, np.array([0, 0, 1]), [a_tile, b_tile])
    assert len(out) == 2
    areas = sorted(out.areas.tolist())
    assert areas == [part.sum(), whole.sum()]


def _u_shape(h: int, w: int) -> np.ndarray:
    """Two arms (x 10-19 and 40-49) from the top down to a bar at rows 90-99."""
    u = np.zeros((h, w), bool)
    u[0:100, 10:20] = u[0:100, 40:50] = u[90:100, 10:50] = True
    return u


def test_pieces_apart_in_one_tile_join_the_mask_they_make_in_the_next():
    # Tile A (top) sees the U's two arms apart, cut off by its bottom edge; tile B (bottom)
    # sees the U whole from row 48. Neither arm is a mutually best pair with IoU >= 0.5 on
    # its own (each is half of B's mask in the strip), together they are B's mask there.
    h, w = 112, 64
    a_tile, b_tile = (0, 0, 64, 64), (0, 48, 64, 112)
    u = _u_shape(h, w)
    rows = np.arange(h)[:, None]
    left, right = u & (rows < 64) & (np.arange(w) < 30), u & (rows < 64) & (np.arange(w) >= 30)
    masks = MaskSet.concat([_set(np.stack([left, right]), a_tile),
                            _set((u & (rows >= 48))[None], b_tile)], (h, w))
    out = merge_seams(masks, np.array([0, 0, 1]), [a_tile, b_tile])
    assert len(out) == 1
    assert np.array_equal(out.mask(0), u)
    assert out.tiles[0] == (a_tile, b_tile)


def test_an_object_in_a_neighbours_hole_is_not_joined():
    # Tile A: the background with a hole and the object in it, inside the strip but not cut
    # off by A's edge; tile B's background covers the hole. The backgrounds join; the object
    # stays its own proposal (it lies inside B's mask, but nothing cut it off).
    h, w = 40, 100
    a_tile, b_tile = (0, 0, 60, 40), (40, 0, 100, 40)
    cols = np.arange(w)
    thing = np.zeros((h, w), bool)
    thing[15:25, 45:52] = True
    ground = np.ones((h, w), bool)
    masks = MaskSet.concat([_set(np.stack([ground & (cols < 60) & ~thing, thing]), a_tile),
                            _set((ground & (cols >= 40))[None], b_tile)], (h, w))
    out = merge_seams(masks, np.array([0, 0, 1]), [a_tile, b_tile])
    assert sorted(out.areas.tolist()) == [thing.sum(), ground.sum()]


def test_every_region_once_and_exact_with_a_region_finding_generator(monkeypatch):
    """Random rectangles of five colours (their unions are often not convex) on images up to
    260 px, 64-px tiles overlapping by 16: with a stand-in generator that returns each
    connected one-colour region of a tile, the tiled run must give each region of the image
    once and exact. (One-to-one seam pairs left an arm of 8 of 30 such images as a second
    proposal.)"""
    import cv2

    import samcli.tiling as tiling

    def regions(image: np.ndarray) -> list[np.ndarray]:
        out = []
        for colour in np.unique(image.reshape(-1, 3), axis=0):
            n, lab = cv2.connectedComponents((image == colour).all(-1).astype(np.uint8), 4)
            out += [lab == i for i in range(1, n)]
        return out

    def stand_in(_predictor, image, _cfg, on_batch=None):
        found = regions(image)
        n, (h, w) = len(found), image.shape[:2]
        return MaskSet(image_size=(h, w), rles=encode_masks(np.stack(found)),
                       boxes=[[m.nonzero()[1].min(), m.nonzero()[0].min(), m.nonzero()[1].max(),
                               m.nonzero()[0].max()] for m in found],
                       predicted_iou=np.linspace(0.9, 0.5, n), stability_score=np.ones(n),
                       points=np.zeros((n, 2)), crop_boxes=np.tile([0, 0, w, h], (n, 1)))

    monkeypatch.setattr(tiling.automask, "generate", stand_in)
    rng = np.random.default_rng(0)
    cfg = AutomaskConfig(tile_overlap=16)
    for trial in range(30):
        h, w = rng.integers(1, 260, 2)
        image = np.zeros((h, w, 3), np.uint8)
        for colour in range(1, 6):
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            image[y0:y0 + rng.integers(1, 120), x0:x0 + rng.integers(1, 120)] = (40 * colour, 0, 0)
        got = generate_tiled(None, image, cfg, 64)
        truth = regions(image)
        assert len(got) == len(truth), (trial, h, w)
        for region in truth:
            assert any(np.array_equal(got.mask(i), region) for i in range(len(got))), trial


def _colour_regions(image: np.ndarray, colours, wholes=()) -> list[np.ndarray]:
    """A stand-in everything-mode: each connected region of each of ``colours`` in ``image``,
    then each connected region of each union of colours in ``wholes`` that is not already
    one of them (SAM's part and whole masks)."""
    import cv2

    def parts(mask):
        n, lab = cv2.connectedComponents(mask.astype(np.uint8), 8)
        return [lab == i for i in range(1, n)]

    of = {c: (image == c).all(-1) for c in colours}
    out = [p for c in colours for p in parts(of[c])]
    for union in wholes:
        out += [p for p in parts(np.any([of[c] for c in union], axis=0))
                if not any(np.array_equal(p, q) for q in out)]
    return out


def _seam_scene(kind: str) -> tuple[np.ndarray, list, list, list[np.ndarray]]:
    """(image, colours, wholes, the proposals expected) on a 200 x 300 image (128-px tiles
    overlapping by 32: columns 0-128, 86-214, 172-300; rows 0-128, 72-200)."""
    h, w = 200, 300
    yy, xx = np.mgrid[:h, :w]
    img = np.full((h, w, 3), 128, np.uint8)
    if kind == "river":  # crosses the row seam eight times
        river = np.abs(yy - (100 + 50 * np.sin(xx / 18.0))) < 5
        img[river] = (40, 60, 200)
        return img, [(40, 60, 200)], [], [river]
    if kind == "snake":  # an S of three strands across the column seams
        snake = np.zeros((h, w), bool)
        for k, y in enumerate((30, 90, 150)):
            snake[y:y + 12, 40:260] = True
            x = 248 if k % 2 == 0 else 40
            if k < 2:
                snake[y:y + 72, x:x + 12] = True
        img[snake] = (200, 40, 40)
        return img, [(200, 40, 40)], [], [snake]
    # nested: a field with a road at each end; the whole (field and roads) is a mask too,
    # and in the strips the whole and the field are cut alike
    field = (yy >= 40) & (yy < 120) & (xx >= 20) & (xx < 200)
    left = (yy >= 40) & (yy < 120) & (xx >= 5) & (xx < 20)
    right = (yy >= 40) & (yy < 120) & (xx >= 200) & (xx < 230)
    img[field], img[left | right] = (30, 160, 30), (90, 90, 90)
    colours = [(30, 160, 30), (90, 90, 90)]
    return img, colours, [colours], [field, left, right, field | left | right]


@pytest.mark.parametrize("kind", ["river", "snake", "nested"])
def test_objects_crossing_seams_many_times_and_nested_masks_stay_whole(monkeypatch, kind):
    """Found by review: a river crossing a seam again and again came out as four proposals
    (no tile sees it whole, so no mask of one tile matches a mask of the other), and part
    and whole masks cut alike in a strip paired by list order, leaving halves of the whole.
    Pieces in the strip join the river; ties pair smallest with smallest."""
    import samcli.tiling as tiling

    img, colours, wholes, expected = _seam_scene(kind)

    def stand_in(_predictor, image, _cfg, on_batch=None):
        found = _colour_regions(image, colours, wholes)[::-1]  # (whole first: order is no cue)
        n, (h, w) = len(found), image.shape[:2]
        return MaskSet(image_size=(h, w), rles=encode_masks(np.stack(found)),
                       boxes=[[m.nonzero()[1].min(), m.nonzero()[0].min(),
                               m.nonzero()[1].max(), m.nonzero()[0].max()] for m in found],
                       predicted_iou=np.full(n, 0.9), stability_score=np.ones(n),
                       points=np.zeros((n, 2)), crop_boxes=np.tile([0, 0, w, h], (n, 1)))

    monkeypatch.setattr(tiling.automask, "generate", stand_in)
    got = generate_tiled(None, img, AutomaskConfig(tile=128, tile_overlap=32), 128)
    assert len(got) == len(expected), kind
    for want in expected:
        assert any(np.array_equal(got.mask(i), want) for i in range(len(got))), kind


def test_empty_tiles_give_an_empty_tiled_set():
    img = np.zeros((300, 300, 3), np.uint8)
    out = generate_tiled(OraclePredictor(), img, CFG, 256)
    assert len(out) == 0 and out.tiles == []


def test_tiles_survive_indexing_concat_and_postprocess_merge():
    from samcli.postprocess import merge_overlapping

    h, w = 40, 100
    a_tile, b_tile = (0, 0, 60, 40), (40, 0, 100, 40)
    m = np.zeros((2, h, w), bool)
    m[0, 5:30, 20:50] = True
    m[1, 5:30, 21:50] = True  # nearly the same mask, from the other tile
    masks = MaskSet.concat([_set(m[:1], a_tile), _set(m[1:], b_tile)], (h, w))
    assert masks[[1]].tiles == [(b_tile,)]
    merged = merge_overlapping(masks, 0.9)
    assert len(merged) == 1 and merged.tiles == [(a_tile, b_tile)]
    with pytest.raises(ValueError, match="tiled and untiled"):
        untiled = _set(m[:1], a_tile)
        untiled.tiles = None
        MaskSet.concat([untiled, _set(m[1:], b_tile)], (h, w))
