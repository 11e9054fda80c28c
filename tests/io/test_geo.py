"""GeoTIFF support: georeferences, geometry transforms, the rasterio pixel reader, GeoJSON --geo."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image

rasterio = pytest.importorskip("rasterio")
from rasterio.enums import ColorInterp  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from samcli.errors import ConfigError, InputError  # noqa: E402
from samcli.io import raster  # noqa: E402
from samcli.io.geo import (GeoRef, georef_sidecars, image_georef, read_georef,  # noqa: E402
                           transform_geometry)
from samcli.io.images import image_size, read_image, stored_orientation  # noqa: E402
from samcli.io.raster import read_raster_rgb  # noqa: E402
from samcli.io.formats import GeoJsonWriter  # noqa: E402
from samcli.io.writers import make_writers  # noqa: E402
from tests.io.helpers import H, W, make_result, records_of, with_records  # noqa: E402


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """A north-up transform (rasterio's own helper warns about Affine's ``*`` here)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


NORTH_UP = from_origin(500000.0, 4000000.0, 10.0, 10.0)  # 10 m pixels, UTM
ROTATED = Affine(8.0, -6.0, 1000.0, 6.0, 8.0, 2000.0)  # 10 m pixels rotated ~36.9 degrees
SHEARED = Affine(2.0, 0.5, -30.0, 0.0, -3.0, 70.0)
LOCAL_TM = ("+proj=tmerc +lat_0=0 +lon_0=11.5 +k=0.9993 +x_0=123456 +y_0=0 +ellps=GRS80 "
            "+units=m +no_defs")


def write_tif(path: Path, data: np.ndarray, crs=None, transform=None, nodata=None,
              colorinterp=None, **kw) -> Path:
    """A GTiff of ``data`` (n, H, W) written by rasterio (no georeference when both are None)."""
    n, h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=n, dtype=data.dtype)
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    if nodata is not None:
        profile["nodata"] = nodata
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile, **kw) as ds:
            ds.write(data)
            if colorinterp is not None:
                ds.colorinterp = colorinterp
    return path


