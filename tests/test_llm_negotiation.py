"""Structured-output negotiation against the three server families of tests/fake_openai.py (strict
json_schema like OpenAI / vLLM / Ollama; json_object + schema only like llama-cpp-python; plain text only):
the brief, the reply phrasing and the vision-model check all get an answer from each, max_tokens is always
sent, what an endpoint supports is remembered, the server's reason reaches the notice, and the model's
reading passes the same validation as the offline reader's."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from agent.llm import BriefReader
from tests.fake_openai import FakeOpenAI, full_brief
from tools.llm_client import known_mode
from tools.settings import Settings


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _settings(tmp_path, server, **extra) -> Settings:
    return Settings.from_env({}, home=tmp_path / "home", llm_base_url=server.base_url, llm_model="fake-model",
                             llm_api_key="test-key", llm_timeout=5.0, **extra)


FIRST_MODE = {"strict": "json_schema", "json_object": "json_object", "plain": "plain"}


@pytest.mark.parametrize("family", FakeOpenAI.FAMILIES)
def test_every_family_reads_the_brief_and_the_mode_is_remembered(tmp_path, family):
    reply = full_brief(category="ring", channels=["etsy"], mood="warm")
    with FakeOpenAI([reply], family=family) as server:
        reader = BriefReader(_settings(tmp_path, server))
        first = reader.read("a gold ring for etsy, warm")
        asked = len(server.requests)
        second = reader.read("a silver ring for etsy, warm")
        kinds = [(r["body"].get("response_format") or {}).get("type") for r in server.requests]
    assert first.source == second.source == "llm"
    assert first.brief.category.value == "ring" and [c.value for c in first.brief.channels] == ["etsy"]
    assert known_mode(server.base_url, "fake-model") == FIRST_MODE[family]
    # a refused mode is tried once per process, then the remembered one directly
    assert len(server.requests) == asked + 1
    expected_kinds = {"strict": ["json_schema"], "json_object": ["json_schema", "json_object"],
                      "plain": ["json_schema", "json_object", None]}[family]
    assert kinds[:asked] == expected_kinds and kinds[asked] == expected_kinds[-1]
    assert all(isinstance(r["body"].get("max_tokens"), int) and r["body"]["max_tokens"] > 0 for r in server.requests)
    if family != "strict":
        assert first.notices and "does not support JSON schemas" in first.notices[0]
        assert ("json_object" in first.notices[0]) == (family == "json_object")  # the server's own reason
        assert second.notices == []


def test_json_object_mode_sends_the_schema_in_the_request_and_the_prompt(tmp_path):
    with FakeOpenAI([full_brief(category="necklace")], family="json_object") as server:
        BriefReader(_settings(tmp_path, server)).read("silver pendant")
    body = server.requests[-1]["body"]
    assert body["response_format"]["type"] == "json_object"
    assert "category" in body["response_format"]["schema"]["properties"]
    assert "JSON schema" in body["messages"][-1]["content"] and '"category"' in body["messages"][-1]["content"]


def test_plain_replies_with_words_around_the_json_are_read_and_validated(tmp_path):
    text = "Sure! Here is the brief:\n```json\n" + json.dumps({"category": "earrings", "mood": "cosy",
                                                               "extra_key": "ignored"}) + "\n```"
    with FakeOpenAI([("text", text)], family="plain") as server:
        result = BriefReader(_settings(tmp_path, server)).read("gold hoops, cosy")
    assert result.source == "llm" and result.brief.category.value == "earrings" and result.brief.mood == "cosy"


def test_max_tokens_is_configurable(tmp_path):
    with FakeOpenAI([full_brief(category="ring")]) as server:
        BriefReader(_settings(tmp_path, server, llm_max_tokens=123)).read("ring")
    assert server.requests[0]["body"]["max_tokens"] == 123


def test_a_reply_cut_off_at_max_tokens_is_retried_then_falls_back_with_the_reason(tmp_path):
    with FakeOpenAI([("length", {"category": "ring"})]) as server:
        result = BriefReader(_settings(tmp_path, server)).read("gold ring for amazon")
    assert len(server.requests) == 2 and result.source == "offline"
    assert "max_tokens" in result.notices[0] and "offline reader" in result.notices[0]


def test_an_http_error_notice_carries_the_servers_reason(tmp_path):
    with FakeOpenAI(["http500"]) as server:
        result = BriefReader(_settings(tmp_path, server)).read("gold ring for amazon")
    assert result.source == "offline" and "HTTP 500: boom" in result.notices[0]
    assert known_mode(server.base_url, "fake-model") == "json_schema"  # a plain 500 is not a refusal of the format


def test_the_models_reading_passes_the_offline_readers_validation(tmp_path):
    reply = full_brief(sku="bad sku/..", category="ring", aspect_ratios=["9:16", "tall"], roles=["detail"],
                       exclude_roles=["detail"], title="x" * 500)
    with FakeOpenAI([reply], family="json_object") as server:
        result = BriefReader(_settings(tmp_path, server)).read("ring")
    brief = result.brief
    assert brief.sku is None and brief.aspect_ratios == ["9:16"] and brief.roles == [] and len(brief.title) == 120
    assert any("invalid SKU" in n for n in result.notices) and any("aspect ratio" in n for n in result.notices)


@pytest.mark.parametrize("family", FakeOpenAI.FAMILIES)
def test_the_vision_model_check_negotiates_the_same_way(tmp_path, family):
    from tools.critique import vlm_check
    from tools.models import Role

    source = Image.new("RGB", (64, 64), "white")
    candidate = Image.new("RGB", (64, 64), "white")
    verdict = {"same_product": False, "differences": ["the stone is green, not blue"], "confidence": 0.9}
    with FakeOpenAI([verdict], family=family) as server:
        settings = _settings(tmp_path, server, vlm_model="fake-vlm")
        check = vlm_check(settings, source, candidate, Role.lifestyle, "ring")
    assert check.name == "vlm_review" and not check.passed and "green" in check.message
    assert known_mode(server.base_url, "fake-vlm") == FIRST_MODE[family]
    assert all(r["body"]["max_tokens"] == 300 for r in server.requests)


def test_the_vision_model_check_is_skipped_with_the_reason_when_nothing_fits(tmp_path):
    from tools.critique import vlm_check
    from tools.models import Role

    image = Image.new("RGB", (32, 32), "white")
    with FakeOpenAI(["malformed"], family="plain") as server:
        check = vlm_check(_settings(tmp_path, server, vlm_model="fake-vlm"), image, image, Role.packshot)
    assert check.passed and "skipped" in check.message and "did not fit" in check.message


def test_reply_phrasing_sends_max_tokens(tmp_path):
    with FakeOpenAI([("text", "RING-1: 3 candidates are ready.")], family="plain") as server:
        text = BriefReader(_settings(tmp_path, server)).phrase("RING-1: 3 candidates are ready.")
    assert text == "RING-1: 3 candidates are ready."
    assert server.requests[0]["body"]["max_tokens"] == 400 and "response_format" not in server.requests[0]["body"]
