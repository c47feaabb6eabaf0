"""The units of work of a batch run, and what travels with them.

A unit (prepare one row, or produce one shot) runs anywhere: in a worker process of this machine or
on another machine of a Ray cluster. It never opens the user's catalog. The driver sends it a
`Slice` (the catalog rows it needs and the bytes of every asset they name); the worker loads that
into a scratch workspace of its own, runs the ordinary tool functions there (tools.prepare,
tools.production: the very code an interactive gallery runs), and sends back the new rows and the
bytes of the new assets. The driver alone writes them into the catalog (`commit_prepared`,
`commit_shot`), so SQLite is never written from another machine and a shot's candidates land in one
transaction or not at all.

What does not live here: reading the CSV, the journal and the scheduling (tools.batch), the
executors (tools.batch_local, tools.batch_ray).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from tools.errors import ListingError
from tools.models import Brief, Candidate, Critique, GalleryPlan, Photo, Plate, Product, Talent
from tools.settings import Settings
from tools.workspace import Workspace

_ASSET_ID = re.compile(r"\b[0-9a-f]{64}\b")
# What a worker imports to run any unit (the units import them lazily; an executor may load them up front).
WORKER_MODULES = ("tools.prepare", "tools.production", "pipelines.matting", "pipelines.segmentation",
                  "pipelines.studio", "pipelines.vision", "pipelines.cutout_check")


@dataclass
class Slice:
    """Catalog rows and the assets they name: everything a unit needs, by content (no paths)."""

    products: list[str] = field(default_factory=list)  # model JSON, one per row
    photos: list[str] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    talents: list[str] = field(default_factory=list)
    plates: list[str] = field(default_factory=list)
    assets: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # asset id -> (extension, bytes)

    def rows(self) -> Iterable[str]:
        yield from (*self.products, *self.photos, *self.plans, *self.talents, *self.plates)


@dataclass
class PrepareInput:
    """One CSV row, its photos read and validated on the driver (bytes, never a path)."""

    sku: str
    photos: list[tuple[str, bytes]]  # (file name, original bytes)
    category: str | None
    brief_json: str
    key: str


@dataclass
class Output:
    """What a unit made: new catalog rows as model JSON and the bytes of the new assets."""

    sku: str
    product: str | None = None
    photos: list[str] = field(default_factory=list)
    plan: str | None = None
    candidates: list[tuple[str, str | None]] = field(default_factory=list)  # (candidate, its latest critique)
    assets: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # where and how long it ran, for the journal and benchmarks


# -- on the driver: what a unit needs ------------------------------------------------------------------


def slice_of(ws: Workspace, *, sku: str | None = None, plates: bool = False) -> Slice:
    """The catalog rows of one SKU (product, photos, latest plan) and/or every plate with its talent,
    with the bytes of each asset their rows name."""
    catalog = ws.catalog
    piece = Slice()
    if sku is not None and catalog.has_product(sku):
        piece.products.append(catalog.get_product(sku).model_dump_json())
        piece.photos.extend(p.model_dump_json() for p in catalog.photos(sku))
        plan = catalog.latest_plan(sku)
        if plan is not None:
            piece.plans.append(plan.model_dump_json())
    if plates:
        piece.talents.extend(t.model_dump_json() for t in catalog.list_talents())
        piece.plates.extend(p.model_dump_json() for p in catalog.plates())
    # Any sha256 a row names and the store holds travels with it (cutouts, plate masks, garment masks).
    for asset_id in sorted({m for row in piece.rows() for m in _ASSET_ID.findall(row)}):
        if ws.assets.exists(asset_id):
            path = ws.assets.path(asset_id)
            piece.assets[asset_id] = (path.suffix.lstrip("."), path.read_bytes())
    return piece


def worker_settings(settings: Settings) -> Settings:
    """The settings a worker runs with: the engines' choices, none of the driver's secrets or folders."""
    return replace(settings, home=Path(tempfile.gettempdir()), auth=None, c2pa_cert=None, c2pa_key=None)


# -- on a worker: run the unit in a scratch workspace ----------------------------------------------------


@contextmanager
def scratch_workspace(settings: Settings, *pieces: Slice):
    """A workspace in a temporary folder holding exactly the given slices; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="listing-studio-unit-") as tmp:
        ws = Workspace.open(replace(settings, home=Path(tmp)))
        try:
            for piece in pieces:
                _load(ws, piece)
            yield ws
        finally:
            ws.close()


