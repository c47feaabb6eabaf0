"""publish warns when two images of a pack are near duplicates (the same picture to a shopper), and stays
quiet for a pack of different pictures."""

from __future__ import annotations

from publishing_helpers import add_gallery

from tools.models import Channel, Role
from tools.publish import pack_summary, publish_pack


def test_publish_warns_about_two_near_duplicate_images(workspace, tmp_path):
    add_gallery(workspace, roles=(Role.packshot, Role.lifestyle, Role.lifestyle), channel=Channel.etsy)
    result = publish_pack(workspace, "DEMO-RING", "etsy", tmp_path / "pack")
    assert len(result["files"]) == 3
    [warning] = result["warnings"]
    assert "look almost the same" in warning and result["files"][1]["name"] in warning
    assert any("look almost the same" in line for line in pack_summary(result))


def test_publish_of_different_pictures_has_no_duplicate_warning(workspace, tmp_path):
    add_gallery(workspace, roles=(Role.packshot, Role.detail, Role.lifestyle), channel=Channel.etsy)
    result = publish_pack(workspace, "DEMO-RING", "etsy", tmp_path / "pack")
    assert len(result["files"]) == 3 and result["warnings"] == []
