import uuid
from pathlib import Path

import chromadb
import numpy as np
import pytest

from crossrank import CollectionMismatchError, Encoder, ModelNotFoundError, Store
from crossrank.hit import Chunk
from crossrank.ingest import chunk_id


def _chunks(n: int, source: str = "s.txt") -> list[Chunk]:
    texts = [f"passage {i} about {'cats' if i % 2 else 'ships'}" for i in range(n)]
    return [Chunk(chunk_id(source, i, t), t, source, i, 0, len(t)) for i, t in enumerate(texts)]


def test_collection_is_cosine_and_records_the_model(memory_store: Store):
    memory_store.add(_chunks(3))
    collection = memory_store.client.get_collection(memory_store.connection.collection)
    assert collection.configuration["hnsw"]["space"] == "cosine"
    assert collection.metadata["crossrank:model"] == memory_store.encoder.model_name
    assert collection.metadata["crossrank:dimension"] == 32


def test_adding_the_same_chunk_twice_stores_it_once(memory_store: Store):
    chunks = _chunks(4)
    assert memory_store.add(chunks) == 4
    assert memory_store.add(chunks + chunks[:2]) == 0
    assert memory_store.count() == 4


def test_search_returns_plain_float_cosine_similarities(memory_store: Store):
    memory_store.add(_chunks(6))
    hits = memory_store.search("passage 3 about cats", k=4)
    assert len(hits) == 4
    assert all(type(hit.retrieval_score) is float for hit in hits)
    scores = [hit.retrieval_score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    # The query is one of the passages: the encoder maps it to the same unit vector.
    assert hits[0].text == "passage 3 about cats"
    assert hits[0].retrieval_score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].metadata["source"] == "s.txt"


def test_filters_pass_through(memory_store: Store):
    memory_store.add(_chunks(4, "a.txt") + _chunks(4, "b.txt"))
    hits = memory_store.search("cats", k=8, where={"source": "b.txt"})
    assert {hit.metadata["source"] for hit in hits} == {"b.txt"}
    hits = memory_store.search("cats", k=8, where_document={"$contains": "ships"})
    assert hits and all("ships" in hit.text for hit in hits)


def test_bad_queries_get_clear_errors(memory_store: Store):
    memory_store.add(_chunks(2))
    with pytest.raises(ValueError, match="query is empty"):
        memory_store.search("   ")
    with pytest.raises(ValueError, match="k must be at least 1"):
        memory_store.search("cats", k=0)


def test_empty_store_returns_no_hits(memory_store: Store):
    assert memory_store.search("anything") == []


def test_other_model_raises_a_mismatch(tmp_path: Path, tiny_encoder_path: str):
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    Store(collection="docs", encoder=Encoder(tiny_encoder_path), client=client).add(_chunks(2))
    with pytest.raises(CollectionMismatchError, match="built with model"):
        Store(collection="docs", client=client).count()  # the default 384-dim MiniLM
    client.get_collection("docs").modify(
        metadata={"crossrank:model": tiny_encoder_path, "crossrank:dimension": 99}
    )
    with pytest.raises(CollectionMismatchError, match="dimension 99"):
        Store(collection="docs", encoder=Encoder(tiny_encoder_path), client=client).count()


def test_batches_respect_the_client_maximum(memory_store: Store, monkeypatch):
    from chromadb.api.models.Collection import Collection

    sizes: list[int] = []
    upsert = Collection.upsert

    def recording_upsert(self, **kwargs):
        sizes.append(len(kwargs["ids"]))
        return upsert(self, **kwargs)

    monkeypatch.setattr(memory_store.client, "get_max_batch_size", lambda: 3)
    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    memory_store.add(_chunks(8))
    assert sizes == [3, 3, 2]
    assert memory_store.count() == 8