def _load(ws: Workspace, piece: Slice) -> None:
    for asset_id, (ext, data) in piece.assets.items():
        if ws.assets.put_bytes(data, ext) != asset_id:
            raise ListingError(f"asset {asset_id} arrived damaged (its bytes no longer match their sha256)")
    catalog = ws.catalog
    for row in piece.talents:
        catalog.upsert_talent(Talent.model_validate_json(row))
    for row in piece.plates:
        catalog.add_plate(Plate.model_validate_json(row))
    for row in piece.products:
        catalog.upsert_product(Product.model_validate_json(row))
    for row in piece.photos:
        catalog.add_photo(Photo.model_validate_json(row))
    for row in piece.plans:
        catalog.save_plan(GalleryPlan.model_validate_json(row))


def _new_assets(ws: Workspace, known: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """Every asset the unit stored that it was not given."""
    known = set(known)
    found = {}
    for path in ws.assets.root.glob("*/*.*"):
        if path.stem not in known and not path.name.startswith("."):
            found[path.stem] = (path.suffix.lstrip("."), path.read_bytes())
    return found


def _where() -> dict:
    return {"pid": os.getpid(), "host": os.uname().nodename}


def prepare_unit(settings: Settings, common: Slice, existing: Slice, row: PrepareInput) -> Output:
    """Cut the row's photos out and plan its gallery, as `gallery` does, knowing the plates."""
    from tools.prepare import ingest_product
    from tools.production import plan_with_plates

    started = time.perf_counter()
    with scratch_workspace(settings, common, existing) as ws:
        brief = Brief.model_validate_json(row.brief_json)
        product, _ = ingest_product(ws, row.sku, [data for _, data in row.photos], category=row.category,
                                    brief=brief, names=[name for name, _ in row.photos])
        plan = plan_with_plates(ws, product, brief, brief.channels)
        plan = plan.model_copy(update={"notes": [*plan.notes, f"batch input {row.key}"]})
        return Output(
            sku=row.sku, product=ws.catalog.get_product(row.sku).model_dump_json(),
            photos=[p.model_dump_json() for p in ws.catalog.photos(row.sku)], plan=plan.model_dump_json(),
            # the originals are in the driver's store already: only the cut-outs travel back
            assets=_new_assets(ws, [*common.assets, *existing.assets,
                                    *(hashlib.sha256(data).hexdigest() for _, data in row.photos)]),
            info={**_where(), "seconds": round(time.perf_counter() - started, 3)},
        )


def shot_unit(settings: Settings, common: Slice, piece: Slice, sku: str, shot_id: str) -> Output:
    """Produce one shot (render, check, bounded re-renders) and return its candidates and critiques."""
    from tools.production import produce_shot

    started, cpu = time.perf_counter(), time.process_time()
    with scratch_workspace(settings, common, piece) as ws:
        loaded = time.perf_counter()
        shot = ws.catalog.get_shot(shot_id)
        results = produce_shot(ws, sku, shot)
        produced = time.perf_counter()
        candidates = []
        for candidate in ws.catalog.candidates(sku, shot_id):  # every attempt, as an interactive run keeps
            critique = ws.catalog.latest_critique(candidate.id)
            candidates.append((candidate.model_dump_json(), critique.model_dump_json() if critique else None))
        return Output(
            sku=sku, candidates=candidates, assets=_new_assets(ws, [*common.assets, *piece.assets]),
            info={**_where(), "shot": shot_id, "role": shot.role.value, "candidates": len(results),
                  "passed": sum(1 for _, critique in results if critique.verdict == "pass"),
                  "seconds": round(produced - loaded, 3), "unit_seconds": round(time.perf_counter() - started, 3),
                  "cpu_seconds": round(time.process_time() - cpu, 3)},
        )


# -- on the driver: commit what came back ----------------------------------------------------------------


def _store_assets(ws: Workspace, assets: dict[str, tuple[str, bytes]]) -> None:
    for asset_id, (ext, data) in assets.items():
        if ws.assets.put_bytes(data, ext) != asset_id:
            raise ListingError(f"asset {asset_id} came back damaged (its bytes no longer match their sha256)")


def commit_prepared(ws: Workspace, output: Output) -> GalleryPlan:
    """Store a prepared row: its new assets, the product, its photos, then the plan (the commit point:
    a row without its batch plan is prepared again, and every write before it is idempotent)."""
    _store_assets(ws, output.assets)
    catalog = ws.catalog
    catalog.upsert_product(Product.model_validate_json(output.product))
    for row in output.photos:
        catalog.add_photo(Photo.model_validate_json(row))
    return catalog.save_plan(GalleryPlan.model_validate_json(output.plan))


def commit_shot(ws: Workspace, output: Output) -> None:
    """Store a produced shot: its assets, then all its candidates and critiques in one transaction."""
    _store_assets(ws, output.assets)
    ws.catalog.add_candidates([(Candidate.model_validate_json(c), Critique.model_validate_json(k) if k else None)
                               for c, k in output.candidates])
