"""Everything-mode on tiles: images far larger than SAM's 1024-pixel input.

SAM resizes every image (or crop) so its long side is 1024 pixels, so on a 20k x 20k aerial
scene a car is a fraction of a pixel of the embedding. Tiling runs the normal everything-mode
(:func:`samcli.automask.generate`, crop layers included) on each ``size x size`` tile at full
resolution and maps the masks back to the image:

1. **Grid.** Tiles overlap by ``overlap`` pixels and are spread evenly so the last one ends at
   the image edge (:func:`tile_grid`); every tile but a narrow image's has the full size.
2. **Per tile.** Masks are generated in the tile frame, then re-encoded as image-size RLEs
   through their tight box (:mod:`samcli.rle`), so memory follows the tile, not the image
   (the decoded RGB image itself, 3 bytes a pixel, is the one image-size buffer).
3. **Seams.** For every pair of overlapping tiles, each mask is cut to the shared strip, where
   both tiles saw the same pixels, and the cuts are compared by mask IoU. Pairs with IoU >=
   :data:`SEAM_IOU`, each mask in at most one pair, best first, are the same object: one cut
   by the seam (truncated in both tiles) or one seen whole in both (a duplicate). Ties (cuts
   alike in the strip, as nested part and whole masks' are) pair by size, smallest with
   smallest. Masks that one tile cut off and that together make one mask of the other (a U
   whose arms are apart in one tile) join that mask too (:func:`_pieces`). Last, the same
   one-to-one matching runs on the cuts' connected parts (of :data:`SEAM_MIN_PIECE` pixels or
   more) where the seam cut at least one of the two masks: an object that crosses the seam
   again and again (a meandering river) is seen whole by no tile, its parts in the strip are
   those of one mask here and another there, and matching parts join them.
   Joins are transitive, so an object across four tiles becomes one proposal: the union of
   its masks, scores averaged by area, the point of its largest piece, and ``tiles`` listing
   every tile it came from.

Coordinates: tile and crop boxes are xyxy with exclusive ends in image pixels; masks' boxes are
xyxy inclusive, as everywhere in :class:`~samcli.maskset.MaskSet`.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from samcli import automask
from samcli.predictor import PromptModel
from samcli.config import DEFAULT_TILE, AutomaskConfig
from samcli.maskset import MaskSet, rle_boxes
from samcli.rle import decode_window, encode_window, rle_areas

#: Mask IoU, inside the strip two tiles share, from which two masks (or two of their pieces
#: there) are one object.
SEAM_IOU = 0.5
#: A mask cut off by its tile joins a mask of the neighbouring tile holding this much of it
#: (inside the strip), when it overlaps the masks that mask already took by at most
#: SEAM_OVERLAP of its area (see :func:`_pieces`).
SEAM_INSIDE = 0.9
SEAM_OVERLAP = 0.1
#: Connected parts of a mask inside the strip smaller than this many pixels are not matched
#: on their own: a 4x4 patch is one pixel of the decoder's 256x256 output for a 1024 tile.
SEAM_MIN_PIECE = 16
#: A mask whose cut has a partner this alike (IoU in the strip) needs no matching of parts.
SEAM_ALIKE = 0.9

Box = tuple[int, int, int, int]


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``size`` covering ``[0, length)`` with at least ``overlap``
    pixels shared by neighbours, spread evenly, the last ending at ``length``."""
    if length <= size:
        return [0]
    n = math.ceil((length - overlap) / (size - overlap))
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def tile_grid(height: int, width: int, size: int, overlap: int) -> list[Box]:
    """Tile boxes xyxy (exclusive ends), row by row."""
    return [(x, y, min(x + size, width), min(y + size, height))
            for y in tile_starts(height, size, overlap)
            for x in tile_starts(width, size, overlap)]


def tile_size_for(height: int, width: int, cfg: AutomaskConfig) -> int:
    """The tile side to use for an image (0: no tiling): ``--tile``, else the default tile
    size for images above ``--tile-above`` pixels."""
    if cfg.tile > 0:
        return cfg.tile
    if cfg.tile_above > 0 and height * width > cfg.tile_above:
        return DEFAULT_TILE
    return 0


