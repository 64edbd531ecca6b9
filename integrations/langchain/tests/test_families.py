"""Each reranker family scores through the LangChain compressor as sentence-transformers'
own ``predict`` scores it, and each embedding family's prompts reach the retriever."""

import numpy as np
import pytest
from langchain_core.documents import Document
from sentence_transformers import CrossEncoder, SentenceTransformer

from langchain_crossrank import CrossEncoderReranker, CrossRankRetriever

QUERY = "how do I leave a loop early?"
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(40))
TEXTS = ["pip installs packages", "The break statement ends the nearest enclosing loop.", LONG]


@pytest.mark.parametrize("family", ["bert", "bert2", "xlmr", "modernbert", "qwen3"])
def test_scores_equal_sentence_transformers_predict(family_models, family):
    from crossrank import Reranker

    path = family_models[family]
    reranker = Reranker(path, precision="fp32", max_length=192)
    compressor = CrossEncoderReranker(model=reranker, top_n=3)
    documents = [Document(page_content=text, id=str(i)) for i, text in enumerate(TEXTS)]
    ranked = compressor.compress_documents(documents, QUERY)
    model = CrossEncoder(path, device="cpu")
    windows = reranker.windows(QUERY, LONG)
    pairs = [(QUERY, TEXTS[0]), (QUERY, TEXTS[1])] + [(QUERY, LONG[a:b]) for a, b in windows]
    logits = np.asarray(model.predict(pairs, activation_fn=lambda x: x), dtype=np.float64)
    if logits.ndim == 2:
        logits = logits[:, 1] - logits[:, 0]
    expected = 1 / (1 + np.exp(-logits))
    expected = [*expected[:2], expected[2:].max()]  # a long passage keeps its best window
    assert len(windows) > 1
    assert {d.id: d.metadata["relevance_score"] for d in ranked} == pytest.approx(
        {str(i): score for i, score in enumerate(expected)}, abs=1e-5
    )


def test_the_retriever_embeds_queries_with_the_models_prompt(tmp_path, embedding_families):
    path = embedding_families["cls"]
    retriever = CrossRankRetriever(path=str(tmp_path / "db"), model=path, k=1)
    retriever.store.add_texts(["The break statement ends the nearest loop."])
    expected = SentenceTransformer(path).encode_query([QUERY], normalize_embeddings=True)[0]
    assert len(retriever.invoke(QUERY)) == 1
    assert np.abs(retriever.store.encoder.embed_query(QUERY) - expected).max() < 1e-5
    plain = CrossRankRetriever(path=str(tmp_path / "db"), model=path, query_prompt="")
    with pytest.raises(Exception, match="query_prompt="):
        plain.invoke(QUERY)
