"""SAM 2's mask decoder: prompt tokens + image features -> low-res masks, IoU, object score.

Shapes (C = 256, h = w = 64)
----------------------------
* image_embeddings: (Bi, C, h, w), Bi = 1 (one image shared by every prompt: the reference's
  ``repeat_image``, without the copies) or B (one image per prompt).
* image_pe: (1, C, h, w), the prompt encoder's dense positional encoding.
* sparse_prompt_embeddings: (B, N, C); dense_prompt_embeddings: (B, C, h, w) or a stride-0
  broadcast of one map (the "no mask" embedding, then added once).
* high_res_features: [(Bi, C/8, 4h, 4w), (Bi, C/4, 2h, 2w)] = the image encoder's stride-4 and
  stride-8 levels after ``conv_s0`` / ``conv_s1`` (applied once per image by the model).

Outputs: mask logits (B, M, 4h, 4w) (256 x 256 over the whole 1024 x 1024 input), predicted
IoU (B, M) (through a sigmoid when ``iou_prediction_use_sigmoid``) and object-score logits
(B, 1) (> 0: an object is present), with M = 3 (multimask) or 1.

Differences from SAM's decoder: an object-score token is prepended to the output tokens (and
read by ``pred_obj_score_head``); the upscaler adds the high-resolution features after each
transposed convolution (``act1(ln(dc1(x) + s1))``, then ``act2(dc2(.) + s0)``); and with
``dynamic_multimask_via_stability`` a single-mask request returns, for each prompt whose
single-mask logits are unstable (stability score under the threshold), the multimask output
with the highest predicted IoU instead. ``use_multimask_token_for_obj_ptr`` only chooses the
object-pointer token in SAM 2's video tracker; it is recorded here and not used.

The upscaler runs channels-last as per-pixel matrix products (a 2x2 stride-2 transposed
convolution is exactly that), on bands of grid rows per prompt on the CPU so the intermediates
stay cache-sized, and on groups of prompts at once on accelerators (as
:mod:`samcli.model.mask_decoder` does). In mixed precision on the CPU its first product, with
the high-resolution features as its added term, is assembled from the image tokens' low-rank
history as SAM 1's is (:func:`samcli.model.mask_decoder.first_upscale_product`).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..common import MLP, LayerNorm2d
from ..mask_decoder import (first_upscale_product, image_trace, place_mask_pixels, skip_unwanted,
                            upscale_plan)
from ..transformer import ImageTrace

# Grid pixels per band of the CPU upscaling path (16 rows of the 64-wide grid).
_UPSCALE_PIXELS = 1024
# Prompts per pass of the upscaling stage on accelerators.
_PROMPTS_PER_PASS = 16


def _upscale_plan(device: torch.device, h: int, w: int) -> tuple[int, int]:
    """(prompts per pass, grid rows per band) of the upscaling stage on ``device``."""
    if device.type == "cpu":
        # one prompt and a band of rows at a time: intermediates of 1-2 MB, not 67 MB a prompt
        return 1, max(1, min(h, _UPSCALE_PIXELS // w))
    return _PROMPTS_PER_PASS, h  # accelerators: few large kernels, not many small launches


class Sam2MaskDecoder(nn.Module):
    """The SAM 2 mask decoder (reference parameter names ``sam_mask_decoder.*``).

    Args mirror the reference ``MaskDecoder``; see the module docstring for their effect.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        use_high_res_features: bool = True,
        iou_prediction_use_sigmoid: bool = True,
        dynamic_multimask_via_stability: bool = True,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
        pred_obj_scores: bool = True,
        pred_obj_scores_mlp: bool = True,
        use_multimask_token_for_obj_ptr: bool = True,
    ) -> None:
        super().__init__()
        c = transformer_dim
        self.transformer_dim = c
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, c)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, c)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, c)
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(c, c // 4, kernel_size=2, stride=2),
            LayerNorm2d(c // 4),
            activation(),
            nn.ConvTranspose2d(c // 4, c // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(c, c // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(c, c // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(c, c, c // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            c, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth,
            sigmoid_output=iou_prediction_use_sigmoid,
        )
        if pred_obj_scores:
            self.pred_obj_score_head = MLP(c, c, 1, 3) if pred_obj_scores_mlp else nn.Linear(c, 1)
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        high_res_features: Sequence[torch.Tensor] | None = None,
        product_dtype: torch.dtype | None = None,
        iou_floor: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits (B, M, 4h, 4w), IoU (B, M), object-score logits (B, 1).

        ``product_dtype``: see :mod:`samcli.model.transformer` (None: the inputs' dtype).
        ``iou_floor``: prompts none of whose returned masks has a predicted IoU above it are
        not upscaled (see :func:`samcli.model.mask_decoder.upscale_plan`); with dynamic
        single masks, both candidates must fail.
        """
        sparse = sparse_prompt_embeddings
        b = sparse.shape[0]
        s = 1 if self.pred_obj_scores else 0
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)
        output_tokens = torch.cat(parts, dim=0).to(sparse.dtype)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(b, -1, -1), sparse], dim=1)

        if image_embeddings.shape[0] not in (1, b):
            raise ValueError(
                f"{image_embeddings.shape[0]} image embeddings for {b} prompts: give one "
                "shared image or one per prompt"
            )
        dense = dense_prompt_embeddings
        if dense.shape[0] > 1 and dense.stride(0) == 0:
            dense = dense[:1]  # one map broadcast to every prompt: add it once
        src = image_embeddings + dense
        _, _, h, w = src.shape
        trace = image_trace(src, b, product_dtype)
        hs, keys = self.transformer(src, image_pe, tokens, product_dtype, trace=trace)

        iou_pred = self.iou_prediction_head(hs[:, s])  # (B, num_mask_tokens)
        if self.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(hs[:, 0])
        else:  # "object present" (sigmoid(10) ~ 1), as the reference
            object_score_logits = iou_pred.new_full((b, 1), 10.0)
        mask_tokens_out = hs[:, s + 1 : s + 1 + self.num_mask_tokens]
        hyper_all = torch.stack(
            [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )  # (B, num_mask_tokens, C/8)
        s0, s1 = (None, None)
        if self.use_high_res_features:
            if high_res_features is None:
                raise ValueError("this decoder needs the high-resolution features")
            s0, s1 = high_res_features

        def masks_for(hyper: torch.Tensor, iou: torch.Tensor) -> torch.Tensor:
            wanted = upscale_plan(iou, iou_floor)
            return self._upscale_and_project(keys, hyper, (h, w), s0, s1, wanted, trace)

        if multimask_output:
            iou = iou_pred[:, 1:]
            return masks_for(hyper_all[:, 1:], iou), iou, object_score_logits
        if not (self.dynamic_multimask_via_stability and not self.training):
            iou = iou_pred[:, :1]
            return masks_for(hyper_all[:, :1], iou), iou, object_score_logits
        # Dynamic single mask: the single-mask token's logits, or (if unstable) the multimask
        # output with the best predicted IoU. Only those two candidates are projected.
        rows = torch.arange(b, device=iou_pred.device)
        best = iou_pred[:, 1:].argmax(dim=-1) + 1
        both = masks_for(torch.stack([hyper_all[:, 0], hyper_all[rows, best]], dim=1),
                         torch.stack([iou_pred[:, 0], iou_pred[rows, best]], dim=1))
        stable = self._stability_scores(both[:, :1]) >= self.dynamic_multimask_stability_thresh
        masks = torch.where(stable[..., None, None], both[:, :1], both[:, 1:])
        iou = torch.where(stable, iou_pred[:, :1], iou_pred[rows, best][:, None])
        return masks, iou, object_score_logits

    def _stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """IoU of the masks thresholded at +delta and -delta: (B, M, H, W) -> (B, M)
        (1 where the looser mask is empty)."""
        flat = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        area_i = (flat > delta).sum(dim=-1).float()
        area_u = (flat > -delta).sum(dim=-1).float()
        return torch.where(area_u > 0, area_i / area_u, 1.0)

    def _upscale_and_project(
        self,
        keys: torch.Tensor,
        hyper_in: torch.Tensor,
        size: tuple[int, int],
        s0: torch.Tensor | None,
        s1: torch.Tensor | None,
        wanted: list[bool] | None = None,
        trace: ImageTrace | None = None,
    ) -> torch.Tensor:
        """keys (B, h*w, C) row-major image tokens, hyper_in (B, M, C/8) -> masks (B, M, 4h, 4w).

        s1 (Bf, C/4, 2h, 2w) and s0 (Bf, C/8, 4h, 4w), Bf = 1 or B, are added after the first
        and second transposed convolution. Channels-last layout: grid pixel (i, j) carries its
        2x2 (a, c) children after the first step and their 2x2 (e, f) children after the
        second; output pixel (4i + 2a + e, 4j + 2c + f). ``wanted``: per prompt, whether its
        masks are needed; a pass with none wanted is skipped, its logits left NaN.
        """
        up1, norm, act1, up2, act2 = self.output_upscaling
        b, hw, c = keys.shape
        h, w = size
        m = hyper_in.shape[1]
        c1, c2 = up1.out_channels, up2.out_channels
        dtype = keys.dtype
        w1 = up1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c1).to(dtype)
        b1 = up1.bias.repeat(4).to(dtype)
        w2 = up2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2).to(dtype)
        b2 = up2.bias.repeat(4).to(dtype)
        ln_w, ln_b = norm.weight.to(dtype), norm.bias.to(dtype)
        hyper_in = hyper_in.to(dtype)
        # The high-resolution features join the transposed convolutions' biases once per call
        # and go in as the products' added term (input of baddbmm): no separate add pass per
        # band (the same values: each sum is formed once per element either way).
        add1 = b1 if s1 is None else (  # (Bf, c1, 2h, 2w) -> (Bf, h*w, [a, c] x c1) + b1
            s1.to(dtype).reshape(-1, c1, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1)
            .reshape(-1, hw, 4 * c1) + b1)
        add2 = b2 if s0 is None else (  # (Bf, c2, 4h, 4w) -> (Bf, h*w, [a, c, e, f] x c2) + b2
            s0.to(dtype).reshape(-1, c2, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1)
            .reshape(-1, hw, 16 * c2) + b2.repeat(4))
        prompts, rows = _upscale_plan(keys.device, h, w)
        first = None
        if prompts == 1 and (add1.dim() == 1 or add1.shape[0] == 1):  # (rows shared by all)
            first = first_upscale_product(trace, w1, add1 if add1.dim() == 1 else add1[0])
        out = torch.empty(b, m, h, 2, 2, w, 2, 2, dtype=dtype, device=keys.device)
        for p0 in range(0, b, prompts):
            p1 = min(b, p0 + prompts)
            n = p1 - p0
            if skip_unwanted(out, wanted, p0, p1):
                continue
            for r0 in range(0, h, rows):
                r1 = min(h, r0 + rows)
                band = slice(r0 * w, r1 * w)
                px = (r1 - r0) * w
                if first is None:
                    x = torch.baddbmm(_rows(add1, p0, p1, band, b, 1), keys[p0:p1, band],
                                      w1.expand(n, -1, -1))  # (n, px, [a, c] x c1)
                else:
                    x = first(p0, band.start, band.stop)
                x = act1(F.layer_norm(x.view(-1, c1), (c1,), ln_w, ln_b, norm.eps))
                x = torch.baddbmm(_rows(add2, p0, p1, band, b, 4), x.view(n, px * 4, c1),
                                  w2.expand(n, -1, -1))  # (n, px * 4, [e, f] x c2)
                x = act2(x).view(n, px * 16, c2)
                proj = torch.bmm(hyper_in[p0:p1], x.transpose(1, 2))  # (n, M, px * 16)
                place_mask_pixels(out[p0:p1, :, r0:r1], proj)  # (n, M, i, a, e, j, c, f)
        return out.view(b, m, 4 * h, 4 * w)


def _rows(add: torch.Tensor, p0: int, p1: int, band: slice, b: int, split: int) -> torch.Tensor:
    """The added term of a product for prompts [p0, p1) and grid pixels ``band``: a bias (N,)
    as it is; features (Bf, HW, split * N) (Bf = 1: shared and broadcast, or b: one per
    prompt) as (Bf', pixels * split, N), each pixel's row split like the product's rows."""
    if add.dim() == 1:
        return add
    rows = add[p0:p1, band] if add.shape[0] == b else add[:1, band]
    return rows.reshape(rows.shape[0], -1, add.shape[2] // split)
