"""A seeded SAM 2 whose everything-mode output is worth comparing (test-only factory).

The SAM 2 counterpart of :mod:`tests.automask_models` (read its docstring first): the network
is sam2.1_hiera_tiny (the official modules and state-dict shapes, seeded random weights) at a
``IMAGE_SIZE`` = 256 model input instead of 1024 (:func:`tests.sam2_factories.small_input_arch`:
token grid 16 x 16, low-res logits 64 x 64; the encoder and decoder cost about a sixteenth),
and some mask-decoder and prompt-encoder weights are set by hand so that each point prompt
gives confident, nested, distinct masks around the point. On ``skimage.data.chelsea()`` with
Meta's ``SAM2AutomaticMaskGenerator`` defaults and a 6 x 6 point grid the reference keeps
dozens of masks. (With plain random weights it keeps none.)

The wiring is SAM 1's, channel for channel, with what SAM 2's decoder adds:

1. **Tokens.** SAM 2 prepends an object-score token: the tokens are object score, IoU, four
   mask tokens, the point and the padding point, so eight one-hot codes (``CODES``) instead of
   seven; the first self-attention's head 7 routes the IoU token (code 1) to the point.
2. **High-resolution features.** The upscaler adds ``conv_s1`` of the stride-8 level after its
   first transposed convolution and ``conv_s0`` of the stride-4 level after the second. Their
   output rows that carry the wiring (channel 0: w(p); 1 and 2: the LayerNorm pair, then the
   constant) are zero; the others get small random weights, so the outlines also follow the
   image at stride 4 and 8 (``HIGH_RES_STD`` of the added content).
3. **IoU head.** Its output goes through a sigmoid: the last layer's bias is the logit of
   ``IOU_BASE`` (around SAM 2's default threshold 0.8) and the spread ``IOU_SPREAD`` is in
   logit units. It also reads, weakly (``IOU_CONTENT``), the IoU token's other channels,
   which carry what the token saw of the image and of a mask prompt: in mask-to-mask
   refinement the three candidates of a point share the point and the single-mask output,
   and without this their refined scores would tie exactly (tied scores make box NMS keep
   whichever its sort puts first, which torchvision's unstable sort and samcli's stable one
   need not agree on).
4. **Single-mask token.** SAM 2's decoder checks the single mask's stability at +-0.05
   (threshold 0.98) and falls back to the best multimask output when it is unstable. So that
   both branches run (with ``multimask_output`` off, and in mask-to-mask refinement), the
   single-mask token's slope depends on the point: head 7 of the first self-attention also
   routes mask token 0 to the point (its ``WHERE`` channels get the point's Fourier
   features), and its hypernetwork makes the slope ``SINGLE_LO + SINGLE_SPAN * relu(u)``,
   u a random linear function (std 1) of those features. Where u <= 0 the mask is shallow,
   unstable, and replaced by the best multimask output; where u is large it is as steep as
   the multimask masks and kept.
5. The object-score head and everything else keep their seeded random initialisation (the
   image predictor ignores the object score).

Ours and the reference get the same state dict (the reference also has the video modules,
left at their initialisation), so they must agree to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from samcli.model.sam2 import Sam2, build_sam2
from tests.sam2_factories import small_input_arch
from tests.automask_models import BAYER, CODE, DITHER, _pinned_sigma

NAME = "sam2.1_hiera_tiny"
IMAGE_SIZE = 256

C = 256
POS = list(range(64)) + list(range(128, 192))  # PE sin f and cos f, f < 64 (both spaces)
CODES = list(range(64, 72))  # tokens: object score, IoU, 4 mask tokens, point, not-a-point
IOU_CODE, POINT_CODE = CODES[1], CODES[6]
PAIR = (72, 73)  # tokens: +B, -B
WHERE = list(range(224, 256))  # tokens: PE cos f, 96 <= f < 128 (the IoU token's copy)
K_IND = 74  # keys: w(p)
K_PAIR = (75, 76)  # keys: +B, -B
CONTENT = [c for c in range(C) if c not in POS and c not in (K_IND, *K_PAIR)]  # keys
RESERVED = CODES + list(PAIR) + WHERE

B = 500.0
SHARP = 3.0
UP_GAIN, UP_SHIFT = 8.0, 4.0
UP_CONTENT_STD = 0.3
SLOPE = 200.0
SINGLE_LO, SINGLE_SPAN = 10.0, 250.0
LEVELS = (0.5, 0.75, 0.6, 0.45)  # w(p) at the mask outline: single-mask token, then S, M, L
CONTENT_W = 0.1
HIGH_RES_STD = 0.15
IOU_BASE = (0.82, 0.82, 0.83, 0.81)
IOU_SPREAD = 0.25  # logit units (about 0.035 in IoU around 0.82)
IOU_CONTENT = 0.1  # logit units: std of the part read from the IoU token's other channels

D, T, P = "sam_mask_decoder.", "sam_mask_decoder.transformer.", "sam_prompt_encoder."


def build_small(seed: int = 0, image_size: int = IMAGE_SIZE, name: str = NAME) -> Sam2:
    """Our ``name`` (sam2.1_hiera_tiny) at an ``image_size`` input, seeded random weights."""
    torch.manual_seed(seed)
    return build_sam2(small_input_arch(name, image_size)).eval()


@torch.no_grad()
def automask_state_dict(model: Sam2, seed: int = 0) -> dict:
    """``model``'s state dict with the everything-mode wiring (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed + 1)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    pos, reserved = torch.tensor(POS), torch.tensor(RESERVED)
    k_private = torch.tensor([K_IND, *K_PAIR])

    # Random token-side layers neither read nor write the reserved token channels; the
    # token-to-image attentions do not read the private key channels either.
    for layer in ("layers.0.", "layers.1."):
        sd[T + layer + "mlp.layers.0.weight"][:, reserved] = 0.0
        sd[T + layer + "mlp.layers.1.weight"][reserved] = 0.0
        sd[T + layer + "mlp.layers.1.bias"][reserved] = 0.0
    for attn in ("layers.0.cross_attn_token_to_image.", "layers.1.cross_attn_token_to_image.",
                 "final_attn_token_to_image.", "layers.1.self_attn."):
        sd[T + attn + "q_proj.weight"][:, reserved] = 0.0
        sd[T + attn + "out_proj.weight"][reserved] = 0.0
        sd[T + attn + "out_proj.bias"][reserved] = 0.0
        hidden = reserved if attn == "layers.1.self_attn." else k_private
        sd[T + attn + "k_proj.weight"][:, hidden] = 0.0
        sd[T + attn + "v_proj.weight"][:, hidden] = 0.0

    # Learned tokens: nothing on POS, one-hot codes, the +-B pair.
    sigma = _pinned_sigma(C)
    tokens = [(D + "obj_score_token.weight", [0]), (D + "iou_token.weight", [1]),
              (D + "mask_tokens.weight", [2, 3, 4, 5]),
              (P + "point_embeddings.1.weight", [6]), (P + "not_a_point_embed.weight", [7])]
    for key, codes in tokens:
        w = sd[key]
        w[:, pos] = 0.0
        w[:, reserved] = 0.0
        for row, code in enumerate(codes):
            w[row, CODES[code]] = CODE
        w[:, PAIR[0]], w[:, PAIR[1]] = B, -B
    norms = [f"layers.{i}.norm{j}." for i in (0, 1) for j in (1, 2, 3)] + ["norm_final_attn."]
    for norm in norms:
        w, b = torch.full((C,), sigma), torch.zeros(C)
        w[list(PAIR)] = 0.0
        b[PAIR[0]], b[PAIR[1]] = B, -B
        sd[T + norm + "weight"], sd[T + norm + "bias"] = w, b
    sd[T + "layers.1.norm3.weight"][pos] = 0.0

    # First self-attention: each token attends to itself (head 7: IoU token -> point).
    a = T + "layers.0.self_attn."
    q, k = torch.zeros(C, C), torch.zeros(C, C)
    for h in range(8):
        for j, code in enumerate(CODES):
            q[32 * h + j, code] = 1.0
            k[32 * h + j, code] = 1.0
    k[32 * 7 + 1, IOU_CODE], k[32 * 7 + 1, POINT_CODE] = 0.0, 1.0
    k[32 * 7 + 2, CODES[2]], k[32 * 7 + 2, POINT_CODE] = 0.0, 1.0  # mask token 0 too
    assert all(c // 32 == 7 for c in WHERE) and all(c // 32 != 7 for c in CODES + list(PAIR))
    for name, w in (("q_proj", q), ("k_proj", k), ("v_proj", torch.eye(C)),
                    ("out_proj", torch.eye(C))):
        sd[a + name + ".weight"], sd[a + name + ".bias"] = w, torch.zeros(C)

    # Keys entering layer 1, and layer 1's image-to-token attention: kernel in, w(p) out.
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
    b[K_PAIR[0]] = 1.0
    sd[T + "layers.1.norm4.weight"], sd[T + "layers.1.norm4.bias"] = w, b

    # Upscaler: as SAM 1's wiring (equal taps; channel 0 = w(p), 1 and 2 the pair).
    U = D + "output_upscaling."
    w1 = torch.zeros(C, 64)
    w1[K_IND, 0] = 1.0
    mix = torch.randn(len(CONTENT), 61, generator=gen) / math.sqrt(len(CONTENT))
    w1[CONTENT, 3:] = mix - mix.mean(dim=1, keepdim=True)
    b1 = torch.zeros(64)
    b1[1], b1[2] = B, -B
    w1 = w1[:, :, None, None].expand(C, 64, 2, 2).clone()
    w1[K_PAIR[0], 0] = DITHER * (BAYER / 4 - 3 / 8)
    sd[U + "0.weight"], sd[U + "0.bias"] = w1, b1
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
    w2[1, 0] = UP_GAIN * DITHER * (BAYER / 16 - 3 / 32) / F.gelu(torch.tensor(1.0))
    sd[U + "3.weight"], sd[U + "3.bias"] = w2, torch.zeros(32)

    # High-resolution features: random content on the channels the wiring leaves free.
    for conv, free, level_std in (("conv_s1.", slice(3, 64), 0.8), ("conv_s0.", slice(2, 32),
                                                                     0.8)):
        weight = sd[D + conv + "weight"]
        weight.zero_()
        n_out = weight[free].shape[0]
        weight[free] = HIGH_RES_STD / (level_std * math.sqrt(C)) * torch.randn(
            n_out, C, 1, 1, generator=gen)
        sd[D + conv + "bias"].zero_()

    # Hypernetworks: logit = slope * (w(p) - level) + content (shared content weights).
    one = F.gelu(F.gelu(torch.tensor(1.0))).item()
    content = torch.randn(30, generator=gen)
    content = CONTENT_W / (math.sqrt(30) * UP_CONTENT_STD) * (content - content.mean())
    for i, level in enumerate(LEVELS[1:], start=1):
        key = f"{D}output_hypernetworks_mlps.{i}.layers.2."
        bias = torch.zeros(32)
        bias[0] = SLOPE / UP_GAIN
        bias[1] = -SLOPE * (UP_SHIFT / UP_GAIN + LEVELS[i]) / one
        bias[2:] = SLOPE * content
        sd[key + "weight"], sd[key + "bias"] = torch.zeros(32, C), bias
    # The single-mask token: slope SINGLE_LO + SINGLE_SPAN * relu(u(point)) (see 4.)
    key = f"{D}output_hypernetworks_mlps.0.layers."
    n, shift = len(WHERE), 10.0  # shift keeps the first ReLU in its linear range
    w0, b0 = torch.zeros(C, C), torch.zeros(C)
    w0[torch.arange(n), torch.tensor(WHERE)] = 1.0
    b0[:n] = shift
    r = torch.randn(n, generator=gen)
    r = (r - r.mean()) / math.sqrt(n / 2)
    w1, b1 = torch.zeros(C, C), torch.zeros(C)
    w1[0, :n] = r
    b1[0] = -shift * r.sum()  # channel 0: relu(u); channel 1: 1
    b1[1] = 1.0
    w2 = torch.zeros(32, C)
    per_unit = torch.cat([torch.tensor([1.0 / UP_GAIN, -(UP_SHIFT / UP_GAIN + LEVELS[0]) / one]),
                          content])  # the whole logit scales with the slope
    w2[:, 0] = SINGLE_SPAN * per_unit
    w2[:, 1] = SINGLE_LO * per_unit
    b2 = torch.zeros(32)
    sd[key + "0.weight"], sd[key + "0.bias"] = w0, b0
    sd[key + "1.weight"], sd[key + "1.bias"] = w1, b1
    sd[key + "2.weight"], sd[key + "2.bias"] = w2, b2

    # IoU head: sigmoid(logit(IOU_BASE) + a linear function of the point's features).
    key = D + "iou_prediction_head.layers."
    n, shift = len(WHERE), 10.0
    w0, b0 = torch.zeros(C, C), torch.zeros(C)
    w0[torch.arange(n), torch.tensor(WHERE)] = 1.0
    b0[:n] = shift
    w1 = torch.zeros(C, C)
    w1[torch.arange(n), torch.arange(n)] = 1.0
    free = torch.tensor([c for c in range(C) if c not in RESERVED])
    m = C - n
    w0[n:, free] = torch.randn(m, len(free), generator=gen) / math.sqrt(len(free))
    b0[n:] = shift
    w1[n:, n:] = torch.eye(m)
    w2 = torch.zeros(4, C)
    r = torch.randn(4, n, generator=gen)
    w2[:, :n] = IOU_SPREAD * (r - r.mean(dim=1, keepdim=True)) / math.sqrt(n / 2)
    w2[:, n:] = IOU_CONTENT * torch.randn(4, m, generator=gen) / math.sqrt(m)
    base = torch.logit(torch.tensor(IOU_BASE))
    sd[key + "0.weight"], sd[key + "0.bias"] = w0, b0
    sd[key + "1.weight"], sd[key + "1.bias"] = w1, torch.zeros(C)
    sd[key + "2.weight"] = w2
    sd[key + "2.bias"] = base - shift * w2.sum(dim=1)
    return sd


def make_automask_model(seed: int = 0, image_size: int = IMAGE_SIZE, name: str = NAME) -> Sam2:
    """Our small SAM 2 with the everything-mode wiring (see the module docstring);
    ``image_size`` 1024 is the official network (benchmarks/bench_sam2.py). The wiring is
    the mask decoder's and prompt encoder's, the same for every size: ``name`` picks the
    image encoder (another size for benchmarks)."""
    model = build_small(seed, image_size, name)
    model.load_state_dict(automask_state_dict(model, seed), strict=True)
    return model.eval()


def make_automask_pair(seed: int = 0, image_size: int = IMAGE_SIZE, name: str = NAME):
    """(ours, reference) with identical image-path weights, in eval mode (the reference's
    video modules stay at their initialisation: the image predictor never runs them)."""
    from samcli.model.sam2.keys import is_video_only
    from tests.sam2_factories import reference_model

    ours = make_automask_model(seed, image_size, name)
    ref = reference_model(name, image_size=image_size)
    result = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not result.unexpected_keys and all(is_video_only(k) for k in result.missing_keys)
    return ours, ref.eval()
