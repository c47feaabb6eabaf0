"""Catalog-wide batch runs: a CSV of products in, galleries rendered and checked for every row, in a
process pool, resumable after an interruption without redoing finished shots.

The unit of work is one shot of one SKU, `run_shot(settings, sku, shot_id)`: it reads the shot from
the catalog and calls `tools.production.produce_shot`, so any process (or, later, any machine sharing
the catalog) can run it. Finished units are written to a small journal (`batch.sqlite` in the home)
by the worker itself, right after the catalog holds their candidates. What does not live here:
rendering, critique or planning rules (tools.production, tools.rules), brief reading (the agent).

CSV columns: `sku`, `photos` (paths separated by `;` or `|`, relative to the CSV), `category`,
`brief`, `channels` (separated by `;`, `|` or `,`), `dimensions` (`21x24 mm`, `2.1 x 2.4 cm`,
`width=21;height=24`). Only `sku` and `photos` are required.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.errors import BadInput, ListingError
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
    """Which units finished, in `batch.sqlite` beside the catalog (WAL; shared by the worker processes)."""

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


# -- the units of work (run in worker processes) -----------------------------------------------------

_WORKSPACES: dict[str, Workspace] = {}


def _open(settings: Settings) -> Workspace:
    key = str(settings.home)
    if key not in _WORKSPACES:
        _WORKSPACES[key] = Workspace.open(settings)
    return _WORKSPACES[key]


def _init_worker(threads: int) -> None:
    # Split the cores between the workers before any numeric library starts its thread pool.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import cv2  # OpenCV keeps its own pool and ignores the variables above

    cv2.setNumThreads(threads)


def stored_plan(ws: Workspace, sku: str, key: str) -> list[str] | None:
    """The shot ids of the SKU's latest plan when a batch made it from exactly these inputs, else None."""
    plan = ws.catalog.latest_plan(sku) if ws.catalog.has_product(sku) else None
    if plan is not None and f"batch input {key}" in plan.notes:
        return [s.id for s in plan.shots]
    return None


def prepare_row(settings: Settings, sku: str, photos: list[str], category: str | None, brief_json: str,
                key: str) -> list[str]:
    """Ingest a row's photos and plan its gallery, unless a plan for exactly these inputs is stored.

    Returns the plan's shot ids. A plan made by a batch carries `batch input <key>` in its notes.
    """
    from tools.prepare import ingest_product
    from tools.production import plan_with_plates

    ws = _open(settings)
    stored = stored_plan(ws, sku, key)
    if stored is not None:
        return stored
    brief = Brief.model_validate_json(brief_json)
    product, _ = ingest_product(ws, sku, [Path(p) for p in photos], category=category, brief=brief)
    # Plan knowing the registered plates and their consent, exactly as an interactive gallery does.
    plan = plan_with_plates(ws, product, brief, brief.channels)
    plan = ws.catalog.save_plan(plan.model_copy(update={"notes": [*plan.notes, f"batch input {key}"]}))
    return [s.id for s in plan.shots]


def run_shot(settings: Settings, sku: str, shot_id: str) -> dict:
    """One unit: produce one shot of one SKU from catalog state, then journal it as done."""
    from tools.production import produce_shot

    started, cpu = time.perf_counter(), time.process_time()
    ws = _open(settings)
    shot = ws.catalog.get_shot(shot_id)
    results = produce_shot(ws, sku, shot)
    summary = {"sku": sku, "shot": shot_id, "role": shot.role.value, "candidates": len(results),
               "passed": sum(1 for _, critique in results if critique.verdict == "pass"), "pid": os.getpid(),
               "seconds": round(time.perf_counter() - started, 3), "cpu_seconds": round(time.process_time() - cpu, 3)}
    journal = Journal(ws.home / "batch.sqlite")
    try:
        journal.mark(sku, shot_id, "done", summary)
    finally:
        journal.close()
    return summary


# -- the run ---------------------------------------------------------------------------------------