def bands(n: int, h: int = 20, w: int = 30, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max if np.dtype(dtype).kind in "ui" else 1.0
    if np.dtype(dtype).kind == "f":
        return rng.uniform(0, 1, (n, h, w)).astype(dtype)
    return rng.integers(0, int(hi) + 1, (n, h, w)).astype(dtype)


def pixel_square(col: int, row: int) -> dict:
    """The SPEC's polygon of the single pixel (col, row)."""
    c, r = col, row
    return {"type": "Polygon",
            "coordinates": [[[c, r], [c + 1, r], [c + 1, r + 1], [c, r + 1], [c, r]]]}


# --------------------------------------------------------------------------------------------
# read_georef


def _crs_only(p: Path) -> Path:
    return write_tif(p, bands(1), crs="EPSG:32633")


GEOREF_CASES = [
    # label, writer(path) -> path, expected (crs, epsg, transform) or None
    ("north-up UTM", lambda p: write_tif(p, bands(3), "EPSG:32633", NORTH_UP),
     ("EPSG:32633", 32633, (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))),
    ("rotated", lambda p: write_tif(p, bands(1), "EPSG:3857", ROTATED),
     ("EPSG:3857", 3857, (8.0, -6.0, 1000.0, 6.0, 8.0, 2000.0))),
    ("sheared", lambda p: write_tif(p, bands(1), "EPSG:32633", SHEARED),
     ("EPSG:32633", 32633, (2.0, 0.5, -30.0, 0.0, -3.0, 70.0))),
    ("geographic", lambda p: write_tif(p, bands(1), "EPSG:4326",
                                       from_origin(10.0, 50.0, 0.001, 0.001)),
     ("EPSG:4326", 4326, (0.001, 0.0, 10.0, 0.0, -0.001, 50.0))),
    ("uint16 4-band", lambda p: write_tif(p, bands(4, dtype=np.uint16), "EPSG:32633", NORTH_UP),
     ("EPSG:32633", 32633, (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))),
    ("no georeference", lambda p: write_tif(p, bands(3)), None),
    ("transform without CRS", lambda p: write_tif(p, bands(1), None, NORTH_UP), None),
    ("CRS without transform", _crs_only, None),
    ("Pillow TIFF", lambda p: Image.new("RGB", (30, 20)).save(p) or p, None),
    ("not an image", lambda p: p.write_text("hello") and p, None),
]


@pytest.mark.parametrize("label,make,expected", GEOREF_CASES, ids=[c[0] for c in GEOREF_CASES])
def test_read_georef(tmp_path, label, make, expected):
    path = make(tmp_path / "x.tif")
    ref = read_georef(path)
    if expected is None:
        assert ref is None
        return
    crs, epsg, transform = expected
    assert (ref.crs, ref.epsg, ref.transform) == (crs, epsg, pytest.approx(transform))
    assert (ref.width, ref.height) == (30, 20)
    assert ref.wkt.startswith(("PROJCS", "GEOGCS"))


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG")])
def test_photo_has_no_georeference(tmp_path, suffix, fmt):
    p = tmp_path / f"photo{suffix}"
    Image.new("RGB", (30, 20), (90, 120, 30)).save(p, format=fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NotGeoreferencedWarning leaks out
        assert read_georef(p) is None
        assert image_georef(p, 30, 20) is None


def test_crs_without_epsg_code_keeps_its_wkt(tmp_path):
    p = write_tif(tmp_path / "local.tif", bands(1), rasterio.crs.CRS.from_proj4(LOCAL_TM),
                  NORTH_UP)
    ref = read_georef(p)
    assert ref.epsg is None
    assert ref.crs == ref.wkt and "Transverse_Mercator" in ref.wkt


def test_world_file_beside_a_png(tmp_path):
    p = tmp_path / "scan.png"
    Image.new("RGB", (30, 20)).save(p)
    (tmp_path / "scan.pgw").write_text("0.5\n0\n0\n-0.5\n100.25\n199.75\n")  # pixel centre
    assert read_georef(p) is None  # a transform without a CRS is not a georeference
    (tmp_path / "scan.png.aux.xml").write_text(
        "<PAMDataset><SRS>EPSG:32633</SRS></PAMDataset>")
    ref = read_georef(p)
    assert ref is not None and ref.epsg == 32633
    # the world file names pixel centres; GDAL's transform is on corners: half a pixel back
    assert ref.transform == pytest.approx((0.5, 0.0, 100.0, 0.0, -0.5, 200.0))


UTM33_OGC = rasterio.crs.CRS.from_epsg(32633).to_wkt()
UTM33_ESRI = rasterio.crs.CRS.from_epsg(32633).to_wkt(version="WKT1_ESRI")
PGW = "0.5\n0\n0\n-0.5\n100.25\n199.75\n"  # pixel centre of (0, 0): corner (100, 200)

# label, image name, {sidecar name: text}, expected EPSG code (None: no georeference)
PRJ_CASES = [
    ("png + pgw + OGC .prj", "s.png", {"s.pgw": PGW, "s.prj": UTM33_OGC}, 32633),
    ("jpg + jgw + ESRI .prj", "s.jpg", {"s.jgw": PGW, "s.prj": UTM33_ESRI}, 32633),
    ("png + pngw + .PRJ", "s.png", {"s.pngw": PGW, "s.PRJ": UTM33_ESRI}, 32633),
    ("png + wld + .prj", "s.png", {"s.wld": PGW, "s.prj": UTM33_OGC}, 32633),
    ("aux.xml's CRS wins", "s.png", {"s.pgw": PGW, "s.prj": UTM33_OGC,
                                     "s.png.aux.xml": "<PAMDataset><SRS>EPSG:3857</SRS>"
                                                      "</PAMDataset>"}, 3857),
    ("a .prj alone: no transform", "s.png", {"s.prj": UTM33_OGC}, None),
    ("another image's .prj", "s.png", {"s.pgw": PGW, "t.prj": UTM33_OGC}, None),
]


@pytest.mark.parametrize("label,name,sidecars,epsg", PRJ_CASES, ids=[c[0] for c in PRJ_CASES])
def test_prj_beside_a_world_file(tmp_path, label, name, sidecars, epsg):
    """GDAL's PNG/JPEG drivers read the world file but not the .prj beside it: samcli does."""
    p = tmp_path / name
    Image.new("RGB", (30, 20)).save(p)
    for side, text in sidecars.items():
        (tmp_path / side).write_text(text)
    ref = read_georef(p)
    if epsg is None:
        assert ref is None
        return
    assert (ref.epsg, ref.crs) == (epsg, f"EPSG:{epsg}")
    assert ref.transform == pytest.approx((0.5, 0.0, 100.0, 0.0, -0.5, 200.0))


def _png_beside(folder: Path, world: str, prj: bytes) -> Path:
    """``folder/s.png`` (30 x 20) with the world file ``s.pgw`` and ``s.prj`` beside it."""
    p = folder / "s.png"
    Image.new("RGB", (30, 20)).save(p)
    (folder / "s.pgw").write_text(world)
    (folder / "s.prj").write_bytes(prj)
    return p


# label, world file: each maps some pixel to a coordinate that is NaN or infinite
NON_FINITE_WORLDS = [
    ("NaN pixel size", "nan\n0\n0\n-0.5\n100.25\n199.75\n"),
    ("NaN origin", "0.5\n0\n0\n-0.5\nnan\n199.75\n"),
    ("huge pixel size: W * a overflows", "1e308\n0\n0\n-0.5\n100.25\n199.75\n"),
    ("huge rotation and origin: their sum overflows", "0.5\n0\n1e308\n-0.5\n1e308\n199.75\n"),
]


@pytest.mark.parametrize("label,world", NON_FINITE_WORLDS, ids=[c[0] for c in NON_FINITE_WORLDS])
def test_a_georeference_to_non_finite_coordinates_is_that_images_error(tmp_path, label, world):
    """GeoJSON cannot hold NaN or infinity: the image fails by name, naming its sidecars."""
    p = _png_beside(tmp_path, world, UTM33_OGC.encode())
    with pytest.raises(InputError) as err:
        read_georef(p)
    message = str(err.value)
    assert message.startswith(f"{p}: its georeference ({tmp_path / 's.pgw'}, "), label
    assert "not finite" in message and "\n" not in message, label


def test_a_name_gdal_cannot_take_is_that_images_error(tmp_path):
    """rasterio passes names to GDAL as UTF-8: a name that is not fails by name, for pixels
    and for georeferences alike, instead of a UnicodeEncodeError that ends the run."""
    p = write_tif(tmp_path / "u16.tif", bands(4, 20, 30, dtype=np.uint16), "EPSG:32633",
                  NORTH_UP)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xff.tif"))
    p.rename(odd)
    for read in (lambda: read_image(odd), lambda: read_georef(odd)):
        with pytest.raises(InputError) as err:
            read()
        assert str(err.value).startswith(f"{odd}: GDAL (rasterio) cannot open a file whose "
                                         "name is not valid UTF-8")


@pytest.mark.parametrize("label,content,needle", [
    ("not WKT", b"not a crs", "not a coordinate reference system"),
    ("empty", b"  \n", "empty"),
    ("huge", b"x" * ((1 << 20) + 1), "over 1 MiB"),
], ids=["not WKT", "empty", "huge"])
def test_bad_prj_is_that_images_error_naming_it(tmp_path, label, content, needle):
    p = _png_beside(tmp_path, PGW, content)
    with pytest.raises(InputError) as err:
        read_georef(p)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 's.prj'}: ") and needle in message
    assert "\n" not in message


@pytest.mark.parametrize("name,present,expected", [
    ("s.png", ["s.pgw", "s.pngw", "s.wld", "s.prj", "s.png.aux.xml", "s.tfw", "t.pgw",
               "s.png.prj"], ["s.pgw", "s.png.aux.xml", "s.pngw", "s.prj", "s.wld"]),
    ("s.tif", ["s.tfw", "s.tifw", "s.TFW", "s.PRJ"], ["s.PRJ", "s.TFW", "s.tfw", "s.tifw"]),
    ("s.jpeg", ["s.jgw", "s.jpegw", "s.jpgw"], ["s.jgw", "s.jpegw"]),
    ("s.png", [], []),
], ids=["png", "tif both cases", "jpeg", "none"])
def test_georef_sidecars(tmp_path, name, present, expected):
    for other in present:
        (tmp_path / other).write_text("x")
    assert georef_sidecars(tmp_path / name) == [tmp_path / e for e in expected]


def test_rasterio_missing_is_a_config_error(tmp_path, monkeypatch):
    p = write_tif(tmp_path / "g.tif", bands(3), "EPSG:32633", NORTH_UP)
    monkeypatch.setitem(sys.modules, "rasterio", None)
    assert not raster.have_rasterio()
    with pytest.raises(ConfigError, match=r"pip install 'samcli\[geo\]'"):
        read_georef(p)
    with pytest.raises(ConfigError, match=r"samcli\[geo\]"):
        GeoJsonWriter(tmp_path / "out", geo=True)


# --------------------------------------------------------------------------------------------
# transform_geometry


def _corners(t: tuple, pts) -> list[list[float]]:
    a, b, c, d, e, f = t
    return [[a * x + b * y + c, d * x + e * y + f] for x, y in pts]


TRANSFORM_CASES = [
    # label, transform (a, b, c, d, e, f), geometry, expected coordinates
    ("identity keeps pixels", (1, 0, 0, 0, 1, 0), pixel_square(0, 0),
     [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]),
    ("north-up pixel (2, 3): corners, ring reversed", tuple(NORTH_UP)[:6], pixel_square(2, 3),
     [[[500020, 3999970], [500020, 3999960], [500030, 3999960], [500030, 3999970],
       [500020, 3999970]]]),
    ("north-up pixel (0, 0) at the origin corner", tuple(NORTH_UP)[:6], pixel_square(0, 0),
     [[[500000, 4000000], [500000, 3999990], [500010, 3999990], [500010, 4000000],
       [500000, 4000000]]]),
    ("rotation: no mirror, order kept", tuple(ROTATED)[:6], pixel_square(1, 0),
     [_corners(tuple(ROTATED)[:6], [[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]])]),
    ("shear with mirror: reversed", tuple(SHEARED)[:6], pixel_square(0, 0),
     [_corners(tuple(SHEARED)[:6], [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]])]),
    ("y up, x mirrored: det > 0, order kept", (-1, 0, 10, 0, -1, 5), pixel_square(0, 0),
     [[[10, 5], [9, 5], [9, 4], [10, 4], [10, 5]]]),
]


