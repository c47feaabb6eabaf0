"""The vision check as tool functions: `critique_candidate` (a stored candidate; the Critique is stored)
and `check_files` (two files, the `check` command). Fidelity numbers come from pipelines/vision.py;
here they become named checks with limits and one-line reasons a seller can read, next to channel
compliance (tools/rules.py CHANNEL_SPECS), image quality, the confidence of the cutout the candidate was made
from (tools/verification.py: the cutout compared with the photo) and, when a vision model is
configured, its opinion. No image math here beyond calling the pipeline; no rendering, no decisions.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from pipelines import vision
from tools.errors import BadInput
from tools.models import (
    APPAREL,
    Candidate,
    Channel,
    Check,
    Critique,
    Placement,
    Product,
    Role,
    Shot,
    Slot,
    normalize_channel,
    normalize_role,
)
from tools.settings import Settings
from tools.verification import confidence_for, cutout_check, relay_check

RERENDER_ROLES = frozenset({Role.on_model, Role.model_swap})


@dataclass(frozen=True)
class Limits:
    """Thresholds of the deterministic checks (calibrated by benchmarks/bench_vision.py)."""

    color: float = 4.0  # CIEDE2000 between a material's mean color in source and candidate
    color_p95: float = 12.0  # CIEDE2000, 95th percentile inside the product
    structure: float = 0.60  # SSIM of lightness inside the product, at least
    missing_detail: float = 0.30  # share of source edges gone
    added_detail: float = 0.50  # new edges relative to source edges
    changed_region: float = 0.0008  # largest changed region, its pixels weighted by how strongly they changed / product area
    silhouette: float = 0.85  # outline agreement (plain backgrounds), at least
    outline_region: float = 0.01  # largest piece of outline missing or added / product area (plain backgrounds)
    stretch: float = 0.06  # |width/height stretch - 1|
    cut: float = 0.01  # share of the product outside the frame
    placement_scale: float = 0.12  # |found size / recorded size - 1|
    real_scale: float = 0.12  # |found size / size from real dimensions - 1|
    sharpness: float = 0.55  # candidate detail energy / source's, at least
    upscale: float = 2.0  # candidate px per source px, at most
    clipping: float = 0.12  # extra clipped product pixels
    noise: float = 6.0  # sensor-noise sigma in 8-bit levels
    background_white: float = 0.97  # share of pure white background (white-background main images)
    palette: float = 6.0  # CIEDE2000 between source and candidate palettes (re-rendered roles)
    pattern_low: float = 0.55  # edge density ratio candidate/source, within [low, high]
    pattern_high: float = 1.8


LIMITS = Limits()


# -- channel rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRules:
    """What the critique needs from a channel's spec (tools.rules.CHANNEL_SPECS)."""

    channel: Channel
    min_px: int  # longest side at least
    max_px: int  # longest side at most
    formats: tuple[str, ...]  # accepted upload formats (PIL names)
    main_white: bool = False  # main image must be the product alone on pure white
    main_share: float = 0.0  # main image: product's longest side / frame side, at least


def channel_rules(channel: Channel) -> ChannelRules:
    """The channel's rules, read from tools.rules.CHANNEL_SPECS (the one place they are written)."""
    from tools.rules import CHANNEL_SPECS

    spec = CHANNEL_SPECS[channel]
    return ChannelRules(channel=channel, min_px=spec.min_long_side, max_px=spec.max_long_side,
                        formats=tuple(spec.formats), main_white=spec.main_pure_white, main_share=spec.main_share)


# -- the checks --------------------------------------------------------------------------------------


def _precise(v: float) -> float:
    """Three decimals, or three significant digits for small values (a changed region of 0.08 %)."""
    v = float(v)
    return round(v, 3) if v == 0 or abs(v) >= 0.1 else round(v, max(3, 2 - math.floor(math.log10(abs(v)))))


def _check(name: str, value: float | None, limit: float, ok: bool, message: str) -> Check:
    return Check(name=name, passed=bool(ok), value=None if value is None else _precise(value), limit=_precise(limit),
                 message=message)


