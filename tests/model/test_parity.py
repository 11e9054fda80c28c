"""Numerical parity with the reference implementations (same weights, float32, CPU).

Our ``Predictor`` is compared with the reference ``SamPredictor`` (``set_image``, then
``predict_torch(..., return_logits=True)``) on real, non-square photos: image embedding,
low-resolution mask logits, predicted IoU and the full-size logits all agree within 1e-4
absolute (and 1e-4 relative to the output's magnitude).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samcli.model.transforms import ResizeLongestSide, preprocess_shape

ATOL = 1e-4

PREDICTORS = ["vit_b_predictors", "mobile_sam_predictors"]


def assert_matches(ours: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    assert ours.dtype == torch.float32, what
    assert ours.shape == ref.shape, what
    err = (ours - ref.float()).abs().max().item()
    scale = ref.abs().max().item()
    assert err <= ATOL, f"{what}: max abs error {err:.3g}"
    assert err <= ATOL * max(scale, 1e-3), f"{what}: relative error {err / scale:.3g}"
    assert scale > 1e-3, f"{what}: reference output is degenerate ({scale})"


def _reference_decode(reference, original_size, coords=None, labels=None, boxes=None,
                      mask_input=None, multimask=True):
    t = reference.transform
    c = t.apply_coords_torch(coords, original_size) if coords is not None else None
    b = t.apply_boxes_torch(boxes, original_size) if boxes is not None else None
    with torch.no_grad():
        masks, iou, low = reference.predict_torch(
            c, labels, b, mask_input, multimask_output=multimask, return_logits=True
        )
    return masks, iou, low


def _prompts(size, batch=4, points=3, seed=1):
    h, w = size
    gen = torch.Generator().manual_seed(seed)
    coords = torch.rand(batch, points, 2, generator=gen) * torch.tensor([w - 1.0, h - 1.0])
    labels = torch.randint(0, 2, (batch, points), generator=gen)
    labels[:, 0] = 1
    x0 = torch.rand(batch, generator=gen) * (w * 0.6)
    y0 = torch.rand(batch, generator=gen) * (h * 0.6)
    bw = 5 + torch.rand(batch, generator=gen) * (w * 0.4)
    bh = 5 + torch.rand(batch, generator=gen) * (h * 0.4)
    boxes = torch.stack([x0, y0, x0 + bw, y0 + bh], dim=1)
    return coords, labels, boxes


# ----------------------------------------------------------------------------- transforms


@pytest.mark.parametrize("image_fixture", ["coffee_image", "chelsea_image"])
def test_resize_matches_reference_exactly(image_fixture, request):
    from segment_anything.utils.transforms import ResizeLongestSide as RefResize

    image = request.getfixturevalue(image_fixture)
    ours, ref = ResizeLongestSide(1024), RefResize(1024)
    for img in (image, image[:, :-3], np.ascontiguousarray(image.transpose(1, 0, 2))):
        out = ours.apply_image(img)
        expected = ref.apply_image(img)
        assert out.dtype == np.uint8 and out.shape == expected.shape
        assert np.array_equal(out, expected)
    coords = np.array([[[0.0, 0.0], [599.0, 399.0], [12.5, 300.25]]])
    boxes = np.array([[10.0, 20.0, 300.0, 200.0], [0.0, 0.0, 599.0, 399.0]])
    size = image.shape[:2]
    assert np.array_equal(ours.apply_coords(coords, size), ref.apply_coords(coords, size))
    assert np.array_equal(ours.apply_boxes(boxes, size), ref.apply_boxes(boxes, size))
    torch_coords = ours.apply_coords_torch(torch.from_numpy(coords).float(), size)
    expected = torch.as_tensor(ref.apply_coords(coords.astype(np.float32), size), dtype=torch.float)
    assert torch.equal(torch_coords, expected)


def test_preprocess_shape_rounding():
    assert preprocess_shape(400, 600, 1024) == (683, 1024)
    assert preprocess_shape(300, 451, 1024) == (681, 1024)
    assert preprocess_shape(1024, 1024, 1024) == (1024, 1024)
    assert preprocess_shape(2000, 10, 1024) == (1024, 5)


# ----------------------------------------------------------------------------- model outputs


@pytest.mark.parametrize("fixture", PREDICTORS)
def test_image_embedding_matches(fixture, request):
    predictor, reference = request.getfixturevalue(fixture)
    assert predictor.input_size == reference.input_size
    assert predictor.original_size == tuple(reference.original_size)
    emb = predictor.image_embedding
    assert emb.shape == (1, 256, 64, 64)
    assert_matches(emb, reference.features, "image embedding")


@pytest.mark.parametrize("fixture", PREDICTORS)
@pytest.mark.parametrize("multimask", [True, False])
def test_point_prompts_match(fixture, multimask, request):
    predictor, reference = request.getfixturevalue(fixture)
    size = predictor.original_size
    coords, labels, _ = _prompts(size, batch=4, points=3)
    low, iou = predictor.predict(coords, labels, multimask_output=multimask)
    masks, ref_iou, ref_low = _reference_decode(
        reference, size, coords, labels, multimask=multimask
    )
    channels = 3 if multimask else 1
    assert low.shape == (4, channels, 256, 256) and iou.shape == (4, channels)
    assert_matches(low, ref_low, "low-res logits")
    assert_matches(iou, ref_iou, "predicted IoU")
    assert_matches(predictor.upscale(low), masks, "full-size logits")


@pytest.mark.parametrize("fixture", PREDICTORS)
def test_single_point_batch_matches(fixture, request):
    """The everything-mode shape: many one-point prompts in one decoder call."""
    predictor, reference = request.getfixturevalue(fixture)
    size = predictor.original_size
    coords, _, _ = _prompts(size, batch=12, points=1, seed=5)
    labels = torch.ones(12, 1, dtype=torch.int64)
    low, iou = predictor.predict(coords, labels)
    _, ref_iou, ref_low = _reference_decode(reference, size, coords, labels)
    assert_matches(low, ref_low, "low-res logits")
    assert_matches(iou, ref_iou, "predicted IoU")


@pytest.mark.parametrize("fixture", PREDICTORS)
@pytest.mark.parametrize("multimask", [True, False])
def test_box_prompts_match(fixture, multimask, request):
    predictor, reference = request.getfixturevalue(fixture)
    size = predictor.original_size
    _, _, boxes = _prompts(size, batch=6, seed=2)
    boxes[0] = torch.tensor([0.0, 0.0, size[1] - 1.0, size[0] - 1.0])  # whole image
    low, iou = predictor.predict(boxes=boxes, multimask_output=multimask)
    masks, ref_iou, ref_low = _reference_decode(reference, size, boxes=boxes, multimask=multimask)
    assert_matches(low, ref_low, "low-res logits")
    assert_matches(iou, ref_iou, "predicted IoU")
    assert_matches(predictor.upscale(low), masks, "full-size logits")


@pytest.mark.parametrize("fixture", PREDICTORS)
def test_point_and_box_prompts_match(fixture, request):
    predictor, reference = request.getfixturevalue(fixture)
    size = predictor.original_size
    coords, labels, boxes = _prompts(size, batch=3, points=2, seed=3)
    low, iou = predictor.predict(coords, labels, boxes)
    masks, ref_iou, ref_low = _reference_decode(reference, size, coords, labels, boxes)
    assert_matches(low, ref_low, "low-res logits")
    assert_matches(iou, ref_iou, "predicted IoU")
    assert_matches(predictor.upscale(low), masks, "full-size logits")


def test_mask_prompt_matches(vit_b_predictors):
    predictor, reference = vit_b_predictors
    size = predictor.original_size
    coords, labels, boxes = _prompts(size, batch=3, points=2, seed=4)
    first, _ = predictor.predict(coords, labels, multimask_output=True)
    mask_input = first[:, :1].contiguous()
    low, iou = predictor.predict(
        coords, labels, boxes, mask_input=mask_input, multimask_output=False
    )
    masks, ref_iou, ref_low = _reference_decode(
        reference, size, coords, labels, boxes, mask_input=mask_input, multimask=False
    )
    assert_matches(low, ref_low, "low-res logits")
    assert_matches(iou, ref_iou, "predicted IoU")
    assert_matches(predictor.upscale(low), masks, "full-size logits")
