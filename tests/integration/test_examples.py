"""The runnable RAG apps, offline, on the sample corpus with tiny local models."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _pdfs(corpus: Path, out: Path) -> Path:
    """The sample corpus as PDFs, a page per paragraph group."""
    from fpdf import FPDF

    out.mkdir()
    for path in sorted(corpus.glob("*.txt")):
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        text = path.read_text().encode("latin-1", "replace").decode("latin-1")
        for start in range(0, len(text), 1500):
            pdf.add_page()
            pdf.multi_cell(0, 5, text=text[start : start + 1500])
        pdf.output(str(out / f"{path.stem}.pdf"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["txt", "pdf"])
@pytest.mark.parametrize("script", ["llama_index_rag.py", "langchain_rag.py"])
def test_rag_example_runs_offline(
    script, kind, tmp_path, sample_corpus, tiny_encoder_path, tiny_reranker_path
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
            str(sample_corpus if kind == "txt" else _pdfs(sample_corpus, tmp_path / "pdf")),
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
    # The passages of the context, numbered as the LLM reads them: [n] score=S citation.
    cited = [line for line in done.stdout.splitlines() if re.match(r"\[\d+\] score=", line)]
    assert [line.split("]")[0] for line in cited] == [f"[{n}" for n in range(1, len(cited) + 1)]
    scores = [float(line.split()[1].split("=")[1]) for line in cited]
    assert len(scores) >= 2 and scores == sorted(scores, reverse=True)
    assert (
        all(line.endswith(".txt") for line in cited)
        if kind == "txt"
        else all(re.search(r"\.pdf, pp?\. \d", line) for line in cited)
    )
    # The prompt for the LLM asks for [n] citations and holds the numbered passages.
    prompt = done.stdout.split("would reach the LLM:", 1)[1]
    assert "cite the passages you use as [n]" in prompt
    assert all(f"\n{line.split(' ', 2)[0]} {line.split(' ', 2)[2]}\n" in prompt for line in cited)
    assert "no reranking" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("script", ["langchain_agent.py", "llama_index_agent.py"])
def test_agent_example_calls_the_search_tool_offline(
    script, tmp_path, sample_corpus, tiny_encoder_path, tiny_reranker_path
):
    """A scripted model calls crossrank's tool; the tool answers with the cited context."""
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
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    called, answered = done.stdout.split("answered:\n", 1)
    assert "tool search_documents({'query': 'What does the assert statement do?'})" in called
    context, answer = answered.split("\nA: ", 1)
    assert re.match(r"\[1\] \S+\.txt\n", context) and "\n\n[2] " in context
    assert answer.startswith("From the passages: see [1].")
    assert "no reranking" not in done.stderr