def _color_words(shift: tuple[float, float, float]) -> str:
    dL, da, db = shift
    words = []
    if abs(dL) >= 3:
        words.append("darker" if dL < 0 else "lighter")
    if abs(da) >= 2.5 or abs(db) >= 2.5:
        if abs(db) >= abs(da):
            words.append("more yellow" if db > 0 else "more blue")
        else:
            words.append("more red" if da > 0 else "more green")
    return f" ({', '.join(words)})" if words else ""


def fidelity_checks(fid: vision.Fidelity, role: Role, *, expected_scale: float | None = None,
                    recorded_upscale: float | None = None, limits: Limits = LIMITS,
                    noun: str = "product", channel: Channel | None = None) -> list[Check]:
    """Turn fidelity numbers into named checks for roles that keep the product's own pixels.

    They compare the image with the cutout it was made from, and a passing shape check says so ("matches its
    cutout"): whether the cutout itself lost part of the product is the photo checks' to say, and a card that
    shows both must not read "part may be missing" beside "no piece is missing"."""
    L = limits
    checks: list[Check] = []
    loc = fid.location
    # 1. Was it found where (and as large as) the engine recorded?
    if loc.hint is not None and loc.hint_scale is not None:
        off = abs(loc.hint_scale - 1)
        moved = (loc.hint_iou or 0) < 0.6
        checks.append(_check(
            "placement", loc.hint_scale, 1 + L.placement_scale, off <= L.placement_scale and not moved,
            f"the {noun} is {loc.hint_scale:.2f}x the size the engine recorded" + (
                " and not where it said" if moved else "") + f" (limit ±{L.placement_scale:.0%})"
            if off > L.placement_scale or moved else f"the {noun} is where it was placed, at the planned size"))
    if expected_scale:
        ratio = fid.scale / expected_scale
        ok = abs(ratio - 1) <= L.real_scale
        checks.append(_check(
            "scale", ratio, 1 + L.real_scale, ok,
            f"the {noun} is shown at {ratio:.2f}x its real size (limit ±{L.real_scale:.0%})" if not ok
            else f"the {noun} is shown at its real size"))
    # 2. Whole, not stretched.
    if role != Role.detail:
        ok = fid.cut <= L.cut
        checks.append(_check("complete", fid.cut, L.cut, ok,
                             f"{fid.cut:.0%} of the {noun} is cut off by the frame" if not ok
                             else f"the whole {noun} is in the frame"))
    stretch = abs(loc.aspect - 1)
    ok = stretch <= L.stretch
    way = "wider" if loc.aspect > 1 else "taller"
    if role != Role.detail:
        checks.append(_check("proportions", loc.aspect, 1 + L.stretch, ok,
                             f"the {noun} is stretched {stretch:.0%} {way} (limit {L.stretch:.0%})" if not ok
                             else f"the {noun} keeps its proportions"))
    # 3. Shape, color, structure, detail.
    if fid.silhouette is not None:
        ok = fid.silhouette >= L.silhouette
        checks.append(_check("silhouette", fid.silhouette, L.silhouette, ok,
                             f"the {noun}'s outline changed: agreement {fid.silhouette:.2f}, limit {L.silhouette:.2f}"
                             if not ok else f"the {noun}'s outline matches its cutout"))
    if fid.outline_region is not None:
        ok = fid.outline_region <= L.outline_region
        checks.append(_check("outline_region", fid.outline_region, L.outline_region, ok,
                             f"a piece of the {noun} is missing or was added: {fid.outline_region:.1%} of its area "
                             f"(limit {L.outline_region:.1%})" if not ok else f"no piece of the {noun}'s cutout is missing or added"))
    words = _color_words(fid.de_mean_lab)
    ok = fid.de_material <= L.color
    checks.append(_check("color", fid.de_material, L.color, ok,
                         f"the {noun}'s color changed{words}: ΔE {fid.de_material:.1f}, limit {L.color:g}"
                         if not ok else f"the {noun}'s color matches your photo"))
    ok = fid.de_p95 <= L.color_p95
    checks.append(_check("color_extremes", fid.de_p95, L.color_p95, ok,
                         f"part of the {noun} changed color: ΔE {fid.de_p95:.1f} at the 95th percentile, "
                         f"limit {L.color_p95:g}" if not ok else f"no part of the {noun} changed color"))
    ok = fid.changed_area <= L.changed_region
    checks.append(_check("changed_region", fid.changed_area, L.changed_region, ok,
                         f"a region of the {noun} was altered: {fid.changed_region_share:.1%} of its area differs by "
                         f"ΔE {fid.changed_region_de:.0f} (weighted size {fid.changed_area:.2%}, limit "
                         f"{L.changed_region:.2%})" if not ok else f"no region of the {noun} was altered"))
    ok = fid.structure >= L.structure
    checks.append(_check("structure", fid.structure, L.structure, ok,
                         f"the {noun}'s surface detail differs: similarity {fid.structure:.2f}, limit {L.structure:.2f}"
                         if not ok else f"the {noun}'s surface detail matches your photo"))
    ok = fid.missing_detail <= L.missing_detail
    checks.append(_check("missing_detail", fid.missing_detail, L.missing_detail, ok,
                         f"details of the {noun} are missing: {fid.missing_detail:.0%} of its edges are gone "
                         f"(limit {L.missing_detail:.0%})" if not ok else f"no detail of the {noun}'s cutout is missing"))
    ok = fid.added_detail <= L.added_detail
    checks.append(_check("added_detail", fid.added_detail, L.added_detail, ok,
                         f"something was added to the {noun}: {fid.added_detail:.0%} new edges "
                         f"(limit {L.added_detail:.0%})" if not ok else f"nothing was added to the {noun}"))
    # 4. Quality relative to the source.
    ok = fid.sharpness >= L.sharpness
    checks.append(_check("sharpness", fid.sharpness, L.sharpness, ok,
                         f"the {noun} looks soft: {fid.sharpness:.0%} of the source's detail, limit {L.sharpness:.0%}"
                         if not ok else f"the {noun} is as sharp as the source"))
    # One enlargement policy (tools.rules.enlargement_note): free up to 2x, up to 3x with a warning (a small
    # photo reaching a channel's minimum), beyond that a failure; never for channels that forbid upscaling.
    from tools.rules import enlarge_limits, enlargement_note

    # The measured size, unless the engine reports a larger enlargement: the check never calls "not enlarged"
    # what the engine's own warning on the card says it enlarged.
    factor = max(fid.scale, recorded_upscale or 1.0)
    verdict, sentence = enlargement_note(factor, channel)
    checks.append(_check("upscale", factor, enlarge_limits(channel)[1], verdict != "refuse",
                         f"warning: the {noun} was {sentence}" if verdict == "warn" else f"the {noun} is {sentence}"))
    checks[-1].warning = verdict == "warn"
    ok = fid.clipping <= L.clipping
    checks.append(_check("clipping", fid.clipping, L.clipping, ok,
                         f"{fid.clipping:.0%} of the {noun} is burnt out to pure white or black" if not ok
                         else f"the {noun} has no clipped highlights or shadows"))
    return checks


