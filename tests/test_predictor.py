"""The Predictor: device/dtype resolution, input checks, batching, upscaling, bfloat16."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from samcli.errors import ConfigError, InputError, UsageError
from samcli.predictor import (Predictor, resolve_decoder_precision, resolve_device,
                              resolve_dtype)
from tests.factories import note_image_histories, precision_gaps

# Agreement promised between two float32 evaluations of the same decoder that differ only in
# how prompts are batched (relative to the largest logit; float32 epsilon times the length of
# the decoder's longest sums, 2^-23 x 256, rounded up).
FLOAT32_ROUNDING = 3e-5
# Half a bfloat16 ulp, relative: the most two kernels' roundings of a bfloat16 product differ.
BFLOAT16_HALF_ULP = 2.0**-9


def _model_copy(predictor: Predictor) -> torch.nn.Module:
    """A copy of the session pair's model (``predictor.model``), for a Predictor that casts
    it to another precision: the same weights, without building and seeding a new model."""
    return copy.deepcopy(predictor.model)


# ----------------------------------------------------------------------------- resolution


def test_resolve_device_cpu_and_auto(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_resolve_device_auto_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_resolve_device_unavailable_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device(spec)


def test_resolve_device_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_resolve_device_bad_specs(monkeypatch):
    with pytest.raises(UsageError, match="unknown --device"):
        resolve_device("tpu")
    with pytest.raises(UsageError, match="cuda:N"):
        resolve_device("cuda:x")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="MPS"):
        resolve_device("mps")


def test_resolve_dtype():
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("float32", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="float16 is not supported on the CPU"):
        resolve_dtype("float16", cpu)
    with pytest.raises(UsageError, match="unknown --dtype"):
        resolve_dtype("int8", cpu)


def test_resolve_decoder_precision_refusals():
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match="use --decoder-dtype mixed, bfloat16 or float32$"):
        resolve_decoder_precision("float16", torch.float32, cpu)


def test_resolve_dtype_auto_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
    assert resolve_dtype("float16", "cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda") == torch.float32
    with pytest.raises(ConfigError, match="bfloat16 is not supported by this GPU"):
        resolve_dtype("bfloat16", "cuda")


def test_mixed_decoder_on_a_gpu_without_bfloat16(monkeypatch):
    """mixed with a float32 encoder runs the products in bfloat16: refused as --decoder-dtype
    bfloat16 is where the GPU lacks it (it was accepted); with float16 they run in float16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="^--decoder-dtype mixed with --dtype float32 runs the "
                       "decoder's products in bfloat16, which this GPU does not support; use "
                       "--decoder-dtype float32, or mixed with --dtype float16$"):
        resolve_decoder_precision("mixed", torch.float32, "cuda")
    assert resolve_decoder_precision("mixed", torch.float16, "cuda") == (torch.float32,
                                                                         torch.float16)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_decoder_precision("mixed", torch.float32, "cuda") == (torch.float32,
                                                                         torch.bfloat16)


# ----------------------------------------------------------------------------- predictor


def test_predict_before_set_image_fails(mobile_sam_pair):
    predictor = Predictor(mobile_sam_pair[0])
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict(boxes=torch.zeros(1, 4))
    with pytest.raises(RuntimeError, match="set_image"):
        _ = predictor.image_embedding
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.upscale(torch.zeros(1, 1, 256, 256))


def test_bad_images_are_input_errors(mobile_sam_predictors):
    predictor, _ = mobile_sam_predictors
    model = predictor.model
    fresh = Predictor(model)
    for bad in (
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
    ):
        with pytest.raises(InputError):
            fresh.set_image(bad)


def test_sizes_shapes_and_dtypes(mobile_sam_predictors, chelsea_image):
    predictor, _ = mobile_sam_predictors
    assert predictor.original_size == (300, 451)
    assert predictor.input_size == (681, 1024)
    assert predictor.image_embedding.shape == (1, 256, 64, 64)
    boxes = torch.tensor([[10.0, 10.0, 200.0, 150.0], [100.0, 50.0, 450.0, 299.0]])
    low, iou = predictor.predict(boxes=boxes)
    assert low.dtype == iou.dtype == torch.float32
    assert low.shape == (2, 3, 256, 256) and iou.shape == (2, 3)
    low1, iou1 = predictor.predict(boxes=boxes.numpy(), multimask_output=False)
    assert low1.shape == (2, 1, 256, 256) and iou1.shape == (2, 1)
    up = predictor.upscale(low)
    assert up.shape == (2, 3, 300, 451) and up.dtype == torch.float32


