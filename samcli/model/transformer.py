"""SAM's two-way transformer: prompt tokens and image tokens attend to each other.

Shapes
------
* tokens (queries): (B, Nt, C), one row of Nt tokens per prompt (B prompts).
* image tokens (keys): (Bi, HW, C) with Bi = 1 or B. The image side starts identical for
  every prompt (Bi = 1) unless a mask prompt made it per-prompt; it becomes per-prompt
  (Bi = B) after the first image-to-token update. While Bi = 1 the image-side projections
  are computed once and broadcast, instead of repeating the 64x64 embedding B times as the
  reference does.
* positional encodings: query_pe like tokens, key_pe (1, HW, C).

Numerics: the per-prompt attentions are evaluated with the projections re-associated
(for example ``softmax(q (X Wk^T + bk)^T) (X Wv^T + bv) = softmax((q Wk) X^T + q.bk) X Wv^T + bv``),
which is exact in real arithmetic and saves most of the per-prompt projection work (``q.bk``
is the same for every image token, so the softmax over them cancels it and it is left out);
results agree with the reference to float32 rounding.

Mixed precision (``product_dtype``, e.g. bfloat16 inside a float32 decoder): the per-prompt
image keys (image tokens + positional encoding, (B, HW, C)) are rounded once to
``product_dtype`` and the two attention-logit products with them, whose cost grows with the
image (B x heads*Nt x HW x C), run in that dtype; the logits are widened back before the
softmax, and the residual streams, LayerNorms, softmax, weighted sums of values and all
token-side work keep the decoder's dtype. The shared image of the first layer (computed once
for all prompts) stays in the decoder's dtype, so a prompt gets the same path alone as in a
batch. The attention methods follow the dtype of the image keys they are given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .common import MLPBlock


@dataclass
class ImageUpdate:
    """One block's per-prompt image update: keys_out = norm(keys_in + weights^T @ values).

    weights (B, R, HW) image-to-token attention weights (R = heads * Nt), values (B, R, C)
    (the tokens' values through out_proj), mean / rstd (B, HW, 1) the LayerNorm's per-pixel
    statistics of its input, norm that LayerNorm.
    """

    weights: Tensor
    values: Tensor
    mean: Tensor
    rstd: Tensor
    norm: nn.LayerNorm


@dataclass
class ImageTrace:
    """How the per-prompt image tokens were made: the shared tokens entering the first block
    (1, HW, C), then each block's low-rank update (see ``MaskDecoder`` for its use)."""

    start: Tensor | None = None
    updates: list[ImageUpdate] = field(default_factory=list)


class Attention(nn.Module):
    """Multi-head attention whose inner width may be ``embedding_dim // downsample_rate``.

    Parameters (reference names): ``q_proj``, ``k_proj``, ``v_proj`` (C -> Ci) and
    ``out_proj`` (Ci -> C).
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError("num_heads must divide embedding_dim // downsample_rate")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    @property
    def head_dim(self) -> int:
        return self.internal_dim // self.num_heads

    def _heads(self, x: Tensor) -> Tensor:
        """(B, N, Ci) -> (B, heads, N, d) view."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Plain attention: q (B, Nq, C), k and v (B, Nk, C) -> (B, Nq, C)."""
        b, nq, _ = q.shape
        qh = self._heads(self.q_proj(q))
        kh = self._heads(self.k_proj(k))
        vh = self._heads(self.v_proj(v))
        out = F.scaled_dot_product_attention(qh, kh, vh)
        return self.out_proj(out.transpose(1, 2).reshape(b, nq, self.internal_dim))

    def tokens_to_image(self, tokens_q: Tensor, image_k: Tensor, image_v: Tensor) -> Tensor:
        """Tokens attend to image tokens.

        tokens_q: (B, Nt, C) queries (with positional encoding added);
        image_k: (Bi, HW, C) keys (with positional encoding); image_v: (Bi, HW, C) values.
        Returns the attention output (B, Nt, C) (no residual).
        """
        b, nt, _ = tokens_q.shape
        heads, d, ci = self.num_heads, self.head_dim, self.internal_dim
        qp = self.q_proj(tokens_q)
        if image_k.shape[0] == 1 and b > 1:
            # Shared image: every prompt's tokens are extra queries against the same keys.
            kh = self._heads(self.k_proj(image_k))
            vh = self._heads(self.v_proj(image_v))
            qh = qp.reshape(1, b * nt, heads, d).transpose(1, 2)
            out = F.scaled_dot_product_attention(qh, kh, vh)  # (1, heads, B*Nt, d)
            return self.out_proj(out.transpose(1, 2).reshape(b, nt, ci))
        # Per-prompt image: fold k_proj into the queries and v_proj after the weighting.
        scale = 1.0 / math.sqrt(d)
        q4 = qp.view(b, nt, heads, d)
        w_k = self.k_proj.weight.view(heads, d, -1)
        q_folded = torch.einsum("bthd,hdc->bhtc", q4, w_k).reshape(b, heads * nt, -1)
        # k_proj's bias adds q.bk to every logit of a row alike: the softmax over HW cancels it
        logits = _logits(q_folded, image_k, None, scale)
        weights = torch.softmax(logits, dim=-1)  # (B, heads*Nt, HW)
        mixed = torch.bmm(weights, image_v).view(b, heads, nt, -1)  # (B, heads, Nt, C)
        w_v = self.v_proj.weight.view(heads, d, -1)
        out = torch.einsum("bhtc,hdc->bthd", mixed, w_v) + self.v_proj.bias.view(heads, d)
        return self.out_proj(out.reshape(b, nt, ci))

    def image_to_tokens(
        self, image_q: Tensor, tokens_k: Tensor, tokens_v: Tensor, residual: Tensor,
        record: list[Tensor] | None = None,
    ) -> Tensor:
        """Image tokens attend to prompt tokens; returns ``residual + attention`` (B, HW, C).

        image_q: (Bi, HW, C) queries (image + positional encoding); tokens_k: (B, Nt, C) keys
        (tokens + their encoding); tokens_v: (B, Nt, C) values; residual: (Bi, HW, C).
        ``record``: if given, the attention weights (B, heads*Nt, HW) and the values through
        out_proj (B, heads*Nt, C) are appended (attention = weights^T @ values).
        """
        b, nt, _ = tokens_k.shape
        heads, d = self.num_heads, self.head_dim
        hw, c = image_q.shape[1], image_q.shape[2]
        scale = 1.0 / math.sqrt(d)
        k4 = self.k_proj(tokens_k).view(b, nt, heads, d)
        v4 = self.v_proj(tokens_v).view(b, nt, heads, d)
        # Values pushed through out_proj per head: (B, heads*Nt, C). Each head's attention
        # weights sum to one, so out_proj's bias is spread evenly over the heads' values.
        w_o = self.out_proj.weight.view(c, heads, d)
        v_out = torch.einsum("bthd,chd->bhtc", v4, w_o) + self.out_proj.bias / heads
        v_out = v_out.reshape(b, heads * nt, c)
        if image_q.shape[0] == 1 and b > 1:
            # Shared image queries: project them once, one product per head for all prompts.
            q_img = self.q_proj(image_q)[0].view(hw, heads, d).permute(1, 2, 0)  # (heads, d, HW)
            k_all = k4.permute(2, 0, 1, 3).reshape(heads, b * nt, d)
            logits = torch.bmm(k_all, q_img).mul_(scale).view(heads, b, nt, hw)
            # Softmax over the tokens axis (not last: the kernel vectorises over HW).
            weights = torch.softmax(logits, dim=2).permute(1, 0, 2, 3).reshape(b, heads * nt, hw)
        else:
            # Per-prompt image: fold q_proj into the keys, logits laid out (B, heads, Nt, HW):
            # (X Wq^T + bq) . k = X . (Wq^T k) + bq . k
            w_q = self.q_proj.weight.view(heads, d, c)
            k_folded = torch.einsum("bthd,hdc->bhtc", k4, w_q).reshape(b, heads * nt, c)
            k_dot_bias = torch.einsum("bthd,hd->bht", k4, self.q_proj.bias.view(heads, d))
            logits = _logits(k_folded, image_q, k_dot_bias.reshape(b, heads * nt, 1), scale)
            logits = logits.view(b, heads, nt, hw)
            weights = torch.softmax(logits, dim=2).view(b, heads * nt, hw)
        if record is not None:
            record += [weights, v_out]
        if residual.shape[0] == b and not torch.is_grad_enabled() and residual.is_contiguous():
            return residual.baddbmm_(weights.transpose(1, 2), v_out)
        return torch.baddbmm(residual, weights.transpose(1, 2), v_out)


class TwoWayAttentionBlock(nn.Module):
    """Self-attention of tokens, tokens -> image, token MLP, image -> tokens (reference order).

    Each sub-layer is followed by a LayerNorm (``norm1`` .. ``norm4``).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor,
        product_dtype: torch.dtype | None = None, trace: ImageTrace | None = None,
    ) -> tuple[Tensor, Tensor]:
        """queries (B, Nt, C), keys (Bi, HW, C), query_pe (B, Nt, C), key_pe (1, HW, C).

        Returns updated queries (B, Nt, C) and keys (B, HW, C). ``product_dtype``: see the
        module docstring (None: everything in the inputs' dtype). ``trace``: the image
        update is appended to it.
        """
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        keys_pos = _image_keys(keys, key_pe, queries.shape[0], product_dtype)
        q = queries + query_pe
        attn = self.cross_attn_token_to_image.tokens_to_image(q, keys_pos, keys)
        queries = self.norm2(queries + attn)

        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe
        if trace is None:
            keys = self.norm4(self.cross_attn_image_to_token.image_to_tokens(
                keys_pos, q, queries, residual=keys))
            return queries, keys
        record: list[Tensor] = []
        updated = self.cross_attn_image_to_token.image_to_tokens(
            keys_pos, q, queries, residual=keys, record=record)
        norm = self.norm4
        keys, mean, rstd = torch.native_layer_norm(
            updated, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        trace.updates.append(ImageUpdate(*record, mean=mean, rstd=rstd, norm=norm))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """Stack of :class:`TwoWayAttentionBlock` plus a final token -> image attention."""

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor,
        product_dtype: torch.dtype | None = None,
        trace: ImageTrace | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Run the transformer.

        Args:
            image_embedding: (Bi, C, h, w), Bi = 1 (shared by all prompts) or B.
            image_pe: (1, C, h, w) positional encoding of the image grid.
            point_embedding: (B, Nt, C) prompt tokens (also their positional encoding).
            product_dtype: dtype of the products with the per-prompt image keys (None: the
                inputs' dtype); see the module docstring.
            trace: if given, filled with the image tokens' history (see :class:`ImageTrace`).

        Returns:
            queries (B, Nt, C) and image tokens (B, h*w, C) (row-major over the grid).
        """
        keys = _to_tokens(image_embedding)
        key_pe = _to_tokens(image_pe)
        queries = point_embedding
        if trace is not None:  # (a copy where the first update will be made in place)
            trace.start = keys.clone() if keys.shape[0] == queries.shape[0] else keys
        for i, layer in enumerate(self.layers):
            # Until the first image update a (1, HW, C) image is shared by all prompts: its
            # products stay in the decoder's dtype, so one prompt or many take the same path
            shared = i == 0 and image_embedding.shape[0] == 1
            queries, keys = layer(queries, keys, point_embedding, key_pe,
                                  None if shared else product_dtype, trace)
        if keys.shape[0] != queries.shape[0]:  # depth 0: image never updated
            keys = keys.expand(queries.shape[0], -1, -1)
        q = queries + point_embedding
        keys_pos = _image_keys(keys, key_pe, queries.shape[0], product_dtype)
        attn = self.final_attn_token_to_image.tokens_to_image(q, keys_pos, keys)
        queries = self.norm_final_attn(queries + attn)
        return queries, keys


def _to_tokens(x: Tensor) -> Tensor:
    """(B, C, h, w) -> a new contiguous (B, h*w, C) tensor (never a view of x)."""
    b, c, h, w = x.shape
    out = torch.empty((b, h * w, c), dtype=x.dtype, device=x.device)
    out.copy_(x.reshape(b, c, h * w).transpose(1, 2))
    return out


# Image-token rows per band when per-prompt keys are summed with their positional encoding
# and rounded to a lower precision on the CPU: 1 MB of float32 at C = 256, so the band stays
# in cache, in few enough bands that the loop's own cost is small.
_ROUNDING_ROWS = 1024


def _image_keys(keys: Tensor, key_pe: Tensor, batch: int, product_dtype: torch.dtype | None
                ) -> Tensor:
    """Image tokens plus their positional encoding: keys (Bi, HW, C) + key_pe (1, HW, C).

    Per-prompt keys (Bi = ``batch``) come back in ``product_dtype`` when one is given
    (summed in the keys' dtype, then rounded; the attentions then multiply in that dtype);
    shared keys (Bi = 1 for several prompts, projected once) keep the keys' dtype.
    """
    if product_dtype is None or product_dtype == keys.dtype or keys.shape[0] != batch:
        return keys + key_pe
    if keys.device.type != "cpu" or torch.is_grad_enabled():  # (out= has no autograd)
        return (keys + key_pe).to(product_dtype)
    # The sum in the keys' dtype, then one rounding copy: the same values as an add with its
    # output in product_dtype (which also sums in the wider dtype), but on the CPU that
    # mixed-dtype add is slower than the two vectorised passes. Band by band, so the wide
    # sum is rounded while it is still in cache instead of going through memory as a
    # (B, HW, C) tensor of its own.
    out = torch.empty(keys.shape, dtype=product_dtype)
    rows = min(_ROUNDING_ROWS, keys.shape[1])
    scratch = keys.new_empty((rows, keys.shape[2]))
    for b in range(keys.shape[0]):
        for r0 in range(0, keys.shape[1], rows):
            r1 = min(keys.shape[1], r0 + rows)
            band = torch.add(keys[b, r0:r1], key_pe[0, r0:r1], out=scratch[: r1 - r0])
            out[b, r0:r1].copy_(band)
    return out


def _logits(folded: Tensor, image: Tensor, bias: Tensor | None, scale: float) -> Tensor:
    """Attention logits ``scale * (folded @ image^T + bias)`` in ``folded``'s dtype.

    folded (B, R, C) per-prompt rows (queries or keys with a projection folded in), image
    (B, HW, C) image keys, bias (B, R, 1) or None -> (B, R, HW). When the image keys are in a
    lower precision (mixed precision), the product runs in theirs and is widened afterwards.
    Without a bias the scale goes into the R rows before the product (no pass over R x HW).
    """
    if bias is None:
        product = torch.bmm((folded * scale).to(image.dtype), image.transpose(1, 2))
        return product.to(folded.dtype)
    if image.dtype == folded.dtype:
        return torch.baddbmm(bias, folded, image.transpose(1, 2), beta=scale, alpha=scale)
    logits = torch.bmm(folded.to(image.dtype), image.transpose(1, 2)).to(folded.dtype)
    return logits.mul_(scale).add_(bias, alpha=scale)
