"""Shared test fixtures: an offline environment, a fresh home folder per test, demo and real photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test reaches a hub or sends analytics; set before any library reads them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
for var in list(os.environ):
    if var.startswith("LISTING_STUDIO_") or var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        del os.environ[var]

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture
def settings(tmp_path):
    from tools.settings import Settings

    return Settings.from_env({}, home=tmp_path / "home")


@pytest.fixture
def workspace(settings):
    from tools.workspace import Workspace

    ws = Workspace.open(settings)
    yield ws
    ws.close()


@pytest.fixture
def quick(workspace):
    """The workspace with no re-renders: one candidate per shot keeps a batch run short."""
    from tools.workspace import Workspace

    ws = Workspace.open(workspace.settings.with_(max_rerenders=0))
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata, or skip: a user's fresh machine does not have it."""
    if not REALDATA.is_dir():
        pytest.skip(f"real photos not available ({REALDATA} is absent)")
    return REALDATA


@pytest.fixture
def demo_photo(tmp_path) -> Path:
    """A JPEG studio photo of the demo ring, as a seller would upload it."""
    from tools.demo import demo_photo_bytes

    path = tmp_path / "demo-ring.jpg"
    path.write_bytes(demo_photo_bytes("DEMO-RING"))
    return path


# The real hand plate carries a faint stock-photo watermark across the palm (registration refuses it);
# above row 430 (the fingers and the ring's anchor) the photo is clean.
PLATE_CLEAN_ROWS = 430


@pytest.fixture
def real_hand_plate(realdata, tmp_path) -> tuple[Path, Path]:
    """(plate, mask) paths: the real hand plate cropped above its watermark, with its anchor mask."""
    from PIL import Image

    folder = realdata / "model_plates"
    box = (0, 0, Image.open(folder / "ringvton_plate_left.jpg").width, PLATE_CLEAN_ROWS)
    plate, mask = tmp_path / "hand-plate.png", tmp_path / "hand-plate.mask.png"
    Image.open(folder / "ringvton_plate_left.jpg").crop(box).save(plate)
    Image.open(folder / "ringvton_plate_left.mask.png").crop(box).save(mask)
    return plate, mask
