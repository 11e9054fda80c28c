"""TIFFs that Pillow cannot read, read with rasterio (optional extra ``geo``), and rasterio access.

:func:`read_raster_rgb` reads 16-bit or float TIFFs with 3 or more bands, 64-bit float, 5+
bands (typical satellite scenes) as uint8 RGB; :func:`samcli.io.images.read_image` calls it
only after Pillow failed to identify a ``.tif``/``.tiff``. The values are mapped by the same
rules as Pillow-read images (:mod:`samcli.io.pixels`). The rest of this module is how samcli
reaches rasterio at all (lazily: samcli works without it) and how a file's content picks the
GDAL driver; :mod:`samcli.io.geo` uses both for georeferences.

Pixel rules of :func:`read_raster_rgb`
--------------------------------------
- Bands: the bands whose colour interpretation is red, green, blue when the file says so,
  else bands 1, 2, 3 when there are at least 3, else band 1 as grey (replicated). Other bands
  (alpha, near-infrared, ...) are not used. (GDAL takes a band's colour interpretation from
  the TIFF's GDAL_METADATA tag when it has one there, as for a BGR file, else from its
  Photometric tag; :func:`gdal_metadata_colorinterp` reads the former from the header, so that
  :mod:`samcli.io.images` applies the same rule to the 8-bit RGB TIFFs Pillow reads.)
- 8-bit: as is. Other integers: scaled by bit depth as :mod:`samcli.io.images` scales 16-bit
  images: ``v >> (bits - 8)``, negative values -> 0, where ``bits`` is GDAL's ``NBITS`` when
  declared (12-bit data: ``v >> 4``), else the type's size (32-bit signed types: 31).
  So 16-bit data that uses only part of its range (reflectances 0..10000) comes out dark:
  the mapping is the same for every image of a set.
- Float: NaN/inf -> 0; the valid values of all the bands used together are scaled by the rule
  of ``samcli.io.pixels.float_to_u8`` (all within [0, 1] -> ``round(v * 255)``, else min-max
  stretched to 0..255), computed a block of rows at a time to spare memory.
- Nodata: pixels equal to a band's nodata value are left out of the float stretch and become 0.
- The ``max_pixels`` limit applies as in ``read_image``; the TIFF orientation tag is applied
  (:func:`tiff_orientation`: GDAL itself ignores it).
"""

from __future__ import annotations

import math
import re
import struct
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from samcli.errors import InputError
from samcli.fs import text_of_path
from samcli.io.pixels import apply_orientation, check_size, oriented_size, scale_float

INSTALL_HINT = "pip install 'samcli[geo]'"

_ORIENTATION_TAG = 0x0112
#: GDAL's private TIFF tag: XML ``<GDALMetadata>`` of metadata items, colour interpretations
#: among them.
GDAL_METADATA_TAG = 42112


def rasterio_or_none() -> Any:
    """The ``rasterio`` module, or None when it is not installed (or cannot load)."""
    try:
        import rasterio
    except (ImportError, OSError):
        return None
    return rasterio


