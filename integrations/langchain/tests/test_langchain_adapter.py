import asyncio
import json

import pytest
from langchain_chroma import Chroma
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests

from crossrank import Pipeline, Reranker
from crossrank.hit import BOOKKEEPING
from langchain_crossrank import CrossEncoderReranker, CrossRankRetriever

QUESTION = "How do I leave a loop early?"
TOPICS = [
    "break ends a loop",
    "lambda makes functions",
    "try handles errors",
    "import loads modules",
    "assert checks facts",
    "continue skips ahead",
]


def _docs() -> list[Document]:
    return [
        Document(id=f"d{i}", page_content=t, metadata={"page": i}) for i, t in enumerate(TOPICS)
    ]


class TestCrossRankRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard retriever suite (langchain-tests has no unit suite for retrievers)."""

    @pytest.fixture(autouse=True)
    def _store(self, indexed_store, tiny_reranker_path):
        type(self).params = {"store": indexed_store, "reranker": tiny_reranker_path}

    @property
    def retriever_constructor(self) -> type[CrossRankRetriever]:
        return CrossRankRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return self.params

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_documents_carry_ids_and_plain_float_scores(indexed_store, tiny_reranker_path):
    reranker = Reranker(tiny_reranker_path)
    docs = CrossRankRetriever(store=indexed_store, k=4, fetch_k=12, reranker=reranker).invoke(
        QUESTION
    )
    hits = Pipeline(indexed_store, reranker, fetch_k=12, top_n=4).search(QUESTION)
    assert [d.id for d in docs] == [h.id for h in hits]
    assert [d.metadata["relevance_score"] for d in docs] == [h.rerank_score for h in hits]
    assert [d.metadata["retrieval_score"] for d in docs] == [h.retrieval_score for h in hits]
    json.dumps([d.metadata for d in docs])  # plain floats all the way down


def test_filter_and_per_call_k(indexed_store, sample_corpus):
    source = str((sample_corpus / "try.txt").resolve())
    retriever = CrossRankRetriever(store=indexed_store, filter={"source": source})
    docs = retriever.invoke(QUESTION, k=2)
    assert len(docs) == 2 and {d.metadata["source"] for d in docs} == {source}
    assert "relevance_score" not in docs[0].metadata


def test_parity_with_the_llama_index_adapter(indexed_store, tiny_reranker_path):
    retrievers = pytest.importorskip("llama_index.retrievers.crossrank")
    reranker = Reranker(tiny_reranker_path)
    nodes = retrievers.CrossRankRetriever(
        indexed_store, k=5, fetch_k=15, reranker=reranker
    ).retrieve(QUESTION)
    docs = CrossRankRetriever(store=indexed_store, k=5, fetch_k=15, reranker=reranker).invoke(
        QUESTION
    )
    assert [(n.node_id, n.score) for n in nodes] == [
        (d.id, d.metadata["relevance_score"]) for d in docs
    ]
    # The same metadata, score keys included, in both frameworks.
    assert [n.node.metadata for n in nodes] == [d.metadata for d in docs]
    assert {"retrieval_score", "relevance_score", "dense_score"} <= set(docs[0].metadata)


def test_lcel_rag_chain_prompt_holds_reranked_documents(
    indexed_store, tiny_reranker_path, prompt_recorder
):
    retriever = CrossRankRetriever(store=indexed_store, k=3, reranker=tiny_reranker_path)
    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chain = (
        {
            "context": retriever | (lambda docs: "\n\n".join(d.page_content for d in docs)),
            "question": RunnablePassthrough(),
        }
        | prompt
        | FakeListChatModel(responses=["an answer"])
        | StrOutputParser()
    )
    assert chain.invoke(QUESTION, config={"callbacks": [prompt_recorder]}) == "an answer"
    expected = retriever.invoke(QUESTION)
    sent = prompt_recorder.prompts[0]
    positions = [sent.index(d.page_content) for d in expected]
    assert positions == sorted(positions) and QUESTION in sent


def test_compressor_after_a_langchain_chroma_retriever(tiny_reranker_path):
    chroma = Chroma(
        collection_name="stock_lc", embedding_function=DeterministicFakeEmbedding(size=16)
    )
    chroma.add_documents(_docs())
    retriever = ContextualCompressionRetriever(
        base_compressor=CrossEncoderReranker(model=tiny_reranker_path, top_n=3),
        base_retriever=chroma.as_retriever(search_kwargs={"k": 6}),
    )
    docs = retriever.invoke(QUESTION)
    best = Reranker(tiny_reranker_path).rank(QUESTION, TOPICS, top_n=3)
    assert [d.page_content for d in docs] == [TOPICS[i] for i, _ in best]
    assert [d.metadata["relevance_score"] for d in docs] == pytest.approx([s for _, s in best])


def test_compressor_copies_and_async_matches(tiny_reranker_path):
    docs = _docs()
    before = [(d.id, dict(d.metadata)) for d in docs]
    compressor = CrossEncoderReranker(model=Reranker(tiny_reranker_path), top_n=4)
    out = compressor.compress_documents(docs, QUESTION)
    assert [(d.id, dict(d.metadata)) for d in docs] == before
    assert all(type(d.metadata["relevance_score"]) is float for d in out)
    assert all("page" in d.metadata for d in out)
    again = asyncio.run(compressor.acompress_documents(docs, QUESTION))
    assert [(d.id, d.metadata) for d in again] == [(d.id, d.metadata) for d in out]
    assert compressor.compress_documents([], QUESTION) == []
    with pytest.raises(ValueError, match="threshold"):
        CrossEncoderReranker(model=tiny_reranker_path, threshold=2)


def test_batch_and_abatch(indexed_store, tiny_reranker_path):
    retriever = CrossRankRetriever(store=indexed_store, k=2, reranker=tiny_reranker_path)
    questions = [QUESTION, "What does lambda do?"]
    sync = retriever.batch(questions)
    concurrent = asyncio.run(retriever.abatch(questions))
    assert [[d.id for d in docs] for docs in concurrent] == [[d.id for d in docs] for docs in sync]
    assert [len(docs) for docs in sync] == [2, 2]


def test_hybrid_parity_with_the_llama_index_adapter_and_component_scores(indexed_store):
    retrievers = pytest.importorskip("llama_index.retrievers.crossrank")
    options = {"k": 6, "retrieval": "hybrid", "fusion": "convex", "mmr": 0.8}
    nodes = retrievers.CrossRankRetriever(indexed_store, **options).retrieve(QUESTION)
    docs = CrossRankRetriever(store=indexed_store, **options).invoke(QUESTION)
    hits = Pipeline(indexed_store, top_n=6, retrieval="hybrid", fusion="convex", mmr=0.8).search(
        QUESTION
    )
    assert [(n.node_id, n.score) for n in nodes] == [(h.id, h.retrieval_score) for h in hits]
    assert [(d.id, d.metadata["retrieval_score"]) for d in docs] == [
        (h.id, h.retrieval_score) for h in hits
    ]
    for doc, hit in zip(docs, hits, strict=True):
        assert doc.metadata.get("dense_score") == hit.scores.get("dense")
        assert doc.metadata.get("bm25_score") == hit.scores.get("bm25")
    assert any("bm25_score" in d.metadata for d in docs)
    assert [n.node.metadata for n in nodes] == [d.metadata for d in docs]


def test_bad_settings_fail_at_construction(indexed_store):
    with pytest.raises(ValueError, match="retrieval must be one of"):
        CrossRankRetriever(store=indexed_store, retrieval="sparse")
    with pytest.raises(ValueError, match="fetch_k must be at least 1"):
        CrossRankRetriever(store=indexed_store, fetch_k=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        CrossEncoderReranker(model="any", batch_size=0)


def test_a_langchain_chroma_collection_is_read_in_place(tiny_embeddings, tiny_reranker_path):
    import uuid

    import chromadb

    from crossrank import CollectionMismatchError, Store

    encoder = tiny_embeddings.encoder

    client = chromadb.EphemeralClient()
    name = f"lc{uuid.uuid4().hex[:8]}"
    docs = [
        Document(page_content=t, metadata={"page": i, "topic": t.split()[0]})
        for i, t in enumerate(TOPICS)
    ]
    Chroma.from_documents(docs, tiny_embeddings, client=client, collection_name=name)  # l2 distance

    def snapshot():
        raw = client.get_collection(name)
        records = raw.get(include=["metadatas", "documents", "embeddings"])
        vectors = records.pop("embeddings").tolist()
        return raw.metadata, records, vectors

    before = snapshot()

    with pytest.raises(CollectionMismatchError, match="records no embedding model"):
        Store(collection=name, client=client).count()  # no model named: says what to pass
    store = Store(collection=name, encoder=encoder, client=client)
    theirs = Chroma(client=client, collection_name=name, embedding_function=tiny_embeddings)
    expected = theirs.similarity_search_with_score(QUESTION, k=4)
    ours = store.search(QUESTION, k=4)
    assert store.collection.space == "l2"
    assert [h.text for h in ours] == [d.page_content for d, _ in expected]
    # On crossrank's scale: cosine similarity (squared l2 of unit vectors is 2 - 2 cos).
    assert [h.retrieval_score for h in ours] == pytest.approx(
        [1 - distance / 2 for _, distance in expected], abs=1e-5
    )
    found = CrossRankRetriever(store=store, k=3, reranker=tiny_reranker_path).invoke(QUESTION)
    assert len(found) == 3 and all("relevance_score" in d.metadata for d in found)
    by_text = {d.page_content: d.metadata for d in docs}
    for doc in found:
        user = {k: v for k, v in doc.metadata.items() if k not in BOOKKEEPING}
        assert user == by_text[doc.page_content]  # the user's metadata, exactly
    assert store.bm25.search("lambda", 3)[0].text == "lambda makes functions"
    assert snapshot() == before  # reading never rewrites it


QUERIES = [QUESTION, "what makes functions", "how are errors handled", "what loads modules"]


async def test_concurrent_acompress_calls_share_the_models_batches(tiny_reranker_path, model_calls):
    """Callers that arrive while the model works share its next call, each getting its solo
    scores; a request that breaks the shared call fails alone."""
    compressor = CrossEncoderReranker(model=tiny_reranker_path, top_n=3)
    alone = [compressor.compress_documents(_docs(), query) for query in QUERIES]
    model_calls.requests.clear()
    model_calls.poison = "poison"
    model_calls.hold()
    first = asyncio.create_task(compressor.acompress_documents(_docs(), QUERIES[0]))
    assert await asyncio.to_thread(model_calls.entered.wait, 30)
    rest = [asyncio.create_task(compressor.acompress_documents(_docs(), q)) for q in QUERIES[1:]]
    bad = asyncio.create_task(
        compressor.acompress_documents([Document(page_content="poison")], QUESTION)
    )
    await asyncio.to_thread(model_calls.wait_until_queued, compressor.reranker, len(QUERIES) + 1)
    model_calls.release()
    results = await asyncio.gather(first, *rest)
    with pytest.raises(FloatingPointError, match="NaN"):
        await bad
    # One call alone, one shared by the rest and the poison (it failed), then each alone.
    assert model_calls.requests == [1, len(QUERIES), *[1] * len(QUERIES)]
    for docs, expected in zip(results, alone, strict=True):
        assert [d.id for d in docs] == [d.id for d in expected]
        scores = [d.metadata["relevance_score"] for d in docs]
        assert scores == pytest.approx([d.metadata["relevance_score"] for d in expected], abs=1e-6)


async def test_concurrent_ainvoke_and_threaded_batch_share_the_models_batches(
    indexed_store, tiny_reranker_path, model_calls
):
    retriever = CrossRankRetriever(store=indexed_store, k=2, reranker=tiny_reranker_path)
    alone = [retriever.invoke(query) for query in QUERIES]
    for run in ("ainvoke", "batch"):
        model_calls.requests.clear()
        model_calls.hold()
        if run == "ainvoke":
            together = asyncio.gather(*(retriever.ainvoke(query) for query in QUERIES))
        else:  # sync callers, each in a thread of LangChain's own
            together = asyncio.ensure_future(asyncio.to_thread(retriever.batch, QUERIES))
        await asyncio.to_thread(model_calls.wait_until_queued, retriever.reranker, len(QUERIES))
        model_calls.release()
        results = await together
        assert sum(model_calls.requests) == len(QUERIES) and len(model_calls.requests) <= 2, run
        for docs, expected in zip(results, alone, strict=True):
            assert [d.id for d in docs] == [d.id for d in expected]
            assert [d.metadata["relevance_score"] for d in docs] == pytest.approx(
                [d.metadata["relevance_score"] for d in expected], abs=1e-6
            )


def test_unknown_arguments_are_refused(tiny_reranker_path):
    with pytest.raises(TypeError, match=r"'model_name' \(did you mean 'model'\?\)"):
        CrossEncoderReranker(model_name=tiny_reranker_path)
    with pytest.raises(TypeError, match=r"'kk' \(did you mean 'k'\?\)"):
        CrossRankRetriever(in_memory=True, kk=3)
    from langchain_crossrank import CrossRankContext

    with pytest.raises(TypeError, match=r"'max_tokens'; it takes budget"):
        CrossRankContext(max_tokens=100)


async def test_search_tool_answers_with_the_cited_context(indexed_store, tiny_reranker_path):
    from langchain_crossrank import CrossRankContext, create_search_tool

    retriever = CrossRankRetriever(store=indexed_store, k=4, reranker=tiny_reranker_path)
    context = CrossRankContext(budget=200)
    tool = create_search_tool(retriever, context=context)
    assert tool.name == "search_documents" and "[n]" in tool.description
    call = {"name": tool.name, "args": {"query": QUESTION}, "id": "1", "type": "tool_call"}
    message = tool.invoke(call)
    documents = retriever.invoke(QUESTION)
    assert message.content == context.build(documents).text and message.content.startswith("[1] ")
    assert [d.id for d in message.artifact] == [d.id for d in documents]
    assert (await tool.ainvoke(call)).content == message.content
