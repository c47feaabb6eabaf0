"""A full disk and folders we cannot write: one line that says what happened and what to do, the exit code
of the contract (2 when the user chose the path, 1 for the home's own disk), and nothing stored lost.

The full disk is real where the machine allows it: a few-kB tmpfs mounted in a private mount namespace
(`unshare -rm`); elsewhere those tests skip and the patched-write tests still run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from publishing_helpers import add_gallery

from tools.errors import BadInput, OutOfSpace, storage_problem
from tools.models import Channel, Role
from tools.publish import publish_pack
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_storage_errors_say_what_happened_and_what_to_do(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    full = storage_problem(sqlite3.OperationalError("database or disk is full"), home)
    assert isinstance(full, OutOfSpace) and full.exit_code == 1
    assert str(full) == f"no space left in the home folder {home}: free space and retry; nothing was lost"
    enospc = storage_problem(OSError(errno.ENOSPC, "No space left on device", str(home / "assets" / "x")), home)
    assert isinstance(enospc, OutOfSpace) and "the home folder" in str(enospc)
    outside = storage_problem(PermissionError(errno.EACCES, "Permission denied", "/srv/x.png"), home)
    assert isinstance(outside, BadInput) and outside.exit_code == 2
    assert str(outside) == "cannot use /srv/x.png: permission denied; choose a path you can read and write"
    assert storage_problem(ValueError("not ours"), home) is None


def test_a_full_disk_while_storing_an_image_is_one_line_and_stores_nothing_half(tmp_path, monkeypatch, capsys):
    from PIL import Image, ImageDraw

    home, plate, mask = tmp_path / "home", tmp_path / "hand.png", tmp_path / "hand.mask.png"
    Image.new("RGB", (400, 300), (200, 170, 150)).save(plate)
    anchor = Image.new("L", (400, 300), 0)
    ImageDraw.Draw(anchor).ellipse((180, 130, 220, 170), fill=255)
    anchor.save(mask)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)  # the asset store syncs every image it writes
    code = main(["--home", str(home), "plate", "add", str(plate), "--kind", "hand", "--mask", str(mask)])
    line = _one_line(capsys.readouterr().err)
    assert code == 1
    assert line == f"listing-studio: no space left in the home folder {home}: free space and retry; nothing was lost"
    assert not [p for p in (home / "assets").rglob("*") if p.is_file()], "a partial asset was left behind"
    monkeypatch.undo()
    assert main(["--home", str(home), "--json", "plate", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == {"plates": []}


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_an_unusable_output_folder_is_bad_input(workspace, tmp_path, capsys):
    add_gallery(workspace, roles=(Role.packshot,), size=(1000, 1000))
    home = str(workspace.home)
    assert main(["--home", home, "publish", "DEMO-RING", "--channel", "amazon", "-o", "/proc/pack"]) == 2
    assert _one_line(capsys.readouterr().err) == ("listing-studio: cannot write the pack into /proc/pack: no such "
                                                  "file or directory; choose a folder you can write to")
    photo = tmp_path / "ring.jpg"
    shutil.copy(workspace.assets.path(workspace.catalog.photos("DEMO-RING")[0].asset_id), photo)
    assert main(["cutout", str(photo), "-o", "/proc/ring.png"]) == 2
    assert _one_line(capsys.readouterr().err).startswith("listing-studio: cannot write the cutout into /proc:")


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


needs_small_fs = pytest.mark.skipif(not sys.platform.startswith("linux") or not _can_mount_tmpfs(),
                                    reason="cannot mount a small tmpfs here (needs unshare -rm)")

# Runs inside a private mount namespace where /mnt is a small tmpfs: a home with an approved gallery and
# a published pack, then the disk is filled, then a new gallery and a new publish are tried.
FULL_DISK_SCRIPT = textwrap.dedent("""
    import contextlib, hashlib, io, json, sqlite3, sys
    from pathlib import Path
    sys.path[:0] = [{root!r}, {tests!r}]
    from publishing_helpers import add_gallery, photo_bytes
    from tools.models import Channel, Role
    from tools.publish import publish_pack
    from tools.settings import Settings
    from tools.workspace import Workspace
    from ui.cli import main

    home, pack = Path("/mnt/home"), Path("/mnt/pack")  # two small file systems
    ws = Workspace.open(Settings(home=home))
    approved = [c.id for c in add_gallery(ws, roles=(Role.packshot,), size=(600, 600), channel=Channel.google)]
    publish_pack(ws, "DEMO-RING", "google", pack)
    ws.close()
    Path("/mnt/photo.jpg").write_bytes(photo_bytes("DEMO-EARRINGS"))

    def digests():
        return {{p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pack.iterdir() if p.name != "filler"}}

    def fill(folder):
        with contextlib.suppress(OSError), open(folder / "filler", "wb") as filler:
            while True:
                filler.write(b"x" * 65536)
                filler.flush()
        return folder / "filler"

    def run(argv):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return {{"code": main(argv), "err": err.getvalue()}}

    before = digests()
    filler = fill(Path("/mnt"))
    gallery = run(["--home", str(home), "gallery", "/mnt/photo.jpg", "--sku", "NEW-1", "--category", "earrings"])
    filler.unlink()
    filler = fill(pack)
    publish = run(["--home", str(home), "publish", "DEMO-RING", "--channel", "google", "-o", str(pack)])
    unchanged = before == digests()
    filler.unlink()  # free space, as the message says, then look and retry
    retry = run(["--home", str(home), "publish", "DEMO-RING", "--channel", "google", "-o", str(pack)])
    ws = Workspace.open(Settings(home=home))
    print(json.dumps({{
        "runs": {{"gallery": gallery, "publish": publish}}, "retry": retry["code"], "approved_before": approved,
        "approved_after": [c.id for c in ws.catalog.approved("DEMO-RING")],
        "integrity": sqlite3.connect(home / "catalog.sqlite").execute("PRAGMA integrity_check").fetchone()[0],
        "pack_unchanged": unchanged, "staging_left": [p.name for p in pack.iterdir() if p.name.startswith(".")],
    }}))
