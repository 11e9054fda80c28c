"""GeoTIFF support (optional extra ``geo``: ``pip install 'samcli[geo]'``, which adds rasterio).

Georeference, lazy about importing rasterio (samcli works without it; the pixels of TIFFs
Pillow cannot read are :mod:`samcli.io.raster`'s business):

- **Georeference** (:func:`read_georef`, :func:`image_georef`, :func:`transform_geometry`): the
  CRS and affine geotransform GDAL sees for an image (GeoTIFF tags, or a world file /
  ``.aux.xml`` beside a JPEG/PNG/BMP/WebP), so the GeoJSON writer can write proposals in the
  image's CRS (``--geo``). GDAL's drivers for those formats read a world file but not the
  ``.prj`` that GIS tools write beside it (ESRI's convention: same stem, the CRS as WKT), so
  when GDAL finds a geotransform and no CRS, samcli reads that ``.prj`` itself.
- **Sidecars** (:func:`georef_sidecars`): the files beside an image its georeference can come
  from, so that a resumed ``--geo`` run redoes an image whose world file or ``.prj`` changed.

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

What counts as georeferenced: a CRS (GDAL's, else the ``.prj``'s) *and* a geotransform that is
neither the identity (GDAL's "no geotransform") nor degenerate. A geotransform without a CRS
(a world file alone), a CRS alone, or ground control points / RPCs only: not georeferenced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from samcli.errors import ConfigError, InputError
from samcli.io.images import stored_orientation
from samcli.io.raster import INSTALL_HINT, open_dataset, rasterio_or_none

__all__ = [
    "INSTALL_HINT",
    "GeoRef",
    "georef_sidecars",
    "image_georef",
    "read_georef",
    "require_rasterio",
    "transform_geometry",
]


# GDAL drivers for the formats samcli reads (io.images.IMAGE_SUFFIXES); nothing else is tried.
_GDAL_DRIVERS = ("GTiff", "JPEG", "PNG", "BMP", "WEBP")

# A .prj is a line of WKT (a few kB); anything far larger is not one, and is not read whole.
_PRJ_MAX_BYTES = 1 << 20

Transform = tuple[float, float, float, float, float, float]


def require_rasterio() -> Any:
    """The ``rasterio`` module, or :class:`ConfigError` naming the extra to install."""
    rasterio = rasterio_or_none()
    if rasterio is None:
        raise ConfigError(f"--geo needs rasterio, which is not installed: {INSTALL_HINT}")
    return rasterio


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


def read_georef(path: Path | str) -> GeoRef | None:
    """The georeference of the image file at ``path``, or None when it has none.

    See the module docstring for what counts. Needs rasterio (:class:`ConfigError` without
    it); a file GDAL cannot open has no georeference (None). The orientation tag is not
    looked at here (see :func:`image_georef`).
    """
    rasterio = require_rasterio()
    path = Path(path)
    ds = open_dataset(rasterio, path, _GDAL_DRIVERS)
    if ds is None:
        return None
    with ds:
        crs, t = ds.crs, ds.transform
        # |a|W + |b|H + |c| bounds every partial sum of every vertex's mapping (and is NaN
        # when a coefficient is): finite, no coordinate written can be NaN or infinite
        w, h = int(ds.width), int(ds.height)
        reach = (abs(t.a) * w + abs(t.b) * h + abs(t.c), abs(t.d) * w + abs(t.e) * h + abs(t.f))
        if not all(math.isfinite(v) for v in reach):
            given = ", ".join(str(p) for p in georef_sidecars(path)) or "its geotags"
            raise InputError(f"{path}: its georeference ({given}) maps pixels to coordinates "
                             f"that are not finite numbers (transform {tuple(t)[:6]}); fix it "
                             "or run without --geo")
        if t.is_identity or t.is_degenerate:
            return None
        if crs is None:
            crs = _prj_crs(rasterio, path)
        if crs is None:
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


def _prj_crs(rasterio: Any, path: Path) -> Any:
    """The CRS in the ``.prj`` beside ``path`` (``scan.prj`` for ``scan.png``; WKT, ESRI's
    dialect or OGC's), or None when there is none. A ``.prj`` that cannot be read or is no
    CRS is an :class:`InputError` naming it (the user put it there to be used)."""
    prj = next((p for p in _named_beside(path, [".prj", ".PRJ"], stem=True) if p.is_file()),
               None)
    if prj is None:
        return None
    try:
        with open(prj, "rb") as fh:
            data = fh.read(_PRJ_MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{prj}: cannot read this .prj: {exc.strerror or exc}") from None
    text = data.decode("utf-8", errors="replace").strip()
    if len(data) > _PRJ_MAX_BYTES or not text:
        what = "over 1 MiB" if text else "empty"
        raise InputError(f"{prj}: {what}, not a CRS in WKT (fix or remove it, or run "
                         "without --geo)")
    try:
        return rasterio.crs.CRS.from_user_input(text)
    except Exception:  # noqa: BLE001 - rasterio's CRSError and GDAL's own errors alike
        raise InputError(f"{prj}: not a coordinate reference system GDAL can read (expected "
                         "WKT, as GIS tools write it; fix or remove it, or run without "
                         "--geo)") from None


def georef_sidecars(path: Path | str) -> list[Path]:
    """The files beside the image ``path`` that exist and can give it its georeference:
    world files under the names GDAL tries (``.wld``; the suffix's first and last letters
    plus ``w``, as ``.pgw`` for ``.png``; the suffix plus ``w``, as ``.pngw``; lower and upper
    case), ``<name>.aux.xml`` and ``<stem>.prj``. Needs no rasterio (a stat call each)."""
    path = Path(path)
    ext = path.suffix[1:].lower()
    worlds = {".wld"} | ({f".{ext[0]}{ext[-1]}w", f".{ext}w"} if ext else set())
    suffixes = sorted(worlds | {".prj"})
    found = _named_beside(path, suffixes + [s.upper() for s in suffixes], stem=True)
    found += _named_beside(path, [".aux.xml", ".AUX.XML"], stem=False)
    return sorted({p for p in found if p.is_file()})


def _named_beside(path: Path, suffixes: Sequence[str], stem: bool) -> list[Path]:
    """``path`` with each suffix replacing its own (``stem``) or appended to its name."""
    base = path.with_suffix("") if stem else path
    return [base.with_name(base.name + s) for s in suffixes]


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
