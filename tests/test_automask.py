"""Everything-mode parity with the reference ``segment_anything.SamAutomaticMaskGenerator``.

Both sides run the same weights (:mod:`tests.automask_models`: a small SAM wired to give
dozens of confident, distinct masks per image) on a real photo with the same parameters;
the tests compare the whole output: count, order, masks (one to one at IoU >= 0.99, and
nearly all pixel-identical), boxes, areas, predicted IoU (1e-4), stability (1e-3), prompt
points and crop boxes. Unit tests
compare the building blocks (point grid, crop boxes, stability score, small-region cleanup)
with the reference's own functions.

Cost: the reference decoder is slow on a CPU (about 0.2 s a prompt here), so each
configuration is generated once per module, and configurations that differ only in
``min_region_area`` share the reference's mask generation (see ``_MemoGenerator``). The
module runs on one intra-op thread (tests/conftest.py's ``one_thread``): on the shared
2-core test machine the decoders' many small operations mostly synchronise threads
otherwise (measured under load: 287 s for the module on two threads, 101 s on one).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from samcli.automask import clean_small_regions, crop_boxes, generate, point_grid
from samcli.config import AutomaskConfig
from samcli.maskset import MaskSet, encode_masks
from samcli.predictor import Predictor
from tests.test_decode import _random_masks


def _amg():
    """The reference's ``automatic_mask_generator`` and ``utils.amg`` modules (imported lazily:
    ``segment_anything`` pulls in torchvision)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from segment_anything import automatic_mask_generator
        from segment_anything.utils import amg
    return automatic_mask_generator, amg


pytestmark = pytest.mark.usefixtures("one_thread")

# Configurations (samcli names; the reference's ``min_mask_region_area`` is ``min_region_area``).
# Thresholds are the reference defaults (pred IoU 0.88, stability 0.95, box NMS 0.7).
WHOLE = dict(points_per_side=8, points_per_batch=24)  # 64 prompts in 3 batches: 24, 24, 16
CROPS = dict(points_per_side=4, points_per_batch=10, crop_n_layers=1,
             crop_n_points_downscale_factor=2)  # whole image: 16 prompts, 4 crops: 4 each
CLEAN = dict(WHOLE, min_region_area=100)  # + holes/islands cleanup and a second NMS

PRED_IOU_ATOL = 1e-4
STABILITY_ATOL = 1e-3
MASK_IOU_MIN = 0.99


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def automask_pair():
    """(ours, reference): the small everything-mode test model, identical weights."""
    from tests.automask_models import make_automask_pair

    return make_automask_pair(seed=0)


@pytest.fixture(scope="module")
def predictor(automask_pair):
    return Predictor(automask_pair[0])


class _MemoGenerator:
    """Builds reference generators whose mask generation is memoised per parameter set.

    ``SamAutomaticMaskGenerator.generate`` is ``_generate_masks`` (model, filters, NMS within
    and across crops) followed by the ``min_mask_region_area`` cleanup and record writing.
    Configurations that differ only in ``min_mask_region_area`` share the first part; the
    rest of ``generate`` runs unchanged on a deep copy (the cleanup edits its input).
    """

    def __init__(self, model) -> None:
        self.model = model
        self.cache: dict = {}

    def records(self, image: np.ndarray, **params) -> list[dict]:
        amg_module, _ = _amg()
        cache = self.cache
        params = dict(params)
        params["min_mask_region_area"] = params.pop("min_region_area", 0)
        key = tuple(sorted((k, v) for k, v in params.items() if k != "min_mask_region_area"))

        class Memo(amg_module.SamAutomaticMaskGenerator):
            def _generate_masks(self, im):
                if key not in cache:
                    cache[key] = super()._generate_masks(im)
                return copy.deepcopy(cache[key])

        return Memo(self.model, output_mode="coco_rle", **params).generate(image)


@pytest.fixture(scope="module")
def reference(automask_pair):
    return _MemoGenerator(automask_pair[1])


@pytest.fixture(scope="module")
def whole_run(predictor, chelsea_image):
    """Our MaskSet for WHOLE, and the on_batch progress calls it made."""
    calls = []
    masks = generate(predictor, chelsea_image, AutomaskConfig(**WHOLE),
                     on_batch=lambda done, total: calls.append((done, total)))
    return masks, calls


@pytest.fixture(scope="module")
def whole_reference(reference, chelsea_image):
    return reference.records(chelsea_image, **WHOLE)


@pytest.fixture(scope="module")
def crops_run(predictor, chelsea_image):
    """Our MaskSet for CROPS."""
    return generate(predictor, chelsea_image, AutomaskConfig(**CROPS))