""")


@pytest.mark.slow
@needs_small_fs
def test_a_really_full_disk_loses_no_approval_and_no_pack(tmp_path):
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests")))
    mounts = "mount -t tmpfs -o size=4m tmpfs /mnt && mkdir /mnt/pack && mount -t tmpfs -o size=1m tmpfs /mnt/pack"
    result = subprocess.run(["unshare", "-rm", "sh", "-c", f"{mounts} && {sys.executable} {script}"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    gallery, publish = report["runs"]["gallery"], report["runs"]["publish"]
    assert gallery["code"] == 1
    assert _one_line(gallery["err"]) == ("listing-studio: no space left in the home folder /mnt/home: free space "
                                         "and retry; nothing was lost")
    assert publish["code"] == 1
    assert _one_line(publish["err"]) == ("listing-studio: no space left in /mnt/pack: free space and retry; "
                                         "nothing was lost")
    assert report["approved_after"] == report["approved_before"]
    assert report["integrity"] == "ok"
    assert report["pack_unchanged"] and report["staging_left"] == []
    assert report["retry"] == 0


def test_publishing_into_the_home_is_refused(workspace, tmp_path):
    from tools.errors import Refused

    add_gallery(workspace, roles=(Role.packshot,), size=(1000, 1000))
    for inside in (workspace.home, workspace.home / "assets" / "pack", workspace.home / "index"):
        with pytest.raises(Refused, match="where the catalog and images live"):
            publish_pack(workspace, "DEMO-RING", "amazon", inside)
    assert not (workspace.home / "manifest.json").exists()
    assert not (workspace.home / "assets" / "pack").exists()
    assert publish_pack(workspace, "DEMO-RING", "amazon", workspace.exports_dir / "DEMO-RING" / "amazon")["files"]


def test_publishing_again_says_it_replaced_the_earlier_pack(workspace, tmp_path, capsys):
    add_gallery(workspace, roles=(Role.packshot,), size=(1000, 1000), channel=Channel.amazon)
    out = tmp_path / "out"
    assert publish_pack(workspace, "DEMO-RING", "amazon", out)["replaced"] is None
    written = json.loads((out / "manifest.json").read_text())["created_at"]
    home = str(workspace.home)
    assert main(["--home", home, "publish", "DEMO-RING", "--channel", "amazon", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replaced"] == {"created_at": written, "files": 1}
    assert main(["--home", home, "publish", "DEMO-RING", "--channel", "amazon", "-o", str(out)]) == 0
    assert "replaced the earlier amazon pack of DEMO-RING there (written " in capsys.readouterr().out


def test_another_pack_in_the_folder_is_refused_and_left_whole(workspace, tmp_path):
    from tools.errors import Refused

    add_gallery(workspace, roles=(Role.packshot,), size=(1000, 1000), channel=Channel.amazon)
    add_gallery(workspace, "DEMO-EARRINGS", roles=(Role.packshot,), size=(1000, 1000), channel=Channel.amazon)
    out = tmp_path / "out"
    publish_pack(workspace, "DEMO-RING", "amazon", out)
    before = sorted(p.name for p in out.iterdir())
    for sku, channel in (("DEMO-EARRINGS", "amazon"), ("DEMO-RING", "etsy")):
        with pytest.raises(Refused, match="already holds the DEMO-RING pack for amazon"):
            publish_pack(workspace, sku, channel, out)
    assert sorted(p.name for p in out.iterdir()) == before == ["DEMO-RING.MAIN.jpg", "manifest.json"]
