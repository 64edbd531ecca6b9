import json
import subprocess
import sys
from pathlib import Path

import pytest

from crossrank import evaluate as ev

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def indexed(crossrank, tmp_path: Path, sample_corpus: Path, tiny_encoder_path: str) -> list[str]:
    common = ["--db", str(tmp_path / "db"), "--collection", "docs", "--model", tiny_encoder_path]
    done = crossrank("index", str(sample_corpus), *common, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "indexed 8 files" in done.stdout
    return common


def test_index_and_ask_round_trip_as_json(crossrank, indexed: list[str], tiny_reranker_path: str):
    done = crossrank(
        "ask",
        "What does assert do?",
        *indexed,
        "--k",
        "10",
        "--top-n",
        "3",
        "--reranker",
        tiny_reranker_path,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["query"] == "What does assert do?"
    assert len(payload["hits"]) == 3
    for hit in payload["hits"]:
        assert set(hit) == {
            "id", "text", "source", "metadata", "retrieval_score", "rerank_score", "scores",
            "evidence",
        }  # fmt: skip
        assert Path(hit["source"]).suffix == ".txt" == Path(hit["metadata"]["source"]).suffix
        assert set(hit["metadata"]) == {"source", "chunk_index", "start_char", "end_char"}
        assert isinstance(hit["rerank_score"], float)
        assert hit["evidence"] == [0, len(hit["text"])]  # a chunk fits the model whole
    scores = [hit["rerank_score"] for hit in payload["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_context_prints_cited_passages_within_the_budget(
    crossrank, indexed: list[str], tiny_reranker_path: str
):
    from crossrank.context import approximate_tokens

    common = ["What does assert do?", *indexed, "--k", "10", "--reranker", tiny_reranker_path]
    done = crossrank("ask", *common, "--context", "400", "--expand", "1")
    assert done.returncode == 0, done.stderr
    text = done.stdout.rstrip("\n")
    assert text.startswith("[1] ") and "\n\n[2] " in text
    assert approximate_tokens(text) <= 400
    done = crossrank("ask", *common, "--context", "400", "--expand", "1", "--json")
    payload = json.loads(done.stdout)
    context = payload["context"]
    assert context["text"] == text and context["tokens"] <= 400 == context["budget"]
    assert len(payload["hits"]) == 10  # with --context, all K hits are offered to it
    labels = [passage["label"] for passage in context["passages"]]
    assert labels == list(range(1, len(labels) + 1))
    for passage in context["passages"]:
        assert f"[{passage['label']}] {passage['citation']}\n{passage['text']}" in text
        assert Path(passage["source"]).suffix == ".txt"
    done = crossrank("ask", *common, "--context", "400", "--tokenizer", "./no/such/tokenizer")
    assert done.returncode == 2 and "tokenizer" in done.stderr


def test_ask_trace_shows_the_stages_and_each_hits_rank_at_each(
    crossrank, indexed: list[str], tiny_reranker_path: str
):
    common = ["What does assert do?", *indexed, "--k", "8", "--top-n", "3"]
    done = crossrank("ask", *common, "--reranker", tiny_reranker_path, "--trace", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    stages = {(s["stage"], s["depth"]) for s in payload["trace"]}
    expected = {("search", 0), ("hybrid", 1), ("dense", 2), ("embed_query", 3), ("bm25", 2)}
    assert expected | {("rerank", 1)} <= stages
    ids = {s["stage"]: s["ids"] for s in payload["trace"]}
    assert ids["rerank"] == [hit["id"] for hit in payload["hits"]]
    assert len(ids["hybrid"]) == 8 and set(ids["rerank"]) <= set(ids["hybrid"])
    assert all(s["seconds"] > 0 for s in payload["trace"])
    table = crossrank("ask", *common, "--no-rerank", "--trace")
    assert table.returncode == 0, table.stderr
    assert "rank of each hit at each stage" in table.stdout
    assert "  dense" in table.stdout and " ms" in table.stdout


def test_ask_with_bm25_and_hybrid_retrieval(crossrank, indexed: list[str], tiny_reranker_path: str):
    done = crossrank("ask", "lambda", *indexed, "--no-rerank", "--retrieval", "bm25", "--json")
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["hits"]
    assert hits and all(set(hit["scores"]) == {"bm25"} for hit in hits)
    assert Path(hits[0]["source"]).name == "lambda.txt"
    done = crossrank(
        "ask",
        "lambda",
        *indexed,
        "--retrieval",
        "hybrid",
        "--weights",
        "0.5,0.5",
        "--mmr",
        "0.7",
        "--reranker",
        tiny_reranker_path,
        "--precision",
        "fp32",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["hits"]
    assert all(isinstance(hit["rerank_score"], float) and hit["scores"] for hit in hits)
    done = crossrank("ask", "lambda", *indexed, "--precision", "int8")
    assert done.returncode == 2 and "'int8' is not one of" in done.stderr
    done = crossrank("ask", "lambda", *indexed, "--retrieval", "hybrid", "--weights", "half")
    assert done.returncode == 2 and "expected two numbers, DENSE,BM25" in done.stderr


def test_reindex_embeds_nothing_new(crossrank, indexed: list[str], sample_corpus: Path):
    done = crossrank("index", str(sample_corpus), *indexed, "--quiet")
    assert done.returncode == 0, done.stderr
    assert ", 0 embedded," in done.stdout


def test_no_rerank_and_table_output(crossrank, indexed: list[str]):
    done = crossrank("ask", "What does assert do?", *indexed, "--no-rerank", "--top-n", "2")
    assert done.returncode == 0, done.stderr
    assert "retrieval" in done.stdout and ".txt" in done.stdout
    payload = json.loads(
        crossrank("ask", "assert", *indexed, "--no-rerank", "--top-n", "2", "--json").stdout
    )
    assert [hit["rerank_score"] for hit in payload["hits"]] == [None, None]


def test_unavailable_reranker_says_so_in_one_line(crossrank_process, indexed: list[str]):
    done = crossrank_process(
        "ask", "What does assert do?", *indexed, "--json", env={"HF_HUB_OFFLINE": "1"}
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("crossrank:")]
    assert len(lines) == 1 and "CROSSRANK_RERANKER" in lines[0]
    payload = json.loads(done.stdout)
    assert payload["hits"] and all(hit["rerank_score"] is None for hit in payload["hits"])


def test_clear_errors(crossrank, tmp_path: Path, tiny_encoder_path: str):
    common = ["--db", str(tmp_path / "db"), "--model", tiny_encoder_path]
    empty = crossrank("ask", "anything", *common)
    assert empty.returncode != 0 and "is empty or missing: run `crossrank index" in empty.stderr
    blank = crossrank("ask", "  ", *common)
    assert blank.returncode != 0 and "the question is empty" in blank.stderr
    missing = crossrank("index", str(tmp_path / "nope"), *common)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    named = crossrank("ask", "x", *common, "--collection", "bad name!!")
    assert named.returncode == 2 and "Traceback" not in named.stderr
    assert "collection name 'bad name!!' is not valid" in named.stderr


def test_only_crossranks_own_messages_unless_verbose(crossrank_process, indexed: list[str]):
    quiet = crossrank_process("ask", "loops", *indexed, "--no-rerank")
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO" not in quiet.stderr and "DEBUG" not in quiet.stderr
    loud = crossrank_process(
        "--verbose", "ask", "loops", *indexed, "--no-rerank", "--retrieval", "bm25"
    )
    assert loud.returncode == 0 and "INFO crossrank._models: loading model" in loud.stderr


@pytest.mark.slow
def test_quickstart_example_runs(tmp_path: Path, sample_corpus: Path, tiny_reranker_path: str):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "quickstart.py"),
            str(sample_corpus),
            "--db",
            str(tmp_path / "db"),
            "--reranker",
            tiny_reranker_path,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "indexed 8 files" in done.stdout
    assert done.stdout.count("rerank=0.") == 5


def test_cli_eval_json_and_plot(
    crossrank,
    beir: Path,
    tmp_path: Path,
    tiny_encoder_path: str,
    tiny_reranker_path: str,
    monkeypatch,
):
    chart = tmp_path / "chart.png"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    done = crossrank(
        "eval", "--dataset", str(beir), "--model", tiny_encoder_path,
        "--reranker", tiny_reranker_path, "--k", "4", "--json", "--plot", str(chart),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    modes = {"dense", "bm25", "hybrid"}
    assert set(payload["stages"]) == modes | {f"{mode}+rerank" for mode in modes}
    assert set(payload["stages"]["dense"]) == {*ev.METRICS, "queries_per_second"}
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert list(work.iterdir()) == []  # without --db, eval indexes into a scratch store


def test_ask_reads_a_collection_langchain_chroma_built(
    crossrank, tmp_path: Path, tiny_encoder_path
):
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from crossrank import Encoder

    encoder = Encoder(tiny_encoder_path)

    class Tiny(Embeddings):
        def embed_documents(self, texts):
            return encoder.embed(texts).tolist()

        def embed_query(self, text):
            return encoder.embed_query(text).tolist()

    docs = [
        Document(page_content="The break statement ends the nearest loop.", metadata={"n": 1}),
        Document(page_content="A lambda makes an anonymous function.", metadata={"n": 2}),
    ]
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    Chroma.from_documents(docs, Tiny(), client=client, collection_name="langchain")
    common = ["--db", str(tmp_path / "chroma"), "--collection", "langchain", "--no-rerank"]
    unnamed = crossrank("ask", "loops", *common)
    assert unnamed.returncode == 2 and "records no embedding model" in unnamed.stderr
    assert "--model NAME" in unnamed.stderr
    named = crossrank("ask", "break loop", *common, "--model", tiny_encoder_path, "--json")
    assert named.returncode == 0, named.stderr
    hits = json.loads(named.stdout)["hits"]
    assert {hit["metadata"]["n"] for hit in hits} == {1, 2} and len(hits) == 2
