"""Builders for seeded random models: ours and the reference with identical weights.

The reference packages (``segment_anything``, ``mobile_sam``) are test-only dependencies and
are imported lazily. Weights are the builders' random initialisation plus seeded noise on
every floating tensor, so that parameters the reference zero-initialises (relative position
tables, absolute position embedding, biases, attention biases, BatchNorm statistics) take
part in the comparison.
"""

from __future__ import annotations

import importlib
import warnings

import torch

from samcli.model import Sam, build_model


def reference_builder(name: str):
    """The reference builder for one of our model names (checkpoint=None)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "mobile_sam":
            from mobile_sam.build_sam import build_sam_vit_t

            return build_sam_vit_t
        build_sam = importlib.import_module("segment_anything.build_sam")
        return {
            "vit_b": build_sam.build_sam_vit_b,
            "vit_l": build_sam.build_sam_vit_l,
            "vit_h": build_sam.build_sam_vit_h,
        }[name]


def perturbed_state_dict(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> dict:
    """A copy of ``model.state_dict()`` with seeded noise on every float tensor.

    BatchNorm running variances are drawn from U(0.5, 1.5) (they must stay positive).
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in model.state_dict().items():
        value = value.detach().clone()
        if value.is_floating_point():
            if key.endswith("running_var"):
                value = 0.5 + torch.rand(value.shape, generator=gen)
            else:
                value = value + scale * torch.randn(value.shape, generator=gen)
        out[key] = value
    return out


def make_model(name: str, seed: int = 0) -> Sam:
    """Our model with seeded random weights (no reference needed), in eval mode."""
    torch.manual_seed(seed)
    model = build_model(name)
    model.load_state_dict(perturbed_state_dict(model, seed), strict=True)
    return model.eval()


def make_model_pair(name: str, seed: int = 0) -> tuple[Sam, torch.nn.Module]:
    """(ours, reference), both in eval mode, with identical seeded random weights."""
    ours = make_model(name, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference_builder(name)(checkpoint=None)
    ref.load_state_dict(ours.state_dict(), strict=True)
    # MobileSAM caches its attention-bias table in eval(): refresh it after loading.
    ref.eval()
    return ours, ref


def precision_gaps(exact, approx, prompts: list[dict]) -> list[tuple[float, float]]:
    """Two Predictors with the same image set (``approx`` at a lower precision), decoded on
    each set of ``predict`` keyword arguments in ``prompts``: per set, the smallest IoU
    between corresponding full-size masks (logits > 0) and the largest predicted-IoU error.
    Also checks that ``approx`` returns finite float32 outputs."""
    gaps = []
    for kwargs in prompts:
        low_e, iou_e = exact.predict(**kwargs)
        low_a, iou_a = approx.predict(**kwargs)
        assert low_a.dtype == iou_a.dtype == torch.float32
        assert torch.isfinite(low_a).all() and torch.isfinite(iou_a).all()
        m_e, m_a = exact.upscale(low_e) > 0, approx.upscale(low_a) > 0
        inter = (m_e & m_a).flatten(2).sum(-1).float()
        union = (m_e | m_a).flatten(2).sum(-1).float().clamp(min=1)
        gaps.append(((inter / union).min().item(), (iou_e - iou_a).abs().max().item()))
    return gaps


def note_image_histories(mp, decoder_module) -> list:
    """Spy on ``decoder_module.first_upscale_product`` (through the MonkeyPatch ``mp``): the
    returned list gets the image-token history (an ``ImageTrace``) of every call given one,
    calling through; the mixed decoder's route for the upscaler's first product ran when it
    is not empty."""
    traces: list = []
    real = decoder_module.first_upscale_product

    def noted(trace, *args):
        if trace is not None:
            traces.append(trace)
        return real(trace, *args)

    mp.setattr(decoder_module, "first_upscale_product", noted)
    return traces
