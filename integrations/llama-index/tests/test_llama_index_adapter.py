import asyncio
import json
import time

import chromadb
import pytest
from llama_index.core import MockEmbedding, StorageContext, VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import (
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever
from llama_index.vector_stores.chroma import ChromaVectorStore

from crossrank import Pipeline, Reranker
from crossrank.hit import BOOKKEEPING

QUESTION = "How do I leave a loop early?"


def _nodes(n: int = 6) -> list[NodeWithScore]:
    topics = [
        "break ends a loop",
        "lambda makes functions",
        "try handles errors",
        "import loads modules",
        "assert checks facts",
        "continue skips ahead",
    ]
    nodes = []
    for i in range(n):
        node = TextNode(id_=f"n{i}", text=topics[i % len(topics)], metadata={"page": i})
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i}")
        nodes.append(NodeWithScore(node=node, score=1.0 - i / 10))
    return nodes


def test_query_engine_prompt_holds_reranked_chunks_in_order(indexed_store, tiny_reranker_path):
    retriever = CrossRankRetriever(indexed_store, k=8)
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=3)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(), node_postprocessors=[rerank])
    response = engine.query(QUESTION)
    prompt = str(response)  # MockLLM answers with the prompt it was given
    candidates = retriever.retrieve(QUESTION)
    expected = rerank.postprocess_nodes(candidates, query_str=QUESTION)
    assert [n.node_id for n in response.source_nodes] == [n.node_id for n in expected]
    positions = [prompt.index(n.node.get_content()) for n in expected]
    assert positions == sorted(positions)
    kept = {n.node_id for n in expected}
    dropped = [n for n in candidates if n.node_id not in kept]
    assert len(dropped) == 5
    assert not any(n.node.get_content() in prompt for n in dropped)


def test_async_query_equals_sync(indexed_store, tiny_reranker_path):
    engine = RetrieverQueryEngine.from_args(
        CrossRankRetriever(indexed_store, k=8),
        llm=MockLLM(),
        node_postprocessors=[CrossEncoderRerank(tiny_reranker_path, top_n=3)],
    )
    sync = engine.query(QUESTION)
    concurrent = asyncio.run(engine.aquery(QUESTION))
    assert [(n.node_id, n.score) for n in concurrent.source_nodes] == [
        (n.node_id, n.score) for n in sync.source_nodes
    ]


def test_retriever_equals_the_core_pipeline(indexed_store, tiny_reranker_path):
    reranker = Reranker(tiny_reranker_path)
    nodes = CrossRankRetriever(indexed_store, k=4, fetch_k=12, reranker=reranker).retrieve(QUESTION)
    hits = Pipeline(indexed_store, reranker, fetch_k=12, top_n=4).search(QUESTION)
    assert [(n.node_id, n.score) for n in nodes] == [(h.id, h.rerank_score) for h in hits]
    assert all(
        n.node.metadata["retrieval_score"] == h.retrieval_score
        for n, h in zip(nodes, hits, strict=True)
    )
    # What embedders and LLMs read is the chunk text, not crossrank's bookkeeping.
    assert nodes[0].node.get_content(MetadataMode.EMBED) == hits[0].text
    assert "start_char" not in nodes[0].node.get_content(MetadataMode.LLM)


def test_retriever_without_reranker_and_with_filters(indexed_store, sample_corpus):
    source = str((sample_corpus / "lambda.txt").resolve())
    filters = MetadataFilters(filters=[MetadataFilter(key="source", value=source)])
    nodes = CrossRankRetriever(indexed_store, k=3, filters=filters).retrieve(QUESTION)
    assert len(nodes) == 3 and {n.node.metadata["source"] for n in nodes} == {source}
    core = Pipeline(indexed_store, top_n=3).search(QUESTION, where={"source": source})
    assert [(n.node_id, n.score) for n in nodes] == [(h.id, h.retrieval_score) for h in core]
    assert all(
        n.node.metadata["dense_score"] == h.scores["dense"]
        for n, h in zip(nodes, core, strict=True)
    )


