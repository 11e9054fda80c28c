"""``--geo``: GeoJSON in a GeoTIFF's CRS, end to end, and its errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402

from samcli.io.geo import transform_geometry  # noqa: E402
from tests.commands.conftest import FAST, error_lines, invoke, write_image  # noqa: E402

UTM = (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)  # north-up, 10 m pixels


def write_geotiff(path: Path, seed: int = 1) -> Path:
    """The test picture as a uint16 4-band GeoTIFF (Pillow cannot read it: rasterio does)."""
    rgb = np.asarray(Image.open(write_image(path.with_suffix(".png"), seed=seed)))
    path.with_suffix(".png").unlink()
    h, w, _ = rgb.shape
    bands = np.concatenate([np.moveaxis(rgb, -1, 0), np.full((1, h, w), 255, np.uint8)])
    data = bands.astype(np.uint16) * 257
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint16",
                       crs="EPSG:32633", transform=Affine(*UTM)) as ds:
        ds.write(data)
    return path


@pytest.fixture
def scene(tmp_path) -> Path:
    return write_geotiff(tmp_path / "in" / "geo.tif")


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_geo_geojson_is_in_the_image_crs(scene, tmp_path, mobile_ckpt):
    """A pixel run, then --geo into the same folder: the image's CRS, each geometry the pixel
    one transformed; --geo changes the manifest hash (redone, not skipped), and a run
    without it gives the first run's bytes again."""
    out = tmp_path / "out"
    base = ["automask", scene.parent, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
            "--format", "geojson"]
    assert invoke(*base).exit_code == 0
    before = (out / "geo.tif.geojson").read_text()
    result = invoke(*base, "--geo")  # redone, not skipped
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""

    pixel = json.loads(before)
    doc = json.loads((out / "geo.tif.geojson").read_text())
    assert pixel["samcli"]["crs"] == "pixel"
    assert doc["crs"] == {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}
    assert doc["samcli"]["crs"] == "EPSG:32633"
    assert doc["samcli"]["transform"] == list(UTM)
    assert (doc["samcli"]["width"], doc["samcli"]["height"]) == (64, 48)
    assert doc["features"], "the confident test model should give proposals"
    assert len(doc["features"]) == len(pixel["features"])
    for f, p in zip(doc["features"], pixel["features"]):
        assert f["geometry"] == transform_geometry(p["geometry"], UTM)
        assert f["properties"] == p["properties"]  # bbox, area, point... stay in pixels
        xs = [x for ring in _rings(f["geometry"]) for x, _ in ring]
        ys = [y for ring in _rings(f["geometry"]) for _, y in ring]
        assert 500000 <= min(xs) and max(xs) <= 500000 + 640
        assert 4000000 - 480 <= min(ys) and max(ys) <= 4000000
    manifest = _manifest(out)  # done without --geo; with it: started, then done
    assert [e["status"] for e in manifest] == ["done", "started", "done"]
    assert manifest[0]["hash"] != manifest[2]["hash"]
    assert invoke(*base).exit_code == 0  # back without --geo: the first run's bytes
    assert (out / "geo.tif.geojson").read_text() == before


def _rings(geom: dict) -> list:
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return [ring for poly in polys for ring in poly]


def test_geo_photo_without_georeference_warns_and_stays_pixels(tmp_path, mobile_ckpt):
    photo = write_image(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    result = invoke("automask", photo.parent, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
                    "--format", "geojson", "--geo")
    assert result.exit_code == 0, result.stderr
    doc = json.loads((out / "a.png.geojson").read_text())
    assert doc["samcli"]["crs"] == "pixel" and doc["samcli"]["transform"] is None
    assert "crs" not in doc
    warns = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warns) == 1 and "a.png" in warns[0] and "pixel" in warns[0]


@pytest.mark.parametrize("args,needle", [
    (["-o", "OUT", "--format", "coco"], "--format geojson"),
    (["-o", "OUT", "--format", "yolo"], "--format geojson"),
    (["-o", "OUT"], "--format geojson"),  # jsonl files
    ([], "--format geojson"),  # stdout
])
def test_geo_with_another_format_is_an_error_before_any_work(scene, tmp_path, mobile_ckpt,
                                                             args, needle):
    out = tmp_path / "out"
    args = [out if a == "OUT" else a for a in args]
    result = invoke("automask", scene, "--checkpoint", mobile_ckpt, *FAST, *args, "--geo")
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert result.stdout == "" and not out.exists()


