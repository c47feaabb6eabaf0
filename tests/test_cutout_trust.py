"""The vision check compares with the photo, not only with our cutout: a packshot rendered (with the real
studio engine) from a cutout that lost part of a real product fails, a correct cutout passes, a weaker
doubt is a warning that blocks automatic approval, and publish refuses such a main image until a person
approved it after seeing the warning (recorded in the manifest). Cutout confidence lives in the catalog.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from PIL import Image

from pipelines.cutout_check import relay, verify_cutout
from tools.errors import Refused
from tools.models import Candidate, Category, Channel, Decision, Photo, Product, Role, Shot, Slot
from tools.verification import grade

RING = "nishi_ring_RFSV015D1F"  # gold ring: two malachite marquises around a silver pavé one
NECKLACE = "nishi_necklace_NMP006S1F"  # a catalog photo of a gold chain on white, with its exact alpha


@pytest.fixture(scope="module")
def ring_photo(realdata) -> tuple[Image.Image, np.ndarray]:
    """A studio photo of the real ring (its exact cutout on a white sweep, soft noise, JPEG) and its true alpha."""
    import io

    cutout = Image.open(realdata / "cutouts" / f"{RING}.rgba.png").convert("RGBA")
    w, h = cutout.size
    frame = Image.new("RGBA", (int(w * 1.3), int(h * 1.3)), (250, 250, 249, 255))
    frame.alpha_composite(cutout, (int(w * 0.15), int(h * 0.15)))
    noisy = np.asarray(frame.convert("RGB"), np.float32) + np.random.default_rng(0).normal(0, 1.0, (frame.height, frame.width, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    alpha = np.zeros((frame.height, frame.width), np.float32)
    alpha[int(h * 0.15):int(h * 0.15) + h, int(w * 0.15):int(w * 0.15) + w] = np.asarray(cutout.getchannel("A")) / 255.0
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), alpha


@pytest.fixture(scope="module")
def necklace_photo(realdata) -> tuple[Image.Image, np.ndarray]:
    """A real catalog photo (not composited here) and its exact alpha."""
    photo = Image.open(realdata / "masks" / f"{NECKLACE}.png").convert("RGB")
    alpha = Image.open(realdata / "masks" / f"{NECKLACE}.rgba.png").convert("RGBA").getchannel("A")
    return photo, np.asarray(alpha, np.float32) / 255.0


def lower_rows_erased(alpha: np.ndarray, share: float = 0.3) -> np.ndarray:
    """The cutout with the product's lowest rows (a share of its height) made transparent."""
    ys, _ = np.nonzero(alpha > 0.5)
    broken = alpha.copy()
    broken[int(ys.max() - share * (ys.max() - ys.min())):] = 0.0
    return broken


def cutout_from(photo: Image.Image, alpha: np.ndarray) -> Image.Image:
    rgba = np.dstack([np.asarray(photo), np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])
    return Image.fromarray(rgba, "RGBA")


def erase(alpha: np.ndarray, x0: float, x1: float) -> np.ndarray:
    """The cutout with the product's columns between x0 and x1 (shares of its width) made transparent."""
    ys, xs = np.nonzero(alpha > 0.5)
    left, width = xs.min(), xs.max() - xs.min()
    broken = alpha.copy()
    broken[:, int(left + x0 * width):int(left + x1 * width)] = 0.0
    return broken


def silver_pave_erased(alpha: np.ndarray) -> np.ndarray:
    return erase(alpha, 0.40, 0.60)  # the middle of the silver pavé marquise


