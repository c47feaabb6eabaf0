"""Channel packs: the approved images of a SKU, named, sized and described for one marketplace, with
provenance (IPTC XMP in every image, `manifest.json`, optional C2PA) and the channel's import file.

What lives here: choosing and ordering the approved candidates for a channel, fitting them to the
channel's size, validating the pack against `tools.rules.CHANNEL_SPECS` before anything is written,
names, alt text, the Shopify CSV and the Google Merchant Center feed, and refusing a main image made
from a cutout the photo does not confirm unless a person approved it after seeing that warning. What does not: the channel rules
themselves (tools.rules), provenance formats (tools.provenance), rendering or critique.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from pipelines.framing import (
    crop_around,
    framed,
    inside_crop,
    pad_white,
    product_box_on_white,
    white_border,
)
from tools import provenance
from tools.errors import BadInput, Refused, write_problem
from tools.models import (
    JEWELRY,
    Candidate,
    Category,
    Channel,
    Product,
    Role,
    Shot,
    Slot,
    check_sku,
    normalize_channel,
)
from tools.rules import enlarge_limits, enlargement_note
from tools.text import spreadsheet_cell, strip_control
from tools.verification import main_image_refusal, manifest_record
from tools.workspace import Workspace

WORN_ROLES = frozenset({Role.try_on, Role.on_model, Role.model_swap})
LIFESTYLE_ROLES = frozenset({Role.lifestyle, Role.try_on, Role.on_model, Role.model_swap, Role.campaign})
SLOT_ORDER = {Slot.grid: 0, Slot.hero: 1, Slot.gallery_2: 2, Slot.gallery_3: 3, Slot.campaign: 4}
ROLE_ORDER = {Role.packshot: 0, Role.try_on: 1, Role.on_model: 1, Role.model_swap: 1, Role.detail: 2,
              Role.lifestyle: 3, Role.campaign: 4}
MAX_IMAGES = {Channel.amazon: 9, Channel.etsy: 20, Channel.shopify: 250, Channel.ebay: 24,
              Channel.google: 11, Channel.zalando: 12}
WORN_ON = {Category.ring: "on a hand", Category.necklace: "at the neckline", Category.earrings: "at the ear",
           Category.bracelet: "on a wrist", Category.watch: "on a wrist"}


@dataclass
class Target:
    """What one channel wants of every image, read from its ChannelSpec."""

    channel: Channel
    aspect: float | None = None                  # width / height every image must have (None: any)
    desired: int | None = None                   # the long side to aim for (None: keep within the range)
    long_side: tuple[int, int] = (1, 100_000)    # (min, max) long side the channel accepts
    main_white: bool = False                     # first image: product alone on pure white
    main_no_model: bool = False                  # first image of jewelry: no model, no hand
    main_share: float = 0.0                      # first image: product's longer side / frame side, at least
    no_borders: bool = False
    no_text: bool = False
    thumbnail_aspect: float | None = None        # first image must survive this centre crop (w/h)
    formats: tuple[str, ...] = ("JPEG",)


@dataclass
class PackImage:
    candidate: Candidate
    shot: Shot | None
    image: Image.Image
    name: str = ""
    alt: str = ""
    box: tuple | None = None  # the product's box in `image`, when known
    resized_from: tuple[int, int] | None = None
    note: str = ""
    enlarged: float = 1.0  # the product's enlargement beyond its source photo in this file (the policy's record)


def publish_pack(ws: Workspace, sku: str, channel: str | Channel, out_dir: str | os.PathLike,
                 *, base_url: str | None = None) -> dict:
    """Write the channel pack of a SKU's approved images into the folder `out_dir`.

    Returns {"sku", "channel", "folder", "files": [{"name", "path", "position", "candidate_id", "role",
    "width", "height", "alt", "digital_source_type", "sha256"}], "manifest", "skipped": [{"candidate_id",
    "reason"}], "signed", "replaced"}. Refuses, writing nothing, when the main image breaks the channel's rules or
    an image shows a talent whose consent does not cover the channel; another image that breaks the
    rules is left out and listed in `skipped` with its reason. An earlier pack of the same SKU and
    channel in the folder is replaced (`replaced` says when it was written); one of another SKU or
    channel refuses; other files there are left alone. A folder inside the home's data is refused. `base_url` prefixes file names in the Shopify CSV
    and the Google feed (where the images will be hosted).
    """
    # 1. Check inputs.
    check_sku(sku)
    channel = normalize_channel(channel)
    if out_dir is None or str(out_dir).strip() == "":
        raise BadInput("out_dir is empty: give the folder to write the pack into")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"out_dir={str(out_dir)!r} is a file, not a folder")
    check_outside_internals(ws, out_dir)
    earlier = earlier_pack(out_dir)
    if earlier and (earlier.get("sku"), earlier.get("channel")) != (sku, channel.value):
        raise Refused(f"{out_dir} already holds the {earlier.get('sku')} pack for {earlier.get('channel')}: "
                      f"publish each pack into its own folder (e.g. {out_dir / f'{sku}-{channel.value}'})")
    if base_url is not None and not re.match(r"^https?://", base_url):
        raise BadInput(f"base_url={base_url!r}: give an http(s) URL where the images will be hosted")
    catalog = ws.catalog

    # 2.-5. Choose, fit, check, name and describe the images (refuses when the pack cannot be made); a
    #       warning for two images a shopper would see as the same picture.
    product, pack, skipped = assemble_pack(ws, sku, channel)
    warnings = duplicate_warnings(pack)

    # 6. Write into a staging folder inside out_dir, then move the files in (manifest last) and remove
    #    what the previous pack of this folder listed and this one does not. Other files are left alone.
    folder = out_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        previous = _previous_files(folder)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=f".staging-{sku}-{channel.value}-"))
    except OSError as exc:
        raise write_problem(exc, folder, "the pack") from None
    try:
        files, signed, extra = _write_pack(ws, product, channel, pack, staging, folder, base_url)
        names = [f["name"] for f in files] + ([extra] if extra else [])
        for name in names:
            os.replace(staging / name, folder / name)
        os.replace(staging / "manifest.json", folder / "manifest.json")
        for stale in previous - set(names):
            (folder / stale).unlink(missing_ok=True)
    except OSError as exc:
        raise write_problem(exc, folder, "the pack") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    # 7. Record the export in the catalog.
    result = {"sku": sku, "channel": channel.value, "folder": str(folder), "files": files,
              "manifest": str(folder / "manifest.json"), "skipped": skipped, "signed": signed, "warnings": warnings,
              "replaced": ({"created_at": earlier.get("created_at"), "files": len(earlier.get("images") or [])}
                           if earlier else None)}
    catalog.add_export(sku, channel.value, str(folder), {
        "files": [f["name"] for f in files], "candidates": [f["candidate_id"] for f in files],
        "manifest": result["manifest"], "signed": signed})
    return result


def assemble_pack(ws: Workspace, sku: str, channel: str | Channel) -> tuple[Product, list[PackImage], list[dict]]:
    """The pack publish would write, in memory: (product, images in page order, skipped [{candidate_id, reason}]).

    Raises Refused when nothing is approved, a talent's consent does not cover the channel, the main
    image breaks the channel's rules or no approved image fits the channel. Writes nothing.
    """
    check_sku(sku)
    channel = normalize_channel(channel)
    catalog = ws.catalog

    # 1. The SKU's approved images.
    product = catalog.get_product(sku)
    approved = catalog.approved(sku)
    if not approved:
        raise Refused(f"{sku} has no approved images yet: approve candidates with `listing-studio review {sku} "
                      "--approve ID` first")

    # 2. Choose and order the approved images meant for this channel.
    target = channel_target(channel)
    main_target = _main_target(target, channel, product)
    chosen, skipped = _choose(ws, approved, channel)

    # 3. Consent: an image whose talent's consent is revoked, expired or does not cover this channel
    #    refuses the whole pack (the seller must withdraw it, not just leave it out here).
    refusals = consent_refusals(ws, [c for c, _ in chosen], channel)
    if refusals:
        lines = "; ".join(f"{cid}: {why}" for cid, why in refusals.items())
        raise Refused(f"cannot publish {sku} to {channel.value}: {lines}. Reject those images "
                      f"(`listing-studio review {sku} --reject ID`) and approve others")

    # 4. Fit each image to the channel's size and check it against the channel's rules. A main image
    #    that breaks them refuses the pack; any other image that does is left out, with its reason.
    pack: list[PackImage] = []
    for position, (candidate, shot) in enumerate(chosen):
        image = ws.assets.open(candidate.asset_id)
        fit_target = main_target if position == 0 else target
        fitted, box, note, problem = _fit(image, fit_target, candidate, first=position == 0)
        before = candidate.placement.upscale if candidate.placement else 1.0
        item = PackImage(candidate, shot, fitted, box=box, note=note,
                         resized_from=image.size if fitted.size != image.size else None,
                         enlarged=round(before * _resize_factor(candidate, image, fitted, box), 3))
        problems = [f"{candidate.id} ({candidate.role.value}) {problem}"] if problem else \
            image_problems(product, item, position, fit_target)
        if position == 0 and (refusal := main_image_refusal(ws, candidate)):
            problems.append(refusal)
        if problems and position == 0:
            raise Refused(f"cannot publish {sku} to {channel.value}: " + "; ".join(problems))
        if problems:
            skipped.append({"candidate_id": candidate.id, "reason": "; ".join(problems)})
            continue
        pack.append(item)
    if not pack:
        reasons = "; ".join(f"{s['candidate_id']}: {s['reason']}" for s in skipped) or "none is meant for it"
        raise Refused(f"cannot publish {sku} to {channel.value}: no approved image fits the channel ({reasons}). "
                      f"Approve a packshot for {channel.value} first")

    # 5. Names and alt text.
    for position, item in enumerate(pack):
        item.name = file_name(sku, channel, position, item.candidate.role)
        item.alt = alt_text(product, item.candidate.role, item.shot)
    return product, pack, skipped


def pack_preview(ws: Workspace, sku: str, channel: str | Channel) -> dict:
    """What publishing `sku` to `channel` would give, without writing anything (the app's "Approved" view).

    {"sku", "channel", "ready": bool, "problem": str | None, "images": [{"candidate_id", "role", "slot",
    "position", "name", "width", "height", "note", "path"}] in page order, "skipped": [{"candidate_id",
    "role", "reason"}], "warnings": [...], "published": bool}. `problem` is why nothing can be published yet
    (the pack would be refused); `published`: the exports folder already holds this pack (the same images in
    the same order), so publishing again would change nothing. What the page still lacks is
    `tools.coverage.pending_images`.
    """
    channel = normalize_channel(channel)
    roles = {c.id: c.role.value for c in ws.catalog.candidates(check_sku(sku))} if ws.catalog.has_product(sku) else {}
    try:
        _, pack, skipped = assemble_pack(ws, sku, channel)
    except Refused as refusal:
        return {"sku": sku, "channel": channel.value, "ready": False, "problem": str(refusal), "images": [],
                "skipped": [], "warnings": [], "published": False}
    images = [{"candidate_id": item.candidate.id, "role": item.candidate.role.value,
               "slot": item.shot.slot.value if item.shot else None, "position": position, "name": item.name,
               "width": item.image.width, "height": item.image.height, "note": item.note,
               "path": str(ws.assets.path(item.candidate.asset_id))}
              for position, item in enumerate(pack)]
    left_out = [{**s, "role": roles.get(s["candidate_id"], "")} for s in skipped]
    earlier = earlier_pack(exports_folder(ws, sku, channel))
    published = earlier is not None and [e.get("candidate_id") for e in earlier.get("images") or []
                                         if isinstance(e, dict)] == [image["candidate_id"] for image in images]
    return {"sku": sku, "channel": channel.value, "ready": True, "problem": None, "images": images,
            "skipped": left_out, "warnings": duplicate_warnings(pack), "published": published}


def exports_folder(ws: Workspace, sku: str, channel: str | Channel) -> Path:
    """Where the app and the agent publish: <home>/exports/<SKU>/<channel> (the one exports layout)."""
    return ws.inside_home(f"exports/{check_sku(sku)}/{normalize_channel(channel).value}")


def publish_to_exports(ws: Workspace, sku: str, channel: str | Channel) -> dict:
    """Publish into the home's exports folder: the one path the app's Publish button and the agent share."""
    return publish_pack(ws, sku, channel, exports_folder(ws, sku, channel))


# -- channel rules ---------------------------------------------------------------------------------


# How each channel's images are sized from its spec's numbers. "exact": the spec's width x height and
# nothing else (Zalando); "square": square, aiming at the render size, at least the spec's minimum
# (Shopify 2048); "long": aiming at the render size on the long side, at least the spec's minimum
# (Etsy 2000); "render_min": at least the render size (eBay zoom needs >= 1600 px); "range": kept as it
# is when within the spec's min..max (Amazon, Google).
SIZING = {Channel.amazon: "range", Channel.etsy: "long", Channel.shopify: "square", Channel.ebay: "render_min",
          Channel.google: "range", Channel.zalando: "exact"}


def pack_summary(result: dict) -> list[str]:
    """The lines a seller reads after a publish: what was written, what was sized down, what was left out."""
    files = result.get("files") or []
    lines = [f"wrote {len(files)} file{'s' if len(files) != 1 else ''} for {result.get('channel', '')} "
             f"to {result.get('folder', '')}"]
    lines += [f"  {f['name']}" + (f" (note: {f['note']})" if f.get("note") else "") for f in files]
    lines += [f"  left out {s['candidate_id']}: {s['reason']}" for s in result.get("skipped") or []]
    if result.get("replaced"):
        lines.append(f"  replaced the earlier pack there ({result['replaced']['files']} images)")
    lines += [f"  warning: {w}" for w in result.get("warnings") or []]
    return lines


def duplicate_warnings(pack: list[PackImage]) -> list[str]:
    """Near-duplicate images in a pack (pipelines.scene_metrics.image_distance below NEAR_DUPLICATE)."""
    from pipelines.scene_metrics import NEAR_DUPLICATE, near_duplicates

    return [f"{pack[i].name} and {pack[j].name} look almost the same (distance {d:.2f}, below {NEAR_DUPLICATE:g}); "
            "a shopper sees the same picture twice: consider leaving one out"
            for i, j, d in near_duplicates([item.image for item in pack])]


def channel_target(channel: Channel) -> Target:
    """The channel's image rules as publish needs them, read from tools.rules.CHANNEL_SPECS."""
    from tools.rules import CHANNEL_SPECS

    spec = CHANNEL_SPECS[channel]
    target = Target(channel, formats=tuple(spec.formats), main_share=spec.main_share)
    render_long = max(spec.width, spec.height)
    sizing = SIZING[channel]
    target.long_side = (spec.min_long_side, spec.max_long_side)
    if sizing == "exact":
        target.aspect, target.desired, target.long_side = spec.width / spec.height, render_long, (render_long, render_long)
    elif sizing == "square":
        target.aspect, target.desired = 1.0, render_long
    elif sizing == "long":
        target.desired = render_long
    elif sizing == "render_min":
        target.long_side = (max(spec.min_long_side, render_long), spec.max_long_side)
    target.main_white = spec.main_pure_white
    target.main_no_model = spec.main_no_model_jewelry
    target.no_borders = spec.no_borders
    target.no_text = spec.no_text
    if spec.thumbnail_aspect:
        target.thumbnail_aspect = _ratio(spec.thumbnail_aspect)
    return target


def _main_target(target: Target, channel: Channel, product: Product) -> Target:
    """The main image's rules: the channel's, with the jewelry main-image size cap where it has one."""
    from tools.rules import CHANNEL_SPECS

    cap = CHANNEL_SPECS[channel].jewelry_main_max_long_side
    if cap is None or product.category not in JEWELRY:
        return target
    lo, hi = target.long_side
    return replace(target, long_side=(lo, min(hi, cap)))


def _ratio(value) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, tuple | list):
        return float(value[0]) / float(value[1])
    w, h = str(value).split(":")
    return float(w) / float(h)


