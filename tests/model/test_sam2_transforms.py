"""SAM 2 pre- and post-processing against the reference ``SAM2Transforms`` (exact equality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samcli.model.sam2.transforms import (
    clamp_low_res_logits,
    fill_holes_and_sprinkles,
    postprocess_masks,
    preprocess_image,
    preprocess_images,
    transform_boxes,
    transform_coords,
)
from tests.sam2_factories import quiet


@pytest.fixture(scope="module")
def reference_transforms():
    with quiet():
        from sam2.utils.transforms import SAM2Transforms

        return SAM2Transforms(resolution=1024, mask_threshold=0.0)


def _images(coffee, chelsea):
    big = np.ascontiguousarray(np.tile(coffee, (3, 2, 1))[:1100, :1500])  # downsampled
    return {
        "coffee 400x600": coffee,
        "chelsea 300x451": chelsea,
        "tall, transposed": np.ascontiguousarray(chelsea.transpose(1, 0, 2)),
        "large 1100x1500 (antialiased downsampling)": big,
        "already 1024x1024": np.ascontiguousarray(np.resize(coffee, (1024, 1024, 3))),
    }


def test_preprocess_equals_reference_exactly(reference_transforms, coffee_image, chelsea_image):
    for label, image in _images(coffee_image, chelsea_image).items():
        ours = preprocess_image(image)
        with quiet():
            ref = reference_transforms(image)[None]
        assert ours.dtype == torch.float32 and ours.shape == (1, 3, 1024, 1024), label
        assert torch.equal(ours, ref), label
    # torch input, and a batch of differently sized images
    assert torch.equal(preprocess_image(torch.from_numpy(coffee_image)),
                       preprocess_image(coffee_image))
    batch = [coffee_image, chelsea_image]
    with quiet():
        ref = reference_transforms.forward_batch(batch)
    assert torch.equal(preprocess_images(batch), ref)


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.uint8),
                                 np.zeros((10, 10, 4), np.uint8)])
def test_preprocess_refuses_other_images(bad):
    with pytest.raises(ValueError, match="expected a uint8"):
        preprocess_image(bad)


@pytest.mark.parametrize("orig_hw", [(400, 600), (300, 451), (1500, 20)])
def test_coordinates_equal_reference_exactly(reference_transforms, orig_hw):
    h, w = orig_hw
    coords = torch.tensor([[[0.0, 0.0], [w - 1.0, h - 1.0], [12.5, 7.25]],
                           [[w / 3, h / 7], [1.0, 2.0], [w - 0.5, 0.5]]])
    ref = reference_transforms.transform_coords(coords, normalize=True, orig_hw=orig_hw)
    assert torch.equal(transform_coords(coords, orig_hw), ref)
    assert torch.equal(transform_coords(coords.numpy(), orig_hw), ref)  # numpy in
    boxes = torch.tensor([[10.0, 20.0, w - 3.0, h - 1.0], [0.0, 0.0, w / 2, h / 3]])
    ref = reference_transforms.transform_boxes(boxes, normalize=True, orig_hw=orig_hw)
    assert torch.equal(transform_boxes(boxes, orig_hw), ref.reshape(-1, 4))
    assert torch.equal(transform_boxes(boxes[0].numpy(), orig_hw), ref[:1].reshape(-1, 4))


@pytest.mark.parametrize("orig_hw", [(400, 600), (300, 451), (2000, 1024)])
def test_postprocess_equals_reference_exactly(reference_transforms, orig_hw):
    logits = torch.randn(3, 2, 256, 256, generator=torch.Generator().manual_seed(0)) * 8
    ours = postprocess_masks(logits, orig_hw)
    assert ours.shape == (3, 2) + orig_hw
    assert torch.equal(ours, reference_transforms.postprocess_masks(logits, orig_hw))


def test_clamp_low_res_logits():
    x = torch.tensor([-100.0, -32.0, 0.5, 31.0, 40.0])
    assert torch.equal(clamp_low_res_logits(x), torch.tensor([-32.0, -32.0, 0.5, 31.0, 32.0]))


def test_holes_and_sprinkles():
    """Small background components become foreground (threshold + 10), small foreground
    components background (threshold - 10), both found on the input, 8-connectivity; large
    ones and everything with the areas at 0 stay."""
    m = torch.full((1, 1, 12, 12), -5.0)
    m[..., 1:9, 1:9] = 5.0  # a 64-pixel object ...
    m[..., 3, 3] = -1.0  # ... with a 1-pixel hole
    m[..., 5:7, 5] = -2.0  # ... and a 2-pixel hole
    m[..., 10, 10] = 3.0  # a 1-pixel sprinkle
    m[..., 11, 11] = 3.0  # diagonal neighbour: one 2-pixel sprinkle with 8-connectivity
    assert torch.equal(fill_holes_and_sprinkles(m), m)
    assert torch.equal(postprocess_masks(m, (12, 12)), m)  # same size: identity resize
    out = fill_holes_and_sprinkles(m, 0.0, max_hole_area=1)
    assert out[0, 0, 3, 3] == 10.0 and out[0, 0, 5, 5] == -2.0 and out[0, 0, 10, 10] == 3.0
    out = fill_holes_and_sprinkles(m, 0.0, max_hole_area=2, max_sprinkle_area=2)
    assert out[0, 0, 3, 3] == 10.0 and (out[0, 0, 5:7, 5] == 10.0).all()
    assert out[0, 0, 10, 10] == -10.0 and out[0, 0, 11, 11] == -10.0
    assert out[0, 0, 1, 1] == 5.0 and out[0, 0, 0, 0] == -5.0  # large components kept
    out = fill_holes_and_sprinkles(m, 0.0, max_sprinkle_area=1)
    assert out[0, 0, 10, 10] == 3.0  # the diagonal pair is one 2-pixel component
    # a threshold other than 0
    out = fill_holes_and_sprinkles(m, 4.0, max_sprinkle_area=100)
    assert (out[0, 0, 1:9, 1:9][m[0, 0, 1:9, 1:9] > 4.0] == -6.0).all()