def rerender_checks(rr: vision.Rerender, *, limits: Limits = LIMITS, noun: str = "garment") -> list[Check]:
    """Checks for roles that re-render the product (worn by a model): what must survive re-rendering."""
    L = limits
    checks = []
    ok = rr.palette_de <= L.palette
    checks.append(_check("palette", rr.palette_de, L.palette, ok,
                         f"the {noun}'s colors changed: ΔE {rr.palette_de:.1f}, limit {L.palette:g}" if not ok
                         else f"the {noun}'s colors match (ΔE {rr.palette_de:.1f})"))
    ok = L.pattern_low <= rr.pattern <= L.pattern_high
    checks.append(_check("pattern", rr.pattern, L.pattern_high if rr.pattern > 1 else L.pattern_low, ok,
                         f"the {noun}'s pattern changed: {rr.pattern:.1f}x the source's detail density" if not ok
                         else f"the {noun}'s pattern density matches ({rr.pattern:.2f}x)"))
    return checks


def _pixels_check(longest: int, rules: ChannelRules, channel: Channel, enlarged: float, noun: str) -> Check:
    """The channel's pixel limits. Below its minimum, publishing may enlarge the image to it under the one
    small-photo policy (tools.rules.enlargement_note): a warning then, a failure beyond the policy."""
    from tools.rules import enlargement_note

    name = channel.value.capitalize()
    if rules.min_px <= longest <= rules.max_px:
        return _check("pixels", longest, rules.max_px, True, f"{longest} px fits {name}'s size limits")
    refused = f"{name} needs {rules.min_px}-{rules.max_px} px on the longest side; this image has {longest}"
    if longest > rules.max_px:
        return _check("pixels", longest, rules.max_px, False, refused)
    verdict, sentence = enlargement_note(enlarged * rules.min_px / longest, channel)
    if verdict == "refuse":
        return _check("pixels", longest, rules.min_px, False, refused)
    check = _check("pixels", longest, rules.min_px, True,
                   f"warning: this image has {longest} px on the longest side, below the {rules.min_px} px {name} "
                   f"needs: publishing enlarges it to {rules.min_px} px, and the {noun} is then {sentence}")
    check.warning = True
    return check