# -- choosing, fitting, validating -----------------------------------------------------------------


def consent_refusals(ws: Workspace, candidates: list[Candidate], channel: Channel | None) -> dict[str, str]:
    """candidate id -> why its talent's consent does not cover `channel` (None: only revoked/expired)."""
    refusals: dict[str, str] = {}
    for candidate in candidates:
        for talent_id in talent_ids(ws, candidate):
            try:
                talent = ws.catalog.get_talent(talent_id)
            except BadInput:
                refusals[candidate.id] = f"talent {talent_id} has no consent on record"
                break
            reason = talent.consent.refusal(channel)
            if reason:
                refusals[candidate.id] = reason
                break
    return refusals


def talent_ids(ws: Workspace, candidate: Candidate) -> list[str]:
    """The talents whose likeness a candidate shows: its own talent and its plate's."""
    ids = [candidate.talent_id] if candidate.talent_id else []
    if candidate.plate_id:
        try:
            plate = ws.catalog.get_plate(candidate.plate_id)
        except BadInput:
            plate = None
        if plate is not None and plate.talent_id and plate.talent_id not in ids:
            ids.append(plate.talent_id)
    return ids


def _choose(ws: Workspace, approved: list[Candidate], channel: Channel) -> tuple[list, list[dict]]:
    """Approved candidates meant for this channel (or for any), main image first; the rest is skipped."""
    catalog = ws.catalog
    shots: dict[str, Shot | None] = {}
    for candidate in approved:
        if candidate.shot_id not in shots:
            try:
                shots[candidate.shot_id] = catalog.get_shot(candidate.shot_id)
            except BadInput:
                shots[candidate.shot_id] = None
    # Campaign variants are for ads and social posts: in a channel's gallery only when planned for it.
    gallery = [c for c in approved if c.role != Role.campaign or (shots[c.shot_id] and shots[c.shot_id].channel == channel)]
    mine = [c for c in gallery if (s := shots[c.shot_id]) is None or s.channel in (None, channel)]
    pool = mine or gallery  # a plan for other channels still gives usable images, fitted below

    def order(candidate: Candidate):
        shot = shots[candidate.shot_id]
        main = 0 if candidate.role == Role.packshot else 1
        slot = SLOT_ORDER.get(shot.slot, 9) if shot else 9
        return (main, slot, ROLE_ORDER.get(candidate.role, 9), candidate.created_at)

    ordered = sorted(pool, key=order)
    limit = MAX_IMAGES[channel]
    skipped = [{"candidate_id": c.id, "reason": f"{channel.value} takes at most {limit} images"}
               for c in ordered[limit:]]
    skipped += [{"candidate_id": c.id, "reason": "campaign images are not part of a channel gallery"}
                for c in approved if c not in gallery]
    skipped += [{"candidate_id": c.id, "reason": f"planned for {shots[c.shot_id].channel.value}"}
                for c in gallery if c not in pool]
    return [(c, shots[c.shot_id]) for c in ordered[:limit]], skipped


