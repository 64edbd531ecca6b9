"""The runnable RAG apps, offline, on the sample corpus with tiny local models."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("script", ["llama_index_rag.py", "langchain_rag.py"])
def test_rag_example_runs_offline(
    script, tmp_path, sample_corpus, tiny_encoder_path, tiny_reranker_path
):
    pytest.importorskip(
        {
            "llama_index_rag.py": "llama_index.retrievers.crossrank",
            "langchain_rag.py": "langchain_crossrank",
        }[script]
    )
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / script),
            "What does the assert statement do?",
            "--docs",
            str(sample_corpus),
            "--db",
            str(tmp_path / "db"),
            "--model",
            tiny_encoder_path,
            "--reranker",
            tiny_reranker_path,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},  # no LLM configured
    )
    assert done.returncode == 0, done.stderr
    assert "index: 8 files" in done.stdout
    assert "context that would reach the LLM" in done.stdout
    scores = [
        float(line.split()[1].split("=")[1])
        for line in done.stdout.splitlines()
        if line.startswith("- score=")
    ]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert "no reranking" not in done.stderr