def test_geo_without_rasterio_is_an_error_before_any_work(scene, tmp_path, mobile_ckpt,
                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    out = tmp_path / "out"
    result = invoke("automask", scene, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
                    "--format", "geojson", "--geo")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: --geo needs rasterio, which is not installed: pip install 'samcli[geo]'"]
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()


def test_from_boxes_geo(tmp_path, mobile_ckpt):
    """from-boxes shares the output options: its GeoJSON is in the image's CRS too."""
    scene = write_geotiff(tmp_path / "images" / "s.tif", seed=2)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "s.txt").write_text("0 0.3 0.4 0.3 0.4 0.9\n3 0.7 0.6 0.4 0.5 0.25\n")
    out = tmp_path / "out"
    result = invoke("from-boxes", labels, "--images", scene.parent, "--checkpoint",
                    mobile_ckpt, "--multimask", "-q", "-o", out, "--format", "geojson", "--geo")
    assert result.exit_code == 0, result.stderr
    doc = json.loads((out / "s.tif.geojson").read_text())
    assert doc["samcli"]["crs"] == "EPSG:32633"
    assert [f["properties"]["class"] for f in doc["features"]] == [0, 3], result.stderr
    for f in doc["features"]:
        assert all(x >= 500000 and y <= 4000000 for ring in _rings(f["geometry"]) for x, y in ring)


def test_geo_world_file_and_prj_changes_redo_the_image_on_resume(tmp_path, mobile_ckpt):
    """A PNG with a world file only is written in pixels; a .prj added beside it (GDAL does
    not read it for PNG, samcli does) redoes the image on resume, in the CRS; so does an
    edited world file; a .prj that is no CRS fails that image alone, naming the .prj."""
    photo = write_image(tmp_path / "in" / "a.png")
    other = write_image(tmp_path / "in" / "b.png", seed=3)
    (photo.parent / "a.pgw").write_text("10\n0\n0\n-10\n500005\n3999995\n")  # = UTM
    out = tmp_path / "out"
    args = ["automask", photo.parent, "--checkpoint", mobile_ckpt, *FAST, "-o", out,
            "--format", "geojson", "--geo"]

    def run(expect_exit: int = 0) -> tuple[list, str]:
        """The manifest's outcome lines (done, failed: not the started line before each
        redone image's files are replaced) after a run."""
        result = invoke(*args)
        assert result.exit_code == expect_exit, result.stderr
        return [e for e in _manifest(out) if e["status"] != "started"], result.stderr

    manifest, stderr = run()
    assert json.loads((out / "a.png.geojson").read_text())["samcli"]["transform"] is None
    assert "this run wrote 2 image(s) without a georeference" in stderr
    again, stderr = run()
    assert len(again) == 2 and "georeference" not in stderr  # nothing changed: both skipped

    (photo.parent / "a.prj").write_text(rasterio.crs.CRS.from_epsg(32633).to_wkt())
    manifest, _ = run()
    assert [e["input"] for e in manifest[2:]] == ["a.png"]  # redone; b.png skipped
    doc = json.loads((out / "a.png.geojson").read_text())
    assert (doc["samcli"]["crs"], doc["samcli"]["transform"]) == ("EPSG:32633", list(UTM))

    (photo.parent / "a.pgw").write_text("20\n0\n0\n-20\n500010\n3999990\n")
    manifest, _ = run()
    assert [e["input"] for e in manifest[3:]] == ["a.png"]
    doc = json.loads((out / "a.png.geojson").read_text())
    assert doc["samcli"]["transform"] == [20.0, 0.0, 500000.0, 0.0, -20.0, 4000000.0]

    (photo.parent / "a.prj").write_text("not a crs")
    (other.parent / "b.pgw").write_text("1\n0\n0\n-1\n0.5\n0.5\n")
    manifest, stderr = run(expect_exit=3)
    assert {e["input"]: e["status"] for e in manifest[4:]} == {"a.png": "failed",
                                                                "b.png": "done"}
    errors = error_lines(stderr)
    assert len(errors) == 1 and errors[0].startswith(
        f"Error: a.png: {photo.parent / 'a.prj'}: not a coordinate reference system"), stderr
    assert not (out / "a.png.geojson").exists()  # its stale file went with the failure
