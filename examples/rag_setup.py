"""What the two RAG examples share: arguments, the crossrank index, the reranker."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from crossrank import ModelNotFoundError, Reranker, Store

from sample_corpus import write_corpus

QUESTIONS = ["How do I leave a loop early?", "What does the assert statement do?"]
BUDGET = 512  # tokens of context for the LLM
PROMPT = (
    "Answer the question from the numbered passages only, and cite the passages you use "
    "as [n].\n\nPassages:\n{context}\n\nQuestion: {question}\nAnswer:"
)


def setup(description: str) -> tuple[list[str], Store, Reranker | None]:
    """Parse the command line, index the documents, load the reranker (None if unavailable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("questions", nargs="*", default=QUESTIONS)
    parser.add_argument(
        "--docs",
        type=Path,
        help="a folder of documents: text, Markdown, HTML, PDF, Word (default: CPython's "
        'help topics; PDF and .docx need pip install "crossrank[documents]")',
    )
    parser.add_argument("--db", default=".crossrank")
    parser.add_argument("--model", default=None, help="bi-encoder (default all-MiniLM-L6-v2)")
    parser.add_argument(
        "--reranker",
        default=os.environ.get("CROSSRANK_RERANKER", "cross-encoder/ms-marco-MiniLM-L-6-v2"),
    )
    args = parser.parse_args()
    docs = args.docs or Path(tempfile.mkdtemp()) / "python-help"
    if args.docs is None:
        write_corpus(docs)

    store = Store(args.db, "rag", args.model)  # None: the default all-MiniLM-L6-v2
    report = store.index([docs])  # incremental: an unchanged folder embeds nothing
    print(f"index: {report.files} files, {report.chunks} chunks ({report.embedded} new)")
    try:
        reranker: Reranker | None = Reranker(args.reranker).load()
    except ModelNotFoundError as error:
        print(f"no reranking: {error}", file=sys.stderr)
        reranker = None
    return args.questions, store, reranker
