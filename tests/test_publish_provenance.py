"""Provenance: the IPTC digital source type per engine and role, XMP in JPEG and PNG, C2PA signing."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms
from publishing_helpers import certificate_chain

from tools import provenance
from tools.errors import BadInput
from tools.models import Candidate, Role
from tools.settings import Settings

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def candidate(role=Role.packshot, engine="studio", **extra) -> Candidate:
    return Candidate(sku="S-1", shot_id="shot_1", role=role, asset_id="a" * 64, source_asset_id="b" * 64,
                     engine=engine, **extra)


@pytest.mark.parametrize(("made", "term"), [
    (None, "digitalCapture"),
    (candidate(Role.packshot), "compositeSynthetic"),
    (candidate(Role.detail, params={"crop_only": True}), "digitalCapture"),
    (candidate(Role.try_on, plate_id="hand-1", talent_id="T"), "compositeCapture"),
    (candidate(Role.lifestyle), "compositeSynthetic"),
    (candidate(Role.lifestyle, engine="diffusers", model="sd-1.5"), "compositeWithTrainedAlgorithmicMedia"),
    (candidate(Role.try_on, engine="diffusers", plate_id="hand-1"), "compositeWithTrainedAlgorithmicMedia"),
    (candidate(Role.on_model, engine="diffusers"), "trainedAlgorithmicMedia"),
    (candidate(Role.on_model, engine="diffusers", params={"product_locked": True}), "compositeWithTrainedAlgorithmicMedia"),
    (candidate(Role.campaign, params={"digital_source_type": "compositeCapture"}), "compositeCapture"),
])
def test_the_iptc_term_follows_how_the_image_was_made(made, term):
    assert provenance.digital_source_type(made) == term


def test_an_unknown_stated_term_is_refused():
    with pytest.raises(BadInput, match="unknown IPTC digital source type 'aiGenerated'"):
        provenance.digital_source_type(candidate(params={"digital_source_type": "aiGenerated"}))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_xmp_with_the_source_type_is_embedded_and_read_back(tmp_path, suffix):
    path = tmp_path / f"image{suffix}"
    xmp = provenance.xmp_packet("trainedAlgorithmicMedia", title="Gold ring", description='Gold ring & "sapphire"')
    data = provenance.write_image(Image.new("RGB", (64, 48), (200, 30, 30)), path, xmp=xmp)
    assert path.read_bytes() == data
    packet = provenance.read_xmp(path)
    assert f'DigitalSourceType="{IPTC}trainedAlgorithmicMedia"' in packet
    assert "Gold ring &amp; &quot;sapphire&quot;" in packet
    assert provenance.read_digital_source_type(path) == "trainedAlgorithmicMedia"
    with Image.open(path) as image:
        assert image.size == (64, 48)
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)  # colour-managed readers see sRGB


def test_an_image_without_xmp_has_no_source_type(tmp_path):
    path = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(path)
    assert provenance.read_digital_source_type(path) is None


@pytest.fixture
def c2pa_settings(tmp_path):
    pytest.importorskip("c2pa", reason="c2pa-python is not installed")
    cert, key = certificate_chain(tmp_path)
    return Settings(home=tmp_path / "home", c2pa_cert=str(cert), c2pa_key=str(key))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_c2pa_signing_with_a_certificate_made_here(tmp_path, c2pa_settings, suffix):
    path = tmp_path / f"signed{suffix}"
    term = "compositeWithTrainedAlgorithmicMedia"
    provenance.write_image(Image.new("RGB", (96, 64), (240, 240, 240)), path, xmp=provenance.xmp_packet(term))
    unsigned = path.read_bytes()
    report = provenance.c2pa_sign_file(c2pa_settings, path, term=term, title="Gold ring on a hand")
    assert report["signed"] and report["alg"] == "es256"
    assert path.read_bytes() != unsigned
    store = provenance.c2pa_read(path)
    assert store is not None, "the signed file carries no C2PA manifest"
    manifest = store["manifests"][store["active_manifest"]]
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == IPTC + term
    # The signature verifies; only the trust anchor (our test CA) is unknown to the reader.
    codes = {s["code"] for s in store.get("validation_status", [])}
    assert codes <= {"signingCredential.untrusted"}, codes
    assert provenance.read_digital_source_type(path) == term  # the XMP survives signing
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        assert image.size == (96, 64)


def test_c2pa_refuses_a_self_signed_end_entity_certificate_clearly(tmp_path):
    pytest.importorskip("c2pa", reason="c2pa-python is not installed")
    cert, key = certificate_chain(tmp_path, self_signed=True)
    settings = Settings(home=tmp_path / "home", c2pa_cert=str(cert), c2pa_key=str(key))
    path = tmp_path / "x.jpg"
    provenance.write_image(Image.new("RGB", (32, 32)), path, xmp=provenance.xmp_packet("compositeSynthetic"))
    before = path.read_bytes()
    with pytest.raises(BadInput, match="C2PA signing of x.jpg failed"):
        provenance.c2pa_sign_file(settings, path, term="compositeSynthetic", title="x")
    assert path.read_bytes() == before  # nothing half-signed left behind


def test_c2pa_names_a_missing_certificate_file(tmp_path):
    settings = Settings(home=tmp_path / "home", c2pa_cert=str(tmp_path / "nope.pem"), c2pa_key=str(tmp_path / "k"))
    path = tmp_path / "x.jpg"
    provenance.write_image(Image.new("RGB", (8, 8)), path, xmp=provenance.xmp_packet("compositeSynthetic"))
    with pytest.raises(BadInput, match="c2pa_cert=.*nope.pem.*no such file"):
        provenance.c2pa_sign_file(settings, path, term="compositeSynthetic", title="x")
