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
    ``geo`` extra is installed, by the rules of :mod:`samcli.io.raster` (bands 1-3 or the
    red/green/blue bands, the same bit-depth and float scaling as below, nodata -> 0).

Orientation
    The EXIF orientation tag (JPEG, PNG ``eXIf``, TIFF, WebP; or XMP ``tiff:Orientation``) is
    applied, as ``ImageOps.exif_transpose`` would: the array is the image as a viewer shows
    it, so an orientation-6 photo stored 4000x3000 comes back with shape ``(4000, 3000, 3)``.
    An unreadable EXIF block is treated as "no orientation".

Conversions to 8-bit RGB (by Pillow mode)
    ``RGB``                       as is, except a TIFF whose GDAL_METADATA tag marks its 3
                                  bands red, green and blue in another order (a BGR GeoTIFF
                                  written by GDAL): its channels are put in R, G, B order by
                                  those marks, as the rasterio path and GDAL itself read such
                                  a file (:func:`samcli.io.raster.gdal_metadata_colorinterp`,
                                  from the header). Marks that do not name all three colours
                                  leave the stored order. TIFFs Pillow opens in another mode
                                  (an alpha or extra band: ``RGBA``, ``RGBX``) are not
                                  reordered.
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
                                  image uses its 31 value bits: ``v >> 23``; a TIFF of unsigned
                                  32-bit samples, which Pillow opens in this mode, all 32 bits:
                                  ``v >> 24``, as the GeoTIFF path does).
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
    before its pixels are decoded; the default, :data:`samcli.config.DEFAULT_MAX_PIXELS` = 178,956,970, is
    the size at which Pillow itself raises ``DecompressionBombError``; ``None`` or ``0`` means
    no limit. Pillow's own check (``Image.MAX_IMAGE_PIXELS``) is lifted only while the header
    is parsed (and, for images over Pillow's warning size, while the pixels are decoded), under
    a module lock, and always restored: our limit replaces it, Pillow prints no
    DecompressionBombWarning, and the global is left as it was found. Other code in the same
    process that calls Pillow during that short window sees no Pillow limit.
    Truncated files raise (Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never changed here
    and must stay False): no silently grey bottom halves.
    PNG metadata: Pillow refuses a PNG whose compressed text chunk (``zTXt``, ``iTXt``: image
    generators' workflow JSON, big XMP packets) or ICC profile decompresses to more than 1 MiB
    (``PngImagePlugin.MAX_TEXT_CHUNK``), or whose text totals more than 64 MiB
    (``MAX_TEXT_MEMORY``). Such files are valid, so while a file is read here those limits are
    raised to :data:`PNG_TEXT_CHUNK_LIMIT` (64 MiB) and :data:`PNG_TEXT_TOTAL_LIMIT` (128 MiB)
    (never lowered) and restored afterwards, under the same module lock (counted, so
    concurrent reads do not wait for each other). Decompression stops at the chunk limit, so a
    zip-bomb chunk of gigabytes costs at most about that much memory; a PNG over either limit
    is refused by name as a possible decompression bomb. Other code in the process that reads
    PNGs while samcli reads one sees the raised limits.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, UnidentifiedImageError

from samcli.config import DEFAULT_MAX_PIXELS
from samcli.errors import InputError
from samcli.io import pixels, raster

__all__ = [
    "IMAGE_SUFFIXES",
    "PNG_TEXT_CHUNK_LIMIT",
    "PNG_TEXT_TOTAL_LIMIT",
    "image_size",
    "is_image_path",
    "read_image",
    "rgb_of_pil",
]

#: Supported file suffixes, lower case, in lookup preference order (see io.labels).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Content formats Pillow may identify a file as. Restricting the list also keeps Pillow's
# more exotic parsers away from untrusted bytes.
# (Multi-picture MPO files are opened by Pillow's JPEG plugin.)
_PIL_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")

_ORIENTATION_TAG = 0x0112

# Guards every temporary change of Image.MAX_IMAGE_PIXELS and of the PNG text limits (see
# module docstring).
_PIL_LIMIT_LOCK = threading.Lock()

#: Largest decompressed PNG text (zTXt, iTXt) or ICC chunk read (Pillow's is 1 MiB).
PNG_TEXT_CHUNK_LIMIT = 64 * 1024 * 1024
#: Largest total of a PNG's text chunks read (Pillow's is 64 MiB).
PNG_TEXT_TOTAL_LIMIT = 128 * 1024 * 1024

# Reads in progress with the PNG text limits raised, and the values found by the first.
_png_text_lifts = 0
_png_text_saved: tuple[int, int] = (0, 0)


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


@contextlib.contextmanager
def _png_text_limits_raised() -> Iterator[None]:
    """Run the body with Pillow's PNG text limits raised to ours (never lowered). Counted:
    the first of concurrent bodies raises them, the last one out restores them, and the lock
    is held only for that, not while the body runs (so it nests in or around
    :func:`_pillow_limit_lifted`)."""
    global _png_text_lifts, _png_text_saved
    with _PIL_LIMIT_LOCK:
        if _png_text_lifts == 0:
            chunk, total = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
            _png_text_saved = (chunk, total)
            PngImagePlugin.MAX_TEXT_CHUNK = max(chunk, PNG_TEXT_CHUNK_LIMIT)
            PngImagePlugin.MAX_TEXT_MEMORY = max(total, PNG_TEXT_TOTAL_LIMIT)
        _png_text_lifts += 1
    try:
        yield
    finally:
        with _PIL_LIMIT_LOCK:
            _png_text_lifts -= 1
            if _png_text_lifts == 0:
                PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY = _png_text_saved


def _png_limit_text(exc: BaseException) -> str | None:
    """What Pillow's PNG metadata limits mean, for the error of a file over them; else None."""
    text = str(exc)
    if isinstance(exc, ValueError) and "MAX_TEXT_CHUNK" in text:
        return (f"PNG metadata too large: a compressed text or ICC profile chunk decompresses "
                f"to more than {PNG_TEXT_CHUNK_LIMIT >> 20} MiB (refused as a possible "
                "decompression bomb)")
    if isinstance(exc, ValueError) and "MAX_TEXT_MEMORY" in text:
        return (f"PNG metadata too large: its text chunks hold more than "
                f"{PNG_TEXT_TOTAL_LIMIT >> 20} MiB (refused as a possible decompression bomb)")
    return None


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
        with _png_text_limits_raised(), _pillow_limit_lifted():
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
        too_large = _png_limit_text(exc)
        if too_large:
            raise InputError(f"{path}: {too_large}") from None
        raise InputError(f"{path}: cannot read image header: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- orientation


def rgb_of_pil(im: Image.Image, name: str = "image") -> np.ndarray:
    """A Pillow image (from ``Image.open`` or made in memory) as :func:`read_image` makes a
    file's: C-contiguous uint8 ``(H, W, 3)`` RGB, its EXIF orientation applied, bit depth,
    palette, alpha and colour space converted by the same rules. ``name`` names the image
    in errors (:class:`InputError`). Pillow's pixel limit is not applied: the image is in
    memory already."""
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001 - a lazily opened file that turns out broken
        raise InputError(f"{name}: cannot read image: {_describe(exc)}") from None
    return np.ascontiguousarray(_rgb_of_loaded(im, name))


def _rgb_of_loaded(im: Image.Image, name: str | Path) -> np.ndarray:
    """A loaded Pillow image as uint8 (H, W, 3) RGB, its EXIF orientation applied (the
    orientation is read after load: Pillow's TIFF plugin applies it itself while loading
    and then drops the tag, so it is not applied twice); ``name`` names it in errors."""
    orientation = _orientation(im)
    try:
        arr = _to_rgb_array(im)
    except _UnsupportedMode as exc:
        raise InputError(f"{name}: unsupported image mode {exc.args[0]!r}") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to convert a {im.width}x{im.height} "
                         "image") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{name}: cannot convert {im.mode!r} image to RGB: "
                         f"{_describe(exc)}") from None
    return pixels.apply_orientation(arr, orientation)


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - corrupt EXIF: treat as "no orientation"
        return 1
    return value if 1 <= value <= 8 else 1


# --------------------------------------------------------------------------- conversions


def _declared_bits(im: Image.Image) -> int | None:
    return _tag(im, 258, None)  # BitsPerSample


def _tag(im: Image.Image, tag: int, default: int | None) -> int | None:
    """A TIFF tag's (first) value as an int; ``default`` for a TIFF without it; None for an
    image that is not a TIFF or a value that is not a number."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return None
    try:
        value = tags.get(tag)
        if isinstance(value, (tuple, list)):
            value = value[0] if value else None
        return int(value) if value else default
    except Exception:  # noqa: BLE001
        return None


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Loaded Pillow image -> uint8 (H, W, 3) RGB following the module docstring's rules."""
    mode = im.mode
    transparent_key = "transparency" in im.info and mode in ("P", "L", "RGB", "1")

    if mode == "RGB" and not transparent_key:
        order = _gdal_rgb_order(im)
        return np.asarray(im) if order is None else np.asarray(im)[:, :, order]
    if mode == "L" and not transparent_key:
        return pixels.gray3(np.asarray(im))
    if mode == "1" and not transparent_key:
        return pixels.gray3(np.asarray(im.convert("L")))
    if mode.startswith("I;16"):
        bits = _declared_bits(im)
        bits = bits if bits is not None and 8 < bits <= 16 else 16
        return pixels.gray3(pixels.scale_int(np.asarray(im), bits))
    if mode == "I":
        values = np.asarray(im)
        bits = _declared_bits(im)
        if bits == 32 and _tag(im, 339, 1) == 1:  # SampleFormat: unsigned (the TIFF default)
            # Pillow holds unsigned 32-bit samples in its signed mode: their own bits again
            return pixels.gray3(pixels.scale_int(values.view(np.uint32), 32))
        if bits is None or not 8 < bits <= 32:
            bits = 16 if values.size == 0 or int(values.max()) <= 0xFFFF else 32
        if bits == 32:
            bits = 31  # signed: 31 value bits
        return pixels.gray3(pixels.scale_int(values, bits))
    if mode == "F":
        return pixels.gray3(pixels.float_to_u8(np.asarray(im)))
    if mode in ("RGBA", "LA", "PA") or transparent_key:
        return pixels.composite_white(np.asarray(im.convert("RGBA")))
    if mode == "RGBa":
        a = np.asarray(im)
        return pixels.composite_white_premultiplied(a[:, :, :3], a[:, :, 3])
    if mode == "La":
        a = np.asarray(im)
        return pixels.gray3(pixels.composite_white_premultiplied(a[:, :, :1], a[:, :, 1])[:, :, 0])
    if mode == "LAB":
        return pixels.lab_to_rgb(np.asarray(im))
    if mode in ("P", "CMYK", "YCbCr", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB"))
    raise _UnsupportedMode(mode)


def _gdal_rgb_order(im: Image.Image) -> list[int] | None:
    """For a 3-band TIFF whose GDAL_METADATA tag marks its bands red, green and blue in an
    order other than R, G, B: the 0-based stored channels to take as R, G, B (``[2, 1, 0]``
    for BGR); else None (a non-TIFF: one attribute look-up, nothing read). Pillow returns
    a TIFF's samples in stored order and knows nothing of GDAL's marks; GDAL, and so
    :mod:`samcli.io.raster`, goes by them, so without this the same BGR file would read with
    red and blue swapped when 8-bit and right when 16-bit."""
    tags = getattr(im, "tag_v2", None)
    if tags is None or _tag(im, 277, 1) != 3:  # SamplesPerPixel
        return None
    try:
        metadata = tags.get(raster.GDAL_METADATA_TAG)
    except Exception:  # noqa: BLE001 - an unreadable tag marks nothing
        return None
    if not metadata:
        return None
    bands = raster.rgb_band_indexes(raster.gdal_metadata_colorinterp(metadata, 3), 3)
    order = [b - 1 for b in bands]
    return None if order == [0, 1, 2] else order


class _UnsupportedMode(Exception):
    pass


def _read_tiff_with_rasterio(path: Path, limit: int | None) -> np.ndarray | None:
    """A ``.tif``/``.tiff`` Pillow could not identify, read by :mod:`samcli.io.raster` (rasterio,
    the ``geo`` extra) when rasterio is installed and GDAL opens it as a TIFF; else None."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    if not raster.have_rasterio():
        if not raster.has_tiff_header(path):
            return None
        raise InputError(
            f"{path}: Pillow cannot read this TIFF (16-bit or float data with several bands, "
            f"for instance); rasterio can: {raster.INSTALL_HINT}"
        )
    return raster.read_raster_rgb(path, limit)


# --------------------------------------------------------------------------- public API


def read_image(path: Path | str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               data: bytes | None = None, notes: list[str] | None = None) -> np.ndarray:
    """Read an image file as a C-contiguous uint8 ``(H, W, 3)`` RGB array.

    EXIF orientation is applied; bit depth, palette, alpha and colour space are converted as
    the module docstring describes. ``max_pixels``: refuse images with more pixels than this
    (``None`` or ``0``: no limit). Every failure (missing, empty, unreadable, corrupt,
    truncated, unsupported, too large) raises :class:`InputError` naming the file.

    ``data``: the file's content, already read elsewhere: decoded by exactly the same rules,
    without touching the file; ``path`` then only names the image in messages.

    ``notes``: when given, what the decoders warn about while reading this file (Pillow's
    "Corrupt EXIF data", "Tag data larger than file", ...) is appended to it as
    ``<path>: <message>``, once each, instead of going to Python's warnings, which name
    neither the image nor a way on; warnings about code (deprecations) still go there.
    Python's warning capture is process-wide: give ``notes`` from one thread at a time, as
    samcli's unit of work does.
    """
    if notes is None:
        return _read_image(path, max_pixels, data)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return _read_image(path, max_pixels, data)
    finally:
        for w in caught:
            if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning,
                                       FutureWarning)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                       source=w.source)
                continue
            note = f"{path}: {w.message}"
            if note not in notes:
                notes.append(note)


def _read_image(path: Path | str, max_pixels: int | None, data: bytes | None) -> np.ndarray:
    """:func:`read_image` without ``notes``."""

    path = Path(path)
    limit = _normalise_limit(max_pixels)
    if data is None:
        _check_file(path)
    else:
        _check_data(path, data)
    try:
        im = _open(path, data)
    except InputError:
        # (with ``data``, the file itself when it is at hand)
        arr = _read_tiff_with_rasterio(path, limit) if data is None or path.is_file() else None
        if arr is None:
            raise
        return arr
    try:
        # (text chunks after the image data are read by load(), EXIF after it by getexif())
        with im, _png_text_limits_raised():
            pixels.check_size(path, im.size, limit)
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
                too_large = _png_limit_text(exc)
                if too_large:
                    raise InputError(f"{path}: {too_large}") from None
                if "truncated" in text:
                    raise InputError(f"{path}: truncated file: image data ends early") from None
                raise InputError(f"{path}: corrupt image data: {_describe(exc)}") from None
            arr = _rgb_of_loaded(im, path)
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read this image") from None
    except Exception as exc:  # noqa: BLE001 - never let another exception type escape
        raise InputError(f"{path}: cannot read image: {_describe(exc)}") from None

    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(f"{path}: unexpected decoded array {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def image_size(path: Path | str) -> tuple[int, int]:
    """``(width, height)`` as :func:`read_image` would return it, from the header only.

    EXIF orientation 5-8 swaps the two. Cheap: no pixel data is decoded (except for a PNG
    whose EXIF block comes after its image data, where the orientation is not looked for).
    Raises :class:`InputError` like :func:`read_image`; no pixel limit is applied. A TIFF that
    Pillow cannot open is measured by rasterio, as :func:`read_image` reads it.
    """
    path = Path(path)
    _check_file(path)
    try:
        im = _open(path)
    except InputError:
        # a TIFF that read_image reads with rasterio (the geo extra)
        size = raster.raster_size(path) if path.suffix.lower() in (".tif", ".tiff") else None
        if size is None:
            raise
        return size
    try:
        with im, _png_text_limits_raised():
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
            return pixels.oriented_size(im.size, orientation)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        too_large = _png_limit_text(exc)
        if too_large:
            raise InputError(f"{path}: {too_large}") from None
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


def stored_orientation(path: Path | str) -> int:
    """The file's orientation tag (1..8; 1 when absent or unreadable), as stored: TIFFs from
    their first IFD (:func:`samcli.io.raster.tiff_orientation`), other formats from EXIF/XMP
    as :func:`read_image` reads it."""
    path = Path(path)
    tiff = raster.tiff_orientation(path)
    if tiff is not None:
        return tiff
    try:
        with _open(path) as im, _png_text_limits_raised():
            return _orientation(im)
    except InputError:
        return 1