@pytest.mark.parametrize("label,t,geom,expected", TRANSFORM_CASES,
                         ids=[c[0] for c in TRANSFORM_CASES])
def test_transform_geometry(label, t, geom, expected):
    before = json.dumps(geom)
    out = transform_geometry(geom, t)
    assert out["type"] == "Polygon"
    np.testing.assert_allclose(np.array(out["coordinates"], float), np.array(expected, float),
                               rtol=0, atol=1e-9)
    assert json.dumps(geom) == before  # input untouched


def test_transform_multipolygon_with_hole_stays_valid_and_ccw():
    """A square with a hole plus a separate part, mapped north-up: valid, exteriors CCW (RFC
    7946), holes CW, area scaled by |det|."""
    m = np.zeros((12, 20), bool)
    m[1:9, 1:9] = True
    m[4:6, 4:6] = False
    m[2:5, 12:18] = True
    from samcli.geometry import mask_to_geometry

    pixel = mask_to_geometry(m, 0.0, None)
    assert pixel["type"] == "MultiPolygon"
    t = tuple(NORTH_UP)[:6]
    out = transform_geometry(pixel, t)
    shape = shapely.geometry.shape(out)
    assert shape.is_valid
    assert shape.area == pytest.approx(m.sum() * 100.0)
    for poly in shape.geoms:
        assert poly.exterior.is_ccw
        assert all(not ring.is_ccw for ring in poly.interiors)
    # each vertex is the transformed pixel vertex (rings reversed, first vertex kept)
    for part_px, part_geo in zip(pixel["coordinates"], out["coordinates"]):
        for ring_px, ring_geo in zip(part_px, part_geo):
            assert ring_geo == _corners(t, ring_px)[::-1]
            assert ring_geo[0] == _corners(t, ring_px)[0]