# ----------------------------------------------------------------------------- comparison


def _rle(record: dict) -> dict:
    seg = record["segmentation"]
    return {"size": seg["size"], "counts": seg["counts"].encode()}


def assert_same_masks(ours: MaskSet, records: list[dict], point_atol: float = 1e-6) -> None:
    """Our MaskSet equals the reference generator's records (see the module docstring).

    ``point_atol``: SAM 2's generator reports its prompt points in float32 (samcli keeps the
    float64 grid points), so its comparisons allow float32 rounding of the pixel coordinates.
    """
    assert len(ours) == len(records), f"{len(ours)} masks, reference {len(records)}"
    n = len(records)
    if n == 0:
        return
    h, w = ours.image_size
    assert all(r["segmentation"]["size"] == [h, w] for r in records)
    ref_rles = [_rle(r) for r in records]

    # Every mask matched one to one at IoU >= 0.99
    ious = mask_utils.iou(ours.rles, ref_rles, [0] * n)
    perm = np.argmax(ious, axis=1)
    best = ious[np.arange(n), perm]
    assert best.min() >= MASK_IOU_MIN, f"mask {int(best.argmin())}: best IoU {best.min():.4f}"
    assert len(set(perm.tolist())) == n, "two of our masks match the same reference mask"

    # Same order; only masks whose scores tie within float rounding may trade places
    ref_iou = np.array([r["predicted_iou"] for r in records])
    for i in np.flatnonzero(perm != np.arange(n)):
        assert abs(ref_iou[perm[i]] - ref_iou[i]) <= 1e-5, (
            f"order differs at {i}: ours is the reference's {perm[i]}"
        )

    ref = [records[j] for j in perm]  # the reference records in our order
    np.testing.assert_allclose(ours.predicted_iou, [r["predicted_iou"] for r in ref],
                               atol=PRED_IOU_ATOL, rtol=0)
    np.testing.assert_allclose(ours.stability_score, [r["stability_score"] for r in ref],
                               atol=STABILITY_ATOL, rtol=0)
    # Boxes: ours has inclusive ends (w = x2 - x1 + 1), the reference's xywh has w = x2 - x1.
    # Pixel-identical masks (nearly all) have identical boxes and areas; a pixel whose logit
    # lies within float rounding of the threshold may differ, so the others get a tolerance.
    ref_xywh = np.array([r["bbox"] for r in ref], dtype=np.int64)
    ref_area = np.array([r["area"] for r in ref], dtype=np.int64)
    same = best == 1.0
    assert same.mean() >= 0.9, f"only {int(same.sum())} of {n} masks are pixel-identical"
    ours_xywh = ours.bbox_xywh - np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(ours_xywh[same], ref_xywh[same])
    np.testing.assert_array_equal(ours.areas[same], ref_area[same])
    np.testing.assert_allclose(ours_xywh, ref_xywh, atol=2, rtol=0)
    np.testing.assert_allclose(ours.areas, ref_area, rtol=1 - MASK_IOU_MIN, atol=0)
    np.testing.assert_allclose(ours.points, [r["point_coords"][0] for r in ref], atol=point_atol,
                               rtol=0)
    cb = ours.crop_boxes
    ours_crop_xywh = np.stack([cb[:, 0], cb[:, 1], cb[:, 2] - cb[:, 0], cb[:, 3] - cb[:, 1]], 1)
    np.testing.assert_array_equal(ours_crop_xywh, [r["crop_box"] for r in ref])


# ----------------------------------------------------------------------------- parity


def test_whole_image_parity(whole_run, whole_reference):
    masks, calls = whole_run
    assert len(masks) >= 20, f"the test model should keep dozens of masks, got {len(masks)}"
    assert_same_masks(masks, whole_reference)
    assert calls == [(1, 3), (2, 3), (3, 3)]  # 64 prompts, 24 a batch
    # Distinct, localized masks: none covers more than a quarter of the image
    assert masks.areas.max() < 0.25 * masks.image_size[0] * masks.image_size[1]


def test_crop_layer_parity(crops_run, reference, chelsea_image):
    ours = crops_run
    records = reference.records(chelsea_image, **CROPS)
    assert_same_masks(ours, records)
    h, w = chelsea_image.shape[:2]
    whole = np.all(ours.crop_boxes == [0, 0, w, h], axis=1)
    assert whole.sum() >= 5 and (~whole).sum() >= 5, "masks from both crop layers expected"
    assert len(ours) >= 20


