"""The BM25 index: derived from the collection, kept in step with it, saved and reloaded."""

import json
import shutil
import uuid
from pathlib import Path

import pytest

from crossrank import Encoder, Store
from crossrank.bm25 import BM25Index


def _bm25_ids(store: Store, query: str) -> list[str]:
    return [hit.id for hit in store.bm25.search(query, 5)]


def test_bm25_follows_add_reindex_and_delete(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    (docs / "b.txt").write_text("Kangaroos hop across the outback.")
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    store.index([docs])
    [hit] = store.bm25.search("zebrafish", 5)
    assert hit.metadata["source"].endswith("a.txt") and hit.scores == {"bm25": hit.retrieval_score}

    (docs / "a.txt").write_text("The axolotl lives in a lake.")  # re-index a changed file
    store.index([docs])
    assert store.bm25.search("zebrafish", 5) == []
    [hit] = store.bm25.search("axolotl", 5)
    assert hit.text == "The axolotl lives in a lake."

    store.delete([hit.id])
    assert store.bm25.search("axolotl", 5) == []
    assert len(store.bm25.search("kangaroos", 5)) == 1

    (docs / "b.txt").unlink()  # a file deleted from an indexed folder
    report = store.index([docs])
    assert report.removed == 1 and store.bm25.search("kangaroos", 5) == []


def test_saved_index_is_reused_and_other_writers_invalidate_it(
    tmp_path: Path, tiny_encoder_path: str, monkeypatch
):
    encoder = Encoder(tiny_encoder_path, device="cpu")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    first = Store(tmp_path / "db", "bm25", encoder)
    first.index([docs])
    first.bm25.search("zebrafish", 5)
    saved = json.loads((tmp_path / "db" / "bm25" / "bm25" / "crossrank.json").read_text())
    assert saved["ids"] == first.collection.get(include=[])["ids"]

    builds = []
    original = BM25Index._build
    monkeypatch.setattr(BM25Index, "_build", lambda self, v: builds.append(1) or original(self, v))
    reader = Store(tmp_path / "db", "bm25", encoder)  # another process, in effect
    assert len(reader.bm25.search("zebrafish", 5)) == 1 and builds == []  # loaded from disk

    writer = Store(tmp_path / "db", "bm25", encoder)
    (docs / "a.txt").write_text("The zebrafish swims. The axolotl lives in a lake.")
    writer.index([docs])  # same chunk count, new content
    assert [h.text for h in reader.bm25.search("axolotl", 5)] == [
        "The zebrafish swims. The axolotl lives in a lake."
    ]
    assert builds == [1]


def test_a_corrupt_saved_index_is_rebuilt(tmp_path: Path, tiny_encoder_path: str):
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    store.index([docs])
    store.bm25.search("river", 5)
    folder = tmp_path / "db" / "bm25" / "bm25"
    (folder / "crossrank.json").write_text("{not json")
    fresh = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    assert len(fresh.bm25.search("river", 5)) == 1
    shutil.rmtree(folder)
    assert len(Store(tmp_path / "db", "bm25", store.encoder).bm25.search("river", 5)) == 1


def test_bm25_filters_and_empty_stores(indexed_store, sample_corpus: Path):
    source = str((sample_corpus / "lambda.txt").resolve())
    hits = indexed_store.bm25.search("expression", 5, where={"source": source})
    assert hits and {hit.metadata["source"] for hit in hits} == {source}
    empty = Store(
        collection=f"e{uuid.uuid4().hex[:8]}", encoder=indexed_store.encoder, in_memory=True
    )
    assert empty.bm25.search("anything", 5) == []
    with pytest.raises(ValueError, match="query is empty"):
        indexed_store.bm25.search("  ", 5)
