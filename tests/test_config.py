"""Defaults, presets and option validation (the single home of defaults)."""

import dataclasses

import pytest

from samcli.config import (MAX_CLASS_ID, PRESETS, AutomaskConfig, FromBoxesConfig, OutputOptions,
                           PolygonOptions, ScaleOptions, parse_area, preset_config)
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
    ("abc", UsageError), ("5px", UsageError), ("--5", UsageError),  # not an area: exit 2
    ("\u0665\u0660\u0660", UsageError),  # Arabic-Indic digits: not ASCII, as label files
    ("150%", ConfigError), ("-5", ConfigError), ("-0.5%", ConfigError),  # out of range: 1
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
        # below 0 every pair of masks, even apart, would merge into one (silently)
        ("negative merge IoU", {"merge_iou": -0.5}, r"^--merge-iou -0.5 must be in \[0, 1\]",
         ConfigError),
        ("merge IoU above 1", {"merge_iou": 5.0}, "--merge-iou 5 must be in", ConfigError),
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


@pytest.mark.parametrize("label, given, expected", [
    ("none", None, None),
    ("blank", " ", None),
    ("two", "0, 3", {0, 3}),
    ("trailing comma", "7,", {7}),
    ("commas and no id (would keep no box)", ",", UsageError),
    ("separators only", " , ,", UsageError),
    ("largest id", str(MAX_CLASS_ID), {MAX_CLASS_ID}),
    ("negative", "-1", UsageError),
    ("above int32", str(MAX_CLASS_ID + 1), UsageError),
    ("huge", "99999999999", UsageError),
    ("not a number", "x", UsageError),
    ("underscore", "1_0", UsageError),
    ("arabic-indic digit", "\u0663", UsageError),
    ("fraction", "1.5", UsageError),
])
def test_from_boxes_classes(label, given, expected):
    """--classes: the ids label files may hold (0 to MAX_CLASS_ID, ASCII), else exit 2."""
    cfg = FromBoxesConfig(classes=given)
    if expected is UsageError:
        with pytest.raises(UsageError, match=f"--classes .*0 to {MAX_CLASS_ID}"):
            cfg.validate()
    else:
        assert cfg.validate().class_set() == expected


@pytest.mark.parametrize("label, overrides, match, error", [
    ("unknown score", {"score": "foo"}, "--score 'foo': expected one of", UsageError),
    ("no boxes a batch", {"boxes_per_batch": 0}, "--boxes-per-batch", ConfigError),
    ("image map without dets", {"image_map": "m.json"}, "--image-map", ConfigError),
])
def test_from_boxes_invalid_values(label, overrides, match, error):
    with pytest.raises(error, match=match):
        FromBoxesConfig(**overrides).validate()


def test_presets_validate():
    for name in PRESETS:
        preset_config(name)


# ----------------------------------------------------------------------------- model families

#: AutomaskConfig field -> the reference generators' parameter name.
_REFERENCE_NAMES = {"min_region_area": "min_mask_region_area"}


def _reference_defaults(generator) -> dict:
    """The defaults in a reference generator's signature, by samcli field name."""
    import inspect

    fields = {f.name for f in dataclasses.fields(AutomaskConfig)}
    out = {}
    for name, param in inspect.signature(generator.__init__).parameters.items():
        ours = {v: k for k, v in _REFERENCE_NAMES.items()}.get(name, name)
        if ours in fields:
            out[ours] = param.default
    return out


def _generators():
    import warnings

    from tests.sam2_factories import quiet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from segment_anything import SamAutomaticMaskGenerator
    with quiet():
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    return {"sam": SamAutomaticMaskGenerator, "mobile_sam": SamAutomaticMaskGenerator,
            "sam2": SAM2AutomaticMaskGenerator}