@pytest.mark.parametrize("geom", [{"type": "Point", "coordinates": [0, 0]}, {}])
def test_transform_refuses_other_geometries(geom):
    with pytest.raises(ValueError):
        transform_geometry(geom, (1, 0, 0, 0, 1, 0))


# --------------------------------------------------------------------------------------------
# orientation


def _with_orientation(src: Path, dst: Path, orientation: int) -> Path:
    """``src`` (a GeoTIFF) rewritten by tifffile with its geotags and an orientation tag."""
    tifffile = pytest.importorskip("tifffile")
    with tifffile.TiffFile(src) as tf:
        tags = tf.pages[0].tags
        extra = [(code, tags[code].dtype, tags[code].count, tags[code].value, True)
                 for code in (33550, 33922, 34735, 34736, 34737) if code in tags]
        data = tf.asarray()
    tifffile.imwrite(dst, data, photometric="minisblack", planarconfig="contig",
                     extratags=extra + [(274, 3, 1, orientation, True)])
    return dst


def test_orientation_tag_is_read_and_refused_for_geo(tmp_path):
    data = bands(4, dtype=np.uint16)
    src = write_tif(tmp_path / "src.tif", data, "EPSG:32633", NORTH_UP)
    o1 = _with_orientation(src, tmp_path / "o1.tif", 1)
    o6 = _with_orientation(src, tmp_path / "o6.tif", 6)
    assert stored_orientation(src) == 1 and stored_orientation(o1) == 1
    assert stored_orientation(o6) == 6
    assert image_georef(o1, 30, 20).epsg == 32633
    with pytest.raises(InputError, match="orientation tag 6") as ei:
        image_georef(o6, 20, 30)
    assert str(ei.value).startswith(str(o6))
    # the pixels are read re-oriented, as every other image is
    expected = np.rot90(np.moveaxis(data[:3], 0, -1) >> 8, k=-1).astype(np.uint8)
    np.testing.assert_array_equal(read_image(o6), expected)
    assert image_size(o6) == (20, 30)  # (width, height) as read, from the header