def test_postprocessor_after_a_stock_chroma_vector_store_index(tiny_reranker_path):
    collection = chromadb.EphemeralClient().get_or_create_collection("stock_li")
    index = VectorStoreIndex(
        [n.node for n in _nodes()],
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=MockEmbedding(embed_dim=8),
    )
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=3)
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=6, node_postprocessors=[rerank])
    response = engine.query(QUESTION)
    assert len(response.source_nodes) == 3
    texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in _nodes()]
    best = Reranker(tiny_reranker_path).rank(QUESTION, texts, top_n=3)
    assert [n.score for n in response.source_nodes] == pytest.approx([s for _, s in best])
    json.dumps([n.score for n in response.source_nodes])  # plain floats, not np.float32


def test_nodes_are_copied_not_mutated(tiny_reranker_path):
    nodes = _nodes()
    before = [(n.node_id, n.score, dict(n.node.metadata)) for n in nodes]
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=4, keep_retrieval_score=True)
    out = rerank.postprocess_nodes(nodes, query_str=QUESTION)
    assert [(n.node_id, n.score, dict(n.node.metadata)) for n in nodes] == before
    originals = {n.node_id: n for n in nodes}
    for result in out:
        original = originals[result.node_id]
        assert type(result.score) is float and 0 <= result.score <= 1
        assert result.node.metadata["page"] == original.node.metadata["page"]
        assert result.node.metadata["retrieval_score"] == original.score
        assert result.node.relationships == original.node.relationships
        assert "retrieval_score" not in result.node.get_content(MetadataMode.LLM)
    assert rerank.postprocess_nodes([], query_str=QUESTION) == []


def test_threshold_and_bad_arguments(tiny_reranker_path):
    everything = CrossEncoderRerank(tiny_reranker_path, top_n=6).postprocess_nodes(
        _nodes(), query_str=QUESTION
    )
    cut = everything[1].score
    kept = CrossEncoderRerank(tiny_reranker_path, top_n=6, threshold=cut).postprocess_nodes(
        _nodes(), query_str=QUESTION
    )
    assert [n.node_id for n in kept] == [n.node_id for n in everything[:2]]
    with pytest.raises(ValueError, match="threshold"):
        CrossEncoderRerank(tiny_reranker_path, threshold=-0.1)
    with pytest.raises(ValueError, match="needs the query"):
        CrossEncoderRerank(tiny_reranker_path).postprocess_nodes(_nodes())


def test_rerank_events_are_emitted(tiny_reranker_path):
    class Recorder(BaseEventHandler):
        names: list = []

        def handle(self, event, **kwargs) -> None:
            self.names.append(event.class_name())

    recorder = Recorder()
    root = get_dispatcher()
    root.add_event_handler(recorder)
    try:
        CrossEncoderRerank(tiny_reranker_path).postprocess_nodes(_nodes(), query_str=QUESTION)
    finally:
        root.event_handlers.remove(recorder)
    assert [n for n in recorder.names if n.startswith("ReRank")] == [
        "ReRankStartEvent",
        "ReRankEndEvent",
    ]


def test_serialization_round_trip(tiny_reranker_path):
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=4, threshold=0.2, batch_size=8)
    data = rerank.to_dict()
    assert data["class_name"] == "CrossEncoderRerank"
    again = CrossEncoderRerank.from_dict(data)
    assert (again.model, again.top_n, again.threshold, again.settings.batch_size) == (
        tiny_reranker_path,
        4,
        0.2,
        8,
    )
    assert CrossRankRetriever.class_name() == "CrossRankRetriever"


def test_async_rerank_does_not_block_the_event_loop(tiny_reranker_path):
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=3)
    nodes = [
        NodeWithScore(node=TextNode(text="a long passage about loops " * 60), score=0.5)
        for _ in range(40)
    ]

    async def main() -> tuple[int, float]:
        ticks = 0
        task = asyncio.create_task(rerank.apostprocess_nodes(nodes, query_str=QUESTION))
        started = time.monotonic()
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        await task
        return ticks, time.monotonic() - started

    ticks, elapsed = asyncio.run(main())
    assert elapsed > 0.05  # the work is long enough for a blocked loop to show
    assert ticks > 5


