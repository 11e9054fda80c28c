"""YOLO box label files for ``from-boxes``, and boxes to pixels.

YOLO box labels (:func:`parse_yolo_labels`)
    One box a row: ``class cx cy w h [conf [track_id]]`` (5, 6 or 7 columns; ultralytics'
    ``save_conf`` appends the confidence, tracking appends an id). Tracking without
    ``save_conf`` writes ``class cx cy w h track_id``: a file whose 6th column holds whole
    numbers only, one of them 2 or more, is read so (no confidence). Coordinates are normalised
    to the image width and height. Lines end with ``\\n``, ``\\r\\n`` or a lone ``\\r``; fields
    are separated by any whitespace; a UTF-8 byte-order mark is fine; blank lines are skipped
    and ``#`` starts a comment that runs to the end of the line. An empty file means "no
    objects". Numbers are plain ASCII decimals (``0.5``, ``.5``, ``5e-1``, ``+0.5``): no
    ``nan``/``inf``, no ``_`` digit separators, no non-ASCII digits such as ``'٣'`` (all of
    which Python's ``float()``/``int()`` would accept), and every value must be finite as a
    double (``1e999`` is an error).

    - ``class`` and ``track_id`` are integers from 0 to :data:`MAX_CLASS_ID` (2^31 - 1),
      written as any numeral equal to one (``3``, ``3.0``, ``3e0``; checked exactly, so
      ``1.0000000000000001`` is not an integer). The bound keeps ids exact in int32/int64
      arrays and as COCO category ids; anything larger (``3e19``, ``9223372036854775808``,
      ``99999999999999999999``) is an error instead of overflowing later.
    - ``conf`` must lie in [0, 1] (what ultralytics writes); anything else is an error naming
      the line rather than being clipped, since it usually means a wrong column order.
    - Coordinates may be any finite numbers: out of [0, 1], negative or zero sizes are not
      errors here; they are clipped (and empty or sub-pixel boxes, under 1 px wide or high
      after clipping, dropped with a warning naming ``file:line``) by :func:`boxes_to_pixels`.

    A row with more than 7 columns is a segment (polygon) label, not a box, and is an error,
    as is any other malformed row: :class:`InputError` ``"<file>:<line>: <what is wrong>"``
    naming the offending value (lines count from 1, comments and blank lines included).
    Unreadable files and bytes that are not UTF-8 are errors naming the file (and line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from samcli.errors import InputError
from samcli.io.labels.numbers import _parse_conf, _parse_float, _parse_int
from samcli.io.labels.text import _LINE_BREAK, _read_text

# --------------------------------------------------------------------------- YOLO rows


@dataclass(slots=True)  # (a detector's dump may hold a million rows)
class BoxLabel:
    """One YOLO box row: normalised centre/size, optional confidence and track id."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float
    conf: float | None = None
    track_id: int | None = None
    line: int = 0


def parse_yolo_labels(path: Path | str) -> list[BoxLabel]:
    """Read a YOLO box label file (see the module docstring); rows in file order."""
    path = Path(path)
    lines = _LINE_BREAK.split(_read_text(path))

    def rows() -> Iterator[tuple[int, list[str]]]:  # (split again when used: less memory)
        for lineno, raw in enumerate(lines, start=1):
            fields = raw.split("#", 1)[0].split()
            if fields:
                yield lineno, fields

    sixth_is_track = _sixth_column_is_track_ids(rows())
    out: list[BoxLabel] = []
    for lineno, fields in rows():
        where = f"{path}:{lineno}"
        n = len(fields)
        if n > 7 and n % 2 == 1:  # a class and x y pairs
            raise InputError(
                f"{where}: {n} columns: this is a segment (polygon) label, not a box; "
                "from-boxes needs rows 'class cx cy w h [conf [track_id]]'"
            )
        if n < 5 or n > 7:
            raise InputError(
                f"{where}: {n} column{'s' if n != 1 else ''}, expected 5 to 7 "
                "('class cx cy w h [conf [track_id]]')"
            )
        cls = _parse_int(fields[0], "class", where)
        cx, cy, w, h = (
            _parse_float(fields[i], name, where)
            for i, name in ((1, "cx"), (2, "cy"), (3, "w"), (4, "h"))
        )
        if n == 6 and sixth_is_track:
            conf, track = None, _parse_int(fields[5], "track id", where)
        else:
            conf = _parse_conf(fields[5], where) if n >= 6 else None
            track = (
                _parse_int(
                    fields[6], "track id", where,
                    " (a 7-column row of fractions may be a 3-point segment label)",
                )
                if n == 7
                else None
            )
        out.append(BoxLabel(cls, cx, cy, w, h, conf, track, lineno))
    return out


def _sixth_column_is_track_ids(rows: Iterable[tuple[int, list[str]]]) -> bool:
    """Whether the file's 6-column rows are ``class cx cy w h track_id``, as ultralytics'
    tracking writes without ``save_conf``: every 6th value a whole number and one of them 2
    or more, which no confidence can be. (Ids 0 and 1 alone cannot be told from confidences
    0 and 1; ultralytics numbers tracks from 1.)"""
    seen_two = False
    for _, fields in rows:
        if len(fields) == 6:
            try:
                seen_two = _parse_int(fields[5], "track id", "") >= 2 or seen_two
            except InputError:  # a confidence: stop at the first
                return False
    return seen_two


# --------------------------------------------------------------------------- to pixels


