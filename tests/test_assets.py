"""The safe image loader (one test per docs/architecture.md bad-input case) and the content-addressed store."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from tools.assets import MAX_PIXELS, AssetStore, load_image
from tools.errors import BadInput, NotFound


def _png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def _jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size in a few bytes (the classic decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _s15(v): return struct.pack(">i", int(round(v * 65536)))

def adobe_rgb_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Adobe RGB (1998) primaries (D50-adapted) and gamma 2.2."""
    def xyz(x, y, z): return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)
    def curv(gamma): return b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", int(gamma * 256)) + b"\0\0"
    def desc(text):
        t = text.encode() + b"\0"
        return b"desc" + b"\0" * 4 + struct.pack(">I", len(t)) + t + b"\0" * 4 + b"\0" * 4 + b"\0" * 2 + b"\0" + b"\0" * 67
    tags = [
        (b"desc", desc("Test Adobe RGB")),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)),
        (b"rTRC", curv(2.2)), (b"gTRC", curv(2.2)), (b"bTRC", curv(2.2)),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = struct.pack(">I", size) + b"none" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12
    header += b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 4 + b"\0" * 4 + b"\0" * 8 + b"\0" * 4
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 4 + b"\0" * 16 + b"\0" * 28
    assert len(header) == 128, len(header)
    return header + body


def test_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(BadInput, match="empty"):
        load_image(path)


def test_refuses_a_file_that_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is a shopping list, not a photo")
    with pytest.raises(BadInput, match="not an image"):
        load_image(path)


def test_refuses_a_missing_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_refuses_a_truncated_jpeg(tmp_path):
    data = _jpeg_bytes(Image.new("RGB", (400, 300), (200, 30, 30)), quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match="truncated or corrupt"):
        load_image(path)


def test_refuses_a_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    data = _png_bytes(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)))
    with pytest.raises(BadInput, match="truncated or corrupt"):
        load_image(data[: len(data) - 4000], name="cut.png")


def test_refuses_a_decompression_bomb():
    with pytest.raises(BadInput, match="decompression bomb|MP; the limit"):
        load_image(_png_header_only(100_000, 100_000), name="bomb.png")


def test_refuses_more_than_40_megapixels():
    width, height = 8000, MAX_PIXELS // 8000 + 10  # just over the limit, but under Pillow's own bomb limit
    data = _png_bytes(Image.new("L", (width, height), 255), compress_level=1)
    with pytest.raises(BadInput, match=r"40 MP"):
        load_image(data, name="huge.png")


def test_refuses_an_animated_image():
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(BadInput, match="animated"):
        load_image(buffer.getvalue(), name="spin.gif")


def test_refuses_an_animated_png():
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(BadInput, match="animated"):
        load_image(buffer.getvalue(), name="spin.png")


def test_refuses_a_multi_page_tiff_by_its_pages():
    pages = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(BadInput, match=r"^scan.tif: has 2 pages; upload a single photo \(one page\)$"):
        load_image(buffer.getvalue(), name="scan.tif")


def test_normalizes_cmyk_to_rgb():
    cmyk = Image.new("CMYK", (50, 40), (0, 255, 255, 0))  # pure red ink
    loaded = load_image(_jpeg_bytes(cmyk, quality=95), name="print.jpg")
    assert loaded.image.mode == "RGB"
    r, g, b = loaded.image.getpixel((25, 20))
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in note for note in loaded.notes)


