"""Each reranker family scores through the LlamaIndex postprocessor as sentence-transformers'
own ``predict`` scores it, and each embedding family's prompts reach the retriever."""

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.postprocessor.crossrank import CrossEncoderRerank
from llama_index.retrievers.crossrank import CrossRankRetriever
from sentence_transformers import CrossEncoder, SentenceTransformer

QUERY = "how do I leave a loop early?"
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(40))
TEXTS = ["pip installs packages", "The break statement ends the nearest enclosing loop.", LONG]


@pytest.mark.parametrize("family", ["bert", "bert2", "xlmr", "modernbert", "qwen3"])
def test_scores_equal_sentence_transformers_predict(family_models, family):
    path = family_models[family]
    rerank = CrossEncoderRerank(path, top_n=3, precision="fp32", max_length=192)
    nodes = [NodeWithScore(node=TextNode(text=text, id_=str(i))) for i, text in enumerate(TEXTS)]
    ranked = rerank.postprocess_nodes(nodes, QueryBundle(QUERY))
    model = CrossEncoder(path, device="cpu")
    windows = rerank._reranker.windows(QUERY, LONG)
    pairs = [(QUERY, TEXTS[0]), (QUERY, TEXTS[1])] + [(QUERY, LONG[a:b]) for a, b in windows]
    logits = np.asarray(model.predict(pairs, activation_fn=lambda x: x), dtype=np.float64)
    if logits.ndim == 2:
        logits = logits[:, 1] - logits[:, 0]
    expected = 1 / (1 + np.exp(-logits))
    expected = [*expected[:2], expected[2:].max()]  # a long passage keeps its best window
    assert len(windows) > 1
    assert {n.node.node_id: n.score for n in ranked} == pytest.approx(
        {str(i): score for i, score in enumerate(expected)}, abs=1e-5
    )


def test_the_retriever_embeds_queries_with_the_models_prompt(tmp_path, embedding_families):
    path = embedding_families["cls"]
    retriever = CrossRankRetriever(path=str(tmp_path / "db"), model=path, k=1)
    retriever.pipeline.store.add_texts(["The break statement ends the nearest loop."])
    expected = SentenceTransformer(path).encode_query([QUERY], normalize_embeddings=True)[0]
    [node] = retriever.retrieve(QUERY)
    vector = retriever.pipeline.store.encoder.embed_query(QUERY)
    assert np.abs(vector - expected).max() < 1e-5
    plain = CrossRankRetriever(path=str(tmp_path / "db"), model=path, query_prompt="")
    with pytest.raises(Exception, match="query_prompt="):
        plain.retrieve(QUERY)