def generate_tiled(
    predictor: PromptModel,
    image: np.ndarray,
    cfg: AutomaskConfig,
    size: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> MaskSet:
    """Everything-mode per tile of a uint8 (H, W, 3) RGB image; masks in the image frame with
    ``tiles`` set, objects cut by seams merged (see the module docstring)."""
    h, w = image.shape[:2]
    tiles = tile_grid(h, w, size, cfg.tile_overlap)

    # Each tile on its own, masks re-encoded in the image frame
    parts = []
    for k, box in enumerate(tiles):
        x0, y0, x1, y1 = box
        local = automask.generate(predictor, image[y0:y1, x0:x1], cfg,
                                  on_batch=_tile_progress(on_batch, k, len(tiles)))
        parts.append(to_image_frame(local, box, (h, w)))
    masks = MaskSet.concat(parts, (h, w))
    owner = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)]).astype(np.int64)

    # One proposal per object, however many tiles it was seen in
    return merge_seams(masks, owner, tiles)


def _tile_progress(on_batch, k: int, n: int):
    if on_batch is None:
        return None
    return lambda done, total: on_batch(k * total + done, n * total)


def to_image_frame(local: MaskSet, tile: Box, image_size: tuple[int, int]) -> MaskSet:
    """Masks of a tile (their frame is the tile) -> the same masks in the image frame, each
    tagged with the tile."""
    x0, y0 = tile[0], tile[1]
    rles = []
    for i in range(len(local)):
        window, wx, wy = local.window(i)
        rles.append(encode_window(window, x0 + wx, y0 + wy, image_size))
    shift = np.array([[x0, y0, x0, y0]])
    return MaskSet(
        image_size=image_size, rles=rles, boxes=local.boxes + shift,
        predicted_iou=local.predicted_iou, stability_score=local.stability_score,
        points=local.points + shift[:, :2], crop_boxes=local.crop_boxes + shift,
        areas=local.areas, tiles=[(tuple(int(v) for v in tile),)] * len(local),
    )


def merge_seams(masks: MaskSet, owner: np.ndarray, tiles: list[Box],
                iou_thresh: float = SEAM_IOU) -> MaskSet:
    """Join masks of different tiles that are one object (``owner[i]`` = tile index of mask
    i); returns one mask per object, best predicted IoU first. See the module docstring."""
    h, w = masks.image_size
    parent = np.arange(len(masks))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for a, b, strip in _overlapping_pairs(tiles):
        ia = _touching(masks, owner, a, strip)
        ib = _touching(masks, owner, b, strip)
        if len(ia) == 0 or len(ib) == 0:
            continue
        # Ties (cuts alike in the strip, as nested masks' are) pair by size: smallest first
        rank_a = np.argsort(np.argsort(masks.areas[ia], kind="stable"), kind="stable")
        rank_b = np.argsort(np.argsort(masks.areas[ib], kind="stable"), kind="stable")
        # 1. Whole cuts: an object cut by the seam, or seen whole by both tiles
        strip_rle = encode_window(np.ones((strip[3] - strip[1], strip[2] - strip[0]), bool),
                                  strip[0], strip[1], (h, w))
        cut_a = [mask_utils.merge([masks.rles[i], strip_rle], intersect=True) for i in ia]
        cut_b = [mask_utils.merge([masks.rles[i], strip_rle], intersect=True) for i in ib]
        iou = _ious(cut_a, cut_b)
        partner = dict(_one_to_one(iou, iou_thresh, rank_a, rank_b))  # index in ia -> in ib
        for j, k in partner.items():
            parent[root(int(ia[j]))] = root(int(ib[k]))
        # 2. Masks cut off by their tile that together make one mask of the other (the arms
        # of a U, apart in one tile and joined in the next; a sliver beside its object)
        off_a, off_b = _cut_off(masks, ia, tiles[a]), _cut_off(masks, ib, tiles[b])
        for j, k in _pieces(cut_a, cut_b, iou, partner, off_a, iou_thresh):
            parent[root(int(ia[j]))] = root(int(ib[k]))
        back = {k: j for j, k in partner.items()}
        for k, j in _pieces(cut_b, cut_a, iou.T, back, off_b, iou_thresh):
            parent[root(int(ib[k]))] = root(int(ia[j]))
        # 3. The connected parts of the cuts, for objects that cross the seam more than once
        # (a meandering river: no tile sees it whole; its pieces here are another's there).
        # Only where step 1 left a mask unexplained (no partner alike in the strip): the
        # parts of the others are their whole cuts, matched already.
        odd_a, odd_b = _unexplained(iou, partner), _unexplained(iou.T, back)
        if not (odd_a.any() or odd_b.any()):
            continue
        need_a = odd_a | _meets_any(masks.boxes[ia], masks.boxes[ib][odd_b], strip)
        need_b = odd_b | _meets_any(masks.boxes[ib], masks.boxes[ia][odd_a], strip)
        pieces_a, of_a = _strip_pieces(masks, ia, np.flatnonzero(need_a), strip)
        pieces_b, of_b = _strip_pieces(masks, ib, np.flatnonzero(need_b), strip)
        if not pieces_a or not pieces_b:
            continue
        piece_iou = _ious(pieces_a, pieces_b)
        # a piece joins only where the seam cut one of the two masks (an object lying in a
        # hole of its neighbour's mask is not cut off, and stays its own)
        cut = off_a[of_a][:, None] | off_b[of_b]
        piece_iou[~cut] = 0.0
        for p, q in _one_to_one(piece_iou, iou_thresh, rank_a[of_a], rank_b[of_b],
                                prefer=iou[np.ix_(of_a, of_b)]):
            parent[root(int(ia[of_a[p]]))] = root(int(ib[of_b[q]]))

    # One mask per group: the union, area-weighted scores, the largest piece's point
    groups: dict[int, list[int]] = {}
    for i in range(len(masks)):
        groups.setdefault(root(i), []).append(i)
    merged = MaskSet.concat([_union(masks, members) for members in groups.values()], (h, w))
    if merged.tiles is None:  # no masks at all
        merged.tiles = []
    order = np.argsort(-merged.predicted_iou, kind="stable")
    return merged[order]


