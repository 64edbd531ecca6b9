from pathlib import Path

import chromadb
import pytest

from crossrank import CollectionMismatchError, Encoder, Store


def test_collection_is_cosine_and_records_the_model(make_chunks, memory_store: Store):
    memory_store.add(make_chunks(3))
    collection = memory_store.client.get_collection(memory_store.connection.collection)
    assert collection.configuration["hnsw"]["space"] == "cosine"
    assert collection.metadata["crossrank:model"] == memory_store.encoder.model_name
    assert collection.metadata["crossrank:dimension"] == 32


def test_adding_the_same_chunk_twice_stores_it_once(make_chunks, memory_store: Store):
    chunks = make_chunks(4)
    assert memory_store.add(chunks) == 4
    assert memory_store.add(chunks + chunks[:2]) == 0
    assert memory_store.count() == 4


def test_search_returns_plain_float_cosine_similarities(make_chunks, memory_store: Store):
    memory_store.add(make_chunks(6))
    hits = memory_store.search("passage 3 about cats", k=4)
    assert len(hits) == 4
    assert all(type(hit.retrieval_score) is float for hit in hits)
    scores = [hit.retrieval_score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    # The query is one of the passages: the encoder maps it to the same unit vector.
    assert hits[0].text == "passage 3 about cats"
    assert hits[0].retrieval_score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata["source"] == "s.txt"


def test_filters_pass_through(make_chunks, memory_store: Store):
    memory_store.add(make_chunks(4, "a.txt") + make_chunks(4, "b.txt"))
    hits = memory_store.search("cats", k=8, where={"source": "b.txt"})
    assert {hit.metadata["source"] for hit in hits} == {"b.txt"}
    hits = memory_store.search("cats", k=8, where_document={"$contains": "ships"})
    assert hits and all("ships" in hit.text for hit in hits)


def test_bad_queries_get_clear_errors(make_chunks, memory_store: Store):
    memory_store.add(make_chunks(2))
    with pytest.raises(ValueError, match="query is empty"):
        memory_store.search("   ")
    with pytest.raises(ValueError, match="k must be at least 1"):
        memory_store.search("cats", k=0)


def test_empty_store_returns_no_hits(memory_store: Store):
    assert memory_store.search("anything") == []


def test_other_model_raises_a_mismatch(make_chunks, tmp_path: Path, tiny_encoder_path: str):
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    Store(collection="docs", encoder=Encoder(tiny_encoder_path), client=client).add(make_chunks(2))
    with pytest.raises(CollectionMismatchError, match="built with model"):
        Store(collection="docs", client=client).count()  # the default 384-dim MiniLM
    client.get_collection("docs").modify(
        metadata={"crossrank:model": tiny_encoder_path, "crossrank:dimension": 99}
    )
    with pytest.raises(CollectionMismatchError, match="dimension 99"):
        Store(collection="docs", encoder=Encoder(tiny_encoder_path), client=client).count()