def test_orientation_of_a_jpeg(tmp_path):
    p = tmp_path / "o.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (30, 20)).save(p, exif=exif)
    assert stored_orientation(p) == 8
    assert stored_orientation(tmp_path / "missing.tif") == 1


def test_size_mismatch_is_refused(tmp_path):
    p = write_tif(tmp_path / "g.tif", bands(3), "EPSG:32633", NORTH_UP)
    with pytest.raises(InputError, match="30x20"):
        image_georef(p, 20, 30)


# --------------------------------------------------------------------------------------------
# pixels: TIFFs Pillow cannot open


def _rgb(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(values, 0, -1))


def test_uint16_four_bands_use_bands_1_to_3_high_byte(tmp_path):
    data = bands(4, dtype=np.uint16)
    p = write_tif(tmp_path / "u16.tif", data, "EPSG:32633", NORTH_UP)
    out = read_image(p)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3) and out.flags.c_contiguous
    assert image_size(p) == (30, 20)  # Pillow cannot open it: the header read by rasterio
    np.testing.assert_array_equal(out, _rgb(data[:3] >> 8).astype(np.uint8))


def test_declared_nbits_scales_by_it(tmp_path):
    data = bands(3, dtype=np.uint16) >> 4  # 12-bit values
    p = write_tif(tmp_path / "u12.tif", data, "EPSG:32633", NORTH_UP, nbits=12)
    np.testing.assert_array_equal(read_image(p), _rgb(data >> 4).astype(np.uint8))


