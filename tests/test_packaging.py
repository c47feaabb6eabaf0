"""The package builds quietly (no setuptools deprecation warnings) and ships every package and every
prompt data file, so an installed copy reads the same words as a checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the tracked files")
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def _clean_copy(source: Path) -> Path:
    """The tracked files only: no build/ or egg-info of the checkout leaks in, and none is written there."""
    for name in _tracked():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    return source


def test_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


@pytest.mark.slow
def test_the_wheel_builds_without_warnings_and_ships_the_prompts(tmp_path):
    source = _clean_copy(tmp_path / "src")
    tracked = _tracked()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                            "-w", str(tmp_path / "out"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    log = build.stdout + build.stderr
    warnings = [line for line in log.splitlines() if "Warning" in line or "deprecated" in line.lower()]
    assert warnings == [], "\n".join(warnings)
    [wheel] = (tmp_path / "out").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = [n for n in tracked if n.startswith("prompts/") and not n.endswith(".py")]
    assert data and [n for n in data if n not in shipped] == []
    packages = {str(Path(n).parent) for n in tracked if n.endswith("__init__.py")} - {"benchmarks"}
    assert {p for p in packages if f"{p}/__init__.py" not in shipped} == set()
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in shipped)


@pytest.mark.slow
def test_the_editable_install_is_quiet(tmp_path):
    """The build step of `make install`'s `pip install -e .` (PEP 660 build_editable), every warning shown."""
    source = _clean_copy(tmp_path / "src")
    build = subprocess.run([sys.executable, "-W", "always", "-c",
                            "import setuptools.build_meta as backend; backend.build_editable('out')"],
                           cwd=source, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    # every Python warning, whatever its class ("…/editable_wheel.py:354: InformationOnly: …")
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if re.search(r"\.py:\d+: \w+: ", line)]
    assert warnings == [], build.stderr[-3000:]
    assert list((source / "out").glob("*.whl"))