def test_reindexing_embeds_only_what_changed(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha text about rivers. " * 40)
    (docs / "b.md").write_text("# Bravo\n\nNotes about mountains. " * 40)
    store = Store(
        tmp_path / "db", f"c{uuid.uuid4().hex[:8]}", Encoder(tiny_encoder_path, max_length=32)
    )
    first = store.index([docs], chunk_overlap=8)
    assert first.files == 2 and first.embedded == first.chunks > 2
    again = store.index([docs], chunk_overlap=8)
    assert again.embedded == 0 and again.removed == 0
    assert store.count() == first.chunks

    (docs / "a.txt").write_text("Alpha text, rewritten. " * 10)
    changed = store.index([docs], chunk_overlap=8)
    assert changed.removed > 0 and 0 < changed.embedded < changed.chunks
    assert store.count() == changed.chunks
    sources = {m["source"] for m in store.collection.get(include=["metadatas"])["metadatas"]}
    assert sources == {str((docs / "a.txt").resolve()), str((docs / "b.md").resolve())}


def test_unknown_embedding_model_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="embedding model 'nobody/no-such-encoder'"):
        Encoder("nobody/no-such-encoder").load()


def test_encoder_may_be_given_by_name(tiny_encoder_path: str):
    store = Store(collection=f"n{uuid.uuid4().hex[:8]}", encoder=tiny_encoder_path, in_memory=True)
    assert isinstance(store.encoder, Encoder) and store.encoder.model_name == tiny_encoder_path
    assert store.encoder.chunk_tokens == store.encoder.max_length - 2  # [CLS] and [SEP]


def test_repeated_queries_come_from_the_cache(tiny_encoder_path: str, monkeypatch):
    encoder = Encoder(tiny_encoder_path, device="cpu", query_cache=2)
    calls = []
    embed = encoder.embed
    monkeypatch.setattr(encoder, "embed", lambda texts: calls.append(texts) or embed(texts))
    first = encoder.embed_query("how do loops stop")
    again = encoder.embed_query("how do loops stop")
    assert calls == [["how do loops stop"]] and again is first
    assert not first.flags.writeable  # a caller cannot corrupt the cache
    encoder.embed_query("b")
    encoder.embed_query("c")  # evicts the oldest, "how do loops stop"
    encoder.embed_query("how do loops stop")
    assert len(calls) == 4
    assert np.allclose(encoder.embed_query("c"), embed(["c"])[0])


def test_query_cache_can_be_turned_off(tiny_encoder_path: str, monkeypatch):
    encoder = Encoder(tiny_encoder_path, device="cpu", query_cache=0)
    calls = []
    embed = encoder.embed
    monkeypatch.setattr(encoder, "embed", lambda texts: calls.append(texts) or embed(texts))
    encoder.embed_query("q")
    encoder.embed_query("q")
    assert len(calls) == 2


def test_bf16_embeddings_are_float32_unit_vectors_near_fp32(tiny_encoder_path: str):
    texts = ["The break statement ends a loop.", "Modules are imported."]
    exact = Encoder(tiny_encoder_path, device="cpu", precision="fp32").embed(texts)
    fast = Encoder(tiny_encoder_path, device="cpu", precision="bf16").embed(texts)
    assert fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-3)
    assert np.allclose((exact * fast).sum(axis=1), 1.0, atol=1e-2)


def test_reindexing_a_folder_drops_deleted_files_only(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (docs / name).write_text(f"Text of {name}, long enough to be a chunk. " * 3)
    other = tmp_path / "other.txt"
    other.write_text("A file indexed by name, outside the folder.")
    store = Store(tmp_path / "db", "prune", tiny_encoder_path)
    store.index([docs, other])
    (docs / "b.txt").unlink()
    (docs / "c.txt").write_text("")  # skipped now, but not deleted: keeps its chunks
    kept_other = str(other.resolve())
    other.unlink()  # not inside an indexed folder: left alone
    report = store.index([docs])
    sources = {m["source"] for m in store.collection.get(include=["metadatas"])["metadatas"]}
    assert sources == {str((docs / n).resolve()) for n in ("a.txt", "c.txt")} | {kept_other}
    assert report.removed == 1