def test_metadata_filters_become_chroma_where():
    from llama_index.core.vector_stores.types import FilterCondition, FilterOperator
    from llama_index.retrievers.crossrank.base import to_chroma_where

    one = MetadataFilters(filters=[MetadataFilter(key="source", value="a.md")])
    assert to_chroma_where(one) == {"source": {"$eq": "a.md"}}
    nested = MetadataFilters(
        filters=[
            MetadataFilter(key="page", value=3, operator=FilterOperator.GTE),
            MetadataFilters(
                filters=[
                    MetadataFilter(
                        key="source", value=["a.md", "b.md"], operator=FilterOperator.IN
                    ),
                    MetadataFilter(key="section", value="Intro", operator=FilterOperator.NE),
                ],
                condition=FilterCondition.OR,
            ),
        ]
    )
    assert to_chroma_where(nested) == {
        "$and": [
            {"page": {"$gte": 3}},
            {"$or": [{"source": {"$in": ["a.md", "b.md"]}}, {"section": {"$ne": "Intro"}}]},
        ]
    }
    text = MetadataFilters(
        filters=[MetadataFilter(key="t", value="x", operator=FilterOperator.TEXT_MATCH)]
    )
    with pytest.raises(ValueError, match="filter operator 'text_match' on 't' is not supported"):
        to_chroma_where(text)


def test_bad_settings_fail_at_construction(indexed_store):
    with pytest.raises(ValueError, match="fusion must be one of"):
        CrossRankRetriever(indexed_store, fusion="max")
    with pytest.raises(TypeError, match="unexpected arguments: .fetchk. .did you mean .fetch_k"):
        CrossRankRetriever(indexed_store, fetchk=3)
    with pytest.raises(ValueError, match="precision must be one of"):
        CrossEncoderRerank("any", precision="int8")


def test_a_llama_index_chroma_collection_is_read_in_place(tiny_embedding):
    import uuid

    from llama_index.core import Document

    from crossrank import CollectionMismatchError, Store

    encoder = tiny_embedding._encoder

    client = chromadb.EphemeralClient()
    name = f"li{uuid.uuid4().hex[:8]}"
    documents = [
        Document(text=t, metadata={"page": i, "topic": t.split()[0]})
        for i, t in enumerate(["break ends a loop", "lambda makes functions", "try handles errors"])
    ]
    vector_store = ChromaVectorStore(chroma_collection=client.create_collection(name))
    VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=tiny_embedding,
    )
    before = client.get_collection(name).get(include=["metadatas", "documents"])
    with pytest.raises(CollectionMismatchError, match="records no embedding model"):
        CrossRankRetriever(collection=name, client=client).retrieve(QUESTION)
    store = Store(collection=name, encoder=encoder, client=client)
    nodes = CrossRankRetriever(store, k=3).retrieve(QUESTION)
    assert nodes[0].node.text == "break ends a loop"
    by_text = {d.text: d.metadata for d in documents}
    for node in nodes:
        user = {k: v for k, v in node.node.metadata.items() if k not in BOOKKEEPING}
        assert user == by_text[node.node.text]  # no _node_content, doc_id, ref_doc_id
    assert client.get_collection(name).get(include=["metadatas", "documents"]) == before


QUERIES = [QUESTION, "what makes functions", "how are errors handled", "what loads modules"]


