"""The SAM 2 predictor against Meta's ``SAM2ImagePredictor`` (same weights, coffee photo).

What everything-mode and from-boxes use: ``set_image`` features, ``predict`` (low-res logits,
predicted IoU) for batches of points, boxes, both, and mask prompts, ``upscale`` (one
bilinear resize, with and without the small-region clean-up of the low-res logits) and
``as_mask_input`` (the clamped logits the reference returns): all within 1e-4 of the
reference in float32. Then what samcli adds: decoder sub-batches (float rounding only) and
the precisions (a bfloat16 encoder with the mixed or float32 decoder stays close to float32).

The model is sam2.1_hiera_tiny with seeded random weights (the session's ``sam2_tiny_pair``);
the decoder's own parity, prompt by prompt, is tests/model/test_sam2_parity.py.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from samcli.errors import InputError
from samcli.predictor_sam2 import Sam2Predictor
from tests.factories import note_image_histories
from tests.sam2_factories import quiet, reference_with_connected_components

ATOL = 1e-4
#: Two float32 evaluations that differ only in how prompts are batched, relative to the
#: largest logit (as tests/test_predictor.py's FLOAT32_ROUNDING).
FLOAT32_ROUNDING = 3e-5


@pytest.fixture(scope="module")
def predictors(sam2_tiny_pair, coffee_image, one_thread):
    """(ours, reference) with the coffee image set; one intra-op thread (the decoder's many
    small operations mostly synchronise threads otherwise, on this shared machine)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    ours, ref = sam2_tiny_pair
    predictor = Sam2Predictor(copy.deepcopy(ours))
    predictor.set_image(coffee_image)
    with quiet(), torch.inference_mode():
        reference = SAM2ImagePredictor(ref)
        reference.set_image(coffee_image)
    return predictor, reference


def _close(ours: torch.Tensor, ref: torch.Tensor, what: str, atol: float = ATOL) -> float:
    assert ours.dtype == torch.float32 and tuple(ours.shape) == tuple(ref.shape), what
    err = (ours - ref.float()).abs().max().item()
    assert err <= atol, f"{what}: max abs error {err:.3g}"
    return err


def _prompts(kind: str, size: tuple[int, int]):
    """(coords (B, N, 2), labels (B, N), boxes (B, 4)) in original pixels (None where unused)."""
    h, w = size
    gen = torch.Generator().manual_seed(len(kind))
    points = torch.rand(8, 1, 2, generator=gen) * torch.tensor([w - 1.0, h - 1.0])
    x0 = torch.rand(6, generator=gen) * w * 0.6
    y0 = torch.rand(6, generator=gen) * h * 0.6
    boxes = torch.stack([x0, y0, x0 + 20 + torch.rand(6, generator=gen) * w * 0.4,
                         y0 + 20 + torch.rand(6, generator=gen) * h * 0.4], dim=1)
    if kind == "points":
        return points, torch.ones(8, 1, dtype=torch.int32), None
    if kind == "boxes":
        return None, None, boxes
    if kind == "boxes and points":
        return points[:6], torch.ones(6, 1, dtype=torch.int32), boxes
    raise ValueError(kind)


