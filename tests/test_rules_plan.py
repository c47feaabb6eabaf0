"""The page map and channel specs: which shots a category gets, what the main image may show, try-on only
with a consented plate, apparel on-model honesty, campaign aspects, and the fields other tools read."""

from __future__ import annotations

import pytest

from tools.errors import BadInput
from tools.models import (
    Anchor,
    Brief,
    Category,
    Channel,
    Dimensions,
    Plate,
    Product,
    Role,
    Slot,
)
from tools.rules import CHANNEL_SPECS, plan_gallery


def _product(category: Category, sku: str = "SKU-1") -> Product:
    return Product(sku=sku, category=category, dimensions=Dimensions(width_mm=21))


def _plate(plate_id: str = "hand-1", kind: str = "hand") -> Plate:
    anchor = Anchor(kind="ring", center=(100, 100), points=[(80, 100), (120, 100)], angle=0, span_px=40)
    return Plate(id=plate_id, asset_id="0" * 64, kind=kind, anchor=anchor, mm_per_px=0.4, talent_id="t1")


def test_amazon_ring_main_is_the_product_alone_on_pure_white():
    plan = plan_gallery(_product(Category.ring), Brief(), [Channel.amazon], plates=[_plate()], consents={})
    main = plan.shots[0]
    assert main.role is Role.packshot and main.slot is Slot.grid and main.channel is Channel.amazon
    assert main.options["background"] == "white" and main.options["shadow"] is False
    assert 0.85 <= main.options["fill"] <= 0.9
    assert (main.width, main.height) == (2000, 2000)
    roles = [s.role for s in plan.shots]
    assert roles == [Role.packshot, Role.try_on, Role.detail, Role.lifestyle, Role.campaign]
    try_on = plan.shots[1]
    assert try_on.slot is Slot.gallery_2 and try_on.options["plate_id"] == "hand-1"
    assert any("no model" in n for n in plan.notes)


@pytest.mark.parametrize("category,kind,photo", [(Category.necklace, "neck", "a neckline"),
                                                 (Category.earrings, "ear", "an ear"),
                                                 (Category.bracelet, "wrist", "a wrist"),
                                                 (Category.ring, "hand", "a hand")])
def test_without_a_plate_the_plan_says_which_photo_enables_a_try_on(category, kind, photo):
    plan = plan_gallery(_product(category), Brief(), [Channel.etsy], plates=[], consents={})
    assert Role.try_on not in [s.role for s in plan.shots]
    (gap,) = plan.not_planned
    assert gap.role is Role.try_on and gap.slot is Slot.gallery_2 and gap.needs == f"plate:{kind}"
    assert f"a photo of {photo}" in gap.reason and "on Etsy" in gap.reason  # the channel as sellers write it
    # the seller's words: no command line, flag or id
    assert any(gap.reason in n for n in plan.notes)
    assert not any(word in n for n in plan.notes for word in ("listing-studio", "--", "plate add"))


def test_try_on_is_skipped_when_the_only_plate_lacks_consent():
    plan = plan_gallery(_product(Category.ring), Brief(), [Channel.amazon], plates=[_plate()],
                        consents={"hand-1": "consent of talent t1 covers etsy, not amazon"})
    assert Role.try_on not in [s.role for s in plan.shots]
    assert "agreed to its use on Amazon" in plan.not_planned[0].reason


def test_an_asked_try_on_without_a_usable_plate_is_not_planned_twice():
    plan = plan_gallery(_product(Category.ring), Brief(roles=[Role.try_on]), [Channel.etsy], plates=[], consents={})
    assert Role.try_on not in [s.role for s in plan.shots]
    assert [g.role for g in plan.not_planned] == [Role.try_on]


def test_try_on_is_planned_with_a_note_when_plates_are_unknown():
    plan = plan_gallery(_product(Category.ring), Brief(), [Channel.amazon])
    shot = next(s for s in plan.shots if s.role is Role.try_on)
    assert shot.options == {"plate_kind": "hand"}
    assert any("needs a registered hand plate" in n for n in plan.notes)


