"""Batch input: the catalog CSV (photo paths relative to it, separators, dimensions) and its refusals."""

from __future__ import annotations

import pytest
from publishing_helpers import photo_bytes

from tools.batch import parse_dimensions, read_catalog_csv, run_batch
from tools.errors import BadInput
from tools.models import Category, Channel


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    ("21x24 mm", {"width_mm": 21, "height_mm": 24}),
    ("21 x 24 x 3mm", {"width_mm": 21, "height_mm": 24, "depth_mm": 3}),
    ("2.1×2.4 cm", {"width_mm": 21, "height_mm": 24}),
    ("1 x 2 in", {"width_mm": 25.4, "height_mm": 50.8}),
    ("52", {"width_mm": 52}),
    ("width=21; height=24; inner_diameter=17.3", {"width_mm": 21, "height_mm": 24, "inner_diameter_mm": 17.3}),
])
def test_dimensions(text, expected):
    got = parse_dimensions(text).model_dump(exclude_none=True)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(("text", "message"), [
    ("big", "write them like '21x24 mm'"),
    ("0x10 mm", "sizes must be positive"),
    ("colour=red", "unknown key 'colour'"),
    ("width=wide", "'wide' is not a number"),
])
def test_bad_dimensions_are_refused_with_the_value(text, message):
    with pytest.raises(BadInput, match=message):
        parse_dimensions(text)