def _ious(a: list, b: list) -> np.ndarray:
    """(len(a), len(b)) mask IoU of two lists of RLEs."""
    return np.asarray(mask_utils.iou(a, b, [0] * len(b)), np.float64).reshape(len(a), len(b))


def _one_to_one(iou: np.ndarray, thresh: float, rank_a: np.ndarray, rank_b: np.ndarray,
                prefer: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Pairs (row, column) of ``iou`` >= ``thresh``, each row and column used once, best IoU
    first; ties go to the higher ``prefer`` (same shape), then to the lower ranks (row, then
    column): so masks alike in the strip pair smallest with smallest."""
    rows, cols = np.nonzero(iou >= thresh)
    if len(rows) == 0:
        return []
    tie = prefer[rows, cols] if prefer is not None else np.zeros(len(rows))
    order = np.lexsort((rank_b[cols], rank_a[rows], -tie, -iou[rows, cols]))
    used_rows, used_cols, pairs = set(), set(), []
    for t in order:
        r, c = int(rows[t]), int(cols[t])
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


def _unexplained(iou: np.ndarray, partner: dict[int, int]) -> np.ndarray:
    """(rows,) bool: rows without a partner whose cut is alike (IoU >= :data:`SEAM_ALIKE`)."""
    alike = np.zeros(len(iou), bool)
    for j, k in partner.items():
        alike[j] = iou[j, k] >= SEAM_ALIKE
    return ~alike


def _meets_any(boxes: np.ndarray, others: np.ndarray, strip: Box) -> np.ndarray:
    """(len(boxes),) bool: which inclusive xyxy ``boxes`` meet one of ``others`` inside the
    strip."""
    if len(others) == 0:
        return np.zeros(len(boxes), bool)
    lo = np.maximum(boxes[:, None, :2], others[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    lo = np.maximum(lo, np.array(strip[:2]))
    hi = np.minimum(hi, np.array(strip[2:]) - 1)
    return (hi >= lo).all(axis=2).any(axis=1)


def _strip_pieces(masks: MaskSet, idx: np.ndarray, which: np.ndarray, strip: Box
                  ) -> tuple[list, np.ndarray]:
    """The 8-connected parts of masks ``idx[j]`` (j in ``which``) inside the strip, of at
    least :data:`SEAM_MIN_PIECE` pixels (smaller ones are below the decoder's resolution), as
    image-size RLEs, and for each the position j of its mask."""
    h, w = masks.image_size
    pieces, of = [], []
    for j in which:
        x0, y0, x1, y1 = (int(v) for v in masks.boxes[idx[j]])
        box = (max(x0, strip[0]), max(y0, strip[1]), min(x1 + 1, strip[2]), min(y1 + 1, strip[3]))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        window = decode_window(masks.rles[idx[j]], box).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=8)
        for c in range(1, n):
            px, py, pw, ph, area = (int(v) for v in stats[c])
            if area >= SEAM_MIN_PIECE:
                part = labels[py:py + ph, px:px + pw] == c
                pieces.append(encode_window(part, box[0] + px, box[1] + py, (h, w)))
                of.append(int(j))
    return pieces, np.asarray(of, dtype=np.int64)


def _pieces(cuts: list, others: list, iou: np.ndarray, partner: dict[int, int],
            eligible: np.ndarray, iou_thresh: float) -> list[tuple[int, int]]:
    """(piece, other) joins beyond the one-to-one pairs, all inside one strip: a piece
    without a partner, cut off by its own tile's edge (``eligible``), goes to the other tile's
    mask holding at least :data:`SEAM_INSIDE` of it (the best-matching such mask); each mask
    then takes its pieces, largest first, while they overlap what it already took by at most
    :data:`SEAM_OVERLAP` of their area and raise the IoU of their union with it, and keeps them
    when that union has IoU >= ``iou_thresh``. A part beside its whole overlaps the whole and
    an object inside a neighbour's hole is not cut off by its tile's edge: neither is joined.
    ``iou``: (len(cuts), len(others)) IoU of the cuts; ``partner``: piece -> other."""
    area = rle_areas(cuts).astype(np.float64)
    other_area = rle_areas(others).astype(np.float64)
    inter = iou * (area[:, None] + other_area[None, :]) / (1.0 + iou)  # from IoU and areas
    taken: dict[int, list[int]] = {}
    for j in np.flatnonzero(eligible):
        if j in partner or area[j] == 0:
            continue
        holds = np.flatnonzero(inter[j] >= SEAM_INSIDE * area[j])
        if len(holds):
            taken.setdefault(int(holds[np.argmax(iou[j, holds])]), []).append(int(j))
    owner = {k: j for j, k in partner.items()}
    joins = []
    for k, candidates in taken.items():
        kept = [owner[k]] if k in owner else []
        union = mask_utils.merge([cuts[j] for j in kept]) if kept else None
        score = _iou(union, others[k]) if kept else 0.0
        added = []
        for j in sorted(candidates, key=lambda j: -area[j]):
            if union is not None and _area(mask_utils.merge([union, cuts[j]], intersect=True)) \
                    > SEAM_OVERLAP * area[j]:
                continue
            grown = cuts[j] if union is None else mask_utils.merge([union, cuts[j]])
            grown_score = _iou(grown, others[k])
            if grown_score > score:
                union, score = grown, grown_score
                added.append(j)
        if score >= iou_thresh:
            joins += [(j, k) for j in added]
    return joins


def _iou(a: dict, b: dict) -> float:
    return float(_ious([a], [b])[0, 0])


def _area(rle: dict) -> float:
    return float(rle_areas([rle])[0])


def _cut_off(masks: MaskSet, idx: np.ndarray, tile: Box) -> np.ndarray:
    """Which of the masks ``idx`` reach an edge of their ``tile`` that is not the image's
    (objects the tile cut off)."""
    h, w = masks.image_size
    x0, y0, x1, y1 = tile
    b = masks.boxes[idx]
    return (((b[:, 0] <= x0) & (x0 > 0)) | ((b[:, 2] >= x1 - 1) & (x1 < w))
            | ((b[:, 1] <= y0) & (y0 > 0)) | ((b[:, 3] >= y1 - 1) & (y1 < h)))


def _overlapping_pairs(tiles: list[Box]) -> list[tuple[int, int, Box]]:
    """(a, b, shared box xyxy) for every pair of tiles that overlap."""
    pairs = []
    for a in range(len(tiles)):
        for b in range(a + 1, len(tiles)):
            x0, y0 = max(tiles[a][0], tiles[b][0]), max(tiles[a][1], tiles[b][1])
            x1, y1 = min(tiles[a][2], tiles[b][2]), min(tiles[a][3], tiles[b][3])
            if x1 > x0 and y1 > y0:
                pairs.append((a, b, (x0, y0, x1, y1)))
    return pairs


def _touching(masks: MaskSet, owner: np.ndarray, tile: int, strip: Box) -> np.ndarray:
    """Indices of the tile's masks whose box meets the strip."""
    b = masks.boxes
    meets = ((owner == tile) & (b[:, 0] < strip[2]) & (b[:, 2] >= strip[0])
             & (b[:, 1] < strip[3]) & (b[:, 3] >= strip[1]))
    return np.flatnonzero(meets)


def _union(masks: MaskSet, members: list[int]) -> MaskSet:
    if len(members) == 1:
        return masks[members]
    rle = mask_utils.merge([masks.rles[i] for i in members], intersect=False)
    areas = masks.areas[members].astype(np.float64)
    weights = areas / max(areas.sum(), 1.0)
    crops = masks.crop_boxes[members]
    tiles = sorted({t for i in members for t in masks.tiles[i]}, key=lambda t: (t[1], t[0]))
    return MaskSet(
        image_size=masks.image_size, rles=[rle],
        boxes=rle_boxes([rle]),
        predicted_iou=[float(weights @ masks.predicted_iou[members])],
        stability_score=[float(weights @ masks.stability_score[members])],
        points=masks.points[[members[int(np.argmax(areas))]]],
        crop_boxes=[[crops[:, 0].min(), crops[:, 1].min(), crops[:, 2].max(), crops[:, 3].max()]],
        tiles=[tuple(tiles)],
    )

