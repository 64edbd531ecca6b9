"""Smoke runs of the benchmark scripts (the real figures come from `make bench`)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

pytestmark = [pytest.mark.slow, pytest.mark.bench]


@pytest.fixture(autouse=True)
def tiny_benchmark_reranker(monkeypatch, tiny_reranker_path: str) -> None:
    """The scripts' MiniLM-sized cross-encoder, made tiny: these runs check the scripts."""
    monkeypatch.setenv("CROSSRANK_BENCH_RERANKER", tiny_reranker_path)


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, script, *args],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rerank_cost_smoke():
    out = run("rerank_cost.py", "--candidates", "8", "--repeats", "1")
    assert "crossrank fast (bf16)" in out and "x SentenceTransformerRerank's speed" in out
    assert "crossrank exact vs unbatched fp32: max score difference" in out
    assert out.count("top-5 vs crossrank exact") == 5 and "crossrank fast, unbucketed" in out


def test_serve_smoke():
    out = run("serve.py", "--clients", "1,2", "--rounds", "1", "--cold-runs", "1", "--infinity", "")
    assert "crossrank serve          2" in out and "in-process ceiling       2" in out
    assert "cold crossrank ask --server: median" in out and "infinity-emb: not found" in out


def test_serve_load_smoke():
    out = run("serve_load.py", "--seconds", "8", "--clients", "2")
    assert "5xx answers: 0; good requests not answered 200: 0" in out
    assert "server RSS after warm-up" in out


def test_precision_smoke(tmp_path: Path):
    data = _tiny_beir(tmp_path / "beir")
    out = run("precision.py", "--dataset", str(data), "--k", "2")
    assert "mean top-5 overlap" in out and "recall@10 agreement" in out


def test_indexing_smoke():
    out = run("indexing.py", "--chunks", "16", "--repeats", "1")
    assert "passages/s" in out and "crossrank / LlamaIndex" in out


def _tiny_beir(data: Path) -> Path:
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "", "text": "The break statement ends a loop."}\n'
        '{"_id": "d2", "title": "", "text": "Modules are imported with import."}\n'
    )
    (data / "queries.jsonl").write_text('{"_id": "q1", "text": "How do I stop a loop?"}\n')
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return data


def test_query_latency_and_keyword_engines_smoke(tmp_path: Path):
    db = str(tmp_path / "scale")
    options = ["--chunks", "300", "--db", db, "--queries", "2", "--fetch-k", "5"]
    out = run("query_latency.py", *options, "--rerank-queries", "1")
    assert "BM25 index built once for the existing store" in out
    assert "  dense " in out and "  hybrid " in out and "hybrid/dense warm p50" in out

    data = str(_tiny_beir(tmp_path / "beir"))
    out = run(
        "keyword_engines.py",
        "--dataset",
        data,
        "--db",
        str(tmp_path / "dev"),
        "--scale-db",
        db,
        "--chunks",
        "300",
        "--repeats",
        "1",
    )
    assert "tantivy (crossrank) hybrid" in out and "bm25s (today) hybrid" in out
    assert out.count("ms") >= 9  # three engines at scale: p50, p95, change + next query


def test_python_docs_dataset_builder(tmp_path: Path):
    faq = tmp_path / "src" / "faq"
    faq.mkdir(parents=True)
    (faq / "general.rst.txt").write_text(
        "===========\nGeneral FAQ\n===========\n\n"
        "Why is the sky blue?\n--------------------\n\n"
        "Rayleigh scattering of sunlight by the :term:`molecules <molecule>` of air.\n\n"
        "Background\n----------\n\nThe atmosphere is mostly nitrogen and oxygen gas.\n"
    )
    (tmp_path / "src" / "other.rst.txt").write_text(
        "Other\n=====\n\nA distractor passage about `Python <https://python.org>`_ itself.\n"
    )
    out = run("datasets/python_docs.py", str(tmp_path / "out"), "--sources", str(tmp_path / "src"))
    assert "3 passages, 1 queries, 1 qrels" in out
    from crossrank.evaluate import load_beir

    data = load_beir(tmp_path / "out")
    [(qid, question)] = data.queries.items()
    assert question == "Why is the sky blue?"
    [relevant] = data.qrels[qid]
    assert data.corpus[relevant][1] == "Rayleigh scattering of sunlight by the molecules of air."
    assert question not in data.corpus[relevant][1]
    texts = [text for _, text in data.corpus.values()]
    assert "A distractor passage about Python itself." in texts
    # The context benchmark on it: every context within its budget, both halves reported.
    out = run("context.py", "--dataset", str(tmp_path / "out"), "--db", str(tmp_path / "db"))
    assert "1 questions, 50 candidates each, retrieval order" in out
    assert "| builder" not in out and out.count("| merge | 1024 |") == 1
    assert "best on the tune half: " in out


def test_tracing_overhead_smoke():
    out = run("tracing_overhead.py", "--passages", "30", "--fetch-k", "4", "--rounds", "1",
              "--queries", "1")  # fmt: skip
    for way in ("no OpenTelemetry", "tracing off (API only)", "tracing on (SDK, batch export)"):
        assert way in out
    assert out.count("x ") >= 3 and "us" in out


def test_concurrency_smoke():
    out = run("concurrency.py", "--callers", "1,2", "--repeats", "1")
    for framework in ("LangChain", "LlamaIndex"):
        assert out.count(f"| {framework} |") == 2
    assert "one caller alone, p50:" in out and "in one score_many call" in out


def test_shape_memory_smoke():
    out = run("shape_memory.py", "--calls", "3", "--precisions", "fp32")
    assert "| fp32 | unbucketed |" in out and "| fp32 | bucketed |" in out


def test_mcp_overhead_smoke():
    out = run("mcp_overhead.py", "--queries", "2", "--rounds", "1", "--topics", "3")
    assert "MCP stdio search" in out and "MCP stdio over Pipeline.search:" in out
    assert "cold crossrank mcp (stdio), spawn to first answer:" in out


def test_replica_restart_smoke(tmp_path: Path, tiny_encoder_path: str):
    import chromadb
    import numpy as np

    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    raw = client.get_or_create_collection("theirs", embedding_function=None)
    vectors = np.random.default_rng(0).standard_normal((20, 32))
    raw.add(ids=[f"c{i}" for i in range(20)], embeddings=vectors, documents=[
        f"passage {i} about loops and the break statement" for i in range(20)])  # fmt: skip
    del client
    out = run("replica_restart.py", "--db", str(tmp_path / "db"), "--model", tiny_encoder_path)
    assert "20 records in 'theirs'" in out and "| --keyword-dir, restart |" in out