@pytest.mark.parametrize("family", ["sam", "mobile_sam", "sam2"])
def test_family_defaults_are_the_reference_generators(family):
    """Every generation default, per family, is the one in that family's reference
    generator's signature (SAM 2: pred_iou_thresh 0.8; mask_threshold, use_m2m and
    multimask_output, which SAM 1's lacks, as SAM 2's)."""
    reference = _reference_defaults(_generators()[family])
    cfg = preset_config("sam", family=family)
    assert len(reference) >= 11
    for name, value in reference.items():
        assert getattr(cfg, name) == value, (family, name)
    if family != "sam2":  # the options SAM 1's generator lacks keep SAM 2's defaults
        sam2 = _reference_defaults(_generators()["sam2"])
        for name in ("mask_threshold", "use_m2m", "multimask_output"):
            assert getattr(cfg, name) == sam2[name], name


@pytest.mark.parametrize(
    "label, family, preset, given, expected",
    [
        ("SAM 1 default", "sam", "sam", {}, 0.88),
        ("SAM 2 default", "sam2", "sam", {}, 0.8),
        ("MobileSAM default", "mobile_sam", "sam", {}, 0.88),
        ("an explicit option wins over SAM 2's default", "sam2", "sam",
         {"pred_iou_thresh": 0.9}, 0.9),
        ("an explicit 0.88 stays 0.88 with SAM 2", "sam2", "sam", {"pred_iou_thresh": 0.88},
         0.88),
        ("not given (None) is the family's", "sam2", "sam", {"pred_iou_thresh": None}, 0.8),
        ("a preset value wins over SAM 2's default", "sam2", "dense", {}, 0.86),
        ("and over SAM 1's", "sam", "proposals", {}, 0.80),
        ("an explicit option wins over the preset", "sam2", "proposals",
         {"pred_iou_thresh": 0.7}, 0.7),
        ("an unknown family has the plain defaults", "test", "sam", {}, 0.88),
    ],
)
def test_family_defaults_then_preset_then_explicit(label, family, preset, given, expected):
    cfg = preset_config(preset, given, family=family)
    assert cfg.pred_iou_thresh == expected, label
    # the other options: the preset's, else the (shared) reference default
    assert cfg.stability_score_thresh == PRESETS[preset].get("stability_score_thresh", 0.95)


def test_new_generation_options_validate_and_stay_out_of_old_hashes():
    from samcli.config import HASH_NEUTRAL, hash_params, params_of

    with pytest.raises(ConfigError, match="--mask-threshold"):
        preset_config("sam", {"mask_threshold": float("nan")})
    cfg = preset_config("sam", {"use_m2m": True, "multimask_output": False,
                                "mask_threshold": -0.5})
    assert (cfg.use_m2m, cfg.multimask_output, cfg.mask_threshold) == (True, False, -0.5)
    # at their neutral values the new options are not hashed (runs made before they existed
    # resume); any other value is
    plain = preset_config("sam")
    assert set(params_of(plain)) - set(hash_params(plain)) == set(HASH_NEUTRAL)
    assert set(hash_params(cfg)) >= set(HASH_NEUTRAL)
    assert "pred_iou_thresh" in hash_params(plain)


@pytest.mark.parametrize("label, cfg, needle", [
    ("max area 0 pixels", AutomaskConfig(max_area="0"), "--max-area 0: every mask is larger"),
    ("max area 0%", AutomaskConfig(max_area="0%"), "--max-area 0%: every mask is larger"),
    ("max area under a pixel", AutomaskConfig(max_area="0.5"),
     "--max-area 0.5 is under one pixel: every mask is larger, so none is kept; for a share "
     "of the image write 0.5%"),
    ("min conf above 1", FromBoxesConfig(min_conf=2.0), "--min-conf 2 is above 1"),
    ("min box IoU above 1", FromBoxesConfig(min_box_iou=1.5), "--min-box-iou 1.5 is above 1"),
    ("min area under a pixel", AutomaskConfig(min_area="0.5"),
     "--min-area 0.5 is under one pixel, so it drops nothing; for a share of the image write "
     "0.5%"),
    ("zero stability offset", AutomaskConfig(stability_score_offset=0.0),
     "--stability-score-offset 0: the stability score"),
    ("negative stability offset", AutomaskConfig(stability_score_offset=-1.0),
     "--stability-score-offset -1: the stability score"),
    ("containment ratio without drop", AutomaskConfig(containment_ratio=0.5),
     "--containment-ratio 0.5 has no effect with --containment keep"),
    ("min area 0.5%", AutomaskConfig(min_area="0.5%"), None),
    ("containment ratio with drop", AutomaskConfig(containment="drop", containment_ratio=0.5),
     None),
    ("defaults", AutomaskConfig(), None),
    ("from-boxes defaults", FromBoxesConfig(), None),
])
def test_values_that_do_nothing_or_drop_everything_are_warned_about(label, cfg, needle):
    said = cfg.validate().warnings()
    assert (said == []) if needle is None else any(m.startswith(needle) for m in said), label