def _fit(image: Image.Image, target: Target, candidate: Candidate, *, first: bool = False
         ) -> tuple[Image.Image, tuple | None, str, str | None]:
    """Fit an approved image to the channel's size: (image, product box in it, note, None), or
    (.., why it cannot) as the last item.

    Only changes that cannot alter the product: scaling (the product never ends up more than
    the enlargement policy allows, tools.rules.enlargement_note), widening a white canvas around a product on white, cropping a
    scene's backdrop while the whole product stays inside, or cropping a close-up (a detail shows a
    region by design). A first image on white is widened to the channel's thumbnail aspect when the
    product would not fit its crop.
    """
    # 1. Where the product is, and how much it is already enlarged beyond its source photo.
    image = image.convert("RGB") if image.mode != "RGB" else image
    box = _source_box(image, candidate)
    enlarged = candidate.placement.upscale if candidate.placement else 1.0
    white = white_border(image)

    # 2. The first image must survive the channel's thumbnail crop: widen the white canvas if needed.
    if first and target.thumbnail_aspect and white and box and not inside_crop(box, image.size, target.thumbnail_aspect):
        image, (dx, dy) = pad_white(image, target.thumbnail_aspect)
        box = _shift(box, dx, dy)
    width, height = image.size

    # 3. A fixed aspect: widen a white canvas, or crop (around the whole product, or a close-up).
    if target.aspect and abs(width / height - target.aspect) > 0.02 * target.aspect:
        if white:
            image, (dx, dy) = pad_white(image, target.aspect)
            box = _shift(box, dx, dy)
        else:
            cropped = crop_around(image, None if candidate.role == Role.detail else box, target.aspect,
                                   centre=candidate.role == Role.detail)
            if cropped is None:
                return image, box, "", (f"is {width}x{height} ({width / height:.2f}:1), {target.channel.value} "
                                        f"needs {_shape(target)} and the product would not stay whole in "
                                        f"that crop; re-render this shot for {target.channel.value}")
            image, (dx, dy) = cropped
            box = _shift(box, -dx, -dy)
        width, height = image.size

    # 4. The long side: aim at the channel's size within the one enlargement policy (tools.rules): the
    #    product freely up to ENLARGE_FREE times its source photo, up to ENLARGE_LIMIT only to reach the
    #    channel's minimum (with a note, recorded in the manifest), never beyond; never enlarged at all for
    #    channels that forbid upscaled images (a render already past that is shrunk back when it may be).
    free, limit = enlarge_limits(target.channel)
    long = max(width, height)
    lo, hi = target.long_side
    desired = target.desired or min(max(long, lo), hi)
    free_long, limit_long = int(long * free / enlarged), int(long * limit / enlarged)
    note = ""
    if desired <= free_long:
        goal = desired
    elif free_long >= lo:
        goal = free_long
        note = (f"{goal} px on the long side, not the {desired} px {target.channel.value} recommends: a larger "
                "source photo would allow it")
    elif limit_long >= lo:
        goal = lo
        verdict, sentence = enlargement_note(enlarged * lo / long, target.channel)
        note = f"the product is {sentence}" if verdict == "warn" else ""
    else:
        return image, box, "", _too_small(width, height, lo, lo / long * enlarged, target)
    if target.aspect:  # exact proportions, to the pixel
        out = (goal, round(goal / target.aspect)) if target.aspect >= 1 else (round(goal * target.aspect), goal)
    else:
        out = (round(width * goal / long), round(height * goal / long))
    if out != (width, height):
        scale = max(out[0] / width, out[1] / height)
        resized = image.resize((max(out[0], round(width * scale)), max(out[1], round(height * scale))), Image.LANCZOS)
        left, top = (resized.width - out[0]) // 2, (resized.height - out[1]) // 2
        image = resized.crop((left, top, left + out[0], top + out[1]))
        box = _shift(_scale(box, scale), -left, -top)
    return image, box, note, None


