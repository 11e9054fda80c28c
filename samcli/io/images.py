"""Robust image reading: every supported file becomes one uint8 ``(H, W, 3)`` RGB array.

:func:`read_image` is the only way samcli turns an image file into pixels. It never returns
a half-decoded image and never raises anything but :class:`~samcli.errors.InputError` (whose
message starts with the file's path), so the runner can report the file and go on.

Formats
    JPEG (including multi-picture MPO files from cameras), PNG, BMP, TIFF and WebP, identified
    by their content, not their suffix (a PNG named ``.jpg`` reads fine). Anything else,
    GIF included, is refused. Multi-frame files (TIFF pages, animated WebP, MPO): the first
    frame only. A ``.tif``/``.tiff`` file Pillow cannot identify (16-bit or float data with
    3+ bands, 64-bit float, 5+ bands: satellite GeoTIFFs) is read with rasterio when the
    ``geo`` extra is installed, by the rules of :mod:`samcli.io.geo` (bands 1-3 or the
    red/green/blue bands, the same bit-depth and float scaling as below, nodata -> 0).

Orientation
    The EXIF orientation tag (JPEG, PNG ``eXIf``, TIFF, WebP; or XMP ``tiff:Orientation``) is
    applied, as ``ImageOps.exif_transpose`` would: the array is the image as a viewer shows
    it, so an orientation-6 photo stored 4000x3000 comes back with shape ``(4000, 3000, 3)``.
    An unreadable EXIF block is treated as "no orientation".

Conversions to 8-bit RGB (by Pillow mode)
    ``RGB``                       as is.
    ``L``                         grey replicated to 3 channels.
    ``1`` (bilevel)               0 -> 0, 1 -> 255, replicated.
    ``I;16*`` (16-bit grey)       scaled by the container's bit depth: ``v >> 8`` (65535 -> 255,
                                  32768 -> 128, 255 -> 0), i.e. the high byte, which is what
                                  Pillow itself does with 16-bit RGB(A) PNG and TIFF files.
                                  A TIFF that declares fewer bits (BitsPerSample 9..15) is scaled
                                  by its declared depth (12-bit: ``v >> 4``). 12-bit data stored
                                  in a 16-bit PNG without such a declaration comes out dark
                                  (max 4095 -> 15): there is no per-image stretching, so every
                                  image of a set is mapped the same way; convert such images
                                  beforehand if that matters.
    ``I`` (32-bit signed int)     negative values -> 0; the bit depth is the TIFF's declared
                                  BitsPerSample when present, else 16 when every value fits in
                                  0..65535, else 32; then ``v >> (depth - 8)`` (a 32-bit signed
                                  image uses its 31 value bits: ``v >> 23``).
    ``F`` (32-bit float)          NaN/inf -> 0; values all within [0, 1] -> ``round(v * 255)``;
                                  otherwise min-max stretched to 0..255 (a float image has no
                                  bit depth to scale by).
    ``P`` (palette)               through the palette to RGB; with a transparent entry, through
                                  RGBA and the alpha rule below.
    ``RGBA``, ``LA``, ``PA``      alpha composited onto a WHITE background:
                                  ``out = (c * a + 255 * (255 - a)) / 255`` rounded. White is
                                  what image viewers and browsers show behind cut-outs, logos
                                  and scans; the colour stored under fully transparent pixels
                                  is often arbitrary (frequently black) and is discarded.
                                  ``L``/``RGB`` images with a PNG transparent colour key are
                                  treated the same way. Premultiplied ``RGBa``/``La``: the same
                                  compositing on their premultiplied values.
    ``CMYK``                      Pillow's CMYK -> RGB conversion (Adobe-inverted JPEGs are
                                  handled by the decoder; no ICC colour management).
    ``YCbCr``, ``HSV``, ``RGBX``  Pillow's conversion to RGB.
    ``LAB``                       CIE L*a*b* (D65) -> sRGB, computed here.
    anything else                 refused ("unsupported image mode").

Safety
    Decompression bombs: an image over ``max_pixels`` pixels (width x height) is refused
    before its pixels are decoded; the default, :data:`DEFAULT_MAX_PIXELS` = 178,956,970, is
    the size at which Pillow itself raises ``DecompressionBombError``; ``None`` or ``0`` means
    no limit. Pillow's own check (``Image.MAX_IMAGE_PIXELS``) is lifted only while the header
    is parsed (and, for images over Pillow's warning size, while the pixels are decoded), under
    a module lock, and always restored: our limit replaces it, Pillow prints no
    DecompressionBombWarning, and the global is left as it was found. Other code in the same
    process that calls Pillow during that short window sees no Pillow limit.
    Truncated files raise (Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never changed here
    and must stay False): no silently grey bottom halves.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from samcli.errors import InputError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "image_size",
    "is_image_path",
    "read_image",
]

#: Supported file suffixes, lower case, in lookup preference order (see io.labels).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: Pillow's own error size (2 x its 89,478,485-pixel warning size): about 179 megapixels.
DEFAULT_MAX_PIXELS: int = 178_956_970

# Content formats Pillow may identify a file as. Restricting the list also keeps Pillow's
# more exotic parsers away from untrusted bytes.
# (Multi-picture MPO files are opened by Pillow's JPEG plugin.)
_PIL_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")

_ORIENTATION_TAG = 0x0112

# Guards every temporary change of Image.MAX_IMAGE_PIXELS (see module docstring).
_PIL_LIMIT_LOCK = threading.Lock()


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when the path's suffix is a supported image type (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


# --------------------------------------------------------------------------- Pillow limits


@contextlib.contextmanager
def _pillow_limit_lifted() -> Iterator[None]:
    """Run the body with Pillow's bomb check off; restore the previous value afterwards."""
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pillow_warn_limit() -> int | None:
    """Pillow's current warning size, read while no lift is in progress."""
    with _PIL_LIMIT_LOCK:
        return Image.MAX_IMAGE_PIXELS


