"""Provenance of exported images: the IPTC digital source type (XMP, in every JPEG/PNG we write),
the per-pack `manifest.json` record, and optional C2PA signing through `c2pa-python`.

What lives here: choosing the IPTC NewsCodes term for a candidate, writing image files with their XMP
packet (and an sRGB ICC profile), reading that packet back, building a pack manifest, signing. What
does not: choosing, sizing or naming images for a channel (tools.publish).

Digital source type, per how the image was made (IPTC "digitalsourcetype" NewsCodes):

| how it was made | term |
| --- | --- |
| the seller's photo, exported as it is (or only cropped) | `digitalCapture` |
| product cutout composited onto a registered photo plate (try-on on a real hand, scene plate) | `compositeCapture` |
| product cutout composited onto a drawn backdrop (white packshot, procedural scene, campaign crop) | `compositeSynthetic` |
| locked product composited into a scene a generative model painted (diffusers lifestyle, harmonized seam) | `compositeWithTrainedAlgorithmicMedia` |
| a generative model re-rendered the product itself (apparel on a model, model swap without a lock) | `trainedAlgorithmicMedia` |
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageCms, PngImagePlugin

from tools.errors import BadInput, EngineUnavailable
from tools.models import Candidate, Role

IPTC_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DIGITAL_SOURCE_TYPES = frozenset({
    "digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print", "humanEdits",
    "compositeCapture", "algorithmicallyEnhanced", "dataDrivenMedia", "digitalArt", "virtualRecording",
    "compositeSynthetic", "trainedAlgorithmicMedia", "algorithmicMedia", "screenCapture", "composite",
    "compositeWithTrainedAlgorithmicMedia",
})
GENERATOR = "Listing Studio 0.1.0"
_SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
_GENERATIVE_ENGINES = frozenset({"diffusers"})


def digital_source_type(candidate: Candidate | None) -> str:
    """The IPTC digital source type term (short form, e.g. "compositeCapture") for a candidate.

    None means the seller's own photo, exported unchanged. An engine may state the term itself in
    `candidate.params["digital_source_type"]` (it knows best what it did); otherwise the table in the
    module docstring decides from the engine, the model, the plate and the role.
    """
    if candidate is None:
        return "digitalCapture"
    stated = candidate.params.get("digital_source_type")
    if stated is not None:
        if stated not in DIGITAL_SOURCE_TYPES:
            raise BadInput(f"candidate {candidate.id}: unknown IPTC digital source type {stated!r}")
        return stated
    generative = (candidate.engine in _GENERATIVE_ENGINES or bool(candidate.model)
                  or bool(candidate.params.get("generative")))
    if generative:
        # The product is locked (its pixels come from the source cutout) unless the engine says otherwise.
        locked = candidate.params.get("product_locked", candidate.role not in (Role.on_model, Role.model_swap))
        return "compositeWithTrainedAlgorithmicMedia" if locked else "trainedAlgorithmicMedia"
    if candidate.params.get("crop_only"):
        return "digitalCapture"
    if candidate.plate_id and not candidate.params.get("backdrop"):
        return "compositeCapture"
    return "compositeSynthetic"


def source_type_uri(term: str) -> str:
    if term not in DIGITAL_SOURCE_TYPES:
        raise BadInput(f"unknown IPTC digital source type {term!r}")
    return IPTC_BASE + term


def xmp_packet(term: str, *, title: str = "", description: str = "", created: datetime | None = None,
               identifier: str = "") -> bytes:
    """An XMP packet carrying the IPTC digital source type, alt text and the generator."""
    created = created or datetime.now(UTC)
    esc = html.escape
    body = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    Iptc4xmpExt:DigitalSourceType="{esc(source_type_uri(term))}"
    xmp:CreatorTool="{esc(GENERATOR)}"
    xmp:CreateDate="{created.isoformat(timespec='seconds')}"
    photoshop:ColorMode="3"
    dc:identifier="{esc(identifier)}">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{esc(title)}</rdf:li></rdf:Alt></dc:title>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc(description)}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return body.encode("utf-8")


def write_image(image: Image.Image, path: Path, *, xmp: bytes, quality: int = 92) -> bytes:
    """Write a JPEG (RGB, sRGB ICC profile) or PNG with its XMP packet, atomically; return the bytes."""
    suffix = path.suffix.lower()
    buffer = io.BytesIO()
    if suffix in (".jpg", ".jpeg"):
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        rgb.save(buffer, "JPEG", quality=quality, optimize=True, subsampling=0, icc_profile=_SRGB_ICC, xmp=xmp)
    elif suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        image.save(buffer, "PNG", pnginfo=info, icc_profile=_SRGB_ICC)
    else:
        raise BadInput(f"cannot write {path.name}: only .jpg and .png exports are supported")
    data = buffer.getvalue()
    _atomic_write(path, data)
    return data


def read_xmp(path: str | os.PathLike) -> str | None:
    """The XMP packet embedded in a JPEG or PNG we (or anyone) wrote, as text; None when absent."""
    with Image.open(path) as image:
        info = image.info
        raw = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if raw is None:
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def read_digital_source_type(path: str | os.PathLike) -> str | None:
    """The IPTC digital source type term in an image's XMP (short form), or None."""
    packet = read_xmp(path)
    if not packet:
        return None
    match = re.search(r'DigitalSourceType(?:="|>)\s*([^"<\s]+)', packet)
    if not match:
        return None
    return match.group(1).rsplit("/", 1)[-1]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- C2PA ------------------------------------------------------------------------------------------