def seed_sku(ws, photo: Image.Image, alpha: np.ndarray, sku: str = "RING-1",
             category: Category = Category.ring) -> tuple[Photo, Shot]:
    """A SKU whose photo has the given cutout, and an Amazon main packshot planned for it."""
    from tools.models import Dimensions

    ws.catalog.upsert_product(Product(sku=sku, category=category, title=f"Gold {category.value}",
                                      dimensions=Dimensions(width_mm=20)))
    photo_id = ws.assets.put_image(photo, "JPEG", quality=95)
    cutout_id = ws.assets.put_image(cutout_from(photo, alpha))
    record = ws.catalog.add_photo(Photo(asset_id=photo_id, sku=sku, width=photo.width, height=photo.height,
                                        cutout_asset_id=cutout_id))
    shot = Shot(role=Role.packshot, slot=Slot.grid, channel=Channel.amazon, width=1600, height=1600, count=1)
    from tools.models import GalleryPlan

    ws.catalog.save_plan(GalleryPlan(sku=sku, shots=[shot]))
    return record, shot


def render_and_check(ws, sku: str, shot: Shot) -> tuple[Candidate, object]:
    from tools.critique import critique_candidate
    from tools.render import render_shot

    candidate = render_shot(ws, sku, shot)[0]
    return candidate, critique_candidate(ws, candidate)


# -- the evidence itself ------------------------------------------------------------------------------


def test_photo_evidence_separates_a_true_cutout_from_a_broken_one(ring_photo):
    photo, alpha = ring_photo
    true = verify_cutout(photo, alpha, neural=False)
    broken = verify_cutout(photo, silver_pave_erased(alpha), neural=False)
    assert true.missing < 0.005 and grade(true.as_dict())[0] == "verified"
    assert broken.missing > 0.10  # the erased columns are about a fifth of the ring
    level, reasons = grade(broken.as_dict())
    assert level == "failed"
    assert "part of the product may be missing" in reasons[0] and "became transparent" in reasons[0]


def true_holes_filled(alpha: np.ndarray) -> np.ndarray:
    """The cutout with every hole the product encloses made opaque (what a matting that fills holes gives)."""
    import cv2

    background = (alpha <= 0.5).astype(np.uint8)
    _, labels = cv2.connectedComponents(background, connectivity=4)
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.where(~np.isin(labels, outside) & (alpha <= 0.5), 1.0, alpha).astype(np.float32)


@pytest.mark.parametrize("backdrop", ["white", "light_grey"])
def test_a_hole_filled_with_its_shadow_is_a_warning_a_person_must_see(realdata, backdrop):
    """A real bracelet with an open infinity knot, photographed with its soft shadow: the shade seen through
    its loops is the backdrop's colour, only darker and smooth, so colour alone took a filled loop for a grey
    face of polished metal and the cutout was verified. Where the neural map does not see product there
    either, the filled loop is a warning with its reason; the true cutout stays verified."""
    from benchmarks.bench_cutout import composite

    cutout = Image.open(realdata / "cutouts" / "nishi_bracelet_BFCL013D2C.rgba.png").convert("RGBA")
    photo, truth = composite(cutout, backdrop, seed=0)
    true = verify_cutout(photo, truth.astype(np.float32))
    assert true.shadow_kept < 0.005 and grade(true.as_dict()) == ("verified", [])
    filled = verify_cutout(photo, true_holes_filled(truth.astype(np.float32)))
    assert filled.shadow_kept >= 0.01
    level, reasons = grade(filled.as_dict())
    assert level == "uncertain"
    assert any("filled a hole or a gap" in reason for reason in reasons)