def test_an_area_of_309_digits_is_refused():
    with pytest.raises(ConfigError, match="--min-area: 309 digits is not an area"):
        parse_area("9" * 309, "--min-area")



@pytest.mark.parametrize("label, flag, value", [
    ("-o's value forgotten", "output", "--format"),
    ("--crops' value forgotten", "crops", "-q"),
    ("--preview's", "preview", "-x"),
])
def test_an_output_folder_that_looks_like_an_option_is_refused(label, flag, value):
    """'-o --format coco' made a folder named --format and took coco as an input."""
    with pytest.raises(UsageError, match=f"looks like an option, not a folder .*write ./{value}"):
        OutputOptions(**{flag: value}).validate()
    OutputOptions(**{flag: f"./{value}"}).validate()


@pytest.mark.parametrize("label, options, enabled", [
    ("nothing", {}, False),
    ("--ray", {"ray": True}, True),
    ("--ray-address", {"ray_address": "auto"}, True),
    ("--ray-actors alone", {"ray_actors": 3}, True),
])
def test_ray_options_imply_ray(label, options, enabled):
    assert ScaleOptions(**options).validate().enabled is enabled, label


@pytest.mark.parametrize("label, preset, given, message", [
    ("a preset's value named as the preset's", "proposals", {"max_area": "10"},
     "--min-area 16 is above --max-area 10 (--min-area 16: from --preset proposals)"),
    ("a value given: as it is", "proposals", {"min_area": "20", "max_area": "10"},
     "--min-area 20 is above --max-area 10"),
])
def test_an_error_caused_by_a_presets_value_says_so(label, preset, given, message):
    with pytest.raises(ConfigError) as info:
        preset_config(preset, given)
    assert str(info.value) == message, label


def test_tile_overlap_is_not_checked_when_nothing_is_tiled():
    """--tile-above 0 without --tile: no image is tiled, so no overlap can be too large."""
    assert preset_config("sam", {"tile_above": 0, "tile_overlap": 600}).tile_overlap == 600
    with pytest.raises(ConfigError, match="--tile-overlap 600 must be less than half"):
        preset_config("sam", {"tile_overlap": 600})


@pytest.mark.parametrize("label, make, field, expected", [
    ("--format COCO", lambda: OutputOptions(format="COCO", output="o").validate(), "format",
     "coco"),
    ("--containment Drop", lambda: preset_config("sam", {"containment": "Drop"}),
     "containment", "drop"),
    ("--score SAM", lambda: FromBoxesConfig(score="SAM").validate(), "score", "sam"),
    ("--preset Dense", lambda: preset_config("Dense"), "crop_n_layers", 1),
    ("--preset PROPOSALS", lambda: preset_config("PROPOSALS"), "min_area", "16"),
])
def test_fixed_choice_values_are_read_in_any_case(label, make, field, expected):
    # as --model VIT_B and --device CPU are; the canonical spelling reaches the manifest hash
    assert getattr(make(), field) == expected


def test_a_fixed_choice_value_that_is_no_choice_in_any_case_is_still_refused():
    with pytest.raises(UsageError, match="^--format 'Coc': expected one of"):
        OutputOptions(format="Coc", output="o").validate()