def test_min_region_area_parity(predictor, reference, chelsea_image, whole_run):
    ours = generate(predictor, chelsea_image, AutomaskConfig(**CLEAN))
    records = reference.records(chelsea_image, **CLEAN)
    assert_same_masks(ours, records)
    assert len(ours) >= 20

    # The cleanup had work to do: some masks of the plain run have small holes, some small
    # islands, and those masks changed
    _, amg = _amg()
    before, _ = whole_run
    holes = islands = 0
    for i in range(len(before)):
        m = before.mask(i)
        holes += amg.remove_small_regions(m, CLEAN["min_region_area"], "holes")[1]
        islands += amg.remove_small_regions(m, CLEAN["min_region_area"], "islands")[1]
    assert holes >= 1 and islands >= 1, (holes, islands)
    unchanged = {r["counts"] for r in before.rles}
    assert sum(r["counts"] not in unchanged for r in ours.rles) >= 1


def test_mask_threshold_parity(predictor, automask_pair, chelsea_image):
    """--mask-threshold (SAM 2's generator parameter) with a SAM 1 model: segment_anything's
    generator cuts masks and measures stability at its model's ``mask_threshold``, here set
    to 2.0 on a copy of the reference."""
    params = dict(points_per_side=4, points_per_batch=16)
    ref = copy.deepcopy(automask_pair[1])
    ref.mask_threshold = 2.0
    amg_module, _ = _amg()
    records = amg_module.SamAutomaticMaskGenerator(ref, output_mode="coco_rle",
                                                   **params).generate(chelsea_image)
    ours = generate(predictor, chelsea_image, AutomaskConfig(mask_threshold=2.0, **params))
    assert_same_masks(ours, records)
    assert len(ours) >= 5


#: A predicted-IoU filter near the median of this model's IoUs (0.88 by default), with the
#: stability filter and NMS off, so that every mask that passes it is compared.
STRICT_IOU = dict(WHOLE, pred_iou_thresh=0.92, stability_score_thresh=0.0, box_nms_thresh=1.0)


def note_upscale_plans(mp: pytest.MonkeyPatch, decoder_module) -> list[bool]:
    """Spy on ``decoder_module.upscale_plan`` (through ``mp``): the returned list gets each
    prompt's plan (upscaled or not) of every decoder call with an IoU floor."""
    plans: list[bool] = []
    plan = decoder_module.upscale_plan

    def noted(iou, floor):
        wanted = plan(iou, floor)
        plans.extend(wanted if wanted is not None else [])
        return wanted

    mp.setattr(decoder_module, "upscale_plan", noted)
    return plans


def test_prompts_without_a_passing_mask_are_not_upscaled(predictor, reference, chelsea_image,
                                                         monkeypatch):
    """A third to two thirds of the prompts have no mask above the IoU threshold and skip the
    upscaler (``upscale_plan``; the reference upscales every mask): still the reference's
    masks."""
    import samcli.model.mask_decoder as decoder_module

    plans = note_upscale_plans(monkeypatch, decoder_module)
    ours = generate(predictor, chelsea_image, AutomaskConfig(**STRICT_IOU))
    assert len(plans) == 64 and 1 / 3 <= plans.count(False) / 64 <= 2 / 3, plans.count(False)
    assert len(ours) >= 20
    assert_same_masks(ours, reference.records(chelsea_image, **STRICT_IOU))


#: SAM 2's decoder options with a SAM 1 model: one mask a point (the first decode), then each
#: refined once (mask-to-mask). 9 points, 18 decodes a side.
ONE_MASK_M2M = dict(points_per_side=3, points_per_batch=9)


def _reference_with_decoder_options(model, image: np.ndarray, multimask_output: bool,
                                    use_m2m: bool, passes: list | None = None,
                                    **params) -> list[dict]:
    """segment_anything's generator, its decoding done with ``multimask_output`` and, with
    ``use_m2m``, SAM 2's mask-to-mask step built from its own ``SamPredictor.predict_torch``:
    every candidate decoded again from its point with its own low-res logits (as
    ``SamPredictor`` returns them) as the mask prompt and one output, the refined masks and
    predicted IoUs replacing the first ones before the generator's filters (as
    ``SAM2AutomaticMaskGenerator.refine_with_m2m``). ``passes`` gets each batch's full-size
    logits (first, refined)."""
    amg_module, _ = _amg()
    gen = amg_module.SamAutomaticMaskGenerator(model, output_mode="coco_rle", **params)
    predict = gen.predictor.predict_torch

    def predict_torch(coords, labels, multimask_output=True, return_logits=False):
        masks, iou, low = predict(coords, labels, multimask_output=multimask, return_logits=True)
        if use_m2m:
            n = iou.shape[1]
            first = masks
            masks, iou, low = predict(coords.repeat_interleave(n, 0),
                                      labels.repeat_interleave(n, 0),
                                      mask_input=low.flatten(0, 1)[:, None],
                                      multimask_output=False, return_logits=True)
            masks, iou = masks.unflatten(0, (-1, n)).flatten(1, 2), iou.reshape(-1, n)
            if passes is not None:
                passes.append((first, masks))
        return masks, iou, low

    multimask = multimask_output
    gen.predictor.predict_torch = predict_torch
    return gen.generate(image)