def test_normalizes_16_bit_grayscale():
    array = np.full((30, 40), 65535 // 2, dtype=np.uint16)
    image = Image.frombytes("I;16", (40, 30), array.tobytes())
    loaded = load_image(_png_bytes(image), name="deep.png")
    assert loaded.image.mode == "RGB"
    assert abs(loaded.image.getpixel((5, 5))[0] - 127) <= 1
    assert any("16-bit" in note for note in loaded.notes)


def test_normalizes_a_palette_image_with_transparency():
    image = Image.new("P", (20, 20), 0)
    image.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    image.paste(1, (5, 5, 15, 15))
    loaded = load_image(_png_bytes(image, transparency=0), name="logo.png")
    assert loaded.image.mode == "RGBA"
    assert loaded.image.getpixel((0, 0))[3] == 0
    assert loaded.image.getpixel((10, 10)) == (200, 0, 0, 255)


def test_keeps_alpha_and_drops_an_opaque_alpha_channel():
    cutout = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    cutout.paste((10, 20, 30, 255), (2, 2, 8, 8))
    assert load_image(_png_bytes(cutout), name="cut.png").image.mode == "RGBA"
    opaque = Image.new("RGBA", (10, 10), (10, 20, 30, 255))
    assert load_image(_png_bytes(opaque), name="opaque.png").image.mode == "RGB"


def test_applies_exif_orientation():
    image = Image.new("RGB", (60, 30), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 10, 10))  # marker top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = load_image(_jpeg_bytes(image, exif=exif.tobytes(), quality=95), name="phone.jpg")
    assert loaded.image.size == (30, 60)
    assert sum(loaded.image.getpixel((25, 5))) < 200  # the marker moved to the top-right
    assert any("orientation" in note for note in loaded.notes)


def test_keeps_pixels_of_an_srgb_tagged_image():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    image = Image.new("RGB", (8, 8), (120, 130, 140))
    loaded = load_image(_png_bytes(image, icc_profile=profile.tobytes()), name="srgb-tagged.png")
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((0, 0)) == (120, 130, 140)


def test_converts_a_wide_gamut_icc_profile_to_srgb():
    image = Image.new("RGB", (8, 8), (40, 200, 60))
    loaded = load_image(_png_bytes(image, icc_profile=adobe_rgb_profile()), name="adobe.png")
    r, g, b = loaded.image.getpixel((0, 0))
    # Adobe RGB green is outside sRGB: after conversion red and blue drop, green stays high.
    assert r < 20 and g > 190 and b < 50
    assert any("Test Adobe RGB" in note and "sRGB" in note for note in loaded.notes)


def test_store_is_content_addressed_and_write_once(tmp_path):
    store = AssetStore(tmp_path / "assets")
    image = Image.new("RGB", (16, 16), (1, 2, 3))
    first = store.put_image(image)
    second = store.put_image(image)
    assert first == second and len(first) == 64
    path = store.path(first)
    assert path.suffix == ".png"
    assert not path.stat().st_mode & 0o222  # read-only: never modified
    assert store.open(first).getpixel((0, 0)) == (1, 2, 3)
    assert not list(path.parent.glob(".tmp-*"))


def test_store_keeps_original_bytes(tmp_path, demo_photo):
    store = AssetStore(tmp_path / "assets")
    loaded = load_image(demo_photo)
    asset_id = store.put_loaded(loaded)
    assert store.path(asset_id).read_bytes() == demo_photo.read_bytes()
    assert asset_id == loaded.sha256


def test_store_refuses_unknown_ids(tmp_path):
    store = AssetStore(tmp_path / "assets")
    with pytest.raises(NotFound):
        store.path("../../etc/passwd")
    with pytest.raises(NotFound):
        store.path("0" * 64)


def test_reopened_assets_are_decoded_once_and_each_caller_gets_its_own_copy(tmp_path, monkeypatch):
    import tools.assets as assets

    store = AssetStore(tmp_path / "assets")
    jpeg = store.put_image(Image.new("RGB", (64, 48), (200, 10, 10)), "JPEG", quality=90)
    decoded = []
    real = assets.load_image
    monkeypatch.setattr(assets, "load_image", lambda *a, **k: decoded.append(a) or real(*a, **k))
    first = store.open(jpeg)
    first.paste((0, 0, 255), (0, 0, 64, 48))  # a caller drawing on its image changes nobody else's
    second = store.open(jpeg)
    assert len(decoded) == 1 and second.getpixel((5, 5))[0] > 150
    assert np.array_equal(np.asarray(second), np.asarray(real(store.path(jpeg)).image))  # the stored bytes' pixels
    store.DECODED_PIXELS = 64 * 48  # room for one: the oldest goes
    png = store.put_image(Image.new("RGB", (64, 48), (0, 200, 0)))
    store.open(png)
    store.open(jpeg)
    assert len(decoded) == 3
    with pytest.raises(NotFound):
        store.open("0" * 64)