def test_prompt_shape_errors(mobile_sam_predictors):
    predictor, _ = mobile_sam_predictors
    with pytest.raises(ValueError, match="point_labels"):
        predictor.predict(point_coords=torch.zeros(1, 1, 2))
    with pytest.raises(ValueError, match=r"\(B, N, 2\)"):
        predictor.predict(point_coords=torch.zeros(1, 2), point_labels=torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        predictor.predict(boxes=torch.zeros(4))
    with pytest.raises(ValueError, match="same batch size"):
        predictor.predict(torch.zeros(2, 1, 2), torch.ones(2, 1), torch.zeros(3, 4))


def test_batch_equals_one_by_one(mobile_sam_predictors):
    """Prompts decoded together give the same result as decoded alone (broadcast paths)."""
    predictor, _ = mobile_sam_predictors
    coords = torch.tensor([[[50.0, 60.0], [300.0, 200.0]], [[400.0, 20.0], [10.0, 290.0]],
                           [[225.0, 150.0], [226.0, 151.0]]])
    labels = torch.tensor([[1, 0], [1, 1], [1, 0]])
    boxes = torch.tensor([[0.0, 0.0, 450.0, 299.0], [40.0, 40.0, 100.0, 90.0],
                          [200.0, 100.0, 260.0, 210.0]])
    for kwargs in (dict(point_coords=coords, point_labels=labels), dict(boxes=boxes),
                   dict(point_coords=coords, point_labels=labels, boxes=boxes)):
        low, iou = predictor.predict(**kwargs)
        for i in range(3):
            one = {k: v[i : i + 1] for k, v in kwargs.items()}
            low_i, iou_i = predictor.predict(**one)
            torch.testing.assert_close(low_i, low[i : i + 1], atol=2e-5, rtol=0)
            torch.testing.assert_close(iou_i, iou[i : i + 1], atol=2e-5, rtol=0)


# Original image sizes (H, W) for upscale vs the reference post-processing.
UPSCALE_SIZES = [
    ("512 square: the exact 2x frame downsampling", (512, 512)),
    ("landscape, frame ratio 1.7", (400, 600)),
    ("portrait, odd sizes", (451, 300)),
    ("small: frame ratio 5.3", (97, 192)),
    ("one pixel tall", (1, 300)),
    ("larger than the frame: upsampling", (1500, 2000)),
    ("exactly the frame", (1024, 1024)),
]


@pytest.mark.parametrize("size", [s for _, s in UPSCALE_SIZES], ids=[n for n, _ in UPSCALE_SIZES])
def test_upscale_equals_full_postprocess(mobile_sam_predictors, monkeypatch, size):
    """The separable passes give the reference post-processing's values to float rounding,
    for any image size (the 1-D passes round differently from the 2-D kernel)."""
    predictor, _ = mobile_sam_predictors
    monkeypatch.setattr(predictor, "original_size", size)
    monkeypatch.setattr(predictor, "input_size", predictor.transform.input_size(size))
    low = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 30
    full = predictor.model.postprocess_masks(low, predictor.input_size, size)
    up = predictor.upscale(low)
    assert up.shape == (2, 3, *size) and up.dtype == torch.float32
    torch.testing.assert_close(up, full, atol=1e-4, rtol=0)
    near_zero = full.abs() < 1e-4
    assert torch.equal((up > 0)[~near_zero], (full > 0)[~near_zero])
    assert predictor.upscale(low[:0]).shape == (0, 3, *size)


def test_decoder_sub_batches_change_nothing(mobile_sam_predictors, monkeypatch):
    """The decoder's sub-batching is a memory bound, not a change of method: for any split,
    logits and IoU agree with one call over all prompts to float32 rounding (matrix kernels
    are picked by shape and CPU, so the summation order, not the arithmetic, may differ:
    measured 1.8e-6 on logits of magnitude 2.6), and no mask pixel changes sign unless its
    logit lies within that rounding of zero.

    The steps give the three kinds of split of 32 prompts (samcli.predictor._sub_batches):
    1, raised to the smallest call (eight calls of 4, as steps 3 and 4 would give); 6, whose
    short tail joins the call before it (6, 6, 6, 6, 8); 16, two even calls (as 8 would be)."""
    predictor, _ = mobile_sam_predictors
    n = 32
    coords = torch.tensor([[[float(10 + 13 * i), float(8 + 9 * i)]] for i in range(n)])
    labels = torch.ones(n, 1, dtype=torch.int64)
    monkeypatch.setattr(predictor, "decoder_batch", 0)
    low_all, iou_all = predictor.predict(coords, labels)
    bound = FLOAT32_ROUNDING * max(1.0, low_all.abs().max().item())
    for step in (1, 6, 16):
        monkeypatch.setattr(predictor, "decoder_batch", step)
        low, iou = predictor.predict(coords, labels)
        torch.testing.assert_close(low, low_all, atol=bound, rtol=0, msg=f"step {step}")
        torch.testing.assert_close(iou, iou_all, atol=FLOAT32_ROUNDING, rtol=0)
        flipped = (low > 0) != (low_all > 0)
        assert (low_all[flipped].abs() <= bound).all(), step


@pytest.mark.parametrize("per_pass", [1, 3, 16])
def test_batched_upscaling_stage_equals_banded(mobile_sam_predictors, monkeypatch, per_pass):
    """The decoder's upscaling stage as run on accelerators (prompts together, all rows at
    once), forced on the CPU: the same logits as the CPU's prompt-and-band loop, to float
    rounding (other matrix shapes, other summation order)."""
    import samcli.model.mask_decoder as decoder_module

    predictor, _ = mobile_sam_predictors
    coords = torch.tensor([[[float(30 + 50 * i), float(20 + 30 * i)]] for i in range(7)])
    labels = torch.ones(7, 1, dtype=torch.int64)
    banded = predictor.predict(coords, labels)
    asked = []

    def always_batched(device):
        asked.append(device)
        return True

    monkeypatch.setattr(decoder_module, "_batched_upscale", always_batched)
    monkeypatch.setattr(decoder_module, "_PROMPTS_PER_PASS", per_pass)
    batched = predictor.predict(coords, labels)
    assert asked, "the batched path did not run"
    for a, b in zip(batched, banded):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=0)


