"""read_image: formats, conversions, orientation, failures, limits, global state."""

from __future__ import annotations

import os
import struct
import sys
import threading
import tracemalloc
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, PngImagePlugin

from samcli.errors import InputError
from samcli.io import images as images_mod
from samcli.io import raster
from samcli.config import DEFAULT_MAX_PIXELS
from samcli.io.images import (
    IMAGE_SUFFIXES,
    image_size,
    is_image_path,
    read_image,
    rgb_of_pil,
)


def quadrants(w: int = 40, h: int = 20) -> np.ndarray:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2 :] = (0, 255, 0)
    a[h // 2 :, : w // 2] = (0, 0, 255)
    a[h // 2 :, w // 2 :] = (255, 255, 255)
    return a


def save(arr_or_im, path: Path, **kw) -> Path:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def check_array(a: np.ndarray, h: int, w: int) -> None:
    assert a.dtype == np.uint8
    assert a.shape == (h, w, 3)
    assert a.flags.c_contiguous


# ----------------------------------------------------------------------------- basics


def test_suffixes():
    assert IMAGE_SUFFIXES == (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
    assert is_image_path("a/B.JPG") and is_image_path("x.TiFf") and not is_image_path("a.gif")
    assert DEFAULT_MAX_PIXELS == 178_956_970


@pytest.mark.parametrize(
    "suffix,kw,exact",
    [(".png", {}, True), (".bmp", {}, True), (".tif", {}, True), (".tiff", {}, True),
     (".webp", {"lossless": True}, True), (".jpg", {"quality": 95}, False),
     (".jpeg", {"quality": 95}, False)],
)
def test_rgb_formats_round_trip(tmp_path, suffix, kw, exact):
    a = quadrants()
    p = save(a, tmp_path / f"img{suffix}", **kw)
    out = read_image(p)
    check_array(out, 20, 40)
    if exact:
        np.testing.assert_array_equal(out, a)
    else:
        assert np.abs(out.astype(int) - a).mean() < 6


def test_content_not_suffix_decides(tmp_path):
    p = save(quadrants(), tmp_path / "really_png.jpg", format="PNG")
    np.testing.assert_array_equal(read_image(p), quadrants())


def test_str_path_and_unicode_spaces(tmp_path):
    p = save(quadrants(), tmp_path / "dír with spaces" / "ünï cødé 图.png")
    np.testing.assert_array_equal(read_image(str(p)), quadrants())
    assert image_size(p) == (40, 20)


# ----------------------------------------------------------------------------- conversions


def test_grayscale_replicated(tmp_path):
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = read_image(save(g, tmp_path / "g.png"))
    check_array(out, 16, 16)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], g)


def test_16bit_gray_png_scaled_by_high_byte(tmp_path):
    vals = np.array([[0, 255, 256, 32767], [32768, 65280, 65534, 65535]], dtype=np.uint16)
    im = Image.fromarray(vals)
    assert im.mode.startswith("I;16")
    out = read_image(save(im, tmp_path / "g16.png"))
    check_array(out, 2, 4)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 0, 1, 127], [128, 255, 255, 255]])
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_16bit_gray_tiff(tmp_path):
    vals = np.array([[0, 65535, 32768, 4096]], dtype=np.uint16)
    out = read_image(save(Image.fromarray(vals), tmp_path / "g16.tif"))
    np.testing.assert_array_equal(out[0, :, 1], [0, 255, 128, 16])


