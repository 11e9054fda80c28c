"""Exact pixel-edge tracing of a mask window into rings and parts.

The tracer does not use OpenCV contours, whose vertices are pixel *centres* (a 10x10 square
would come back as 81 pixels when rasterized). Every unit pixel edge between mask and
background becomes a directed edge with the mask on its left; at each corner the next edge is
the one turning toward the mask, else straight on, else turning away. At a saddle (two pixels
meeting only at a corner) this keeps the two pixels apart, so each ring bounds one 4-connected
component of the mask on its left. A ring that touches itself at a saddle is split there into
simple loops; each component then has exactly one positive ring (its shell) and zero or more
negative rings (holes, which may touch the shell or each other at single points). That is a
valid polygon by construction, 1-pixel-wide strokes included, with no ``make_valid`` needed.

All rings are traced at once in numpy arrays (:func:`trace_flat`): SAM output on texture and
masks from random-weight models can have tens of thousands of tiny parts (512x512 salt noise,
17k parts: about 0.1 s).
"""

from __future__ import annotations

import cv2
import numpy as np

from samcli.geometry.rings import Flat, first_per_ring, offsets, ring_ids, ring_neighbours


_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.int64)  # +x, +y, -x, -y
# Offset from a unit edge's start vertex (x, y) to the pixel on its left, by direction.
_LEFT = np.array([[0, 0], [-1, 0], [-1, -1], [0, -1]], np.int64)