def test_colour_interpretation_picks_the_rgb_bands(tmp_path):
    data = bands(4, dtype=np.uint16)  # stored blue, green, red, near-infrared
    ci = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    p = write_tif(tmp_path / "bgrn.tif", data, "EPSG:32633", NORTH_UP, colorinterp=ci)
    np.testing.assert_array_equal(read_image(p), _rgb(data[[2, 1, 0]] >> 8).astype(np.uint8))


def test_float32_three_bands_stretched_nodata_black(tmp_path):
    data = np.linspace(-2.0, 6.0, 3 * 20 * 30, dtype=np.float32).reshape(3, 20, 30)
    data[:, 0, 0] = -9999.0  # nodata
    data[1, 5, 5] = np.nan
    p = write_tif(tmp_path / "f32.tif", data, "EPSG:32633", NORTH_UP, nodata=-9999.0)
    out = read_image(p)
    valid = np.isfinite(data) & (data != -9999.0)
    lo, hi = float(data[valid].min()), float(data[valid].max())
    expected = np.clip(np.rint((data.astype(np.float64) - lo) * (255.0 / (hi - lo))), 0, 255)
    expected[~valid] = 0
    np.testing.assert_array_equal(out, _rgb(expected.astype(np.uint8)))
    assert out[0, 0].tolist() == [0, 0, 0] and out[5, 5, 1] == 0


def test_float_unit_range_times_255_and_gray(tmp_path):
    data = bands(1, dtype=np.float64)  # 64-bit float: Pillow cannot open it
    p = write_tif(tmp_path / "f64.tif", data, "EPSG:32633", NORTH_UP)
    out = read_image(p)
    gray = np.rint(data[0] * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))


def test_uint16_nodata_is_black(tmp_path):
    data = bands(3, dtype=np.uint16)
    data[:, 2, 3] = 65535
    p = write_tif(tmp_path / "nd.tif", data, "EPSG:32633", NORTH_UP, nodata=65535)
    out = read_image(p)
    assert out[2, 3].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(out[0], _rgb(data[:, 0] >> 8).astype(np.uint8))


@pytest.mark.parametrize("lo,hi", [(0.0, 1.0), (-3.0, 40.0), (2.5, 2.5)])
def test_float_rule_is_the_one_of_io_pixels(monkeypatch, lo, hi):
    """The chunked conversion gives pixels.float_to_u8's bytes on the valid values."""
    from samcli.io.pixels import float_to_u8

    monkeypatch.setattr(raster, "_CHUNK_ROWS", 7)  # several chunks per band
    rng = np.random.default_rng(3)
    values = rng.uniform(lo, hi, (3, 30, 11)).astype(np.float32)
    values[0, 0, :3] = -9999.0
    values[2, 29, 10] = np.inf
    out = raster._to_u8(values, [-9999.0, None, -9999.0], None)
    ok = np.isfinite(values) & (values != -9999.0)
    expected = np.zeros(values.shape, np.uint8)
    expected[ok] = float_to_u8(values[ok])
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype,nbits,shift", [
    (np.uint16, None, 8), (np.int16, None, 8), (np.uint32, None, 24), (np.int32, None, 23),
    (np.uint16, "12", 4), (np.uint16, "junk", 8), (np.uint8, None, 0),
])
def test_integer_rule_is_the_one_of_io_pixels(monkeypatch, dtype, nbits, shift):
    from samcli.io.pixels import scale_int

    monkeypatch.setattr(raster, "_CHUNK_ROWS", 4)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(4)
    values = rng.integers(info.min, info.max, (3, 10, 9), dtype=np.int64).astype(dtype)
    out = raster._to_u8(values, [None, None, None], nbits)
    np.testing.assert_array_equal(out, scale_int(values, shift + 8))


def test_five_byte_bands_and_no_georeference(tmp_path):
    data = bands(5)
    p = write_tif(tmp_path / "five.tif", data)
    np.testing.assert_array_equal(read_image(p), _rgb(data[:3]))


def test_max_pixels_still_applies(tmp_path):
    p = write_tif(tmp_path / "big.tif", bands(4, dtype=np.uint16), "EPSG:32633", NORTH_UP)
    with pytest.raises(InputError, match="--max-pixels") as ei:
        read_image(p, max_pixels=599)
    assert str(ei.value).startswith(str(p)) and "30x20" in str(ei.value)
    assert read_image(p, max_pixels=600).shape == (20, 30, 3)