def frame_checks(stats: vision.FrameStats, *, role: Role, channel: Channel | None, main: bool, fmt: str | None,
                 expected_size: tuple[int, int] | None = None, limits: Limits = LIMITS, noun: str = "product",
                 enlarged: float = 1.0) -> list[Check]:
    """Channel compliance and whole-image quality. `enlarged`: how far the product is already enlarged beyond
    its photo; an image below the channel's minimum that publishing may enlarge to it under the one
    small-photo policy (tools.rules.enlargement_note) is a warning, not a failure."""
    L = limits
    checks = []
    # 1. Quality of the whole frame.
    ok = stats.noise <= L.noise
    checks.append(_check("noise", stats.noise, L.noise, ok,
                         f"the image is noisy: sigma {stats.noise:.1f}, limit {L.noise:g}" if not ok
                         else "the image is clean (no visible noise)"))
    if expected_size is not None:
        ew, eh = expected_size
        ratio, expected = stats.width / stats.height, ew / eh
        ok = abs(ratio / expected - 1) <= 0.01
        checks.append(_check("aspect", ratio, expected, ok,
                             f"the image is {stats.width}x{stats.height}, the shot asks for {ew}x{eh}" if not ok
                             else "the image has the planned shape"))
    if channel is None:
        return checks
    rules = channel_rules(channel)
    name = channel.value.capitalize()
    # 2. Pixel limits and format of the channel (the aspect was checked against the plan above).
    checks.append(_pixels_check(max(stats.width, stats.height), rules, channel, enlarged, noun))
    if fmt:
        ok = fmt.upper() in rules.formats
        checks.append(Check(name="format", passed=ok, value=fmt.upper(), limit=",".join(rules.formats),
                            message=f"{name} does not accept {fmt.upper()} files; use {' or '.join(rules.formats[:2])}"
                            if not ok else f"{fmt.upper()} is accepted by {name}"))
    # 3. Main-image rules: the product alone on pure white, filling the frame.
    if main and rules.main_white:
        value = min(stats.background_white, stats.border_white)
        ok = value >= L.background_white
        checks.append(_check("white_background", value, L.background_white, ok,
                             f"{name}'s main image needs a pure white background (RGB 255); only {value:.0%} of it is"
                             if not ok else "the background is pure white"))
    if main and rules.main_share:
        ok = stats.product_share >= rules.main_share
        checks.append(_check("product_share", stats.product_share, rules.main_share, ok,
                             f"the {noun} fills {stats.product_share:.0%} of the frame; {name} wants at least "
                             f"{rules.main_share:.0%}" if not ok else f"the {noun} fills {stats.product_share:.0%} of the frame"))
    return checks


def verdict(checks: list[Check]) -> tuple[str, float]:
    """'pass' when every check passed; score in 0..1 (>= 0.5 exactly when it passes)."""
    if not checks:
        return "pass", 1.0
    parts = [_margin(c) for c in checks]
    score = 0.5 * min(parts) + 0.5 * float(np.mean(parts))
    passed = all(c.passed for c in checks)
    score = max(0.5, score) if passed else min(0.49, score)
    return ("pass" if passed else "fail"), round(float(score), 3)


def _margin(c: Check) -> float:
    """0.5 at the limit, towards 1 with margin, towards 0 past it."""
    if not isinstance(c.value, int | float) or not isinstance(c.limit, int | float) or c.value is None:
        return 1.0 if c.passed else 0.0
    value, limit = float(c.value), float(c.limit)
    if limit == 0:
        return 1.0 if c.passed else 0.0
    if limit >= 1 and c.name in ("placement", "scale", "proportions"):
        gap, allowed = abs(value - 1), abs(limit - 1)
        return float(np.clip(1 - 0.5 * gap / allowed, 0, 1)) if allowed else (1.0 if c.passed else 0.0)
    if c.passed and value >= limit or not c.passed and value < limit:  # an "at least" check
        if limit < 1 and value <= 1:
            return float(np.clip(1 - 0.5 * (1 - value) / (1 - limit), 0, 1))
        return float(np.clip(0.5 * value / limit, 0, 1))
    return float(np.clip(1 - 0.5 * value / limit, 0, 1))  # an "at most" check


