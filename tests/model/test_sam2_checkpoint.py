"""Official SAM 2 state dicts: the split into image path + listed video keys, its refusals,
and name inference from keys and shapes.

The official key sets are the reference builder's (all eight configs, meta tensors: shapes
without weights), which is what ``{"model": state_dict}`` in Meta's files holds.
"""

from __future__ import annotations

import pytest
import torch

from samcli.errors import CheckpointError
from samcli.model.sam2 import (
    SAM2_ARCHS,
    SAM2_NAMES,
    VIDEO_ONLY_PREFIXES,
    build_sam2,
    check_image_state_dict,
    infer_sam2_name,
    split_state_dict,
    unwrap_checkpoint,
)
from samcli.model.sam2.checkpoint import is_video_only
from tests.sam2_factories import reference_shapes

ALL = list(SAM2_NAMES)


def official_state(name: str) -> dict[str, torch.Tensor]:
    """An official file's state dict, shapes only (meta tensors)."""
    return {k: torch.empty(s, device="meta") for k, s in reference_shapes(name).items()}


@pytest.mark.parametrize("name", ALL)
def test_official_key_set_splits_into_image_path_and_listed_video_keys(name):
    state = official_state(name)
    image, video = split_state_dict(state, SAM2_ARCHS[name])  # checks keys and shapes
    with torch.device("meta"):
        ours = build_sam2(name)
    assert set(image) == set(ours.state_dict())
    assert set(image) | set(video) == set(state) and not set(image) & set(video)
    assert all(is_video_only(k) for k in video)
    used = {p for p in VIDEO_ONLY_PREFIXES for k in video if k == p or k.startswith(p + ".")}
    expected = set(VIDEO_ONLY_PREFIXES)
    if name.startswith("sam2_"):  # 2.0: no no_obj_embed_spatial, obj_ptr_tpos_proj
        expected -= {"no_obj_embed_spatial", "obj_ptr_tpos_proj"}
    assert used == expected


def test_every_listed_prefix_is_needed_and_nothing_else_is_dropped():
    """The listed prefixes are exactly the reference's extra top-level names over ours."""
    with torch.device("meta"):
        ours_keys = set(build_sam2("sam2.1_hiera_tiny").state_dict())
    extra = {k.split(".")[0] for k in reference_shapes("sam2.1_hiera_tiny") if k not in ours_keys}
    assert extra == set(VIDEO_ONLY_PREFIXES)
    for key in ("image_encoder.trunk.pos_embed", "no_mem_embed", "sam_mask_decoder.conv_s0.weight",
                "memory_bank.weight", "no_obj_ptrs", "maskmem"):
        assert not is_video_only(key), key
    for key in ("no_obj_ptr", "memory_encoder.out_proj.weight", "obj_ptr_proj.layers.0.bias"):
        assert is_video_only(key), key


def _drop(state, key):
    return {k: v for k, v in state.items() if k != key}


