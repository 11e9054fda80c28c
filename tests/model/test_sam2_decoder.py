"""The SAM 2 mask decoder on synthetic features: its upscaling plans agree (the accelerator
plan checked on the CPU), and one image per prompt (no ``repeat_image``) matches the reference
decoder. Tiny model, random image features; no image encoder runs."""

from __future__ import annotations

import pytest
import torch

import samcli.model.sam2.mask_decoder as mask_decoder_module
from samcli.model.sam2 import Sam2Features
from tests.sam2_factories import make_sam2_pair, quiet


@pytest.fixture(scope="module")
def pair():
    return make_sam2_pair("sam2.1_hiera_tiny", seed=3)


def _features(batch: int, seed: int) -> Sam2Features:
    gen = torch.Generator().manual_seed(seed)
    return Sam2Features(
        torch.randn(batch, 256, 64, 64, generator=gen),
        [torch.randn(batch, 32, 256, 256, generator=gen),
         torch.randn(batch, 64, 128, 128, generator=gen)],
    )


def _prompts(batch: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    coords = torch.rand(batch, 2, 2, generator=gen) * 1000
    labels = torch.tensor([[1, 0]], dtype=torch.int32).repeat(batch, 1)
    boxes = torch.cat([coords[:, 0] * 0.5, coords[:, 0] * 0.5 + 20], dim=1)
    return coords, labels, boxes


PLANS = [(16, 64), (2, 5), (5, 64), (1, 1)]


@pytest.mark.parametrize("plan", PLANS, ids=[f"{p}prompts-{r}rows" for p, r in PLANS])
@pytest.mark.parametrize("per_prompt_image", [False, True], ids=["shared", "per-prompt"])
def test_upscaling_plans_agree(pair, monkeypatch, plan, per_prompt_image):
    ours, _ = pair
    coords, labels, boxes = _prompts(5, 1)
    feats = _features(5 if per_prompt_image else 1, 2)
    masks = torch.randn(5, 1, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        expected = ours.decode(feats, coords, labels, boxes, masks)
        monkeypatch.setattr(mask_decoder_module, "_upscale_plan", lambda *_: plan)
        got = ours.decode(feats, coords, labels, boxes, masks)
    assert got.low_res_logits.shape == (5, 3, 256, 256)
    torch.testing.assert_close(got.low_res_logits, expected.low_res_logits, rtol=0, atol=1e-5)
    assert torch.equal(got.iou_predictions, expected.iou_predictions)


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
def test_one_image_per_prompt_matches_reference(pair, multimask):
    """Image batch B with B prompts (the reference's repeat_image=False, as its video path
    calls it), mask prompts included."""
    ours, ref = pair
    coords, labels, boxes = _prompts(3, 5)
    feats = _features(3, 6)
    masks = torch.randn(3, 1, 256, 256, generator=torch.Generator().manual_seed(7)) * 4
    with torch.inference_mode():
        got = ours.decode(feats, coords, labels, boxes, masks, multimask_output=multimask)
        points = (torch.cat([boxes.reshape(-1, 2, 2), coords], dim=1),
                  torch.cat([torch.tensor([[2, 3]], dtype=torch.int32).repeat(3, 1), labels], 1))
        with quiet():
            sparse, dense = ref.sam_prompt_encoder(points=points, boxes=None, masks=masks)
            low, iou, _, obj = ref.sam_mask_decoder(
                feats.image_embed, ref.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                multimask_output=multimask, repeat_image=False,
                high_res_features=feats.high_res_feats,
            )
    torch.testing.assert_close(got.low_res_logits, low, rtol=0, atol=1e-4)
    torch.testing.assert_close(got.iou_predictions, iou, rtol=0, atol=1e-4)
    torch.testing.assert_close(got.object_score_logits, obj, rtol=0, atol=1e-4)


def test_image_batch_must_be_one_or_the_prompts(pair):
    ours, _ = pair
    coords, labels, _ = _prompts(3, 8)
    with pytest.raises(ValueError, match="2 image embeddings for 3 prompts"), \
            torch.inference_mode():
        ours.decode(_features(2, 9), coords, labels)