# -- the optional vision model -------------------------------------------------------------------------


VLM_TOKENS = 300  # a verdict, a few differences and a confidence


class VlmReview(BaseModel):
    """What the vision model answers (structured output)."""

    same_product: bool
    differences: list[str] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0, le=1)


def _data_url(image: Image.Image, size: int = 512) -> str:
    image = image.copy()
    if image.mode == "RGBA":
        image = Image.fromarray(vision.to_rgb_array(image))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def vlm_check(settings: Settings, source: Image.Image, candidate: Image.Image, role: Role,
              category: str | None = None) -> Check | None:
    """Ask the configured vision model whether the candidate shows the same product. None when unconfigured.

    The structured output is negotiated like every LLM call (tools.llm_client: json_schema, json_object +
    schema, validated plain JSON; max_tokens sent). A model that cannot be reached or answers off-schema
    gives a check that is passed and says the review was skipped and why (the deterministic checks still
    decide), never a crash.
    """
    if not (settings.llm_base_url and settings.vlm_model):
        return None
    from prompts import template
    from tools.llm_client import Failed, StructuredClient

    client = StructuredClient(settings.llm_base_url, settings.llm_api_key, settings.llm_timeout,
                              settings.llm_max_tokens)
    system = template("vision_critique.md").format(role=role.value, category=category or "product")
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": [
            {"type": "text", "text": "Original product photo:"},
            {"type": "image_url", "image_url": {"url": _data_url(source)}},
            {"type": "text", "text": f"Generated {role.value} image:"},
            {"type": "image_url", "image_url": {"url": _data_url(candidate)}},
        ]},
    ]
    try:
        parsed = client.ask(settings.vlm_model, messages, VlmReview, max_tokens=VLM_TOKENS, attempts=2).value
    except Failed as exc:
        return Check(name="vlm_review", passed=True, value=None, limit=None,
                     message=f"vision-model review skipped: {settings.vlm_model} at {settings.llm_base_url}: {exc}")
    differences = [d.strip() for d in parsed.differences if d.strip()]
    ok = parsed.same_product and not differences
    text = "; ".join(differences[:4]) or "it is not the same product"
    return Check(name="vlm_review", passed=ok, value=round(parsed.confidence, 2), limit=None,
                 message=f"the vision model sees changes: {text}" if not ok
                 else "the vision model sees the same product, unchanged")


# -- the tool functions ---------------------------------------------------------------------------------


def hint_box(placement: Placement | None, source: vision.Source, cutout_size: tuple[int, int]) -> vision.Box | None:
    """The engine's placement as a box around the product's tight bounds, in candidate pixels.

    Engines record either the pasted cutout's rectangle or the product's own bounds; the recorded size
    and `scale` tell which.
    """
    if placement is None or placement.width <= 0 or placement.height <= 0:
        return None
    sw, sh = source.size
    s = placement.scale or placement.width / sw
    full_w, full_h = cutout_size[0] * s, cutout_size[1] * s
    if placement.crop is None and placement.angle == 0 and abs(placement.width - full_w) < abs(placement.width - sw * s) \
            and abs(placement.height - full_h) < abs(placement.height - sh * s):
        ox, oy = source.offset
        return vision.Box(placement.x + ox * s, placement.y + oy * s, sw * s, sh * s)
    return vision.Box(placement.x, placement.y, placement.width, placement.height)


