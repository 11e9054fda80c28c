"""Builder of SAM 2 image models (random weights; load a checkpoint afterwards)."""

from __future__ import annotations

from samcli.errors import ConfigError
from samcli.model.specs import MODELS

from ..meta import on_meta
from .arch import Sam2Arch
from .hiera import Hiera
from .image_encoder import FpnNeck, ImageEncoder
from .mask_decoder import Sam2MaskDecoder
from .model import Sam2
from .prompt_encoder import Sam2PromptEncoder
from .transformer import Sam2TwoWayTransformer


#: The SAM 2 rows of the model table (:data:`samcli.model.specs.MODELS`), in table order.
SAM2_NAMES: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.family == "sam2")

#: Official name -> architecture (the table rows' ``arch``).
SAM2_ARCHS: dict[str, Sam2Arch] = {name: MODELS[name].arch for name in SAM2_NAMES}


def _arch(arch: Sam2Arch | str) -> Sam2Arch:
    if isinstance(arch, Sam2Arch):
        return arch
    try:
        return SAM2_ARCHS[arch]
    except KeyError:
        raise ConfigError(
            f"unknown SAM 2 model {arch!r}; choose one of: {', '.join(SAM2_ARCHS)}"
        ) from None


def build_sam2(arch: Sam2Arch | str, *, skip_init: bool = False) -> Sam2:
    """A randomly initialised SAM 2 image model, in eval mode.

    ``arch``: a :class:`Sam2Arch` or an official name (``sam2.1_hiera_tiny``, ...). Build under
    ``with samcli.model.meta.on_meta():`` to get shapes without allocating weights.
    ``skip_init=True`` allocates the parameters on the CPU without initialising them; use it
    only when a complete state dict is loaded right after.
    """
    a = _arch(arch)
    if skip_init:
        with on_meta():
            model = build_sam2(a)
        return model.to_empty(device="cpu").eval()
    trunk = Hiera(
        embed_dim=a.embed_dim,
        num_heads=a.num_heads,
        stages=a.stages,
        global_att_blocks=a.global_att_blocks,
        window_pos_embed_bkg_spatial_size=a.window_pos_embed_bkg_spatial_size,
        window_spec=a.window_spec,
        q_pool=a.q_pool,
        q_stride=a.q_stride,
    )
    neck = FpnNeck(
        d_model=a.d_model,
        backbone_channel_list=a.backbone_channel_list,
        fpn_top_down_levels=a.fpn_top_down_levels,
        fpn_interp_model=a.fpn_interp_model,
    )
    grid = a.image_size // a.backbone_stride
    prompt_encoder = Sam2PromptEncoder(
        embed_dim=a.d_model,
        image_embedding_size=(grid, grid),
        input_image_size=(a.image_size, a.image_size),
        mask_in_chans=16,
    )
    mask_decoder = Sam2MaskDecoder(
        transformer_dim=a.d_model,
        transformer=Sam2TwoWayTransformer(
            depth=2, embedding_dim=a.d_model, num_heads=8, mlp_dim=2048
        ),
        num_multimask_outputs=3,
        iou_head_depth=3,
        iou_head_hidden_dim=256,
        use_high_res_features=a.use_high_res_features_in_sam,
        iou_prediction_use_sigmoid=a.iou_prediction_use_sigmoid,
        dynamic_multimask_via_stability=a.dynamic_multimask_via_stability,
        dynamic_multimask_stability_delta=a.dynamic_multimask_stability_delta,
        dynamic_multimask_stability_thresh=a.dynamic_multimask_stability_thresh,
        pred_obj_scores=a.pred_obj_scores,
        pred_obj_scores_mlp=a.pred_obj_scores_mlp,
        use_multimask_token_for_obj_ptr=a.use_multimask_token_for_obj_ptr,
    )
    model = Sam2(
        ImageEncoder(trunk, neck, scalp=a.scalp),
        prompt_encoder,
        mask_decoder,
        image_size=a.image_size,
        use_high_res_features_in_sam=a.use_high_res_features_in_sam,
        directly_add_no_mem_embed=a.directly_add_no_mem_embed,
    )
    return model.eval()
