"""samcli.mask_windows: windows of an upscaling, and everything-mode made window by window.

The references for the resize are ``F.interpolate`` on the whole image (what SAM 2's
predictor and generator use) and SAM 1's ``Predictor.upscale`` (the reference's two resizes,
through the padded 1024 frame); for everything-mode it is the same predictor's full-size path
(``upscale`` then :func:`samcli.automask._binarise`), which the parity tests compare with
Meta's generators.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samcli.automask import generate
from samcli.config import AutomaskConfig
from samcli.mask_windows import AxisResize, WindowResize, axis_taps, resize_window, support_windows
from samcli.model.transforms import preprocess_shape
from samcli.predictor import Predictor
from tests.factories import make_model
from samcli.rle import rle_to_json


def _has_fma() -> bool:
    try:
        return " fma " in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


SIZES = [  # label, (H, W): up, down, equal, odd, one pixel thin
    ("up to a photo", (300, 451)),
    ("up to 12 megapixels", (3000, 4000)),
    ("down", (100, 200)),
    ("the same size", (256, 256)),
    ("odd sizes", (77, 1031)),
    ("one pixel tall", (1, 640)),
]


def _full(low: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(low[None, None], size, mode="bilinear", align_corners=False)[0, 0]


def _bilinear(size: tuple[int, int]) -> WindowResize:
    """SAM 2's upscaling from 256 x 256 (one bilinear resize) as window taps."""
    return WindowResize(rows=AxisResize((axis_taps(256, size[0]),)),
                        cols=AxisResize((axis_taps(256, size[1]),)))