def test_upscale_chunks_change_nothing(mobile_sam_predictors, monkeypatch):
    """Upscaling a few masks per pass (a memory bound) gives bitwise the same logits."""
    import samcli.predictor as predictor_module

    predictor, _ = mobile_sam_predictors
    coords = torch.tensor([[[float(30 + 50 * i), float(20 + 30 * i)]] for i in range(5)])
    low, _ = predictor.predict(coords, torch.ones(5, 1, dtype=torch.int64))
    whole = predictor.upscale(low)
    monkeypatch.setattr(predictor_module, "UPSCALE_CHUNK_BYTES", 1)  # one mask per pass
    assert torch.equal(predictor.upscale(low), whole)


def test_bfloat16_close_to_float32(mobile_sam_pair, mobile_sam_predictors, chelsea_image):
    predictor32, _ = mobile_sam_predictors
    model16 = _model_copy(predictor32)
    predictor16 = Predictor(model16, dtype=torch.bfloat16)
    predictor16.set_image(chelsea_image)
    assert next(model16.image_encoder.parameters()).dtype == torch.bfloat16
    emb32, emb16 = predictor32.image_embedding, predictor16.image_embedding
    assert emb16.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(emb32.flatten(), emb16.flatten(), dim=0)
    assert cos > 0.99
    coords = torch.tensor([[[100.0, 100.0]], [[300.0, 200.0]], [[20.0, 280.0]]])
    labels = torch.ones(3, 1, dtype=torch.int64)
    boxes = torch.tensor([[10.0, 10.0, 200.0, 150.0], [100.0, 50.0, 450.0, 299.0],
                          [0.0, 0.0, 450.0, 299.0]])
    prompts = [dict(point_coords=coords, point_labels=labels), dict(boxes=boxes)]
    for mask_iou, iou_err in precision_gaps(predictor32, predictor16, prompts):
        assert mask_iou > 0.9
        assert iou_err < 0.05


def test_bfloat16_encoder_with_float32_decoder(mobile_sam_predictors, chelsea_image):
    """decoder_dtype=float32 after a bfloat16 encoder: the decoder is the float32 one, fed the
    bfloat16 embedding, so its outputs equal the float32 predictor's on that embedding."""
    predictor32, _ = mobile_sam_predictors
    model = _model_copy(predictor32)
    mixed = Predictor(model, dtype=torch.bfloat16, decoder_dtype=torch.float32)
    assert next(model.image_encoder.parameters()).dtype == torch.bfloat16
    assert next(model.mask_decoder.parameters()).dtype == torch.float32
    mixed.set_image(chelsea_image)
    assert mixed._features.dtype == torch.float32

    coords = torch.tensor([[[100.0, 100.0]], [[300.0, 200.0]], [[20.0, 280.0]]])
    labels = torch.ones(3, 1, dtype=torch.int64)
    low, iou = mixed.predict(coords, labels)
    saved = predictor32._features
    try:
        predictor32._features = mixed._features  # the float32 decoder on the same embedding
        low32, iou32 = predictor32.predict(coords, labels)
    finally:
        predictor32._features = saved
    assert torch.equal(low, low32) and torch.equal(iou, iou32)
    assert not torch.equal(mixed._features, saved)  # the encoder did run in bfloat16


