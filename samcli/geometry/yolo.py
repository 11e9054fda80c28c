"""The YOLO ring bridge: parts and holes joined into one ring per object."""

from __future__ import annotations

from typing import Any

import numpy as np

from samcli.geometry.rings import polygonal_parts


_MAX_CHUNK = 1 << 22  # elements per block in the closest-pair search


def _closest_pair(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Indices (i, j) minimising |a[i] - b[j]| (first such pair), in bounded-memory blocks."""
    best = (np.inf, 0, 0)
    step = max(1, _MAX_CHUNK // max(len(b), 1))
    for s in range(0, len(a), step):
        blk = a[s : s + step]
        d = ((blk[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        k = int(np.argmin(d))
        i, j = divmod(k, len(b))
        if d[i, j] < best[0]:
            best = (float(d[i, j]), s + i, j)
    return best[1], best[2]


def geometry_to_yolo_ring(geometry: Any) -> np.ndarray:
    """One ring (K, 2) float64, open (no repeated closing point), for a YOLO segment label.

    YOLO segment labels hold one polygon per object, so parts and holes are joined into a single
    ring by *bridging*, as ultralytics does for its own multi-part labels
    (``merge_multi_segment``; re-implemented here, not copied): start from the exterior ring of
    the largest part; for each further ring, in order (that part's holes, then the next part's
    exterior and holes, ...), find the closest pair of vertices between the ring built so far
    (vertex ``i``) and the new ring (vertex ``j``), go out from ``i`` to ``j``, walk the whole
    new ring back to ``j`` and return to ``i``. The bridges are zero-width, so filling the ring
    (cv2.fillPoly, even-odd or non-zero: holes run the opposite way) reproduces the parts and
    holes up to the bridge lines. Returns an empty (0, 2) array for an empty geometry.
    """
    if hasattr(geometry, "geom_type"):
        polys = [
            [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
            for p in polygonal_parts(geometry)
        ]
    else:
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        coords = geometry.get("coordinates") or [] if kind else []
        if kind == "Polygon":
            polys = [coords]
        elif kind == "MultiPolygon":
            polys = list(coords)
        else:
            raise ValueError(f"expected a Polygon or MultiPolygon geometry, got {kind!r}")
        polys = [[np.asarray(r, np.float64).reshape(-1, 2) for r in p] for p in polys]
    rings: list[np.ndarray] = []
    for p in polys:
        for r in p:
            r = np.asarray(r, np.float64)
            if len(r) >= 2 and np.all(r[0] == r[-1]):
                r = r[:-1]
            if len(r) >= 3:
                rings.append(r)
    if not rings:
        return np.zeros((0, 2), np.float64)
    merged = rings[0]
    for ring in rings[1:]:
        i, j = _closest_pair(merged, ring)
        walk = np.concatenate([ring[j:], ring[: j + 1]])  # j ... back to j
        merged = np.concatenate([merged[: i + 1], walk, merged[i:]])
    return merged