#: Smallest box side (pixels, after clipping) kept as a prompt: a sub-pixel box is no object
#: SAM can outline (issue 14.13); such boxes are dropped with a warning, like empty ones.
MIN_BOX_SIZE = 1.0
#: Dropped boxes of one image told one a line; the rest in one line that counts them (a
#: detector dump of 100,000 empty rows would otherwise bury everything else on stderr).
MAX_BOX_WARNINGS = 20


class PixelBoxes(NamedTuple):
    """Result of :func:`boxes_to_pixels` / :func:`clip_boxes`.

    ``xyxy``: ``(N, 4)`` float64 pixel boxes ``x1 y1 x2 y2`` clipped to ``[0, W] x [0, H]``
    (pixel-corner coordinates), one row per input box, in input order. ``keep``: ``(N,)``
    bool, False for boxes that are empty after clipping (use ``xyxy[keep]``). ``warnings``:
    one message per dropped box, naming its source (``file:line`` or COCO entry), for the
    first :data:`MAX_BOX_WARNINGS`, then one that counts the rest. ``names``:
    each input box's source as the warnings name it, or None when the caller gave none.
    """

    xyxy: np.ndarray
    keep: np.ndarray
    warnings: list[str]
    names: list[str] | None = None


def clip_boxes(
    xyxy: np.ndarray | Sequence[Sequence[float]],
    width: int,
    height: int,
    *,
    names: Sequence[str] | None = None,
    min_size: float = MIN_BOX_SIZE,
) -> PixelBoxes:
    """Clip pixel ``xyxy`` boxes to a ``width x height`` image; drop unusable ones with a
    warning.

    A box is kept when none of its coordinates is NaN and, after clipping (infinite ones
    too), its width and height are both at least ``min_size`` pixels (default
    :data:`MIN_BOX_SIZE`, 1) and more than 0. Boxes with a NaN coordinate, x2 < x1 or y2 < y1
    (negative size), empty ones and sub-pixel ones (``min_size`` 1: under a pixel wide or
    high, too small to be a SAM prompt) are dropped. ``names[i]`` prefixes box i's warning.
    """
    arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    clipped = arr.copy()
    np.clip(clipped[:, 0::2], 0.0, float(width), out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0.0, float(height), out=clipped[:, 1::2])
    # A NaN coordinate says nowhere: the box is dropped, its row zeroed (an infinite one is
    # clipped to the image's edge like any coordinate beyond it, as a YOLO size of 1e308
    # image widths is, which overflows to infinity in pixels)
    no_nan = ~np.isnan(arr).any(axis=1)
    clipped[~no_nan] = 0.0
    bw = clipped[:, 2] - clipped[:, 0]
    bh = clipped[:, 3] - clipped[:, 1]
    keep = no_nan & (bw > 0) & (bh > 0) & (bw >= min_size) & (bh >= min_size)
    warnings: list[str] = []
    dropped = np.flatnonzero(~keep)
    for i in dropped[:MAX_BOX_WARNINGS]:
        name = names[i] if names is not None else f"box {i}"
        x1, y1, x2, y2 = (float(v) for v in arr[i])
        if not no_nan[i]:
            why = "has a NaN coordinate"
        elif x2 < x1 or y2 < y1:
            why = "has a negative width or height"
        elif x2 == x1 or y2 == y1:
            why = "has zero size"
        elif bw[i] <= 0 or bh[i] <= 0:
            why = f"is empty after clipping to the {width}x{height} image"
        else:
            clip_note = "" if (bw[i], bh[i]) == (x2 - x1, y2 - y1) else " after clipping"
            why = (f"is {bw[i]:.2g} x {bh[i]:.2g} px{clip_note}, under {min_size:g} px wide "
                   "or high: too small to prompt SAM")
        warnings.append(
            f"{name}: box [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] (pixels) {why}; skipped"
        )
    if len(dropped) > MAX_BOX_WARNINGS:
        i = dropped[MAX_BOX_WARNINGS]
        name = names[i] if names is not None else f"box {i}"
        warnings.append(f"{name}: this box and {len(dropped) - MAX_BOX_WARNINGS - 1} more after "
                        "it skipped too (empty, under a pixel, negative or NaN; only the first "
                        f"{MAX_BOX_WARNINGS} are told one by one)")
    return PixelBoxes(clipped, keep, warnings, None if names is None else list(names))


def boxes_to_pixels(
    labels: Sequence[BoxLabel],
    width: int,
    height: int,
    *,
    source: Path | str | None = None,
    min_size: float = MIN_BOX_SIZE,
) -> PixelBoxes:
    """Normalised YOLO boxes -> clipped pixel ``xyxy`` for a ``width x height`` image.

    ``x1 = (cx - w/2) * width`` etc.; then :func:`clip_boxes`. ``source`` (the label file)
    prefixes warnings as ``file:line``.
    """
    if labels:
        a = np.array([[b.cx, b.cy, b.w, b.h] for b in labels], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # 1e308-sized boxes: +-inf, clipped
            xyxy = np.stack(
                [
                    (a[:, 0] - a[:, 2] / 2) * width,
                    (a[:, 1] - a[:, 3] / 2) * height,
                    (a[:, 0] + a[:, 2] / 2) * width,
                    (a[:, 1] + a[:, 3] / 2) * height,
                ],
                axis=1,
            )
    else:
        xyxy = np.zeros((0, 4), dtype=np.float64)
    prefix = f"{source}:" if source is not None else "line "
    names = [f"{prefix}{b.line}" for b in labels]
    return clip_boxes(xyxy, width, height, names=names, min_size=min_size)
