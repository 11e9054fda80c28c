"""ImageResult: one input's finished, writer-ready outcome (what the unit of work returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samcli.maskset import MaskSet


@dataclass
class ImageResult:
    """The proposals for one image, ready for the writers.

    - ``image``: the record's ``image`` field: POSIX path relative to the input root the file was
      found under (as given for a lone file). Output files mirror this path.
    - ``source``: the image file on disk.
    - ``width``/``height``: image size in pixels after EXIF orientation.
    - ``masks``: the proposals, in output order.
    - ``extras``: per-mask extra record fields appended after the standard keys (from-boxes:
      ``class``, ``box_confidence``, ``prompt_box``, ``box_iou``); empty list for automask,
      else exactly ``len(masks)`` dicts.
    - ``records``: the JSON Lines records (:func:`samcli.io.records.proposal_records`), one per
      non-empty mask, record ``id`` = position; with ``segmentation`` only when a writer needs
      polygons.
    - ``rgb``: the decoded image (uint8 (h, w, 3) RGB) when crops or previews need it, else None.
    - ``warnings``: messages about this input that did not stop it (a clipped box, a box whose
      mask came out empty), reported by the runner.
    - ``image_id``: the input's own image id (from-boxes with COCO detections: the ground
      truth's id, as written), which writers keep; None where samcli numbers images itself.
    """

    image: str
    source: Path
    width: int
    height: int
    masks: MaskSet
    extras: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    rgb: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    image_id: int | str | None = None

    def __post_init__(self) -> None:
        if self.masks.image_size != (self.height, self.width):
            raise ValueError(
                f"masks are {self.masks.image_size}, image is {(self.height, self.width)}"
            )
        if self.extras and len(self.extras) != len(self.masks):
            raise ValueError(f"{len(self.extras)} extras for {len(self.masks)} masks")
        if self.rgb is not None and self.rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"rgb is {self.rgb.shape}, image is {(self.height, self.width)}")
