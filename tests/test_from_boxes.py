"""Box prompts: masks equal the reference SamPredictor.predict_torch on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samcli.from_boxes import BoxPrompts, box_iou, segment_boxes
from samcli.predictor import Predictor
from tests.commands.conftest import confident_mobile_sam

mobile_sam = pytest.importorskip("mobile_sam")
skdata = pytest.importorskip("skimage.data")

BOXES = np.array([
    [10, 20, 200, 250],
    [150, 40, 440, 290],
    [0, 0, 451, 300],
    [300.5, 100.25, 420.75, 180.5],
    [50, 150, 120, 299],
], dtype=np.float64)


@pytest.fixture(scope="module")
def pair():
    ours = confident_mobile_sam(seed=1)
    ref = mobile_sam.sam_model_registry["vit_t"](checkpoint=None)
    ref.load_state_dict(ours.state_dict(), strict=True)
    ref.eval()
    image = skdata.chelsea()  # 300 x 451, non-square
    predictor = Predictor(ours)
    predictor.set_image(image)
    ref_predictor = mobile_sam.SamPredictor(ref)
    ref_predictor.set_image(image)
    return predictor, ref_predictor, image


def _ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (a & b).sum(axis=(1, 2))
    union = (a | b).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


@pytest.mark.parametrize("multimask", [False, True])
def test_box_masks_match_reference(pair, multimask):
    predictor, ref_predictor, image = pair
    h, w = image.shape[:2]
    prompts = BoxPrompts(BOXES, np.arange(len(BOXES)), np.full(len(BOXES), 0.5))
    masks, extras = segment_boxes(predictor, prompts, (h, w), multimask=multimask, batch_size=2)

    with torch.inference_mode():
        tb = ref_predictor.transform.apply_boxes_torch(torch.as_tensor(BOXES, dtype=torch.float),
                                                       (h, w))
        ref_masks, ref_iou, _ = ref_predictor.predict_torch(None, None, boxes=tb,
                                                            multimask_output=multimask)
    best = ref_iou.argmax(dim=1)
    rows = torch.arange(len(BOXES))
    ref_masks, ref_iou = ref_masks[rows, best].numpy(), ref_iou[rows, best].numpy()

    ours = np.stack([masks.mask(i) for i in range(len(masks))])
    assert len(masks) == len(BOXES)
    assert ref_masks.any(axis=(1, 2)).all(), "test model should give non-empty masks"
    assert (_ious(ours, ref_masks) >= 0.99).all()
    np.testing.assert_allclose(masks.predicted_iou, ref_iou, atol=1e-4)
    assert [e["class"] for e in extras] == list(range(len(BOXES)))
    assert all(e["box_confidence"] == 0.5 for e in extras)
    assert all(0 <= e["box_iou"] <= 1 for e in extras)


def test_chunking_changes_nothing(pair):
    predictor, _, image = pair
    prompts = BoxPrompts(BOXES, np.zeros(len(BOXES)), np.full(len(BOXES), np.nan))
    a, ea = segment_boxes(predictor, prompts, image.shape[:2])
    b, eb = segment_boxes(predictor, prompts, image.shape[:2], batch_size=1,
                          max_chunk_bytes=1)
    assert a.rles == b.rles and ea == eb
    assert all(e["box_confidence"] is None for e in ea)


@pytest.mark.parametrize(
    "label, a, b, expected",
    [
        ("identical", [0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ("half overlap", [0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ("disjoint", [0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ("degenerate", [0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_box_iou(label, a, b, expected):
    got = box_iou(np.array([a], float), np.array([b], float))[0]
    assert got == pytest.approx(expected), label


# ----------------------------------------------------------------------------- SAM 2


@pytest.fixture(scope="module")
def sam2_pair(one_thread):
    """(our Sam2Predictor, the reference SAM2ImagePredictor), chelsea set on both:
    sam2.1_hiera_tiny with seeded random weights at a 256 model input
    (:func:`tests.sam2_factories.small_input_arch`; parity at 1024 is
    tests/test_predictor_sam2.py's), on one intra-op thread."""
    from samcli.predictor_sam2 import Sam2Predictor
    from tests.sam2_factories import fit_reference_predictor, make_sam2_pair, quiet

    with quiet():
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        ours, ref = make_sam2_pair("sam2.1_hiera_tiny", seed=0, image_size=256)
    image = skdata.chelsea()
    predictor = Sam2Predictor(ours)
    predictor.set_image(image)
    with quiet(), torch.inference_mode():
        reference = SAM2ImagePredictor(ref)
        fit_reference_predictor(reference)
        reference.set_image(image)
    return predictor, reference, image


@pytest.mark.parametrize("multimask", [False, True], ids=["single", "multimask"])
def test_sam2_box_masks_match_the_reference(sam2_pair, multimask):
    """segment_boxes with a SAM 2 predictor equals ``SAM2ImagePredictor.predict(box=...)``
    (binary masks, cut at its mask_threshold 0), the best candidate by predicted IoU."""
    from tests.sam2_factories import quiet

    predictor, reference, image = sam2_pair
    h, w = image.shape[:2]
    prompts = BoxPrompts(BOXES, np.arange(len(BOXES)), np.full(len(BOXES), 0.5))
    masks, extras = segment_boxes(predictor, prompts, (h, w), multimask=multimask, batch_size=2)
    with quiet(), torch.inference_mode():
        ref_masks, ref_iou, _ = reference.predict(box=BOXES, multimask_output=multimask)
    # (thresholded, then returned as float 0/1)
    assert set(np.unique(ref_masks)) <= {0.0, 1.0}
    assert ref_masks.shape[:2] == (len(BOXES), 3 if multimask else 1)
    ref_masks = ref_masks > 0.5
    best = ref_iou.argmax(axis=1)
    rows = np.arange(len(BOXES))
    ref_masks, ref_iou = ref_masks[rows, best], ref_iou[rows, best]
    ours = np.stack([masks.mask(i) for i in range(len(masks))])
    assert len(masks) == len(BOXES)
    assert ref_masks.any(axis=(1, 2)).all() and not ref_masks.all(axis=(1, 2)).any()
    ious = _ious(ours, ref_masks)
    assert (ious >= 0.99).all(), ious
    assert (ious == 1.0).mean() >= 0.6, ious  # nearly all pixel-identical
    np.testing.assert_allclose(masks.predicted_iou, ref_iou, atol=1e-4)
    assert [e["class"] for e in extras] == list(range(len(BOXES)))
