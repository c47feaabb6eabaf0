"""The catalog: the SQLite system of record (products, photos, cutout confidence, plans, shots,
candidates, critiques, decisions, exports, talents, plates).

WAL mode, foreign keys, a busy timeout so two processes can use it at once, every write in one
`BEGIN IMMEDIATE` transaction, and a schema version with forward migrations. Rows keep their domain
object as JSON beside the columns we query on. No image bytes live here: only asset ids.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tools.errors import BadInput, NotFound
from tools.models import (
    Candidate,
    Consent,
    Critique,
    CutoutConfidence,
    Decision,
    GalleryPlan,
    Photo,
    Plate,
    Product,
    Shot,
    Talent,
    check_sku,
)

# Each entry moves the schema from version i to i + 1. Never edit a released step: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE products (
        sku TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        asset_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (sku, asset_id)
    );
    CREATE TABLE plans (
        id INTEGER PRIMARY KEY,
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (sku, version)
    );
    CREATE TABLE shots (
        id TEXT PRIMARY KEY,
        plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
        sku TEXT NOT NULL,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        slot TEXT NOT NULL,
        channel TEXT,
        data TEXT NOT NULL
    );
    CREATE TABLE candidates (
        id TEXT PRIMARY KEY,
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        shot_id TEXT NOT NULL,
        role TEXT NOT NULL,
        asset_id TEXT NOT NULL,
        engine TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX candidates_by_shot ON candidates(sku, shot_id);
    CREATE TABLE critiques (
        id INTEGER PRIMARY KEY,
        candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        verdict TEXT NOT NULL,
        score REAL NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        action TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE exports (
        id INTEGER PRIMARY KEY,
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        path TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE talents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE plates (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        talent_id TEXT REFERENCES talents(id),
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 2: how far each cutout is confirmed by its photo, and which cutout each candidate was made from
    """
    CREATE TABLE cutouts (
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        asset_id TEXT NOT NULL,
        photo_asset_id TEXT NOT NULL,
        confidence TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (sku, asset_id)
    );
    ALTER TABLE candidates ADD COLUMN cutout_asset_id TEXT;
    UPDATE candidates SET cutout_asset_id = json_extract(data, '$.source_asset_id');
    CREATE INDEX candidates_by_cutout ON candidates(cutout_asset_id);
    """,
    # 3: why a planned shot could not be made (the reason the seller is told, kept for "what's missing")
    """
    CREATE TABLE shot_failures (
        shot_id TEXT PRIMARY KEY REFERENCES shots(id) ON DELETE CASCADE,
        sku TEXT NOT NULL REFERENCES products(sku) ON DELETE CASCADE,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX shot_failures_by_sku ON shot_failures(sku);
    """,
]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Catalog:
    """One catalog file. Safe to share between threads of a process and between processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise BadInput(
                    f"catalog {self.path} has schema version {version}, newer than this program "
                    f"({len(MIGRATIONS)}); upgrade listing-studio"
                )
            for step in range(version, len(MIGRATIONS)):
                for statement in _split_sql(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")

    def integrity_ok(self) -> bool:
        return self._query("PRAGMA integrity_check")[0][0] == "ok"

    # -- products and photos ----------------------------------------------------------------------

    def upsert_product(self, product: Product) -> Product:
        now = _now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO products (sku, category, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(sku) DO UPDATE SET category=excluded.category, data=excluded.data, "
                "updated_at=excluded.updated_at",
                (product.sku, product.category.value, product.model_dump_json(), now, now),
            )
        return product

    def get_product(self, sku: str) -> Product:
        check_sku(sku)
        rows = self._query("SELECT data FROM products WHERE sku = ?", (sku,))
        if not rows:
            raise NotFound(f"unknown SKU {sku!r}: add it with `listing-studio gallery PHOTO --sku {sku}`")
        return Product.model_validate_json(rows[0]["data"])

    def has_product(self, sku: str) -> bool:
        return bool(self._query("SELECT 1 FROM products WHERE sku = ?", (sku,)))

    def list_products(self) -> list[Product]:
        rows = self._query("SELECT data FROM products ORDER BY sku")
        return [Product.model_validate_json(r["data"]) for r in rows]

    def add_photo(self, photo: Photo) -> Photo:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO photos (sku, asset_id, kind, data, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(sku, asset_id) DO UPDATE SET kind=excluded.kind, data=excluded.data",
                (photo.sku, photo.asset_id, photo.kind.value, photo.model_dump_json(), _now()),
            )
        return photo

    def photos(self, sku: str) -> list[Photo]:
        rows = self._query("SELECT data FROM photos WHERE sku = ? ORDER BY id", (sku,))
        return [Photo.model_validate_json(r["data"]) for r in rows]

    def save_cutout_confidence(self, confidence: CutoutConfidence) -> CutoutConfidence:
        """Record (or replace) how far a cutout of the SKU is confirmed by its photo."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cutouts (sku, asset_id, photo_asset_id, confidence, data, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sku, asset_id) DO UPDATE SET "
                "photo_asset_id=excluded.photo_asset_id, confidence=excluded.confidence, data=excluded.data",
                (confidence.sku, confidence.cutout_asset_id, confidence.photo_asset_id, confidence.level,
                 confidence.model_dump_json(), confidence.created_at.isoformat()),
            )
        return confidence

    def cutout_confidence(self, sku: str, cutout_asset_id: str) -> CutoutConfidence | None:
        rows = self._query("SELECT data FROM cutouts WHERE sku = ? AND asset_id = ?", (sku, cutout_asset_id))
        return CutoutConfidence.model_validate_json(rows[0]["data"]) if rows else None

    def candidates_from_cutout(self, cutout_asset_id: str) -> list[Candidate]:
        """Every candidate made from one cutout (across SKUs), in creation order."""
        rows = self._query("SELECT data FROM candidates WHERE cutout_asset_id = ? ORDER BY created_at, id",
                           (cutout_asset_id,))
        return [Candidate.model_validate_json(r["data"]) for r in rows]

    # -- plans and shots --------------------------------------------------------------------------

    def save_plan(self, plan: GalleryPlan) -> GalleryPlan:
        """Store a new version of the SKU's plan with all its shots, atomically."""
        with self.transaction() as conn:
            row = conn.execute("SELECT MAX(version) FROM plans WHERE sku = ?", (plan.sku,)).fetchone()
            plan = plan.model_copy(update={"version": (row[0] or 0) + 1})
            cursor = conn.execute(
                "INSERT INTO plans (sku, version, data, created_at) VALUES (?, ?, ?, ?)",
                (plan.sku, plan.version, plan.model_dump_json(), _now()),
            )
            for position, shot in enumerate(plan.shots):
                conn.execute(
                    "INSERT INTO shots (id, plan_id, sku, position, role, slot, channel, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET plan_id=excluded.plan_id, "
                    "position=excluded.position, role=excluded.role, slot=excluded.slot, "
                    "channel=excluded.channel, data=excluded.data",
                    (shot.id, cursor.lastrowid, plan.sku, position, shot.role.value, shot.slot.value,
                     shot.channel.value if shot.channel else None, shot.model_dump_json()),
                )
        return plan

    def latest_plan(self, sku: str) -> GalleryPlan | None:
        rows = self._query("SELECT data FROM plans WHERE sku = ? ORDER BY version DESC LIMIT 1", (sku,))
        return GalleryPlan.model_validate_json(rows[0]["data"]) if rows else None

    def has_shot(self, shot_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM shots WHERE id = ?", (shot_id,)))

    def get_shot(self, shot_id: str) -> Shot:
        rows = self._query("SELECT data FROM shots WHERE id = ?", (shot_id,))
        if not rows:
            raise NotFound(f"unknown shot {shot_id!r}")
        return Shot.model_validate_json(rows[0]["data"])

    def record_shot_failure(self, sku: str, shot_id: str, reason: str) -> None:
        """Why the shot could not be made (the latest attempt's reason replaces an earlier one)."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO shot_failures (shot_id, sku, reason, created_at) VALUES (?, ?, ?, ?)",
                         (shot_id, check_sku(sku), reason, _now()))

    def shot_failures(self, sku: str) -> dict[str, str]:
        """shot id -> why it could not be made, for the SKU's shots that failed."""
        rows = self._query("SELECT shot_id, reason FROM shot_failures WHERE sku = ?", (check_sku(sku),))
        return {r["shot_id"]: r["reason"] for r in rows}

    # -- candidates, critiques, decisions -----------------------------------------------------------

    def add_candidate(self, candidate: Candidate, critique: Critique | None = None) -> Candidate:
        """Record a candidate (its asset must already be stored), with its critique if known."""
        self.add_candidates([(candidate, critique)])
        return candidate

    def add_candidates(self, pairs: list[tuple[Candidate, Critique | None]]) -> None:
        """Record several candidates with their critiques in one transaction: all of them or none."""
        with self.transaction() as conn:
            for candidate, critique in pairs:
                conn.execute(
                    "INSERT INTO candidates (id, sku, shot_id, role, asset_id, engine, data, created_at, "
                    "cutout_asset_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (candidate.id, candidate.sku, candidate.shot_id, candidate.role.value, candidate.asset_id,
                     candidate.engine, candidate.model_dump_json(), candidate.created_at.isoformat(),
                     candidate.source_asset_id),
                )
                if critique is not None:
                    self._insert_critique(conn, critique)

    def get_candidate(self, candidate_id: str) -> Candidate:
        rows = self._query("SELECT data FROM candidates WHERE id = ?", (candidate_id,))
        if not rows:
            raise NotFound(f"unknown candidate {candidate_id!r}")
        return Candidate.model_validate_json(rows[0]["data"])

    def candidates(self, sku: str, shot_id: str | None = None) -> list[Candidate]:
        if shot_id is None:
            rows = self._query("SELECT data FROM candidates WHERE sku = ? ORDER BY created_at, id", (sku,))
        else:
            rows = self._query(
                "SELECT data FROM candidates WHERE sku = ? AND shot_id = ? ORDER BY created_at, id", (sku, shot_id)
            )
        return [Candidate.model_validate_json(r["data"]) for r in rows]

    def _insert_critique(self, conn: sqlite3.Connection, critique: Critique) -> None:
        conn.execute(
            "INSERT INTO critiques (candidate_id, verdict, score, data, created_at) VALUES (?, ?, ?, ?, ?)",
            (critique.candidate_id, critique.verdict, critique.score, critique.model_dump_json(),
             critique.created_at.isoformat()),
        )

    def add_critique(self, critique: Critique) -> Critique:
        with self.transaction() as conn:
            self._insert_critique(conn, critique)
        return critique

    def latest_critique(self, candidate_id: str) -> Critique | None:
        rows = self._query(
            "SELECT data FROM critiques WHERE candidate_id = ? ORDER BY id DESC LIMIT 1", (candidate_id,)
        )
        return Critique.model_validate_json(rows[0]["data"]) if rows else None

    def add_decision(self, decision: Decision) -> Decision:
        self.get_candidate(decision.candidate_id)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO decisions (candidate_id, action, data, created_at) VALUES (?, ?, ?, ?)",
                (decision.candidate_id, decision.action, decision.model_dump_json(), decision.created_at.isoformat()),
            )
        return decision

    def latest_decision(self, candidate_id: str) -> Decision | None:
        rows = self._query(
            "SELECT data FROM decisions WHERE candidate_id = ? ORDER BY id DESC LIMIT 1", (candidate_id,)
        )
        return Decision.model_validate_json(rows[0]["data"]) if rows else None

    def decisions(self, sku: str) -> dict[str, Decision]:
        """The latest decision per candidate of a SKU."""
        rows = self._query(
            "SELECT d.data FROM decisions d JOIN candidates c ON c.id = d.candidate_id "
            "WHERE c.sku = ? ORDER BY d.id",
            (sku,),
        )
        latest: dict[str, Decision] = {}
        for row in rows:
            decision = Decision.model_validate_json(row["data"])
            latest[decision.candidate_id] = decision
        return latest

    def approved(self, sku: str) -> list[Candidate]:
        """Candidates whose latest decision is an approval, in creation order."""
        decisions = self.decisions(sku)
        return [c for c in self.candidates(sku) if (d := decisions.get(c.id)) and d.action == "approve"]

    # -- exports ----------------------------------------------------------------------------------

    def add_export(self, sku: str, channel: str, path: str, data: dict) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO exports (sku, channel, path, data, created_at) VALUES (?, ?, ?, ?, ?)",
                (sku, channel, path, json.dumps(data, default=str), _now()),
            )

    def exports(self, sku: str) -> list[dict]:
        rows = self._query(
            "SELECT channel, path, data, created_at FROM exports WHERE sku = ? ORDER BY id", (sku,)
        )
        return [{"channel": r["channel"], "path": r["path"], "created_at": r["created_at"], **json.loads(r["data"])}
                for r in rows]

    # -- talents and plates -----------------------------------------------------------------------

    def upsert_talent(self, talent: Talent) -> Talent:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO talents (id, name, data, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, data=excluded.data, updated_at=excluded.updated_at",
                (talent.id, talent.name, talent.model_dump_json(), _now()),
            )
        return talent

    def get_talent(self, talent_id: str) -> Talent:
        rows = self._query("SELECT data FROM talents WHERE id = ?", (talent_id,))
        if not rows:
            raise NotFound(f"unknown talent {talent_id!r}: register it with `listing-studio plate add`")
        return Talent.model_validate_json(rows[0]["data"])

    def list_talents(self) -> list[Talent]:
        return [Talent.model_validate_json(r["data"]) for r in self._query("SELECT data FROM talents ORDER BY id")]

    def set_consent(self, consent: Consent) -> Talent:
        talent = self.get_talent(consent.talent_id)
        return self.upsert_talent(talent.model_copy(update={"consent": consent}))

    def add_plate(self, plate: Plate) -> Plate:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO plates (id, kind, talent_id, data, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, talent_id=excluded.talent_id, data=excluded.data",
                (plate.id, plate.kind, plate.talent_id, plate.model_dump_json(), _now()),
            )
        return plate

    def get_plate(self, plate_id: str) -> Plate:
        rows = self._query("SELECT data FROM plates WHERE id = ?", (plate_id,))
        if not rows:
            raise NotFound(f"unknown plate {plate_id!r}: list them with `listing-studio plate list`")
        return Plate.model_validate_json(rows[0]["data"])

    def plates(self, kind: str | None = None) -> list[Plate]:
        if kind:
            rows = self._query("SELECT data FROM plates WHERE kind = ? ORDER BY created_at, id", (kind,))
        else:
            rows = self._query("SELECT data FROM plates ORDER BY created_at, id")
        return [Plate.model_validate_json(r["data"]) for r in rows]


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
