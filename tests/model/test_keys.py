"""State-dict compatibility with the reference builders (official checkpoints load strictly)."""

from __future__ import annotations

import warnings

import pytest
import torch

from samcli.errors import ConfigError
from samcli.model import MODEL_NAMES, build_model
from tests.factories import reference_builder


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("pair_fixture", ["vit_b_pair", "mobile_sam_pair"])
def test_state_dicts_load_strictly_both_ways(pair_fixture, request):
    ours, ref = request.getfixturevalue(pair_fixture)
    assert _shapes(ours) == _shapes(ref)
    # reference -> ours and ours -> reference, strict (into fresh copies: no side effects)
    fresh = build_model("vit_b" if pair_fixture == "vit_b_pair" else "mobile_sam")
    fresh.load_state_dict(ref.state_dict(), strict=True)
    for key, value in ref.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = reference_builder("vit_b" if pair_fixture == "vit_b_pair" else "mobile_sam")()
    other.load_state_dict(fresh.state_dict(), strict=True)


@pytest.mark.parametrize("name", ["vit_l", "vit_h"])
def test_large_models_match_reference_keys_and_shapes(name):
    with torch.device("meta"):
        ours = build_model(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = reference_builder(name)()
    ours_shapes, ref_shapes = _shapes(ours), _shapes(ref)
    assert set(ours_shapes) == set(ref_shapes)
    assert ours_shapes == ref_shapes
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)


def test_model_names_and_unknown_name():
    assert MODEL_NAMES[:4] == ("vit_b", "vit_l", "vit_h", "mobile_sam")
    assert MODEL_NAMES[4:] == tuple(f"{p}_hiera_{s}" for p in ("sam2.1", "sam2")
                                    for s in ("tiny", "small", "base_plus", "large"))
    with pytest.raises(ConfigError, match="unknown model 'vit_x'"):
        build_model("vit_x")


def test_built_models_are_in_eval_mode():
    with torch.device("meta"):
        model = build_model("vit_b")
    assert not model.training
    assert model.img_size == 1024




def test_skip_init_build_loads_and_runs(mobile_sam_pair):
    ours, _ = mobile_sam_pair
    fast = build_model("mobile_sam", skip_init=True)
    fast.load_state_dict(ours.state_dict(), strict=True)
    assert torch.equal(fast.pixel_mean, ours.pixel_mean)
    assert torch.equal(fast.pixel_std, ours.pixel_std)
    for (name, a), (_, b) in zip(fast.named_buffers(), ours.named_buffers()):
        assert torch.equal(a, b), name
    with torch.inference_mode():
        x = torch.zeros(1, 3, 1024, 1024)
        assert torch.equal(fast.image_encoder(x), ours.image_encoder(x))
