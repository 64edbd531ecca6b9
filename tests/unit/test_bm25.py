"""The BM25 index: derived from the collection, updated in proportion to each change,
saved and reopened (other processes and kill -9: tests/integration/test_bm25_processes.py)."""

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from crossrank import Encoder, Store
from crossrank import bm25 as bm25_module
from crossrank import collection as collection_module
from crossrank.collection import Collection


def _texts(store: Store, query: str) -> list[str]:
    return [hit.text for hit in store.bm25.search(query, 5)]


def test_bm25_follows_add_reindex_and_delete_in_proportion(
    tmp_path: Path, tiny_encoder_path: str, bm25_spy
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    (docs / "b.txt").write_text("Kangaroos hop across the outback.")
    for i in range(20):
        (docs / f"other{i}.txt").write_text(f"Filler document number {i} about nothing much.")
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    store.index([docs])
    [hit] = store.bm25.search("zebrafish", 5)
    assert hit.metadata["source"].endswith("a.txt") and hit.scores == {"bm25": hit.retrieval_score}
    assert bm25_spy["rebuilds"] == [1]  # the first search builds the index, once

    (docs / "a.txt").write_text("The axolotl lives in a lake.")  # re-index a changed file
    store.index([docs])
    assert store.bm25.search("zebrafish", 5) == []
    assert _texts(store, "axolotl") == ["The axolotl lives in a lake."]
    assert bm25_spy["changed"][-1] == 2  # one chunk deleted, one written: not the 22 stored

    store.add_texts(["Wombats dig burrows."], ids=["w"])  # add
    assert _texts(store, "wombats") == ["Wombats dig burrows."]
    store.add_texts(["Wombats sleep all day."], ids=["w"])  # replace under the same id
    assert store.bm25.search("burrows", 5) == [] and len(_texts(store, "sleep")) == 1
    store.delete(["w"])  # delete
    assert store.bm25.search("wombats", 5) == []
    assert len(_texts(store, "kangaroos")) == 1

    (docs / "b.txt").unlink()  # a file deleted from an indexed folder
    report = store.index([docs])
    assert report.removed == 1 and store.bm25.search("kangaroos", 5) == []
    assert bm25_spy["rebuilds"] == [1] and max(bm25_spy["changed"]) <= 2


def test_saved_index_opens_without_rebuilding(tmp_path: Path, tiny_encoder_path: str, bm25_spy):
    encoder = Encoder(tiny_encoder_path, device="cpu")
    first = Store(tmp_path / "db", "bm25", encoder)
    first.add_texts(["The zebrafish swims in the river."])
    assert len(first.bm25.search("zebrafish", 5)) == 1
    assert (tmp_path / "db" / "keyword" / "bm25" / "meta.json").exists()
    reader = Store(tmp_path / "db", "bm25", encoder)  # another process, in effect
    assert len(reader.bm25.search("zebrafish", 5)) == 1
    assert bm25_spy["rebuilds"] == [1] and bm25_spy["changed"] == []  # opened as saved


def test_writes_by_another_library_are_found(tmp_path: Path, tiny_encoder_path: str, bm25_spy):
    encoder = Encoder(tiny_encoder_path, device="cpu")
    ours = Store(tmp_path / "db", "bm25", encoder)
    ours.add_texts(["The zebrafish swims in the river."])
    ours.bm25.search("river", 5)
    raw = ours.client.get_or_create_collection("theirs", embedding_function=None)
    vector = [0.1] * encoder.dimension
    raw.add(ids=["x"], documents=["Capybaras bathe."], embeddings=[vector])
    theirs = Store(tmp_path / "db", "theirs", encoder)  # a collection langchain-chroma built
    theirs.bm25.recheck = 0  # its count checked before each search (the default: below)
    assert _texts(theirs, "capybaras") == ["Capybaras bathe."]
    raw.add(ids=["y"], documents=["Capybaras swim."], embeddings=[vector])
    assert len(_texts(theirs, "capybaras")) == 2

    ours.client.get_collection("bm25").add(
        ids=["z"], documents=["Okapis hide."], embeddings=[vector]
    )
    ours.add_texts(["Tapirs wade."])  # crossrank's next write: the count then disagrees
    assert _texts(ours, "okapis") == ["Okapis hide."] and _texts(ours, "tapirs") == ["Tapirs wade."]
    assert bm25_spy["rebuilds"] == [1, 1, 1, 1]


def test_a_collection_others_write_is_counted_at_most_every_recheck_seconds(
    tmp_path: Path, tiny_encoder_path: str, monkeypatch, bm25_spy
):
    now = [1000.0]
    monkeypatch.setattr(bm25_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    counts = []
    count = Collection.count
    monkeypatch.setattr(Collection, "count", lambda self: counts.append(1) or count(self))
    encoder = Encoder(tiny_encoder_path, device="cpu")
    theirs = Store(tmp_path / "db", "theirs", encoder)
    raw = theirs.client.create_collection("theirs", embedding_function=None)  # not crossrank
    vector = [0.1] * encoder.dimension
    raw.add(ids=["x"], documents=["Capybaras bathe."], embeddings=[vector])
    assert _texts(theirs, "capybaras") == ["Capybaras bathe."]
    counts.clear()
    for _ in range(10):
        _texts(theirs, "capybaras")
    assert len(counts) == 0  # the search after the build counted; these ten did not

    raw.add(ids=["y"], documents=["Capybaras swim."], embeddings=[vector])
    assert len(_texts(theirs, "capybaras")) == 1  # stale, within the bound
    now[0] += bm25_module.RECHECK_S - 0.1
    assert len(_texts(theirs, "capybaras")) == 1
    now[0] += 0.2  # the bound has passed: the count disagrees, and the index catches up
    assert len(_texts(theirs, "capybaras")) == 2 and len(counts) >= 1

    # A replacement in place changes neither version nor count: unseen until a rebuild.
    raw.update(ids=["x"], documents=["Okapis hide."], embeddings=[vector])
    now[0] += 60
    assert _texts(theirs, "okapis") == [] and len(_texts(theirs, "capybaras")) == 2
    theirs.bm25.rebuild()
    assert _texts(theirs, "okapis") == ["Okapis hide."] and _texts(theirs, "capybaras") == [
        "Capybaras swim."
    ]


def test_a_long_deletion_log_or_a_damaged_index_means_a_rebuild(
    tmp_path: Path, tiny_encoder_path: str, monkeypatch, bm25_spy
):
    monkeypatch.setattr(collection_module, "LOGGED_DELETIONS", 3)
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    ids = store.add_texts([f"river number {i}" for i in range(6)])
    assert len(store.bm25.search("river", 10)) == 6
    store.delete(ids[:4])  # more than the log keeps: readers cannot tell which
    assert len(store.bm25.search("river", 10)) == 2 and bm25_spy["rebuilds"] == [1, 1]

    (tmp_path / "db" / "keyword" / "bm25" / "meta.json").write_text("{not json")
    fresh = Store(tmp_path / "db", "bm25", store.encoder)
    assert len(fresh.bm25.search("river", 10)) == 2


def test_bm25_filters_and_empty_stores(indexed_store, sample_corpus: Path):
    source = str((sample_corpus / "lambda.txt").resolve())
    hits = indexed_store.bm25.search("expression", 5, where={"source": source})
    assert hits and {hit.metadata["source"] for hit in hits} == {source}
    unfiltered = {
        hit.id: hit.retrieval_score for hit in indexed_store.bm25.search("expression", 50)
    }
    assert all(hit.retrieval_score == unfiltered[hit.id] for hit in hits)  # the filter adds 0
    assert indexed_store.bm25.search("expression", 5, where={"source": "nowhere"}) == []
    empty = Store(
        collection=f"e{uuid.uuid4().hex[:8]}", encoder=indexed_store.encoder, in_memory=True
    )
    assert empty.bm25.search("anything", 5) == []
    with pytest.raises(ValueError, match="query is empty"):
        indexed_store.bm25.search("  ", 5)
    assert indexed_store.bm25.search("the of and", 5) == []  # stop words only
