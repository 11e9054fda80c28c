"""The single home of defaults: option dataclasses, their help lines, and presets.

Every CLI option is derived from a field here (``samcli.commands.options`` turns fields into
Typer options), so a default or a help line is written once. A field's metadata holds:

- ``flag``: the option name (``--points-per-side``); defaults to the field name with dashes.
- ``help``: the one help line shown by ``--help``.
- ``panel``: the ``--help`` section it is listed under.

Presets (``--preset``) are partial overrides of :class:`AutomaskConfig`; options given
explicitly on the command line win over the preset. Below both are the model family's
defaults (:data:`FAMILY_DEFAULTS`): each family's reference generator has its own.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

from samcli.errors import ConfigError, UsageError

GEN = "Generation (parameters of the reference generators: SAM's and SAM 2's)"
#: SAM 2's generator's parameters that SAM 1's lacks (their own panel: the on/off pairs would
#: otherwise take a column of GEN's table and squeeze the option names there)
GEN2 = "Generation, from SAM 2's generator (SAM 1 models too)"
POST = "Postprocess (samcli filters)"
POLY = "Polygons"
OUT = "Output"
INP = "Input"
MODEL = "Model"
BOXES = "Boxes (from-boxes)"
TILE = "Tiling (large images)"

#: Default ``--simplify`` tolerance in pixels (its one home; samcli.geometry defaults to 0, exact
#: polygons). Douglas-Peucker runs on the ring through the pixel edges' midpoints (see
#: :func:`samcli.geometry.mask_to_geometry`), >= 0.35 px from every pixel centre: up to 0.35 px
#: the polygon still rasterizes to the exact mask; 0.4 px keeps about half the vertices at IoU
#: >= 0.996 on blobs, >= 0.98 on 8-connected 1-3 px strokes (tests/geometry; 0.45 px: ~0.90 on
#: thin masks). 4-connected strokes one or two pixels wide could drop to 0.83 (pycocotools):
#: under 1 px, a polygon that does not rasterize back at IoU >= 0.97 is kept exact instead.
DEFAULT_SIMPLIFY = 0.4


def opt(default: Any, help: str, panel: str, flag: str | None = None, **kw: Any) -> Any:
    """A dataclass field carrying its CLI flag, help line and help panel."""
    meta = {"help": help, "panel": panel, "flag": flag}
    meta.update(kw)
    return field(default=default, metadata=meta)


def canonical(value: Any, allowed: Sequence[str]) -> Any:
    """A fixed-choice option's value given in another case (``--format COCO``) as its listed
    lower-case spelling, as ``--model`` and ``--device`` are read; anything else as it is,
    for the option's check to refuse."""
    if isinstance(value, str) and value not in allowed and value.lower() in allowed:
        return value.lower()
    return value


def canonical_case(obj: Any, **choices: Sequence[str]) -> None:
    """In a frozen dataclass's ``__post_init__``: each fixed-choice field (name=allowed
    values) made :func:`canonical`."""
    for name, allowed in choices.items():
        object.__setattr__(obj, name, canonical(getattr(obj, name), allowed))


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


# ---------------------------------------------------------------------------------------------
# Areas: "500" pixels or "0.5%" of the image


_AREA_RE = re.compile(r"^\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*(%?)\s*$")


def parse_area(text: str, option: str) -> tuple[float, bool]:
    """``"500"`` -> (500, False) pixels; ``"0.5%"`` -> (0.5, True) percent of the image."""
    m = _AREA_RE.match(str(text))
    if not m:
        raise UsageError(
            f"{option} {text!r}: expected a pixel count like 500 or a percentage like 0.5%"
        )
    value, pct = float(m.group(1)), bool(m.group(2))
    if not math.isfinite(value):  # 309 digits and more
        raise ConfigError(f"{option}: {len(m.group(1))} digits is not an area")
    if value < 0:  # a number, out of range (exit 1, as --min-region-area -1)
        raise ConfigError(f"{option} {text!r}: an area must not be negative")
    if pct and value > 100:
        raise ConfigError(f"{option} {text!r}: a percentage must be at most 100%")
    return value, pct


def area_pixels(text: str, option: str, image_area: int) -> float:
    """Resolve an area option against an image of ``image_area`` pixels."""
    value, pct = parse_area(text, option)
    return value * image_area / 100.0 if pct else value