def test_16bit_rgb_png_same_rule(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[0, 0] = (65535, 32768, 0)
    rgb16[1, 1] = (256, 255, 65280)
    p = tmp_path / "rgb16.png"
    cv2.imwrite(str(p), rgb16[:, :, ::-1])  # cv2 wants BGR
    out = read_image(p)
    np.testing.assert_array_equal(out[0, 0], [255, 128, 0])
    np.testing.assert_array_equal(out[1, 1], [1, 0, 255])


def test_32bit_int_tiff_uses_declared_depth(tmp_path):
    vals = np.array([[0, 2**31 - 1, 2**30, -5]], dtype=np.int32)
    out = read_image(save(Image.fromarray(vals), tmp_path / "i32.tif"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 255, 128, 0])


def test_float_tiff(tmp_path):
    unit = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    out = read_image(save(Image.fromarray(unit), tmp_path / "f.tif"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 0])
    wide = np.array([[-10.0, 0.0, 10.0]], dtype=np.float32)
    out = read_image(save(Image.fromarray(wide), tmp_path / "f2.tif"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_rgba_composited_on_white(tmp_path):
    a = np.zeros((1, 4, 4), np.uint8)
    a[0, 0] = (255, 0, 0, 0)      # fully transparent red -> white
    a[0, 1] = (255, 0, 0, 255)    # opaque red
    a[0, 2] = (0, 0, 0, 128)      # half black -> mid grey
    a[0, 3] = (0, 0, 255, 255)
    out = read_image(save(Image.fromarray(a, "RGBA"), tmp_path / "rgba.png"))
    check_array(out, 1, 4)
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 2], [127, 127, 127])
    np.testing.assert_array_equal(out[0, 3], [0, 0, 255])


def test_la_composited_on_white(tmp_path):
    a = np.array([[[0, 0], [0, 255], [200, 255]]], np.uint8)
    out = read_image(save(Image.fromarray(a, "LA"), tmp_path / "la.png"))
    np.testing.assert_array_equal(out[0, :, 0], [255, 0, 200])


def test_palette_png(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 253))
    im.putdata([0, 1, 2])
    out = read_image(save(im, tmp_path / "p.png"))
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])


def test_palette_png_with_transparency(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 0] + [0] * (3 * 253))
    im.putdata([0, 1, 2])
    p = save(im, tmp_path / "pt.png", transparency=2)  # index 2 (black) is transparent
    out = read_image(p)
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 255, 0], [255, 255, 255]])


def test_rgb_png_with_colour_key(tmp_path):
    a = np.array([[[1, 2, 3], [9, 9, 9]]], np.uint8)
    p = save(Image.fromarray(a), tmp_path / "key.png", transparency=(1, 2, 3))
    assert "transparency" in Image.open(p).info
    np.testing.assert_array_equal(read_image(p)[0], [[255, 255, 255], [9, 9, 9]])


def test_bilevel(tmp_path):
    im = Image.new("1", (4, 2), 0)
    im.putpixel((1, 0), 1)
    im.putpixel((3, 1), 1)
    out = read_image(save(im, tmp_path / "bw.png"))
    check_array(out, 2, 4)
    expected = np.zeros((2, 4), np.uint8)
    expected[0, 1] = expected[1, 3] = 255
    np.testing.assert_array_equal(out[:, :, 0], expected)
    out_tif = read_image(save(im, tmp_path / "bw.tif"))
    np.testing.assert_array_equal(out_tif[:, :, 2], expected)


