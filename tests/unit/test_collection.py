import uuid

import chromadb
import numpy as np
import pytest

from crossrank import CollectionMismatchError, Connection, Encoder, Store
from crossrank.collection import VERSION_KEY, Collection


@pytest.fixture
def encoder(tiny_encoder_path: str) -> Encoder:
    return Encoder(tiny_encoder_path, device="cpu")


def _collection(encoder: Encoder) -> Collection:
    return Collection(Connection(collection=f"c{uuid.uuid4().hex[:12]}", in_memory=True), encoder)


def test_reading_never_creates(encoder: Encoder):
    collection = _collection(encoder)
    names = {c.name for c in collection.client.list_collections()}
    assert collection.count() == 0 and not collection.exists() and collection.version() is None
    assert collection.get(include=["documents"]) == {"ids": [], "documents": []}
    assert collection.query(encoder.embed_query("anything"), 3) == []
    collection.delete(["nothing"])
    store = Store(collection=collection.name, encoder=encoder, in_memory=True)
    assert store.search("anything", k=3) == [] and store.bm25.search("anything", 3) == []
    assert {c.name for c in collection.client.list_collections()} == names


def test_the_first_write_creates_and_each_write_bumps_the_version(encoder: Encoder):
    collection = _collection(encoder)
    collection.upsert(["a", "b"], ["rivers flow", "cats purr"], [{"n": 1}, {"n": 2}])
    first = collection.version()
    assert collection.exists() and collection.count() == 2 and first
    collection.upsert(["a"], ["rivers flow fast"], [{"n": 1}])  # a replace: same count
    second = collection.version()
    collection.delete(["b"])
    assert len({first, second, collection.version()}) == 3
    raw = collection.client.get_collection(collection.name)
    assert raw.metadata[VERSION_KEY] == collection.version()
    assert raw.get(ids=["a"])["documents"] == ["rivers flow fast"]


def test_given_embeddings_are_stored_and_checked(encoder: Encoder):
    collection = _collection(encoder)
    vectors = np.eye(2, 32, dtype=np.float32)
    collection.upsert(["x", "y"], ["one", "two"], [{}, {}], vectors)
    assert np.allclose(collection.embeddings(["y", "x"]), vectors[::-1])
    [hit] = collection.query(vectors[1], 1)
    assert (hit.id, round(hit.retrieval_score, 6)) == ("y", 1.0)
    with pytest.raises(CollectionMismatchError, match="dimension"):
        collection.upsert(["z"], ["three"], [{}], np.ones((1, 5), dtype=np.float32))
    assert collection.count() == 2  # nothing lost


def test_a_foreign_collection_needs_a_named_model_of_its_dimension(encoder: Encoder):
    client = chromadb.EphemeralClient()
    name = f"f{uuid.uuid4().hex[:12]}"
    client.create_collection(name, embedding_function=None).add(
        ids=["1"], embeddings=[[0.0] * 32], documents=["theirs"]
    )
    connection = Connection(collection=name, in_memory=True)
    with pytest.raises(CollectionMismatchError, match="records no embedding model .* encoder="):
        Collection(connection, encoder, named=False).count()
    assert Collection(connection, encoder).count() == 1  # the model named: it opens
    from crossrank.encoder import FunctionEncoder

    five = FunctionEncoder(lambda texts: [[1.0] * 5 for _ in texts], name="five", dimension=5)
    with pytest.raises(CollectionMismatchError, match="vectors of dimension 32, but model 'five'"):
        Collection(connection, five).count()
    assert client.get_collection(name).metadata is None  # untouched


def test_bad_filters_are_value_errors(encoder: Encoder):
    collection = _collection(encoder)
    collection.upsert(["a"], ["rivers"], [{"n": 1}])
    with pytest.raises(ValueError, match=f"collection '{collection.name}'"):
        collection.get(where={"n": {"$nope": 1}})


def test_writing_into_a_foreign_collection_keeps_its_distance(encoder: Encoder):
    client = chromadb.EphemeralClient()
    name = f"h{uuid.uuid4().hex[:12]}"
    client.create_collection(name, metadata={"hnsw:space": "ip"}, embedding_function=None)
    collection = Collection(Connection(collection=name, in_memory=True), encoder)
    collection.upsert(["a", "b"], ["rivers flow", "cats purr"], [{"n": 1}, {"n": 2}])
    assert collection.version() and collection.space == "ip"
    assert client.get_collection(name).configuration["hnsw"]["space"] == "ip"
    [hit] = collection.query(encoder.embed_query("cats purr"), 1)
    assert hit.id == "b" and hit.retrieval_score == pytest.approx(1.0, abs=1e-5)  # cosine
