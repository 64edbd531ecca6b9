import uuid
from pathlib import Path

import chromadb
import numpy as np
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


def test_add_texts_keeps_metadata_exactly_and_ids_stable(memory_store: Store):
    texts = ["rivers flow to the sea", "cats purr on the sofa"]
    metadatas = [{"tags": ["geo"], "owner": None}, {"nested": {"a": [1, 2]}}]
    ids = memory_store.add_texts(texts, metadatas)
    assert memory_store.add_texts(texts, metadatas) == ids  # the same content, the same id
    assert memory_store.count() == 2
    found = memory_store.collection.get(ids)
    assert found["metadatas"] == metadatas and found["documents"] == texts
    [hit] = memory_store.search("cats purr on the sofa", k=1)
    assert hit.metadata == {"nested": {"a": [1, 2]}}  # no bookkeeping added
    memory_store.add_texts(["cats sleep all day"], ids=[ids[1]])  # the same id replaces
    assert memory_store.count() == 2
    assert memory_store.collection.get([ids[1]])["metadatas"] == [{}]


def test_add_texts_refuses_bad_input_before_writing(memory_store: Store):
    with pytest.raises(ValueError, match="keys are crossrank's own"):
        memory_store.add_texts(["a", "b"], [{"ok": 1}, {"crossrank:x": 1}])
    with pytest.raises(ValueError, match="2 texts, 1 metadatas and 2 ids"):
        memory_store.add_texts(["a", "b"], [{}], ids=["1", "2"])
    with pytest.raises(ValueError, match="ids must be unique"):
        memory_store.add_texts(["a", "b"], ids=["1", "1"])
    with pytest.raises(ValueError, match="one embedding per text"):
        memory_store.add_texts(["a", "b"], embeddings=np.zeros((1, 32)))
    assert memory_store.count() == 0 and not memory_store.collection.exists()


def test_given_embeddings_and_query_vectors(memory_store: Store):
    vectors = np.eye(3, 32, dtype=np.float32)
    ids = memory_store.add_texts(["x", "y", "z"], embeddings=vectors, ids=["x", "y", "z"])
    [hit] = memory_store.search_by_vector(vectors[2], k=1)
    assert (hit.id, round(hit.retrieval_score, 6), hit.scores) == ("z", 1.0, {"dense": 1.0})
    assert ids == ["x", "y", "z"]
    with pytest.raises(CollectionMismatchError, match="query vector of dimension 5"):
        memory_store.search_by_vector(np.ones(5), k=1)


def test_any_embedding_function_drives_a_store():
    from crossrank.encoder import FunctionEncoder

    calls: list[int] = []

    def embed(texts):
        calls.append(len(texts))
        return [[len(text), text.count("a"), 1.0] for text in texts]

    encoder = FunctionEncoder(embed, name="letters")
    store = Store(collection=f"f{uuid.uuid4().hex[:8]}", encoder=encoder, in_memory=True)
    store.add_texts(["aaa", "b", "banana"])
    assert encoder.dimension == 3 and calls[-1] == 3
    assert store.search("aaaa", k=1)[0].text == "aaa"
    assert (
        store.client.get_collection(store.connection.collection).metadata["crossrank:model"]
        == "letters"
    )
    plain = Store(collection=f"g{uuid.uuid4().hex[:8]}", encoder=embed, in_memory=True)
    plain.add_texts(["aaa", "b"])
    assert plain.encoder.model_name.endswith("embed") and plain.search("a", k=1)
    with pytest.raises(TypeError, match="needs a sentence-transformers Encoder"):
        store.index(["."])
    with pytest.raises(ValueError, match="expected one vector per text"):
        FunctionEncoder(lambda texts: [[1.0]], name="bad").embed(["a", "b"])