def c2pa_configured(settings) -> bool:
    return bool(settings.c2pa_cert and settings.c2pa_key)


def c2pa_sign_file(settings, path: Path, *, term: str, title: str, alg: str | None = None) -> dict:
    """Sign one exported image in place with the configured certificate; return a small report.

    The manifest states what we did: a `c2pa.created` action with the IPTC digital source type, and
    the generator. Raises EngineUnavailable when c2pa-python is missing, BadInput for unusable
    certificate files.
    """
    # 1. Check inputs.
    try:
        import c2pa
    except ImportError:
        raise EngineUnavailable(
            "C2PA signing is configured (LISTING_STUDIO_C2PA_CERT/KEY) but c2pa-python is not installed: "
            "pip install c2pa-python, or unset the certificate to export without signing"
        ) from None
    cert_path, key_path = Path(settings.c2pa_cert).expanduser(), Path(settings.c2pa_key).expanduser()
    for what, file in (("c2pa_cert", cert_path), ("c2pa_key", key_path)):
        if not file.is_file():
            raise BadInput(f"{what}={str(file)!r}: no such file; give a PEM file")
    cert, key = cert_path.read_bytes(), key_path.read_bytes()
    alg = alg or _guess_alg(key)

    # 2. The manifest: what was done to the image and by what.
    manifest = {
        "claim_generator_info": [{"name": "listing-studio", "version": "0.1.0"}],
        "title": title or path.name,
        "format": "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png",
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type_uri(term),
                                   "softwareAgent": {"name": GENERATOR}}]}},
        ],
    }

    # 3. Sign into a temp file beside the target, then replace it.
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=alg, sign_cert=cert, private_key=key, ta_url=None))
        with c2pa.Builder(manifest) as builder, signer:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sign-", suffix=path.suffix)
            os.close(fd)
            try:
                builder.sign_file(str(path), tmp, signer)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
    except c2pa.C2paError as exc:
        raise BadInput(f"C2PA signing of {path.name} failed with the configured certificate: {exc}") from None
    return {"signed": True, "alg": alg, "sha256": sha256_file(path)}


def c2pa_read(path: Path) -> dict | None:
    """The active C2PA manifest of a file as a dict, or None when it has none (or c2pa is absent)."""
    try:
        import c2pa
    except ImportError:
        return None
    try:
        with c2pa.Reader(str(path)) as reader:
            return json.loads(reader.json())
    except c2pa.C2paError:
        return None


def _guess_alg(key_pem: bytes) -> str:
    """The signing algorithm that fits the private key (ES256 for P-256, PS256 for RSA, Ed25519)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except Exception:
        raise BadInput("c2pa_key: not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}.get(key.curve.key_size, "es256")
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise BadInput(f"c2pa_key: unsupported key type {type(key).__name__}; use EC P-256, RSA or Ed25519")


# -- files -----------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    _atomic_write(path, (json.dumps(payload, indent=2, default=str) + "\n").encode("utf-8"))
