"""GeoTIFF support (optional extra ``geo``: ``pip install 'samcli[geo]'``, which adds rasterio).

Two jobs, both lazy about importing rasterio (samcli works without it):

- **Georeference** (:func:`read_georef`, :func:`image_georef`, :func:`transform_geometry`): the
  CRS and affine geotransform GDAL sees for an image (GeoTIFF tags, or a world file /
  ``.aux.xml`` beside a JPEG/PNG/BMP/WebP), so the GeoJSON writer can write proposals in the
  image's CRS (``--geo``).
- **Pixels** (:func:`read_raster_rgb`): TIFFs that Pillow cannot open (16-bit or float with 3 or
  more bands, 64-bit float, 5+ bands, ...), read with rasterio by the rules below. Called by
  :func:`samcli.io.images.read_image` only after Pillow failed to identify a ``.tif``/``.tiff``.

Coordinate frames
-----------------
samcli's pixel frame: x right, y down, on pixel **corners**: pixel (col, row) is the unit square
``[col, col+1] x [row, row+1]`` of the image as samcli reads it (EXIF orientation applied).
GDAL's (and rasterio's) geotransform uses the same corner convention for the raster *as
stored*: with ``transform = (a, b, c, d, e, f)`` (rasterio's ``Affine`` order, not GDAL's
``GetGeoTransform`` order), the pixel-frame point ``(x, y)`` is the CRS point
``(a*x + b*y + c, d*x + e*y + f)``, with no half-pixel shift. ``x`` is the CRS's first
coordinate in traditional GIS order (easting, or longitude for a geographic CRS), as in the
geotransform. (A GeoTIFF marked ``AREA_OR_POINT=Point`` is still described by GDAL with a
corner-based geotransform, so nothing changes for it.)

Orientation: GDAL ignores the TIFF/EXIF orientation tag, so the geotransform is for the stored
raster, while samcli reads the image re-oriented. A georeferenced image whose orientation tag
is not 1 is refused by :func:`image_georef` (an :class:`InputError` for that image) rather than
guessed at; such files are exotic (rewrite them with ``gdal_translate`` first).

What counts as georeferenced: a CRS *and* a geotransform that is neither the identity (GDAL's
"no geotransform") nor degenerate. A geotransform without a CRS (a world file without
``.prj``), a CRS alone, or ground control points / RPCs only: not georeferenced.

Pixel rules of :func:`read_raster_rgb`
--------------------------------------
- Bands: the bands whose colour interpretation is red, green, blue when the file says so,
  else bands 1, 2, 3 when there are at least 3, else band 1 as grey (replicated). Other bands
  (alpha, near-infrared, ...) are not used.
- 8-bit: as is. Other integers: scaled by bit depth as :mod:`samcli.io.images` scales 16-bit
  images: ``v >> (bits - 8)``, negative values -> 0, where ``bits`` is GDAL's ``NBITS`` when
  declared (12-bit data: ``v >> 4``), else the type's size (32-bit signed types: 31).
  So 16-bit data that uses only part of its range (reflectances 0..10000) comes out dark:
  the mapping is the same for every image of a set.
- Float: NaN/inf -> 0; the valid values of all the bands used together are scaled by the rule
  of ``samcli.io.images._float_to_u8`` (all within [0, 1] -> ``round(v * 255)``, else min-max
  stretched to 0..255), computed a block of rows at a time to spare memory.
- Nodata: pixels equal to a band's nodata value are left out of the float stretch and become 0.
- The ``max_pixels`` limit applies as in ``read_image``; the TIFF orientation tag is applied.
"""

from __future__ import annotations

import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from samcli.errors import ConfigError, InputError

__all__ = [
    "GEO_FORMAT_MESSAGE",
    "INSTALL_HINT",
    "GeoRef",
    "has_tiff_header",
    "have_rasterio",
    "image_georef",
    "read_georef",
    "read_raster_rgb",
    "require_rasterio",
    "transform_geometry",
]

INSTALL_HINT = "pip install 'samcli[geo]'"
GEO_FORMAT_MESSAGE = (
    "--geo writes GeoJSON in each image's CRS: it needs --format geojson (and -o DIR)"
)

# GDAL drivers for the formats samcli reads (io.images.IMAGE_SUFFIXES); nothing else is tried.
_GDAL_DRIVERS = ("GTiff", "JPEG", "PNG", "BMP", "WEBP")
_ORIENTATION_TAG = 0x0112

Transform = tuple[float, float, float, float, float, float]


def require_rasterio() -> Any:
    """The ``rasterio`` module, or :class:`ConfigError` naming the extra to install."""
    try:
        import rasterio
    except (ImportError, OSError):
        raise ConfigError(
            f"--geo needs rasterio, which is not installed: {INSTALL_HINT}"
        ) from None
    return rasterio