def critique_images(settings: Settings, source: Image.Image, candidate: Image.Image, role: Role | str = Role.packshot,
                    channel: Channel | str | None = None, *, candidate_id: str = "file", placement: Placement | None = None,
                    main: bool | None = None, fmt: str | None = None, expected_size: tuple[int, int] | None = None,
                    product: Product | None = None, limits: Limits = LIMITS, photo: Image.Image | None = None) -> Critique:
    """Critique a candidate image against the source cutout (RGBA). Does not store anything.

    `photo`: the photo the cutout was cut from; the candidate's product is then also laid back over the
    photo's background and compared with the photo (`against_photo`), where the product's pixels are kept."""
    # 1. Check inputs.
    role = normalize_role(role) if not isinstance(role, Role) else role
    channel = None if channel in (None, "") else (channel if isinstance(channel, Channel) else normalize_channel(channel))
    if source.mode != "RGBA":
        raise BadInput(f"source must be a cutout with transparency (RGBA), got mode {source.mode!r}")
    noun = _noun(product)
    # the band along the outline the engine blended into its scene, in cutout (photo) px
    seam = placement.seam_px / placement.scale if placement and placement.seam_px and placement.scale else None
    try:
        src = vision.prepare_source(source, angle=placement.angle if placement else 0.0,
                                    crop=placement.crop if placement else None,
                                    hidden_below=_hidden_below(role, product, placement),
                                    hidden_turn=placement.hidden_turn if placement else 0.0, seam_px=seam)
    except ValueError as exc:
        raise BadInput(f"source cutout: {exc}") from None
    array = vision.to_rgb_array(candidate)
    hint = hint_box(placement, src, source.size)
    main = (role == Role.packshot) if main is None else main

    # 2. Fidelity (locked product) or what survives re-rendering.
    if role in RERENDER_ROLES:
        rr = vision.compare_rerender(array, src, hint)
        checks = rerender_checks(rr, limits=limits, noun=noun)
        stats = vision.frame_stats(array, src, rr.box)
    else:
        fid = vision.compare(array, src, hint, allow_stretch=role != Role.detail)
        checks = fidelity_checks(fid, role, expected_scale=_expected_scale(product, placement, src),
                                 recorded_upscale=placement.upscale if placement else None, limits=limits,
                                 noun=noun, channel=channel)
        if photo is not None and role != Role.try_on and not (placement and placement.angle):
            relayed = relay_check(_relay_values(photo, source, array, fid.location.box, src, seam), noun=noun)
            checks += [relayed] if relayed is not None else []
        stats = vision.frame_stats(array, src, fid.location.box)

    # 3. Channel compliance and frame quality; 4. the vision model, when configured.
    checks += frame_checks(stats, role=role, channel=channel, main=main, fmt=fmt, expected_size=expected_size,
                           limits=limits, noun=noun, enlarged=placement.upscale if placement else 1.0)
    review = vlm_check(settings, source, candidate, role, product.category.value if product else None)
    if review is not None:
        checks.append(review)
    result, score = verdict(checks)
    return Critique(candidate_id=candidate_id, verdict=result, score=score, checks=checks)


def _relay_values(photo: Image.Image, source: Image.Image, candidate: np.ndarray, box: vision.Box,
                  src: vision.Source, seam_px: float | None = None) -> dict | None:
    """pipelines.cutout_check.relay for a candidate whose source is the photo's cutout (None: not comparable)."""
    from pipelines.cutout_check import relay

    if photo.size != source.size:
        return None
    source_box = (src.offset[0], src.offset[1], src.size[0], src.size[1])
    try:
        return relay(photo, source, candidate, (box.x, box.y, box.w, box.h), source_box,
                     seam_px=seam_px).as_dict()
    except ValueError:
        return None


RING_BEHIND_FINGER = 0.62  # without a record, a try-on ring's band below this share of its height may be hidden


def _hidden_below(role: Role, product: Product | None, placement: Placement | None) -> float | None:
    """Which part of the product a try-on legitimately hides (a ring's lower band), left unmeasured: what
    the engine recorded when it placed the product, else a ring's usual lower band."""
    if role != Role.try_on:
        return None
    if placement is not None and placement.mm_per_px:  # a try-on record says what it hid, if anything
        return placement.hidden_below
    if product is None or product.category.value == "ring":
        return RING_BEHIND_FINGER
    return None


def _noun(product: Product | None) -> str:
    if product is None:
        return "product"
    if product.category in APPAREL:
        return "garment"
    return {"earrings": "earrings", "other": "product", "beauty": "product"}.get(product.category.value,
                                                                                 product.category.value)


