"""CUDA: the GPU path gives the reference's numbers, and the half precisions stay close.

Skipped where no CUDA device is visible (CI has none). On a GPU machine, from the repository
root: ``python -m pytest -q -s tests/test_cuda.py`` (``-s`` shows the measured errors).

Both sides run on the same GPU with TF32 switched off (``allow_tf32`` for matmuls and cuDNN
convolutions), so float32 means float32 there too; kernels still differ (fused attention,
other reduction orders), so values get 1e-3 (embedding, logits; an H200 measured 1.3e-5 and
6e-6) and 1e-4 (predicted IoU; measured 1.1e-6), and mask sets are compared as in
:func:`tests.test_automask.assert_same_masks`. bfloat16 and float16 are compared with our own
float32 on the GPU, prompt by prompt (mask IoU and predicted IoU), as on the CPU.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from samcli.automask import generate
from samcli.config import AutomaskConfig
from samcli.from_boxes import BoxPrompts, segment_boxes
from samcli.predictor import Predictor
from tests.commands.conftest import FAST, confident_mobile_sam, invoke, jsonl, write_image
from tests.test_automask import CROPS, WHOLE, _MemoGenerator, assert_same_masks

# SAMCLI_TEST_GPU=cpu runs these tests on the CPU instead: a check of the tests themselves.
CUDA = torch.device(os.environ.get("SAMCLI_TEST_GPU", "cuda"))
pytestmark = pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA device")
EMBED_ATOL = 1e-3  # image embedding, float32 on both sides: 24 transformer blocks of sums
LOGIT_ATOL = 1e-3  # low-res and full-size mask logits
IOU_ATOL = 1e-4  # predicted IoU


@pytest.fixture(scope="module", autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _max_err(ours: torch.Tensor, ref: torch.Tensor, what: str) -> float:
    assert ours.shape == ref.shape, what
    err = (ours.float().cpu() - ref.float().cpu()).abs().max().item()
    print(f"\n{what}: max abs error {err:.3g} (reference max |x| {ref.abs().max().item():.3g})")
    return err


# ----------------------------------------------------------------------------- predictor


@pytest.fixture(scope="module")
def vit_b_on_cuda(coffee_image):
    """(our Predictor, reference SamPredictor): vit_b, same seeded weights, on the GPU."""
    from segment_anything.predictor import SamPredictor

    from tests.factories import make_model_pair

    ours, ref = make_model_pair("vit_b", seed=0)
    predictor = Predictor(ours, device=CUDA)
    predictor.set_image(coffee_image)
    reference = SamPredictor(ref.to(CUDA))
    reference.set_image(coffee_image)
    return predictor, reference


def test_predictor_matches_reference_on_cuda(vit_b_on_cuda, coffee_image):
    predictor, reference = vit_b_on_cuda
    assert predictor.image_embedding.device.type == CUDA.type
    assert _max_err(predictor.image_embedding, reference.features, "embedding") <= EMBED_ATOL

    h, w = coffee_image.shape[:2]
    coords = torch.tensor([[[100.0, 100.0]], [[300.0, 200.0]], [[550.0, 380.0]]])
    labels = torch.ones(3, 1, dtype=torch.int64)
    boxes = torch.tensor([[10.0, 10.0, 200.0, 150.0], [100.0, 50.0, 590.0, 399.0],
                          [0.0, 0.0, 599.0, 399.0]])
    t = reference.transform
    for kind, kwargs, ref_kwargs in (
        ("points", dict(point_coords=coords, point_labels=labels),
         dict(point_coords=t.apply_coords_torch(coords, (h, w)).to(CUDA),
              point_labels=labels.to(CUDA))),
        ("boxes", dict(boxes=boxes),
         dict(point_coords=None, point_labels=None,
              boxes=t.apply_boxes_torch(boxes, (h, w)).to(CUDA))),
    ):
        low, iou = predictor.predict(**kwargs)
        with torch.inference_mode():
            full_ref, iou_ref, low_ref = reference.predict_torch(
                **ref_kwargs, multimask_output=True, return_logits=True)
        assert low.dtype == iou.dtype == torch.float32
        assert _max_err(low, low_ref, f"{kind}: low-res logits") <= LOGIT_ATOL
        assert _max_err(iou, iou_ref, f"{kind}: predicted IoU") <= IOU_ATOL
        full = predictor.upscale(low)
        assert full.device.type == CUDA.type
        assert _max_err(full, full_ref, f"{kind}: full-size logits") <= LOGIT_ATOL


@pytest.mark.parametrize("label, dtype, decoder, products", [
    ("bfloat16", torch.bfloat16, None, None),
    ("float16", torch.float16, None, None),
    ("bfloat16 encoder, float32 decoder", torch.bfloat16, torch.float32, None),
    ("bfloat16 encoder, mixed decoder", torch.bfloat16, torch.float32, torch.bfloat16),
])
def test_half_precisions_close_to_float32_on_cuda(vit_b_on_cuda, coffee_image, label, dtype,
                                                  decoder, products):
    from tests.factories import make_model, precision_gaps

    predictor32, _ = vit_b_on_cuda
    half = Predictor(make_model("vit_b", seed=0), device=CUDA, dtype=dtype,
                     decoder_dtype=decoder, decoder_products=products)
    half.set_image(coffee_image)
    cos = torch.nn.functional.cosine_similarity(
        predictor32.image_embedding.flatten(), half.image_embedding.flatten(), dim=0)
    print(f"\n{label}: embedding cosine {cos.item():.5f}")
    assert cos > 0.99
    coords = torch.tensor([[[100.0, 100.0]], [[300.0, 200.0]], [[550.0, 380.0]]])
    labels = torch.ones(3, 1, dtype=torch.int64)
    boxes = torch.tensor([[10.0, 10.0, 200.0, 150.0], [100.0, 50.0, 590.0, 399.0],
                          [0.0, 0.0, 599.0, 399.0]])
    prompts = [dict(point_coords=coords, point_labels=labels), dict(boxes=boxes)]
    for mask_iou, iou_err in precision_gaps(predictor32, half, prompts):
        print(f"{label}: min mask IoU {mask_iou:.4f}, max predicted-IoU error {iou_err:.4f}")
        assert mask_iou > 0.9
        assert iou_err < 0.05


# ----------------------------------------------------------------------------- everything-mode


@pytest.fixture(scope="module")
def automask_on_cuda():
    """(our Predictor, memoised reference generator): the small everything-mode test model."""
    from tests.automask_models import make_automask_pair

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ref = make_automask_pair(seed=0)
    return Predictor(ours, device=CUDA), _MemoGenerator(ref.to(CUDA))


@pytest.mark.parametrize("label, params", [("whole image", WHOLE), ("crop layer", CROPS)])
def test_automask_matches_reference_on_cuda(automask_on_cuda, chelsea_image, label, params):
    predictor, reference = automask_on_cuda
    masks = generate(predictor, chelsea_image, AutomaskConfig(**params))
    records = reference.records(chelsea_image, **params)
    print(f"\n{label}: {len(masks)} masks, reference {len(records)}")
    assert len(masks) >= 10, "the test model should keep many masks"
    assert_same_masks(masks, records)


def test_automask_cuda_equals_cpu(automask_on_cuda, chelsea_image):
    """The GPU's output matches our CPU's: same weights and image, same mask set."""
    from tests.automask_models import make_automask_model

    on_gpu = generate(automask_on_cuda[0], chelsea_image, AutomaskConfig(**WHOLE))
    on_cpu = generate(Predictor(make_automask_model(seed=0)), chelsea_image,
                      AutomaskConfig(**WHOLE))
    assert_same_as_cpu(on_gpu, on_cpu)


def assert_same_as_cpu(on_gpu, on_cpu) -> None:
    """Two MaskSets of the same run on the GPU and on the CPU: the same count, each GPU mask
    matching a CPU mask at IoU >= 0.99 (nearly all pixel-identical), the same predicted IoU
    to 1e-4 in the same order."""
    from pycocotools import mask as mask_utils

    assert len(on_gpu) == len(on_cpu)
    ious = mask_utils.iou(on_gpu.rles, on_cpu.rles, [0] * len(on_cpu))
    best = ious.max(axis=1)
    print(f"\nCUDA vs CPU: {len(on_gpu)} masks, min best IoU {best.min():.4f}, "
          f"pixel-identical {(best == 1.0).mean():.3f}")
    assert best.min() >= 0.99
    np.testing.assert_allclose(on_gpu.predicted_iou, on_cpu.predicted_iou, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- box prompts


def test_box_prompts_match_reference_on_cuda(chelsea_image):
    mobile_sam = pytest.importorskip("mobile_sam")
    ours = confident_mobile_sam(seed=1)
    ref = mobile_sam.sam_model_registry["vit_t"](checkpoint=None)
    ref.load_state_dict(ours.state_dict(), strict=True)
    ref.eval().to(CUDA)
    predictor = Predictor(ours, device=CUDA)
    predictor.set_image(chelsea_image)
    ref_predictor = mobile_sam.SamPredictor(ref)
    ref_predictor.set_image(chelsea_image)

    h, w = chelsea_image.shape[:2]
    xyxy = np.array([[10, 20, 200, 250], [150, 40, 440, 290], [0, 0, 451, 300],
                     [300.5, 100.25, 420.75, 180.5]], dtype=np.float64)
    prompts = BoxPrompts(xyxy, np.arange(len(xyxy)), np.full(len(xyxy), 0.5))
    masks, _ = segment_boxes(predictor, prompts, (h, w), multimask=True, batch_size=3)
    with torch.inference_mode():
        tb = ref_predictor.transform.apply_boxes_torch(
            torch.as_tensor(xyxy, dtype=torch.float32), (h, w)).to(CUDA)
        ref_masks, ref_iou, _ = ref_predictor.predict_torch(None, None, boxes=tb,
                                                            multimask_output=True)
    best = ref_iou.argmax(dim=1)
    rows = torch.arange(len(xyxy), device=CUDA)
    ref_masks, ref_iou = ref_masks[rows, best].cpu().numpy(), ref_iou[rows, best].cpu().numpy()
    ours_masks = np.stack([masks.mask(i) for i in range(len(masks))])
    inter = (ours_masks & ref_masks).sum(axis=(1, 2))
    union = np.maximum((ours_masks | ref_masks).sum(axis=(1, 2)), 1)
    print(f"\nbox prompts: min mask IoU {(inter / union).min():.4f}")
    assert ref_masks.any(axis=(1, 2)).all()
    assert (inter / union >= 0.99).all()
    np.testing.assert_allclose(masks.predicted_iou, ref_iou, atol=IOU_ATOL)


# ----------------------------------------------------------------------------- command line


def test_cli_automask_on_cuda_equals_cpu(tmp_path, mobile_ckpt):
    """``--device cuda`` end to end (float32, to compare with the CPU run record by record;
    ``--dtype auto`` would pick bfloat16 on this GPU)."""
    for i in range(2):
        write_image(tmp_path / "in" / f"{i}.png", h=96, w=128, seed=i)
    runs = {}
    for device in (str(CUDA), "cpu"):
        result = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                        "--device", device, "--dtype", "float32")
        assert result.exit_code == 0, result.stderr
        runs[device] = jsonl(result.stdout)
    assert runs[str(CUDA)], "the test model should give proposals"
    assert len(runs[str(CUDA)]) == len(runs["cpu"])
    for a, b in zip(runs[str(CUDA)], runs["cpu"]):
        assert a["image"] == b["image"]
        assert abs(a["area"] - b["area"]) <= max(2, 0.01 * b["area"])
        assert abs(a["predicted_iou"] - b["predicted_iou"]) <= 1e-3

    auto = invoke("automask", tmp_path / "in", "--checkpoint", mobile_ckpt, *FAST,
                  "--device", str(CUDA))
    assert auto.exit_code == 0, auto.stderr
    assert jsonl(auto.stdout)
