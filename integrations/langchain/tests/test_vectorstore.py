import uuid
from collections.abc import Generator

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_crossrank import CrossRankRetriever, CrossRankVectorStore


class TestCrossRankVectorStoreStandard(VectorStoreIntegrationTests):
    """LangChain's standard vector-store suite, sync and async."""

    @pytest.fixture
    def vectorstore(self) -> Generator[CrossRankVectorStore, None, None]:
        yield CrossRankVectorStore(self.get_embeddings(), collection=f"v{uuid.uuid4().hex[:10]}")


def test_from_documents_mmr_and_hybrid_rerank_on_top(tmp_path, tiny_reranker_path):
    embedding = DeterministicFakeEmbedding(size=16)
    docs = [
        Document(page_content=text, metadata={"n": i, "tags": ["a"], "owner": None})
        for i, text in enumerate(
            ["break ends a loop", "break ends a loop!", "lambda makes functions", "try handles"]
        )
    ]
    store = CrossRankVectorStore.from_documents(
        docs, embedding, path=str(tmp_path / "db"), collection="docs"
    )
    found = store.similarity_search_with_score("lambda makes functions", k=2)
    assert found[0][0].metadata == {"n": 2, "tags": ["a"], "owner": None}
    assert found[0][1] == pytest.approx(1.0) and found[1][1] < 1.0
    assert [d.page_content for d in store.max_marginal_relevance_search("break", k=2)]
    assert store.as_retriever(search_kwargs={"k": 1}).invoke("try handles")[0].metadata["n"] == 3
    reopened = CrossRankVectorStore(embedding, path=str(tmp_path / "db"), collection="docs")
    assert len(reopened.get_by_ids([found[0][0].id])) == 1
    retriever = CrossRankRetriever(store=store.store, k=2, reranker=tiny_reranker_path)
    reranked = retriever.invoke("lambda makes functions")
    assert len(reranked) == 2 and all("relevance_score" in d.metadata for d in reranked)
