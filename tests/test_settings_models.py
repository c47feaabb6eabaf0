"""Settings from the environment and flags; the vocabulary's synonyms and validation."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tools.errors import BadInput
from tools.models import (
    Category,
    Channel,
    Consent,
    GalleryPlan,
    Role,
    Shot,
    check_sku,
    normalize_category,
    normalize_channel,
    normalize_role,
)
from tools.settings import ENVIRONMENT, Settings


def test_settings_read_the_environment_then_flags(tmp_path):
    env = {"LISTING_STUDIO_HOME": str(tmp_path / "h"), "LISTING_STUDIO_ENGINE": "diffusers",
           "LISTING_STUDIO_MAX_RERENDERS": "4", "OPENAI_API_KEY": "sk-test"}
    settings = Settings.from_env(env)
    assert settings.home == tmp_path / "h" and settings.engine == "diffusers"
    assert settings.max_rerenders == 4 and settings.llm_api_key == "sk-test"
    assert Settings.from_env(env, engine="studio", home=None).engine == "studio"
    assert Settings.from_env({}).home == Path("~/.listing-studio").expanduser()


def test_settings_refuse_bad_values():
    with pytest.raises(BadInput, match="unknown engine 'gpu'"):
        Settings.from_env({"LISTING_STUDIO_ENGINE": "gpu"})
    with pytest.raises(BadInput, match="LISTING_STUDIO_MAX_RERENDERS='many' is not a number"):
        Settings.from_env({"LISTING_STUDIO_MAX_RERENDERS": "many"})


def test_every_environment_variable_maps_to_a_field_and_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    fields = Settings.__dataclass_fields__
    for var, (name, _) in ENVIRONMENT.items():
        assert name in fields, var
        assert var in readme, f"{var} is not documented in the README"


@pytest.mark.parametrize(("typed", "expected"), [
    ("pendant", Category.necklace), ("Bangle", Category.bracelet), ("earring", Category.earrings),
    ("tee", Category.apparel_top), ("T-Shirt", Category.apparel_top), ("ring", Category.ring),
    ("apparel-top", Category.apparel_top), ("sneakers", Category.shoes),
])
def test_category_synonyms(typed, expected):
    assert normalize_category(typed) is expected


def test_unknown_vocabulary_is_refused_with_the_choices():
    with pytest.raises(BadInput, match="unknown category 'spaceship': use one of ring, necklace"):
        normalize_category("spaceship")
    with pytest.raises(BadInput, match="unknown channel 'myspace'"):
        normalize_channel("myspace")
    assert normalize_channel("Amazon") is Channel.amazon
    assert normalize_role("close-up") is Role.detail


@pytest.mark.parametrize("sku", ["", "a" * 65, "../etc", "sku with space", "sku/1", "ü", "..", "R1\n", "R1\r\n"])
def test_bad_skus_are_refused(sku):
    with pytest.raises(BadInput, match="invalid SKU"):
        check_sku(sku)


def test_good_skus_pass():
    for sku in ("SKU-123", "a.b_c-1", "X" * 64):
        assert check_sku(sku) == sku


def test_plans_are_json_round_trips():
    plan = GalleryPlan(sku="S1", shots=[Shot(role="campaign", slot="campaign", width=1080, height=1920)])
    again = GalleryPlan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.shots[0].aspect == "9:16"


def test_consent_scope():
    today = date(2026, 11, 25)
    consent = Consent(talent_id="t", channels=["etsy", "shopify"], expires=today + timedelta(days=10))
    assert consent.refusal("etsy", today) is None
    assert "not amazon" in consent.refusal("amazon", today)
    assert "expired" in consent.refusal("etsy", today + timedelta(days=11))
    assert "digital twin" in consent.refusal("etsy", today, likeness=True)
