"""Ring sizes and band widths: the size tables (tools/ring_sizes.csv: US/Canada quarter sizes, UK/Australia
letters with half sizes such as "L½"; EU/ISO sizes are the inner circumference in mm) and small parsers
for the words a seller writes ("US size 10", "size L½", "8 mm band width"). The brief reader may call
these to fill `Dimensions.inner_diameter_mm` and `Dimensions.band_width_mm`; the try-on reads them.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tools.errors import BadInput
from tools.models import Category, Dimensions

SIZES_FILE = Path(__file__).with_name("ring_sizes.csv")
# A band's metal thickness (radial) when the seller does not say it: a typical comfort-fit band.
TYPICAL_BAND_THICKNESS_MM = 1.6
_HALF = re.compile(r"\s*(?:½|1/2|\.5|,5|-half| and a half)$")


@lru_cache(maxsize=1)
def size_table() -> dict[tuple[str, str], float]:
    """{(system, size label): inner diameter mm} from tools/ring_sizes.csv."""
    with SIZES_FILE.open(encoding="utf-8") as handle:
        return {(row["system"], row["size"]): float(row["inner_diameter_mm"]) for row in csv.DictReader(handle)}


def inner_diameter_mm(system: str, size: str | float) -> float:
    """The inner diameter of a ring size: US/CA 0..16 (quarter sizes), UK/AU A..Z (half sizes: "L½",
    "L 1/2"), EU/ISO 38..76 (the inner circumference in mm)."""
    system = str(system).strip().upper()
    label = str(size).strip()
    if system in ("US", "CA", "USA"):
        try:
            value = float(label.replace(",", ".").replace("½", ".5").replace(" 1/2", ".5"))
        except ValueError:
            raise BadInput(f"US ring size {size!r} is not a number (0 to 16, quarter sizes allowed)") from None
        found = size_table().get(("US", f"{value:g}"))
        if found is None:
            raise BadInput(f"US ring size {size!r} is not a size from 0 to 16 in quarter steps")
        return found
    if system in ("UK", "AU", "GB"):
        letter = label.upper()
        half = bool(_HALF.search(letter))
        letter = _HALF.sub("", letter).strip()
        found = size_table().get(("UK", letter + ("½" if half else "")))
        if found is None:
            raise BadInput(f"UK ring size {size!r} is not a letter A to Z (half sizes like L½ allowed, up to Y½)")
        return found
    if system in ("EU", "ISO", "FR", "DE", "EUR"):
        try:
            value = float(label.replace(",", "."))
        except ValueError:
            raise BadInput(f"EU ring size {size!r} is not a number (the inner circumference, 38 to 76 mm)") from None
        if not 38 <= value <= 76:
            raise BadInput(f"EU ring size {size!r} is outside 38..76 (the inner circumference in mm)")
        return round(value / math.pi, 2)
    raise BadInput(f"unknown ring size system {system!r}: use US, UK or EU")


_SIZE_WORDS = re.compile(
    r"\b(?:(?P<sys1>us|usa|ca|uk|au|eu|iso)\s*(?:ring\s*)?size|(?:ring\s+)?size\s*(?P<sys2>us|usa|ca|uk|au|eu|iso)?)"
    r"\s*(?P<size>\d{1,2}(?:[.,]\d{1,2})?(?:\s*(?:½|1/2))?|[a-z](?:\s*(?:½|1/2))?)(?![\w/])", re.IGNORECASE)
_BAND = re.compile(
    r"(?P<value>\d+(?:[.,]\d+)?)\s*(?P<unit>mm|cm)\s*(?:wide\s+)?band(?:\s*width)?\b"
    r"|band(?:\s*width)?\s*(?:of|is|:)?\s*(?P<value2>\d+(?:[.,]\d+)?)\s*(?P<unit2>mm|cm)", re.IGNORECASE)


def parse_ring_size(text: str) -> tuple[str, str, float] | None:
    """(system, size, inner diameter mm) of the first ring size in the text ("US size 10", "size L½"), or None.
    A size without a system is UK for a letter, EU for 38 and above, US otherwise."""
    for match in _SIZE_WORDS.finditer(text):
        size = match.group("size").strip()
        system = (match.group("sys1") or match.group("sys2") or "").upper()
        if not system:
            digits = re.sub(r"\s*(?:½|1/2)$", "", size).replace(",", ".")
            system = "UK" if size[0].isalpha() else ("EU" if float(digits) >= 38 else "US")
        return system, size, inner_diameter_mm(system, size)
    return None


def parse_band_width_mm(text: str) -> float | None:
    """The band width in mm ("8 mm band width", "a 3mm band", "band width: 2.5 mm"), or None."""
    match = _BAND.search(text)
    if match is None:
        return None
    value = float((match.group("value") or match.group("value2")).replace(",", "."))
    unit = (match.group("unit") or match.group("unit2")).lower()
    return round(value * (10.0 if unit == "cm" else 1.0), 2)


def ring_dimensions(text: str) -> dict[str, float]:
    """The Dimensions fields a ring brief states: inner_diameter_mm (from the size) and band_width_mm."""
    fields: dict[str, float] = {}
    size = parse_ring_size(text)
    if size is not None:
        fields["inner_diameter_mm"] = size[2]
    band = parse_band_width_mm(text)
    if band is not None:
        fields["band_width_mm"] = band
    return fields


@dataclass(frozen=True)
class RingFit:
    """How large a ring is on the finger: across the finger (its outer diameter) and along it (the band)."""

    across_mm: float
    band_width_mm: float | None
    assumptions: tuple[str, ...] = ()


def ring_fit(dims: Dimensions, category: Category) -> RingFit | None:
    """A ring's size on the finger from its dimensions; None when nothing says it (or not a ring).

    The inner diameter (from the ring size) plus the band's thickness on both sides is the width across
    the finger. A stated "width" smaller than the inner diameter cannot be the ring's width across (a ring
    is never narrower than its hole): it is the band's width along the finger.
    """
    if category is not Category.ring:
        return None
    band = dims.band_width_mm
    width = dims.width_mm
    inner = dims.inner_diameter_mm
    if inner and width and width < inner:
        band, width = band or width, None
    if width:
        return RingFit(width, band)
    if inner:
        across = inner + 2 * TYPICAL_BAND_THICKNESS_MM
        return RingFit(across, band, (f"width across the finger {across:.1f} mm: the {inner:g} mm inner diameter "
                                      f"plus a typical {TYPICAL_BAND_THICKNESS_MM:g} mm band on each side",))
    return None
