"""Cutout confidence: every cutout is compared with the photo it was cut from (pipelines/cutout_check.py),
graded verified / uncertain / failed with the measured values, and stored in the catalog.

Here live the limits (chosen on half of the exact-alpha products in ../shared/realdata and confirmed on
the other half by benchmarks/bench_trust.py), the sentences a seller reads, the check a candidate gets
from its cutout's confidence, and which warnings need a person before an image is approved or published.
No image maths here beyond calling the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.models import Candidate, Check, Critique, CutoutConfidence, Photo
from tools.workspace import Workspace

CHECK_NAME = "cutout"  # the check every candidate gets from its cutout's confidence
RELAY_NAME = "against_photo"  # the candidate's product laid back over the photo's background, against the photo
NEEDS_PERSON = frozenset({CHECK_NAME, RELAY_NAME})  # checks whose warning blocks automatic approval


@dataclass(frozen=True)
class TrustLimits:
    """Shares of the product's area (kept + missing). Chosen on the development half of the benchmark."""

    missing_fail: float = 0.03  # transparent although the photo shows product there: the candidate fails
    missing_warn: float = 0.005  # ... from this share it is a warning a person must look at
    neural_warn: float = 0.03  # the neural product map sees product where the cutout is transparent
    added_warn: float = 0.10  # kept although the photo shows plain background there
    shown_added_warn: float = 0.005  # an image shows the photo's plain backdrop as product (as missing_warn: a
    #                                  patch of backdrop shows as plainly as a hole of that size)
    border_inliers: float = 0.5  # below this share of the border fitting one background, nothing can be verified
    border_noise: float = 5.0  # ... or above this ΔE of border noise
    faint_warn: float = 0.005  # a candidate shows its own background where the photo is paler or tinted (as missing_warn)


TRUST_LIMITS = TrustLimits()


def grade(values: dict, limits: TrustLimits = TRUST_LIMITS, noun: str = "product") -> tuple[str, list[str]]:
    """Evidence values (CutoutEvidence.as_dict()) -> (level, the seller's reasons)."""
    L = limits
    missing, grey = values["missing"], values.get("missing_grey", 0.0)
    what = "a silver, white or grey part" if grey >= 0.5 * missing else "part of it"
    if values["border_inliers"] < L.border_inliers or values["border_noise"] > L.border_noise:
        return "uncertain", [f"the cutout could not be checked against the photo: the background is not plain "
                             f"enough to tell the {noun} from it; look at the cutout before using it"]
    if missing >= L.missing_fail:
        return "failed", [f"part of the {noun} may be missing: {missing:.0%} of its area became transparent "
                          f"although the photo shows {what} there"]
    reasons = []
    if missing >= L.missing_warn:
        reasons.append(f"part of the {noun} may be missing: {missing:.1%} of its area became transparent "
                       f"although the photo shows {what} there")
    neural = values.get("neural_missing")
    if neural is not None and neural >= L.neural_warn:
        reasons.append(f"the product finder sees more of the {noun} in the photo than the cutout keeps "
                       f"({neural:.0%} of its area)")
    if values["added"] >= L.added_warn:
        reasons.append(f"the cutout may include background: {values['added']:.0%} of it looks like the photo's "
                       "plain background")
    shadow_kept = values.get("shadow_kept") or 0.0
    if shadow_kept >= L.missing_warn:
        reasons.append(f"the cutout may have filled a hole or a gap: {shadow_kept:.1%} of it is smooth shade of the "
                       f"photo's background, where neither the photo nor the product finder shows the {noun}")
    reflection = values.get("reflection") or 0.0
    if reflection >= L.missing_warn:
        kept = (f"the cutout keeps the {noun}'s reflection on the floor below it as if it were the {noun} "
                f"({reflection:.0%} of its area)")
        if reflection >= L.missing_fail:
            return "failed", [kept] + reasons
        reasons.append(kept)
    return ("uncertain" if reasons else "verified"), reasons


