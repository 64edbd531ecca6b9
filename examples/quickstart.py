"""crossrank end to end: index a folder, retrieve, rerank, print.

Usage:
    python examples/quickstart.py [DOCS_DIR] [--db DIR] [--reranker NAME_OR_PATH]

Without DOCS_DIR it indexes CPython's own help topics. The reranker defaults to
$CROSSRANK_RERANKER or cross-encoder/ms-marco-MiniLM-L-6-v2; when that cannot be loaded
(offline, no local copy) the example says so and prints retrieval order.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from crossrank import ModelNotFoundError, Reranker, Store

from sample_corpus import write_corpus

QUESTION = "How do I leave a loop early?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="?", type=Path)
    parser.add_argument("--db", default=".crossrank")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument(
        "--reranker",
        default=os.environ.get("CROSSRANK_RERANKER", "cross-encoder/ms-marco-MiniLM-L-6-v2"),
    )
    args = parser.parse_args()
    docs = args.docs or Path(tempfile.mkdtemp()) / "python-help"
    if args.docs is None:
        write_corpus(docs)

    store = Store(args.db, "quickstart")  # all-MiniLM-L6-v2, embedded Chroma
    report = store.index([docs])
    print(f"indexed {report.files} files into {report.chunks} chunks ({report.embedded} new)")

    candidates = store.search(args.question, k=50)  # stage 1: bi-encoder
    try:
        hits = Reranker(args.reranker).rerank(args.question, candidates, top_n=5)  # stage 2
    except ModelNotFoundError as error:
        print(f"no reranking: {error}", file=sys.stderr)
        hits = candidates[:5]

    print(f"\n{args.question}")
    for rank, hit in enumerate(hits, 1):
        rerank = "-" if hit.rerank_score is None else f"{hit.rerank_score:.3f}"
        source = Path(hit.metadata["source"]).name
        print(f"{rank}. rerank={rerank} cosine={hit.retrieval_score:.3f} {source}")
        print(f"   {' '.join(hit.text.split())[:160]}")


if __name__ == "__main__":
    main()
