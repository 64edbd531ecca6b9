"""Each reranker family scores through the LangChain compressor as through the core (which
scores as sentence-transformers' own ``predict``: tests/unit/test_families.py), long
passages in windows; and an embedding model's prompts reach the retriever."""

import numpy as np
import pytest
from langchain_core.documents import Document
from sentence_transformers import SentenceTransformer

from crossrank import Reranker
from crossrank.errors import CollectionMismatchError
from langchain_crossrank import CrossEncoderReranker, CrossRankRetriever

QUERY = "how do I leave a loop early?"
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(40))
TEXTS = ["pip installs packages", "The break statement ends the nearest enclosing loop.", LONG]


@pytest.mark.parametrize("family", ["bert", "bert2", "xlmr", "modernbert", "qwen3"])
def test_scores_equal_the_cores(family_models, family):
    reranker = Reranker(family_models[family], precision="fp32", max_length=192)
    compressor = CrossEncoderReranker(model=reranker, top_n=3)
    documents = [Document(page_content=text, id=str(i)) for i, text in enumerate(TEXTS)]
    ranked = compressor.compress_documents(documents, QUERY)
    assert len(reranker.windows(QUERY, LONG)) > 1
    expected = dict(enumerate(reranker.score(QUERY, TEXTS)))
    assert {int(d.id): d.metadata["relevance_score"] for d in ranked} == pytest.approx(
        expected, abs=1e-6
    )


def test_the_retriever_embeds_queries_with_the_models_prompt(tmp_path, embedding_families):
    path = embedding_families["cls"]
    retriever = CrossRankRetriever(path=str(tmp_path / "db"), model=path, k=1)
    retriever.store.add_texts(["The break statement ends the nearest loop."])
    expected = SentenceTransformer(path).encode_query([QUERY], normalize_embeddings=True)[0]
    assert len(retriever.invoke(QUERY)) == 1
    assert np.abs(retriever.store.encoder.embed_query(QUERY) - expected).max() < 1e-5
    plain = CrossRankRetriever(path=str(tmp_path / "db"), model=path, query_prompt="")
    with pytest.raises(CollectionMismatchError, match="query_prompt="):
        plain.invoke(QUERY)
