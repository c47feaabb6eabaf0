"""The semantic index: Chroma in the home folder with the offline MiniLM through our own embedding
function (Chroma's downloading default must never run), products found by description, category briefs."""

from __future__ import annotations

import pytest

from tools import index
from tools.errors import BadInput
from tools.models import Product

PRODUCTS = [
    Product(sku="RING-SAPH", category="ring", title="Gold ring with a blue sapphire", materials=["gold", "sapphire"],
            colors=["blue"]),
    Product(sku="RING-DIA", category="ring", title="Rose gold diamond solitaire", materials=["rose gold", "diamond"]),
    Product(sku="NECK-PEARL", category="necklace", title="Freshwater pearl pendant on a silver chain",
            materials=["silver", "pearl"]),
    Product(sku="TEE-RED", category="apparel_top", title="Red organic cotton t-shirt", materials=["cotton"],
            colors=["red"]),
    Product(sku="BAG-TOTE", category="bag", title="Brown leather tote bag", materials=["leather"], colors=["brown"]),
]


@pytest.fixture(autouse=True, scope="module")
def _forbid_default_embedder():
    """Chroma's default embedding function downloads a model: any call fails the test."""
    from chromadb.api.types import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(*_args, **_kwargs):
        raise AssertionError("Chroma's default (downloading) embedding function was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DefaultEmbeddingFunction, "__call__", refuse)
        patch.setattr(ONNXMiniLM_L6_V2, "__call__", refuse)
        yield


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=tmp_path_factory.mktemp("index") / "home"))
    for product in PRODUCTS:
        ws.catalog.upsert_product(product)
    assert index.sync_products(ws) == len(PRODUCTS)
    yield ws
    ws.close()


@pytest.mark.parametrize("query,sku", [
    ("find the blue sapphire ring", "RING-SAPH"),
    ("pearl necklace", "NECK-PEARL"),
    ("a red tee", "TEE-RED"),
    ("leather handbag", "BAG-TOTE"),
    ("diamond engagement ring in rose gold", "RING-DIA"),
])
def test_products_are_found_by_description(indexed, query, sku):
    hits = index.find_products(indexed, query, k=3)
    assert hits[0]["sku"] == sku
    assert hits[0]["score"] > hits[1]["score"]


def test_search_within_a_category(indexed):
    hits = index.find_products(indexed, "something blue", k=5, category="rings")
    assert {h["sku"] for h in hits} == {"RING-SAPH", "RING-DIA"}


def test_the_collection_uses_our_embedding_function_and_the_home_folder(indexed):
    collection = index._collection(indexed, index.PRODUCTS)
    assert collection._embedding_function.name() == index.EMBEDDER_NAME
    assert any(indexed.index_dir.iterdir()), "Chroma wrote nothing into <home>/index"


def test_the_index_persists_across_clients(indexed):
    from chromadb.api.client import SharedSystemClient

    index._clients.clear()
    SharedSystemClient.clear_system_cache()
    hits = index.find_products(indexed, "sapphire", k=1)
    assert hits[0]["sku"] == "RING-SAPH"


def test_reindexing_is_idempotent_and_updates(indexed, monkeypatch):
    # runs last among the tests that share `indexed`: it changes one product
    with monkeypatch.context() as patch:
        patch.setattr(index, "_load_model", lambda device: (_ for _ in ()).throw(AssertionError("re-embedded")))
        assert index.sync_products(indexed) == len(PRODUCTS)  # nothing changed: nothing is embedded again
    changed = PRODUCTS[3].model_copy(update={"title": "Green linen shirt", "colors": ["green"], "materials": ["linen"]})
    indexed.catalog.upsert_product(changed)
    index.sync_products(indexed)
    assert index._collection(indexed, index.PRODUCTS).count() == len(PRODUCTS)
    assert index.find_products(indexed, "green linen shirt", k=1)[0]["sku"] == "TEE-RED"


def test_category_briefs_are_indexed_and_matched(workspace):
    assert index.index_category_briefs(workspace) >= 12
    assert index.nearest_category(workspace, "a band worn on the finger with a gemstone")[0] == "ring"
    assert index.nearest_category(workspace, "sneakers and boots")[0] == "shoes"
    assert "## scenes" in index.category_brief(workspace, "pendant")


def test_bad_queries_are_refused(workspace):
    with pytest.raises(BadInput, match="query"):
        index.find_products(workspace, "   ")
    with pytest.raises(BadInput, match="k must be"):
        index.find_products(workspace, "ring", k=0)


def test_empty_index_finds_nothing(workspace):
    assert index.find_products(workspace, "anything") == []
