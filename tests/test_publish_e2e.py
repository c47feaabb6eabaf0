"""End to end through the real production path: ingest, plan, render, vision check and approval
(tools.production.build_gallery), then `publish`, `missing` and `plate revoke` on the command line."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageDraw

from agent.offline.reader import read_brief
from tools import provenance
from tools.demo import demo_photo_bytes
from tools.plates import register_plate
from tools.production import build_gallery
from tools.publish import publish_pack
from ui.cli import main


def hand_plate(tmp_path):
    """A finger on white and an ellipse mask across it, where the ring sits."""
    plate = Image.new("RGB", (600, 800), (252, 252, 252))
    ImageDraw.Draw(plate).rounded_rectangle([270, 100, 330, 800], radius=30, fill=(226, 182, 160))
    mask = Image.new("L", (600, 800), 0)
    ImageDraw.Draw(mask).ellipse([268, 440, 332, 460], fill=255)
    plate.save(tmp_path / "hand.jpg", quality=95)
    mask.save(tmp_path / "hand.mask.png")
    return tmp_path / "hand.jpg", tmp_path / "hand.mask.png"


def test_gallery_to_amazon_pack_then_consent_revoked(workspace, tmp_path, capsys):
    # 1. A registered hand plate whose talent consents to Amazon, and a gallery made and checked for real.
    plate_path, mask_path = hand_plate(tmp_path)
    register_plate(workspace, plate_path, kind="hand", mask=mask_path, plate_id="ana-hand", talent_id="ana",
                   consent_channels=["amazon", "etsy"])
    photo = tmp_path / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING", 900))
    brief = read_brief("gold ring with a sapphire, 21 mm wide, 1 candidate each, no campaign, no lifestyle",
                       sku="DEMO-RING", category="ring", channels=["amazon"])
    gallery = build_gallery(workspace, images=[photo], sku="DEMO-RING", category="ring", brief=brief,
                            channels=["amazon"], auto_approve=True)
    by_role = {c["role"]: c for c in gallery["candidates"]}
    assert by_role["packshot"]["verdict"] == "pass", gallery["candidates"]
    home = str(workspace.home)
    # A person approves the try-on on the command line (whatever the vision check said of it).
    assert main(["--home", home, "review", "DEMO-RING", "--approve", by_role["try_on"]["id"],
                 "--note", "the finger hides part of the band, as it should"]) == 0
    capsys.readouterr()

    # 2. Publish for Amazon on the command line.
    out = tmp_path / "amazon"
    assert main(["--home", home, "--json", "publish", "DEMO-RING", "--channel", "amazon", "-o", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    files = {f["role"]: f for f in result["files"]}
    assert files["packshot"]["name"] == "DEMO-RING.MAIN.jpg"
    assert files["try_on"]["name"].startswith("DEMO-RING.PT")
    assert provenance.read_digital_source_type(files["packshot"]["path"]) == "compositeSynthetic"
    assert provenance.read_digital_source_type(files["try_on"]["path"]) == "compositeCapture"
    with Image.open(files["packshot"]["path"]) as main_image:
        assert 1000 <= max(main_image.size) and main_image.getpixel((2, 2)) == (255, 255, 255)
    manifest = json.loads((out / "manifest.json").read_text())
    main_entry = manifest["images"][0]
    assert main_entry["approval"]["by"] == "auto" and main_entry["critique"]["verdict"] == "pass"
    assert manifest["source_photos"][0]["sha256"] == provenance.sha256_file(photo)
    assert {c["name"] for c in main_entry["critique"]["checks"]} >= {"upscale"}
    try_on_entry = next(e for e in manifest["images"] if e["role"] == "try_on")
    assert try_on_entry["plate_id"] == "ana-hand"

    # 3. Nothing missing for the planned shots; then the talent revokes her consent.
    assert main(["--home", home, "--json", "missing", "DEMO-RING"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert not [m for m in before["missing"] if m["kind"] == "consent"]
    assert main(["--home", home, "plate", "revoke", "ana"]) == 0
    capsys.readouterr()

    assert main(["--home", home, "--json", "missing", "DEMO-RING"]) == 0
    after = json.loads(capsys.readouterr().out)
    flagged = [m for m in after["missing"] if m["kind"] == "consent"]
    assert flagged and flagged[0]["role"] == "try_on" and "consent of talent ana was revoked" in flagged[0]["reason"]
    assert main(["--home", home, "--json", "missing", "--role", "try_on"]) == 0
    assert [r["sku"] for r in json.loads(capsys.readouterr().out)["skus"]] == ["DEMO-RING"]

    assert main(["--home", home, "publish", "DEMO-RING", "--channel", "amazon", "-o", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "consent of talent ana was revoked" in err and flagged[0]["candidate"] in err
    assert not (tmp_path / "again" / "manifest.json").exists()


def test_a_real_cutout_published_for_amazon_and_etsy(workspace, realdata, tmp_path):
    from pipelines.framing import inside_crop
    from tools.models import Decision

    photo = realdata / "cutouts" / "nishi_ring_RFSV015D1F.rgba.png"
    brief = read_brief("silver ring, 18 mm wide, 1 candidate each, no campaign, no lifestyle",
                       sku="NISHI-RING", category="ring", channels=["amazon", "etsy"])
    gallery = build_gallery(workspace, images=[photo], sku="NISHI-RING", category="ring", brief=brief,
                            channels=["amazon", "etsy"])
    for candidate in gallery["candidates"]:
        if candidate["role"] in ("packshot", "detail"):
            workspace.catalog.add_decision(Decision(candidate_id=candidate["id"], action="approve", by="tester",
                                                    note="looked at it"))

    amazon = publish_pack(workspace, "NISHI-RING", "amazon", tmp_path / "amazon")
    main_file = amazon["files"][0]
    assert main_file["name"] == "NISHI-RING.MAIN.jpg" and main_file["role"] == "packshot"
    with Image.open(main_file["path"]) as image:
        assert max(image.size) >= 1000
        assert all(image.getpixel(xy) == (255, 255, 255) for xy in [(0, 0), (image.width - 1, image.height - 1)])
    manifest = json.loads((tmp_path / "amazon" / "manifest.json").read_text())
    assert manifest["source_photos"][0]["sha256"] == provenance.sha256_file(photo)
    assert all(provenance.read_digital_source_type(f["path"]) == "compositeSynthetic" for f in amazon["files"])

    etsy = publish_pack(workspace, "NISHI-RING", "etsy", tmp_path / "etsy")
    first = etsy["files"][0]
    with Image.open(first["path"]) as image:
        mask = np.asarray(image.convert("L")) < 240
        ys, xs = np.nonzero(mask)
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert inside_crop(box, image.size, 4 / 3), "the ring leaves Etsy's 4:3 search thumbnail"
