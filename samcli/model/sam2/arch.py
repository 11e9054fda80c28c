"""Architectures of SAM 2 and SAM 2.1 (image path): :class:`Sam2Arch` and the four sizes.

Each size's hyper-parameters come from Meta's hydra configs (``configs/sam2.1/sam2.1_hiera_
{t,s,b+,l}.yaml`` and ``configs/sam2/sam2_hiera_{t,s,b+,l}.yaml``) plus the defaults of the
classes they name (``Hiera``: window_spec (8, 4, 14, 7), q_pool 3, q_stride 2; base_plus sets
only its width and heads, so it takes Hiera's default stages (2, 3, 16, 3), global blocks
(12, 16, 20) and background size (14, 14)). ``build_sam2`` (the reference builder) also turns
on ``dynamic_multimask_via_stability`` (delta 0.05, threshold 0.98) for the image predictor.

SAM 2.0 and 2.1 configs differ only in video-tracking flags: 2.1 adds ``no_obj_embed_spatial``
(one more parameter) and ``proj_tpos_enc_in_obj_ptrs`` / ``use_signed_tpos_enc_to_obj_ptrs``
with ``add_tpos_enc_to_obj_ptrs`` true (the ``obj_ptr_tpos_proj`` linear layer; in 2.0 it is
an Identity). The image path (trunk, neck, prompt encoder, mask decoder, no_mem_embed) is the
same architecture, so both versions share one network per size; :attr:`Sam2Arch.version` only
tells the two official files apart (by their video-only keys) and is not compared.

The official files (names, URLs, sizes, SHA-256) are rows of the one model table,
:data:`samcli.model.specs.MODELS` (family ``"sam2"``). This module imports only the standard
library and :mod:`samcli.model.sam2.keys` (no torch), as the table needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .keys import checkpoint_version


@dataclass(frozen=True)
class Sam2Arch:
    """Hyper-parameters of one SAM 2 image model (Hiera trunk + FPN neck + SAM heads).

    Trunk: stage-1 width ``embed_dim`` and ``num_heads`` (both doubled per stage),
    ``stages`` blocks per stage, ``global_att_blocks``, ``window_spec`` (window per stage),
    ``window_pos_embed_bkg_spatial_size``. Neck: ``d_model`` channels, top-down levels, scalp.
    Heads: the prompt encoder and mask decoder of SAM with SAM 2's flags.
    """

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    q_pool: int = 3
    q_stride: int = 2
    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    fpn_interp_model: str = "nearest"
    scalp: int = 1
    image_size: int = 1024
    backbone_stride: int = 16
    use_high_res_features_in_sam: bool = True
    directly_add_no_mem_embed: bool = True
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    use_multimask_token_for_obj_ptr: bool = True  # video tracking only
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98
    #: Which official file layout this is ("2.1" or "2.0": their video-only keys differ, see
    #: :func:`samcli.model.sam2.keys.checkpoint_version`). Not part of the network, so not
    #: compared: 2.0 and 2.1 of one size are equal architectures.
    version: str = field(default="2.1", compare=False)

    def signature(self) -> tuple:
        """What tells this row of the model table apart: version, trunk width, stages."""
        return ("sam2", self.version, self.embed_dim, self.stages)

    @classmethod
    def read_signature(cls, state_dict: Mapping[str, Any]) -> tuple | None:
        """:meth:`signature` as read from a state dict (an official file's whole state dict,
        or the image path alone), or None when it does not have SAM 2's layout.

        The trunk width is the ``patch_embed`` output channels; the blocks per stage come from
        the block indexes and the blocks that change width; the version from the video-only
        keys (an image-path state dict reads as 2.1).
        """
        keys = [k for k in state_dict if isinstance(k, str)]
        if not any(k.startswith("sam_mask_decoder.") for k in keys):
            return None
        shape = getattr(state_dict.get("image_encoder.trunk.patch_embed.proj.weight"),
                        "shape", None)
        if shape is None or len(shape) != 4:
            return None
        stages = trunk_stages(keys)
        if stages is None:
            return None
        return ("sam2", checkpoint_version(keys), int(shape[0]), stages)

    @property
    def backbone_channel_list(self) -> tuple[int, ...]:
        """Trunk output widths, lowest resolution first (the neck's ``backbone_channel_list``)."""
        return tuple(self.embed_dim * 2 ** i for i in range(len(self.stages)))[::-1]

    @property
    def depth(self) -> int:
        """Number of trunk blocks."""
        return sum(self.stages)


TINY = Sam2Arch(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9),
                window_pos_embed_bkg_spatial_size=(7, 7))
SMALL = Sam2Arch(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13),
                 window_pos_embed_bkg_spatial_size=(7, 7))
BASE_PLUS = Sam2Arch(embed_dim=112, num_heads=2, stages=(2, 3, 16, 3),
                     global_att_blocks=(12, 16, 20), window_pos_embed_bkg_spatial_size=(14, 14))
LARGE = Sam2Arch(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4), global_att_blocks=(23, 33, 43),
                 window_pos_embed_bkg_spatial_size=(7, 7), window_spec=(8, 4, 16, 8))

#: size -> (architecture, the size's letter in Meta's config names).
SIZES: dict[str, tuple[Sam2Arch, str]] = {
    "tiny": (TINY, "t"), "small": (SMALL, "s"), "base_plus": (BASE_PLUS, "b+"),
    "large": (LARGE, "l"),
}


def for_version(arch: Sam2Arch, version: str) -> Sam2Arch:
    """``arch`` as the official file of ``version`` ("2.0" or "2.1") lays it out."""
    return replace(arch, version=version)


def trunk_stages(keys: list[str]) -> tuple[int, ...] | None:
    """Blocks per trunk stage, from the block indexes and the blocks that change width
    (those have a ``proj`` shortcut: the first block of every stage but the first)."""
    blocks: set[int] = set()
    starts: set[int] = set()
    pattern = re.compile(r"image_encoder\.trunk\.blocks\.(\d+)\.(proj\.)?")
    for key in keys:
        match = pattern.match(key)
        if match:
            blocks.add(int(match.group(1)))
            if match.group(2):
                starts.add(int(match.group(1)))
    if not blocks or blocks != set(range(len(blocks))):
        return None
    bounds = [0, *sorted(starts), len(blocks)]
    return tuple(b - a for a, b in zip(bounds, bounds[1:]))
