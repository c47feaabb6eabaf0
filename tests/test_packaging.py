"""The package builds quietly (no setuptools deprecation warnings) and ships every package and every
prompt data file, so an installed copy reads the same words as a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


@pytest.mark.slow
def test_the_wheel_builds_without_warnings_and_ships_the_prompts(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know the tracked files")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "src"
    for name in tracked:  # a clean copy: no build/ or egg-info of the checkout leaks in
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
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