def _truncate(state, _key):
    keys = list(state)
    return {k: state[k] for k in keys[: len(keys) // 2]}


def _reshape(state, key):
    out = dict(state)
    out[key] = torch.empty(tuple(s + 1 for s in state[key].shape), device="meta")
    return out


def _add(state, key):
    out = dict(state)
    out[key] = torch.empty(3, device="meta")
    return out


BAD_FILES = [
    # (label, model, corruption, key, message fragment)
    ("missing trunk weight", "sam2.1_hiera_tiny", _drop,
     "image_encoder.trunk.blocks.3.attn.qkv.weight", "1 missing"),
    ("missing no_mem_embed", "sam2_hiera_small", _drop, "no_mem_embed", "1 missing"),
    ("truncated file", "sam2.1_hiera_tiny", _truncate, None, "missing"),
    ("reshaped decoder weight", "sam2.1_hiera_tiny", _reshape,
     "sam_mask_decoder.conv_s1.weight", "1 of the wrong shape"),
    ("extra image-path key", "sam2.1_hiera_small", _add, "image_encoder.trunk.extra",
     "1 unexpected"),
    ("unlisted video-like key", "sam2.1_hiera_tiny", _add, "memory_bank.weight", "1 unexpected"),
]


@pytest.mark.parametrize("label,name,corrupt,key,message", BAD_FILES,
                         ids=[case[0] for case in BAD_FILES])
def test_split_refuses_bad_files(label, name, corrupt, key, message):
    state = corrupt(official_state(name), key)
    with pytest.raises(CheckpointError, match=message) as info:
        split_state_dict(state, SAM2_ARCHS[name])
    if key is not None:
        assert key in str(info.value)
    # without an architecture the split keeps the bad key for a strict load to refuse
    image, _ = split_state_dict(state)
    if corrupt is _add:
        assert key in image


def test_another_size_is_refused():
    with pytest.raises(CheckpointError, match="does not match the SAM 2 architecture"):
        split_state_dict(official_state("sam2.1_hiera_small"), SAM2_ARCHS["sam2.1_hiera_tiny"])


def test_strict_load_still_catches_what_the_split_keeps():
    state = _add(official_state("sam2.1_hiera_tiny"), "memory_bank.weight")
    image, video = split_state_dict(state)
    assert "memory_bank.weight" in image and "memory_bank.weight" not in video
    with torch.device("meta"):
        model = build_sam2("sam2.1_hiera_tiny")
    with pytest.raises(RuntimeError, match="memory_bank.weight"):
        model.load_state_dict(image, strict=True, assign=True)
    with pytest.raises(CheckpointError, match="memory_bank.weight"):
        check_image_state_dict(image, SAM2_ARCHS["sam2.1_hiera_tiny"])


@pytest.mark.parametrize("name", ALL)
def test_name_inferred_from_keys_and_shapes(name):
    state = official_state(name)
    assert infer_sam2_name(state) == name
    assert infer_sam2_name({"model": state}) == name  # as stored in the official files
    image, _ = split_state_dict(state)
    size = name.split("_hiera_")[1]
    # the image path alone is the same architecture in both versions: reported as 2.1
    assert infer_sam2_name(image) == f"sam2.1_hiera_{size}"


def test_name_inference_rejects_other_state_dicts():
    assert infer_sam2_name({}) is None
    assert infer_sam2_name({"mask_decoder.iou_token.weight": torch.empty(1, 256)}) is None
    state = official_state("sam2.1_hiera_tiny")
    assert infer_sam2_name(_drop(state, "image_encoder.trunk.patch_embed.proj.weight")) is None
    # a block missing from the middle: no known stage layout
    broken = {k: v for k, v in state.items() if not k.startswith("image_encoder.trunk.blocks.4.")}
    assert infer_sam2_name(broken) is None
    # an unknown width
    odd = dict(state)
    odd["image_encoder.trunk.patch_embed.proj.weight"] = torch.empty(80, 3, 7, 7, device="meta")
    assert infer_sam2_name(odd) is None


def test_unwrap_checkpoint():
    state = {"a": torch.zeros(1)}
    assert unwrap_checkpoint({"model": state}) is state
    assert unwrap_checkpoint(state) is state
    other = {"model": state, "optimizer": {}}
    assert unwrap_checkpoint(other) is other


# ----------------------------------------------------------------------------- the model table
# What samcli.model.checkpoint does with official files: the table's SAM 2 rows drop exactly
# the listed video-only keys and check the rest strictly (shapes only: meta tensors).


@pytest.mark.parametrize("name", ALL)
def test_official_files_pass_the_tables_strict_check(name):
    from samcli.model import checkpoint

    state = official_state(name)
    assert checkpoint.infer_model_name(state) == name
    assert checkpoint.infer_model_name({"model": state}) is None  # (read_state_dict unwraps)
    expected = checkpoint.expected_shapes(name)
    checkpoint.check_state_dict(state, expected, "official.pt", name)
    kept = checkpoint.network_state(state, name)
    assert set(kept) == set(expected) and set(state) - set(kept) == {
        k for k in state if is_video_only(k)}
    assert checkpoint.network_state(state, "vit_b") is state  # SAM 1 rows keep everything


@pytest.mark.parametrize("label,name,corrupt,key,message", BAD_FILES,
                         ids=[case[0] for case in BAD_FILES])
def test_the_tables_check_refuses_bad_files(label, name, corrupt, key, message):
    from samcli.model import checkpoint

    state = corrupt(official_state(name), key)
    with pytest.raises(CheckpointError) as info:
        checkpoint.check_state_dict(state, checkpoint.expected_shapes(name), "bad.pt", name)
    text = str(info.value)
    assert "\n" not in text and text.startswith("checkpoint bad.pt does not fit")
    if key is not None:
        assert key in text


def test_a_file_of_the_other_version_loads_as_the_same_network():
    """2.0 and 2.1 of one size share the image path: either name accepts either file."""
    from samcli.model import checkpoint

    old = official_state("sam2_hiera_small")
    checkpoint.check_state_dict(old, checkpoint.expected_shapes("sam2.1_hiera_small"),
                                "old.pt", "sam2.1_hiera_small")
    with pytest.raises(CheckpointError, match="looks like a sam2_hiera_small checkpoint"):
        checkpoint.check_state_dict(old, checkpoint.expected_shapes("sam2.1_hiera_tiny"),
                                    "old.pt", "sam2.1_hiera_tiny")


@pytest.mark.parametrize("label, corrupt, key", [
    ("a missing tensor", _drop, "sam_mask_decoder.iou_token.weight"),
    ("a tensor of the wrong shape", _reshape, "sam_mask_decoder.conv_s1.weight"),
])
def test_a_damaged_file_of_the_other_version_is_called_damaged(label, corrupt, key):
    """A damaged 2.0 file given as 2.1 of its size (the same network): the message says the
    file is damaged, not that --model should be the other version (which would fail too)."""
    from samcli.model import checkpoint

    state = corrupt(official_state("sam2_hiera_tiny"), key)
    with pytest.raises(CheckpointError) as info:
        checkpoint.check_state_dict(state, checkpoint.expected_shapes("sam2.1_hiera_tiny"),
                                    "old.pt", "sam2.1_hiera_tiny")
    text = str(info.value)
    assert "has that model's layout but not all of its tensors" in text, label
    assert "--model" not in text and key in text, label
