"""The SQLite catalog: schema and migrations, transactional writes, two processes, a real kill mid-write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from tools.catalog import MIGRATIONS, Catalog
from tools.errors import BadInput, NotFound
from tools.models import (
    Candidate,
    Check,
    Consent,
    Critique,
    Decision,
    GalleryPlan,
    Photo,
    Product,
    Role,
    Shot,
    Talent,
)

WRITER = textwrap.dedent(
    """
    import sys
    from tools.catalog import Catalog
    from tools.models import GalleryPlan, Product, Shot
    catalog = Catalog(sys.argv[1])
    sku, shots, rounds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    catalog.upsert_product(Product(sku=sku, category="ring"))
    for i in range(rounds):
        catalog.save_plan(GalleryPlan(sku=sku, shots=[
            Shot(role="packshot", slot="grid", width=2000, height=2000, scene="x" * 2000) for _ in range(shots)]))
    print("finished", flush=True)
    """
)


def _writer(path, sku, shots=40, rounds=100_000):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), sku, str(shots), str(rounds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _plan_count(path, sku) -> int:
    try:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM plans WHERE sku = ?", (sku,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _plan(sku="SKU-1", n=3) -> GalleryPlan:
    return GalleryPlan(sku=sku, shots=[Shot(role="packshot", slot="grid", width=2000, height=2000) for _ in range(n)])


def test_schema_is_versioned_and_uses_wal(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert catalog.schema_version == len(MIGRATIONS)
    assert catalog._query("PRAGMA journal_mode")[0][0] == "wal"
    assert catalog._query("PRAGMA foreign_keys")[0][0] == 1
    catalog.close()
    # reopening migrates nothing and keeps the version
    assert Catalog(tmp_path / "catalog.sqlite").schema_version == len(MIGRATIONS)


def test_refuses_a_catalog_from_a_newer_program(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(BadInput, match="newer than this program"):
        Catalog(path)


def test_forward_migration_applies_new_steps(tmp_path, monkeypatch):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    monkeypatch.setattr("tools.catalog.MIGRATIONS", [*MIGRATIONS, "ALTER TABLE products ADD COLUMN brand TEXT"])
    catalog = Catalog(path)
    assert catalog.schema_version == len(MIGRATIONS) + 1
    columns = [row[1] for row in catalog._query("PRAGMA table_info(products)")]
    assert "brand" in columns


def test_products_plans_candidates_decisions_round_trip(workspace):
    catalog = workspace.catalog
    catalog.upsert_product(Product(sku="SKU-1", category="ring", title="Gold ring"))
    catalog.add_photo(Photo(asset_id="a" * 64, sku="SKU-1", width=10, height=10))
    plan = catalog.save_plan(_plan())
    assert plan.version == 1 and catalog.save_plan(_plan()).version == 2
    shot = catalog.latest_plan("SKU-1").shots[0]
    candidate = catalog.add_candidate(Candidate(sku="SKU-1", shot_id=shot.id, role=Role.packshot,
                                                asset_id="b" * 64, source_asset_id="c" * 64))
    catalog.add_critique(Critique(candidate_id=candidate.id, verdict="pass", score=0.9,
                                  checks=[Check(name="color", passed=True, value=1.0, limit=6.0)]))
    assert catalog.latest_critique(candidate.id).score == 0.9
    assert catalog.approved("SKU-1") == []
    catalog.add_decision(Decision(candidate_id=candidate.id, action="approve"))
    assert [c.id for c in catalog.approved("SKU-1")] == [candidate.id]
    catalog.add_decision(Decision(candidate_id=candidate.id, action="reject", note="too dark"))
    assert catalog.approved("SKU-1") == []
    assert catalog.photos("SKU-1")[0].asset_id == "a" * 64


def test_unknown_ids_are_clear_errors(workspace):
    with pytest.raises(NotFound, match="unknown SKU 'NOPE'"):
        workspace.catalog.get_product("NOPE")
    with pytest.raises(NotFound, match="unknown candidate"):
        workspace.catalog.add_decision(Decision(candidate_id="cand_x", action="approve"))


def test_a_failed_write_rolls_back_whole(workspace):
    catalog = workspace.catalog
    catalog.upsert_product(Product(sku="SKU-1", category="ring"))
    with pytest.raises(RuntimeError), catalog.transaction() as conn:
        conn.execute("INSERT INTO exports (sku, channel, path, data, created_at) VALUES ('SKU-1','amazon','p','{}','t')")
        raise RuntimeError("disk full halfway")
    assert catalog.exports("SKU-1") == []


def test_talent_consent_is_stored(workspace):
    catalog = workspace.catalog
    catalog.upsert_talent(Talent(id="t1", name="Ana", consent=Consent(talent_id="t1", channels=["etsy"])))
    talent = catalog.set_consent(Consent(talent_id="t1", channels=["etsy"], revoked=True))
    assert catalog.get_talent("t1").consent.revoked and talent.consent.revoked
    assert "revoked" in catalog.get_talent("t1").consent.refusal("etsy")


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    writers = [_writer(path, f"SKU-{i}", shots=5, rounds=30) for i in range(2)]
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "finished" in out
    assert _plan_count(path, "SKU-0") == 30 and _plan_count(path, "SKU-1") == 30


def test_a_process_killed_mid_write_leaves_the_catalog_consistent(tmp_path):
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    writer = _writer(path, "SKU-K", shots=40)
    deadline = time.monotonic() + 60
    while _plan_count(path, "SKU-K") < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    catalog = Catalog(path)
    assert catalog.integrity_ok()
    plans = catalog._query("SELECT id, version, data FROM plans WHERE sku = 'SKU-K' ORDER BY version")
    assert len(plans) >= 5
    # every committed plan has all of its shots: no half-written plan survives the kill
    for row in plans:
        count = catalog._query("SELECT COUNT(*) FROM shots WHERE plan_id = ?", (row["id"],))[0][0]
        assert count == 40
    assert [row["version"] for row in plans] == list(range(1, len(plans) + 1))
    catalog.save_plan(_plan("SKU-K"))  # and it is still writable