def test_rows_are_read_relative_to_the_csv_and_bad_rows_fail_alone(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("ring-front.jpg", "ring-side.jpg", "hoops.jpg"):
        (photos / name).write_bytes(photo_bytes("DEMO-RING", 200))
    csv_path = tmp_path / "catalog.csv"
    csv_path.write_text(
        "SKU,Photos,Category,Brief,Channels,Dimensions\n"
        "RING-1,photos/ring-front.jpg; photos/ring-side.jpg,rings,\"gold ring, warm mood\",amazon|etsy,21x24 mm\n"
        "HOOP-1,photos/hoops.jpg,hoops,,Google Shopping,\n"
        "\n"
        "../evil,photos/hoops.jpg,ring,,amazon,\n"
        "RING-2,photos/missing.jpg,ring,,amazon,\n"
        "RING-3,photos/hoops.jpg,spaceship,,amazon,\n"
        "RING-4,photos/hoops.jpg,ring,,myspace,\n"
        "RING-5,photos/hoops.jpg,ring,,amazon,huge\n"
        "RING-1,photos/hoops.jpg,ring,,amazon,\n"
        "RING-6,,ring,,amazon,\n",
        encoding="utf-8",
    )
    rows, failed = read_catalog_csv(csv_path)
    assert [r.sku for r in rows] == ["RING-1", "HOOP-1"]
    ring, hoop = rows
    assert ring.photos == [photos / "ring-front.jpg", photos / "ring-side.jpg"]
    assert ring.category == "ring" and ring.brief.channels == [Channel.amazon, Channel.etsy]
    assert ring.brief.dimensions.width_mm == 21 and ring.brief.notes == "gold ring, warm mood"
    assert hoop.category == "earrings" and hoop.brief.channels == [Channel.google]
    reasons = {f["line"]: f["reason"] for f in failed}
    assert "invalid SKU '../evil'" in reasons[5]
    assert "missing.jpg" in reasons[6] and "relative to the CSV" in reasons[6]
    assert "unknown category 'spaceship'" in reasons[7]
    assert "unknown channel 'myspace'" in reasons[8]
    assert "dimensions 'huge'" in reasons[9]
    assert "SKU RING-1 appears again (first on line 2)" in reasons[10]
    assert "no photos" in reasons[11]
    # The key that decides whether a stored plan is reused follows the inputs.
    again, _ = read_catalog_csv(csv_path)
    assert [r.key for r in again] == [r.key for r in rows]


def test_an_explicit_brief_reader_is_used_and_csv_columns_win(tmp_path):
    from tools.models import Brief

    (tmp_path / "a.jpg").write_bytes(photo_bytes("DEMO-RING", 200))
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("sku,photos,category,brief,channels,dimensions\nR-1,a.jpg,ring,sapphire ring cosy,etsy,5x6 mm\n")
    seen = {}

    def reader(text, *, sku, category, channels):
        seen.update(text=text, sku=sku, category=category, channels=channels)
        return Brief(sku=sku, category=Category.ring, mood="cosy", channels=[Channel.etsy])

    [row], failed = read_catalog_csv(csv_path, reader)
    assert not failed and seen == {"text": "sapphire ring cosy", "sku": "R-1", "category": "ring", "channels": ["etsy"]}
    assert row.brief.mood == "cosy" and row.brief.dimensions.width_mm == 5


def test_a_csv_without_the_required_columns_is_refused(tmp_path, workspace):
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("name,image\nx,y.jpg\n")
    with pytest.raises(BadInput, match="missing column\\(s\\) sku, photos"):
        run_batch(workspace, csv_path)
    with pytest.raises(BadInput, match="does not exist"):
        run_batch(workspace, tmp_path / "nope.csv")
    with pytest.raises(BadInput, match="workers=0"):
        run_batch(workspace, csv_path, workers=0)


def test_batch_on_the_command_line_reports_failed_rows_with_exit_code_1(tmp_path, capsys):
    from ui.cli import main

    csv_path = tmp_path / "c.csv"
    csv_path.write_text("sku,photos,category\nR-1,missing.jpg,ring\n")
    assert main(["--home", str(tmp_path / "home"), "batch", str(csv_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("done 0, failed 1, needs review 0")
    assert "failed R-1 (line 2): photo" in out and "missing.jpg' does not exist" in out


def test_an_oversized_field_fails_its_row_alone(tmp_path):
    """A 1 MB brief is beyond the csv module's own field limit (128 KiB), which used to stop the file."""
    (tmp_path / "a.jpg").write_bytes(photo_bytes("DEMO-RING", 200))
    lines = [f"R-{i},a.jpg,ring,gold ring,etsy,\n" for i in range(1, 14)]
    lines.insert(6, "BIG-1,a.jpg,ring,\"" + "gold " * 210_000 + "\",etsy,\n")
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("sku,photos,category,brief,channels,dimensions\n" + "".join(lines))
    rows, failed = read_catalog_csv(csv_path)
    assert len(rows) == 13 and "BIG-1" not in [r.sku for r in rows]
    [big] = failed
    assert big["sku"] == "BIG-1" and big["line"] == 8
    assert big["reason"] == "the brief field is 1,049,999 characters long; the limit is 10,000 (a brief is a few sentences)"
    import csv

    assert csv.field_size_limit() == 131072  # the module's limit is restored for everyone else


def test_a_sku_with_a_line_break_or_spaces_around_it_is_refused_not_trimmed(tmp_path):
    (tmp_path / "a.jpg").write_bytes(photo_bytes("DEMO-RING", 200))
    csv_path = tmp_path / "c.csv"
    csv_path.write_text('sku,photos,category\n"R1\n",a.jpg,ring\n R2,a.jpg,ring\nR3,a.jpg,ring\n')
    rows, failed = read_catalog_csv(csv_path)
    assert [r.sku for r in rows] == ["R3"]
    assert [f["sku"] for f in failed] == ["R1", "R2"]
    assert "line break" in failed[0]["reason"] and "\n" not in failed[0]["reason"]


def test_photo_paths_stay_inside_the_catalogs_folder_unless_a_root_is_named(tmp_path):
    inside, outside = tmp_path / "catalog", tmp_path / "elsewhere"
    (inside / "photos").mkdir(parents=True)
    outside.mkdir()
    (inside / "photos" / "a.jpg").write_bytes(photo_bytes("DEMO-RING", 200))
    (outside / "b.jpg").write_bytes(photo_bytes("DEMO-RING", 200))
    (inside / "photos" / "link.jpg").symlink_to(outside / "b.jpg")
    csv_path = inside / "c.csv"
    csv_path.write_text(
        "sku,photos,category\n"
        "OK-1,photos/a.jpg,ring\n"
        f"OK-2,{inside / 'photos' / 'a.jpg'},ring\n"
        "UP-1,../elsewhere/b.jpg,ring\n"
        f"ABS-1,{outside / 'b.jpg'},ring\n"
        "ETC-1,/etc/passwd,ring\n"
        "LINK-1,photos/link.jpg,ring\n"
    )
    rows, failed = read_catalog_csv(csv_path)
    assert [r.sku for r in rows] == ["OK-1", "OK-2"]
    reasons = {f["sku"]: f["reason"] for f in failed}
    assert set(reasons) == {"UP-1", "ABS-1", "ETC-1", "LINK-1"}
    assert reasons["UP-1"] == (f"photo '../elsewhere/b.jpg' is outside {inside}; keep the photos in the catalog's "
                               "folder or name their folder with --photos-root")
    assert all("\n" not in r and "is outside" in r for r in reasons.values())
    # Naming the other folder lets its photos in, and then the CSV's own folder is outside.
    rows, failed = read_catalog_csv(csv_path, photos_root=outside)
    assert [r.sku for r in rows] == ["UP-1", "ABS-1", "LINK-1"]
    assert {f["sku"] for f in failed} == {"OK-1", "OK-2", "ETC-1"}
    with pytest.raises(BadInput, match="is not a folder"):
        read_catalog_csv(csv_path, photos_root=tmp_path / "nope")


def test_the_command_line_refuses_an_outside_photo_with_one_line_naming_the_row(tmp_path, capsys):
    from ui.cli import main

    (tmp_path / "in").mkdir()
    csv_path = tmp_path / "in" / "c.csv"
    csv_path.write_text("sku,photos,category\nR-1,../x.jpg,ring\nR-2,/etc/hostname,ring\n")
    assert main(["--home", str(tmp_path / "home"), "batch", str(csv_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("done 0, failed 2")
    assert lines[1] == (f"  failed R-1 (line 2): photo '../x.jpg' is outside {tmp_path / 'in'}; keep the photos in "
                        "the catalog's folder or name their folder with --photos-root")
    assert lines[2].startswith("  failed R-2 (line 3): photo '/etc/hostname' is outside")
    assert main(["--home", str(tmp_path / "home"), "batch", str(csv_path), "--photos-root", str(tmp_path / "no")]) == 2
