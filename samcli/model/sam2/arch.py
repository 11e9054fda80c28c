"""Architectures and official checkpoints of SAM 2 and SAM 2.1 (image path).

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
same architecture, so both versions share one :class:`Sam2Arch` per size; only the weights
differ.

Checkpoint sizes and SHA-256 digests: the digests of the FAIR files as pinned by micro-sam
(``micro_sam/v2/util.py``: pooch ``known_hash`` for these very URLs) and, identically, the
Git LFS pointers of the ``facebook/sam2(.1)-hiera-*`` Hugging Face repositories and mirrors of
them; the byte sizes from those LFS pointers (the 2.0 small size also from a download manifest
listing the FAIR URL with its size and digest).
"""

from __future__ import annotations

from dataclasses import dataclass

_FAIR_21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_FAIR_20 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"


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

    @property
    def backbone_channel_list(self) -> tuple[int, ...]:
        """Trunk output widths, lowest resolution first (the neck's ``backbone_channel_list``)."""
        return tuple(self.embed_dim * 2 ** i for i in range(len(self.stages)))[::-1]

    @property
    def depth(self) -> int:
        """Number of trunk blocks."""
        return sum(self.stages)


@dataclass(frozen=True)
class Sam2Checkpoint:
    """One official checkpoint file: its architecture, version and where to get it.

    ``size_bytes`` / ``sha256`` are None where they could not be established.
    ``config`` names the reference hydra config (inside Meta's ``sam2`` package).
    """

    name: str
    version: str  # "2.0" or "2.1"
    size: str  # "tiny", "small", "base_plus", "large"
    arch: Sam2Arch
    filename: str
    url: str
    size_bytes: int | None
    sha256: str | None
    config: str


TINY = Sam2Arch(embed_dim=96, num_heads=1, stages=(1, 2, 7, 2), global_att_blocks=(5, 7, 9),
                window_pos_embed_bkg_spatial_size=(7, 7))
SMALL = Sam2Arch(embed_dim=96, num_heads=1, stages=(1, 2, 11, 2), global_att_blocks=(7, 10, 13),
                 window_pos_embed_bkg_spatial_size=(7, 7))
BASE_PLUS = Sam2Arch(embed_dim=112, num_heads=2, stages=(2, 3, 16, 3),
                     global_att_blocks=(12, 16, 20), window_pos_embed_bkg_spatial_size=(14, 14))
LARGE = Sam2Arch(embed_dim=144, num_heads=2, stages=(2, 6, 36, 4), global_att_blocks=(23, 33, 43),
                 window_pos_embed_bkg_spatial_size=(7, 7), window_spec=(8, 4, 16, 8))

_SIZES = {"tiny": (TINY, "t"), "small": (SMALL, "s"), "base_plus": (BASE_PLUS, "b+"),
          "large": (LARGE, "l")}

# name -> (size in bytes, SHA-256); see the module docstring for the sources
_FILES: dict[str, tuple[int | None, str | None]] = {
    "sam2.1_hiera_tiny": (156_008_466,
                          "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69"),
    "sam2.1_hiera_small": (184_416_285,
                           "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38"),
    "sam2.1_hiera_base_plus": (323_606_802,
                               "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5"),
    "sam2.1_hiera_large": (898_083_611,
                           "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318"),
    "sam2_hiera_tiny": (155_906_050,
                        "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125"),
    "sam2_hiera_small": (184_309_650,
                         "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3"),
    "sam2_hiera_base_plus": (323_493_298,
                             "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071"),
    "sam2_hiera_large": (897_952_466,
                         "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b"),
}


def _checkpoints() -> dict[str, Sam2Checkpoint]:
    table = {}
    for version, prefix, base, folder in (("2.1", "sam2.1", _FAIR_21, "sam2.1"),
                                          ("2.0", "sam2", _FAIR_20, "sam2")):
        for size, (arch, short) in _SIZES.items():
            name = f"{prefix}_hiera_{size}"
            size_bytes, sha256 = _FILES[name]
            table[name] = Sam2Checkpoint(
                name=name, version=version, size=size, arch=arch, filename=f"{name}.pt",
                url=f"{base}{name}.pt", size_bytes=size_bytes, sha256=sha256,
                config=f"configs/{folder}/{prefix}_hiera_{short}.yaml",
            )
    return table


#: Official name -> checkpoint (2.1 first, then 2.0; tiny to large).
SAM2_CHECKPOINTS: dict[str, Sam2Checkpoint] = _checkpoints()

#: Official name -> architecture.
SAM2_ARCHS: dict[str, Sam2Arch] = {name: ck.arch for name, ck in SAM2_CHECKPOINTS.items()}

SAM2_NAMES: tuple[str, ...] = tuple(SAM2_CHECKPOINTS)