def run_batch(ws: Workspace, csv_path: str | os.PathLike, workers: int = 2, progress: Progress | None = None,
              *, read_brief: Callable | None = None, photos_root: str | os.PathLike | None = None) -> dict:
    """Render galleries for every row of a catalog CSV; resume where an earlier run stopped.

    Returns {"done": [sku...], "failed": [{"sku", "reason", ...}], "needs_review": [{"sku", "reason",
    "candidates"}], "shots": {"total", "done", "resumed", "failed"}}. `read_brief(text, sku=, category=,
    channels=)` reads the brief column into a Brief (the CLI passes the agent's reader); without it the
    text is kept as the brief's notes.
    """
    # 1. Check inputs.
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise BadInput(f"catalog CSV {str(csv_path)!r} does not exist")
    if not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise BadInput(f"workers={workers!r}: use 1 to {MAX_WORKERS}")
    rows, failed = read_catalog_csv(csv_path, read_brief, photos_root)
    emit = progress or (lambda event: None)
    journal = Journal(ws.home / "batch.sqlite")
    settings = ws.settings
    counts = {"total": 0, "done": 0, "resumed": 0, "failed": 0}
    shots_of: dict[str, list[str]] = {}

    def report(kind: str, sku: str, status: str, message: str, **extra) -> None:
        emit({"type": "progress", "stage": kind, "sku": sku, "status": status, "message": message,
              "done": counts["done"] + counts["failed"], "total": counts["total"],
              "skus_planned": len(shots_of), "skus": len(rows), **extra})

    # 2. Run: plan each row, then its shots, as the pool frees up (both stages in the pool). A row whose
    #    plan for exactly these inputs is stored goes straight to its shots; the pool starts only when
    #    there is work.
    threads = max(1, (os.cpu_count() or 2) // workers)
    pool: ProcessPoolExecutor | None = None
    pending: dict[Future, tuple[str, str, str | None]] = {}

    def submit(kind: str, sku: str, shot_id: str | None, fn, *args) -> None:
        nonlocal pool
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_worker, initargs=(threads,))
        pending[pool.submit(fn, *args)] = (kind, sku, shot_id)

    def planned(sku: str, shot_ids: list[str]) -> None:
        shots_of[sku] = shot_ids
        done_before = journal.finished(sku)
        counts["total"] += len(shot_ids)
        for sid in shot_ids:
            if sid in done_before:
                counts["done"] += 1
                counts["resumed"] += 1
            else:
                submit("shot", sku, sid, run_shot, settings, sku, sid)
        report("prepare", sku, "done", f"{sku}: {len(shot_ids)} shots planned"
               + (f", {len(done_before)} already done" if done_before else ""))

    try:
        for row in rows:
            stored = stored_plan(ws, row.sku, row.key)
            if stored is not None:
                planned(row.sku, stored)
                continue
            submit("prepare", row.sku, None, prepare_row, settings, row.sku, [str(p) for p in row.photos],
                   row.category, row.brief.model_dump_json(), row.key)
            report("prepare", row.sku, "running", f"{row.sku}: reading photos and planning")
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                kind, sku, shot_id = pending.pop(future)
                try:
                    value = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as error:  # one unit failing never stops the others
                    reason = str(error) if isinstance(error, ListingError) else f"{type(error).__name__}: {error}"
                    if kind == "prepare":
                        failed.append({"sku": sku, "reason": reason, "stage": "prepare"})
                        report(kind, sku, "failed", f"{sku}: {reason}")
                    else:
                        counts["failed"] += 1
                        failed.append({"sku": sku, "reason": reason, "stage": "shot", "shot": shot_id})
                        report(kind, sku, "failed", f"{sku} {shot_id}: {reason}", shot=shot_id)
                    continue
                if kind == "prepare":
                    planned(sku, value)
                else:
                    counts["done"] += 1
                    report(kind, sku, "done", f"{sku} {value['role']}: {value['passed']}/{value['candidates']} "
                           "candidates passed", shot=shot_id)
    except BrokenProcessPool:
        reason = "a worker process died (out of memory or killed); run the batch again to resume"
        for kind, sku, shot_id in pending.values():
            failed.append({"sku": sku, "reason": reason, "stage": kind, "shot": shot_id})
        pending.clear()
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        journal.close()
        raise
    if pool is not None:
        pool.shutdown(wait=True)

    # 3. Summary from the catalog: complete SKUs, and what waits for a person.
    done: list[str] = []
    needs_review: list[dict] = []
    failed_skus = {f["sku"] for f in failed}
    for row in rows:
        if row.sku not in shots_of:
            continue
        finished = journal.finished(row.sku)
        if row.sku not in failed_skus and all(s in finished for s in shots_of[row.sku]):
            done.append(row.sku)
        review = _review_state(ws, row.sku, shots_of[row.sku])
        if review:
            needs_review.append(review)
    journal.close()
    return {"done": done, "failed": failed, "needs_review": needs_review, "shots": counts}


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
