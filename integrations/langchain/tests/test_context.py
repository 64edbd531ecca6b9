"""The context transformer in a real LCEL chain, and the rerank evidence on documents."""

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from crossrank import ContextBuilder, Pipeline, Reranker
from langchain_crossrank import CrossEncoderReranker, CrossRankContext, CrossRankRetriever

QUESTION = "How do I leave a loop early?"


def test_lcel_chain_sends_the_cited_context(indexed_store, tiny_reranker_path, prompt_recorder):
    retriever = CrossRankRetriever(store=indexed_store, k=12, reranker=tiny_reranker_path)
    prompt = ChatPromptTemplate.from_template(
        "Answer from the context; cite passages as [n].\n{context}\n\nQuestion: {question}"
    )
    chain = (
        {"context": retriever | CrossRankContext(budget=160), "question": RunnablePassthrough()}
        | prompt
        | FakeListChatModel(responses=["Use break [1]."])
        | StrOutputParser()
    )
    assert chain.invoke(QUESTION, config={"callbacks": [prompt_recorder]}) == "Use break [1]."
    hits = Pipeline(indexed_store, Reranker(tiny_reranker_path), top_n=12).search(QUESTION)
    context = ContextBuilder(budget=160).build(hits)
    assert context.passages and context.text in prompt_recorder.prompts[0]


def test_transformer_documents_match_the_llama_index_postprocessor(
    indexed_store, tiny_reranker_path
):
    postprocessor = pytest.importorskip("llama_index.postprocessor.crossrank")
    retrievers = pytest.importorskip("llama_index.retrievers.crossrank")
    reranker = Reranker(tiny_reranker_path)
    docs = CrossRankRetriever(store=indexed_store, k=10, reranker=reranker).invoke(QUESTION)
    nodes = retrievers.CrossRankRetriever(indexed_store, k=10, reranker=reranker).retrieve(QUESTION)
    before = [doc.model_copy(deep=True) for doc in docs]
    transformer = CrossRankContext(budget=120, expand=1, store=indexed_store)
    passages = transformer.transform_documents(docs)
    assert docs == before  # inputs untouched
    processed = postprocessor.CrossRankContext(
        budget=120, expand=1, store=indexed_store
    ).postprocess_nodes(nodes, query_str=QUESTION)
    assert [d.page_content for d in passages] == [n.node.get_content() for n in processed]
    assert [d.metadata for d in passages] == [n.node.metadata for n in processed]
    assert passages[0].page_content.startswith("[1] ")
    assert asyncio.run(transformer.atransform_documents(docs)) == passages
    assert asyncio.run(transformer.ainvoke(docs)) == transformer.invoke(docs)


def test_compressor_marks_the_evidence(tiny_reranker_path):
    docs = [
        Document(page_content="break ends a loop", metadata={"page": 1}),
        Document(page_content="lambda makes functions " * 200),
    ]
    ranked = CrossEncoderReranker(model=tiny_reranker_path, top_n=2).compress_documents(
        docs, QUESTION
    )
    for doc in ranked:
        start, end = doc.metadata["evidence_start"], doc.metadata["evidence_end"]
        assert 0 <= start < end <= len(doc.page_content)
        assert (end - start < len(doc.page_content)) == doc.page_content.startswith("lambda")
    assert docs[0].metadata == {"page": 1}
    with pytest.raises(ValueError, match="budget must be at least 16"):
        CrossRankContext(budget=2)
