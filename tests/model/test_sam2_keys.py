"""SAM 2 architectures against the reference configs: keys, shapes, block structure, flags.

All eight official configs (SAM 2.1 and 2.0, tiny to large) are built by the reference on the
meta device; ours is built on meta too. Nothing here runs a model except the skip_init check
(tiny, on a small input).
"""

from __future__ import annotations


import pytest
import torch

from samcli.errors import ConfigError
from samcli.model.sam2 import SAM2_ARCHS, SAM2_NAMES, build_sam2
from samcli.model.sam2.checkpoint import KEYS_ONLY_IN_2_1, is_video_only
from samcli.model.specs import MODELS
from tests.sam2_factories import reference_config, reference_meta_model, reference_shapes

ALL = list(SAM2_NAMES)


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_official_names_urls_and_configs():
    """The SAM 2 rows of the one model table: names, files, URLs, versions."""
    assert SAM2_NAMES == (
        "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
        "sam2.1_hiera_large", "sam2_hiera_tiny", "sam2_hiera_small", "sam2_hiera_base_plus",
        "sam2_hiera_large",
    )
    spec = MODELS["sam2.1_hiera_tiny"]
    assert spec.url == \
        "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt"
    assert reference_config(spec.name) == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert spec.arch.version == "2.1"
    spec = MODELS["sam2_hiera_base_plus"]
    assert spec.url == (
        "https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_base_plus.pt")
    assert reference_config(spec.name) == "configs/sam2/sam2_hiera_b+.yaml"
    assert spec.arch.version == "2.0"
    for name in SAM2_NAMES:
        spec = MODELS[name]
        assert spec.family == "sam2"
        assert spec.filename == f"{name}.pt" and spec.url.endswith(spec.filename)
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert 100e6 < spec.size_bytes < 1e9
        assert SAM2_ARCHS[name] is spec.arch
    # each size has one architecture in both versions (they differ in video modules only)
    for size in ("tiny", "small", "base_plus", "large"):
        new, old = SAM2_ARCHS[f"sam2.1_hiera_{size}"], SAM2_ARCHS[f"sam2_hiera_{size}"]
        assert new == old and hash(new) == hash(old)
        assert new.signature() != old.signature()  # the table still tells the files apart


@pytest.mark.parametrize("name", ALL)
def test_image_path_keys_and_shapes_equal_the_reference(name):
    with torch.device("meta"):
        ours = build_sam2(name)
    expected = {k: v for k, v in reference_shapes(name).items() if not is_video_only(k)}
    assert _shapes(ours) == expected
    ours.load_state_dict(
        {k: v for k, v in reference_meta_model(name).state_dict().items() if k in expected},
        strict=True, assign=True,
    )


@pytest.mark.parametrize("name", ALL)
def test_trunk_structure_and_flags_equal_the_reference(name):
    """What shapes do not show: window sizes, pooling, global blocks, neck and head flags."""
    ref = reference_meta_model(name)
    with torch.device("meta"):
        ours = build_sam2(name)
    rt, ot = ref.image_encoder.trunk, ours.image_encoder.trunk
    assert len(rt.blocks) == len(ot.blocks) == SAM2_ARCHS[name].depth
    for i, (r, o) in enumerate(zip(rt.blocks, ot.blocks)):
        r_stride = r.q_stride[0] if r.q_stride else None
        assert (r.window_size, r_stride, r.dim, r.dim_out, r.attn.num_heads) == \
            (o.window_size, o.q_stride, o.dim, o.dim_out, o.attn.num_heads), f"block {i}"
    assert tuple(rt.stage_ends) == ot.stage_ends
    assert tuple(rt.channel_list) == ot.channel_list
    rn, on = ref.image_encoder.neck, ours.image_encoder.neck
    assert tuple(rn.fpn_top_down_levels) == on.fpn_top_down_levels
    assert rn.fpn_interp_model == on.fpn_interp_model and rn.d_model == on.d_model
    assert ref.image_encoder.scalp == ours.image_encoder.scalp
    pe_r, pe_o = rn.position_encoding, on.position_encoding
    assert (pe_r.num_pos_feats, pe_r.temperature, pe_r.normalize, pe_r.scale) == \
        (pe_o.num_pos_feats, pe_o.temperature, pe_o.normalize, pe_o.scale)
    assert (ref.image_size, ref.directly_add_no_mem_embed, ref.use_high_res_features_in_sam) == \
        (ours.image_size, ours.directly_add_no_mem_embed, ours.use_high_res_features_in_sam)
    rd, od = ref.sam_mask_decoder, ours.sam_mask_decoder
    for flag in ("dynamic_multimask_via_stability", "dynamic_multimask_stability_delta",
                 "dynamic_multimask_stability_thresh", "pred_obj_scores",
                 "use_multimask_token_for_obj_ptr", "use_high_res_features",
                 "num_multimask_outputs"):
        assert getattr(rd, flag) == getattr(od, flag), flag
    assert rd.iou_prediction_head.sigmoid_output == od.iou_prediction_head.sigmoid_output
    assert rd.transformer.depth == od.transformer.depth
    assert [layer.skip_first_layer_pe for layer in rd.transformer.layers] == \
        [layer.skip_first_layer_pe for layer in od.transformer.layers]


@pytest.mark.parametrize("size", ["tiny", "small", "base_plus", "large"])
def test_versions_differ_only_in_video_keys(size):
    new, old = reference_shapes(f"sam2.1_hiera_{size}"), reference_shapes(f"sam2_hiera_{size}")
    assert set(new) - set(old) == set(KEYS_ONLY_IN_2_1)
    assert set(old) <= set(new)
    assert {k: new[k] for k in old} == old


def test_skip_init_build_loads_and_runs():
    torch.manual_seed(0)
    model = build_sam2("sam2.1_hiera_tiny")
    fast = build_sam2("sam2.1_hiera_tiny", skip_init=True)
    assert not fast.training and not model.training
    fast.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = fast.encode_image(x), model.encode_image(x)
    assert torch.equal(a.image_embed, b.image_embed)
    for p, q in zip(a.high_res_feats, b.high_res_feats):
        assert torch.equal(p, q)


def test_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown SAM 2 model 'sam2.1_hiera_huge'"):
        build_sam2("sam2.1_hiera_huge")