BF16, F16, F32 = torch.bfloat16, torch.float16, torch.float32


@pytest.mark.parametrize(
    "label, spec, dtype, device, expected",
    [
        ("auto, float32 on the CPU: all float32", "auto", F32, "cpu", (F32, None)),
        ("auto, bfloat16 on the CPU: mixed", "auto", BF16, "cpu", (F32, BF16)),
        ("empty is auto", " ", BF16, "cpu", (F32, BF16)),
        ("auto, bfloat16 on CUDA: as --dtype", "auto", BF16, "cuda", (BF16, None)),
        ("auto, float16 on CUDA: as --dtype", "auto", F16, "cuda", (F16, None)),
        ("mixed after float32: bfloat16 products", "mixed", F32, "cpu", (F32, BF16)),
        ("mixed after float16: float16 products", "MIXED", F16, "cuda", (F32, F16)),
        ("plain float32", "float32", BF16, "cpu", (F32, None)),
        ("plain bfloat16", "bf16", F32, "cpu", (BF16, None)),
    ],
)
def test_resolve_decoder_precision(label, spec, dtype, device, expected):
    from samcli.predictor import resolve_decoder_precision

    assert resolve_decoder_precision(spec, dtype, device) == expected, label


@pytest.mark.parametrize("spec, needle", [
    ("half-ish", "unknown --decoder-dtype 'half-ish'; use auto, mixed, float32"),
    ("float16", "--decoder-dtype float16 is not supported on the CPU"),
])
def test_resolve_decoder_precision_errors(spec, needle):
    from samcli.errors import SamcliError
    from samcli.predictor import resolve_decoder_precision

    with pytest.raises(SamcliError) as err:
        resolve_decoder_precision(spec, torch.float32, "cpu")
    assert needle in str(err.value)


def test_mixed_decoder_close_to_float32(mobile_sam_predictors):
    """A float32 decoder with bfloat16 image-token products, on the float32 embedding: not
    the float32 decoder's numbers (the products did run in bfloat16), but close to them;
    products in the decoder's own dtype are exactly the plain decoder."""
    predictor32, _ = mobile_sam_predictors
    model = _model_copy(predictor32)
    mixed = Predictor(model, decoder_products=torch.bfloat16)
    same = Predictor(_model_copy(predictor32), decoder_products=torch.float32)
    assert mixed.decoder_products == torch.bfloat16 and same.decoder_products is None
    for p in (mixed, same):
        p._features, p._dense_pe = predictor32._features, predictor32._dense_pe
        p.original_size, p.input_size = predictor32.original_size, predictor32.input_size
    coords = torch.tensor([[[100.0, 100.0]], [[300.0, 200.0]], [[20.0, 280.0]]])
    labels = torch.ones(3, 1, dtype=torch.int64)
    boxes = torch.tensor([[10.0, 10.0, 200.0, 150.0], [100.0, 50.0, 450.0, 299.0],
                          [0.0, 0.0, 450.0, 299.0]])
    prompts = [dict(point_coords=coords, point_labels=labels), dict(boxes=boxes),
               dict(boxes=boxes[:1])]
    for kwargs in prompts:
        low32, iou32 = predictor32.predict(**kwargs)
        low, iou = mixed.predict(**kwargs)
        assert not torch.equal(low, low32)
        torch.testing.assert_close(low, low32, atol=0.05 * low32.abs().max().item(), rtol=0)
        torch.testing.assert_close(iou, iou32, atol=0.02, rtol=0)
        low_s, iou_s = same.predict(**kwargs)
        assert torch.equal(low_s, low32) and torch.equal(iou_s, iou32)
    for mask_iou, iou_err in precision_gaps(predictor32, mixed, prompts):
        assert mask_iou > 0.97
        assert iou_err < 0.02


