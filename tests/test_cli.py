"""The `listing-studio` command's contract: subcommands, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMMANDS = ["ui", "cutout", "gallery", "check", "review", "publish", "missing"]


def run_cli(*args, home=None, check=False):
    argv = [sys.executable, "-m", "ui.cli"]
    if home is not None:
        argv += ["--home", str(home)]
    result = subprocess.run([*argv, *map(str, args)], capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def assert_one_line_error(result, code, pattern):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert pattern in lines[0], lines[0]


def test_help_lists_every_contract_subcommand():
    result = run_cli("--help", check=True)
    for command in COMMANDS:
        assert command in result.stdout


def test_cutout_of_a_non_image_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    result = run_cli("cutout", bad, "-o", tmp_path / "x.png", home=tmp_path / "home")
    assert_one_line_error(result, 2, "not an image")
    assert not (tmp_path / "x.png").exists()


def test_missing_on_an_empty_catalog(tmp_path):
    result = run_cli("--json", "missing", home=tmp_path / "home", check=True)
    assert json.loads(result.stdout) == {"skus": []}


def test_missing_for_an_unknown_sku_is_bad_input(tmp_path):
    assert_one_line_error(run_cli("missing", "NOPE-1", home=tmp_path / "home"), 2, "unknown SKU 'NOPE-1'")


def test_invalid_sku_is_refused(tmp_path):
    assert_one_line_error(run_cli("missing", "../../etc", home=tmp_path / "home"), 2, "invalid SKU")


def test_usage_errors_exit_2_in_one_line(tmp_path):
    assert_one_line_error(run_cli("publish", "SKU-1", home=tmp_path / "home"), 2, "--channel")
    assert_one_line_error(run_cli("frobnicate"), 2, "invalid choice")


def test_a_home_that_is_a_file_is_refused(tmp_path):
    home = tmp_path / "home"
    home.write_text("I am a file")
    assert_one_line_error(run_cli("missing", home=home), 2, "is a file, not a folder")


@pytest.mark.parametrize("flag_first", [True, False])
def test_json_flag_goes_before_or_after_the_command(tmp_path, flag_first):
    args = ["--json", "missing"] if flag_first else ["missing", "--json"]
    result = run_cli(*args, home=tmp_path / "home", check=True)
    assert "skus" in json.loads(result.stdout)


def test_a_sku_with_a_trailing_newline_is_refused_in_one_line(tmp_path):
    result = run_cli("missing", "R1\n", home=tmp_path / "home")
    assert_one_line_error(result, 2, r"invalid SKU 'R1\n'")


@pytest.mark.parametrize("argv", [
    ["plate", "list", "--json", "--home", "{home}"],
    ["plate", "--json", "list", "--home", "{home}"],
    ["missing", "--home", "{home}", "--json"],
    ["--home", "{home}", "review", "NOPE-1", "--json"],
])
def test_global_flags_after_the_subcommand(tmp_path, capsys, argv):
    from ui.cli import main

    home = tmp_path / "home"
    code = main([a.format(home=home) for a in argv])
    captured = capsys.readouterr()
    assert (home / "catalog.sqlite").exists(), "--home after the subcommand was not used"
    if argv[-1] == "--json" and "review" in argv:  # an unknown SKU: refused in one line, JSON flag accepted
        assert code == 2 and "unknown SKU 'NOPE-1'" in captured.err
        return
    assert code == 0, captured.err
    json.loads(captured.out)


def test_plate_add_accepts_json_after_its_arguments(tmp_path, capsys):
    from PIL import Image, ImageDraw

    from ui.cli import main

    home, plate, mask = tmp_path / "home", tmp_path / "hand.png", tmp_path / "hand.mask.png"
    Image.new("RGB", (400, 300), (200, 170, 150)).save(plate)
    anchor = Image.new("L", (400, 300), 0)
    ImageDraw.Draw(anchor).ellipse((180, 130, 220, 170), fill=255)
    anchor.save(mask)
    code = main(["plate", "add", str(plate), "--kind", "hand", "--mask", str(mask), "--json", "--home", str(home)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["kind"] == "hand"
    assert (home / "catalog.sqlite").exists()


def test_cutout_reports_its_check_against_the_photo(tmp_path, realdata):
    """The matting's own confidence cannot see what it lost: `cutout` also checks the cutout against the photo,
    and a cutout with half the product painted away is not reported as verified."""
    from PIL import Image

    photo = realdata / "jewelry_packshot" / "myntra_48570_bracelet.jpg"
    result = run_cli("cutout", photo, "-o", tmp_path / "whole.png", "--json", home=tmp_path / "home", check=True)
    whole = json.loads(result.stdout)["checked"]
    assert whole["level"] == "verified" and whole["reasons"] == []

    width, height = Image.open(photo).size
    remove = Image.new("L", (width, height), 0)
    remove.paste(255, (0, 0, width // 2, height))
    remove.save(tmp_path / "remove.png")
    result = run_cli("cutout", photo, "-o", tmp_path / "half.png", "--remove", tmp_path / "remove.png",
                     home=tmp_path / "home", check=True)
    assert "checked against the photo: failed" in result.stdout
    assert "part of the product may be missing" in result.stdout
    assert "pass it with --keep MASK" in result.stdout


def test_cutout_advice_names_the_stroke_for_the_concern():
    """A filled hole is fixed with --remove, a lost part with --keep; both concerns name both."""
    from tools.verification import grade
    from ui.cli import stroke_advice

    values = {"missing": 0.0, "added": 0.0, "border_noise": 1.0, "border_inliers": 1.0}
    _, filled = grade(values | {"shadow_kept": 0.02}, noun="pendant")
    _, lost = grade(values | {"missing": 0.01}, noun="pendant")
    assert stroke_advice(filled) == "paint the background it kept white in a mask and pass it with --remove MASK"
    assert "--keep MASK" in stroke_advice(lost) and "missing part" in stroke_advice(lost)
    assert "--keep MASK --remove MASK" in stroke_advice(filled + lost)