def _rasterio_or_none() -> Any:
    try:
        return require_rasterio()
    except ConfigError:
        return None


def have_rasterio() -> bool:
    """Whether rasterio (the ``geo`` extra) can be imported."""
    return _rasterio_or_none() is not None


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def has_tiff_header(path: Path | str) -> bool:
    """Whether the file starts like a TIFF (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in _TIFF_MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class GeoRef:
    """An image's georeference as GDAL sees it.

    - ``crs``: ``"EPSG:32633"`` when the CRS has an EPSG code, else its WKT.
    - ``epsg``: that code, or None.
    - ``wkt``: the CRS as WKT (always set).
    - ``transform``: ``(a, b, c, d, e, f)``: pixel-corner ``(x, y)`` of the stored raster (x
      right, y down) -> CRS ``(a*x + b*y + c, d*x + e*y + f)``.
    - ``width``, ``height``: the stored raster's size in pixels.
    """

    crs: str
    epsg: int | None
    wkt: str
    transform: Transform
    width: int
    height: int

    def apply(self, geometry: dict) -> dict:
        """:func:`transform_geometry` with this georeference's transform."""
        return transform_geometry(geometry, self.transform)


def _gdal_driver(path: Path) -> str | None:
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


def _open_dataset(rasterio: Any, path: Path, drivers: Sequence[str]) -> Any:
    """``rasterio.open`` for reading with the one driver of ``drivers`` the content calls for;
    None when the content is not one of them or GDAL cannot open it.

    rasterio's NotGeoreferencedWarning (a plain photo) is silenced: that is an answer here.
    """
    driver = _gdal_driver(path)
    if driver is None or driver not in drivers:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            return rasterio.open(path, driver=driver)
        except rasterio.errors.RasterioIOError:
            return None


def read_georef(path: Path | str) -> GeoRef | None:
    """The georeference of the image file at ``path``, or None when it has none.

    See the module docstring for what counts. Needs rasterio (:class:`ConfigError` without
    it); a file GDAL cannot open has no georeference (None). The orientation tag is not
    looked at here (see :func:`image_georef`).
    """
    rasterio = require_rasterio()
    path = Path(path)
    ds = _open_dataset(rasterio, path, _GDAL_DRIVERS)
    if ds is None:
        return None
    with ds:
        crs, t = ds.crs, ds.transform
        if crs is None or t.is_identity or t.is_degenerate:
            return None
        try:
            wkt = crs.to_wkt()
        except Exception:  # noqa: BLE001 - a CRS GDAL cannot express is no usable CRS
            return None
        if not wkt:
            return None
        epsg = crs.to_epsg(confidence_threshold=100)
        return GeoRef(
            crs=f"EPSG:{epsg}" if epsg is not None else wkt,
            epsg=epsg,
            wkt=wkt,
            transform=(float(t.a), float(t.b), float(t.c), float(t.d), float(t.e), float(t.f)),
            width=int(ds.width),
            height=int(ds.height),
        )


def image_georef(path: Path | str, width: int, height: int) -> GeoRef | None:
    """:func:`read_georef` for an image samcli read as ``width`` x ``height`` pixels.

    Raises :class:`InputError` for a georeferenced image whose orientation tag is not 1 (its
    geotransform is for the stored raster, not the re-oriented image samcli segmented), or
    whose size differs from the raster GDAL sees.
    """
    path = Path(path)
    ref = read_georef(path)
    if ref is None:
        return None
    orientation = stored_orientation(path)
    if orientation != 1:
        raise InputError(
            f"{path}: georeferenced image with orientation tag {orientation}: its "
            "georeference is for the stored raster, but samcli reads the image re-oriented; "
            "--geo does not combine the two (rewrite the file with orientation 1, e.g. with "
            "gdal_translate, or run without --geo)"
        )
    if (ref.width, ref.height) != (int(width), int(height)):
        raise InputError(
            f"{path}: GDAL sees a {ref.width}x{ref.height} raster but samcli read the image "
            f"as {width}x{height}: cannot apply its georeference (run without --geo)"
        )
    return ref


# --------------------------------------------------------------------------- geometry