def test_a_cutout_that_does_not_fit_its_photo_is_refused_with_a_reason(ring_photo):
    photo, alpha = ring_photo
    with pytest.raises(ValueError, match="same frame|shape"):
        verify_cutout(photo, alpha[:, : alpha.shape[1] // 2], neural=False)


# -- a candidate from a broken cutout fails; from a correct one it passes -------------------------------


def test_packshot_from_a_broken_cutout_fails_and_from_the_true_one_passes(workspace, ring_photo):
    photo, alpha = ring_photo
    good_photo, good_shot = seed_sku(workspace, photo, alpha, sku="RING-GOOD")
    bad_photo, bad_shot = seed_sku(workspace, photo, silver_pave_erased(alpha), sku="RING-BROKEN")

    good, good_critique = render_and_check(workspace, "RING-GOOD", good_shot)
    bad, bad_critique = render_and_check(workspace, "RING-BROKEN", bad_shot)

    # the candidate matches its own cutout exactly: only the check against the photo can see the loss
    bad_checks = {c.name: c for c in bad_critique.checks}
    assert bad_checks["silhouette"].passed
    assert bad_critique.verdict == "fail"
    assert not bad_checks["cutout"].passed
    assert "may be missing" in bad_checks["cutout"].message and "%" in bad_checks["cutout"].message
    assert good_critique.verdict == "pass", good_critique.reasons
    assert {c.name: c for c in good_critique.checks}["cutout"].passed

    # the catalog keeps each cutout's confidence with its values, and which cutout each candidate used
    stored = workspace.catalog.cutout_confidence("RING-BROKEN", bad_photo.cutout_asset_id)
    assert stored.level == "failed" and stored.values["missing"] > 0.10
    assert workspace.catalog.cutout_confidence("RING-GOOD", good_photo.cutout_asset_id).level == "verified"
    assert [c.id for c in workspace.catalog.candidates_from_cutout(bad_photo.cutout_asset_id)] == [bad.id]


def test_real_photo_packshot_laid_back_over_the_photo_shows_the_lost_part(workspace, necklace_photo):
    """A real photo (not composited here): the candidate of a cutout that lost the chain's lower third fails
    its own check against the photo (laid back over the photo's background), that of the true cutout passes."""
    photo, alpha = necklace_photo
    _, good_shot = seed_sku(workspace, photo, alpha, sku="CHAIN-GOOD", category=Category.necklace)
    _, bad_shot = seed_sku(workspace, photo, lower_rows_erased(alpha), sku="CHAIN-BROKEN", category=Category.necklace)

    _, good_critique = render_and_check(workspace, "CHAIN-GOOD", good_shot)
    _, bad_critique = render_and_check(workspace, "CHAIN-BROKEN", bad_shot)

    bad = {c.name: c for c in bad_critique.checks}
    assert bad["silhouette"].passed  # the image matches the cutout it was made from
    assert not bad["against_photo"].passed and bad_critique.verdict == "fail"
    assert bad["against_photo"].message.startswith("part of the product may be missing from this image")
    assert bad["against_photo"].value >= 0.10  # a third of the chain's height is about a fifth of its area
    good = {c.name: c for c in good_critique.checks}["against_photo"]
    assert good.passed and not good.warning, good.message
    assert good_critique.verdict == "pass", good_critique.reasons


def test_relay_reads_the_candidate_not_the_cutout(necklace_photo):
    """An image that lost part of the product fails even when the cutout itself was right (an engine that
    dropped it); the photo itself, as a candidate, shows all of it."""
    photo, alpha = necklace_photo
    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    whole = relay(photo, alpha, np.asarray(photo), frame, frame)
    assert whole.missing == 0.0 and not whole.added
    lost = np.asarray(photo).copy()
    lost[lower_rows_erased(alpha) < alpha - 0.5] = 255  # the lower chain painted over with the white backdrop
    evidence = relay(photo, alpha, lost, frame, frame)
    assert evidence.missing > 0.10 and evidence.missing_pieces >= 1


def ghosted_watch() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A watch on a light grey sweep whose face is the backdrop's grey but for a paler reflection on its glass,
    a cutout that kept only the case, and the packshot made from it (its own white backdrop): the photo,
    the cutout's alpha, the packshot and the face."""
    import cv2

    yy, xx = np.mgrid[:600, :600]
    r = np.hypot(yy - 300, xx - 300)
    photo = np.empty((600, 600, 3), np.float32)
    photo[:] = (226, 226, 229)
    case = (r >= 150) & (r < 190)
    photo[case] = (170, 125, 95)
    photo[np.hypot(yy - 250, xx - 260) < 30] += 6  # the reflection: too faint for any one pixel to tell
    photo += np.random.default_rng(0).normal(0, 2.5, photo.shape)
    photo = np.clip(cv2.GaussianBlur(photo, (0, 0), 0.8), 0, 255).astype(np.uint8)
    alpha = cv2.GaussianBlur(case.astype(np.float32), (0, 0), 0.7)
    packshot = np.where(alpha[..., None] > 0.5, photo, 255).astype(np.uint8)
    return photo, alpha, packshot, r < 150


def test_a_pale_part_lost_is_reported_as_the_share_the_seller_sees():
    """A ghosted watch face: only its reflection gives it away, but the whole face shows background in the
    image, about three fifths of the watch. The warning names that share, not only the reflection's few percent."""
    from tools.verification import relay_check

    photo, alpha, packshot, face = ghosted_watch()
    frame = (0.0, 0.0, 600.0, 600.0)
    evidence = relay(photo, alpha, packshot, frame, frame)
    seen = face.sum() / (face.sum() + (alpha > 0.5).sum())
    assert evidence.missing == 0.0 and 0.005 <= evidence.faint < 0.15  # the reflection alone
    assert abs(evidence.lost_area - seen) < 0.05, (evidence.lost_area, seen)
    check = relay_check(evidence.as_dict(), noun="watch")
    assert check.passed and check.warning
    assert f"within the watch's outline the image shows background over {evidence.lost_area:.0%}" in check.message
    # the face on the photo, kept: nothing pale is missing, nothing is said of an outline
    whole = np.maximum(alpha, face.astype(np.float32))
    kept = relay(photo, whole, np.where(whole[..., None] > 0.5, photo, 255).astype(np.uint8), frame, frame)
    assert not kept.faint and not kept.lost_area
    assert "outline" not in relay_check(kept.as_dict(), noun="watch").message


def test_an_image_that_shows_the_photos_backdrop_as_product_is_a_warning(ring_photo):
    """A cutout that kept a block of a light grey backdrop: on a white packshot that block shows."""
    from tools.verification import relay_check

    photo, alpha = ring_photo
    grey = np.asarray(photo, np.float32) * 0.86  # the same ring on a light grey sweep
    grey = np.where(alpha[..., None] > 0.5, np.asarray(photo, np.float32), grey).astype(np.uint8)
    ys, xs = np.nonzero(alpha > 0.5)
    kept = alpha.copy()
    kept[ys.min():ys.max(), xs.max():xs.max() + (xs.max() - xs.min()) // 6] = 1.0  # a strip of backdrop kept
    candidate = np.full_like(grey, 255)
    candidate[kept > 0.5] = grey[kept > 0.5]
    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    evidence = relay(grey, kept, candidate, frame, frame)
    assert evidence.missing == 0.0 and evidence.added >= 0.10
    check = relay_check(evidence.as_dict(), noun="ring")
    assert check.passed and check.warning and "photo's plain backdrop" in check.message


# -- a doubt is a warning a person must see: no auto-approval, publish needs a person's approval ---------


def uncertain_alpha(alpha: np.ndarray) -> np.ndarray:
    """The tip of the gold band erased (about 1 % of the ring): too small to fail, large enough to doubt."""
    return erase(alpha, 0.0, 0.04)


def test_a_doubtful_cutout_warns_blocks_auto_approval_and_publish_until_a_person_approves(workspace, ring_photo,
                                                                                       tmp_path):
    from tools.production import produce_shot
    from tools.publish import publish_pack
    from tools.review import candidate_summary, decide

    photo, alpha = ring_photo
    evidence = verify_cutout(photo, uncertain_alpha(alpha), neural=False)
    assert grade(evidence.as_dict())[0] == "uncertain", evidence
    _, shot = seed_sku(workspace, photo, uncertain_alpha(alpha), sku="RING-DOUBT")
    candidate, critique = produce_shot(workspace, "RING-DOUBT", shot, max_rerenders=0)[0]

    # 1. It passes with a visible warning, which the review card shows and which needs a person.
    assert critique.verdict == "pass", critique.reasons
    warning = next(c for c in critique.checks if c.name == "cutout")
    assert warning.warning and warning.message.startswith("warning: part of the product may be missing")
    summary = candidate_summary(workspace, candidate)
    assert summary["needs_person"] and warning.message in summary["reasons"]

    # 2. --auto-approve does not approve it.
    with pytest.raises(Refused, match="needs a person"):
        decide(workspace, candidate.id, "approve", note="auto-approved: passed the vision check", by="auto")

    # 3. Publish refuses it as a main image while nobody looked at it (an approval from before the check).
    workspace.catalog.add_decision(Decision(candidate_id=candidate.id, action="approve", by="auto"))
    with pytest.raises(Refused, match="not verified against the photo"):
        publish_pack(workspace, "RING-DOUBT", "amazon", tmp_path / "pack")
    assert not (tmp_path / "pack" / "manifest.json").exists()

    # 4. A person approves it after seeing the warning: publish goes ahead and the manifest says so.
    decision = decide(workspace, candidate.id, "approve", by="user")
    relayed = next(c for c in critique.checks if c.name == "against_photo")  # the image itself, laid over the photo
    assert relayed.warning and "1." in relayed.message
    assert decision.acknowledged == [relayed.message, warning.message]
    result = publish_pack(workspace, "RING-DOUBT", "amazon", tmp_path / "pack")
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    record = manifest["images"][0]["cutout"]
    assert result["files"][0]["candidate_id"] == candidate.id
    assert record["confidence"] == "uncertain" and record["warning_accepted_by"] == "user"
    assert record["warnings_shown"] == decision.acknowledged and record["values"]["missing"] >= 0.005


def _agent_gallery(ws, **kwargs):
    from agent.runner import run_gallery

    return run_gallery(ws, **kwargs)


def _tools_gallery(ws, **kwargs):
    from tools.production import build_gallery

    return build_gallery(ws, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("gallery", [_agent_gallery, _tools_gallery], ids=["cli-agent", "tools"])
def test_auto_approve_in_a_gallery_leaves_warned_candidates_for_a_person(workspace, ring_photo, monkeypatch, gallery):
    """Both --auto-approve paths (the CLI's agent run and tools.production.build_gallery) skip a warned
    candidate."""
    from tools import prepare

    photo, alpha = ring_photo
    doubtful = cutout_from(photo, uncertain_alpha(alpha))

    from pipelines.matting import CutoutResult

    # the engine's answer for this photo: the doubtful cutout (whatever the matting does, the check decides)
    answer = CutoutResult(doubtful, "plain", 0.9, (0, 0, photo.width, photo.height), 0.2, 0, 0.0)
    monkeypatch.setattr(prepare, "cut_out_image", lambda image, name="photo", **kwargs: answer)
    path = workspace.settings.home / "ring.jpg"
    photo.save(path, quality=95)
    result = gallery(workspace, images=[path], sku="RING-AUTO", category="ring", channels=["amazon"],
                     auto_approve=True)
    packshots = [c for c in result["candidates"] if c["role"] == "packshot"]
    assert packshots and all(c["verdict"] == "pass" for c in packshots)  # passed, but with the warning
    assert workspace.catalog.approved("RING-AUTO") == []
    confidence = workspace.catalog.cutout_confidence("RING-AUTO", workspace.catalog.photos("RING-AUTO")[0].cutout_asset_id)
    assert confidence.level == "uncertain"  # measured when the photo was taken in


# -- the catalog migration ---------------------------------------------------------------------------


def test_catalog_migrates_forward_and_records_the_cutout_of_old_candidates(tmp_path):
    from tools.catalog import MIGRATIONS, Catalog

    path = tmp_path / "catalog.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO products VALUES ('OLD', 'ring', ?, 'now', 'now')",
                 (Product(sku="OLD", category=Category.ring).model_dump_json(),))
    old = Candidate(sku="OLD", shot_id="s", role=Role.packshot, asset_id="a" * 64, source_asset_id="b" * 64)
    conn.execute("INSERT INTO candidates VALUES (?, 'OLD', 's', 'packshot', ?, 'studio', ?, 'now')",
                 (old.id, old.asset_id, old.model_dump_json()))
    conn.commit()
    conn.close()

    catalog = Catalog(path)
    assert catalog.schema_version == len(MIGRATIONS) >= 2
    assert [c.id for c in catalog.candidates_from_cutout("b" * 64)] == [old.id]
    assert catalog.cutout_confidence("OLD", "b" * 64) is None
    catalog.close()


def test_a_product_filling_the_frame_is_compared_coarser_and_a_small_lost_piece_still_counts():
    """The relay looks at a big product no finer than its smallest counted piece needs (a bulb filling half a
    1200 px photo: about half the photo's resolution), and a piece a third of a percent of its area, painted
    over with the backdrop in the image, is still reported; the whole product shows nothing missing."""
    import cv2

    from pipelines.cutout_check import MIN_REGION, relay_factor

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:1000, :1200]
    body = ((yy - 500) / 420.0) ** 2 + ((xx - 600) / 330.0) ** 2 < 1.0
    photo = np.empty((1000, 1200, 3), np.float32)
    photo[:] = (246, 246, 244)
    shade = 150 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0)  # a lit, ribbed glass and metal surface
    photo[body] = np.stack([shade, shade * 0.95, shade * 0.85], axis=-1)[body]
    photo = np.clip(photo + rng.normal(0, 1.5, photo.shape), 0, 255).astype(np.uint8)
    alpha = cv2.GaussianBlur(body.astype(np.float32), (0, 0), 0.8)
    assert relay_factor(alpha) < 0.6  # the smallest counted piece, MIN_REGION of ~430k px, is ~860 photo px
    frame = (0.0, 0.0, 1200.0, 1000.0)
    packshot = np.where(alpha[..., None] > 0.5, photo, 255).astype(np.uint8)
    assert relay(photo, alpha, packshot, frame, frame).missing == 0.0
    lost = packshot.copy()
    lost[480:520, 580:620] = 255  # 1600 px: about 0.4 % of the product, twice the smallest piece that counts
    assert 1600 > 2 * MIN_REGION * body.sum() * 0.9
    evidence = relay(photo, alpha, lost, frame, frame)
    assert evidence.missing >= 0.003 and evidence.missing_pieces == 1, evidence


def test_an_engines_soft_edge_on_another_backdrop_is_not_a_lost_part():
    """An engine's soft outline over another backdrop leaves a long edge that only lines up with the photo's
    when the alignment is settled at the comparison's own size (on the reduced copy alone the demo ring's
    band sat a pixel or two off and read 1.5 % "missing"); a piece of the band erased is still found."""
    import io

    import cv2

    from pipelines.matting import cut_out
    from tools.demo import demo_photo_bytes

    photo = Image.open(io.BytesIO(demo_photo_bytes("DEMO-RING"))).convert("RGB")
    cutout = cut_out(photo).rgba
    rgba = np.asarray(cutout).astype(np.float32)
    soft = cv2.GaussianBlur(rgba[..., 3] / 255.0, (0, 0), 2.0)[..., None]
    candidate = (rgba[..., :3] * soft + np.array([221, 216, 208], np.float32) * (1 - soft)).astype(np.uint8)
    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    assert relay(photo, cutout, candidate, frame, frame).missing == 0.0
    ys, xs = np.nonzero(rgba[..., 3] > 128)
    lower = candidate.copy()
    lower[int(ys.max() - 0.15 * (ys.max() - ys.min())):] = (221, 216, 208)  # the band's lowest part gone
    assert relay(photo, cutout, lower, frame, frame).missing > 0.02



def test_a_penumbras_faint_end_counts_as_shadow_not_as_product_the_cutout_lacks():
    """The neural map fills a ring's hole; there the check counts what the cutout lacks except the plain
    backdrop and shadows. A penumbra's faint end, darker than plain but lighter than the shadow threshold, was
    neither, and the small demo ring's right cutout read 3 % "the product finder sees more" (uncertain)."""
    import io

    from pipelines.matting import cut_out
    from tools.demo import demo_photo_bytes

    photo = Image.open(io.BytesIO(demo_photo_bytes("DEMO-RING", 260))).convert("RGB")
    evidence = verify_cutout(photo, cut_out(photo).rgba, neural=True)
    assert evidence.neural_missing < 0.015
    assert grade(evidence.as_dict()) == ("verified", [])


def test_the_jpeg_ringing_beside_a_thin_gold_chain_is_not_a_lost_part(realdata):
    """A real catalog JPEG of a thin gold chain on white: colour rings a few px beside the chain (a tint of
    the backdrop's own lightness). The cutout rightly leaves it out, and an image of the whole chain on a dark
    set shows nothing missing; a fifth of the chain painted over with the set's colour is still reported,
    at about its true share."""
    from pipelines.matting import cut_out

    photo = Image.open(realdata / "jewelry_packshot" / "myntra_46026_pendant.jpg").convert("RGB")
    cutout = cut_out(photo).rgba
    rgba = np.asarray(cutout, np.float32)
    alpha = rgba[..., 3] / 255.0
    dark = np.array([45, 45, 55], np.float32)
    image = (rgba[..., :3] * alpha[..., None] + dark * (1 - alpha[..., None])).astype(np.uint8)
    frame = (0.0, 0.0, float(photo.width), float(photo.height))

    whole = relay(photo, cutout, image, frame, frame)
    assert whole.missing < 0.005, whole.as_dict()

    ys, xs = np.nonzero(alpha > 0.5)
    left = np.zeros(alpha.shape, bool)
    left[:, :int(xs.min() + 0.2 * (xs.max() - xs.min()))] = True
    lost = image.copy()
    lost[left & (alpha > 0.02)] = dark.astype(np.uint8)
    true_share = float((left & (alpha > 0.5)).sum() / (alpha > 0.5).sum())
    evidence = relay(photo, cutout, lost, frame, frame)
    assert evidence.missing_pieces >= 1
    assert 0.7 * true_share <= evidence.missing <= 1.3 * true_share, (evidence.missing, true_share)


def test_a_keep_stroke_dabbed_beside_the_band_shows_as_a_patch_and_its_images_say_so(realdata):
    """A seller dabs "keep" a little beside the silver band, on the white backdrop. The stroke is a hard
    constraint, so the re-cut keeps those dabs; on a brown scene they are white spots, about 1 % of the ring,
    and the image's own check against the photo says so (it used to pass: the limit was 10 %)."""
    import cv2

    from pipelines.matting import cut_out, cut_out_with_strokes
    from tools.verification import relay_check

    photo = Image.open(realdata / "masks" / "samlora_ring2.jpg").convert("RGB")
    alpha = np.asarray(cut_out(photo).rgba.getchannel("A"))
    keep = np.zeros(alpha.shape, np.uint8)
    for y in (694, 720, 740):
        left = int(np.flatnonzero(alpha[y] > 127)[0])
        cv2.circle(keep, (left - 16, y), 9, 1, -1)  # on the backdrop, beside the band's outer edge
    assert not (alpha[keep > 0] > 127).any()
    fixed = cut_out_with_strokes(photo, keep=keep.astype(bool)).rgba
    assert (np.asarray(fixed.getchannel("A"))[keep > 0] > 200).all()  # the person's stroke is honoured
    scene = Image.new("RGB", photo.size, (150, 100, 60))
    scene.paste(fixed.convert("RGB"), mask=fixed.getchannel("A"))
    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    evidence = relay(photo, fixed, np.asarray(scene), frame, frame)
    assert 0.005 <= evidence.added < 0.10
    check = relay_check(evidence.as_dict(), noun="ring")
    # (this cutout also still lacks part of the polished band, which fails the image; both are said)
    assert "photo's plain backdrop" in check.message and (check.warning or not check.passed)
