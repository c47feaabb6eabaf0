"""The real hand plate for benchmarks, cropped above the faint stock-photo watermark across its palm
(plate registration refuses the whole photo for it); the fingers and the ring's anchor lie above row 430."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
CLEAN_ROWS = 430


def clean_hand_plate(folder: Path) -> tuple[Path, Path]:
    """Write the cropped plate and its mask into `folder`; returns (plate, mask) paths."""
    source = REALDATA / "model_plates"
    image = Image.open(source / "ringvton_plate_left.jpg")
    box = (0, 0, image.width, CLEAN_ROWS)
    plate, mask = Path(folder) / "hand-plate.png", Path(folder) / "hand-plate.mask.png"
    image.crop(box).save(plate)
    Image.open(source / "ringvton_plate_left.mask.png").crop(box).save(mask)
    return plate, mask
