import asyncio
import uuid

import chromadb
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.retrievers.crossrank import CrossRankRetriever
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.crossrank import CrossRankVectorStore

TEXTS = {
    "loops": "The break statement ends the nearest enclosing loop.",
    "functions": "A lambda expression creates a small anonymous function.",
    "errors": "A try statement handles exceptions raised in its suite.",
}


def _documents() -> list[Document]:
    return [
        Document(text=text, id_=f"doc-{name}", metadata={"topic": name, "tags": [name, "py"]})
        for name, text in TEXTS.items()
    ]


@pytest.fixture
def vector_store(tiny_embedding) -> CrossRankVectorStore:
    return CrossRankVectorStore(tiny_embedding, collection=f"li{uuid.uuid4().hex[:10]}")


def _index(vector_store, tiny_embedding) -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(
        _documents(),
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=tiny_embedding,
    )


def test_an_index_writes_and_retrieves_nodes_with_metadata_and_relationships(
    vector_store, tiny_embedding
):
    retriever = _index(vector_store, tiny_embedding).as_retriever(similarity_top_k=2)
    [best, _] = retriever.retrieve(TEXTS["functions"])
    assert best.node.get_content() == TEXTS["functions"]
    assert best.node.metadata == {"topic": "functions", "tags": ["functions", "py"]}
    assert best.node.relationships[NodeRelationship.SOURCE].node_id == "doc-functions"
    assert type(best.score) is float and 0 < best.score <= 1  # cosine similarity
    again = asyncio.run(retriever.aretrieve(TEXTS["functions"]))
    assert [n.node_id for n in again] == [best.node_id, _.node_id]


def test_filters_get_nodes_delete_and_clear(vector_store, tiny_embedding):
    _index(vector_store, tiny_embedding)
    filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="errors")])
    query = VectorStoreQuery(
        query_embedding=tiny_embedding.get_query_embedding("loops"),
        similarity_top_k=3,
        filters=filters,
    )
    result = vector_store.query(query)
    assert [n.metadata["topic"] for n in result.nodes] == ["errors"]
    assert len(result.similarities) == len(result.ids) == 1
    [node] = vector_store.get_nodes(filters=filters)
    assert vector_store.get_nodes([node.node_id])[0].get_content() == TEXTS["errors"]
    vector_store.delete("doc-errors")
    assert vector_store.get_nodes(filters=filters) == []
    mmr = vector_store.query(
        VectorStoreQuery(
            query_embedding=tiny_embedding.get_query_embedding("loops"),
            similarity_top_k=2,
            mode=VectorStoreQueryMode.MMR,
        )
    )
    assert len(mmr.nodes) == 2
    with pytest.raises(ValueError, match="query mode"):
        vector_store.query(
            VectorStoreQuery(query_embedding=[0.0] * 32, mode=VectorStoreQueryMode.SPARSE)
        )
    vector_store.clear()
    assert vector_store.store.count() == 0


def test_an_ingestion_pipeline_writes_and_crossrank_reranks_on_top(
    vector_store, tiny_embedding, tiny_reranker_path
):
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), tiny_embedding],
        vector_store=vector_store,
    )
    pipeline.run(documents=_documents())
    assert vector_store.store.count() == 3
    nodes = CrossRankRetriever(vector_store.store, k=2, reranker=tiny_reranker_path).retrieve(
        "How do I leave a loop early?"
    )
    assert len(nodes) == 2 and all("relevance_score" in n.node.metadata for n in nodes)
    assert {n.node.metadata["topic"] for n in nodes} <= set(TEXTS)


def test_a_chroma_vector_store_collection_opens_as_a_crossrank_one(tiny_embedding):
    client = chromadb.EphemeralClient()
    name = f"cv{uuid.uuid4().hex[:10]}"
    theirs = ChromaVectorStore(chroma_collection=client.create_collection(name))
    VectorStoreIndex.from_documents(
        [Document(text=t, metadata={"topic": n}) for n, t in TEXTS.items()],
        storage_context=StorageContext.from_defaults(vector_store=theirs),
        embed_model=tiny_embedding,
    )
    ours = CrossRankVectorStore(tiny_embedding, collection=name, client=client)
    index = VectorStoreIndex.from_vector_store(ours, embed_model=tiny_embedding)
    [best] = index.as_retriever(similarity_top_k=1).retrieve(TEXTS["loops"])
    assert best.node.get_content() == TEXTS["loops"] and best.node.metadata == {"topic": "loops"}


def test_bad_arguments(tiny_embedding):
    with pytest.raises(
        TypeError, match="unexpected arguments: 'colection' .did you mean 'collection'"
    ):
        CrossRankVectorStore(tiny_embedding, colection="x")
    with pytest.raises(ValueError, match="needs query.query_embedding"):
        CrossRankVectorStore(tiny_embedding).query(VectorStoreQuery(query_str="x"))


def test_no_embed_model_works_as_chroma_vector_store_does(tiny_embedding, tmp_path, monkeypatch):
    """`CrossRankVectorStore(path=, collection=)`, as ChromaVectorStore is written: the index's
    embed_model embeds, and LlamaIndex's default (OpenAI) model is never made."""
    from llama_index.core import Settings

    from crossrank import ModelNotFoundError

    monkeypatch.setattr(Settings, "_embed_model", None)
    vector_store = CrossRankVectorStore(path=str(tmp_path / "db"), collection="docs")
    index = _index(vector_store, tiny_embedding)
    [best] = index.as_retriever(similarity_top_k=1).retrieve(TEXTS["errors"])
    assert best.node.get_content() == TEXTS["errors"]
    mmr = index.as_retriever(similarity_top_k=2, vector_store_query_mode="mmr")
    assert len(mmr.retrieve(TEXTS["loops"])) == 2
    # crossrank's own keyword search needs no model; its text search says what to pass
    keyword = CrossRankRetriever(vector_store.store, k=1, retrieval="bm25")
    assert keyword.retrieve("lambda anonymous")[0].node.get_content() == TEXTS["functions"]
    with pytest.raises(ModelNotFoundError, match=r"CrossRankVectorStore\(embed_model=\.\.\.\)"):
        CrossRankRetriever(vector_store.store, k=1).retrieve("loops")
    assert Settings._embed_model is None  # the default model was never resolved
    # the collection records no model: it opens later with the one the index used
    named = CrossRankVectorStore(tiny_embedding, path=str(tmp_path / "db"), collection="docs")
    [hit] = CrossRankRetriever(named.store, k=1).retrieve(TEXTS["loops"])
    assert hit.node.get_content() == TEXTS["loops"]
