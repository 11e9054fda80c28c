"""ImageResult: what a command hands to the writers for one image."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samcli.maskset import MaskSet


@dataclass
class ImageResult:
    """The proposals for one image.

    - ``image``: the record's ``image`` field: POSIX path relative to the input root the file was
      found under (as given for a lone file). Output files mirror this path.
    - ``source``: the file on disk.
    - ``width``/``height``: image size in pixels after EXIF orientation.
    - ``masks``: the proposals, in output order (record ``id`` = position).
    - ``extras``: per-mask extra record fields appended after the standard keys (from-boxes:
      ``class``, ``box_confidence``, ``prompt_box``, ``box_iou``); empty list for automask,
      else exactly ``len(masks)`` dicts.
    - ``rgb``: the decoded image (uint8 (h, w, 3) RGB) when crops or previews need it, else None.
    """

    image: str
    source: Path
    width: int
    height: int
    masks: MaskSet
    extras: list[dict] = field(default_factory=list)
    rgb: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.masks.image_size != (self.height, self.width):
            raise ValueError(
                f"masks are {self.masks.image_size}, image is {(self.height, self.width)}"
            )
        if self.extras and len(self.extras) != len(self.masks):
            raise ValueError(f"{len(self.extras)} extras for {len(self.masks)} masks")
        if self.rgb is not None and self.rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"rgb is {self.rgb.shape}, image is {(self.height, self.width)}")
