"""Pixel rules shared by every image reader: orientation, bit depth, floats, alpha, size.

Pure numpy, no file access: :mod:`samcli.io.images` (Pillow) and :mod:`samcli.io.raster`
(rasterio) both turn decoded values into uint8 RGB with these functions, so a 16-bit PNG and
a 16-bit GeoTIFF map their values the same way. The rules themselves are described in
:mod:`samcli.io.images`' docstring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samcli.errors import InputError


#: Bytes a pixel takes while a file is decoded: the decoder's own array (up to 4 bytes a
#: pixel for RGBA or 32-bit data, 8 for some float rasters, counted as 8) plus samcli's uint8
#: RGB array (3) and one conversion copy (3).
DECODE_BYTES_PER_PIXEL = 14


def check_size(path: Path, size: tuple[int, int], limit: int | None) -> None:
    """Refuse, before decoding, an image of zero size, one over ``limit`` pixels
    (``--max-pixels``), and one that cannot fit in the memory available now (a small file
    can claim 10^10 pixels; without this the process would be killed by the kernel without a
    word)."""
    w, h = size
    if w <= 0 or h <= 0:
        raise InputError(f"{path}: image has zero size ({w}x{h})")
    if limit is not None and w * h > limit:
        raise InputError(
            f"{path}: image is {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} "
            "(raise it with --max-pixels, 0 for no limit)"
        )
    need = w * h * DECODE_BYTES_PER_PIXEL
    free = available_memory()
    if free is not None and need > free:
        raise InputError(
            f"{path}: image is {w}x{h} = {w * h:,} pixels; decoding it needs about "
            f"{need / 1e9:.1f} GB of memory and {free / 1e9:.1f} GB are available"
        )


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux ``MemAvailable``, bounded by a
    cgroup limit when one is set), or None when unknown."""
    free = None
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),):
        try:
            with open(limit_file) as fh:
                limit = fh.read().strip()
            with open(usage_file) as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit():
            room = max(0, int(limit) - usage)
            free = room if free is None else min(free, room)
    return free


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The numpy equivalent of ``ImageOps.exif_transpose`` for EXIF orientation 1..8."""
    if orientation == 2:  # mirrored horizontally
        return arr[:, ::-1]
    if orientation == 3:  # rotated 180
        return arr[::-1, ::-1]
    if orientation == 4:  # mirrored vertically
        return arr[::-1]
    if orientation == 5:  # transpose (mirror across the main diagonal)
        return arr.swapaxes(0, 1)
    if orientation == 6:  # shown rotated 90 degrees clockwise
        return np.rot90(arr, k=-1)
    if orientation == 7:  # transverse (mirror across the anti-diagonal)
        return arr.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:  # shown rotated 90 degrees counter-clockwise
        return np.rot90(arr, k=1)
    return arr


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray.astype(np.uint8, copy=False)[:, :, None], 3, axis=2)


def composite_white(rgba: np.ndarray) -> np.ndarray:
    """Straight (non-premultiplied) RGBA uint8 -> RGB on white, rounded."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    a = rgba[:, :, 3:4].astype(np.uint32)
    out = (rgb * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def composite_white_premultiplied(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Premultiplied colour + alpha -> on white: ``c_premul + (255 - a)``."""
    out = color.astype(np.int32) + (255 - alpha.astype(np.int32))[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def scale_int(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned integer values of ``bits`` significant bits -> 0..255 by dropping low bits."""
    shift = max(bits - 8, 0)
    v = values.astype(np.int64)
    np.maximum(v, 0, out=v)
    v >>= shift
    np.minimum(v, 255, out=v)
    return v.astype(np.uint8)


def float_to_u8(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        v = np.where(finite, v, 0.0)
    if v.size == 0:
        return v.astype(np.uint8)
    return scale_float(v, float(v.min()), float(v.max()))


def scale_float(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float64 values whose range is [lo, hi] -> uint8: x 255 when the range lies in [0, 1],
    else stretched from lo..hi to 0..255 (all 0 for a constant)."""
    if lo >= 0.0 and hi <= 1.0:
        scaled = v * 255.0
    elif hi > lo:
        scaled = (v - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(v)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Pillow ``LAB`` (uint8 (..., 3): L 0..255 for L* 0..100; a*, b* signed bytes, as TIFF's
    CIELab and LittleCMS's 8-bit Lab hold them) -> sRGB uint8 (D65)."""
    L = lab[..., 0].astype(np.float64) * (100.0 / 255.0)
    ab = np.ascontiguousarray(lab[..., 1:]).view(np.int8).astype(np.float64)
    a, b = ab[..., 0], ab[..., 1]
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    eps = 6.0 / 29.0

    def finv(t: np.ndarray) -> np.ndarray:
        return np.where(t > eps, t**3, 3.0 * eps * eps * (t - 4.0 / 29.0))

    xyz = np.stack([0.95047 * finv(fx), 1.0 * finv(fy), 1.08883 * finv(fz)], axis=-1)
    m = np.array(
        [[3.2404542, -1.5371385, -0.4985314],
         [-0.9692660, 1.8760108, 0.0415560],
         [0.0556434, -0.2040259, 1.0572252]]
    )
    rgb = np.clip(xyz @ m.T, 0.0, 1.0)
    srgb = np.where(rgb <= 0.0031308, 12.92 * rgb, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)