def verify_photo(ws: Workspace, photo: Photo, *, noun: str = "product", neural: bool = True,
                 corrected_by_person: bool = False) -> CutoutConfidence | None:
    """Compare the photo's cutout with the photo, store the confidence and return it (None: no cutout).

    A cutout a person corrected with keep/remove strokes is verified by that person (what they removed
    may be product on purpose); its measured values are still recorded."""
    from pipelines import cutout_check

    # 1. The images; a photo that came with its own transparency is the seller's cutout.
    if not photo.cutout_asset_id:
        return None
    original = ws.assets.open(photo.asset_id)
    if original.mode == "RGBA":
        confidence = CutoutConfidence(cutout_asset_id=photo.cutout_asset_id, photo_asset_id=photo.asset_id,
                                      sku=photo.sku, level="verified", method="seller")
        return ws.catalog.save_cutout_confidence(confidence)
    cutout = ws.assets.open(photo.cutout_asset_id)
    # 2. The evidence and its grade.
    try:
        evidence = cutout_check.verify_cutout(original, cutout, neural=neural)
    except ValueError:
        values, level, method = {}, "uncertain", "photo"
        reasons = [f"the cutout could not be compared with its photo (they do not show the same frame); look at "
                   f"the {noun} before using it"]
    else:
        values, method = evidence.as_dict(), evidence.method
        level, reasons = grade(values, noun=noun)
        if corrected_by_person:
            level, reasons, method = "verified", [], "person"
    confidence = CutoutConfidence(cutout_asset_id=photo.cutout_asset_id, photo_asset_id=photo.asset_id,
                                  sku=photo.sku, level=level, method=method, values=values, reasons=reasons)
    return ws.catalog.save_cutout_confidence(confidence)


def confidence_for(ws: Workspace, candidate: Candidate) -> CutoutConfidence | None:
    """The stored confidence of the cutout a candidate was made from; measured now when missing (a catalog
    from before cutouts were verified). None when no photo of the SKU has that cutout."""
    stored = ws.catalog.cutout_confidence(candidate.sku, candidate.source_asset_id)
    if stored is not None:
        return stored
    photo = next((p for p in ws.catalog.photos(candidate.sku) if p.cutout_asset_id == candidate.source_asset_id), None)
    return verify_photo(ws, photo) if photo else None


def cutout_check(confidence: CutoutConfidence | None, noun: str = "product") -> Check:
    """The candidate's check from its cutout: failed fails it, uncertain is a warning a person must see."""
    if confidence is None:
        return Check(name=CHECK_NAME, passed=True, warning=True, value="unverified",
                     message=f"warning: the cutout of the {noun} could not be compared with a photo; "
                             "look at it before approving")
    value = confidence.values.get("missing") if confidence.values else None
    if confidence.level == "failed":
        return Check(name=CHECK_NAME, passed=False, value=value, limit=TRUST_LIMITS.missing_fail,
                     message="; ".join(confidence.reasons))
    if confidence.level == "uncertain":
        return Check(name=CHECK_NAME, passed=True, warning=True, value=value, limit=TRUST_LIMITS.missing_warn,
                     message="warning: " + "; ".join(confidence.reasons))
    message = ("the cutout is your own (the photo's transparency)" if confidence.method == "seller"
               else f"the cutout matches the photo: nothing the photo shows as the {noun} became transparent")
    return Check(name=CHECK_NAME, passed=True, value=value, limit=TRUST_LIMITS.missing_warn, message=message)


