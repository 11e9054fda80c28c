"""Defaults, presets and option validation (the single home of defaults)."""

import dataclasses

import pytest

from samcli.config import (PRESETS, AutomaskConfig, OutputOptions, PolygonOptions, parse_area,
                           preset_config)
from samcli.errors import ConfigError, UsageError

REFERENCE_DEFAULTS = dict(
    points_per_side=32, points_per_batch=64, pred_iou_thresh=0.88, stability_score_thresh=0.95,
    stability_score_offset=1.0, box_nms_thresh=0.7, crop_n_layers=0, crop_nms_thresh=0.7,
    crop_overlap_ratio=512 / 1500, crop_n_points_downscale_factor=1, min_region_area=0,
)


def test_sam_preset_is_reference_defaults():
    cfg = preset_config("sam")
    for k, v in REFERENCE_DEFAULTS.items():
        assert getattr(cfg, k) == v, k


def test_dense_preset_is_notebook_recipe_and_explicit_wins():
    cfg = preset_config("dense", {"pred_iou_thresh": 0.5, "points_per_side": None})
    assert cfg.crop_n_layers == 1 and cfg.crop_n_points_downscale_factor == 2
    assert cfg.min_region_area == 100 and cfg.stability_score_thresh == 0.92
    assert cfg.pred_iou_thresh == 0.5  # explicit option beats the preset
    assert cfg.points_per_side == 32  # None = not given


def test_every_field_has_help():
    for cls in (AutomaskConfig, PolygonOptions, OutputOptions):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f.name


@pytest.mark.parametrize(
    "label, text, expected",
    [("pixels", "500", (500.0, False)), ("percent", "0.5%", (0.5, True)),
     ("spaces", " 12 % ", (12.0, True)), ("fraction", ".5", (0.5, False))],
)
def test_parse_area(label, text, expected):
    assert parse_area(text, "--min-area") == expected, label


@pytest.mark.parametrize("text, error", [
    ("-5", UsageError), ("abc", UsageError), ("5px", UsageError),  # not an area: exit 2
    ("150%", ConfigError),  # an area, out of range: exit 1
])
def test_parse_area_rejects(text, error):
    with pytest.raises(error, match="--min-area"):
        parse_area(text, "--min-area")


@pytest.mark.parametrize(
    "label, overrides, match, error",
    [
        ("zero points", {"points_per_side": 0}, "--points-per-side", ConfigError),
        ("bad containment", {"containment": "maybe"}, "--containment", UsageError),
        ("bad area", {"min_area": "x"}, "--min-area", UsageError),
        ("downscale leaves no points", {"crop_n_layers": 3, "crop_n_points_downscale_factor": 4,
                                        "points_per_side": 8}, "downscale", ConfigError),
        ("unknown preset", None, "--preset", UsageError),
    ],
)
def test_invalid_values(label, overrides, match, error):
    """Exit 2 (UsageError) for a value that is not of its kind or not one of the names; exit
    1 (ConfigError) for one that cannot work."""
    with pytest.raises(error, match=match):
        if overrides is None:
            preset_config("nope")
        else:
            preset_config("sam", overrides)


def test_presets_validate():
    for name in PRESETS:
        preset_config(name)