def test_without_rasterio_the_error_names_the_extra(tmp_path, monkeypatch):
    p = write_tif(tmp_path / "u16.tif", bands(4, dtype=np.uint16), "EPSG:32633", NORTH_UP)
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(InputError, match=r"pip install 'samcli\[geo\]'") as ei:
        read_image(p)
    assert str(ei.value).startswith(str(p))
    with pytest.raises(InputError, match="not a readable image"):
        read_image(bad)  # not a TIFF at all: no hint
    assert read_raster_rgb(p, None) is None


@pytest.mark.parametrize("name,content", [
    ("text.tif", b"hello, I am not an image\n"),
    ("cut.tif", b"II*\x00\x08\x00\x00\x00\x01\x00"),
])
def test_bad_tiffs_still_fail_by_name(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError) as ei:
        read_image(p)
    assert str(ei.value).startswith(str(p))


def test_truncated_raster_fails_by_name(tmp_path):
    p = write_tif(tmp_path / "u16.tif", bands(4, 200, 300, dtype=np.uint16), "EPSG:32633",
                  NORTH_UP)
    data = p.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as ei:
        read_image(cut)
    assert str(ei.value).startswith(str(cut))


def test_pillow_readable_geotiff_is_read_by_pillow(tmp_path):
    data = bands(3)
    p = write_tif(tmp_path / "rgb.tif", data, "EPSG:32633", NORTH_UP, photometric="RGB")
    with Image.open(p) as im:
        assert im.mode == "RGB"
    np.testing.assert_array_equal(read_image(p), _rgb(data))


# --------------------------------------------------------------------------------------------
# GeoJSON writer


def _result_for(source: Path, image: str = "x/a.tif"):
    res = make_result(image)
    return dataclasses.replace(res, source=source)


@pytest.mark.parametrize("crs,t,urn", [
    ("EPSG:32633", NORTH_UP, "urn:ogc:def:crs:EPSG::32633"),
    ("EPSG:3857", ROTATED, "urn:ogc:def:crs:EPSG::3857"),
    ("EPSG:4326", from_origin(10.0, 50.0, 0.001, 0.001), "urn:ogc:def:crs:OGC:1.3:CRS84"),
])
def test_geojson_in_the_image_crs(tmp_path, crs, t, urn):
    src = write_tif(tmp_path / "in" / "a.tif", bands(3, H, W), crs, t)
    res = _result_for(src)
    records = records_of(res, 0.4, None)
    warned = []
    w = GeoJsonWriter(tmp_path / "out", geo=True, warn=warned.append)
    (path,) = w.write(with_records(res, records))
    doc = json.loads(path.read_text())
    assert list(doc) == ["type", "crs", "samcli", "features"]
    assert doc["crs"] == {"type": "name", "properties": {"name": urn}}
    meta = doc["samcli"]
    assert meta["crs"] == crs
    assert (meta["image"], meta["width"], meta["height"]) == ("x/a.tif", W, H)
    assert meta["transform"] == pytest.approx(list(t)[:6])
    assert len(doc["features"]) == len(records)
    for f, r in zip(doc["features"], records):
        assert f["geometry"] == transform_geometry(r["segmentation"], tuple(t)[:6])
        assert f["properties"] == {k: v for k, v in r.items() if k != "segmentation"}
        assert shapely.is_valid(shapely.geometry.shape(f["geometry"]))
    w.finish(["x/a.tif"])
    assert warned == []


def test_geojson_crs_without_epsg_has_no_legacy_member(tmp_path):
    src = write_tif(tmp_path / "a.tif", bands(1, H, W), rasterio.crs.CRS.from_proj4(LOCAL_TM),
                    NORTH_UP)
    res = _result_for(src)
    (path,) = GeoJsonWriter(tmp_path / "out", geo=True).write(with_records(res, records_of(res)))
    doc = json.loads(path.read_text())
    assert "crs" not in doc
    assert "Transverse_Mercator" in doc["samcli"]["crs"]


