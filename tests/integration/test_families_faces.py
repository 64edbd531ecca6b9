"""Each model family through the CLI and ``crossrank serve``: the scores the core gives,
which equal sentence-transformers' own (tests/unit/test_families.py)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from crossrank import Encoder, Pipeline, Reranker, Store
from crossrank.server import create_app

QUERY = "how do I leave a loop early?"
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(40))
DOCUMENTS = ["pip installs packages", "The break statement ends the nearest loop.", LONG]


@pytest.mark.parametrize("family", ["bert2", "xlmr", "modernbert", "qwen3"])
def test_the_server_scores_each_family_as_the_core_does(family_models, family):
    reranker = Reranker(family_models[family], precision="fp32", max_length=192)
    expected = reranker.score(QUERY, DOCUMENTS)
    assert len(reranker.windows(QUERY, LONG)) > 1
    with TestClient(create_app(reranker, page=False)) as client:
        answer = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS})
    assert answer.status_code == 200, answer.text
    scores = {r["index"]: r["relevance_score"] for r in answer.json()["results"]}
    assert scores == pytest.approx(dict(enumerate(expected)), abs=1e-6)


@pytest.mark.parametrize("family", ["xlmr", "qwen3"])
def test_the_cli_indexes_with_prompts_and_reranks_each_family(
    tmp_path, crossrank, family_models, embedding_families, sample_corpus, family
):
    embedder, db = embedding_families["cls"], str(tmp_path / "db")
    done = crossrank("index", str(sample_corpus), "--db", db, "--model", embedder, "--quiet")
    assert done.returncode == 0, done.stderr
    options = ["--db", db, "--model", embedder, "--reranker", family_models[family]]
    options += ["--precision", "fp32", "--max-length", "192", "--k", "6", "--json"]
    done = crossrank("ask", QUERY, *options)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["hits"]
    store = Store(db, encoder=Encoder(embedder, precision="fp32"))
    reranker = Reranker(family_models[family], precision="fp32", max_length=192)
    core = Pipeline(store, reranker, fetch_k=6, top_n=len(hits)).search(QUERY)
    assert [h["id"] for h in hits] == [h.id for h in core]
    assert [h["rerank_score"] for h in hits] == pytest.approx(
        [h.rerank_score for h in core], abs=1e-6
    )
    # the prompts the collection was written with are refused when they differ
    done = crossrank("ask", QUERY, *options, "--query-prompt", "")
    assert done.returncode != 0 and "query_prompt=" in done.stderr