def test_cmyk_jpeg(tmp_path):
    im = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in naive CMYK
    p = save(im, tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(p).mode == "CMYK"
    out = read_image(p)
    check_array(out, 16, 16)
    assert np.abs(out.astype(int) - [255, 0, 0]).max() < 10


def test_cmyk_tiff(tmp_path):
    im = Image.new("CMYK", (4, 4), (255, 0, 255, 0))  # green
    out = read_image(save(im, tmp_path / "cmyk.tif"))
    np.testing.assert_array_equal(out[0, 0], [0, 255, 0])


@pytest.mark.parametrize("label, rgb", [
    ("white", (255, 255, 255)), ("black", (0, 0, 0)), ("red", (255, 0, 0)),
    ("blue (b* -108)", (0, 0, 255)), ("green", (0, 160, 60)), ("grey", (128, 128, 128)),
])
def test_lab_tiff(tmp_path, label, rgb):
    """A CIELab TIFF (TIFF 6.0: L* scaled to 0..255, a* and b* signed bytes; D65, as
    scikit-image's rgb2lab) of an sRGB colour reads back as that colour."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.array([[rgb]], np.uint8))[0, 0]
    pixel = [round(lab[0] * 255 / 100), round(lab[1]) % 256, round(lab[2]) % 256]
    a = np.tile(np.array(pixel, np.uint8), (2, 2, 1))
    out = read_image(save(Image.fromarray(a, "LAB"), tmp_path / "lab.tif"))
    assert np.abs(out.astype(int) - rgb).max() <= 3, (label, out[0, 0])


def test_unsigned_32_bit_tiff_uses_all_its_bits(tmp_path):
    """Pillow opens unsigned 32-bit samples in its signed mode I: the top values were
    negative (black) and the rest shifted by the signed rule."""
    tifffile = pytest.importorskip("tifffile")
    values = np.array([[2**32 - 1, 2**31, 100 * 2**24, 0]], np.uint32)
    tifffile.imwrite(tmp_path / "u32.tif", values)
    assert read_image(tmp_path / "u32.tif")[0, :, 0].tolist() == [255, 128, 100, 0]
    tifffile.imwrite(tmp_path / "i32.tif", np.array([[2**31 - 1, -5, 100 * 2**23]], np.int32))
    assert read_image(tmp_path / "i32.tif")[0, :, 0].tolist() == [255, 0, 100]


def test_multiframe_tiff_first_page(tmp_path):
    first = Image.fromarray(quadrants())
    second = Image.new("RGB", (40, 20), (9, 9, 9))
    p = tmp_path / "pages.tif"
    first.save(p, save_all=True, append_images=[second])
    assert Image.open(p).n_frames == 2
    np.testing.assert_array_equal(read_image(p), quadrants())


def test_animated_webp_first_frame(tmp_path):
    first = Image.fromarray(quadrants())
    second = Image.new("RGB", (40, 20), (9, 9, 9))
    p = tmp_path / "anim.webp"
    first.save(p, save_all=True, append_images=[second], lossless=True)
    np.testing.assert_array_equal(read_image(p), quadrants())


# ----------------------------------------------------------------------------- orientation


def test_exif_orientation_6_jpeg(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    p = save(quadrants(40, 20), tmp_path / "rot6.jpg", exif=exif, quality=95)
    out = read_image(p)
    check_array(out, 40, 20)  # stored 40 wide x 20 high, shown 20 wide x 40 high
    assert image_size(p) == (20, 40)

    def near(y, x, colour):
        assert np.abs(out[y, x].astype(int) - colour).max() < 40, (y, x, out[y, x])

    # Displayed = stored rotated 90 degrees clockwise.
    near(5, 5, (0, 0, 255))        # top-left shows stored bottom-left (blue)
    near(5, 15, (255, 0, 0))       # top-right shows stored top-left (red)
    near(35, 15, (0, 255, 0))      # bottom-right shows stored top-right (green)
    near(35, 5, (255, 255, 255))   # bottom-left shows stored bottom-right (white)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = save(a, tmp_path / f"o{orientation}.png", exif=exif)
    with Image.open(p) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    out = read_image(p)
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("compression", [None, "tiff_lzw", "tiff_deflate"])
def test_orientation_tiff(tmp_path, compression):
    p = tmp_path / "o.tif"
    kw = {"compression": compression} if compression else {}
    Image.fromarray(quadrants()).save(p, tiffinfo={0x0112: 8}, **kw)
    out = read_image(p)
    np.testing.assert_array_equal(out, np.rot90(quadrants(), 1))
    assert image_size(p) == (20, 40)


# ----------------------------------------------------------------------------- failures


def jpeg_bytes(tmp_path: Path) -> bytes:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    return save(a, tmp_path / "full.jpg", quality=90).read_bytes()


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("empty.png", b"", "empty file"),
        ("text.png", b"hello, I am not an image\n", "not a readable image"),
        ("text.jpg", b"\xff\xd8\xff garbage", "image"),
    ],
)
def test_bad_content(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError) as ei:
        read_image(p)
    assert str(ei.value).startswith(str(p))
    assert needle in str(ei.value)


def test_truncated_jpeg_raises(tmp_path):
    data = jpeg_bytes(tmp_path)
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_image(p)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_raises(tmp_path):
    rng = np.random.default_rng(1)
    data = save(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), tmp_path / "f.png").read_bytes()
    p = tmp_path / "cut.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as ei:
        read_image(p)
    assert str(p) in str(ei.value)


def test_gif_refused(tmp_path):
    p = save(Image.new("RGB", (4, 4)), tmp_path / "a.gif")
    with pytest.raises(InputError):
        read_image(p)
    q = tmp_path / "gif_named.png"
    q.write_bytes(p.read_bytes())
    with pytest.raises(InputError, match="not a readable image"):
        read_image(q)


def test_missing_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)
    with pytest.raises(InputError):
        image_size(tmp_path / "nope.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path):
    p = save(quadrants(), tmp_path / "locked.png")
    p.chmod(0)
    try:
        with pytest.raises(InputError, match="permission denied"):
            read_image(p)
    finally:
        p.chmod(0o644)


# ----------------------------------------------------------------------------- limits


def test_max_pixels_refusal(tmp_path):
    p = save(quadrants(40, 20), tmp_path / "big.png")
    with pytest.raises(InputError) as ei:
        read_image(p, max_pixels=799)
    msg = str(ei.value)
    assert msg.startswith(str(p)) and "40x20" in msg and "--max-pixels" in msg
    assert read_image(p, max_pixels=800).shape == (20, 40, 3)
    assert read_image(p, max_pixels=None).shape == (20, 40, 3)
    assert read_image(p, max_pixels=0).shape == (20, 40, 3)


def test_beyond_pillow_limit_allowed_and_global_restored(tmp_path, monkeypatch):
    p = save(quadrants(40, 20), tmp_path / "a.png")  # 800 px
    t = tmp_path / "a.tif"
    Image.fromarray(quadrants(40, 20)).save(t)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow would raise above 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        for f in (p, t):
            assert read_image(f, max_pixels=None).shape == (20, 40, 3)
            assert read_image(f).shape == (20, 40, 3)
            assert image_size(f) == (40, 20)
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(Image.DecompressionBombError):
        Image.open(p)


def test_threads_leave_global_alone(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    files = [save(quadrants(40, 20), tmp_path / f"{i}.png") for i in range(8)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")

    def job(i):
        f = files[i % len(files)]
        try:
            if i % 3 == 0:
                read_image(bad)
            return read_image(f, max_pixels=None if i % 2 else 1000).shape
        except InputError:
            return "err"

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(job, range(64)))
    assert results.count("err") == 22
    assert all(r == (20, 40, 3) for r in results if r != "err")
    assert Image.MAX_IMAGE_PIXELS == before
    assert not images_mod._PIL_LIMIT_LOCK.locked()
    assert threading.active_count() >= 1


# --------------------------------------------------------------- PNG text chunk limits


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunk(path: Path, kind: bytes, data: bytes, after_idat: bool = False) -> Path:
    """A red 20x20 PNG with one more chunk, before its image data or after it."""
    save(Image.new("RGB", (20, 20), (200, 10, 10)), path)
    png = path.read_bytes()
    at = png.index(b"IEND" if after_idat else b"IDAT") - 4
    path.write_bytes(png[:at] + png_chunk(kind, data) + png[at:])
    return path


def zlib_zeros(mib: int) -> bytes:
    """A zlib stream of ``mib`` MiB of zero bytes, built without compressing them all: after
    a full flush the compressor forgets its history, so every further MiB compresses alike."""
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()[:-4]  # the final empty block, without the checksum of two MiB
    adler = ((mib << 20) % 65521) << 16 | 1  # Adler-32 of zeros: A = 1, B = n mod 65521
    return first + again * (mib - 1) + tail + struct.pack(">I", adler)


def test_zlib_zeros_helper():
    assert zlib.decompress(zlib_zeros(3)) == bytes(3 << 20)


def _big_text_png(tmp_path: Path, how: str) -> Path:
    p = tmp_path / f"{how}.png"
    info = PngImagePlugin.PngInfo()
    text = '{"workflow": "' + "x" * 2_000_000 + '"}'  # 2 MB, over Pillow's 1 MiB per chunk
    if how == "ztxt":
        info.add_text("workflow", text, zip=True)
    elif how == "itxt":
        info.add_itxt("XML:com.adobe.xmp", text, zip=True)
    elif how == "icc":
        save(Image.new("RGB", (20, 20), (200, 10, 10)), p, icc_profile=bytes(2_000_000))
        return p
    elif how == "ztxt_after_idat":  # read by load(), not by open()
        return png_with_chunk(p, b"zTXt", b"workflow\0\0" + zlib.compress(text.encode()),
                              after_idat=True)
    elif how == "many_chunks":  # 3 x 30 MB: over Pillow's 64 MiB in all, under ours
        for i in range(3):
            info.add_text(f"part{i}", "y" * 30_000_000, zip=True)
    save(Image.new("RGB", (20, 20), (200, 10, 10)), p, pnginfo=info)
    return p


@pytest.mark.parametrize("how", ["ztxt", "itxt", "icc", "ztxt_after_idat", "many_chunks"])
def test_png_with_big_metadata_reads(tmp_path, how):
    """Valid PNGs with compressed text (image generators' workflows, big XMP) or an ICC
    profile decompressing to more than Pillow's 1 MiB (or texts over its 64 MiB in all)
    read like any other; Pillow's limits are left as they were."""
    p = _big_text_png(tmp_path, how)
    before = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    with pytest.raises(ValueError, match="MAX_TEXT"):  # what Pillow alone does
        Image.open(p).load()
    arr = read_image(p)
    assert arr.shape == (20, 20, 3) and (arr == (200, 10, 10)).all()
    assert image_size(p) == (20, 20)
    assert images_mod.stored_orientation(p) == 1
    assert (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) == before
    assert images_mod._png_text_lifts == 0


@pytest.mark.parametrize("after_idat", [False, True])
def test_png_text_zip_bomb_refused_in_bounded_memory(tmp_path, after_idat):
    """A zTXt chunk of 2 GiB of zeros (2 MB on disk) is refused by name as a decompression
    bomb, after decompressing no more than the 64 MiB limit."""
    p = png_with_chunk(tmp_path / "bomb.png", b"zTXt", b"bomb\0\0" + zlib_zeros(2048),
                       after_idat=after_idat)
    assert p.stat().st_size < 3_000_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as ei:
            read_image(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(ei.value)
    assert msg.startswith(f"{p}: PNG metadata too large") and "64 MiB" in msg
    assert "decompression bomb" in msg and "Traceback" not in msg
    assert peak < 3 * images_mod.PNG_TEXT_CHUNK_LIMIT
    assert PngImagePlugin.MAX_TEXT_CHUNK == PngImagePlugin.MAX_TEXT_MEMORY // 64 == 1 << 20
    assert images_mod._png_text_lifts == 0


def test_png_text_total_limit_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(images_mod, "PNG_TEXT_TOTAL_LIMIT", 3 << 20)
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 1 << 20)
    info = PngImagePlugin.PngInfo()
    for i in range(2):
        info.add_text(f"part{i}", "y" * (2 << 20), zip=True)
    p = save(Image.new("RGB", (20, 20)), tmp_path / "total.png", pnginfo=info)
    with pytest.raises(InputError, match=r"total.png: PNG metadata too large: its text chunks "
                                         r"hold more than 3 MiB"):
        read_image(p)


def test_png_text_limits_never_lowered_and_nest(monkeypatch):
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_CHUNK", 1 << 30)
    monkeypatch.setattr(PngImagePlugin, "MAX_TEXT_MEMORY", 1 << 20)
    with images_mod._png_text_limits_raised():
        with images_mod._png_text_limits_raised(), images_mod._pillow_limit_lifted():
            assert PngImagePlugin.MAX_TEXT_CHUNK == 1 << 30
            assert PngImagePlugin.MAX_TEXT_MEMORY == images_mod.PNG_TEXT_TOTAL_LIMIT
        assert images_mod._png_text_lifts == 1
        assert PngImagePlugin.MAX_TEXT_MEMORY == images_mod.PNG_TEXT_TOTAL_LIMIT
    assert (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) == (1 << 30, 1 << 20)


def test_png_text_threads_restore_limits(tmp_path):
    before = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    big = _big_text_png(tmp_path, "ztxt")
    plain = save(quadrants(40, 20), tmp_path / "plain.png")
    with ThreadPoolExecutor(4) as ex:
        shapes = list(ex.map(lambda i: read_image(big if i % 2 else plain).shape, range(24)))
    assert shapes == [(20, 40, 3), (20, 20, 3)] * 12
    assert (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) == before
    assert images_mod._png_text_lifts == 0 and not images_mod._PIL_LIMIT_LOCK.locked()


def test_bad_max_pixels_value(tmp_path):
    p = save(quadrants(), tmp_path / "a.png")
    with pytest.raises(ValueError):
        read_image(p, max_pixels=-1)


@pytest.mark.parametrize(
    "exc,needle",
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (RuntimeError("boom"), "RuntimeError: boom"),
        (OSError(5, "Input/output error"), "Input/output error"),
    ],
)
def test_open_failures_become_input_errors(tmp_path, monkeypatch, exc, needle):
    p = save(quadrants(), tmp_path / "a.png")

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(images_mod.Image, "open", fail)
    with pytest.raises(InputError) as ei:
        read_image(p)
    assert str(ei.value).startswith(str(p)) and needle in str(ei.value)


def test_decode_failure_types_become_input_errors(tmp_path, monkeypatch):
    p = save(quadrants(), tmp_path / "a.png")
    real_open = Image.open

    class Boom:
        def __init__(self, exc):
            self.exc = exc

        def __call__(self, *a, **k):
            im = real_open(*a, **k)

            def load():
                raise self.exc

            im.load = load
            return im

    for exc, needle in [(MemoryError(), "memory"), (KeyError("x"), "KeyError"),
                        (ValueError("bad"), "corrupt")]:
        monkeypatch.setattr(images_mod.Image, "open", Boom(exc))
        with pytest.raises(InputError, match=needle):
            read_image(p)


# ----------------------------------------------------------------------------- bytes


def test_bytes_read_by_the_same_rules(tmp_path):
    """``data=``: a file's content read elsewhere gives the very
    array the file does: orientation, bit depth, alpha, palette; errors name the path."""
    exif = Image.Exif()
    exif[0x0112] = 6
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 100
    files = [
        save(quadrants(40, 20), tmp_path / "rot6.jpg", exif=exif, quality=95),
        save(Image.fromarray(rgba, "RGBA"), tmp_path / "rgba.png"),
        save(Image.fromarray(np.full((5, 7), 40000, np.uint16)), tmp_path / "deep16.png"),
        save(Image.fromarray(quadrants()).convert("P"), tmp_path / "pal.png", transparency=0),
    ]
    tif = tmp_path / "o.tif"
    Image.fromarray(quadrants()).save(tif, tiffinfo={0x0112: 8}, compression="tiff_lzw")
    for p in files + [tif]:
        np.testing.assert_array_equal(read_image(p, data=p.read_bytes()), read_image(p))

    good = jpeg_bytes(tmp_path)
    for data, needle in [(b"", "empty file"), (b"hello", "not a readable image"),
                         (good[: len(good) // 2], "truncated"), (good, "over the limit")]:
        limit = 100 if needle == "over the limit" else None
        p = tmp_path / "bad.jpg"
        p.write_bytes(data)
        with pytest.raises(InputError, match=needle) as from_file:
            read_image(p, max_pixels=limit)
        with pytest.raises(InputError) as from_bytes:
            read_image(p, max_pixels=limit, data=data)
        assert str(from_bytes.value) == str(from_file.value)
        with pytest.raises(InputError, match=needle):  # the path only names the image
            read_image(tmp_path / "gone.jpg", max_pixels=limit, data=data)


def _bad_exif_jpeg(path: Path) -> Path:
    """A JPEG whose EXIF block names a tag whose data lies past the block's end: Pillow warns
    'Tag data larger than file' while the orientation is looked up."""
    exif = (b"Exif\0\0II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x010F, 2, 100, 5000) + b"\0\0\0\0")
    Image.new("RGB", (20, 20), (200, 10, 10)).save(path, exif=exif)
    return path


def test_decoder_warnings_become_notes_that_name_the_file(tmp_path):
    path = _bad_exif_jpeg(tmp_path / "bad exif.jpg")
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches Python's warnings
        rgb = read_image(path, notes=notes)
    assert rgb.shape == (20, 20, 3)
    assert notes == [f"{path}: Tag data larger than file. Skipping tag 271"]
    with pytest.warns(UserWarning, match="Tag data larger"):  # without notes: as Pillow does
        read_image(path)


@pytest.mark.parametrize("label, category, noted", [
    ("a decoder's UserWarning", UserWarning, True),
    ("a RuntimeWarning (Pillow's DecompressionBombWarning is one)", RuntimeWarning, True),
    ("a DeprecationWarning: about code, not the file", DeprecationWarning, False),
    ("a FutureWarning: about code too", FutureWarning, False),
])
def test_notes_take_warnings_about_the_file_only(tmp_path, monkeypatch, label, category,
                                                 noted):
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(path)
    real = images_mod._read_image

    def warn_twice(*args):
        for _ in range(2):
            warnings.warn("odd chunk", category)
        return real(*args)

    monkeypatch.setattr(images_mod, "_read_image", warn_twice)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        read_image(path, notes=notes)
    assert notes == ([f"{path}: odd chunk"] if noted else []), label  # once each
    assert [w.category for w in shown] == ([] if noted else [category, category]), label


# ------------------------------------------------- band colour interpretation (BGR TIFFs)


def three_bands(dtype=np.uint8) -> np.ndarray:
    """``(3, 2, 4)`` stored bands, every value distinct: band 1 holds 10..17, band 2 70..77,
    band 3 130..137 (16-bit: those values times 256 plus 200, so ``v >> 8`` gives them back)."""
    base = np.arange(8).reshape(2, 4)
    values = np.stack([10 + base, 70 + base, 130 + base])
    return (values * 256 + 200 if np.dtype(dtype).itemsize == 2 else values).astype(dtype)


def as_rgb(stored: np.ndarray, bands: tuple[int, int, int]) -> np.ndarray:
    """The 8-bit ``(H, W, 3)`` RGB of ``stored`` (``(3, H, W)``) with 1-based ``bands`` as
    R, G, B (16-bit values: their high byte)."""
    chosen = stored[[b - 1 for b in bands]]
    return np.moveaxis(chosen >> 8 if chosen.dtype == np.uint16 else chosen, 0, -1).astype(
        np.uint8)


@pytest.mark.parametrize("label, dtype, marks, options, bands, first", [
    ("RGB-marked 8-bit: stored order", np.uint8, "RGB", {}, (1, 2, 3), [10, 70, 130]),
    ("BGR-marked 8-bit: bands 3, 2, 1", np.uint8, "BGR", {}, (3, 2, 1), [130, 70, 10]),
    ("BGR-marked 8-bit, LZW, tiled, band-interleaved", np.uint8, "BGR",
     dict(compress="lzw", tiled=True, blockxsize=16, blockysize=16, interleave="band"),
     (3, 2, 1), [130, 70, 10]),
    ("GRB-marked 8-bit: any order of the three", np.uint8, "GRB", {}, (2, 1, 3),
     [70, 10, 130]),
    ("blue, green, undefined 8-bit: not all three marked, stored order", np.uint8, "BGU", {},
     (1, 2, 3), [10, 70, 130]),
    ("BGR-marked 8-bit, Photometric MINISBLACK (Pillow cannot open it: rasterio)", np.uint8,
     "BGR", dict(photometric="MINISBLACK"), (3, 2, 1), [130, 70, 10]),
    ("BGR-marked 16-bit (rasterio)", np.uint16, "BGR", {}, (3, 2, 1), [130, 70, 10]),
])
def test_tiff_band_colour_marks_pick_rgb(tmp_path, label, dtype, marks, options, bands, first):
    """A TIFF whose bands GDAL marks blue, green, red (a BGR GeoTIFF) reads as RGB whatever
    its bit depth, so whichever reader reads it: Pillow (8-bit RGB) or rasterio (the rest);
    both readers agree on every file."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.enums import ColorInterp as CI

    letters = {"R": CI.red, "G": CI.green, "B": CI.blue, "U": CI.undefined}
    stored = three_bands(dtype)
    p = tmp_path / "bands.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(p, "w", driver="GTiff", width=4, height=2, count=3, dtype=dtype,
                           **options) as ds:
            ds.write(stored)
            ds.colorinterp = [letters[c] for c in marks]
        with rasterio.open(p) as ds:  # the file says what the case says (GDAL's reading)
            assert "".join(ci.name[0].upper() for ci in ds.colorinterp) == marks, label
    expected = as_rgb(stored, bands)
    out = read_image(p)
    check_array(out, 2, 4)
    assert out[0, 0].tolist() == first, label
    np.testing.assert_array_equal(out, expected, err_msg=label)
    np.testing.assert_array_equal(read_image(p, data=p.read_bytes()), expected, err_msg=label)
    np.testing.assert_array_equal(raster.read_raster_rgb(p, None), expected, err_msg=label)


def gdal_metadata(*items: str) -> str:
    return "<GDALMetadata>\n" + "".join(f"  {i}\n" for i in items) + "</GDALMetadata>\n"


def colorinterp_items(*names: str, form: str = '<Item name="COLORINTERP" sample="{i}" '
                      'role="colorinterp">{name}</Item>') -> list[str]:
    return [form.format(i=i, name=n) for i, n in enumerate(names)]


@pytest.mark.parametrize("label, metadata, first", [
    ("GDAL's own form, BGR", gdal_metadata(*colorinterp_items("Blue", "Green", "Red")),
     [30, 20, 10]),
    ("attributes in another order, single quotes, lower-case names",
     gdal_metadata(*colorinterp_items("blue", "green", "red", form="<Item role='colorinterp' "
                                      "sample='{i}' name='COLORINTERP'>{name}</Item>")),
     [30, 20, 10]),
    ("among other metadata items",
     gdal_metadata('<Item name="AREA_OR_POINT">Area</Item>',
                   *colorinterp_items("Red", "Blue", "Green"),
                   '<Item name="STATISTICS_MEAN" sample="0" role="statistic">5</Item>'),
     [10, 30, 20]),
    ("explicitly RGB: stored order", gdal_metadata(*colorinterp_items("Red", "Green", "Blue")),
     [10, 20, 30]),
    ("no role attribute: GDAL ignores the items",
     gdal_metadata(*colorinterp_items("Blue", "Green", "Red", form='<Item name="COLORINTERP" '
                                      'sample="{i}">{name}</Item>')),
     [10, 20, 30]),
    ("no name attribute: GDAL ignores the items",
     gdal_metadata(*colorinterp_items("Blue", "Green", "Red", form='<Item sample="{i}" '
                                      'role="colorinterp">{name}</Item>')),
     [10, 20, 30]),
    ("names padded with spaces: no colour to GDAL",
     gdal_metadata(*colorinterp_items(" Blue", "Green", "Red ")), [10, 20, 30]),
    ("red on a sample the file does not have",
     gdal_metadata(*colorinterp_items("Blue", "Green", "Undefined", "Red")), [10, 20, 30]),
    ("not XML at all", "Blue, Green, Red", [10, 20, 30]),
])
def test_gdal_metadata_marks_read_without_rasterio(tmp_path, monkeypatch, label, metadata,
                                                   first):
    """An 8-bit RGB TIFF's GDAL_METADATA colour marks are taken from the header as GDAL takes
    them, by read_image without rasterio (as without the geo extra); rasterio, when
    installed, reads the same pixels."""
    stored = np.zeros((2, 3, 3), np.uint8)
    stored[...] = (10, 20, 30)
    stored[1, 2] = (11, 21, 31)
    p = tmp_path / "marked.tif"
    Image.fromarray(stored).save(p, tiffinfo={raster.GDAL_METADATA_TAG: metadata})
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "rasterio", None)  # not installed
        out = read_image(p)
    assert out[0, 0].tolist() == first, label
    assert out[1, 2].tolist() == [v + 1 for v in first], label
    if raster.have_rasterio():
        np.testing.assert_array_equal(raster.read_raster_rgb(p, None), out, err_msg=label)


def test_bgr_marks_with_orientation_bytes_and_pil(tmp_path):
    """The reordering composes with the TIFF orientation tag, and reads the same from bytes
    and from a Pillow image opened elsewhere (rgb_of_pil)."""
    p = tmp_path / "bgr8.tif"
    Image.fromarray(np.ascontiguousarray(quadrants()[:, :, ::-1])).save(
        p, tiffinfo={0x0112: 8, raster.GDAL_METADATA_TAG: gdal_metadata(
            *colorinterp_items("Blue", "Green", "Red"))})
    expected = np.rot90(quadrants(), 1)
    np.testing.assert_array_equal(read_image(p), expected)
    np.testing.assert_array_equal(read_image(p, data=p.read_bytes()), expected)
    with Image.open(p) as im:
        np.testing.assert_array_equal(rgb_of_pil(im, "bgr8"), expected)
    assert image_size(p) == (20, 40)
