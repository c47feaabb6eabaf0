"""The critique tool end to end: the `check` command (files in, JSON and exit codes out), a stored
candidate critiqued from the catalog, and the optional vision-model check against a fake
OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from PIL import Image

from tools.critique import check_files, critique_candidate, critique_images, verdict
from tools.demo import demo_cutout, demo_photo_bytes
from tools.models import Candidate, Check, Placement
from ui.cli import main


def tight(cutout: Image.Image) -> Image.Image:
    return cutout.crop(cutout.getchannel("A").getbbox())


def packshot(cutout: Image.Image, size: int = 1200, share: float = 0.88, hue: int = 0) -> tuple[Image.Image, Placement]:
    s = share * size / max(cutout.size)
    w, h = round(cutout.width * s), round(cutout.height * s)
    item = cutout.resize((w, h), Image.LANCZOS)
    if hue:
        hsv = np.asarray(item.convert("RGB").convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(int) + round(hue * 256 / 360)) % 256
        rgb = Image.fromarray(hsv, "HSV").convert("RGB")
        rgb.putalpha(item.getchannel("A"))
        item = rgb
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    x, y = (size - w) // 2, (size - h) // 2
    canvas.paste(item, (x, y), item)
    return canvas, Placement(x=x, y=y, width=w, height=h, scale=s)


@pytest.fixture(scope="module")
def ring() -> Image.Image:
    return tight(demo_cutout("DEMO-RING", 700))


def test_check_command_passes_and_fails_with_json(tmp_path, ring, capsys):
    source = tmp_path / "ring.png"
    ring.save(source)
    good, _ = packshot(ring)
    good.save(tmp_path / "good.jpg", quality=92)
    bad, _ = packshot(ring, hue=14)
    bad.save(tmp_path / "bad.jpg", quality=92)

    assert main(["--home", str(tmp_path / "home"), "check", str(source), str(tmp_path / "good.jpg"),
                 "--channel", "amazon", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] == "pass" and 0.5 <= payload["score"] <= 1
    assert {"name", "passed", "value", "limit", "message"} <= set(payload["checks"][0])

    assert main(["--home", str(tmp_path / "home"), "check", str(source), str(tmp_path / "bad.jpg"), "--json"]) == 3
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] == "fail" and payload["score"] < 0.5
    color = next(c for c in payload["checks"] if c["name"] == "color")
    assert not color["passed"] and color["value"] > color["limit"]

    # text output names the failing check in words
    assert main(["--home", str(tmp_path / "home"), "check", str(source), str(tmp_path / "bad.jpg")]) == 3
    assert "FAIL color: the product's color changed" in capsys.readouterr().out


def test_check_command_cuts_out_a_plain_photo_source(tmp_path, capsys):
    from pipelines.matting import cut_out
    from tools.assets import load_image

    (tmp_path / "photo.jpg").write_bytes(demo_photo_bytes("DEMO-RING"))
    # the engine composites the cutout of the same photo; the check must cut it out the same way
    cutout = tight(cut_out(load_image(tmp_path / "photo.jpg").image).rgba)
    candidate, _ = packshot(cutout, share=0.8)
    candidate.save(tmp_path / "cand.png")
    code = main(["check", str(tmp_path / "photo.jpg"), str(tmp_path / "cand.png"), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in payload["checks"] if not c["passed"]]


def test_check_command_bad_input(tmp_path, capsys):
    (tmp_path / "empty.png").write_bytes(b"")
    assert main(["check", str(tmp_path / "empty.png"), str(tmp_path / "empty.png")]) == 2
    assert "empty" in capsys.readouterr().err
    demo = tmp_path / "ring.png"
    demo_cutout("DEMO-RING", 300).save(demo)
    assert main(["check", str(demo), str(demo), "--channel", "myspace"]) == 2
    assert "unknown channel" in capsys.readouterr().err
    assert main(["check", str(demo), str(demo), "--role", "selfie"]) == 2


def test_critique_candidate_reads_the_catalog_and_stores_the_critique(workspace, ring):
    from tools.models import Category, GalleryPlan, Product, Shot

    workspace.catalog.upsert_product(Product(sku="R1", category=Category.ring))
    plan = workspace.catalog.save_plan(GalleryPlan(sku="R1", shots=[
        Shot(id="shot_x", role="packshot", slot="grid", channel="amazon", width=1200, height=1200)]))
    assert plan.shots[0].id == "shot_x"
    source_id = workspace.assets.put_image(ring)
    image, placement = packshot(ring)
    good = Candidate(sku="R1", shot_id="shot_x", role="packshot", asset_id=workspace.assets.put_image(image),
                     source_asset_id=source_id, placement=placement)
    workspace.catalog.add_candidate(good)
    critique = critique_candidate(workspace, good)
    assert critique.verdict == "pass", critique.reasons
    assert workspace.catalog.latest_critique(good.id).verdict == "pass"

    # the engine's record says full size, the image shows the product smaller: caught, not trusted
    small, _ = packshot(ring, share=0.6)
    bad = good.model_copy(update={"id": "cand_small", "asset_id": workspace.assets.put_image(small)})
    workspace.catalog.add_candidate(bad)
    critique = critique_candidate(workspace, bad)
    assert critique.verdict == "fail"
    assert any(c.name == "placement" and not c.passed for c in critique.checks)
    assert workspace.catalog.latest_critique("cand_small").verdict == "fail"


def test_verdict_score_is_consistent():
    passing = [Check(name="color", passed=True, value=1.0, limit=3.0), Check(name="structure", passed=True, value=0.95, limit=0.8)]
    result, score = verdict(passing)
    assert result == "pass" and 0.5 <= score <= 1
    failing = passing + [Check(name="color_extremes", passed=False, value=20.0, limit=10.0)]
    result, score = verdict(failing)
    assert result == "fail" and score < 0.5


# -- the optional vision model, against a fake OpenAI-compatible server ---------------------------------


class _FakeVLM(BaseHTTPRequestHandler):
    replies: list[str] = []
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        content = type(self).replies.pop(0) if type(self).replies else "{}"
        payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content}}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_vlm():
    server = HTTPServer(("127.0.0.1", 0), _FakeVLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeVLM.replies, _FakeVLM.requests = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _FakeVLM
    server.shutdown()


def test_vision_model_check_reports_differences(settings, ring, fake_vlm):
    url, handler = fake_vlm
    vlm_settings = settings.with_(llm_base_url=url, vlm_model="fake-vl", llm_api_key="k", llm_timeout=10.0)
    image, placement = packshot(ring)
    handler.replies = [json.dumps({"same_product": False, "differences": ["the stone is green, not blue"],
                                   "confidence": 0.8})]
    critique = critique_images(vlm_settings, ring, image, "packshot", placement=placement)
    review = next(c for c in critique.checks if c.name == "vlm_review")
    assert not review.passed and "the stone is green" in review.message
    assert critique.verdict == "fail"
    request = handler.requests[0]
    assert request["model"] == "fake-vl"
    parts = request["messages"][1]["content"]
    assert sum(p["type"] == "image_url" for p in parts) == 2
    assert request["response_format"]["type"] == "json_schema"

    handler.replies = [json.dumps({"same_product": True, "differences": [], "confidence": 0.9})]
    critique = critique_images(vlm_settings, ring, image, "packshot", placement=placement)
    assert critique.verdict == "pass"
    assert next(c for c in critique.checks if c.name == "vlm_review").passed


def test_vision_model_off_schema_twice_is_skipped_not_fatal(settings, ring, fake_vlm):
    url, handler = fake_vlm
    vlm_settings = settings.with_(llm_base_url=url, vlm_model="fake-vl", llm_timeout=10.0)
    handler.replies = ["not json at all", json.dumps({"verdict": "looks fine"})]
    image, placement = packshot(ring)
    critique = critique_images(vlm_settings, ring, image, "packshot", placement=placement)
    review = next(c for c in critique.checks if c.name == "vlm_review")
    assert review.passed and "skipped" in review.message
    assert len(handler.requests) == 2  # retried once
    assert critique.verdict == "pass"


def test_no_vision_model_configured_means_no_extra_check(settings, ring):
    image, placement = packshot(ring)
    critique = critique_images(settings, ring, image, "packshot", placement=placement)
    assert all(c.name != "vlm_review" for c in critique.checks)


def test_check_files_api(tmp_path, settings, ring):
    ring.save(tmp_path / "src.png")
    image, _ = packshot(ring)
    image.save(tmp_path / "c.webp")
    critique = check_files(settings, tmp_path / "src.png", tmp_path / "c.webp", role="main", channel="amazon")
    assert critique.verdict == "fail"
    assert [c.name for c in critique.checks if not c.passed] == ["format"]


@pytest.mark.parametrize("side", [1, 2, 3])
def test_a_tiny_candidate_fails_without_a_numpy_warning(tmp_path, capfd, side):
    import warnings

    source, candidate = tmp_path / "ring.png", tmp_path / "tiny.png"
    demo_cutout("DEMO-RING", 300).save(source)
    Image.new("RGB", (side, side), (250, 250, 250)).save(candidate)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a "Mean of empty slice" would raise here
        code = main(["check", str(source), str(candidate)])
    captured = capfd.readouterr()
    assert code == 3 and captured.err == "", captured.err