def test_one_mask_and_m2m_parity_with_sam_predictor(predictor, automask_pair, chelsea_image):
    """--no-multimask-output --use-m2m with a SAM 1 model: the masks of segment_anything's
    generator whose decoding does the same steps with its SamPredictor."""
    passes: list = []
    records = _reference_with_decoder_options(automask_pair[1], chelsea_image, False, True,
                                              passes, **ONE_MASK_M2M)
    ours = generate(predictor, chelsea_image,
                    AutomaskConfig(multimask_output=False, use_m2m=True, **ONE_MASK_M2M))
    assert_same_masks(ours, records)
    assert len(ours) >= 5
    # the refinement matters on this model: it moves whole parts of the masks
    (first, refined), = passes
    moved = ((first > 0) != (refined > 0)).flatten(1).float().mean(1)
    assert (moved > 0.01).sum() >= 3, moved


def test_chunking_changes_nothing(predictor, chelsea_image, whole_run, monkeypatch):
    """Full-size upsampled logits processed 3 masks at a time give the same MaskSet as the
    default (on the CPU: each mask made inside its window, samcli.mask_windows)."""
    import samcli.automask as automask_module

    default, _ = whole_run
    h, w = chelsea_image.shape[:2]
    monkeypatch.setattr(automask_module, "_window_resize", lambda predictor, low_res: None)
    small = generate(predictor, chelsea_image, AutomaskConfig(**WHOLE),
                     max_chunk_bytes=3 * 4 * h * w + 1)
    assert len(small) == len(default)
    assert [r["counts"] for r in small.rles] == [r["counts"] for r in default.rles]
    for name in ("boxes", "predicted_iou", "stability_score", "points", "crop_boxes", "areas"):
        np.testing.assert_array_equal(getattr(small, name), getattr(default, name), err_msg=name)


@pytest.mark.parametrize("label, params, host_run", [("whole image", WHOLE, "whole_run"),
                                                     ("crop layer", CROPS, "crops_run")])
def test_device_mask_route_gives_the_same_masks(predictor, chelsea_image, monkeypatch, label,
                                                params, host_run, request):
    """The accelerator route (masks stay on the device; boxes and RLE made there), forced
    on the CPU: the same MaskSet as the host route (the module's run of ``params``), value
    for value."""
    import samcli.automask as automask_module

    host = request.getfixturevalue(host_run)
    host = host[0] if host_run == "whole_run" else host  # whole_run: (masks, progress calls)
    asked = []

    def never_on_host(device):
        asked.append(device)
        return False

    monkeypatch.setattr(automask_module, "_masks_on_host", never_on_host)
    on_device = generate(predictor, chelsea_image, AutomaskConfig(**params))
    assert asked, "the device route did not run"
    assert len(on_device) == len(host) >= 10
    assert on_device.rles == host.rles
    for name in ("boxes", "predicted_iou", "stability_score", "points", "crop_boxes", "areas"):
        np.testing.assert_array_equal(getattr(on_device, name), getattr(host, name),
                                      err_msg=name)


def _matched_iou(ours: MaskSet, other: MaskSet) -> tuple[float, float]:
    """Greedy one-to-one matching by IoU: (mean IoU over the larger set, a mask without a
    partner counting 0; share of masks with a partner at IoU >= 0.5)."""
    n = max(len(ours), len(other))
    iou = mask_utils.iou(ours.rles, other.rles, [0] * len(other))
    used_a, used_b, matched = set(), set(), []
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if i not in used_a and j not in used_b:
            used_a.add(i), used_b.add(j)
            matched.append(iou[i, j])
    return float(np.sum(matched) / n), sum(v >= 0.5 for v in matched) / n