def _normalise_limit(max_pixels: int | None) -> int | None:
    if max_pixels is None or max_pixels == 0:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise TypeError(f"max_pixels must be an int or None, not {type(max_pixels).__name__}")
    if max_pixels < 0:
        raise ValueError(f"max_pixels must be >= 0, got {max_pixels}")
    return int(max_pixels)


# --------------------------------------------------------------------------- errors


def _os_error_text(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno is not None and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def _check_file(path: Path) -> None:
    """Cheap checks with clear messages before Pillow sees the file."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: {_os_error_text(exc)}") from None
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not an image file")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def _check_data(path: Path, data: bytes) -> None:
    """The checks of :func:`_check_file` for a file's content read elsewhere."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    if len(data) == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def _open(path: Path, data: bytes | None = None) -> ImageFile.ImageFile:
    """Identify the file (or its content ``data``) and parse its header (no pixels yet), with
    Pillow's check lifted."""
    try:
        with _pillow_limit_lifted():
            source = path if data is None else io.BytesIO(data)
            return Image.open(source, formats=list(_PIL_FORMATS))
    except UnidentifiedImageError:
        raise InputError(
            f"{path}: not a readable image (supported: JPEG, PNG, BMP, TIFF, WebP); "
            "the file is corrupt or in another format"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.EISDIR, errno.EPERM):
            raise InputError(f"{path}: {_os_error_text(exc)}") from None
        raise InputError(f"{path}: cannot read image header: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad input file
        raise InputError(f"{path}: cannot read image header: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_size(path: Path, size: tuple[int, int], limit: int | None) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise InputError(f"{path}: image has zero size ({w}x{h})")
    if limit is not None and w * h > limit:
        raise InputError(
            f"{path}: image is {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} "
            "(raise it with --max-pixels, 0 for no limit)"
        )


# --------------------------------------------------------------------------- orientation


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - corrupt EXIF: treat as "no orientation"
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
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


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


# --------------------------------------------------------------------------- conversions


def _gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray.astype(np.uint8, copy=False)[:, :, None], 3, axis=2)


def _composite_white(rgba: np.ndarray) -> np.ndarray:
    """Straight (non-premultiplied) RGBA uint8 -> RGB on white, rounded."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    a = rgba[:, :, 3:4].astype(np.uint32)
    out = (rgb * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _composite_white_premultiplied(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Premultiplied colour + alpha -> on white: ``c_premul + (255 - a)``."""
    out = color.astype(np.int32) + (255 - alpha.astype(np.int32))[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _declared_bits(im: Image.Image) -> int | None:
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return None
    try:
        bits = tags.get(258)  # BitsPerSample
        if isinstance(bits, (tuple, list)):
            bits = bits[0] if bits else None
        return int(bits) if bits else None
    except Exception:  # noqa: BLE001
        return None


def _scale_int(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned integer values of ``bits`` significant bits -> 0..255 by dropping low bits."""
    shift = max(bits - 8, 0)
    v = values.astype(np.int64)
    np.maximum(v, 0, out=v)
    v >>= shift
    np.minimum(v, 255, out=v)
    return v.astype(np.uint8)


def _float_to_u8(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        v = np.where(finite, v, 0.0)
    if v.size == 0:
        return v.astype(np.uint8)
    return _scale_float(v, float(v.min()), float(v.max()))


def _scale_float(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float64 values whose range is [lo, hi] -> uint8: x 255 when the range lies in [0, 1],
    else stretched from lo..hi to 0..255 (all 0 for a constant)."""
    if lo >= 0.0 and hi <= 1.0:
        scaled = v * 255.0
    elif hi > lo:
        scaled = (v - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(v)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Pillow ``LAB`` (L 0..255 for L* 0..100; a*, b* offset by 128) -> sRGB uint8 (D65)."""
    v = lab.astype(np.float64)
    L = v[..., 0] * (100.0 / 255.0)
    a = v[..., 1] - 128.0
    b = v[..., 2] - 128.0
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


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Loaded Pillow image -> uint8 (H, W, 3) RGB following the module docstring's rules."""
    mode = im.mode
    transparent_key = "transparency" in im.info and mode in ("P", "L", "RGB", "1")

    if mode == "RGB" and not transparent_key:
        return np.asarray(im)
    if mode == "L" and not transparent_key:
        return _gray3(np.asarray(im))
    if mode == "1" and not transparent_key:
        return _gray3(np.asarray(im.convert("L")))
    if mode.startswith("I;16"):
        bits = _declared_bits(im)
        bits = bits if bits is not None and 8 < bits <= 16 else 16
        return _gray3(_scale_int(np.asarray(im), bits))
    if mode == "I":
        values = np.asarray(im)
        bits = _declared_bits(im)
        if bits is None or not 8 < bits <= 32:
            bits = 16 if values.size == 0 or int(values.max()) <= 0xFFFF else 32
        if bits == 32:
            bits = 31  # signed: 31 value bits
        return _gray3(_scale_int(values, bits))
    if mode == "F":
        return _gray3(_float_to_u8(np.asarray(im)))
    if mode in ("RGBA", "LA", "PA") or transparent_key:
        return _composite_white(np.asarray(im.convert("RGBA")))
    if mode == "RGBa":
        a = np.asarray(im)
        return _composite_white_premultiplied(a[:, :, :3], a[:, :, 3])
    if mode == "La":
        a = np.asarray(im)
        return _gray3(_composite_white_premultiplied(a[:, :, :1], a[:, :, 1])[:, :, 0])
    if mode == "LAB":
        return _lab_to_rgb(np.asarray(im))
    if mode in ("P", "CMYK", "YCbCr", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB"))
    raise _UnsupportedMode(mode)


class _UnsupportedMode(Exception):
    pass


def _read_tiff_with_rasterio(path: Path, limit: int | None) -> np.ndarray | None:
    """A ``.tif``/``.tiff`` Pillow could not identify, read by :mod:`samcli.io.geo` (rasterio,
    the ``geo`` extra) when rasterio is installed and GDAL opens it as a TIFF; else None."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    from samcli.io import geo

    if not geo.have_rasterio():
        if not geo.has_tiff_header(path):
            return None
        raise InputError(
            f"{path}: Pillow cannot read this TIFF (16-bit or float data with several bands, "
            f"for instance); rasterio can: {geo.INSTALL_HINT}"
        )
    return geo.read_raster_rgb(path, limit)


# --------------------------------------------------------------------------- public API


def read_image(path: Path | str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               data: bytes | None = None) -> np.ndarray:
    """Read an image file as a C-contiguous uint8 ``(H, W, 3)`` RGB array.

    EXIF orientation is applied; bit depth, palette, alpha and colour space are converted as
    the module docstring describes. ``max_pixels``: refuse images with more pixels than this
    (``None`` or ``0``: no limit). Every failure (missing, empty, unreadable, corrupt,
    truncated, unsupported, too large) raises :class:`InputError` naming the file.

    ``data``: the file's content, already read (by Ray Data's ``read_binary_files``, say):
    decoded by exactly the same rules, without touching the file; ``path`` then only names
    the image in messages.
    """
    path = Path(path)
    limit = _normalise_limit(max_pixels)
    if data is None:
        _check_file(path)
    else:
        _check_data(path, data)
    try:
        im = _open(path, data)
    except InputError:
        # (with ``data``, the file itself when it is at hand: Ray workers see the same paths)
        arr = _read_tiff_with_rasterio(path, limit) if data is None or path.is_file() else None
        if arr is None:
            raise
        return arr
    try:
        with im:
            _check_size(path, im.size, limit)
            pillow_warn = _pillow_warn_limit()
            w, h = im.size
            try:
                if pillow_warn is not None and w * h > pillow_warn:
                    # Pillow checks again while decoding some formats (TIFF): keep it off.
                    with _pillow_limit_lifted():
                        im.load()
                else:
                    im.load()
            except MemoryError:
                raise InputError(f"{path}: not enough memory to decode a {w}x{h} image") from None
            except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
                text = str(exc)
                if "truncated" in text:
                    raise InputError(f"{path}: truncated file: image data ends early") from None
                raise InputError(f"{path}: corrupt image data: {_describe(exc)}") from None
            # After load: Pillow's TIFF plugin applies the orientation itself while loading
            # and then drops the tag, so it is not applied twice.
            orientation = _orientation(im)
            try:
                arr = _to_rgb_array(im)
            except _UnsupportedMode as exc:
                raise InputError(f"{path}: unsupported image mode {exc.args[0]!r}") from None
            except MemoryError:
                raise InputError(f"{path}: not enough memory to convert a {w}x{h} image") from None
            except Exception as exc:  # noqa: BLE001
                raise InputError(
                    f"{path}: cannot convert {im.mode!r} image to RGB: {_describe(exc)}"
                ) from None
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read this image") from None
    except Exception as exc:  # noqa: BLE001 - never let another exception type escape
        raise InputError(f"{path}: cannot read image: {_describe(exc)}") from None

    arr = _apply_orientation(arr, orientation)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(f"{path}: unexpected decoded array {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def image_size(path: Path | str) -> tuple[int, int]:
    """``(width, height)`` as :func:`read_image` would return it, from the header only.

    EXIF orientation 5-8 swaps the two. Cheap: no pixel data is decoded (except for a PNG
    whose EXIF block comes after its image data, where the orientation is not looked for).
    Raises :class:`InputError` like :func:`read_image`; no pixel limit is applied.
    """
    path = Path(path)
    _check_file(path)
    im = _open(path)
    try:
        with im:
            tags = getattr(im, "tag_v2", None)
            if tags is not None and (tags.get(256), tags.get(257)) != im.size:
                # Pillow's TIFF plugin already reports (and on load applies) the
                # orientation: its size is the displayed one.
                orientation = 1
            elif im.format == "PNG" and "exif" not in im.info:
                # PngImageFile.getexif() would decode the whole image to look further.
                orientation = _orientation_from_xmp_only(im)
            else:
                orientation = _orientation(im)
            return _oriented_size(im.size, orientation)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read image header: {_describe(exc)}") from None


def _orientation_from_xmp_only(im: Image.Image) -> int:
    import re

    xmp = im.info.get("XML:com.adobe.xmp") or im.info.get("xmp")
    if not xmp:
        return 1
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", "replace")
    m = re.search(r'tiff:Orientation(="|>)([0-9])', xmp)
    if not m:
        return 1
    value = int(m[2])
    return value if 1 <= value <= 8 else 1