# ---------------------------------------------------------------------------------------------
# automask

# Tile side for images tiled automatically (above --tile-above): SAM's own input size, so a
# tile is segmented at full resolution.
DEFAULT_TILE = 1024
# Pixels shared by neighbouring tiles: objects up to this size are seen whole in one.
DEFAULT_TILE_OVERLAP = 256


#: The values of --containment.
CONTAINMENT = ("keep", "drop")


@dataclass(frozen=True)
class AutomaskConfig:
    """Everything-mode generation and postprocessing; defaults are the reference's."""

    # Generation: names and defaults of segment_anything.SamAutomaticMaskGenerator.
    points_per_side: int = opt(32, "Point prompts per image side (grid of N x N).", GEN)
    points_per_batch: int = opt(
        64, "Point prompts decoded together; more is faster but uses more memory.", GEN
    )
    pred_iou_thresh: float = opt(
        0.88, "Keep masks whose predicted IoU is above this (0 turns the filter off).", GEN
    )
    stability_score_thresh: float = opt(
        0.95, "Keep masks whose stability score is at least this (0 turns it off).", GEN
    )
    stability_score_offset: float = opt(
        1.0, "Logit offset used to compute the stability score.", GEN
    )
    box_nms_thresh: float = opt(
        0.7, "Box IoU above which the lower-scored mask of a crop is dropped (>=1 turns NMS off).",
        GEN,
    )
    crop_n_layers: int = opt(
        0, "Extra layers of image crops (layer i has 2^i x 2^i crops); 0 = whole image only.", GEN
    )
    crop_nms_thresh: float = opt(
        0.7, "Box IoU for removing duplicates between crops (smaller crops win).", GEN
    )
    crop_overlap_ratio: float = opt(
        512 / 1500, "Overlap of neighbouring crops, as a fraction of the image's short side.", GEN,
        default_text="512/1500 = 0.341"
    )
    crop_n_points_downscale_factor: int = opt(
        1, "Points per side in crop layer i are divided by this to the power i.", GEN
    )
    min_region_area: int = opt(
        0,
        "Fill holes and remove islands smaller than this many pixels inside each mask "
        "(the reference's min_mask_region_area; it never drops a whole mask: see --min-area). "
        "With SAM 2, as SAM2AutomaticMaskGenerator: holes and islands of at most this many "
        "pixels of the 256 x 256 low-res logits, before upsampling.",
        GEN,
    )
    mask_threshold: float = opt(
        0.0, "Logit above which a pixel is in a mask; the stability score compares the masks "
        "at this +- --stability-score-offset.", GEN2
    )
    use_m2m: bool = opt(
        False, "Refine every candidate once (mask-to-mask): its point again with the "
        "candidate's own low-res logits as a mask prompt, one output; the refined predicted "
        "IoU replaces the first before the filters. SAM 2's use_m2m.", GEN2,
        flag="--use-m2m/--no-use-m2m",
    )
    multimask_output: bool = opt(
        True, "Three candidate masks per point (--multimask-output), or one "
        "(--no-multimask-output; SAM 2 then takes the best of three where that one is "
        "unstable).", GEN2, flag="--multimask-output/--no-multimask-output",
    )

    # Postprocess: samcli's own steps, applied in this order after generation.
    min_area: str = opt(
        "0", "Drop masks smaller than this: pixels (500) or percent of the image (0.5%).", POST,
        metavar="AREA"
    )
    max_area: str = opt(
        "100%", "Drop masks larger than this: pixels or percent of the image (e.g. 90%).", POST,
        metavar="AREA"
    )
    merge_iou: float = opt(
        1.0,
        "Masks overlapping more than this mask IoU (0 to 1) become one (the better-scored is "
        "kept, grown to their union, or as it was where the union would pass --max-area); "
        "1 turns merging off.",
        POST,
    )
    containment: str = opt(
        "keep",
        "Nested masks: 'keep' them, or 'drop' a mask that lies mostly (--containment-ratio) "
        "inside a bigger kept mask.",
        POST, metavar="keep|drop",
    )
    containment_ratio: float = opt(
        0.9, "Fraction of a mask's area inside a bigger mask for --containment drop.", POST
    )
    drop_border: bool = opt(
        False, "Drop masks that touch the image edge.", POST, flag="--drop-border/--keep-border"
    )
    max_proposals: int = opt(
        0, "Keep at most K masks per image, ranked by mean of predicted IoU and stability "
        "(0 = no limit).", POST, metavar="K"
    )

    # Tiling: images much larger than SAM's 1024-pixel input.
    tile: int = opt(
        0, "Run everything-mode on SIZE x SIZE tiles of each image and merge objects cut by "
        "the seams (aerial scenes, slides, wafers); 0 = only images above --tile-above, with "
        f"{DEFAULT_TILE}-pixel tiles.", TILE, metavar="SIZE"
    )
    tile_overlap: int = opt(
        DEFAULT_TILE_OVERLAP, "Pixels shared by neighbouring tiles: objects up to about this "
        "size are seen whole in a tile; larger ones are merged across the seam. Default "
        f"{DEFAULT_TILE_OVERLAP}, or a quarter of a --tile of {2 * DEFAULT_TILE_OVERLAP} or "
        "less.", TILE, metavar="PX"
    )
    tile_above: int = opt(
        36_000_000, "Tile images with more pixels than this even without --tile "
        "(36000000 = 6000 x 6000; 0 = never).", TILE, metavar="PIXELS"
    )

    def __post_init__(self) -> None:
        canonical_case(self, containment=CONTAINMENT)

    def validate(self) -> "AutomaskConfig":
        """Raise ConfigError for values that cannot work; return self."""
        _finite(self)
        for name in ("points_per_side", "points_per_batch", "crop_n_points_downscale_factor"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag_of(_field(self, name))} must be at least 1")
        for name, most in LIMITS.items():
            if getattr(self, name) > most:
                raise ConfigError(f"{flag_of(_field(self, name))} {getattr(self, name)} is more "
                                  f"than samcli allows ({most}): {LIMIT_WHY[name]}")
        for name in ("crop_n_layers", "min_region_area", "max_proposals"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{flag_of(_field(self, name))} must not be negative")
        if not 0 <= self.crop_overlap_ratio < 1:
            raise ConfigError("--crop-overlap-ratio must be in [0, 1)")
        if self.crop_n_layers > 0:
            smallest = self.points_per_side // self.crop_n_points_downscale_factor**self.crop_n_layers
            if smallest < 1:
                raise ConfigError("--crop-n-points-downscale-factor leaves no points in the last "
                                  "crop layer: lower it or raise --points-per-side")
        low, high = parse_area(self.min_area, "--min-area"), parse_area(self.max_area, "--max-area")
        if low[1] == high[1] and low[0] > high[0]:  # both in pixels or both in percent
            raise ConfigError(f"--min-area {self.min_area} is above --max-area {self.max_area}")
        if self.tile < 0 or 0 < self.tile < 64:
            raise ConfigError("--tile must be 0 (automatic) or at least 64 pixels")
        if self.tile_above < 0:
            raise ConfigError("--tile-above must not be negative")
        if self.tile_overlap < 1:  # tiles that only touch share no strip to join masks in
            raise ConfigError(f"--tile-overlap {self.tile_overlap}: must be at least 1 pixel "
                              "(objects cut by a seam are joined where the tiles overlap)")
        size = self.tile or DEFAULT_TILE
        if (self.tile or self.tile_above) and 2 * self.tile_overlap >= size:  # (0 0: no tiles)
            which = (f"--tile {size}" if self.tile else
                     f"{size}, the tiles of images above --tile-above")
            raise ConfigError(f"--tile-overlap {self.tile_overlap} must be less than half the "
                              f"tile size ({which})")
        if self.containment not in CONTAINMENT:
            raise UsageError(f"--containment {self.containment!r}: expected 'keep' or 'drop'")
        if not 0 < self.containment_ratio <= 1:
            raise ConfigError("--containment-ratio must be in (0, 1]")
        if not 0 <= self.merge_iou <= 1:  # (below 0 every pair, even apart, would merge)
            raise ConfigError(f"--merge-iou {self.merge_iou:g} must be in [0, 1] (1: no merging)")
        return self

    def image_warnings(self, h: int, w: int) -> list[str]:
        """What :meth:`warnings` cannot tell before the image's size (``h`` x ``w`` pixels):
        --min-area and --max-area in different units that no mask of this image meets both
        of (in the same unit that is a configuration error)."""
        low = area_pixels(self.min_area, "--min-area", h * w)
        high = area_pixels(self.max_area, "--max-area", h * w)
        if low <= high:
            return []
        return [f"--min-area {self.min_area} ({low:g} pixels here) is above --max-area "
                f"{self.max_area} ({high:g} pixels here): no mask of this {w}x{h} image is kept"]

    def warnings(self) -> list[str]:
        """Values that work but are unlikely to be meant (shown before any work)."""
        out = []
        for name in ("pred_iou_thresh", "stability_score_thresh"):
            value = getattr(self, name)
            if value >= 1.0:
                out.append(f"{flag_of(_field(self, name))} {value:g} is 1 or more: hardly any "
                           "mask passes (scores are at most about 1)")
            elif value < 0:
                out.append(f"{flag_of(_field(self, name))} {value:g} is negative: the filter "
                           "is off, as with 0")
        for name in ("box_nms_thresh", "crop_nms_thresh"):
            if getattr(self, name) <= 0:
                out.append(f"{flag_of(_field(self, name))} {getattr(self, name):g}: every "
                           "overlapping pair is a duplicate, so only separate masks are kept")
        high, high_pct = parse_area(self.max_area, "--max-area")
        if high == 0:
            out.append(f"--max-area {self.max_area}: every mask is larger, so none is kept")
        elif not high_pct and high < 1:
            out.append(f"--max-area {self.max_area} is under one pixel: every mask is larger, "
                       f"so none is kept; for a share of the image write {self.max_area}%")
        low, low_pct = parse_area(self.min_area, "--min-area")
        if not low_pct and 0 < low < 1:
            out.append(f"--min-area {self.min_area} is under one pixel, so it drops nothing; "
                       f"for a share of the image write {self.min_area}%")
        if self.stability_score_offset <= 0:
            out.append(f"--stability-score-offset {self.stability_score_offset:g}: the "
                       "stability score compares the mask at its threshold plus and minus this; "
                       + ("0 makes every score 1" if self.stability_score_offset == 0 else
                          "a negative offset gives scores above 1"))
        default_ratio = _field(self, "containment_ratio").default
        if self.containment == "keep" and self.containment_ratio != default_ratio:
            out.append(f"--containment-ratio {self.containment_ratio:g} has no effect with "
                       "--containment keep (the default); add --containment drop")
        return out


# Upper bounds: far above any useful value, low enough that a typo cannot make a run allocate
# for hours before failing (--points-per-side 100000 is 10^10 prompts an image).
LIMITS = {"points_per_side": 1024, "points_per_batch": 16384, "crop_n_layers": 6}
LIMIT_WHY = {
    "points_per_side": "that is already a million prompts an image; for small objects use "
                       "crop layers or --tile",
    "points_per_batch": "larger batches only use more memory",
    "crop_n_layers": "layer 6 already has 4096 crops",
}


def _finite(obj: Any) -> None:
    """Every float option of ``obj`` is a number (nan and inf are refused before any work)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{flag_of(f)} {value}: expected a finite number")


#: Everything-mode defaults that depend on the model family (see samcli.model.specs): those of
#: each family's reference generator. SAM 1 and MobileSAM use segment_anything's
#: SamAutomaticMaskGenerator, whose defaults are the AutomaskConfig fields'; SAM 2 uses Meta's
#: SAM2AutomaticMaskGenerator, whose signature differs only in pred_iou_thresh (0.8) and in the
#: parameters SAM 1's lacks (mask_threshold 0.0, use_m2m False, multimask_output True: the
#: fields' defaults). tests/test_config.py checks both signatures. A preset value or an
#: explicit option wins over these.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {"sam": {}, "mobile_sam": {},
                                               "sam2": {"pred_iou_thresh": 0.8}}

#: How --help names a family whose defaults differ.
FAMILY_LABELS = {"sam2": "SAM 2"}

PRESETS: dict[str, dict[str, Any]] = {
    # The reference generator's defaults, unchanged (the model family's: FAMILY_DEFAULTS).
    "sam": {},
    # The SAM notebook's denser recipe: one crop layer, finer filters, small-region cleanup.
    "dense": {
        "crop_n_layers": 1,
        "crop_n_points_downscale_factor": 2,
        "pred_iou_thresh": 0.86,
        "stability_score_thresh": 0.92,
        "min_region_area": 100,
    },
    # Candidates for a downstream classifier (defects, text regions): keep small and less
    # certain objects, fold near-duplicates together, drop speckle.
    "proposals": {
        "crop_n_layers": 1,
        "crop_n_points_downscale_factor": 2,
        "pred_iou_thresh": 0.80,
        "stability_score_thresh": 0.85,
        "min_region_area": 16,
        "min_area": "16",
        "merge_iou": 0.85,
    },
}

#: The preset of a run that names none.
DEFAULT_PRESET = "sam"


def _preset_settings(name: str) -> list[tuple[str, str, str]]:
    """A preset's values as given on the command line: (field name, flag, ``flag value``)."""
    flags = {f.name: flag_of(f) for f in fields(AutomaskConfig)}
    return [(k, flags[k], f"{flags[k]} {v}") for k, v in PRESETS[name].items()]


def _preset_values(name: str) -> str:
    """A preset's values as flags: ``--crop-n-layers 1, ...``."""
    return ", ".join(text for _, _, text in _preset_settings(name))


PRESET_HELP = (
    "Starting values: 'sam' (the reference generator's defaults; SAM 2 models get SAM 2's "
    f"generator's), 'dense' (the SAM notebook's crop recipe: {_preset_values('dense')}), "
    f"'proposals' (keeps small objects for defect/OCR candidates: "
    f"{_preset_values('proposals')}). Explicit options win."
)


def preset_config(name: str, overrides: dict[str, Any] | None = None,
                  family: str = "sam") -> AutomaskConfig:
    """The config of a run: the model family's defaults (:data:`FAMILY_DEFAULTS`), the
    preset's values over them, and the explicitly given options (not None) over both;
    validated. The preset's name is read in any case (``Dense``)."""
    name = canonical(name, tuple(PRESETS))
    if name not in PRESETS:
        raise UsageError(f"--preset {name!r}: expected one of {', '.join(PRESETS)}")
    values = dict(FAMILY_DEFAULTS.get(family, {}))
    values.update(PRESETS[name])
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(given)
    tile = values.get("tile", 0)
    if "tile_overlap" not in given and tile and 2 * DEFAULT_TILE_OVERLAP >= tile:
        values["tile_overlap"] = max(1, tile // 4)  # the default, scaled to a small tile
    try:
        return AutomaskConfig(**values).validate()
    except ConfigError as exc:
        from_preset = [text for k, flag, text in _preset_settings(name)
                       if k not in given and flag in str(exc)]
        if not from_preset:
            raise
        raise ConfigError(f"{exc} ({', '.join(from_preset)}: from --preset {name})") from None


# ---------------------------------------------------------------------------------------------
# from-boxes

#: ``--score`` choices: how a from-boxes mask is scored in COCO results (see
#: :func:`samcli.io.records.proposal_score`). automask masks always score ``sam``.
SCORES = ("detector", "sam", "product")
#: Largest class id, COCO category id and track id (int32 max: survives int32 and int64 arrays,
#: JSON readers that use int32, and float64 exactly); io.labels reads files by it.
MAX_CLASS_ID = 2**31 - 1


@dataclass(frozen=True)
class FromBoxesConfig:
    """Detector boxes -> SAM box prompts -> masks."""

    images: str | None = opt(
        None, "Folder of the images (mirroring the label tree). Default: the YOLO rule (last "
        "/labels/ -> /images/), else beside the label file.", BOXES, metavar="DIR"
    )
    coco_dets: str | None = opt(
        None, "Read boxes from this COCO detection-results JSON (image_id, category_id, bbox "
        "xywh, score) instead of YOLO label files; needs --images.", BOXES, metavar="FILE"
    )
    image_map: str | None = opt(
        None, "With --coco-dets: a COCO ground-truth JSON (its 'images' list) or a JSON object "
        "{image_id: file_name} naming each image's file under --images.", BOXES,
        metavar="FILE"
    )
    min_conf: float = opt(
        0.0, "Skip boxes with a confidence below this (rows without a confidence are kept).",
        BOXES
    )
    classes: str | None = opt(
        None, "Only these class ids, comma-separated (e.g. 0,3).", BOXES, metavar="IDS"
    )
    multimask: bool = opt(
        False, "Decode 3 candidate masks per box and keep the one with the best predicted IoU "
        "(--multimask), or one mask (--single-mask, SAM's advice for boxes; a SAM 2 model "
        "then falls back to the best of three where its single mask is unstable, as Meta's "
        "predictor does).", BOXES,
        flag="--multimask/--single-mask",
    )
    min_box_iou: float = opt(
        0.0, "Drop masks whose tight box has IoU below this with the prompt box.", BOXES
    )
    min_region_area: int = opt(
        0, "Fill holes and remove islands smaller than this many pixels in each mask.", BOXES
    )
    boxes_per_batch: int = opt(64, "Box prompts decoded together in one decoder call.", BOXES)
    score: str = opt(
        "detector", "The score of each mask in COCO output (results.json, annotations.json: "
        "what COCOeval ranks by) and Label Studio predictions: 'detector' (the box's confidence; 1 for boxes without one), "
        "'sam' (mean of SAM's predicted IoU and stability) or 'product' (both multiplied).",
        BOXES, metavar="detector|sam|product"
    )

    def class_set(self) -> frozenset[int] | None:
        """The --classes filter as a set of ints (ASCII decimals, 0 to MAX_CLASS_ID), or None
        for all classes."""
        if self.classes is None or not self.classes.strip():
            return None
        ids = [c.strip() for c in self.classes.split(",") if c.strip()]
        if not ids or not all(re.fullmatch("[0-9]{1,10}", c) and int(c) <= MAX_CLASS_ID
                              for c in ids):  # (',' alone would keep no box, silently)
            raise UsageError(f"--classes {self.classes!r}: expected class ids from 0 to "
                             f"{MAX_CLASS_ID} separated by commas, e.g. 0,3")
        return frozenset(int(c) for c in ids)

    def __post_init__(self) -> None:
        canonical_case(self, score=SCORES)

    def validate(self) -> "FromBoxesConfig":
        _finite(self)
        self.class_set()
        if self.boxes_per_batch < 1:
            raise ConfigError("--boxes-per-batch must be at least 1")
        if self.min_region_area < 0:
            raise ConfigError("--min-region-area must not be negative")
        if self.coco_dets and not self.images:
            raise ConfigError("--coco-dets needs --images DIR (where the images are)")
        if self.image_map and not self.coco_dets:
            raise ConfigError("--image-map only applies with --coco-dets")
        if self.score not in SCORES:
            raise UsageError(f"--score {self.score!r}: expected one of {', '.join(SCORES)}")
        return self

    def warnings(self) -> list[str]:
        """Values that work but are unlikely to be meant (shown before any work)."""
        out = []
        if self.min_conf > 1:
            out.append(f"--min-conf {self.min_conf:g} is above 1: every box with a confidence "
                       "is skipped (confidences are at most 1; rows without one are kept)")
        if self.min_box_iou > 1:
            out.append(f"--min-box-iou {self.min_box_iou:g} is above 1: every mask is "
                       "dropped (a box IoU is at most 1)")
        return out


# ---------------------------------------------------------------------------------------------
# Options shared by the commands


@dataclass(frozen=True)
class ModelOptions:
    """Which weights, where to run them and in which precision."""

    model: str | None = opt(
        None, "Model: vit_b (the default), vit_l, vit_h, mobile_sam, sam2.1_hiera_tiny, "
        "sam2.1_hiera_small, sam2.1_hiera_base_plus, sam2.1_hiera_large (or SAM 2.0's "
        "sam2_hiera_...). With --checkpoint and no --model, the architecture is read from the "
        "file.", MODEL, metavar="NAME"
    )
    checkpoint: str | None = opt(
        None, "Checkpoint file to load instead of the cached download (wins over --model's "
        "weights; the architecture comes from --model or is read from the file).", MODEL,
        metavar="FILE"
    )
    device: str = opt(
        "auto", "auto, cpu, cuda, cuda:N or mps. On the CPU the model runs 4 torch threads "
        "(fewer on a machine with fewer cores) however many cores there are, so that records "
        "do not depend on the machine; $SAMCLI_THREADS=N sets another count (last digits of "
        "scores and border pixels may then differ).", MODEL, metavar="DEVICE"
    )
    dtype: str = opt(
        "auto", "auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16 or float16 "
        "(CUDA only). "
        "bfloat16 pays on a CPU with fast bfloat16 arithmetic (AMX, or AMD's AVX-512 bf16); "
        "on an Intel CPU without AMX it ran slower than float32.", MODEL,
        metavar="DTYPE"
    )
    decoder_dtype: str = opt(
        "auto", "Precision of the mask decoder: mixed (float32, with its products with the "
        "image tokens in --dtype's precision, bfloat16 for float32: most of bfloat16's "
        "speed, masks close to float32's), "
        "float32, bfloat16 or float16; auto: mixed on the CPU with --dtype bfloat16, "
        "otherwise the same as --dtype.",
        MODEL, metavar="DTYPE",
    )


@dataclass(frozen=True)
class PolygonOptions:
    """How masks become polygons."""

    simplify: float = opt(
        DEFAULT_SIMPLIFY,
        "Polygon simplification tolerance in pixels (0 = exact pixel-edge polygons). Under "
        "1 px a simplified polygon must rasterize back to its mask at IoU >= 0.97 (pixel "
        "centres and pycocotools), else the mask keeps its exact polygon.",
        POLY,
    )
    max_vertices: int = opt(0, "Simplify further until a polygon has at most N vertices "
                            "(0 = no limit; a YOLO row adds 2 points per extra part or "
                            "hole, for the bridge joining it).", POLY)

    def validate(self) -> "PolygonOptions":
        _finite(self)
        if self.simplify < 0:
            raise ConfigError("--simplify must not be negative")
        if self.max_vertices < 0 or 0 < self.max_vertices < 4:
            raise ConfigError("--max-vertices must be 0 (no limit) or at least 4")
        return self


FORMATS = ("jsonl", "coco", "yolo", "geojson", "labelstudio")


#: What goes before an image's path in Label Studio task URLs (its local-files handler).
DEFAULT_IMAGE_ROOT_URL = "/data/local-files/?d="


@dataclass(frozen=True)
class OutputOptions:
    """Where results go."""

    output: str | None = opt(
        None, "Write files under this folder (with a manifest, resumable) instead of JSON Lines "
        "on stdout.", OUT, flag="--output", short="-o", metavar="DIR"
    )
    format: str = opt("jsonl", "File format with -o: " + ", ".join(FORMATS) + " (labelstudio: "
                      "Label Studio tasks with the proposals as predictions).", OUT,
                      metavar="FORMAT")
    geo: bool = opt(
        False, "With --format geojson: coordinates in the image's CRS when it is georeferenced "
        "(GeoTIFF tags, or a world file with a .prj or .aux.xml), else pixels. Needs "
        "rasterio (samcli's optional 'geo' extra).", OUT)
    image_root_url: str | None = opt(
        None, "With --format labelstudio: what goes before each image's path (relative to its "
        f"input folder) in the tasks' image URLs; default '{DEFAULT_IMAGE_ROOT_URL}' (Label "
        "Studio's local files).", OUT, metavar="URL"
    )
    crops: str | None = opt(
        None, "Also write a PNG chip per proposal (transparent outside the mask) under this "
        "folder.", OUT, metavar="DIR"
    )
    preview: str | None = opt(
        None, "Also write each image with its proposals drawn (coloured, outlined, with ids) "
        "under this folder.", OUT, metavar="DIR"
    )
    overwrite: bool = opt(False, "Redo inputs (images, or label files for from-boxes) the "
                          "manifest says are already done.", OUT)
    quiet: bool = opt(False, "No progress bar or summary on stderr (errors still shown).", OUT,
                      short="-q")

    def __post_init__(self) -> None:
        canonical_case(self, format=FORMATS)

    def validate(self) -> "OutputOptions":
        for flag, v in ("-o", self.output), ("--crops", self.crops), ("--preview", self.preview):
            if v == "":  # '-o "$OUT"' with OUT unset: not the current folder
                raise ConfigError(f"{flag} '': an empty folder name; give a folder or leave it out")
            if v is not None and v.startswith("-"):  # '-o --format coco': a value forgotten
                raise UsageError(f"{flag} {v!r}: looks like an option, not a folder (its value "
                                 f"forgotten?); for a folder so named write ./{v}")
        if self.format not in FORMATS:
            raise UsageError(f"--format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.format != "jsonl" and not self.output:
            raise ConfigError(f"--format {self.format} writes files: give a folder with -o")
        if self.geo and self.format != "geojson":
            raise ConfigError("--geo writes GeoJSON in each image's CRS: it needs --format "
                              "geojson (and -o DIR)")
        if self.image_root_url == "":  # '--image-root-url "$URL"' with URL unset
            raise ConfigError("--image-root-url '': an empty URL prefix; give one or leave the "
                              f"option out (default '{DEFAULT_IMAGE_ROOT_URL}')")
        if self.image_root_url is not None and self.format != "labelstudio":
            raise ConfigError("--image-root-url sets the image URLs of Label Studio tasks: it "
                              "needs --format labelstudio (and -o DIR)")
        return self  # (rasterio, which --geo needs, is checked when its writer is made)


# Pillow's own hard limit (2 x its 89.5 Mpx warning), documented in README.
DEFAULT_MAX_PIXELS = 178_956_970


@dataclass(frozen=True)
class InputOptions:
    """Which files, and what to do with bad ones."""

    glob: str | None = opt(
        None, "Only input files (images; label files for from-boxes) in folders whose "
        "relative path or name matches this pattern (e.g. '*.png', 'cam1/**'; '*.txt').", INP,
        metavar="PATTERN"
    )
    max_pixels: int = opt(
        DEFAULT_MAX_PIXELS, "Refuse images with more pixels than this (decompression-bomb "
        "guard; 0 = no limit).", INP
    )
    fail_fast: bool = opt(False, "Stop at the first input that fails (exit 3).", INP)

    def validate(self) -> "InputOptions":
        if self.max_pixels < 0:
            raise ConfigError("--max-pixels must not be negative (0 = no limit)")
        return self


def _field(obj: Any, name: str) -> dataclasses.Field:
    return next(f for f in fields(obj) if f.name == name)


def params_of(obj: Any) -> dict[str, Any]:
    """A config's values as a plain dict."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


#: Options added after manifests existed, left out of the manifest's parameter hash while
#: they have these values (with which the outputs are what they were before the options
#: existed), so runs written before keep their hash and resume.
HASH_NEUTRAL: dict[str, Any] = {"mask_threshold": 0.0, "use_m2m": False,
                                "multimask_output": True}


def hash_params(obj: Any) -> dict[str, Any]:
    """A config's values for the manifest's parameter hash: :func:`params_of` without the
    :data:`HASH_NEUTRAL` options at their neutral values."""
    return {k: v for k, v in params_of(obj).items()
            if not (k in HASH_NEUTRAL and v == HASH_NEUTRAL[k]
                    and type(v) is type(HASH_NEUTRAL[k]))}


# ---------------------------------------------------------------------------------------------
# Scale-out (automask on Ray Data; optional extra: pip install 'samcli[ray]')

SCALE = "Scale-out (Ray)"


@dataclass(frozen=True)
class ScaleOptions:
    """Where the work runs: this process (the default) or a Ray cluster."""

    ray: bool = opt(
        False, "Run on Ray Data (needs samcli's 'ray' extra): the cluster in $RAY_ADDRESS, "
        "else one started with 'ray start' on this machine, else a local Ray instance started "
        "for the run. Same outputs, manifest and resume.", SCALE
    )
    ray_address: str | None = opt(
        None, "Run on this Ray cluster (implies --ray): 'auto' (the cluster this machine "
        "belongs to), 'HOST:PORT' (a cluster's head), 'ray://HEAD:10001' (Ray Client) or "
        "'local' (always a new local instance). Images, checkpoint and -o are paths on this "
        "machine; the workers must see the images and checkpoint at the same paths.", SCALE,
        metavar="ADDRESS"
    )
    ray_actors: int = opt(
        0, "Model replicas (Ray actors). 0 = automatic: one per GPU of the cluster, else one "
        "per 4 CPUs of each node ($SAMCLI_THREADS when set); more actors than GPUs (or CPUs) "
        "share them. Each runs the driver's torch thread count: the plain run's records. "
        "A number implies --ray.", SCALE, metavar="N"
    )

    @property
    def enabled(self) -> bool:
        return self.ray or self.ray_address is not None or self.ray_actors > 0

    def validate(self) -> "ScaleOptions":
        if self.ray_actors < 0:
            raise ConfigError("--ray-actors must not be negative (0 = automatic)")
        if self.ray_address is not None and not self.ray_address.strip():
            raise ConfigError("--ray-address must not be empty (use --ray for a local instance)")
        return self