def test_mixed_precision_close_to_float32(automask_pair, chelsea_image, whole_run):
    """bfloat16 encoder + mixed decoder (the CPU's --dtype bfloat16): nearly the float32
    mask set, and closer to it than the all-bfloat16 decoder."""
    float32, _ = whole_run
    gaps = {}
    for label, products, decoder in (("mixed", torch.bfloat16, torch.float32),
                                     ("bfloat16", None, torch.bfloat16)):
        model = copy.deepcopy(automask_pair[0])  # the pair's weights, cast by this Predictor
        low = Predictor(model, dtype=torch.bfloat16, decoder_dtype=decoder,
                        decoder_products=products)
        gaps[label] = _matched_iou(generate(low, chelsea_image, AutomaskConfig(**WHOLE)),
                                   float32)
    print(f"\nmatched IoU vs float32 (mean, share paired): {gaps}")
    mean, share = gaps["mixed"]
    assert mean >= 0.9 and share >= 0.95, gaps
    assert mean > gaps["bfloat16"][0], gaps


# ----------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 16, 32, 64])
def test_point_grid_matches_reference(n):
    _, amg = _amg()
    ours = point_grid(n)
    assert ours.shape == (n * n, 2)
    np.testing.assert_array_equal(ours, amg.build_point_grid(n))


@pytest.mark.parametrize(
    "size, layers, overlap, empty",
    [
        pytest.param((300, 451), 0, 512 / 1500, 0, id="whole-only"),
        pytest.param((300, 451), 1, 512 / 1500, 0, id="chelsea-1-layer"),
        pytest.param((400, 600), 2, 512 / 1500, 0, id="coffee-2-layers"),
        pytest.param((1024, 768), 3, 0.25, 0, id="portrait-3-layers"),
        pytest.param((3000, 4000), 2, 512 / 1500, 0, id="12mpx-2-layers"),
        pytest.param((17, 1000), 2, 0.0, 0, id="thin-no-overlap"),
        pytest.param((1, 1), 1, 512 / 1500, 3, id="one-pixel"),
        pytest.param((1, 64), 2, 512 / 1500, 14, id="one-row"),
        pytest.param((5, 5), 2, 512 / 1500, 7, id="five-pixels"),
        pytest.param((999, 1001), 2, 0.9, 0, id="odd-large-overlap"),
    ],
)
def test_crop_boxes_match_reference(size, layers, overlap, empty):
    """The reference's crops in its order, less the empty ones it makes for images a few
    pixels across (it fails on those: no image to embed)."""
    _, amg = _amg()
    ref_boxes, ref_layers = amg.generate_crop_boxes(size, layers, overlap)
    kept = [(b, la) for b, la in zip(ref_boxes, ref_layers) if b[2] > b[0] and b[3] > b[1]]
    assert len(ref_boxes) - len(kept) == empty
    ours = crop_boxes(size[0], size[1], layers, overlap)
    assert [(list(c.box), c.layer) for c in ours] == kept


@pytest.mark.parametrize("min_area", [20, 150])
def test_clean_small_regions_matches_reference(min_area):
    """Cleanup + the second NMS (changed masks ranked last) against the reference's
    ``postprocess_small_regions``, on overlapping random masks with many score ties."""
    amg_module, amg = _amg()
    base = _random_masks(seed=7, n=6, h=64, w=96)
    rng = np.random.default_rng(8)
    # Near-duplicates of each base mask, some with an extra speck (an island) or a pin hole
    masks = []
    for m in base:
        for variant in range(3):
            v = m.copy()
            y, x = rng.integers(2, 60), rng.integers(2, 92)
            if variant == 1:
                v[y:y + 2, x:x + 2] = True
            elif variant == 2:
                v[y:y + 2, x:x + 2] = False
            masks.append(v)
    masks = np.stack(masks)
    t = torch.from_numpy(masks)
    iou = torch.from_numpy(rng.uniform(0.8, 1.0, len(masks)).astype(np.float32))

    data = amg.MaskData(rles=amg.mask_to_rle_pytorch(t), boxes=amg.batched_mask_to_box(t),
                        iou_preds=iou)
    ref = amg_module.SamAutomaticMaskGenerator.postprocess_small_regions(data, min_area, 0.7)
    ref_masks = np.stack([amg.rle_to_mask(r) for r in ref["rles"]])

    ours_in = MaskSet(
        image_size=masks.shape[1:], rles=encode_masks(masks),
        boxes=amg.batched_mask_to_box(t).numpy(), predicted_iou=iou.numpy(),
        stability_score=np.ones(len(masks)), points=np.zeros((len(masks), 2)),
        crop_boxes=np.zeros((len(masks), 4)),
    )
    ours = clean_small_regions(ours_in, min_area, 0.7)
    assert len(ours) == len(ref_masks)
    np.testing.assert_array_equal(np.stack([ours.mask(i) for i in range(len(ours))]), ref_masks)
    np.testing.assert_array_equal(ours.boxes, ref["boxes"].numpy())
    np.testing.assert_array_equal(ours.predicted_iou, ref["iou_preds"].numpy())