def test_apparel_on_model_needs_a_diffusion_model_and_no_stand_in_is_planned():
    plan = plan_gallery(_product(Category.apparel_top), Brief(roles=[Role.model_swap]), [Channel.zalando])
    roles = [s.role for s in plan.shots]
    assert Role.on_model not in roles and Role.model_swap not in roles and roles[0] is Role.packshot
    gaps = {g.role: g for g in plan.not_planned}
    assert set(gaps) == {Role.on_model, Role.model_swap}
    assert all(g.needs == "diffusion_model" and "needs a diffusion model: see README" in g.reason for g in gaps.values())
    assert any("needs a diffusion model" in n for n in plan.notes)


def test_apparel_goes_on_model_when_a_diffusion_model_can_render_it():
    plan = plan_gallery(_product(Category.apparel_top), Brief(), [Channel.zalando], diffusion=True)
    on_model = next(s for s in plan.shots if s.role is Role.on_model)
    assert on_model.slot is Slot.gallery_2 and (on_model.width, on_model.height) == (1801, 2600)
    assert not plan.not_planned and plan.shots[0].role is Role.packshot


def test_other_categories_get_a_second_scene_instead_of_try_on():
    plan = plan_gallery(_product(Category.shoes), Brief(), [Channel.shopify])
    roles = [s.role for s in plan.shots]
    assert Role.try_on not in roles and roles.count(Role.lifestyle) == 2
    assert plan.shots[0].width == 2048


def test_campaign_brief_gets_every_aspect_and_mood_picks_the_surface():
    brief = Brief(use_case="campaign", mood="warm holiday", campaign_count=3)
    plan = plan_gallery(_product(Category.necklace), brief, [Channel.shopify])
    campaign = [s for s in plan.shots if s.role is Role.campaign]
    assert [s.options["aspect"] for s in campaign] == ["1:1", "4:5", "9:16", "16:9", "1.91:1"]
    assert all(s.count == 3 for s in campaign)
    assert (campaign[2].width, campaign[2].height) == (1080, 1920)
    hero = next(s for s in plan.shots if s.slot is Slot.hero)
    assert hero.options["surface"] == "marble" and hero.mood == "warm holiday"


def test_brief_aspects_exclusions_and_counts():
    brief = Brief(aspect_ratios=["9:16", "3:7"], exclude_roles=[Role.detail], count=3)
    plan = plan_gallery(_product(Category.bag), brief, ["amazon"])
    assert [s.options["aspect"] for s in plan.shots if s.role is Role.campaign] == ["9:16"]
    assert Role.detail not in [s.role for s in plan.shots]
    assert any("3:7" in n for n in plan.notes) and any("declined" in n for n in plan.notes)
    assert all(s.count == 3 for s in plan.shots)


def test_default_channel_and_bad_channel():
    plan = plan_gallery(_product(Category.watch), Brief(), [])
    assert plan.shots[0].channel is Channel.amazon
    with pytest.raises(BadInput, match="unknown channel"):
        plan_gallery(_product(Category.watch), Brief(), ["myspace"])


def test_channel_specs_cover_every_channel_with_the_fields_publish_and_critique_read():
    assert set(CHANNEL_SPECS) == set(Channel)
    amazon = CHANNEL_SPECS[Channel.amazon]
    assert amazon.main_pure_white and amazon.main_white and amazon.main_share == 0.85
    assert amazon.main_no_model_jewelry and not amazon.main_shadow_allowed and amazon.min_long_side == 1000
    for spec in CHANNEL_SPECS.values():
        assert spec.width > 0 and spec.height > 0 and spec.min_long_side <= max(spec.width, spec.height)
        assert spec.max_long_side > spec.min_long_side and spec.formats
    assert CHANNEL_SPECS[Channel.etsy].thumbnail_aspect == "4:3"