def test_upscaler_first_product_from_the_image_history(mobile_sam_predictors, monkeypatch):
    """With a float32 decoder and image-token products in bfloat16 (mixed, CPU), the upscaler's
    first product is made from the image tokens' low-rank history: the same logits as the
    plain product of the final tokens, to float32 rounding."""
    import samcli.model.mask_decoder as decoder_module

    predictor32, _ = mobile_sam_predictors
    mixed = Predictor(_model_copy(predictor32), decoder_products=torch.bfloat16)
    mixed._features, mixed._dense_pe = predictor32._features, predictor32._dense_pe
    mixed.original_size, mixed.input_size = predictor32.original_size, predictor32.input_size
    coords = torch.tensor([[[float(30 + 50 * i), float(20 + 30 * i)]] for i in range(5)])
    labels = torch.ones(5, 1, dtype=torch.int64)
    made = note_image_histories(monkeypatch, decoder_module)
    low, iou = mixed.predict(coords, labels)
    assert made and len(made[0].updates) == 2, "the history route did not run"
    monkeypatch.setattr(decoder_module, "first_upscale_product", lambda *args: None)
    plain_low, plain_iou = mixed.predict(coords, labels)
    assert not torch.equal(low, plain_low)  # another summation, so other rounding
    torch.testing.assert_close(low, plain_low, atol=2e-5 * plain_low.abs().max().item(), rtol=0)
    assert torch.equal(iou, plain_iou)


def test_mixed_decoder_batch_equals_one_by_one(mobile_sam_predictors):
    """Mixed precision takes the same path for one prompt as for a batch (per-prompt image
    keys in bfloat16 from the first image update on), so batching changes only rounding: the
    bfloat16 products may be computed by other kernels (AMX or AVX-512, by shape), whose
    float32 accumulation order differs, so logits agree to half a bfloat16 ulp of the largest
    logit (2^-9 relative; measured 7e-4 relative on an AMX CPU) and IoU to float32 rounding."""
    predictor32, _ = mobile_sam_predictors
    mixed = Predictor(_model_copy(predictor32), decoder_products=torch.bfloat16)
    mixed._features, mixed._dense_pe = predictor32._features, predictor32._dense_pe
    mixed.original_size, mixed.input_size = predictor32.original_size, predictor32.input_size
    boxes = torch.tensor([[0.0, 0.0, 450.0, 299.0], [40.0, 40.0, 100.0, 90.0]])
    low, iou = mixed.predict(boxes=boxes)
    for i in range(2):
        low_i, iou_i = mixed.predict(boxes=boxes[i : i + 1])
        bound = BFLOAT16_HALF_ULP * low[i].abs().max().item()
        torch.testing.assert_close(low_i, low[i : i + 1], atol=bound, rtol=0)
        torch.testing.assert_close(iou_i, iou[i : i + 1], atol=1e-4, rtol=0)


@pytest.mark.parametrize("label, size, mixed, skipped", [
    ("landscape: rows below the image skipped", (300, 451), False, "rows"),
    ("portrait: columns right of it skipped", (451, 300), False, "cols"),
    ("square: nothing to skip", (500, 500), False, None),
    ("landscape, mixed decoder (first product from the history)", (300, 451), True, "rows"),
    ("portrait, mixed decoder", (451, 300), True, "cols"),
])
def test_upscaled_only_skips_the_padding(mobile_sam_predictors, monkeypatch, label, size, mixed,
                                          skipped):
    """``predict(upscaled_only=True)`` (the promise everything-mode and from-boxes make) upscales
    only the grid rows and columns whose logits ``upscale`` reads: those logits are bitwise
    the ones of a plain ``predict`` (each band row is computed on its own), everything past
    the grid pixels that hold them is NaN, and the upscaled masks are bitwise the same."""
    predictor, _ = mobile_sam_predictors
    if mixed:
        p = Predictor(_model_copy(predictor), decoder_products=torch.bfloat16)
        p._features, p._dense_pe = predictor._features, predictor._dense_pe
        predictor = p
    monkeypatch.setattr(predictor, "original_size", size)
    monkeypatch.setattr(predictor, "input_size", predictor.transform.input_size(size))
    coords = torch.tensor([[[float(3 + 7 * i) % size[1], float(5 + 11 * i) % size[0]]]
                           for i in range(3)])
    labels = torch.ones(3, 1, dtype=torch.int64)
    plain_low, plain_iou = predictor.predict(coords, labels)
    low, iou = predictor.predict(coords, labels, upscaled_only=True)
    rows, cols = predictor.read_extent(low.shape[-2:])
    assert (rows < 256, cols < 256) == (skipped == "rows", skipped == "cols"), label
    kept_rows, kept_cols = -(-rows // 4) * 4, -(-cols // 4) * 4  # whole grid pixels
    assert torch.equal(low[..., :kept_rows, :kept_cols], plain_low[..., :kept_rows, :kept_cols])
    assert low[..., kept_rows:, :].isnan().all() and low[..., :, kept_cols:].isnan().all()
    assert torch.equal(iou, plain_iou)
    assert torch.equal(predictor.upscale(low), predictor.upscale(plain_low)), label
