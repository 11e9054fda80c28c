"""encode_masks: an (N, h, w) array and a list of 2-D masks (any memory order) give the
same RLEs."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samcli.maskset import encode_masks


def _masks(seed: int, n: int = 5, h: int = 31, w: int = 47) -> np.ndarray:
    rng = np.random.default_rng(seed)
    masks = rng.random((n, h, w)) > 0.6
    masks[0] = False  # empty
    masks[1] = True  # full (a run reaching the last pixel)
    return masks


@pytest.mark.parametrize(
    "label, as_list",
    [
        ("row-major bool", lambda ms: [m for m in ms]),
        ("column-major bool", lambda ms: [np.asfortranarray(m) for m in ms]),
        ("uint8", lambda ms: [m.astype(np.uint8) for m in ms]),
        ("transposed views", lambda ms: [np.ascontiguousarray(m.T).T for m in ms]),
    ],
)
def test_encode_masks_list_equals_array(label, as_list):
    masks = _masks(1)
    expected = encode_masks(masks)
    assert encode_masks(as_list(masks)) == expected, label
    decoded = mask_utils.decode(expected).transpose(2, 0, 1)
    np.testing.assert_array_equal(decoded, masks)


def test_encode_masks_rejects_wrong_shapes():
    assert encode_masks([]) == [] and encode_masks(np.zeros((0, 3, 4), bool)) == []
    with pytest.raises(ValueError, match=r"\(N, h, w\)"):
        encode_masks(np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="2-D"):
        encode_masks([np.zeros((1, 3, 4), bool)])
