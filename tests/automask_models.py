"""A small, seeded SAM whose everything-mode output is worth comparing (test-only factory).

Why: with random weights SAM's decoder returns near-whole-image masks that are almost the same
for every point prompt, with predicted IoU and stability near 0, so the reference
``SamAutomaticMaskGenerator`` keeps one mask or none and a parity test proves little. Here the
*architecture* is SAM's (a small ViT encoder, the standard prompt encoder, and the standard
256-wide mask decoder: two-way transformer of depth 2, MLP 2048, 8 heads) and some decoder
weights are set by hand, so that each point prompt gives three confident, nested masks (small,
medium, large) around the point, with outlines bent by the image embedding. On
``skimage.data.chelsea()`` with the reference defaults and an 8 x 8 point grid the reference
generator keeps 87 of the 192 candidate masks after box NMS. (With plain random weights it
keeps none; with the filters off, box NMS leaves one near-whole-image mask.)

How the decoder is wired (C = 256 channels; tokens: IoU, 4 mask tokens, the point, the
padding point). A few channels are reserved and every other (random) layer neither reads nor
writes them, so they carry hand-set values from layer to layer:

1. **Fixed LayerNorms.** Two channels (``PAIR``) hold +B and -B in every token, in the image
   keys and in the upscaler. They dominate each LayerNorm's variance, so a LayerNorm becomes
   the fixed affine map ``x -> (x - mean(x)) / sigma`` with ``sigma ~ B * sqrt(2 / n)``;
   its weight is set to that sigma (so values pass through at their own scale) and the pair
   is re-emitted by its bias. This makes the magnitudes below predictable. (Layer 0's
   ``norm4`` stays a true LayerNorm of the image embedding; only its bias adds the pair.)
2. **Token-type codes.** Channels ``CODES`` hold a one-hot code of size ``CODE`` in the
   learned tokens (IoU token, mask tokens, positive-point embedding, not-a-point embedding).
   The first self-attention (which has no residual in SAM) gets ``q_proj`` / ``k_proj``
   reading only the codes and ``v_proj = out_proj = identity``: every token attends to itself
   and passes through, except that head 7 routes the IoU token to the point token, so the IoU
   token receives the point's Fourier features on channels ``WHERE`` (step 7).
3. **Position kernel.** The prompt encoder's random Fourier features give a pixel's dense
   encoding PE(p) and the point's encoding PE(q) from the same frequencies, so
   ``PE(p) . PE(q) = sum_f cos(w_f . (p - q))`` is a kernel peaked at p == q. The channels of
   64 frequencies (``POS``, sin and cos) are cleared in the image keys entering layer 1, in the
   token content after layer 1's ``norm3`` and in the learned embeddings; layer 1's
   image-to-token attention gets ``q_proj = k_proj = sqrt(SHARP) * M``, M selecting those
   channels (8 frequencies a head). A pixel's attention logit is then ``SHARP / 4 * K_h(p - q)``
   for the point token and 0 for the six others, so its weight on the point token averaged
   over heads, ``w(p)``, is ~1 at the point and ~0.1-0.3 far from it.
4. **Indicator.** That attention's ``v_proj`` reads only the point's code and its ``out_proj``
   writes only key channel ``K_IND``: after layer 1 the keys hold ``K_IND = w(p)`` beside the
   image content (the image embedding; layer 0's image-side update is switched off).
5. **Upscaler.** Both transposed convolutions get the same weights at their 4 kernel taps
   (nearest-neighbour upsampling and a per-pixel linear map, instead of random 4x4
   checkerboards). Channel 0 carries ``UP_SHIFT + UP_GAIN * w(p)`` (GELU's linear range),
   channel 1 a constant (LayerNorm weight 0, bias 1), the others a random mix of the content.
   A 4x4 ordered dither (``DITHER``, from the taps reading a constant channel) keeps the
   low-res logits from being flat over each embedding cell: on a flat cell that happened to
   sit within float rounding of a threshold, dozens of pixels would flip together between
   two correct implementations; with the dither only the odd pixel can.
6. **Hypernetworks.** Mask token i's MLP outputs a constant vector (last layer: weight 0,
   bias set), making the mask logit ``SLOPE * (w(p) - LEVELS[i]) + content(p)``: three nested
   masks around the point (about 4%, 6% and 12% of the chelsea image) whose outlines, holes
   and islands come from the content term (``CONTENT_W``, in units of w; its weights are
   shared by the mask tokens, so it moves the three outlines together). ``SLOPE`` sets how
   steep the logits are, hence the stability scores (they spread around the default 0.95).
7. **IoU head.** Made linear (ReLUs kept in their positive range): predicted IoU =
   ``IOU_BASE[i]`` + a random linear function (std ~``IOU_SPREAD``) of the point's Fourier
   features on ``WHERE``. Scores spread around 0.9, so the default 0.88 threshold drops some
   masks, and near-ties in NMS are rare.

The encoder and everything not listed keep their seeded random initialisation. Ours and the
reference get the same state dict, so they must agree to float rounding.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from samcli.model.image_encoder import ImageEncoderViT
from samcli.model.mask_decoder import MaskDecoder
from samcli.model.prompt_encoder import PromptEncoder
from samcli.model.sam import Sam
from samcli.model.transformer import TwoWayTransformer

# Small encoder: fast on a CPU, same module types and key names as SAM's ViT.
ENCODER = dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,), window_size=14)

# Channel plan of the decoder's 256-wide spaces (see the module docstring).
C = 256
POS = list(range(64)) + list(range(128, 192))  # PE sin f and cos f, f < 64 (both spaces)
CODES = list(range(64, 71))  # tokens: IoU, 4 mask tokens, point, not-a-point
POINT_CODE = CODES[5]
PAIR = (71, 72)  # tokens: +B, -B
WHERE = list(range(224, 256))  # tokens: PE cos f, 96 <= f < 128 (the IoU token's copy)
K_IND = 73  # keys: w(p)
K_PAIR = (74, 75)  # keys: +B, -B
CONTENT = [c for c in range(C) if c not in POS and c not in (K_IND, *K_PAIR)]  # keys
RESERVED = CODES + list(PAIR) + WHERE  # token channels random layers do not touch

# Hand-set magnitudes.
CODE = 10.0  # one-hot token-type code
B = 500.0  # the +-B pair that pins each LayerNorm's scale
SHARP = 3.0  # attention logit at the point: SHARP / 4 * 8 per head
UP_GAIN, UP_SHIFT = 8.0, 4.0  # upscaled channel 0 = UP_SHIFT + UP_GAIN * w(p)
UP_CONTENT_STD = 0.3  # std of the upscaled content channels (about 0.27 measured)
SLOPE = 200.0  # mask logits per unit of w(p)
LEVELS = (0.5, 0.75, 0.6, 0.45)  # w(p) at the mask outline: single-mask token, then S, M, L
CONTENT_W = 0.1  # std of the content term of the logits, in units of w(p)
DITHER = 0.01  # spread of the 4x4 ordered dither added to w(p) in each embedding cell
BAYER = torch.tensor([[0.0, 2.0], [3.0, 1.0]])  # 2x2 ordered-dither matrix
IOU_BASE = (0.9, 0.9, 0.905, 0.895)
IOU_SPREAD = 0.03


def build_small(seed: int = 0) -> Sam:
    """Our Sam with a small ViT encoder and the standard prompt encoder / mask decoder."""
    torch.manual_seed(seed)
    encoder = ImageEncoderViT(
        img_size=1024, patch_size=16, mlp_ratio=4, out_chans=256, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True, **ENCODER,
    )
    return Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(256, (64, 64), (1024, 1024), 16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
        ),
    ).eval()


def build_small_reference():
    """The reference ``segment_anything`` Sam with the same hyper-parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from segment_anything import modeling as sm

    encoder = sm.ImageEncoderViT(
        img_size=1024, patch_size=16, mlp_ratio=4, out_chans=256, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True, **ENCODER,
    )
    return sm.Sam(
        image_encoder=encoder,
        prompt_encoder=sm.PromptEncoder(
            embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
            mask_in_chans=16,
        ),
        mask_decoder=sm.MaskDecoder(
            num_multimask_outputs=3,
            transformer=sm.TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048,
                                             num_heads=8),
            transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


def _taps_equal(w: torch.Tensor) -> torch.Tensor:
    """A ConvTranspose2d weight (in, out, 2, 2) with its 4 taps replaced by their mean."""
    return w.mean(dim=(2, 3), keepdim=True).expand_as(w).clone()


def _pinned_sigma(n: int) -> float:
    """The std of n channels holding +B, -B and (comparatively) nothing else."""
    return B * math.sqrt(2.0 / n)


@torch.no_grad()
def automask_state_dict(model: Sam, seed: int = 0) -> dict:
    """``model``'s state dict with the decoder wired as the module docstring describes."""
    gen = torch.Generator().manual_seed(seed + 1)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    D, T = "mask_decoder.", "mask_decoder.transformer."
    pos, reserved = torch.tensor(POS), torch.tensor(RESERVED)
    k_private = torch.tensor([K_IND, *K_PAIR])

    # Random token-side layers neither read nor write the reserved token channels; the
    # token-to-image attentions do not read the private key channels either.
    for layer in ("layers.0.", "layers.1."):
        sd[T + layer + "mlp.lin1.weight"][:, reserved] = 0.0
        sd[T + layer + "mlp.lin2.weight"][reserved] = 0.0
        sd[T + layer + "mlp.lin2.bias"][reserved] = 0.0
    for attn in ("layers.0.cross_attn_token_to_image.", "layers.1.cross_attn_token_to_image.",
                 "final_attn_token_to_image.", "layers.1.self_attn."):
        sd[T + attn + "q_proj.weight"][:, reserved] = 0.0
        sd[T + attn + "out_proj.weight"][reserved] = 0.0
        sd[T + attn + "out_proj.bias"][reserved] = 0.0
        hidden = reserved if attn == "layers.1.self_attn." else k_private
        sd[T + attn + "k_proj.weight"][:, hidden] = 0.0
        sd[T + attn + "v_proj.weight"][:, hidden] = 0.0

    # 1-2. Learned tokens: nothing on POS, one-hot codes, the +-B pair.
    sigma = _pinned_sigma(C)
    tokens = [(D + "iou_token.weight", [0]), (D + "mask_tokens.weight", [1, 2, 3, 4]),
              ("prompt_encoder.point_embeddings.1.weight", [5]),
              ("prompt_encoder.not_a_point_embed.weight", [6])]
    for key, codes in tokens:
        w = sd[key]
        w[:, pos] = 0.0
        w[:, reserved] = 0.0
        for row, code in enumerate(codes):
            w[row, CODES[code]] = CODE
        w[:, PAIR[0]], w[:, PAIR[1]] = B, -B
    # Token-side LayerNorms: x -> x - mean(x), the pair re-emitted.
    norms = [f"layers.{i}.norm{j}." for i in (0, 1) for j in (1, 2, 3)] + ["norm_final_attn."]
    for norm in norms:
        w, b = torch.full((C,), sigma), torch.zeros(C)
        w[list(PAIR)] = 0.0
        b[PAIR[0]], b[PAIR[1]] = B, -B
        sd[T + norm + "weight"], sd[T + norm + "bias"] = w, b
    sd[T + "layers.1.norm3.weight"][pos] = 0.0  # token content: nothing on POS

    # 2. First self-attention: each token attends to itself (head 7: IoU token -> point).
    a = T + "layers.0.self_attn."
    q, k = torch.zeros(C, C), torch.zeros(C, C)
    for h in range(8):
        for j, code in enumerate(CODES):
            q[32 * h + j, code] = 1.0
            k[32 * h + j, code] = 1.0
    k[32 * 7, CODES[0]], k[32 * 7, POINT_CODE] = 0.0, 1.0
    assert all(c // 32 == 7 for c in WHERE) and all(c // 32 != 7 for c in CODES + list(PAIR))
    for name, w in (("q_proj", q), ("k_proj", k), ("v_proj", torch.eye(C)),
                    ("out_proj", torch.eye(C))):
        sd[a + name + ".weight"], sd[a + name + ".bias"] = w, torch.zeros(C)

    # 3-4. Keys entering layer 1: the image embedding on CONTENT and the pair; layer 0's
    # image-to-token update off. Layer 1's image-to-token attention: kernel in, w(p) out.
    a = T + "layers.0.cross_attn_image_to_token."
    sd[a + "out_proj.weight"].zero_()
    sd[a + "out_proj.bias"].zero_()
    w, b = torch.zeros(C), torch.zeros(C)
    w[CONTENT] = 1.0
    b[K_PAIR[0]], b[K_PAIR[1]] = B, -B
    sd[T + "layers.0.norm4.weight"], sd[T + "layers.0.norm4.bias"] = w, b
    sel = torch.zeros(128, C)
    for h in range(8):
        for j in range(8):
            f = 8 * h + j
            sel[16 * h + j, f] = 1.0
            sel[16 * h + 8 + j, 128 + f] = 1.0
    v, o = torch.zeros(128, C), torch.zeros(C, 128)
    for h in range(8):
        v[16 * h, POINT_CODE] = 1.0 / CODE
        o[K_IND, 16 * h] = 1.0 / 8
    a = T + "layers.1.cross_attn_image_to_token."
    for name, w in (("q_proj", math.sqrt(SHARP) * sel), ("k_proj", math.sqrt(SHARP) * sel),
                    ("v_proj", v)):
        sd[a + name + ".weight"], sd[a + name + ".bias"] = w, torch.zeros(128)
    sd[a + "out_proj.weight"], sd[a + "out_proj.bias"] = o, torch.zeros(C)
    w, b = torch.zeros(C), torch.zeros(C)
    w[CONTENT + [K_IND]] = sigma
    b[K_PAIR[0]] = 1.0  # a constant 1 for the upscaler's dither
    sd[T + "layers.1.norm4.weight"], sd[T + "layers.1.norm4.bias"] = w, b

    # 5. Upscaler: equal taps; channel 0 = w(p), 1 and 2 the pair, 3.. a mix of the content.
    U = D + "output_upscaling."
    w1 = torch.zeros(C, 64)
    w1[K_IND, 0] = 1.0
    mix = torch.randn(len(CONTENT), 61, generator=gen) / math.sqrt(len(CONTENT))
    w1[CONTENT, 3:] = mix - mix.mean(dim=1, keepdim=True)  # content adds nothing to the mean
    b1 = torch.zeros(64)
    b1[1], b1[2] = B, -B
    w1 = w1[:, :, None, None].expand(C, 64, 2, 2).clone()
    w1[K_PAIR[0], 0] = DITHER * (BAYER / 4 - 3 / 8)  # coarse half of the dither
    sd[U + "0.weight"] = w1
    sd[U + "0.bias"] = b1
    sigma64 = _pinned_sigma(64)
    lw, lb = torch.full((64,), sigma64), torch.zeros(64)
    lw[0], lb[0] = UP_GAIN * sigma64, UP_SHIFT
    lw[1], lb[1] = 0.0, 1.0
    lw[2] = 0.0
    sd[U + "1.weight"], sd[U + "1.bias"] = lw, lb
    w2 = torch.zeros(64, 32)
    w2[0, 0], w2[1, 1] = 1.0, 1.0
    mix = torch.randn(61, 30, generator=gen) / math.sqrt(61)
    w2[3:, 2:] = mix - mix.mean(dim=0, keepdim=True)
    w2 = w2[:, :, None, None].expand(64, 32, 2, 2).clone()
    w2[1, 0] = UP_GAIN * DITHER * (BAYER / 16 - 3 / 32) / F.gelu(torch.tensor(1.0))  # fine half
    sd[U + "3.weight"] = w2
    sd[U + "3.bias"] = torch.zeros(32)

    # 6. Hypernetworks: logit = SLOPE * (w(p) - level) + content.
    # The content weights are shared by the mask tokens, so their masks stay nested.
    one = F.gelu(F.gelu(torch.tensor(1.0))).item()  # upscaled channel 1
    content = torch.randn(30, generator=gen)
    content = SLOPE * CONTENT_W / (math.sqrt(30) * UP_CONTENT_STD) * (content - content.mean())
    for i, level in enumerate(LEVELS):
        key = f"{D}output_hypernetworks_mlps.{i}.layers.2."
        bias = torch.zeros(32)
        bias[0] = SLOPE / UP_GAIN
        bias[1] = -SLOPE * (UP_SHIFT / UP_GAIN + level) / one
        bias[2:] = content
        sd[key + "weight"], sd[key + "bias"] = torch.zeros(32, C), bias

    # 7. IoU head: linear in the point's Fourier features on WHERE.
    key = D + "iou_prediction_head.layers."
    n, shift = len(WHERE), 10.0  # shift keeps the ReLUs in their linear range
    w0, b0 = torch.zeros(C, C), torch.zeros(C)
    w0[torch.arange(n), torch.tensor(WHERE)] = 1.0
    b0[:n] = shift
    w1 = torch.zeros(C, C)
    w1[torch.arange(n), torch.arange(n)] = 1.0
    w2 = torch.zeros(4, C)
    r = torch.randn(4, n, generator=gen)
    w2[:, :n] = IOU_SPREAD * (r - r.mean(dim=1, keepdim=True)) / math.sqrt(n / 2)
    sd[key + "0.weight"], sd[key + "0.bias"] = w0, b0
    sd[key + "1.weight"], sd[key + "1.bias"] = w1, torch.zeros(C)
    sd[key + "2.weight"] = w2
    sd[key + "2.bias"] = torch.tensor(IOU_BASE) - shift * w2.sum(dim=1)
    return sd


def make_automask_model(seed: int = 0) -> Sam:
    """Our small Sam with the everything-mode wiring (see the module docstring)."""
    model = build_small(seed)
    model.load_state_dict(automask_state_dict(model, seed), strict=True)
    return model.eval()


def make_automask_pair(seed: int = 0):
    """(ours, reference) small Sams with identical weights, in eval mode."""
    ours = make_automask_model(seed)
    ref = build_small_reference()
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ours, ref.eval()
