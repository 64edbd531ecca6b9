import uuid
from pathlib import Path
from unittest import mock

import pytest

from crossrank import Encoder, IngestError, Pipeline, Reranker, Store
from crossrank import evaluate as ev


def test_metrics_match_a_hand_computed_case():
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d2": 1}}
    run = {"q1": ["d1", "d2", "d3"], "q2": ["d1", "d2"]}
    got = ev.metrics(qrels, run)
    # q1: DCG = 1/log2(2) + 1/log2(4) = 1.5, ideal = 1 + 1/log2(3); q2: DCG = 1/log2(3), ideal 1
    ndcg_q1 = 1.5 / (1 + 1 / 1.584962500721156)
    ndcg_q2 = 1 / 1.584962500721156
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert got["mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    assert got["recall@10"] == pytest.approx(1.0)
    assert ev.metrics(qrels, {"q1": ["d2"], "q2": ["d1"]})["recall@100"] == 0.0


def test_load_beir_reads_and_validates(beir: Path, beir_truth: dict):
    data = ev.load_beir(beir)
    assert data.corpus["d3"][0] == "Errors" and data.queries["q3"] == "unjudged query"
    assert data.qrels == beir_truth["qrels"]
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n")
    with pytest.raises(IngestError, match="not in the corpus"):
        ev.load_beir(beir)
    with pytest.raises(IngestError, match="cannot read the qrels"):
        ev.load_beir(beir, split="dev")
    (beir / "corpus.jsonl").write_text("{not json\n")
    with pytest.raises(IngestError, match="not JSON lines"):
        ev.load_beir(beir)


def test_each_stage_is_evaluated(
    beir: Path, beir_truth: dict, tiny_encoder_path: str, tiny_reranker_path: str
):
    data = ev.load_beir(beir)
    store = Store(
        collection=f"ev{uuid.uuid4().hex[:8]}", encoder=Encoder(tiny_encoder_path), in_memory=True
    )
    assert ev.index_corpus(store, data) == 5
    assert ev.index_corpus(store, data) == 0  # unchanged corpus: nothing embedded again
    results = ev.evaluate(store, data, reranker=Reranker(tiny_reranker_path), k=3)
    assert list(results) == ["dense", "dense+rerank"]
    for result in results.values():
        assert set(result.metrics) == set(ev.METRICS)
        assert all(type(v) is float and 0 <= v <= 1 for v in result.metrics.values())
        assert set(result.run) == {"q1", "q2"}  # only judged queries
        assert all(sorted(docs) == sorted(beir_truth["docs"]) for docs in result.run.values())
        assert result.queries_per_second > 0
    dense, reranked = results["dense"].run["q1"], results["dense+rerank"].run["q1"]
    assert sorted(reranked[:3]) == sorted(dense[:3]) and reranked[3:] == dense[3:]
    assert results["dense"].metrics == ev.metrics(data.qrels, results["dense"].run)


def test_missing_extra_names_the_install(monkeypatch, beir_truth: dict):
    with mock.patch.dict("sys.modules", {"ir_measures": None}):
        with pytest.raises(ImportError, match=r'pip install "crossrank\[eval\]"'):
            ev.metrics(beir_truth["qrels"], {"q1": ["d1"]})


def test_retrievers_are_evaluated_by_name(beir: Path, tiny_encoder_path: str):
    data = ev.load_beir(beir)
    store = Store(collection="evalhybrid", encoder=tiny_encoder_path, in_memory=True)
    ev.index_corpus(store, data)
    stages = {
        "bm25": Pipeline(store, retrieval="bm25"),
        "dense": Pipeline(store, retrieval="dense"),
    }
    results = ev.evaluate(store, data, retrievers=stages)
    assert list(results) == ["bm25", "dense"]
    # "anonymous functions" shares no word with any passage but d2's
    assert results["bm25"].run["q2"][0] == "d2"
    assert results["dense"].run == ev.evaluate(store, data)["dense"].run