def _shape(target: Target) -> str:
    if target.aspect == 1.0:
        return "square images"
    if target.long_side[0] == target.long_side[1]:
        long = target.long_side[0]
        w, h = (long, round(long / target.aspect)) if target.aspect >= 1 else (round(long * target.aspect), long)
        return f"{w}x{h}"
    return f"{target.aspect:.2f}:1"


def _too_small(width: int, height: int, needed: int, total: float, target: Target) -> str:
    limit = enlarge_limits(target.channel)[1]
    return (f"is {width}x{height}; the {needed} px {target.channel.value} needs on the long side would enlarge the "
            f"product {total:.2f}x beyond its source photo (limit {limit:g}x for {target.channel.value}); upload a "
            "larger photo and re-render")


def _resize_factor(candidate: Candidate, original: Image.Image, fitted: Image.Image, box) -> float:
    """How much fitting scaled the product: its box in the file against the engine's placement (padding
    and cropping do not scale it); without a placement, the images' long sides."""
    p = candidate.placement
    if p is not None and box is not None and p.width > 0:
        return (box[2] - box[0]) / p.width
    return max(fitted.size) / max(original.size)


def _source_box(image: Image.Image, candidate: Candidate) -> tuple | None:
    """The product's box in the approved image: the engine's placement, else the non-white pixels of a
    product on white; None when unknown."""
    if candidate.placement is not None:
        p = candidate.placement
        return (p.x, p.y, p.x + p.width, p.y + p.height)
    if white_border(image):
        return product_box_on_white(image)
    return None


