"""Each reranker family scores through the LlamaIndex postprocessor as through the core
(which scores as sentence-transformers' own ``predict``: tests/unit/test_families.py), long
passages in windows; and an embedding model's prompts reach the retriever."""

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever
from sentence_transformers import SentenceTransformer

from crossrank import Reranker
from crossrank.errors import CollectionMismatchError

QUERY = "how do I leave a loop early?"
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(40))
TEXTS = ["pip installs packages", "The break statement ends the nearest enclosing loop.", LONG]


@pytest.mark.parametrize("family", ["bert", "bert2", "xlmr", "modernbert", "qwen3"])
def test_scores_equal_the_cores(family_models, family):
    path = family_models[family]
    rerank = CrossEncoderRerank(path, top_n=3, precision="fp32", max_length=192)
    nodes = [NodeWithScore(node=TextNode(text=text, id_=str(i))) for i, text in enumerate(TEXTS)]
    ranked = rerank.postprocess_nodes(nodes, QueryBundle(QUERY))
    core = Reranker(path, precision="fp32", max_length=192)
    assert len(core.windows(QUERY, LONG)) > 1
    expected = dict(enumerate(core.score(QUERY, TEXTS)))
    assert {int(n.node.node_id): n.score for n in ranked} == pytest.approx(expected, abs=1e-6)


def test_the_retriever_embeds_queries_with_the_models_prompt(tmp_path, embedding_families):
    path = embedding_families["cls"]
    retriever = CrossRankRetriever(path=str(tmp_path / "db"), model=path, k=1)
    retriever.pipeline.store.add_texts(["The break statement ends the nearest loop."])
    expected = SentenceTransformer(path).encode_query([QUERY], normalize_embeddings=True)[0]
    assert len(retriever.retrieve(QUERY)) == 1
    vector = retriever.pipeline.store.encoder.embed_query(QUERY)
    assert np.abs(vector - expected).max() < 1e-5
    plain = CrossRankRetriever(path=str(tmp_path / "db"), model=path, query_prompt="")
    with pytest.raises(CollectionMismatchError, match="query_prompt="):
        plain.retrieve(QUERY)