def _cycles(succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a permutation ``succ`` (disjoint cycles): per element, the smallest index in its
    cycle (the cycle's head) and its distance along the cycle from the head.

    Vectorized pointer jumping, O(n log L) for cycles of at most L elements: after k rounds,
    ``key[i] = head << 32 | ahead`` holds the smallest of the 2**k elements from i on and how
    many steps from i it first comes. A round that changes nothing means each cycle's minimum
    is everywhere (the windows from i, i + 2**k, i + 2 * 2**k, ... then agree, and together
    they cover the cycle).
    """
    n = len(succ)
    if n >= 2**31:
        raise ValueError("too many boundary edges")
    key = np.arange(n, dtype=np.int64) << 32
    nxt = succ.astype(np.int32)
    span = 1
    for _ in range(40):
        k2 = key[nxt]
        k2 += span
        if not (k2 < key).any():
            break
        np.minimum(key, k2, out=key)
        nxt = nxt[nxt]
        span *= 2
    else:
        raise AssertionError("not a permutation")
    head = key >> 32
    length = np.bincount(head, minlength=n)[head]
    return head, (length - (key & 0xFFFFFFFF)) % length


def _nonzero(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D bool array (same order), via the much faster ``flatnonzero``."""
    a = np.ascontiguousarray(a)
    idx = np.flatnonzero(a)
    r = idx // a.shape[1]
    return r, idx - r * a.shape[1]


def trace_flat(sub: np.ndarray, x0: int, y0: int) -> Flat:
    """Exact pixel-edge parts of the bool mask ``sub`` whose top-left pixel is (x0, y0).

    Returns a :class:`~samcli.geometry.rings.Flat`: rings are open int64 arrays without
    repeated or collinear vertices (corners only), shells with positive and holes with negative
    shoelace area, each starting at its top-most then left-most vertex; each part is its shell
    then its holes sorted by start (y, then x); parts are sorted by area, largest first, then by
    their shell's start.

    Isolated mask pixels (no 4-neighbour in the mask) are parts of their own, unit squares;
    the rest is traced at once: the unit edges are numbered so that each straight run is a
    block of consecutive numbers (horizontal edges row by row, vertical ones column by column),
    successors come from a lookup by (vertex, direction), and rings are the cycles
    (:func:`_cycles`) of the permutation of the corners only. A ring passes a saddle vertex
    twice exactly when the two diagonal mask pixels there belong to the same component (a ring
    bounds one mask component and one 8-connected background region, and the two background
    pixels of a saddle touch); there the successors of the two incoming edges are swapped up
    front, which splits the ring into simple loops there.

    Two invariants follow from the method (no ring through a vertex twice after the swaps, one
    shell per component); they are checked, and a violation raises ``RuntimeError`` (a bug:
    no mask is known to trigger it; tests compare with an independent tracer on thousands).
    """
    h, w = sub.shape
    p = np.zeros((h + 2, w + 2), bool)
    p[1:-1, 1:-1] = sub
    inner = p[1:-1, 1:-1]
    lone = inner & ~(p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:])
    iso_r = iso_c = np.zeros(0, np.int64)
    if lone.any():
        iso_r, iso_c = _nonzero(lone)
        inner &= ~lone  # trace the rest (their rings are exactly the rings they had before)
        iso_r, iso_c = iso_r + 1, iso_c + 1  # padded pixel = padded corner coordinates
    rings = _trace_rings(p, h, w)
    if rings is None:
        raise RuntimeError("samcli.geometry: a traced ring still passes a saddle twice")
    cx, cy, coff, area2, label, start = rings
    n_rings = len(area2)

    shell = area2 > 0
    n_labels = int(label.max()) + 1 if n_rings else 0
    if np.any(np.bincount(label[shell], minlength=n_labels) > 1):
        raise RuntimeError("samcli.geometry: a mask component traced with two shells")
    c0 = coff[:-1]
    sx0, sy0 = cx[c0 + start], cy[c0 + start]
    part_of_label = np.full(n_labels, -1, np.int64)
    part_of_label[label[shell]] = np.arange(int(shell.sum()))
    ring_part = part_of_label[label]
    kept = np.flatnonzero(ring_part >= 0)  # holes of a label without a shell: none expected
    n_parts = int(shell.sum())
    part_area2 = np.zeros(n_parts, np.int64)
    np.add.at(part_area2, ring_part[kept], area2[kept])
    shell_ring = np.flatnonzero(shell)
    # Isolated pixels: one more part and ring each, (x, y) (x+1, y) (x+1, y+1) (x, y+1).
    n_iso = len(iso_r)
    if n_iso:
        cx = np.concatenate([cx, (iso_c[:, None] + [0, 1, 1, 0]).ravel()])
        cy = np.concatenate([cy, (iso_r[:, None] + [0, 0, 1, 1]).ravel()])
        coff = np.concatenate([coff, coff[-1] + 4 * np.arange(1, n_iso + 1)])
        c0 = coff[:-1]
        start = np.concatenate([start, np.zeros(n_iso, np.int64)])
        sx0, sy0 = np.concatenate([sx0, iso_c]), np.concatenate([sy0, iso_r])
        shell = np.concatenate([shell, np.ones(n_iso, bool)])
        iso_rings = np.arange(n_rings, n_rings + n_iso)
        ring_part = np.concatenate([ring_part, n_parts + np.arange(n_iso)])
        kept = np.concatenate([kept, iso_rings])
        part_area2 = np.concatenate([part_area2, np.full(n_iso, 2, np.int64)])
        shell_ring = np.concatenate([shell_ring, iso_rings])
        n_parts += n_iso
    part_rank = np.empty(n_parts, np.int64)
    part_rank[np.lexsort((sx0[shell_ring], sy0[shell_ring], -part_area2))] = np.arange(n_parts)
    rp = part_rank[ring_part[kept]]
    ro = kept[np.lexsort((sx0[kept], sy0[kept], ~shell[kept], rp))]
    cnt = np.diff(coff)[ro]
    off = offsets(cnt)
    # Gather ring by ring in output order, each rotated to start at its top-left vertex.
    rid = np.repeat(np.arange(len(ro)), cnt)
    local = np.arange(int(off[-1])) - off[:-1][rid]
    gather = c0[ro][rid] + (local + start[ro][rid]) % cnt[rid]
    pts = np.stack([cx[gather] + (x0 - 1), cy[gather] + (y0 - 1)], axis=1)
    part_off = offsets(np.bincount(rp, minlength=n_parts))
    return Flat(pts, off, part_off)


def _trace_rings(p: np.ndarray, h: int, w: int):
    """The rings of the padded mask ``p`` (see :func:`trace_flat`): corner vertices ``cx, cy``
    ring after ring (offsets ``coff``), and per ring twice its signed area, the label of its
    component (``cv2.connectedComponents``, 4-connected) and the local index of its top-most,
    then left-most vertex. None if a ring still passes a vertex twice (see :func:`trace_flat`)."""
    empty = np.zeros(0, np.int64)
    # Top edges run +x (row-major), right edges +y (column-major), bottom edges -x
    # (row-major), left edges -y (column-major): a straight step is +1 or -1 in the numbering.
    r, c = _nonzero(p[1:, :] & ~p[:-1, :])
    found = [(c, r + 1)]
    c, r = _nonzero((p[:, :-1] & ~p[:, 1:]).T)
    found.append((c + 1, r))
    r, c = _nonzero(p[:-1, :] & ~p[1:, :])
    found.append((c + 1, r + 1))
    c, r = _nonzero((p[:, 1:] & ~p[:, :-1]).T)
    found.append((c + 1, r + 1))
    sizes = [len(f[0]) for f in found]
    n = sum(sizes)
    if n == 0:
        return empty, empty, np.zeros(1, np.int64), empty, empty, empty
    sx = np.concatenate([f[0] for f in found]).astype(np.int64)
    sy = np.concatenate([f[1] for f in found]).astype(np.int64)
    d = np.repeat(np.arange(4, dtype=np.int64), sizes)
    block = offsets(np.array(sizes, np.int64))
    stride = w + 3
    vstart = sy * stride + sx
    n_keys = (h + 3) * stride * 4
    if n_keys <= 8 * n + (1 << 16):  # dense lookup table
        table = np.full(n_keys, -1, np.int32 if n < 2**31 - 1 else np.int64)
        table[vstart * 4 + d] = np.arange(n)

        def find(want: np.ndarray) -> np.ndarray:
            return table[want]

    else:  # sparse: binary search in the sorted keys
        key = vstart * 4 + d
        order = np.argsort(key, kind="stable")
        skey = key[order]

        def find(want: np.ndarray) -> np.ndarray:
            pos = np.minimum(np.searchsorted(skey, want), n - 1)
            return np.where(skey[pos] == want, order[pos], -1)

    succ = np.full(n, -1, np.int64)
    for k in range(4):  # the edge after each edge: toward the mask, else straight, else away
        lo, hi = block[k], block[k + 1]
        end4 = (vstart[lo:hi] + int(_STEP[k, 1] * stride + _STEP[k, 0])) * 4
        out = succ[lo:hi]
        for turn in (1, 0, 3):
            np.copyto(out, find(end4 + (k + turn) % 4), where=(out < 0))
    pred = np.empty(n, np.int64)
    pred[succ] = np.arange(n)

    # Saddles whose two mask pixels are one component: split the ring there.
    labels_img = cv2.connectedComponents(p.view(np.uint8), connectivity=4)[1]
    tl = p[:-1, :-1]
    saddle = (tl != p[:-1, 1:]) & (tl != p[1:, :-1]) & (tl == p[1:, 1:])
    vy = vx = empty
    if saddle.any():
        vy, vx = _nonzero(saddle)
        a = np.where(tl[vy, vx], labels_img[vy, vx], labels_img[vy, vx + 1])
        b = np.where(tl[vy, vx], labels_img[vy + 1, vx + 1], labels_img[vy + 1, vx])
        vy, vx = vy[a == b], vx[a == b]
    f1 = f2 = empty
    if len(vy):
        v4 = ((vy + 1) * stride + (vx + 1)) * 4
        out_edges = np.sort(np.stack([find(v4 + k) for k in range(4)], axis=1), axis=1)
        f1, f2 = out_edges[:, 2].astype(np.int64), out_edges[:, 3].astype(np.int64)
        e1, e2 = pred[f1], pred[f2]
        succ[e1], succ[e2] = f2, f1
        pred[f2], pred[f1] = e1, e2

    # Corners (first edge of each straight run) and the corner that follows each.
    step = np.where(d < 2, 1, -1)
    straight = (succ == np.arange(n) + step) & (d[succ] == d)
    corner = ~straight[pred]
    cidx = np.cumsum(corner) - 1
    ce = np.flatnonzero(corner)
    n_c = len(ce)
    dc = d[ce]
    last = np.where(dc < 2, np.minimum(np.r_[ce[1:], n], block[dc + 1]) - 1,
                    np.maximum(np.r_[-1, ce[:-1]] + 1, block[dc]))
    head, rank = _cycles(cidx[succ[last]])
    if len(f1) and np.any(head[cidx[f1]] == head[cidx[f2]]):
        return None

    # Corners in ring order (rings numbered by head).
    is_head = head == np.arange(n_c)
    ring = (np.cumsum(is_head) - 1)[head]
    n_rings = int(is_head.sum())
    coff = offsets(np.bincount(ring, minlength=n_rings))
    co = np.empty(n_c, np.int64)
    co[coff[ring] + rank] = ce
    cx, cy, cd = sx[co], sy[co], d[co]
    _, cnext = ring_neighbours(coff)
    c0 = coff[:-1]
    area2 = np.add.reduceat(cx * cy[cnext] - cx[cnext] * cy, c0)
    label = labels_img[cy[c0] + _LEFT[cd[c0], 1], cx[c0] + _LEFT[cd[c0], 0]]
    vkey = cy * stride + cx
    start = first_per_ring(vkey == np.minimum.reduceat(vkey, c0)[ring_ids(coff)], coff)
    return cx, cy, coff, area2, label, start
