"""SAM's mask decoder: prompt tokens + image embedding -> low-resolution masks and IoU scores.

Shapes
------
* image_embeddings: (1, C, h, w) for one image (C = 256, h = w = 64).
* image_pe: (1, C, h, w).
* sparse_prompt_embeddings: (B, N, C), one row per prompt.
* dense_prompt_embeddings: (B, C, h, w), or a stride-0 broadcast of one map (the "no mask"
  embedding), which is then applied once instead of per prompt.

Outputs: mask logits (B, M, 4h, 4w) (256 x 256, in the padded 1024 input frame scaled by
1/4) and predicted IoU (B, M), with M = 3 (multimask) or 1. Given an ``extent`` (the logits
that will be read, see ``upscale_extent``), the CPU path upscales only the grid pixels that
cover it and leaves the rest NaN: the frame's padding costs nothing.

The transposed-convolution upscaler is evaluated channels-last as two per-pixel matrix
products (each 2x2 stride-2 transposed convolution is exactly that), so the LayerNorm runs on
the fused kernel and the final hypernetwork product reads contiguous memory. Each prompt is
upscaled in bands of grid rows, so the intermediates stay small (cache-sized). In mixed
precision on the CPU the upscaler's first product is assembled from the image tokens' low-rank
history instead (see ``first_upscale_product``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import MLP, LayerNorm2d
from .transformer import ImageTrace

# Grid pixels per band in the upscaling stage (1024: 16 rows of the 64x64 grid; a band's
# largest intermediate is 1024 * 16 * 32 values, 2 MB in float32).
_UPSCALE_PIXELS = 1024

# Prompts per pass of the upscaling stage on accelerators (see _batched_upscale).
_PROMPTS_PER_PASS = 16


def _batched_upscale(device: torch.device) -> bool:
    """Whether the upscaling stage runs prompts together (accelerators) rather than one
    prompt and band of rows at a time (the CPU, where small working sets stay in cache)."""
    return device.type != "cpu"


class MaskDecoder(nn.Module):
    """Predicts masks from image and prompt embeddings (reference parameter names).

    Args:
        transformer_dim: channel width C of the transformer (256).
        transformer: the two-way transformer.
        num_multimask_outputs: number of disambiguating masks (3); one more token is used
            for the single-mask output.
        activation: activation in the upscaler (GELU).
        iou_head_depth / iou_head_hidden_dim: the IoU-prediction MLP (3 layers, 256 wide).
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
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth
        )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        product_dtype: torch.dtype | None = None,
        iou_floor: float | None = None,
        extent: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns mask logits (B, M, 4h, 4w) and IoU predictions (B, M); see module docs.

        ``product_dtype``: run the transformer's products with the per-prompt image tokens
        in this (lower) precision, everything else in the decoder's (mixed precision; see
        :mod:`samcli.model.transformer`). None: all in the decoder's dtype.
        ``iou_floor``: see :func:`upscale_plan`. ``extent``: see :func:`upscale_extent`.
        """
        selected = (
            list(range(1, self.num_mask_tokens)) if multimask_output else [0]
        )
        return self.predict_masks(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            selected=selected,
            product_dtype=product_dtype,
            iou_floor=iou_floor,
            extent=extent,
        )

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        selected: list[int] | None = None,
        product_dtype: torch.dtype | None = None,
        iou_floor: float | None = None,
        extent: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks (B, len(selected), 4h, 4w) and IoU (B, len(selected)) for mask tokens
        ``selected`` (default: all ``num_mask_tokens``)."""
        if selected is None:
            selected = list(range(self.num_mask_tokens))
        b = sparse_prompt_embeddings.shape[0]
        if image_embeddings.shape[0] != 1:
            raise ValueError("the mask decoder takes the embedding of one image (batch of 1)")
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.to(sparse_prompt_embeddings.dtype)
        tokens = torch.cat(
            [output_tokens.unsqueeze(0).expand(b, -1, -1), sparse_prompt_embeddings], dim=1
        )

        dense = dense_prompt_embeddings
        if dense.shape[0] > 1 and dense.stride(0) == 0:
            dense = dense[:1]  # one map broadcast to every prompt: add it once
        src = image_embeddings + dense  # (1 or B, C, h, w)
        _, c, h, w = src.shape

        trace = image_trace(src, b, product_dtype)
        hs, keys = self.transformer(src, image_pe, tokens, product_dtype, trace=trace)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]

        hyper_in = torch.stack(
            [self.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :]) for i in selected],
            dim=1,
        )  # (B, M, C/8)
        iou_pred = self.iou_prediction_head(iou_token_out)[:, selected]
        masks = self._upscale_and_project(keys, hyper_in, (h, w), trace,
                                          upscale_plan(iou_pred, iou_floor), extent)
        return masks, iou_pred

    def _upscale_and_project(
        self, keys: torch.Tensor, hyper_in: torch.Tensor, size: tuple[int, int],
        trace: ImageTrace | None = None, wanted: list[bool] | None = None,
        extent: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """keys (B, h*w, C) row-major grid, hyper_in (B, M, C/8) -> masks (B, M, 4h, 4w).

        With ``trace`` (the CPU, float32 decoder, shared image) the first product is made
        from the image tokens' history instead of ``keys`` (see first_upscale_product).
        ``wanted``: per prompt, whether its masks are needed (:func:`upscale_plan`). A pass
        (one prompt on the CPU, a group on accelerators) with none wanted is skipped and its
        logits left NaN. ``extent``: on the CPU, only the grid rows and columns that cover
        it are upscaled (:func:`upscale_extent`); the others' logits are left NaN."""
        up1, norm, act1, up2, act2 = self.output_upscaling
        b, hw, c = keys.shape
        h, w = size
        m = hyper_in.shape[1]
        c1 = up1.out_channels
        c2 = up2.out_channels
        dtype = keys.dtype
        # ConvTranspose2d(k=2, s=2) == per-pixel linear to (ky, kx, out) channels-last.
        w1 = up1.weight.permute(0, 2, 3, 1).reshape(c, 4 * c1).to(dtype)
        b1 = up1.bias.repeat(4).to(dtype)
        w2 = up2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2).to(dtype)
        b2 = up2.bias.repeat(4).to(dtype)
        ln_w, ln_b = norm.weight.to(dtype), norm.bias.to(dtype)
        hyper_in = hyper_in.to(dtype)
        if _batched_upscale(keys.device):
            # Accelerators: _PROMPTS_PER_PASS prompts and all rows in one pass (a few kernels
            # where the CPU path below launches a few per prompt and band, which on a GPU
            # would cost more than the arithmetic; 16 prompts: ~0.3 GB of float32 temporaries).
            out = torch.empty(b, m, 4 * h, 4 * w, dtype=dtype, device=keys.device)
            for s in range(0, b, _PROMPTS_PER_PASS):
                e = min(b, s + _PROMPTS_PER_PASS)
                if skip_unwanted(out, wanted, s, e):
                    continue
                x = torch.addmm(b1, keys[s:e].reshape(-1, c), w1).view(-1, c1)  # (px*4, c1)
                x = act1(F.layer_norm(x, (c1,), ln_w, ln_b, norm.eps))
                x = act2(torch.addmm(b2, x, w2)).view(e - s, hw * 16, c2)  # a prompt's px*16
                proj = torch.bmm(hyper_in[s:e], x.transpose(1, 2))
                place_mask_pixels(out[s:e].view(e - s, m, h, 2, 2, w, 2, 2), proj)
            return out
        out = torch.empty(b, m, h, 2, 2, w, 2, 2, dtype=dtype, device=keys.device)
        gh, gw = upscale_extent(extent, h, w)
        if gh < h or gw < w:  # (never read: NaN, as for prompts not wanted)
            out[:, :, gh:] = float("nan")
            out[:, :, :gh, :, :, gw:] = float("nan")
        # CPU: one prompt and a band of grid rows at a time: the band's intermediates (16x its
        # pixels, at 32-64 channels) are 1-2 MB instead of 67 MB for 8 whole prompts; every
        # value is the same (each row is computed on its own).
        rows = max(1, min(h, _UPSCALE_PIXELS // w))
        first = first_upscale_product(trace, w1, b1)
        for i in range(b):
            if skip_unwanted(out, wanted, i, i + 1):
                continue
            for r0 in range(0, gh, rows):
                r1 = min(gh, r0 + rows)
                if first is None:
                    x = torch.addmm(b1, _columns(keys[i, r0 * w : r1 * w], w, gw), w1)
                else:  # (px, [a, c] x c1)
                    x = _columns(first(i, r0 * w, r1 * w), w, gw)
                x = x.view(-1, c1)
                x = act1(F.layer_norm(x, (c1,), ln_w, ln_b, norm.eps))
                x = act2(torch.addmm(b2, x, w2)).view(-1, c2)  # (px*4, [e, f] x c2)
                # rows: (i, j, a, c, e, f) -> contract channels with the hypernetwork weights
                proj = torch.mm(hyper_in[i], x.t())  # (M, px * 16)
                place_mask_pixels(out[i : i + 1, :, r0:r1, :, :, :gw], proj[None])
        return out.view(b, m, 4 * h, 4 * w)


def upscale_extent(extent: tuple[int, int] | None, h: int, w: int) -> tuple[int, int]:
    """The grid rows and columns (of the decoder's h x w grid) to upscale for ``extent``:
    the (rows, columns) of low-res logits (4h x 4w) that will be read, from the top left
    (SAM 1's padding is at the bottom and right of its input frame, and its upscaling to
    the image reads only the logits of the unpadded area, see ``Predictor.upscale``); each
    grid pixel makes 4 x 4 low-res pixels. None: all of them."""
    if extent is None:
        return h, w
    rows, cols = extent
    return min(h, max(1, -(-rows // 4))), min(w, max(1, -(-cols // 4)))


def _columns(band: torch.Tensor, w: int, gw: int) -> torch.Tensor:
    """The first ``gw`` columns of a band of whole grid rows (pixels, N) (row-major, ``w``
    wide): the band itself when ``gw`` is all of them, else a copy (pixels', N)."""
    if gw == w:
        return band
    return band.view(-1, w, band.shape[-1])[:, :gw].reshape(-1, band.shape[-1])


def place_mask_pixels(dst: torch.Tensor, proj: torch.Tensor) -> None:
    """Copy the upscaler's hypernetwork product into mask pixel order.

    proj: (n, M, P) with P = rows * w * 16 values per mask, ordered by grid pixel (i, j) of
    the band's ``rows`` x ``w`` grid, then its children (a, c) and grandchildren (e, f);
    dst: a (n, M, rows, 2, 2, w, 2, 2) view of the masks, i.e. pixel (4i + 2a + e,
    4j + 2c + f). The two pixels of a pair (f = 0, 1) are adjacent in both layouts, so they
    move as one integer of twice the width: on the CPU that copy is about 10x faster than
    the element-by-element one of the same permutation (its innermost run is 2 long), and it
    moves the same bits.
    """
    n, m, rows, _, _, w, _, _ = dst.shape
    src = proj.view(n, m, rows, w, 2, 2, 2, 2).permute(0, 1, 2, 4, 6, 3, 5, 7)
    pair = {2: torch.int32, 4: torch.int64}.get(proj.element_size())
    if (pair is None or proj.dtype != dst.dtype or not _pairs_viewable(dst)
            or not _pairs_viewable(src)):
        dst.copy_(src)
        return
    dst.view(pair).copy_(src.view(pair))


def _pairs_viewable(t: torch.Tensor) -> bool:
    """Whether adjacent pairs of the last dimension can be viewed as one wider element
    (``Tensor.view(dtype)``'s rule: unit last stride, even sizes, strides and offset)."""
    return (t.stride(-1) == 1 and t.shape[-1] % 2 == 0 and t.storage_offset() % 2 == 0
            and all(st % 2 == 0 for st in t.stride()[:-1]))


def upscale_plan(iou_pred: torch.Tensor, iou_floor: float | None) -> list[bool] | None:
    """Which prompts' masks to upscale, given the predicted IoU (B, M) of the masks returned.

    ``iou_floor`` (everything-mode's predicted-IoU filter, which drops every mask whose IoU
    is not above it before reading its logits): a prompt none of whose masks pass needs no
    upscaling, the decoder's costliest per-prompt stage. The test is the filter's own
    (``iou.float() > iou_floor``), so exactly the prompts it would empty are skipped. Their
    logits come back NaN (never read). None: every prompt (no floor).
    """
    if iou_floor is None:
        return None
    return (iou_pred.float() > iou_floor).any(dim=1).tolist()


def skip_unwanted(out: torch.Tensor, wanted: list[bool] | None, start: int, end: int) -> bool:
    """Whether an upscaling pass over prompts [start, end) can be skipped (none of them
    ``wanted``, see :func:`upscale_plan`); if so their rows of ``out`` are set to NaN."""
    if wanted is None or any(wanted[start:end]):
        return False
    out[start:end] = float("nan")
    return True


def image_trace(src: torch.Tensor, b: int, product_dtype: torch.dtype | None
                ) -> ImageTrace | None:
    """An empty :class:`ImageTrace` for the transformer to fill when the upscaler's first
    product is to be made from the image tokens' history (:func:`first_upscale_product`),
    else None. That is mixed precision on the CPU (products in ``product_dtype``), one image
    ``src`` (1, C, h, w) shared by ``b`` > 1 prompts, no autograd: the float32 decoder keeps
    the reference's formulation of that product."""
    if (product_dtype is not None and src.shape[0] == 1 and b > 1
            and not _batched_upscale(src.device) and not torch.is_grad_enabled()):
        return ImageTrace()
    return None


def first_upscale_product(trace: ImageTrace | None, w1: torch.Tensor, added: torch.Tensor):
    """The upscaler's first product ``keys @ w1 + added`` from the image tokens' history;
    None without one (no trace, or a transformer of depth 0: no update to push w1 through).

    ``added``: the product's added term, the bias (4 c1,) or per-pixel rows (HW, 4 c1) (SAM 2
    adds its high-resolution features there).

    The final keys are the shared image tokens S (HW, C) after L blocks, each adding a
    rank-R update and applying a LayerNorm per pixel: r_k = keys_{k-1} + A_k^T V_k,
    keys_k = (r_k - mean_k) * rstd_k * g_k + beta_k. Pushing w1 back through the layers
    (P_L = w1, Q_k = diag(g_k) P_k, P_{k-1} = Q_k) gives, per pixel,

        keys_k P_k = rstd_k * (keys_{k-1} P_{k-1} + A_k^T (V_k Q_k) - mean_k 1^T Q_k) + beta_k P_k

    with keys_0 P_0 = S P_0 computed once for all prompts. Per prompt that is L products of
    rank R + 2 (R = heads * tokens = 56, the mean and the previous LayerNorm's bias folded in
    as two more columns) instead of one of rank C = 256: about 0.55x the time of the plain
    product (the same values in real arithmetic; float32 rounding differs). Returns
    ``first(i, p0, p1)``: the (p1 - p0, 4 c1) product for prompt i and pixels [p0, p1).
    """
    if trace is None or not trace.updates:
        return None
    layers = trace.updates
    b = layers[0].weights.shape[0]
    # Push w1 back through the LayerNorms: Q_k, then the per-prompt right factors
    p = w1
    rights: list[torch.Tensor] = []
    lefts: list[torch.Tensor] = []
    tail = layers[-1].norm.bias @ w1 + added  # beta_L P_L + added: added at the end
    for k in range(len(layers) - 1, -1, -1):
        upd = layers[k]
        q = upd.norm.weight[:, None] * p  # (C, 4 c1)
        parts = [torch.bmm(upd.values, q.expand(b, -1, -1)), (-q.sum(0)).expand(b, 1, -1)]
        left = [upd.weights, upd.mean.transpose(1, 2)]
        if k > 0:  # the layer below's LayerNorm bias, times the ones column
            d_below = layers[k - 1].norm.bias @ q
            parts.append(d_below.expand(b, 1, -1))
            left.append(upd.weights.new_ones(b, 1, upd.weights.shape[2]))
        rights.append(torch.cat(parts, dim=1))  # (B, R + 1 or 2, 4 c1)
        lefts.append(torch.cat(left, dim=1))  # (B, R + 1 or 2, HW)
        p = q
    rights.reverse()
    lefts.reverse()
    shared = trace.start[0] @ p  # (HW, 4 c1): S P_0, once for all prompts
    rstds = [upd.rstd for upd in layers]

    def first(i: int, p0: int, p1: int) -> torch.Tensor:
        x = torch.addmm(shared[p0:p1], lefts[0][i, :, p0:p1].t(), rights[0][i])
        for k in range(1, len(layers)):
            x.mul_(rstds[k - 1][i, p0:p1])
            x.addmm_(lefts[k][i, :, p0:p1].t(), rights[k][i])
        return torch.addcmul(tail if tail.dim() == 1 else tail[p0:p1], x, rstds[-1][i, p0:p1])

    return first
