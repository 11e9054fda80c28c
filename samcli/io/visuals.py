"""What people and classifiers look at: per-proposal chips and annotated previews.

==========  ==========================================================================
crops       ``CROPS/<image>/<id>.png``: RGBA chip of the mask's box, alpha = mask
preview     ``PREVIEW/<image>.jpg``: the image with filled, outlined, numbered masks
==========  ==========================================================================

Both need the decoded image (``needs_rgb``) and draw the masks themselves (no polygons).
"""

from __future__ import annotations

import colorsys
import contextlib
import re
from pathlib import Path

import cv2
import numpy as np

from samcli.errors import SamcliError
from samcli.fs import atomic_write_bytes
from samcli.io.outputs import Writer, output_relpath, with_suffix
from samcli.io.records import kept_indices
from samcli.results import ImageResult


def _color(i: int) -> tuple[int, int, int]:
    """A distinct, deterministic RGB colour for proposal ``i`` (golden-ratio hues)."""
    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.8, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _require_rgb(result: ImageResult, what: str) -> np.ndarray:
    if result.rgb is None:
        raise ValueError(f"{what} need the decoded image (ImageResult.rgb is None)")
    rgb = np.asarray(result.rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"ImageResult.rgb must be uint8 (h, w, 3), got {rgb.dtype} {rgb.shape}")
    return rgb


class CropsWriter(Writer):
    """``CROPS/<image>/<id>.png``: the mask's tight box cut from the image, RGBA, alpha = mask.

    Chips of an earlier run of the same image with ids that no longer exist are removed.
    """

    needs_rgb = True
    _NAME = re.compile(r"^\d+\.png$")

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        rel = output_relpath(image)
        return [self.root.joinpath(*rel.parts)]

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        rgb = _require_rgb(result, "crops")
        folder = self.outputs_for(result.image)[0]
        written = []
        for rec, i in zip(result.records, kept_indices(result.masks)):
            x, y, w, h = rec["bbox"]
            m = result.masks.window(int(i))[0]
            chip = np.dstack([rgb[y : y + h, x : x + w][:, :, ::-1], m.astype(np.uint8) * 255])
            ok, buf = cv2.imencode(".png", chip)
            if not ok:
                raise SamcliError(f"could not encode the crop {rec['id']} of {result.image}")
            written.append(atomic_write_bytes(folder / f"{rec['id']}.png", buf.tobytes()))
        self._remove_chips(folder, keep={p.name for p in written})
        return written

    def files_present(self, image: str, proposals: int) -> bool:
        folder = self.outputs_for(image)[0]  # one chip per record, named by its id
        return all((folder / f"{i}.png").is_file() for i in range(proposals))

    def discard(self, image: str) -> None:
        folder = self.outputs_for(image)[0]
        if self._not_anothers(folder, image):
            self._remove_chips(folder, keep=set())
            with contextlib.suppress(OSError):  # gone when empty
                folder.rmdir()

    def _remove_chips(self, folder: Path, keep: set[str]) -> None:
        """Chips in ``folder`` not named in ``keep`` (left by an earlier run)."""
        if folder.is_dir():
            for p in folder.iterdir():
                if self._NAME.match(p.name) and p.name not in keep:
                    try:
                        p.unlink()
                    except OSError:
                        pass


class PreviewWriter(Writer):
    """``PREVIEW/<image>.jpg``: the image with each proposal filled (semi-transparent),
    outlined and labelled with its id; larger masks are drawn first so small ones stay visible.
    """

    needs_rgb = True
    suffix = ".jpg"
    alpha = 0.45

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)

    def outputs_for(self, image: str) -> list[Path]:
        return [with_suffix(self.root, image, self.suffix)]

    def write(self, result: ImageResult) -> list[Path]:
        self._claim(result.image)
        rgb = _require_rgb(result, "previews")
        out = np.ascontiguousarray(rgb[:, :, ::-1])  # BGR copy for OpenCV
        side = min(result.width, result.height)
        thick = max(1, round(side / 500))
        order = sorted(zip(result.records, kept_indices(result.masks)),
                       key=lambda t: -t[0]["area"])
        outlines = []
        for rec, i in order:
            x, y, w, h = rec["bbox"]
            m = result.masks.window(int(i))[0]
            bgr = np.array(_color(rec["id"])[::-1], np.float32)
            region = out[y : y + h, x : x + w]  # a view: writes go to ``out``
            region[m] = (region[m] * (1 - self.alpha) + bgr * self.alpha + 0.5).astype(np.uint8)
            contours, _ = cv2.findContours(
                m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x, y)
            )
            outlines.append((contours, tuple(int(c) for c in bgr)))
        for contours, color in outlines:
            cv2.drawContours(out, contours, -1, color, thick, cv2.LINE_AA)
        scale = max(0.4, side / 900)
        for rec, (px, py) in zip(order, _label_points(result, order)):
            text = str(rec[0]["id"])
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            org = (int(px - tw / 2), int(py + th / 2))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2,
                        cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                        cv2.LINE_AA)
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise SamcliError(f"could not encode the preview of {result.image}")
        return [atomic_write_bytes(self.outputs_for(result.image)[0], buf.tobytes())]


def _label_points(result: ImageResult, order: list) -> list[tuple[float, float]]:
    """Where to print each id: the point of the mask farthest from its edge, avoiding the
    smaller masks drawn over it where possible (so nested masks get separate labels)."""
    covered = np.zeros((result.height, result.width), bool)
    points: dict[int, tuple[float, float]] = {}
    for rec, i in reversed(order):  # smallest first
        x, y, w, h = rec["bbox"]
        m = result.masks.mask(int(i))
        free = m & ~covered
        region = (free if free.any() else m)[y : y + h, x : x + w]
        dist = cv2.distanceTransform(
            np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE
        )
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
        points[rec["id"]] = (x + c - 1 + 0.5, y + r - 1 + 0.5)
        covered |= m
    return [points[rec["id"]] for rec, _ in order]