def _expected_scale(product: Product | None, placement: Placement | None, src: vision.Source) -> float | None:
    """Candidate px per source px implied by real dimensions and a calibrated plate (try-on)."""
    if product is None or placement is None or not placement.mm_per_px:
        return None
    width_mm = product.dimensions.width_mm or product.dimensions.longest_mm()
    if not width_mm:
        return None
    source_mm_per_px = width_mm / src.size[0]
    return source_mm_per_px / placement.mm_per_px


def critique_candidate(ws, candidate: Candidate) -> Critique:
    """Critique a stored candidate against its source cutout, store the Critique and return it."""
    # 1. Gather the images, the shot and the product.
    source = ws.assets.open(candidate.source_asset_id)
    if source.mode != "RGBA":
        raise BadInput(f"candidate {candidate.id}: source asset {candidate.source_asset_id} is not a cutout (RGBA)")
    image = ws.assets.open(candidate.asset_id)
    shot: Shot | None
    try:
        shot = ws.catalog.get_shot(candidate.shot_id)
    except BadInput:
        shot = None
    product = ws.catalog.get_product(candidate.sku) if ws.catalog.has_product(candidate.sku) else None
    # 2. A white-background main image is the shot planned as main (the grid packshot), or a packshot
    #    without a plan.
    main = candidate.role == Role.packshot and (
        shot is None or bool(shot.options.get("main", shot.slot == Slot.grid)))
    # 3. The photo is the truth: the cutout the candidate was made from must agree with it, and the
    #    candidate itself, laid back over the photo, too (unless a person made or corrected the cutout).
    confidence = confidence_for(ws, candidate)
    photo = (ws.assets.open(confidence.photo_asset_id).convert("RGB")
             if confidence is not None and confidence.method not in ("seller", "person") else None)
    critique = critique_images(
        ws.settings, source, image, candidate.role, shot.channel if shot else None, candidate_id=candidate.id,
        placement=candidate.placement, main=main, expected_size=(shot.width, shot.height) if shot else None,
        product=product, photo=photo,
    )
    critique = with_cutout_check(critique, confidence, _noun(product))
    # 4. Store it.
    ws.catalog.add_critique(critique)
    return critique


def with_cutout_check(critique: Critique, confidence, noun: str = "product") -> Critique:
    """The critique with the check of its cutout against the photo added, verdict and score recomputed."""
    checks = [*critique.checks, cutout_check(confidence, noun)]
    result, score = verdict(checks)
    return critique.model_copy(update={"checks": checks, "verdict": result, "score": score})


def check_files(settings: Settings, source_path, candidate_path, role: str | Role = "packshot",
                channel: str | Channel | None = None) -> Critique:
    """The `check` command: a source (plain photo or RGBA cutout) against a candidate image file."""
    from tools.assets import load_image

    # 1. Check inputs.
    role = normalize_role(role) if not isinstance(role, Role) else role
    if channel not in (None, ""):
        channel = normalize_channel(channel)
    source = load_image(Path(source_path))
    candidate = load_image(Path(candidate_path))
    # 2. A plain photo is cut out first (classical matting for studio backgrounds).
    cutout = source.image if source.has_alpha else _cut_out(source.image, str(source_path))
    critique = critique_images(settings, cutout, candidate.image, role, channel or None,
                               candidate_id=Path(candidate_path).name, fmt=candidate.format,
                               photo=None if source.has_alpha else source.image.convert("RGB"))
    if source.has_alpha:
        return critique
    # 3. A cutout made here is evidence too: compared with the photo it came from.
    return with_cutout_check(critique, _photo_confidence(source.image, cutout))


def _photo_confidence(photo: Image.Image, cutout: Image.Image):
    from pipelines.cutout_check import verify_cutout
    from tools.models import CutoutConfidence
    from tools.verification import grade

    evidence = verify_cutout(photo, cutout)
    level, reasons = grade(evidence.as_dict())
    return CutoutConfidence(cutout_asset_id="file", photo_asset_id="file", sku="file", level=level,
                            method=evidence.method, values=evidence.as_dict(), reasons=reasons)


def _cut_out(image: Image.Image, name: str) -> Image.Image:
    from pipelines import matting

    try:
        return matting.cut_out(image).rgba
    except matting.MattingError as exc:
        raise BadInput(f"{name}: cannot find the product in this photo ({exc}); pass a cutout with "
                       "transparency (PNG) as SOURCE") from None
