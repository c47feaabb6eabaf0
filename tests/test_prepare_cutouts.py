"""Taking photos in, the cutout side: an upload with real transparency is the seller's own cutout; a
correction with keep / remove strokes is a new cutout asset (the original photo and the first cutout
are kept); the `cutout` command's --keep / --remove masks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tools.demo import demo_cutout
from tools.prepare import cutout_file, ingest_product, recut_photo, source_cutout


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_rgba_upload_is_the_sellers_cutout(workspace):
    cutout = demo_cutout("DEMO-EARRINGS", 200)
    _, photos = ingest_product(workspace, "EAR-1", [_png(cutout)], category="earrings")
    assert photos[0].cutout_method == "your cutout"
    assert any("your cutout" in note for note in photos[0].notes)
    _, stored = source_cutout(workspace, "EAR-1")
    assert np.array_equal(np.asarray(stored), np.asarray(cutout))


def test_strokes_make_a_new_cutout_and_keep_the_first(workspace, demo_photo):
    _, photos = ingest_product(workspace, "RING-1", [demo_photo], category="ring")
    first = photos[0]
    first_cutout = np.asarray(workspace.assets.open(first.cutout_asset_id))
    remove = np.zeros((first.height, first.width), bool)
    remove[: first.height // 2] = True  # remove the top half of the product
    photo, result = recut_photo(workspace, "RING-1", first.asset_id, remove=remove)
    assert photo.cutout_asset_id != first.cutout_asset_id and photo.previous_cutout_ids == [first.cutout_asset_id]
    assert photo.cutout_method == "strokes" and result.method == "strokes"
    new_id, new_cutout = source_cutout(workspace, "RING-1")
    assert new_id == photo.cutout_asset_id
    alpha = np.asarray(new_cutout.getchannel("A"))
    assert alpha[: first.height // 2].max() == 0 and alpha[first.height // 2:].max() == 255
    # the first cutout and the original photo are still in the store, unchanged
    assert np.array_equal(np.asarray(workspace.assets.open(first.cutout_asset_id)), first_cutout)
    assert workspace.assets.open(first.asset_id).size == (first.width, first.height)
    from tools.errors import BadInput, NotFound

    with pytest.raises(BadInput, match="at least one keep or remove stroke"):
        recut_photo(workspace, "RING-1", first.asset_id)
    with pytest.raises(NotFound):
        recut_photo(workspace, "RING-1", "0" * 64, remove=remove)


def test_cutout_file_with_a_remove_mask(tmp_path, demo_photo):
    from tools.errors import BadInput

    size = Image.open(demo_photo).size
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    mask.save(tmp_path / "remove.png")
    report = cutout_file(demo_photo, tmp_path / "out.png", remove=tmp_path / "remove.png")
    alpha = np.asarray(Image.open(tmp_path / "out.png").getchannel("A"))
    assert report["method"] == "strokes" and alpha[:, : size[0] // 2].max() == 0 and alpha.max() == 255
    Image.new("L", (10, 10), 255).save(tmp_path / "small.png")
    with pytest.raises(BadInput, match="remove mask is 10x10"):
        cutout_file(demo_photo, tmp_path / "out2.png", remove=tmp_path / "small.png")
    with pytest.raises(BadInput, match="--keep"):
        cutout_file(demo_photo, tmp_path / "out3.png", keep=tmp_path / "missing.png")
