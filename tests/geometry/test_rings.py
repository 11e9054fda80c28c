"""Ring helpers on flat arrays against plain one-ring-at-a-time code."""

from __future__ import annotations

import numpy as np

from samcli.geometry.rings import clean_rings, offsets
from tests.geometry import reference


def test_clean_rings_equals_cleaning_ring_by_ring():
    # Rings with repeated and collinear points, degenerate ones included.
    rng = np.random.default_rng(2)
    raw = [rng.integers(0, 3, (int(k), 2)).astype(float) for k in rng.integers(0, 9, 300)]
    flat = np.concatenate(raw) if raw else np.zeros((0, 2))
    cleaned, coff = clean_rings(flat, offsets(np.array([len(r) for r in raw])))
    for i, r in enumerate(raw):
        expected = np.array(reference.clean_ring(r.tolist()), float).reshape(-1, 2)
        assert np.array_equal(cleaned[coff[i] : coff[i + 1]], expected)
