"""The context postprocessor in a real query engine, and the rerank evidence on nodes."""

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode
from llama_index.postprocessor.crossrank import CrossEncoderRerank, CrossRankContext
from llama_index.retrievers.crossrank import CrossRankRetriever

from crossrank import ContextBuilder, Pipeline, Reranker

QUESTION = "How do I leave a loop early?"


def test_query_engine_prompt_is_the_cited_context(indexed_store, tiny_reranker_path):
    retriever = CrossRankRetriever(indexed_store, k=12, reranker=tiny_reranker_path)
    steps = [CrossRankContext(budget=160)]
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(), node_postprocessors=steps)
    response = engine.query(QUESTION)
    prompt = str(response)  # MockLLM answers with the prompt it was given
    # The core builds the same context from the core pipeline's hits.
    hits = Pipeline(indexed_store, Reranker(tiny_reranker_path), top_n=12).search(QUESTION)
    context = ContextBuilder(budget=160).build(hits)
    assert context.passages and 0 < context.tokens <= 160
    assert context.text in prompt  # the passages, in order, with their [n] lines
    sources = response.source_nodes
    assert [n.node.metadata["label"] for n in sources] == list(range(1, len(sources) + 1))
    for node, passage in zip(sources, context.passages, strict=True):
        assert node.node.get_content(metadata_mode=MetadataMode.LLM) == passage.render()
        assert node.node.metadata["citation"] == passage.citation
        assert node.score == passage.score and node.node.metadata["ids"] == list(passage.ids)


def test_rerank_marks_the_evidence_in_the_nodes_own_text(tiny_reranker_path):
    nodes = [
        NodeWithScore(node=TextNode(id_="a", text="break ends a loop", metadata={"page": 1})),
        NodeWithScore(node=TextNode(id_="b", text="lambda makes functions " * 200)),
    ]
    ranked = CrossEncoderRerank(tiny_reranker_path, top_n=2).postprocess_nodes(
        nodes, query_str=QUESTION
    )
    for node in ranked:
        text = node.node.get_content(metadata_mode=MetadataMode.NONE)
        start, end = node.node.metadata["evidence_start"], node.node.metadata["evidence_end"]
        assert 0 <= start < end <= len(text)
        assert "evidence_start" not in node.node.get_content(metadata_mode=MetadataMode.LLM)
        if node.node.node_id == "a":  # short: all of it, though "page: 1" was scored too
            assert (start, end) == (0, len(text))
        else:  # long: one window of it
            assert end - start < len(text)
    assert nodes[0].node.metadata == {"page": 1}  # inputs untouched


def test_context_postprocessor_round_trips_and_keeps_inputs(indexed_store):
    post = CrossRankContext(budget=64, order="edges")
    again = CrossRankContext.from_dict(post.to_dict())
    assert again.settings == post.settings and again.class_name() == "CrossRankContext"
    nodes = CrossRankRetriever(indexed_store, k=6).retrieve(QUESTION)
    before = [n.node.model_dump() for n in nodes]
    out = post.postprocess_nodes(nodes, query_str=QUESTION)
    assert out and [n.node.model_dump() for n in nodes] == before
    assert sum(len(n.node.metadata["ids"]) for n in out) <= len(nodes)