def _assert_windows_hold(low: torch.Tensor, full: torch.Tensor, resize: WindowResize, label):
    h, w = full.shape
    windows = [(0, h, 0, w), (h // 3, h // 3 + 1, w // 2, w), (0, (h + 1) // 2, w - 1, w)]
    for window in windows:
        y0, y1, x0, x1 = window
        part = torch.from_numpy(resize_window(low.numpy(), resize, window))
        expected = full[y0:y1, x0:x1]
        torch.testing.assert_close(part, expected, rtol=1e-6, atol=1e-4)
        if _has_fma():  # the CPU kernels' own rounding
            assert torch.equal(part, expected), (label, window)


@pytest.mark.parametrize("label, size", SIZES, ids=[c[0] for c in SIZES])
def test_windows_hold_the_whole_resize_s_values(label, size):
    gen = torch.Generator().manual_seed(len(label))
    low = torch.randn(256, 256, generator=gen) * 20
    _assert_windows_hold(low, _full(low, size), _bilinear(size), label)


@functools.lru_cache(maxsize=1)
def _sam1() -> Predictor:
    """One SAM 1 predictor (only its upscaling is used: no image is embedded)."""
    return Predictor(make_model("mobile_sam"))


@pytest.fixture
def sam1_predictor() -> Predictor:
    return _sam1()


def _sam1_sized(predictor: Predictor, size: tuple[int, int]) -> Predictor:
    """``predictor`` as after ``set_image`` of an image of ``size`` (H, W)."""
    predictor.original_size = size
    predictor.input_size = preprocess_shape(*size, 1024)
    return predictor


@pytest.mark.parametrize("label, size", SIZES, ids=[c[0] for c in SIZES])
def test_sam1_windows_hold_its_upscale_s_values(label, size, sam1_predictor):
    predictor = _sam1_sized(sam1_predictor, size)
    gen = torch.Generator().manual_seed(len(label))
    low = torch.randn(256, 256, generator=gen) * 20
    full = predictor.upscale(low[None, None])[0, 0]
    _assert_windows_hold(low, full, predictor.window_resize((256, 256)), label)


@pytest.mark.parametrize("label, size", SIZES, ids=[c[0] for c in SIZES])
def test_nothing_outside_the_support_window_passes_the_threshold(label, size):
    gen = torch.Generator().manual_seed(7)
    resize = _bilinear(size)
    for trial in range(4):
        low = torch.full((256, 256), -20.0)
        y, x = torch.randint(0, 250, (2,), generator=gen).tolist()
        low[y:y + 1 + trial * 2, x:x + 3] = 4.0 + trial
        low[y, x] = -1.0 + 1e-4  # within the margin of the threshold: support too
        full = _full(low, size)
        [(y0, y1, x0, x1)] = support_windows(low[None], -1.0, resize)
        outside = full.clone()
        outside[y0:y1, x0:x1] = -np.inf
        assert outside.max() <= -1.0, (label, trial)
        # a blob of a few low-res pixels: a window of a few output pixels' worth of them
        assert (y1 - y0) * (x1 - x0) <= max(size[0], 64) * max(size[1], 64) / 100, (label, trial)


def test_a_mask_below_the_threshold_everywhere_has_an_empty_window():
    resize = _bilinear((300, 400))
    low = torch.full((256, 256), -5.0)
    assert support_windows(low[None], -1.0, resize) == [(0, 0, 0, 0)]
    assert resize_window(low.numpy(), resize, (0, 0, 0, 0)).shape == (0, 0)


# --------------------------------------------------------------- everything-mode, windowed
class BlobPredictor:
    """A SAM 2 style predictor oracle: each point prompt gets three low-res masks, blobs of
    random size around the point (one in six empty everywhere, some filling the image),
    predicted IoU from a seeded generator; upscaling is one bilinear resize."""

    family = "sam2"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.original_size: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray) -> None:
        self.original_size = image.shape[:2]

    def predict(self, point_coords=None, point_labels=None, boxes=None, mask_input=None,
                multimask_output=True, iou_floor=None, upscaled_only=False):  # (hints)
        h, w = self.original_size
        gen = torch.Generator().manual_seed(self.seed + int(point_coords.sum()))
        n = point_coords.shape[0]
        yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
        cx = point_coords[:, 0, 0].float() * 256 / w
        cy = point_coords[:, 0, 1].float() * 256 / h
        dist = ((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2).sqrt()
        radius = 2 + torch.rand(n, 3, generator=gen) * 20 * torch.tensor([1.0, 4.0, 9.0])
        radius[(torch.arange(n)[:, None] + torch.arange(3)) % 6 == 0] = -2.0  # empty masks
        low = (radius[:, :, None, None] - dist[:, None]) * 2
        iou = 0.85 + 0.15 * torch.rand(n, 3, generator=gen)
        return low, iou

    def clean_low_res(self, low_res: torch.Tensor, fill_area: float = 0.0) -> torch.Tensor:
        return low_res.float()

    def upscale(self, low_res: torch.Tensor, fill_area: float = 0.0) -> torch.Tensor:
        b, c = low_res.shape[:2]
        out = F.interpolate(low_res.reshape(b * c, 1, 256, 256).float(), self.original_size,
                            mode="bilinear", align_corners=False)
        return out.view(b, c, *self.original_size)

    def window_resize(self, low_size):
        return _bilinear(self.original_size)


class Sam1BlobPredictor(BlobPredictor):
    """The oracle upscaling as SAM 1's predictor does (through the padded 1024 frame)."""

    family = "sam"

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.sam1 = _sam1()

    def set_image(self, image: np.ndarray) -> None:
        super().set_image(image)
        _sam1_sized(self.sam1, image.shape[:2])

    def upscale(self, low_res: torch.Tensor, fill_area: float = 0.0) -> torch.Tensor:
        return self.sam1.upscale(low_res)

    def window_resize(self, low_size):
        return self.sam1.window_resize(low_size)


def _full_size(cls):
    """``cls`` without ``window_resize``: everything-mode takes the full-size path."""
    return type("FullSize" + cls.__name__, (cls,), {"window_resize": None})


CASES = [  # label, options: filters on and off, a crop layer, a shifted threshold
    ("defaults", {}),
    ("no filters: empty masks kept",
     dict(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)),
    ("one crop layer", dict(crop_n_layers=1, pred_iou_thresh=0.6)),
    ("mask threshold and offset", dict(mask_threshold=1.5, stability_score_offset=2.0,
                                       stability_score_thresh=0.5)),
]


@pytest.mark.parametrize("family", [BlobPredictor, Sam1BlobPredictor], ids=["sam2", "sam1"])
@pytest.mark.parametrize("label, options", CASES, ids=[c[0] for c in CASES])
def test_windowed_everything_mode_equals_the_full_size_path(label, options, family):
    cfg = AutomaskConfig(points_per_side=6, **options)
    image = np.zeros((300, 451, 3), np.uint8)
    windowed = generate(family(seed=3), image, cfg)
    full = generate(_full_size(family)(seed=3), image, cfg)
    assert len(full) > 3, "the case must keep masks"
    assert [rle_to_json(r) for r in windowed.rles] == [rle_to_json(r) for r in full.rles]
    np.testing.assert_array_equal(windowed.boxes, full.boxes)
    np.testing.assert_array_equal(windowed.stability_score, full.stability_score)
    np.testing.assert_array_equal(windowed.predicted_iou, full.predicted_iou)
    np.testing.assert_array_equal(windowed.crop_boxes, full.crop_boxes)