def transform_geometry(geometry: dict, transform: Sequence[float]) -> dict:
    """A GeoJSON Polygon / MultiPolygon dict mapped by the affine ``transform``.

    ``transform`` is ``(a, b, c, d, e, f)``; each vertex ``(x, y)`` (pixel corners, see the
    module docstring) becomes ``[a*x + b*y + c, d*x + e*y + f]`` (floats, not rounded). When
    the transform mirrors (negative determinant ``a*e - b*d``, as every north-up raster's
    does: y down becomes north up) each ring is reversed, so exterior rings stay
    counter-clockwise and holes clockwise, as RFC 7946 asks; rings keep their first vertex.
    Returns a new dict; ``geometry`` is not changed.
    """
    a, b, c, d, e, f = (float(v) for v in transform)
    if not all(math.isfinite(v) for v in (a, b, c, d, e, f)):
        raise ValueError(f"transform has non-finite values: {tuple(transform)}")
    mirror = a * e - b * d < 0

    def ring(points: Sequence[Sequence[float]]) -> list[list[float]]:
        out = [[a * x + b * y + c, d * x + e * y + f] for x, y in points]
        return out[::-1] if mirror else out

    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        new = [ring(r) for r in coords]
    elif kind == "MultiPolygon":
        new = [[ring(r) for r in poly] for poly in coords]
    else:
        raise ValueError(f"expected a Polygon or MultiPolygon, got {kind!r}")
    return {"type": kind, "coordinates": new}


# --------------------------------------------------------------------------- orientation


def stored_orientation(path: Path | str) -> int:
    """The file's orientation tag (1..8; 1 when absent or unreadable).

    TIFFs: read from the first IFD directly (GDAL ignores the tag, and Pillow cannot open
    every TIFF GDAL can). Other formats: as :mod:`samcli.io.images` reads it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head in _TIFF_MAGIC:
                value = _tiff_orientation(fh, head)
                return value if 1 <= value <= 8 else 1
    except (OSError, struct.error, ValueError):
        return 1
    from samcli.io import images  # the one place that knows EXIF in every format

    try:
        with images._open(path) as im:
            return images._orientation(im)
    except InputError:
        return 1


def _tiff_orientation(fh: Any, head: bytes) -> int:
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


# --------------------------------------------------------------------------- pixels


def read_raster_rgb(path: Path | str, max_pixels: int | None) -> np.ndarray | None:
    """A TIFF read with rasterio as uint8 ``(H, W, 3)`` RGB (rules in the module docstring).

    ``max_pixels``: the limit as normalised by ``read_image`` (None: no limit). Returns None
    when rasterio is not installed or GDAL cannot open the file as a TIFF (the caller then
    reports Pillow's error); raises :class:`InputError` naming the file for anything else
    (too many pixels, unsupported data type, read errors).
    """
    rasterio = _rasterio_or_none()
    if rasterio is None:
        return None
    from samcli.io.images import _apply_orientation, _check_size

    path = Path(path)
    ds = _open_dataset(rasterio, path, ("GTiff",))
    if ds is None:
        return None
    try:
        with ds:
            _check_size(path, (ds.width, ds.height), max_pixels)
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
        arr = _apply_orientation(arr, stored_orientation(path))
        return np.ascontiguousarray(arr)
    except MemoryError:
        raise InputError(f"{path}: not enough memory to convert this raster") from None


def _rgb_bands(ds: Any) -> tuple[int, ...]:
    """1-based band indexes: red/green/blue by colour interpretation, else 1-3, else 1."""
    names = [getattr(ci, "name", str(ci)) for ci in ds.colorinterp]
    if all(c in names for c in ("red", "green", "blue")):
        return tuple(names.index(c) + 1 for c in ("red", "green", "blue"))
    return (1, 2, 3) if ds.count >= 3 else (1,)


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
        # io.images._float_to_u8's rule, over the valid values of all bands together
        lo, hi = math.inf, -math.inf
        for k, rows in chunks:
            v = values[k, rows][valid(k, rows)]
            if v.size:
                lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        if lo > hi:  # no valid value at all
            return out
        from samcli.io.images import _scale_float

        for k, rows in chunks:
            ok = valid(k, rows)
            v = values[k, rows].astype(np.float64)
            v[~ok] = lo  # finite stand-in (NaN cannot be cast); set to 0 below
            scaled = _scale_float(v, lo, hi)
            scaled[~ok] = 0
            out[k, rows] = scaled
        return out

    # integers: io.images._scale_int's rule (negative -> 0, v >> (bits - 8), at most 255)
    bits = values.dtype.itemsize * 8
    try:
        declared = int(nbits) if nbits else None
    except ValueError:
        declared = None
    if declared is not None and 8 < declared <= bits:
        bits = declared
    elif values.dtype.kind == "i" and bits >= 32:
        bits -= 1  # signed: the value bits only (as io.images does for 32-bit ints)
    shift = max(bits - 8, 0)
    for k, rows in chunks:
        v = values[k, rows]
        if v.dtype.kind == "i":
            v = np.maximum(v, 0)
        v = np.minimum(v >> shift, 255)
        v[~valid(k, rows)] = 0
        out[k, rows] = v
    return out