async def test_concurrent_apostprocess_calls_share_the_models_batches(
    tiny_reranker_path, model_calls
):
    """Callers that arrive while the model works share its next call, each getting its solo
    scores; a request that breaks the shared call fails alone."""
    rerank = CrossEncoderRerank(tiny_reranker_path, top_n=3)
    alone = [rerank.postprocess_nodes(_nodes(), query_str=query) for query in QUERIES]
    model_calls.requests.clear()
    model_calls.poison = "poison"
    model_calls.hold()
    first = asyncio.create_task(rerank.apostprocess_nodes(_nodes(), query_str=QUERIES[0]))
    assert await asyncio.to_thread(model_calls.entered.wait, 30)
    rest = [
        asyncio.create_task(rerank.apostprocess_nodes(_nodes(), query_str=query))
        for query in QUERIES[1:]
    ]
    poisoned = [NodeWithScore(node=TextNode(text="poison"), score=1.0)]
    bad = asyncio.create_task(rerank.apostprocess_nodes(poisoned, query_str=QUESTION))
    await asyncio.to_thread(model_calls.wait_until_queued, rerank._reranker, len(QUERIES) + 1)
    model_calls.release()
    results = await asyncio.gather(first, *rest)
    with pytest.raises(FloatingPointError, match="NaN"):
        await bad
    # One call alone, one shared by the rest and the poison (it failed), then each alone.
    assert model_calls.requests == [1, len(QUERIES), *[1] * len(QUERIES)]
    for nodes, expected in zip(results, alone, strict=True):
        assert [n.node_id for n in nodes] == [n.node_id for n in expected]
        assert [n.score for n in nodes] == pytest.approx([n.score for n in expected], abs=1e-6)


async def test_concurrent_aretrieve_and_threaded_retrieve_share_the_models_batches(
    indexed_store, tiny_reranker_path, model_calls
):
    from concurrent.futures import ThreadPoolExecutor

    retriever = CrossRankRetriever(indexed_store, k=2, reranker=tiny_reranker_path)
    alone = [retriever.retrieve(query) for query in QUERIES]
    reranker = retriever.pipeline.reranker
    for run in ("aretrieve", "threads"):
        model_calls.requests.clear()
        model_calls.hold()
        if run == "aretrieve":
            together = asyncio.gather(*(retriever.aretrieve(query) for query in QUERIES))
        else:
            pool = ThreadPoolExecutor(len(QUERIES))
            together = asyncio.gather(
                *(asyncio.wrap_future(pool.submit(retriever.retrieve, q)) for q in QUERIES)
            )
        await asyncio.to_thread(model_calls.wait_until_queued, reranker, len(QUERIES))
        model_calls.release()
        results = await together
        assert sum(model_calls.requests) == len(QUERIES) and len(model_calls.requests) <= 2, run
        for nodes, expected in zip(results, alone, strict=True):
            assert [n.node_id for n in nodes] == [n.node_id for n in expected]
            assert [n.score for n in nodes] == pytest.approx([n.score for n in expected], abs=1e-6)


def test_unknown_arguments_are_refused(indexed_store, tiny_reranker_path):
    with pytest.raises(TypeError, match=r"'model_name' \(did you mean 'model'\?\)"):
        CrossEncoderRerank(model_name=tiny_reranker_path)
    with pytest.raises(TypeError, match=r"'topn' \(did you mean 'top_n'\?\)"):
        CrossEncoderRerank(tiny_reranker_path, topn=3)
    from llama_index.postprocessor.crossrank import CrossRankContext

    with pytest.raises(TypeError, match=r"'max_tokens'; it takes budget"):
        CrossRankContext(max_tokens=100)


async def test_search_tool_answers_with_the_cited_context(indexed_store, tiny_reranker_path):
    from llama_index.postprocessor.crossrank import CrossRankContext
    from llama_index.tools.crossrank import search_tool

    retriever = CrossRankRetriever(indexed_store, k=4, reranker=tiny_reranker_path)
    context = CrossRankContext(budget=200)
    tool = search_tool(retriever, context=context)
    assert tool.metadata.name == "search_documents" and "[n]" in tool.metadata.description
    answer = tool.call(query=QUESTION)
    expected = context.build(retriever.retrieve(QUESTION)).text
    assert answer.content == expected and expected.startswith("[1] ")
    assert (await tool.acall(query=QUESTION)).content == expected