def test_geojson_geo_without_georeference_is_pixels_and_warns(tmp_path):
    src = tmp_path / "photo.png"
    Image.new("RGB", (W, H)).save(src)
    res = _result_for(src, "photo.png")
    records = records_of(res, 0.4, None)
    warned = []
    w = GeoJsonWriter(tmp_path / "out", geo=True, warn=warned.append)
    (path,) = w.write(with_records(res, records))
    doc = json.loads(path.read_text())
    assert list(doc) == ["type", "samcli", "features"]
    assert doc["samcli"]["crs"] == "pixel" and doc["samcli"]["transform"] is None
    assert [f["geometry"] for f in doc["features"]] == [r["segmentation"] for r in records]
    assert w.finish(["photo.png"]) == []
    assert len(warned) == 1 and "photo.png" in warned[0] and "pixel" in warned[0]
    w.finish(["photo.png"])
    assert len(warned) == 1  # said once


def test_geojson_warning_default_goes_to_stderr(tmp_path, capsys):
    res = _result_for(tmp_path / "missing.png", "missing.png")
    w = GeoJsonWriter(tmp_path / "out", geo=True)
    w.write(with_records(res, records_of(res)))
    w.finish([])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Warning: --geo: this run wrote 1 image(s)")


def test_geojson_without_geo_never_looks_at_the_file(tmp_path):
    """Without --geo the bytes are what they always were, georeferenced source or not."""
    src = write_tif(tmp_path / "a.tif", bands(3, H, W), "EPSG:32633", NORTH_UP)
    geo_res, plain_res = _result_for(src), _result_for(tmp_path / "nowhere.tif")
    records = records_of(geo_res, 0.4, None)
    a = GeoJsonWriter(tmp_path / "o1").render(with_records(geo_res, records))
    b = GeoJsonWriter(tmp_path / "o2", geo=False).render(with_records(plain_res, records))
    assert a == b
    doc = json.loads(a)
    assert list(doc) == ["type", "samcli", "features"]
    assert list(doc["samcli"]) == ["crs", "image", "width", "height", "convention"]


def test_geojson_geo_refuses_reoriented_georeferenced_image(tmp_path):
    src = write_tif(tmp_path / "src.tif", bands(4, W, H, dtype=np.uint16), "EPSG:32633",
                    NORTH_UP)
    o6 = _with_orientation(src, tmp_path / "o6.tif", 6)  # stored H=60 x W=40: shown 60 x 40
    res = _result_for(o6)
    with pytest.raises(InputError, match="orientation"):
        GeoJsonWriter(tmp_path / "out", geo=True).write(with_records(res, records_of(res)))


def test_make_writers_geo(tmp_path):
    from samcli.config import OutputOptions

    def opts(fmt: str, geo: bool) -> OutputOptions:
        return OutputOptions(output=str(tmp_path), format=fmt, geo=geo).validate()

    (w,) = make_writers(opts("geojson", True))
    assert isinstance(w, GeoJsonWriter) and w.geo
    assert not make_writers(opts("geojson", False))[0].geo
    for fmt in ("jsonl", "coco", "yolo"):
        with pytest.raises(ConfigError, match="--format geojson"):
            opts(fmt, True)


def test_georef_is_frozen():
    ref = GeoRef("EPSG:1", 1, "WKT", (1.0, 0.0, 0.0, 0.0, -1.0, 0.0), 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.crs = "x"  # type: ignore[misc]


def test_geojson_warning_names_three_and_counts_the_rest(tmp_path):
    warned = []
    w = GeoJsonWriter(tmp_path / "out", geo=True, warn=warned.append)
    for i in range(5):
        res = _result_for(tmp_path / f"p{i}.png", f"p{i}.png")
        w.write(with_records(res, records_of(res)))
    w.finish([])
    assert warned == ["--geo: this run wrote 5 image(s) without a georeference (CRS and "
                      "geotransform) in pixel coordinates: p0.png, p1.png, p2.png and 2 more"]
