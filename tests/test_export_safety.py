"""Seller text in exports: import files a spreadsheet opens as text (no formula runs, the visible text is
kept), and no control characters or terminal escape sequences in titles, alt text, files or metadata."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from publishing_helpers import add_gallery, add_product

from agent.offline.reader import read_brief
from tools.models import Brief, Channel, Product, Role
from tools.publish import publish_pack
from tools.text import spreadsheet_cell, strip_control

HYPERLINK = '=HYPERLINK("http://evil.example/x","click") gold ring'
CONTROL = "\x1b[31mGold\x07 ring\x00 with\x08 sapphire\x1b[0m\u202e"
RAW_CONTROL = ("\x1b", "\x07", "\x00", "\x08", "\u202e")


def _retitle(ws, sku: str, title: str) -> None:
    product = ws.catalog.get_product(sku)
    ws.catalog.upsert_product(product.model_copy(update={"title": title}))


def _rows(path, delimiter=","):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


@pytest.mark.parametrize("text", ["=1+1 gold ring", "+1 gold ring", "-1 gold ring", "@SUM(A1) gold ring",
                                  "\t=1 ring", "\r=1 ring"])
def test_a_cell_starting_with_a_formula_trigger_gets_a_quote_and_keeps_its_text(text):
    assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("Gold ring =1+1") == "Gold ring =1+1"
    assert spreadsheet_cell(3) == 3


def test_control_characters_and_escape_sequences_are_removed_whole():
    assert strip_control(CONTROL) == "Gold ring with sapphire"
    assert strip_control("gold\tring\nwith\r\nsapphire") == "gold ring with sapphire"
    assert strip_control("\x1b]0;title\x07ring") == "ring"
    assert strip_control("Bague dorée ✨ 18 mm") == "Bague dorée ✨ 18 mm"


def test_shopify_csv_cells_cannot_run_as_formulas_and_keep_the_visible_text(workspace, tmp_path):
    add_gallery(workspace, "DEMO-RING", roles=(Role.packshot, Role.detail), channel=Channel.shopify,
                size=(1200, 1200))
    _retitle(workspace, "DEMO-RING", HYPERLINK)
    publish_pack(workspace, "DEMO-RING", "shopify", tmp_path / "shop")
    raw = (tmp_path / "shop" / "shopify_products.csv").read_text(encoding="utf-8")
    rows = _rows(tmp_path / "shop" / "shopify_products.csv")
    assert rows[0]["Title"] == "'" + HYPERLINK  # the quote tells the spreadsheet "text"; the rest is kept
    assert rows[0]["Image Alt Text"] == "'" + HYPERLINK + " on a white background"
    assert rows[1]["Image Alt Text"].startswith("Close-up of the =HYPERLINK(")  # not at the start: as is
    assert all(line.startswith('"') for line in raw.splitlines())  # every cell quoted (OWASP)


def test_google_feed_title_cannot_run_as_a_formula(workspace, tmp_path):
    add_gallery(workspace, "DEMO-RING", roles=(Role.packshot,), channel=Channel.google, size=(1000, 1000))
    _retitle(workspace, "DEMO-RING", "@SUM(A1) gold ring")
    publish_pack(workspace, "DEMO-RING", "google", tmp_path / "g")
    [row] = _rows(tmp_path / "g" / "google_feed.tsv", delimiter="\t")
    assert row["title"] == "'@SUM(A1) gold ring"
    assert row["id"] == "DEMO-RING"


@pytest.mark.parametrize("channel", [Channel.google, Channel.shopify])
def test_ids_and_links_stay_exact_in_the_import_files(tmp_path, channel):
    from tools.publish import _import_file

    product = Product(sku="-R1", category="ring", title="-20% gold ring")
    files = [{"name": "-R1-main.jpg", "role": "packshot", "alt": "-20% gold ring on a white background"}]
    name = _import_file(product, channel, files, tmp_path, None)
    [row] = _rows(tmp_path / name, delimiter="\t" if channel == Channel.google else ",")
    if channel == Channel.google:  # the marketplace matches ids and links as they are
        assert (row["id"], row["image_link"], row["title"]) == ("-R1", "-R1-main.jpg", "'-20% gold ring")
    else:
        assert (row["Image Src"], row["Title"]) == ("-R1-main.jpg", "'-20% gold ring")


def test_a_brief_with_a_formula_keeps_its_whole_text_as_the_title():
    assert read_brief(HYPERLINK).title == HYPERLINK
    assert read_brief("=1+1 gold ring, for Amazon").title == "=1+1 gold ring"


def test_brief_text_stored_into_titles_has_no_control_characters():
    assert read_brief(CONTROL).title == "Gold ring with sapphire"
    assert Brief(title=CONTROL, mood="warm\x07 holiday").model_dump()["mood"] == "warm holiday"
    product = Product(sku="R1", category="ring", title=CONTROL, materials=["gold\x00"])
    assert (product.title, product.materials) == ("Gold ring with sapphire", ["gold"])


@pytest.mark.parametrize("channel", ["shopify", "google"])
def test_exports_carry_no_control_characters_even_from_an_older_catalog_row(workspace, tmp_path, channel):
    add_product(workspace, "DEMO-RING")
    add_gallery(workspace, "DEMO-RING", roles=(Role.packshot,), channel=Channel(channel), size=(1200, 1200))
    # A row written before titles were cleaned: the raw text sits in the catalog's JSON.
    with sqlite3.connect(workspace.home / "catalog.sqlite") as older_version:
        older_version.execute("UPDATE products SET data = json_set(data, '$.title', ?) WHERE sku = ?",
                              (CONTROL, "DEMO-RING"))
    result = publish_pack(workspace, "DEMO-RING", channel, tmp_path / channel)
    written = [tmp_path / channel / f["name"] for f in result["files"]]
    written += [tmp_path / channel / "manifest.json", tmp_path / channel / json.loads(
        (tmp_path / channel / "manifest.json").read_text())["import_file"]]
    for path in written:
        data = path.read_bytes()
        text = data.decode("utf-8", errors="ignore") if path.suffix != ".jpg" else \
            data[data.find(b"<?xpacket"):data.find(b"<?xpacket end")].decode("utf-8")
        assert "Gold ring with sapphire" in text, path.name
        assert not any(c in text for c in RAW_CONTROL), path.name
    assert result["files"][0]["alt"] == "Gold ring with sapphire on a white background"


def test_a_zero_size_in_a_brief_is_no_size_not_a_crash():
    assert read_brief("gold ring 0 mm, 18 mm wide").dimensions.width_mm == 18
    assert read_brief("gold ring 0x0 mm").dimensions.width_mm is None
