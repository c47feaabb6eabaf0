"""Catalog-wide batch runs: a CSV of products in, galleries rendered and checked for every row, on
this machine or a Ray cluster, resumable after an interruption without redoing finished shots.

This module is the driver. It reads the CSV, validates every photo with the safe loader and stores
it, and hands units of work to an executor: preparing a row (cut-out and plan), then each shot of
its plan (render, check, bounded re-renders). Units receive their inputs by content and send their
results back (tools.batch_units); the driver alone writes the catalog and the journal
(`batch.sqlite` in the home: the shots that finished), so a shot is journaled once, whichever
worker or machine made it. Executors: `local` (worker processes, tools.batch_local, the default)
and `ray` (tools.batch_ray, imported only when chosen). What does not live here: rendering,
critique or planning rules (tools.production, tools.rules), brief reading (the agent).

CSV columns: `sku`, `photos` (paths separated by `;` or `|`, relative to the CSV and inside its
folder or `--photos-root`), `category`, `brief`, `channels` (separated by `;`, `|` or `,`),
`dimensions` (`21x24 mm`, `2.1 x 2.4 cm`, `width=21;height=24`). Only `sku` and `photos` are required.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.batch_local import Executor, LocalExecutor, Task
from tools.errors import BadInput, EngineUnavailable, ListingError
from tools.models import Brief, Dimensions, check_sku, normalize_category, normalize_channel
from tools.settings import Settings
from tools.workspace import Workspace

REQUIRED_COLUMNS = ("sku", "photos")
KNOWN_COLUMNS = ("sku", "photos", "category", "brief", "channels", "dimensions", "title")
MAX_WORKERS = 32
MAX_FIELD_CHARS = 10_000  # a field longer than this fails its row (the csv module stops a file at 128 KiB)
Progress = Callable[[dict], None]


@dataclass
class Row:
    line: int
    sku: str
    photos: list[Path]
    category: str | None
    brief: Brief
    brief_text: str
    key: str  # hash of everything that decides the plan: same key -> the stored plan is reused


# -- the CSV ---------------------------------------------------------------------------------------


def parse_dimensions(text: str) -> Dimensions:
    """`21x24 mm`, `2.1 x 2.4 x 0.3 cm`, `1 x 2 in`, `width=21;height=24;inner_diameter=17.3` (mm)."""
    text = (text or "").strip().lower()
    if not text:
        return Dimensions()
    if "=" in text:
        values = {}
        for part in re.split(r"[;|,]\s*", text):
            if not part.strip():
                continue
            key, _, value = part.partition("=")
            key = key.strip().removesuffix("_mm").replace(" ", "_")
            if key not in ("width", "height", "depth", "inner_diameter"):
                raise BadInput(f"dimensions {text!r}: unknown key {key!r}; use width, height, depth, inner_diameter")
            values[f"{key}_mm"] = _positive(value, text)
        return Dimensions(**values)
    match = re.fullmatch(r"([\d.]+(?:\s*[x×*]\s*[\d.]+){0,2})\s*(mm|cm|in|inch|inches|\")?", text)
    if not match:
        raise BadInput(f"dimensions {text!r}: write them like '21x24 mm' or 'width=21;height=24'")
    unit = {"cm": 10.0, "in": 25.4, "inch": 25.4, "inches": 25.4, '"': 25.4}.get(match.group(2) or "mm", 1.0)
    numbers = [_positive(n, text) * unit for n in re.split(r"\s*[x×*]\s*", match.group(1))]
    return Dimensions(**dict(zip(("width_mm", "height_mm", "depth_mm"), numbers, strict=False)))


def _positive(value: str, text: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"dimensions {text!r}: {value!r} is not a number") from None
    if number <= 0:
        raise BadInput(f"dimensions {text!r}: sizes must be positive")
    return number


def photos_folder(csv_path: Path, photos_root: str | os.PathLike | None) -> Path:
    """The folder a catalog's photos must lie in: `photos_root` when given, else the CSV's folder."""
    if photos_root is None:
        return csv_path.parent.resolve()
    root = Path(photos_root).expanduser()
    if not root.is_dir():
        raise BadInput(f"photos root {str(photos_root)!r} is not a folder")
    return root.resolve()


def contained_photo(text: str, csv_path: Path, root: Path) -> Path:
    """A photo path of the CSV, resolved relative to it (links followed), refused when it leaves `root`."""
    path = (csv_path.parent / text).resolve()
    if not path.is_relative_to(root):
        raise BadInput(f"photo {text!r} is outside {root}; keep the photos in the catalog's folder "
                       "or name their folder with --photos-root")
    return path


def read_catalog_csv(csv_path: Path, read_brief: Callable | None = None,
                     photos_root: str | os.PathLike | None = None) -> tuple[list[Row], list[dict]]:
    """The rows of a catalog CSV, and the ones refused (`{"sku", "line", "reason"}`).

    Photo paths are relative to the CSV and must lie inside `photos_root` (default: the CSV's folder),
    so a catalog from someone else cannot make the batch open files elsewhere.
    """
    # 1. The file, its header and its records. The csv module's own field limit (128 KiB) would stop
    #    the whole file at one oversized field: lift it while reading, and refuse such a row alone.
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{csv_path}: not UTF-8 text; save the catalog as CSV UTF-8") from None
    root = photos_folder(csv_path, photos_root)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        records = [(reader.line_num, raw) for raw in reader]
    except csv.Error as error:
        raise BadInput(f"{csv_path}: not a readable CSV file ({error})") from None
    finally:
        csv.field_size_limit(limit)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise BadInput(f"{csv_path}: missing column(s) {', '.join(missing)}; the header must name "
                       f"{', '.join(KNOWN_COLUMNS)} (photos and sku are required)")

    # 2. One Row per line; a bad line fails alone.
    rows: list[Row] = []
    failed: list[dict] = []
    seen: dict[str, int] = {}
    for line, raw in records:
        values = {k: (v or "").strip() for k, v in raw.items() if k}
        if not any(values.values()):
            continue
        sku = values.get("sku", "")
        try:
            raw_sku = raw.get("sku") or ""
            if raw_sku != sku:  # "R1\n" or " R1" is refused, not stored trimmed
                raise BadInput(f"SKU {raw_sku!r} has spaces or a line break around it; write it as {sku!r}")
            for column, value in values.items():
                if len(value) > MAX_FIELD_CHARS:
                    raise BadInput(f"the {column} field is {len(value):,} characters long; the limit is "
                                   f"{MAX_FIELD_CHARS:,} (a brief is a few sentences)")
            check_sku(sku)
            if sku in seen:
                raise BadInput(f"SKU {sku} appears again (first on line {seen[sku]}); one row per SKU")
            seen[sku] = line
            photos = [contained_photo(p.strip(), csv_path, root)
                      for p in re.split(r"[;|]", values.get("photos", "")) if p.strip()]
            if not photos:
                raise BadInput("no photos: list one or more image paths separated by ';'")
            for photo in photos:
                if not photo.is_file():
                    raise BadInput(f"photo {str(photo)!r} does not exist (paths are relative to the CSV)")
            category = normalize_category(values["category"]).value if values.get("category") else None
            channels = [normalize_channel(c).value for c in re.split(r"[;|,]", values.get("channels", "")) if c.strip()]
            dimensions = parse_dimensions(values.get("dimensions", ""))
            brief_text = values.get("brief", "")
            if read_brief is not None:
                brief = read_brief(brief_text, sku=sku, category=category, channels=channels)
            else:
                brief = Brief(sku=sku, category=category, channels=channels, notes=brief_text)
            updates = {"sku": sku}
            if values.get("dimensions"):
                updates["dimensions"] = dimensions
            if values.get("title"):
                updates["title"] = values["title"]
            brief = brief.model_copy(update=updates)
        except ListingError as error:
            failed.append({"sku": sku if sku and len(sku) <= 64 else f"line {line}", "line": line, "reason": str(error)})
            continue
        # The key follows the row as written (not how a reader interpreted it), so a rerun with the
        # same CSV finds its plan whichever brief reader is in use.
        key = hashlib.sha256(json.dumps({
            "row": {k: values.get(k, "") for k in KNOWN_COLUMNS if k != "photos"},
            "photos": [hashlib.sha256(p.read_bytes()).hexdigest() for p in photos],
        }, sort_keys=True).encode()).hexdigest()[:16]
        rows.append(Row(line, sku, photos, category, brief, brief_text, key))
    return rows, failed


# -- the journal -----------------------------------------------------------------------------------


class Journal:
    """Which shots finished, in `batch.sqlite` beside the catalog. Written by the driver only."""

    def __init__(self, path: Path):
        self.path = path
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS units (sku TEXT NOT NULL, shot_id TEXT NOT NULL, status TEXT NOT NULL, "
            "data TEXT NOT NULL, finished_at TEXT NOT NULL, PRIMARY KEY (sku, shot_id))"
        )

    def mark(self, sku: str, shot_id: str, status: str, data: dict) -> None:
        self._conn.execute(
            "INSERT INTO units (sku, shot_id, status, data, finished_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(sku, shot_id) DO UPDATE SET status=excluded.status, data=excluded.data, "
            "finished_at=excluded.finished_at",
            (sku, shot_id, status, json.dumps(data), datetime.now(UTC).isoformat()),
        )

    def finished(self, sku: str) -> dict[str, dict]:
        rows = self._conn.execute("SELECT shot_id, data FROM units WHERE sku = ? AND status = 'done'", (sku,))
        return {shot_id: json.loads(data) for shot_id, data in rows.fetchall()}

    def close(self) -> None:
        self._conn.close()


# -- the executors -----------------------------------------------------------------------------------

EXECUTORS = ("local", "ray")


def open_executor(kind: str, settings: Settings, *, workers: int | None = None, address: str | None = None,
                  gpus_per_worker: float | None = None) -> Executor:
    """The executor the user chose. `ray` imports Ray here and only here."""
    if kind not in EXECUTORS:
        raise BadInput(f"unknown executor {kind!r}: use local or ray")
    if kind == "local":
        if address:
            raise BadInput(f"--address {address} is for --executor ray (the local executor runs on this machine)")
        if gpus_per_worker is not None:
            raise BadInput("--gpus-per-worker is for --executor ray")
        return LocalExecutor(workers or 2)
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EngineUnavailable('the ray executor needs Ray: pip install "listing-studio[ray]" (on every machine '
                                "of the cluster), or use --executor local") from None
    from tools.batch_ray import RayExecutor

    return RayExecutor(settings, address=address or settings.ray_address, workers=workers,
                       gpus_per_worker=gpus_per_worker)


# -- the run ---------------------------------------------------------------------------------------


def stored_plan(ws: Workspace, sku: str, key: str) -> list[str] | None:
    """The shot ids of the SKU's latest plan when a batch made it from exactly these inputs, else None."""
    plan = ws.catalog.latest_plan(sku) if ws.catalog.has_product(sku) else None
    if plan is not None and f"batch input {key}" in plan.notes:
        return [s.id for s in plan.shots]
    return None


def run_batch(ws: Workspace, csv_path: str | os.PathLike, workers: int | None = None,
              progress: Progress | None = None, *, read_brief: Callable | None = None,
              photos_root: str | os.PathLike | None = None, executor: str = "local", address: str | None = None,
              gpus_per_worker: float | None = None) -> dict:
    """Render galleries for every row of a catalog CSV; resume where an earlier run stopped.

    Returns {"done": [sku...], "failed": [{"sku", "reason", "stage", ...}], "needs_review": [{"sku",
    "reason", "candidates"}], "shots": {"total", "done", "resumed", "failed"}, "executor": {...}}.
    `read_brief(text, sku=, category=, channels=)` reads the brief column into a Brief (the CLI passes
    the agent's reader); without it the text is kept as the brief's notes. `workers`: units at once
    (local: 2 processes by default; ray: the cluster's CPUs).
    """
    # 1. Check inputs.
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise BadInput(f"catalog CSV {str(csv_path)!r} does not exist")
    if workers is not None and (not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS):
        raise BadInput(f"workers={workers!r}: use 1 to {MAX_WORKERS}")
    if gpus_per_worker is not None and not 0 <= gpus_per_worker <= 8:
        raise BadInput(f"gpus_per_worker={gpus_per_worker!r}: use 0 to 8 (fractions share a GPU)")
    rows, failed = read_catalog_csv(csv_path, read_brief, photos_root)

    # 2. Start the executor, then drive it; whatever happens, stop it and close the journal.
    runner = open_executor(executor, ws.settings, workers=workers, address=address, gpus_per_worker=gpus_per_worker)
    journal = Journal(ws.home / "batch.sqlite")
    emit = progress or (lambda event: None)
    try:
        emit({"type": "executor", "message": runner.describe(), **runner.info()})
        driver = _Driver(ws, runner, journal, rows, failed, emit)
        driver.run()
        summary = driver.summary()
    finally:
        runner.close()
        journal.close()
    return {**summary, "executor": runner.info()}


class _Driver:
    """One batch run on the driver: queue the units, submit them as the executor has room, commit what
    comes back. Shots of a freshly planned SKU go first, so SKUs finish one after another."""

    def __init__(self, ws: Workspace, runner: Executor, journal: Journal, rows: list[Row], failed: list[dict],
                 emit: Progress):
        from tools.batch_units import slice_of, worker_settings

        self.ws, self.runner, self.journal, self.rows, self.failed, self.emit = ws, runner, journal, rows, failed, emit
        self.settings = worker_settings(ws.settings)
        self.common = runner.share(slice_of(ws, plates=True))  # plates and talents: shared by every unit
        self.counts = {"total": 0, "done": 0, "resumed": 0, "failed": 0}
        self.shots_of: dict[str, list[str]] = {}
        self.queue: deque[tuple[str, str, str | None]] = deque()  # (kind, sku, shot id)
        self.pieces: dict[str, list] = {}  # sku -> [shared slice, shots not yet back]
        self.by_sku = {row.sku: row for row in rows}
        engine = ws.settings.engine
        self.diffusion_roles = set()
        if engine == "diffusers":
            from tools.render import DIFFUSION_ROLES

            self.diffusion_roles = {r.value for r in DIFFUSION_ROLES}

    def report(self, stage: str, sku: str, status: str, message: str, **extra) -> None:
        self.emit({"type": "progress", "title": stage, "stage": stage, "sku": sku, "status": status, "message": message,
                   "done": self.counts["done"] + self.counts["failed"], "total": self.counts["total"],
                   "skus_planned": len(self.shots_of), "skus": len(self.rows), **extra})

    def run(self) -> None:
        # 1. Rows whose plan for exactly these inputs is stored go straight to their shots.
        for row in self.rows:
            stored = stored_plan(self.ws, row.sku, row.key)
            if stored is not None:
                self.planned(row.sku, stored)
            else:
                self.queue.append(("prepare", row.sku, None))
        # 2. Keep the executor full; commit each unit as it comes back.
        while self.queue or self.runner.busy:
            while self.queue and self.runner.has_room():
                kind, sku, shot_id = self.queue.popleft()
                try:
                    task = self.prepare_task(sku) if kind == "prepare" else self.shot_task(sku, shot_id)
                except ListingError as error:  # a photo the loader refuses fails its row alone
                    self.fail(kind, sku, shot_id, str(error))
                    continue
                self.runner.submit(task)
                if kind == "prepare":
                    self.report("prepare", sku, "running", f"{sku}: reading photos and planning")
            if self.runner.busy:
                for outcome in self.runner.wait():
                    self.settle(outcome)

    def prepare_task(self, sku: str) -> Task:
        """Read and validate the row's photos here (the safe loader), store the originals, send bytes."""
        from tools.assets import load_image
        from tools.batch_units import PrepareInput, prepare_unit, slice_of

        row = self.by_sku[sku]
        loaded = [load_image(path, name=path.name) for path in row.photos]
        for image in loaded:
            self.ws.assets.put_loaded(image)
        existing = slice_of(self.ws, sku=sku)  # a SKU already in the catalog keeps what it had
        unit = PrepareInput(sku=sku, photos=[(image.name, image.data) for image in loaded], category=row.category,
                            brief_json=row.brief.model_dump_json(), key=row.key)
        return Task("prepare", sku, prepare_unit, (self.settings, self.common, existing, unit), name=f"prepare {sku}")

    def shot_task(self, sku: str, shot_id: str) -> Task:
        from tools.batch_units import shot_unit, slice_of

        if sku not in self.pieces:  # one copy of the SKU's rows and images for all its shots
            self.pieces[sku] = [self.runner.share(slice_of(self.ws, sku=sku)), 0]
        self.pieces[sku][1] += 1
        role = self.ws.catalog.get_shot(shot_id).role.value
        return Task("shot", sku, shot_unit, (self.settings, self.common, self.pieces[sku][0], sku, shot_id),
                    shot_id=shot_id, name=f"shot {sku} {role}", gpu=role in self.diffusion_roles)

    def planned(self, sku: str, shot_ids: list[str], *, first: bool = False) -> None:
        """Queue the shots of a plan that are not finished. A shot whose candidates reached the catalog
        (one transaction) but not the journal, because the driver stopped in between, is finished."""
        self.shots_of[sku] = shot_ids
        done_before = self.journal.finished(sku)
        self.counts["total"] += len(shot_ids)
        todo = []
        for shot_id in shot_ids:
            if shot_id not in done_before and self.ws.catalog.candidates(sku, shot_id):
                self.journal.mark(sku, shot_id, "done", {"sku": sku, "shot": shot_id, "recovered": True})
                done_before[shot_id] = {}
            if shot_id in done_before:
                self.counts["done"] += 1
                self.counts["resumed"] += 1
            else:
                todo.append(("shot", sku, shot_id))
        if first:
            self.queue.extendleft(reversed(todo))
        else:
            self.queue.extend(todo)
        self.report("prepare", sku, "done", f"{sku}: {len(shot_ids)} shots planned"
                    + (f", {len(done_before)} already done" if done_before else ""))

    def fail(self, kind: str, sku: str, shot_id: str | None, reason: str) -> None:
        entry = {"sku": sku, "reason": reason, "stage": kind}
        if sku in self.by_sku:
            entry["line"] = self.by_sku[sku].line
        if kind == "shot":
            self.counts["failed"] += 1
            entry["shot"] = shot_id
        self.failed.append(entry)
        self.report(kind, sku, "failed", f"{sku}{' ' + shot_id if shot_id else ''}: {reason}",
                    **({"shot": shot_id} if shot_id else {}))

    def settle(self, outcome) -> None:
        """Commit a unit that came back (driver only), or record why it failed."""
        from tools.batch_units import commit_prepared, commit_shot

        task = outcome.task
        if task.kind == "shot":
            self.pieces[task.sku][1] -= 1
            if not self.pieces[task.sku][1]:
                del self.pieces[task.sku]  # the shared copy is dropped once no shot of the SKU needs it
        if outcome.error is not None:
            self.fail(task.kind, task.sku, task.shot_id, outcome.error)
            return
        output = outcome.value
        try:
            if task.kind == "prepare":
                plan = commit_prepared(self.ws, output)
                self.planned(task.sku, [s.id for s in plan.shots], first=True)
                return
            commit_shot(self.ws, output)
        except ListingError as error:
            self.fail(task.kind, task.sku, task.shot_id, str(error))
            return
        self.journal.mark(task.sku, task.shot_id, "done", {"sku": task.sku, **output.info})
        self.counts["done"] += 1
        info = output.info
        self.report("shot", task.sku, "done", f"{task.sku} {info['role']}: {info['passed']}/{info['candidates']} "
                    "candidates passed", shot=task.shot_id)

    def summary(self) -> dict:
        """From the catalog: complete SKUs, and what waits for a person."""
        done: list[str] = []
        needs_review: list[dict] = []
        failed_skus = {f["sku"] for f in self.failed}
        for row in self.rows:
            if row.sku not in self.shots_of:
                continue
            finished = self.journal.finished(row.sku)
            if row.sku not in failed_skus and all(s in finished for s in self.shots_of[row.sku]):
                done.append(row.sku)
            review = _review_state(self.ws, row.sku, self.shots_of[row.sku])
            if review:
                needs_review.append(review)
        return {"done": done, "failed": self.failed, "needs_review": needs_review, "shots": self.counts}


def _review_state(ws: Workspace, sku: str, shot_ids: list[str]) -> dict | None:
    """What a person must look at for a SKU: candidates without a decision, shots where none passed."""
    catalog = ws.catalog
    decisions = catalog.decisions(sku)
    waiting, no_pass = 0, []
    for shot_id in shot_ids:
        candidates = catalog.candidates(sku, shot_id)
        if not candidates:
            continue
        verdicts = [(c, catalog.latest_critique(c.id)) for c in candidates]
        if any(decisions.get(c.id) and decisions[c.id].action == "approve" for c in candidates):
            continue
        waiting += sum(1 for c, _ in verdicts if c.id not in decisions)
        if not any(cr and cr.verdict == "pass" for _, cr in verdicts):
            no_pass.append(shot_id)
    if not waiting and not no_pass:
        return None
    reasons = []
    if waiting:
        reasons.append(f"{waiting} candidate(s) waiting for review")
    if no_pass:
        reasons.append(f"{len(no_pass)} shot(s) with no candidate passing the check")
    return {"sku": sku, "reason": "; ".join(reasons), "candidates": waiting, "shots_without_pass": no_pass}