def relay_check(values: dict | None, limits: TrustLimits = TRUST_LIMITS, noun: str = "product") -> Check | None:
    """The candidate's own check against the photo (pipelines.cutout_check.relay values): what the photo
    shows as the product and the image does not fails it; a smaller share, a pale region or added background
    is a warning a person must see. None when it could not be measured (the check is then left out)."""
    if not values or values.get("missing") is None:
        return None
    L = limits
    missing, added = values["missing"], values.get("added") or 0.0
    faint = values.get("faint") or 0.0
    what = "a silver, white or grey part" if values.get("missing_grey", 0.0) >= 0.5 * missing else "part of it"
    # the evidence is where the photo gives a lost part away; the seller sees all the background the image
    # shows within the product's outline (a ghosted face: a rim of evidence, background over its whole extent)
    seen = values.get("lost_area") or 0.0
    outline = (f"; within the {noun}'s outline the image shows background over {seen:.0%} of its area"
               if seen >= 2 * max(missing, faint) else "")
    share = f"{missing:.1%}" if L.missing_fail > missing else f"{missing:.0%}"
    # "part of the product may be missing" is also what the app points at the cutout fix for
    lost = (f"part of the product may be missing from this image: laid back over the photo, {share} of the "
            f"{noun}'s area shows background where the photo shows {what}{outline}")
    # what the image shows that is not the product: the photo's plain backdrop, the product's floor reflection
    shown = []
    if added >= L.shown_added_warn:
        shown.append(f"this image may show part of the photo's background as the {noun}: {added:.1%} of what it "
                     f"shows as the {noun} is the photo's plain backdrop")
    reflection = values.get("reflection") or 0.0
    if reflection >= L.missing_warn:
        shown.append(f"this image shows the {noun}'s reflection on the photo's floor as part of the {noun}: "
                     f"{reflection:.0%} of what it shows as the {noun}")
    if missing >= L.missing_fail:
        return Check(name=RELAY_NAME, passed=False, value=missing, limit=L.missing_fail,
                     message="; ".join([lost] + shown))
    if reflection >= L.missing_fail:
        return Check(name=RELAY_NAME, passed=False, value=reflection, limit=L.missing_fail, message="; ".join(shown))
    reasons = []
    if missing >= L.missing_warn:
        reasons.append(lost)
    elif faint >= L.faint_warn:
        reasons.append(f"part of the product may be missing from this image: laid back over the photo, {faint:.1%} "
                       f"of the {noun}'s area shows background where the photo is paler or more tinted than its "
                       f"backdrop, perhaps a pale part of the {noun}{outline}")
    reasons += shown
    if reasons:
        return Check(name=RELAY_NAME, passed=True, warning=True, value=missing, limit=L.missing_warn,
                     message="warning: " + "; ".join(reasons))
    return Check(name=RELAY_NAME, passed=True, value=missing, limit=L.missing_warn,
                 message=f"laid back over the photo, the image shows all of the {noun} the photo shows")


def person_needed(critique: Critique | None) -> list[str]:
    """Warnings of a critique that a person must see before the candidate is approved (empty: none)."""
    if critique is None:
        return []
    return [c.message for c in critique.checks if c.name in NEEDS_PERSON and (c.warning or not c.passed)]


def main_image_refusal(ws: Workspace, candidate: Candidate) -> str | None:
    """Why a candidate may not be a channel's main image (None: it may): its cutout is not verified against
    the photo and no person approved it after seeing that warning."""
    confidence = confidence_for(ws, candidate)
    if confidence is not None and confidence.level == "verified":
        return None
    decision = ws.catalog.latest_decision(candidate.id)
    if decision is not None and decision.action == "approve" and decision.by != "auto" and decision.acknowledged:
        return None
    why = "; ".join(confidence.reasons) if confidence and confidence.reasons else "it could not be compared with a photo"
    return (f"the main image was made from a cutout that is not verified against the photo ({why}); look at the "
            "image and approve it yourself if it shows the whole product, or correct the cutout")


def manifest_record(ws: Workspace, candidate: Candidate) -> dict:
    """What a pack's manifest says about the cutout an image was made from, and who accepted its warning."""
    confidence = confidence_for(ws, candidate)
    decision = ws.catalog.latest_decision(candidate.id)
    accepted = decision is not None and decision.by != "auto" and bool(decision.acknowledged)
    return {
        "asset_id": candidate.source_asset_id,
        "confidence": confidence.level if confidence else "unverified",
        "method": confidence.method if confidence else None,
        "photo_asset_id": confidence.photo_asset_id if confidence else None,
        "values": confidence.values if confidence else {},
        "reasons": confidence.reasons if confidence else [],
        "warning_accepted_by": decision.by if accepted else None,
        "warning_accepted_at": decision.created_at.isoformat() if accepted else None,
        "warnings_shown": decision.acknowledged if accepted else [],
    }