def have_rasterio() -> bool:
    """Whether rasterio (the ``geo`` extra) can be imported."""
    return rasterio_or_none() is not None


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def has_tiff_header(path: Path | str) -> bool:
    """Whether the file starts like a TIFF (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except OSError:
        return False


def gdal_driver(path: Path) -> str | None:
    """The GDAL driver for the file's content (by its first bytes), or None for other files."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if head[:4] in _TIFF_MAGIC:
        return "GTiff"
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def open_dataset(rasterio: Any, path: Path, drivers: Sequence[str]) -> Any:
    """``rasterio.open`` for reading with the one driver of ``drivers`` the content calls for;
    None when the content is not one of them or GDAL cannot open it. A name that is not
    UTF-8 (which rasterio cannot pass to GDAL) is an :class:`InputError` naming the file.

    rasterio's NotGeoreferencedWarning (a plain photo) is silenced: that is an answer here.
    """
    driver = gdal_driver(path)
    if driver is None or driver not in drivers:
        return None
    if text_of_path(str(path)) != str(path):  # (GDAL takes UTF-8 names only)
        raise InputError(f"{path}: GDAL (rasterio) cannot open a file whose name is not "
                         "valid UTF-8, as this one needs; rename the file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            return rasterio.open(path, driver=driver)
        except rasterio.errors.RasterioIOError:
            return None


def _tiff_ifd_orientation(fh: Any, head: bytes) -> int:
    """Tag 274 of a TIFF's first IFD (classic or BigTIFF), or 1. ``fh`` is just past ``head``."""
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    if big:
        _, _, ifd = struct.unpack(order + "HHQ", fh.read(12))
        fh.seek(ifd)
        (count,) = struct.unpack(order + "Q", fh.read(8))
        size, entry = 20, order + "HHQ8s"
    else:
        (ifd,) = struct.unpack(order + "I", fh.read(4))
        fh.seek(ifd)
        (count,) = struct.unpack(order + "H", fh.read(2))
        size, entry = 12, order + "HHI4s"
    if count > 4096:
        return 1
    data = fh.read(count * size)
    for k in range(len(data) // size):
        tag, typ, n, value = struct.unpack(entry, data[k * size:(k + 1) * size])
        if tag == _ORIENTATION_TAG and n >= 1:
            if typ == 3:  # SHORT
                return struct.unpack(order + "H", value[:2])[0]
            if typ == 4:  # LONG
                return struct.unpack(order + "I", value[:4])[0]
            return 1
    return 1


def tiff_orientation(path: Path | str) -> int | None:
    """The orientation tag (1..8) in a TIFF's first IFD, classic or BigTIFF; 1 when absent or
    unreadable; None when the file is not a TIFF. Read directly: GDAL ignores the tag, and
    Pillow cannot open every TIFF GDAL can."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head not in _TIFF_MAGIC:
                return None
            value = _tiff_ifd_orientation(fh, head)
            return value if 1 <= value <= 8 else 1
    except (OSError, struct.error, ValueError):
        return 1


def raster_size(path: Path | str) -> tuple[int, int] | None:
    """``(width, height)`` of a TIFF as :func:`read_raster_rgb` returns it (orientation
    applied), from the header; None when rasterio is missing or GDAL cannot open it."""
    rasterio = rasterio_or_none()
    if rasterio is None:
        return None
    ds = open_dataset(rasterio, Path(path), ("GTiff",))
    if ds is None:
        return None
    with ds:
        size = (ds.width, ds.height)
    return oriented_size(size, tiff_orientation(path) or 1)


# --------------------------------------------------------------------------- pixels


def read_raster_rgb(path: Path | str, max_pixels: int | None) -> np.ndarray | None:
    """A TIFF read with rasterio as uint8 ``(H, W, 3)`` RGB (rules in the module docstring).

    ``max_pixels``: the limit as normalised by ``read_image`` (None: no limit). Returns None
    when rasterio is not installed or GDAL cannot open the file as a TIFF (the caller then
    reports Pillow's error); raises :class:`InputError` naming the file for anything else
    (too many pixels, unsupported data type, read errors).
    """
    rasterio = rasterio_or_none()
    if rasterio is None:
        return None
    path = Path(path)
    ds = open_dataset(rasterio, path, ("GTiff",))
    if ds is None:
        return None
    try:
        with ds:
            check_size(path, (ds.width, ds.height), max_pixels)
            bands = _rgb_bands(ds)
            dtype = np.dtype(ds.dtypes[bands[0] - 1])
            if any(np.dtype(ds.dtypes[i - 1]) != dtype for i in bands):
                raise InputError(f"{path}: bands {bands} have different data types")
            if dtype.kind not in "uif":
                raise InputError(f"{path}: unsupported raster data type {dtype.name}")
            values = ds.read(list(bands))  # (n, H, W)
            nodata = [ds.nodatavals[i - 1] for i in bands]
            nbits = ds.tags(bands[0], ns="IMAGE_STRUCTURE").get("NBITS")
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{path}: not enough memory to read this raster") from None
    except Exception as exc:  # noqa: BLE001 - GDAL read errors: a bad input file
        cause = exc.__cause__ or exc  # rasterio puts GDAL's own message in the cause
        raise InputError(
            f"{path}: cannot read raster data (truncated or corrupt file?): {cause}"
        ) from None

    try:
        u8 = _to_u8(values, nodata, nbits)
        del values
        arr = u8[0][:, :, None].repeat(3, axis=2) if len(u8) == 1 else np.moveaxis(u8, 0, -1)
        arr = apply_orientation(arr, tiff_orientation(path) or 1)
        return np.ascontiguousarray(arr)
    except MemoryError:
        raise InputError(f"{path}: not enough memory to convert this raster") from None


def _rgb_bands(ds: Any) -> tuple[int, ...]:
    """1-based band indexes: red/green/blue by colour interpretation, else 1-3, else 1."""
    return rgb_band_indexes([getattr(ci, "name", str(ci)) for ci in ds.colorinterp], ds.count)


def rgb_band_indexes(names: Sequence[str | None], count: int) -> tuple[int, ...]:
    """The band rule of the module docstring: 1-based indexes of the bands to use as R, G, B
    (one index: a grey band), from the colour interpretations of the ``count`` bands
    (``names[0]`` for band 1; GDAL's names in lower case, None where unknown)."""
    if all(c in names for c in ("red", "green", "blue")):
        return tuple(names.index(c) + 1 for c in ("red", "green", "blue"))
    return (1, 2, 3) if count >= 3 else (1,)


# <Item name="COLORINTERP" sample="0" role="colorinterp">Blue</Item>, as GDAL writes it; the
# attributes are matched in any order and quoting. (A regular expression, not an XML parser:
# this is untrusted header text and only these flat elements matter.)
_GDAL_ITEM = re.compile(r"<Item\b([^>]*)>([^<]*)</Item\s*>")
_XML_ATTR = re.compile(r"""([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def gdal_metadata_colorinterp(metadata: str | bytes | None, count: int) -> list[str | None]:
    """The band colour interpretations stored in a TIFF's GDAL_METADATA tag
    (:data:`GDAL_METADATA_TAG`, header text): GDAL's way to mark bands that the TIFF
    Photometric tag cannot describe (band 1 blue, band 3 red: a BGR file), and which GDAL
    puts before the Photometric tag. A list of ``count`` lower-case names (``"blue"``), index
    0 for band 1, None for a band the tag does not mark (all None without the tag)."""
    names: list[str | None] = [None] * count
    if isinstance(metadata, (bytes, bytearray)):
        metadata = metadata.decode("latin-1")
    if not isinstance(metadata, str):
        return names
    for item in _GDAL_ITEM.finditer(metadata):
        attrs = {m[1].lower(): m[2] if m[2] is not None else m[3]
                 for m in _XML_ATTR.finditer(item[1])}
        if (attrs.get("role", "").lower() != "colorinterp"
                or attrs.get("name", "").upper() != "COLORINTERP"):
            continue
        try:
            sample = int(attrs.get("sample", ""))
        except ValueError:
            continue
        if 0 <= sample < count:
            names[sample] = item[2].lower()  # (GDAL trims nothing: " Blue" is no colour)
    return names


_CHUNK_ROWS = 512  # rows converted at a time: temporaries stay small for big scenes


def _to_u8(values: np.ndarray, nodata: Sequence[float | None], nbits: str | None) -> np.ndarray:
    """``(n, H, W)`` band values -> uint8 ``(n, H, W)``, nodata -> 0 (module docstring rules).

    Works a band and :data:`_CHUNK_ROWS` rows at a time, so a 16-bit or float scene needs
    little memory beyond its own values and the result.
    """
    n, h, _ = values.shape
    out = np.zeros(values.shape, np.uint8)
    chunks = [(k, slice(r, min(r + _CHUNK_ROWS, h))) for k in range(n)
              for r in range(0, h, _CHUNK_ROWS)]

    def valid(k: int, rows: slice) -> np.ndarray:
        v = values[k, rows]
        ok = np.isfinite(v) if v.dtype.kind == "f" else np.ones(v.shape, bool)
        nd = nodata[k]
        if nd is not None and math.isfinite(nd):
            ok &= v != nd
        return ok

    if values.dtype.kind == "f":
        # io.pixels.float_to_u8's rule, over the valid values of all bands together
        lo, hi = math.inf, -math.inf
        for k, rows in chunks:
            v = values[k, rows][valid(k, rows)]
            if v.size:
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        if lo > hi:  # no valid value at all
            return out
        for k, rows in chunks:
            ok = valid(k, rows)
            v = values[k, rows].astype(np.float64)
            v[~ok] = lo  # finite stand-in (NaN cannot be cast); set to 0 below
            scaled = scale_float(v, lo, hi)
            scaled[~ok] = 0
            out[k, rows] = scaled
        return out

    # integers: io.pixels.scale_int's rule (negative -> 0, v >> (bits - 8), at most 255)
    bits = values.dtype.itemsize * 8
    try:
        declared = int(nbits) if nbits else None
    except ValueError:
        declared = None
    if declared is not None and 8 < declared <= bits:
        bits = declared
    elif values.dtype.kind == "i" and bits >= 32:
        bits -= 1  # signed: the value bits only (as io.pixels does for 32-bit ints)
    shift = max(bits - 8, 0)
    for k, rows in chunks:
        v = values[k, rows]
        if v.dtype.kind == "i":
            v = np.maximum(v, 0)
        v = np.minimum(v >> shift, 255)
        v[~valid(k, rows)] = 0
        out[k, rows] = v
    return out