def _reference(reference, coords, labels, boxes, mask_input, multimask, fill: float = 0.0):
    """Full-size logits, IoU and clamped low-res logits from ``SAM2ImagePredictor._predict``
    (with ``fill``: the same image in a predictor whose clean-up areas are ``fill``)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    p = reference
    if fill:
        with quiet():
            p = SAM2ImagePredictor(reference.model, max_hole_area=fill, max_sprinkle_area=fill)
        p._features, p._orig_hw = reference._features, reference._orig_hw
        p._is_image_set = True
    hw = p._orig_hw[-1]
    t = p._transforms
    with quiet(), torch.inference_mode(), reference_with_connected_components():
        c = None if coords is None else t.transform_coords(coords, normalize=True, orig_hw=hw)
        b = None if boxes is None else t.transform_boxes(boxes, normalize=True, orig_hw=hw)
        return p._predict(c, labels, b, mask_input, multimask, return_logits=True)


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("kind", ["points", "boxes", "boxes and points"])
def test_predict_and_upscale_match_the_reference(predictors, kind, multimask):
    ours, reference = predictors
    coords, labels, boxes = _prompts(kind, ours.original_size)
    low, iou = ours.predict(coords, labels, boxes, multimask_output=multimask)
    full = ours.upscale(low)
    masks, ref_iou, ref_low = _reference(reference, coords, labels, boxes, None, multimask)
    assert low.shape == (len(iou), 3 if multimask else 1, 256, 256)
    assert full.shape[-2:] == ours.original_size
    _close(iou, ref_iou, "predicted IoU")
    _close(ours.as_mask_input(low), ref_low, "low-res logits (clamped)")
    _close(full, masks, "full-size logits")
    assert ref_low.abs().max() > 1.0 and (masks > 0).any() and (masks <= 0).any()


def test_mask_prompts_match_the_reference(predictors):
    """Mask-to-mask refinement's call: each candidate's clamped low-res logits fed back with
    its point, single-mask output."""
    ours, reference = predictors
    coords, labels, _ = _prompts("points", ours.original_size)
    low, _ = ours.predict(coords, labels, multimask_output=True)
    prompt = ours.as_mask_input(low.flatten(0, 1))[:, None]
    coords3, labels3 = coords.repeat_interleave(3, dim=0), labels.repeat_interleave(3, dim=0)
    refined, iou = ours.predict(coords3, labels3, mask_input=prompt, multimask_output=False)
    masks, ref_iou, ref_low = _reference(reference, coords3, labels3, None, prompt, False)
    _close(iou, ref_iou, "refined IoU")
    _close(ours.upscale(refined), masks, "refined full-size logits")
    _close(ours.as_mask_input(refined), ref_low, "refined low-res logits")


def test_small_region_fill_matches_the_reference(predictors):
    """``upscale(fill_area=A)`` equals the reference predictor with max_hole_area =
    max_sprinkle_area = A (its everything-mode's min_mask_region_area), run with a CPU
    stand-in for its CUDA connected components; the fill changes masks here."""
    ours, reference = predictors
    coords, labels, _ = _prompts("points", ours.original_size)
    low, _ = ours.predict(coords, labels, multimask_output=True)
    area = 40.0
    filled = ours.upscale(low, fill_area=area)
    masks, _, _ = _reference(reference, coords, labels, None, None, True, fill=area)
    plain = ours.upscale(low)
    assert ((filled > 0) != (plain > 0)).any(), "the fill changed nothing: a weak test"
    # one low-res pixel within rounding of 0 may join or leave a component on one side only
    # (its logit then differs by about 10 there): compare the binary masks, not the values
    differ = ((filled > 0) != (masks > 0)).flatten(2).sum(-1)
    assert differ.max().item() <= 64, differ
    assert (differ == 0).float().mean() >= 0.9


def test_decoder_sub_batches_change_nothing(sam2_tiny_pair, predictors, coffee_image):
    ours, _ = predictors
    coords, labels, _ = _prompts("points", ours.original_size)
    low, iou = ours.predict(coords, labels)
    saved = ours.decoder_batch
    try:
        ours.decoder_batch = 0  # one decoder call
        whole_low, whole_iou = ours.predict(coords, labels)
    finally:
        ours.decoder_batch = saved
    scale = whole_low.abs().max().item()
    _close(low, whole_low, "low-res logits", FLOAT32_ROUNDING * scale)
    _close(iou, whole_iou, "IoU", FLOAT32_ROUNDING)


def test_upscale_chunks_change_nothing(predictors, monkeypatch):
    import samcli.predictor_sam2 as module

    ours, _ = predictors
    coords, labels, _ = _prompts("points", ours.original_size)
    low, _ = ours.predict(coords, labels)
    whole = ours.upscale(low)
    h, w = ours.original_size
    monkeypatch.setattr(module, "UPSCALE_CHUNK_BYTES", 5 * 4 * h * w)  # 5 masks a pass
    assert torch.equal(ours.upscale(low), whole)


@pytest.mark.parametrize("decoder", ["mixed", "float32"])
def test_bfloat16_encoder_close_to_float32(sam2_tiny_pair, predictors, coffee_image, decoder):
    """--dtype bfloat16 (encoder) with the CPU's default mixed decoder, or a float32 one:
    masks close to float32's (IoU of the binary masks), predicted IoU within 0.03."""
    ours, _ = predictors
    products = torch.bfloat16 if decoder == "mixed" else None
    low_precision = Sam2Predictor(copy.deepcopy(sam2_tiny_pair[0]), dtype=torch.bfloat16,
                                  decoder_dtype=torch.float32, decoder_products=products)
    low_precision.set_image(coffee_image)
    assert low_precision.model.image_encoder.trunk.patch_embed.proj.weight.dtype == \
        torch.bfloat16
    assert low_precision.model.sam_mask_decoder.conv_s0.weight.dtype == torch.float32
    coords, labels, boxes = _prompts("boxes and points", ours.original_size)
    a_low, a_iou = ours.predict(coords, labels, boxes)
    b_low, b_iou = low_precision.predict(coords, labels, boxes)
    assert b_low.dtype == b_iou.dtype == torch.float32
    a, b = ours.upscale(a_low) > 0, low_precision.upscale(b_low) > 0
    inter = (a & b).flatten(2).sum(-1).float()
    union = (a | b).flatten(2).sum(-1).float().clamp(min=1)
    mask_iou = (inter / union).mean().item()
    print(f"\n{decoder} decoder: mean mask IoU vs float32 {mask_iou:.4f}, max |dIoU| "
          f"{(a_iou - b_iou).abs().max().item():.4f}")
    assert mask_iou >= 0.95
    assert (a_iou - b_iou).abs().max().item() <= 0.03


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "dynamic single"])
def test_upscaler_first_product_from_the_image_history(predictors, monkeypatch, multimask):
    """Mixed decoder on the CPU: the upscaler's first product (high-resolution features
    added) is made from the image tokens' low-rank history, as for SAM 1: the same logits as
    the plain product of the final tokens, to float32 rounding."""
    import samcli.model.sam2.mask_decoder as decoder_module

    ours, _ = predictors
    mixed = Sam2Predictor(copy.deepcopy(ours.model), decoder_products=torch.bfloat16)
    mixed._features, mixed._dense_pe = ours._features, ours._dense_pe
    mixed.original_size = ours.original_size
    coords, labels, _ = _prompts("points", ours.original_size)
    made = note_image_histories(monkeypatch, decoder_module)
    low, iou = mixed.predict(coords, labels, multimask_output=multimask)
    assert made and len(made[0].updates) == 2, "the history route did not run"
    monkeypatch.setattr(decoder_module, "first_upscale_product", lambda *args: None)
    plain_low, plain_iou = mixed.predict(coords, labels, multimask_output=multimask)
    assert not torch.equal(low, plain_low)  # another summation, so other rounding
    _close(low, plain_low, "low-res logits", FLOAT32_ROUNDING * plain_low.abs().max().item())
    assert torch.equal(iou, plain_iou)


def test_bad_inputs(predictors, sam2_tiny_pair):
    ours, _ = predictors
    with pytest.raises(InputError):
        ours.set_image(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError):
        ours.set_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="point_labels"):
        ours.predict(torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match="mask_input"):
        ours.predict(torch.zeros(2, 1, 2), torch.ones(2, 1), mask_input=torch.zeros(3, 1, 256, 256))
    fresh = Sam2Predictor(copy.deepcopy(sam2_tiny_pair[0]))
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.predict(torch.zeros(1, 1, 2), torch.ones(1, 1))
