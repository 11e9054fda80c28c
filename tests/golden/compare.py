"""Structural comparison of golden outputs (see ``tests/test_golden.py`` for the rules):
the same keys, list lengths, strings and integers; floats within :data:`TOL`; at most one
proposal per run whose mask differs by a few pixels (rasterised IoU >= 0.99) or whose
stability score does (within :data:`STABILITY_TOL`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TOL = 1e-4
PIXEL_TOL = 0.5  # mean pixel value of a chip or preview (a JPEG re-encode moves it a little)
# The stability score is a ratio of pixel counts at logit thresholds -1 and +1: a logit
# within rounding of either moves it by about 1 / area, with or without a change of the mask
STABILITY_TOL = 0.01


class _Slack:
    def __init__(self, n: int) -> None:
        self.left = n


def _compare(a: Any, b: Any, where: str, diffs: list[str], slack: _Slack) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b) and sorted(a) != sorted(b):
            diffs.append(f"{where}: keys {sorted(a)} != {sorted(b)}")
            return
        if _is_record(a) and _is_record(b) and _record_differs_by_pixels(a, b, where, diffs,
                                                                           slack):
            return
        for k in a:
            _compare(a[k], b[k], f"{where}.{k}", diffs, slack)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{where}: {len(a)} items != {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{where}[{i}]", diffs, slack)
    elif isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        if a != b:
            diffs.append(f"{where}: {a!r} != {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        tol = PIXEL_TOL if where.endswith(".mean") or ".mean[" in where else TOL
        if isinstance(a, int) and isinstance(b, int) and not ".mean" in where:
            if a != b:
                diffs.append(f"{where}: {a} != {b}")
        elif not math.isclose(a, b, rel_tol=0, abs_tol=tol):
            diffs.append(f"{where}: {a} != {b}")
    elif a != b:
        diffs.append(f"{where}: {a!r} != {b!r}")


def _is_record(d: dict) -> bool:
    """A proposal: a record (JSON Lines, GeoJSON properties) or a COCO annotation."""
    return "segmentation" in d and "area" in d


def _record_differs_by_pixels(a: dict, b: dict, where: str, diffs: list[str],
                              slack: _Slack) -> bool:
    """True when ``a`` and ``b`` differ only by a few pixels, in their mask or in the counts
    behind their stability score (and the allowance is not used up): counted as equal.
    False: compare field by field as usual."""
    geometry_keys = {"segmentation", "area", "bbox"}
    pixel_keys = geometry_keys | {"stability_score"}  # compared below, not field by field
    sub: list[str] = []
    _compare({k: v for k, v in a.items() if k not in pixel_keys},
             {k: v for k, v in b.items() if k not in pixel_keys}, where, sub, _Slack(0))
    sa, sb = a.get("stability_score"), b.get("stability_score")
    same_geometry = all(_same(a[k], b[k]) for k in geometry_keys)
    if sub or slack.left <= 0 or (same_geometry and _same(sa, sb)):
        return False
    if (sa is None) != (sb is None) or (sa is not None and abs(sa - sb) > STABILITY_TOL):
        return False
    if not same_geometry:
        if "width" not in a:  # a COCO annotation: no frame to rasterise its polygon in
            return False
        if _raster_iou(a["segmentation"], b["segmentation"], a["height"], a["width"]) < 0.99:
            return False
    slack.left -= 1
    return True


def _same(x: Any, y: Any) -> bool:
    d: list[str] = []
    _compare(x, y, "", d, _Slack(0))
    return not d


def _raster_iou(ga: dict, gb: dict, h: int, w: int) -> float:
    from samcli.geometry import geometry_to_mask

    ma, mb = geometry_to_mask(ga, h, w), geometry_to_mask(gb, h, w)
    union = np.count_nonzero(ma | mb)
    return np.count_nonzero(ma & mb) / union if union else 1.0


def differences(expected: Any, got: Any) -> list[str]:
    """Every difference between a recording and a run's normalised outputs (empty: equal)."""
    diffs: list[str] = []
    _compare(expected, got, "$", diffs, _Slack(1))
    return diffs
