"""Test helpers for publish, coverage and batch: a SKU with approved candidates made through the real
asset store and catalog (images composited from the demo cutouts with PIL), talents and plates."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from PIL import Image, ImageDraw

from tools.demo import DEMO_PRODUCTS, demo_cutout, demo_photo_bytes
from tools.models import (
    Anchor,
    Candidate,
    Channel,
    Check,
    Consent,
    Critique,
    Decision,
    GalleryPlan,
    Photo,
    Placement,
    Plate,
    Product,
    Role,
    Shot,
    Slot,
    Talent,
)


@lru_cache(maxsize=8)
def cutout(sku: str, size: int = 600) -> Image.Image:
    return demo_cutout(sku, size)


@lru_cache(maxsize=8)
def photo_bytes(sku: str, size: int = 600) -> bytes:
    return demo_photo_bytes(sku, size)


SLOTS = {Role.packshot: Slot.grid, Role.try_on: Slot.hero, Role.detail: Slot.gallery_2,
         Role.lifestyle: Slot.gallery_3, Role.campaign: Slot.campaign}


def add_product(ws, sku="DEMO-RING", size=600) -> Product:
    demo = DEMO_PRODUCTS[sku]
    product = Product(sku=sku, category=demo.category, title=demo.title, materials=demo.materials,
                      colors=demo.colors, dimensions=demo.dimensions)
    ws.catalog.upsert_product(product)
    source = cutout(sku, size)
    photo = Image.new("RGB", source.size, (255, 255, 255))  # the studio photo the cutout was cut from
    photo.paste(source, mask=source)
    photo_id = ws.assets.put_image(photo, "JPEG", quality=92)
    cutout_id = ws.assets.put_image(source)
    ws.catalog.add_photo(Photo(asset_id=photo_id, sku=sku, width=photo.width, height=photo.height,
                               original_name=f"{sku}.jpg", cutout_asset_id=cutout_id))
    return product


def add_talent(ws, talent_id="T-ANNA", channels=(Channel.amazon, Channel.etsy, Channel.shopify)) -> Talent:
    return ws.catalog.upsert_talent(Talent(id=talent_id, name="Anna", consent=Consent(
        talent_id=talent_id, channels=list(channels))))


def add_plate(ws, talent_id="T-ANNA", plate_id="hand-1") -> Plate:
    hand = Image.new("RGB", (800, 800), (236, 226, 214))
    ImageDraw.Draw(hand).rounded_rectangle([300, 100, 500, 800], radius=90, fill=(224, 172, 140))
    asset = ws.assets.put_image(hand)
    return ws.catalog.add_plate(Plate(id=plate_id, asset_id=asset, kind="hand", mm_per_px=0.1, talent_id=talent_id,
                                      anchor=Anchor(kind="ring", center=(400, 400), span_px=180)))


def compose(ws, sku: str, role: Role, width: int, height: int, *, background=(255, 255, 255), fill=None,
            plate: Plate | None = None) -> tuple[Image.Image, Placement]:
    """A candidate image the way the studio engine makes one: the exact cutout on a backdrop, filling
    `fill` of the frame's short side (packshots 0.88 like a marketplace main image, others 0.6)."""
    fill = fill or (0.88 if role == Role.packshot else 0.6)
    source = cutout(sku, 600)
    if role == Role.detail:
        source = source.crop((150, 0, 450, 300)).resize((600, 600))
    if plate is not None:
        canvas = ws.assets.open(plate.asset_id).resize((width, height))
    elif role in (Role.lifestyle, Role.campaign):
        ramp = Image.linear_gradient("L").resize((width, height))
        canvas = Image.merge("RGB", [ramp.point(lambda v: 120 + v // 3)] * 2 + [ramp.point(lambda v: 90 + v // 4)])
    else:
        canvas = Image.new("RGB", (width, height), background)
    side = int(min(width, height) * fill)
    product = source.resize((side, side), Image.LANCZOS)
    x, y = (width - side) // 2, (height - side) // 2
    canvas.paste(product, (x, y), product)
    return canvas, Placement(x=x, y=y, width=side, height=side, scale=side / 600)


def add_gallery(ws, sku="DEMO-RING", roles=(Role.packshot, Role.detail, Role.lifestyle), channel=Channel.amazon,
                size=(1600, 1600), approve=True, talent_id=None, engine="studio", **compose_args) -> list[Candidate]:
    """Plan, candidates (critiqued pass) and approvals for a SKU; returns the candidates in plan order."""
    if not ws.catalog.has_product(sku):
        add_product(ws, sku)
    photo = ws.catalog.photos(sku)[0]
    shots = [Shot(role=role, slot=SLOTS[role], channel=channel, width=size[0], height=size[1], count=1,
                  mood="warm holiday") for role in roles]
    plan = ws.catalog.save_plan(GalleryPlan(sku=sku, shots=shots))
    plate = None
    if talent_id:
        plate = ws.catalog.plates()[0] if ws.catalog.plates() else add_plate(ws, talent_id)
    candidates = []
    for shot in plan.shots:
        worn = shot.role in (Role.try_on, Role.on_model)
        image, placement = compose(ws, sku, shot.role, shot.width, shot.height,
                                   plate=plate if worn else None, **compose_args)
        asset = ws.assets.put_image(image)
        params = {"model": "tiny-sd", "steps": 2} if engine == "diffusers" else {}
        candidate = Candidate(sku=sku, shot_id=shot.id, role=shot.role, asset_id=asset,
                              source_asset_id=photo.cutout_asset_id, engine=engine, seed=7, placement=placement,
                              prompt=f"{shot.role.value} of the product" if engine == "diffusers" else "",
                              model="tiny-sd" if engine == "diffusers" else None, params=params,
                              plate_id=plate.id if (plate and worn) else None,
                              talent_id=talent_id if worn else None)
        critique = Critique(candidate_id=candidate.id, verdict="pass", score=0.93,
                            checks=[Check(name="fidelity", passed=True, value=0.97, limit=0.9, message="same product")])
        ws.catalog.add_candidate(candidate, critique)
        if approve:
            ws.catalog.add_decision(Decision(candidate_id=candidate.id, action="approve", by="tester"))
        candidates.append(candidate)
    return candidates


def certificate_chain(tmp_path, *, self_signed=False):
    """A test CA and a signing certificate it issued (C2PA refuses self-signed end-entity certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Listing Studio tests")])

    def builder(subject, issuer, public_key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=7)))

    key = ec.generate_private_key(ec.SECP256R1())
    leaf_extensions = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
    ]
    if self_signed:
        leaf = builder(name("signer"), name("signer"), key.public_key())
        for ext, critical in leaf_extensions:
            leaf = leaf.add_extension(ext, critical=critical)
        chain = leaf.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (builder(name("test CA"), name("test CA"), ca_key.public_key())
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        leaf = builder(name("signer"), ca.subject, key.public_key())
        for ext, critical in leaf_extensions:
            leaf = leaf.add_extension(ext, critical=critical)
        leaf = leaf.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        leaf = leaf.sign(ca_key, hashes.SHA256())
        chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "signer.pem", tmp_path / "signer.key"
    cert_path.write_bytes(chain)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
