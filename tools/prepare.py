"""Taking photos in: validate (tools.assets.load_image), store the originals, cut the product out
(pipelines.matting) and record the product and its photos in the catalog.

Also the `cutout` command's file-to-file function. No rendering here (tools/render.py).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PIL import Image

from tools.assets import LoadedImage, load_image
from tools.errors import BadInput, NotFound, Refused, write_problem
from tools.models import Brief, Category, Photo, PhotoKind, Product, check_sku, normalize_category
from tools.verification import verify_photo
from tools.workspace import Workspace

SEGMENTER_FLAG = "--segmenter"


def load_segmenter(path: str | os.PathLike | None, flag: str = SEGMENTER_FLAG):
    """The user's segmentation model (None: the embedded one is used when needed). A missing or broken
    model is a BadInput naming the flag."""
    if not path:
        return None
    from pipelines import segmentation

    try:
        return segmentation.load_segmenter(path)
    except segmentation.SegmenterError as exc:
        raise BadInput(f"{flag}: {exc}") from None


def check_segmenter(path: str | os.PathLike, flag: str = SEGMENTER_FLAG) -> None:
    """Refuse a segmentation model path that does not exist or is not a model, before any work starts."""
    from pipelines import segmentation

    try:
        segmentation.check_segmenter_path(path)
    except segmentation.SegmenterError as exc:
        raise BadInput(f"{flag}: {exc}") from None


def cut_out_image(image: Image.Image, name: str = "photo", *, keep=None, remove=None, segmenter=None):
    """Run the matting engine (with a person's keep / remove strokes when given); its refusals become
    user-facing errors naming the photo."""
    from pipelines import matting, segmentation

    try:
        return matting.cut_out(image, keep=keep, remove=remove, segmenter=segmenter)
    except matting.BusyBackground as exc:
        raise Refused(f"{name}: {exc}") from None
    except (matting.MattingError, segmentation.SegmenterError) as exc:
        raise BadInput(f"{name}: {exc}") from None


def _stroke_file(path: str | os.PathLike | None, flag: str) -> Image.Image | None:
    if path is None:
        return None
    try:
        return load_image(path, name=f"{flag} mask").image.convert("L")
    except BadInput as exc:
        raise BadInput(f"{flag}: {exc}") from None


def cutout_file(image_path: str | os.PathLike, out_path: str | os.PathLike, *, keep: str | os.PathLike | None = None,
                remove: str | os.PathLike | None = None, segmenter: str | os.PathLike | None = None,
                segmenter_flag: str = SEGMENTER_FLAG) -> dict:
    """The `cutout` command: read a photo, cut the product out (keep / remove: mask images, white =
    painted; segmenter: a local model path), write an RGBA PNG; return the report."""
    # 1. Check inputs
    out = Path(out_path)
    if out.suffix.lower() != ".png":
        raise BadInput(f"output {str(out_path)!r} must be a .png file (the cutout keeps transparency)")
    if out.exists() and out.is_dir():
        raise BadInput(f"output {str(out_path)!r} is a folder; give a file name ending in .png")
    if not out.parent.exists():
        raise BadInput(f"output folder {str(out.parent)!r} does not exist")
    model = load_segmenter(segmenter, segmenter_flag)
    keep_mask, remove_mask = _stroke_file(keep, "--keep"), _stroke_file(remove, "--remove")
    loaded = load_image(image_path)
    # 2. Cut out and write (to a temp name first, so a failure never leaves half a file)
    result = cut_out_image(loaded.image, loaded.name, keep=keep_mask, remove=remove_mask, segmenter=model)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        result.rgba.save(tmp, format="PNG")
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_problem(exc, out.parent, "the cutout") from None
    # 3. Check the cutout against the photo itself (the matting's own confidence cannot see what it lost)
    checked = _checked_against_photo(loaded.image, result.rgba, strokes=keep_mask is not None or remove_mask is not None)
    return {"input": str(image_path), "output": str(out), **result.report(), "checked": checked,
            "loader_notes": loaded.notes}


def _checked_against_photo(photo, rgba, *, strokes: bool) -> dict:
    """The photo check of a cutout written by the `cutout` command: level (verified / uncertain / failed),
    the seller's reasons and the measured values (tools/verification.py grades them)."""
    from pipelines.cutout_check import verify_cutout
    from tools.verification import grade

    try:
        values = verify_cutout(photo, rgba).as_dict()
    except ValueError as error:  # an empty cutout, for one
        return {"level": "failed", "reasons": [str(error)], "values": {}}
    level, reasons = grade(values)
    if strokes and level != "verified":
        reasons = [*reasons, "your keep/remove strokes were applied; what they removed may be product on purpose"]
    return {"level": level, "reasons": reasons, "values": values}


def _product_from(sku: str, category: Category, brief: Brief | None, existing: Product | None) -> Product:
    data = existing.model_dump() if existing else {"sku": sku, "category": category}
    data["category"] = category
    if brief is not None:
        if brief.title:
            data["title"] = brief.title
        if brief.materials:
            data["materials"] = list(brief.materials)
        if brief.colors:
            data["colors"] = list(brief.colors)
        if any(v is not None for v in brief.dimensions.model_dump().values()):
            merged = (existing.dimensions.model_dump() if existing else {}) | {
                k: v for k, v in brief.dimensions.model_dump().items() if v is not None}
            data["dimensions"] = merged
        if brief.notes and not data.get("description"):
            data["description"] = brief.notes
    return Product.model_validate(data)


def ingest_product(ws: Workspace, sku: str, images: list, category: str | Category | None = None,
                   brief: Brief | None = None, names: list[str] | None = None) -> tuple[Product, list[Photo]]:
    """Validate and store the photos of a SKU, cut the product out of each, upsert the product and add
    the photos (the first one of a new product is its main photo). Nothing is stored when a photo is
    unusable: every photo is checked and cut out before the first write."""
    # 1. Check inputs
    check_sku(sku)
    if not images:
        raise BadInput(f"no photos for {sku}: give at least one product photo")
    if names is not None and len(names) != len(images):
        raise BadInput(f"names has {len(names)} entries for {len(images)} images")
    catalog = ws.catalog
    existing = catalog.get_product(sku) if catalog.has_product(sku) else None
    if category is not None:
        category = normalize_category(category) if not isinstance(category, Category) else category
    else:
        category = (brief.category if brief and brief.category else None) or (existing.category if existing else None)
    if category is None:
        raise BadInput(f"the category of {sku} is unknown: pass --category (ring, necklace, earrings, bracelet, watch, "
                       "apparel_top, apparel_bottom, dress, shoes, bag, beauty, other)")

    # 2. Load and cut out every photo before storing anything
    segmenter = load_segmenter(ws.settings.segmenter)
    prepared: list[tuple[LoadedImage, object]] = []
    for i, source in enumerate(images):
        name = names[i] if names else (Path(source).name if not isinstance(source, bytes | bytearray) else f"upload-{i + 1}")
        loaded = load_image(source, name=name)
        prepared.append((loaded, cut_out_image(loaded.image, name, segmenter=segmenter)))

    # 3. Store originals and cutouts, then the product and its photos
    product = catalog.upsert_product(_product_from(sku, category, brief, existing))
    photos = []
    for loaded, result in prepared:
        original = ws.assets.put_loaded(loaded)
        cutout_id = ws.assets.put_image(result.rgba, "PNG", compress_level=3)
        photo = Photo(asset_id=original, sku=sku, kind=PhotoKind.packshot, width=loaded.image.width,
                      height=loaded.image.height, original_name=loaded.name, notes=[*loaded.notes, _cutout_note(result)],
                      cutout_asset_id=cutout_id, cutout_method=result.method)
        photos.append(catalog.add_photo(photo))
        verify_photo(ws, photo)  # the cutout compared with its photo: its confidence is stored
    return product, photos


def _cutout_note(result) -> str:
    """What the seller reads about how the cutout was made."""
    if result.method == "your cutout":
        return "cutout: your cutout (the transparency of the uploaded image, used as it is)"
    if result.method == "strokes":
        return f"cutout: corrected with your keep / remove strokes, confidence {result.confidence:.2f}"
    if result.background == "scene":
        return f"cutout: not a studio background, cut out by the neural model (lower confidence {result.confidence:.2f})"
    if result.background == "fills_frame":
        return "cutout: the product fills the frame, kept whole as a detail photo"
    return f"cutout: {result.background} background, confidence {result.confidence:.2f}"


def recut_photo(ws: Workspace, sku: str, photo_asset_id: str, *, keep=None, remove=None) -> tuple[Photo, object]:
    """Correct a photo's cutout with a person's strokes and store it as a new cutout asset.

    keep / remove: boolean arrays or "L" images of the photo's size (nonzero = painted); hard
    constraints in the re-solve. The original photo and every earlier cutout are kept (assets are never
    modified); the photo now points at the new cutout and lists the earlier ones in
    `previous_cutout_ids`. Returns (the updated Photo, the matting result)."""
    from pipelines import matting

    # 1. Check inputs: the photo belongs to the SKU
    check_sku(sku)
    photo = next((p for p in ws.catalog.photos(sku) if p.asset_id == photo_asset_id), None)
    if photo is None:
        raise NotFound(f"{sku} has no photo {photo_asset_id!r}")
    if keep is None and remove is None:
        raise BadInput("paint at least one keep or remove stroke")
    # 2. Re-solve from the original photo (its own transparency when it was uploaded as a cutout)
    original = ws.assets.open(photo.asset_id)
    image = original if photo.cutout_method == "your cutout" and original.mode == "RGBA" else original.convert("RGB")
    try:
        result = matting.cut_out_with_strokes(image, keep, remove, segmenter=load_segmenter(ws.settings.segmenter))
    except matting.MattingError as exc:
        raise BadInput(f"{photo.original_name or 'photo'}: {exc}") from None
    # 3. Store the new cutout as a new asset and point the photo at it
    cutout_id = ws.assets.put_image(result.rgba, "PNG", compress_level=3)
    history = [*photo.previous_cutout_ids, *([photo.cutout_asset_id] if photo.cutout_asset_id else [])]
    notes = [n for n in photo.notes if not n.startswith("cutout:")] + [_cutout_note(result)]
    updated = photo.model_copy(update={"cutout_asset_id": cutout_id, "previous_cutout_ids": history,
                                       "cutout_method": result.method, "notes": notes})
    stored = ws.catalog.add_photo(updated)
    verify_photo(ws, stored, corrected_by_person=True)  # the person who painted the strokes saw the cutout
    return stored, result


def source_cutout(ws: Workspace, sku: str) -> tuple[str, Image.Image]:
    """The cutout asset id and RGBA image of the SKU's main photo (its first photo with a cutout)."""
    check_sku(sku)
    for photo in ws.catalog.photos(sku):
        if photo.cutout_asset_id:
            image = ws.assets.open(photo.cutout_asset_id)
            if image.mode != "RGBA":
                image = image.convert("RGBA")
            return photo.cutout_asset_id, image
    raise NotFound(f"{sku} has no product photo with a cutout: add one with `listing-studio gallery PHOTO --sku {sku}`")