def _scale(box, k):
    return None if box is None else tuple(v * k for v in box)


def _shift(box, dx, dy):
    return None if box is None else (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def image_problems(product: Product, item: PackImage, position: int, target: Target) -> list[str]:
    """Every way a fitted image breaks the channel's rules (position 0 is the main image)."""
    problems: list[str] = []
    candidate, image = item.candidate, item.image
    label = f"{candidate.id} ({candidate.role.value})"
    width, height = image.size
    # 1. Size and format.
    lo, hi = target.long_side
    long = max(width, height)
    if not lo <= long <= hi:
        problems.append(f"{label} long side is {long} px, {target.channel.value} needs {lo}-{hi}")
    if target.aspect and abs(width / height - target.aspect) > 0.005:
        problems.append(f"{label} is {width}x{height}, {target.channel.value} needs {_shape(target)}")
    if "JPEG" not in target.formats:
        problems.append(f"{target.channel.value} does not take JPEG images")
    # 2. Borders and text.
    if target.no_borders and framed(image):
        problems.append(f"{label} has a border; {target.channel.value} allows no borders")
    if target.no_text and (candidate.params.get("overlay_text") or (item.shot and item.shot.options.get("text"))):
        problems.append(f"{label} carries text; {target.channel.value} allows no text on images")
    if position > 0:
        return problems
    # 3. The main image.
    if target.main_white:
        if candidate.role != Role.packshot:
            problems.append(f"main image {label} must be a packshot (product alone); approve a packshot")
        elif not white_border(image):
            problems.append(f"main image {label} is not on a pure white background (RGB 255)")
    if target.main_no_model and product.category in JEWELRY and (
            candidate.role in WORN_ROLES or candidate.plate_id or candidate.talent_id):
        problems.append(f"main image {label} shows a model; {target.channel.value} jewelry main images "
                        "show the product alone")
    box = item.box
    if target.main_share and box is not None and candidate.role == Role.packshot:
        share = max((box[2] - box[0]) / width, (box[3] - box[1]) / height)
        if share < target.main_share - 0.01:
            problems.append(f"main image {label}: the product fills {share:.0%} of the frame, "
                            f"{target.channel.value} needs at least {target.main_share:.0%}")
    if target.thumbnail_aspect and box is not None and not inside_crop(box, image.size, target.thumbnail_aspect):
        problems.append(f"first image {label}: the product reaches outside the centred "
                        f"{target.thumbnail_aspect:.2f}:1 thumbnail crop; re-render it with more margin")
    return problems


# -- names, alt text, files ------------------------------------------------------------------------


def file_name(sku: str, channel: Channel, position: int, role: Role) -> str:
    """The file name a channel expects for the image at `position` (0 = main)."""
    if channel == Channel.amazon:
        return f"{sku}.MAIN.jpg" if position == 0 else f"{sku}.PT{position:02d}.jpg"
    if channel == Channel.google:
        return f"{sku}-main.jpg" if position == 0 else f"{sku}-{position:02d}-{role.value}.jpg"
    return f"{sku}-{position + 1:02d}-{role.value}.jpg"


def alt_text(product: Product, role: Role, shot: Shot | None = None, limit: int = 125) -> str:
    """Alt text for one image, from the product (title, materials, colors) and the image's role."""
    name = product.title.strip() or _describe(product)
    mood = (shot.mood if shot else "").strip()
    scene = (shot.scene if shot else "").strip()
    worn = WORN_ON.get(product.category, "worn by a model")
    text = {
        Role.packshot: f"{name} on a white background",
        Role.detail: f"Close-up of the {_lower_first(name)} showing its detail",
        Role.try_on: f"{name} worn {worn}" if product.category in WORN_ON else f"{name} worn by a model",
        Role.on_model: f"{name} worn by a model",
        Role.model_swap: f"{name} worn by a model",
        Role.lifestyle: f"{name} in a {scene or (mood + ' ' if mood else '') + 'lifestyle'} setting",
        Role.campaign: f"{name}, {mood + ' ' if mood else ''}campaign image",
    }[role]
    text = strip_control(text)
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


def _describe(product: Product) -> str:
    words = [*product.colors[:1], *product.materials[:2], product.category.value.replace("_", " ")]
    unique = list(dict.fromkeys(w.strip().lower() for w in words if w.strip()))
    return " ".join(unique).capitalize() or product.sku


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    return text if first.isupper() else text[:1].lower() + text[1:]


def _write_pack(ws: Workspace, product: Product, channel: Channel, pack: list[PackImage], staging: Path,
                folder: Path, base_url: str | None) -> tuple[list[dict], bool, str | None]:
    settings = ws.settings
    signed = provenance.c2pa_configured(settings)
    now = datetime.now(UTC)
    files: list[dict] = []
    entries: list[dict] = []
    for position, item in enumerate(pack):
        candidate = item.candidate
        term = provenance.digital_source_type(candidate)
        path = staging / item.name
        xmp = provenance.xmp_packet(term, title=product.title or product.sku, description=item.alt, created=now,
                                    identifier=candidate.id)
        provenance.write_image(item.image, path, xmp=xmp)
        c2pa_report = provenance.c2pa_sign_file(settings, path, term=term, title=item.alt) if signed else None
        digest = provenance.sha256_file(path)
        files.append({"name": item.name, "path": str(folder / item.name), "position": position,
                      "candidate_id": candidate.id, "role": candidate.role.value, "width": item.image.width,
                      "height": item.image.height, "alt": item.alt, "digital_source_type": term, "sha256": digest,
                      **({"note": item.note} if item.note else {})})
        entries.append(_manifest_entry(ws, item, position, term, digest, c2pa_report))
    extra = _import_file(product, channel, files, staging, base_url)
    manifest = {
        "sku": product.sku, "channel": channel.value, "title": product.title, "category": product.category.value,
        "generator": provenance.GENERATOR, "created_at": now.isoformat(),
        "source_photos": [{"asset_id": p.asset_id, "sha256": p.asset_id, "name": p.original_name,
                           "kind": p.kind.value} for p in ws.catalog.photos(product.sku)],
        "c2pa": {"signed": signed},
        "import_file": extra,
        "images": entries,
    }
    provenance.write_json(staging / "manifest.json", manifest)
    return files, signed, extra


def check_outside_internals(ws: Workspace, out_dir: Path) -> None:
    """Refuse a pack folder inside the home's own data (beside catalog.sqlite, in assets/ or index/);
    only the home's exports/ folder, where the app publishes, is meant for packs."""
    home, target = ws.home.resolve(), out_dir.resolve()
    if target.is_relative_to(home) and not target.is_relative_to(ws.exports_dir.resolve()):
        where = "is the home folder" if target == home else f"is inside the home folder {ws.home}"
        raise Refused(f"{out_dir} {where}, where the catalog and images live: write the pack to a folder "
                      f"outside it (or under {ws.exports_dir})")


def earlier_pack(folder: Path) -> dict | None:
    """The manifest of the pack already in `folder` (sku, channel, created_at, images), or None."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and str(manifest.get("generator", "")).startswith("Listing Studio") else None


def _previous_files(folder: Path) -> set[str]:
    """The files the pack already in `folder` wrote (from its manifest), to replace them cleanly."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names = {e.get("file") for e in manifest.get("images", []) if isinstance(e, dict)}
    names.add(manifest.get("import_file"))
    return {n for n in names if isinstance(n, str) and n and "/" not in n and "\\" not in n and not n.startswith(".")}


def _manifest_entry(ws: Workspace, item: PackImage, position: int, term: str, digest: str,
                    c2pa_report: dict | None) -> dict:
    candidate, shot, catalog = item.candidate, item.shot, ws.catalog
    critique = catalog.latest_critique(candidate.id)
    decision = catalog.latest_decision(candidate.id)
    return {
        "file": item.name, "position": position, "sha256": digest, "width": item.image.width,
        "height": item.image.height, "alt": item.alt,
        "digital_source_type": provenance.source_type_uri(term),
        "candidate_id": candidate.id, "asset_id": candidate.asset_id, "role": candidate.role.value,
        "shot": shot.model_dump(mode="json") if shot else {"id": candidate.shot_id},
        "source": {"asset_id": candidate.source_asset_id, "sha256": candidate.source_asset_id},
        "engine": candidate.engine, "model": candidate.model, "seed": candidate.seed, "prompt": candidate.prompt,
        "negative_prompt": candidate.negative_prompt, "params": candidate.params, "attempt": candidate.attempt,
        "placement": candidate.placement.model_dump(mode="json") if candidate.placement else None,
        "talent_id": candidate.talent_id, "plate_id": candidate.plate_id,
        "resized_from": list(item.resized_from) if item.resized_from else None,
        "note": item.note or None,
        "enlarged": item.enlarged,  # beyond the source photo; the policy: tools.rules.enlargement_note
        "critique": critique.model_dump(mode="json") if critique else None,
        "approval": decision.model_dump(mode="json") if decision else None,
        "cutout": manifest_record(ws, candidate),
        "rendered_at": candidate.created_at.isoformat(),
        "c2pa": c2pa_report,
    }


def _import_file(product: Product, channel: Channel, files: list[dict], staging: Path, base_url: str | None) -> str | None:
    """The channel's import file beside the images: Shopify product CSV, Google Merchant Center feed."""
    def link(name: str) -> str:
        return f"{base_url.rstrip('/')}/{name}" if base_url else name

    if channel == Channel.shopify:
        handle = re.sub(r"[^a-z0-9]+", "-", (product.title or product.sku).lower()).strip("-") or product.sku.lower()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)  # every cell quoted (OWASP)
        writer.writerow(["Handle", "Title", "Image Src", "Image Position", "Image Alt Text"])
        for i, f in enumerate(files):
            writer.writerow([handle, _text_cell(product.title) if i == 0 else "", link(f["name"]), i + 1,
                             _text_cell(f["alt"])])
        (staging / "shopify_products.csv").write_text(buffer.getvalue(), encoding="utf-8")
        return "shopify_products.csv"
    if channel == Channel.google:
        main = files[0]
        others = files[1:]
        lifestyle = [f for f in others if Role(f["role"]) in LIFESTYLE_ROLES]
        additional = [f for f in others if f not in lifestyle]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "title", "image_link", "additional_image_link", "lifestyle_image_link"])
        writer.writerow([product.sku, _text_cell(product.title), link(main["name"]),
                         ",".join(link(f["name"]) for f in additional[:10]),
                         ",".join(link(f["name"]) for f in lifestyle[:20])])
        (staging / "google_feed.tsv").write_text(buffer.getvalue(), encoding="utf-8")
        return "google_feed.tsv"
    return None


def _text_cell(text: str) -> str:
    """A seller's words in an import file, as a spreadsheet shows them: visible text, never a formula.
    Ids, handles and links stay exact (the marketplace matches them): they are made only of
    [A-Za-z0-9._-] and URLs, which cannot call a function or another program."""
    return spreadsheet_cell(strip_control(text))
