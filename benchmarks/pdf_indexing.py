"""PDF indexing speed: pages/s to text (crossrank vs LangChain's PyPDFLoader) and indexed.

Makes a folder of PDFs from CPython's help topics (fpdf2), then times text extraction
alone, against LangChain's ``PyPDFLoader`` (the same pypdf underneath), and a whole
``Store.index`` run (extract, chunk, embed with all-MiniLM-L6-v2, store) into an in-memory
collection. Prints medians and ratios.
Usage: python benchmarks/pdf_indexing.py [--files N] [--pages P] [--repeats R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from pydoc_data.topics import topics

from crossrank import Encoder, Store
from crossrank.readers import read

from common import median_seconds


def make_pdfs(folder: Path, files: int, pages: int) -> int:
    from fpdf import FPDF

    text = " ".join(" ".join(topics[name].split()) for name in sorted(topics))
    text = text.encode("latin-1", "replace").decode("latin-1")
    offset = 0
    for number in range(files):
        pdf = FPDF()
        pdf.set_font("helvetica", size=10)
        for _ in range(pages):
            pdf.add_page()
            pdf.multi_cell(0, 5, text=text[offset : offset + 1800])  # ~300 words a page
            offset = (offset + 1800) % (len(text) - 1800)
        pdf.output(str(folder / f"doc{number:03}.pdf"))
    return files * pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from langchain_community.document_loaders import PyPDFLoader

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pages = make_pdfs(folder, args.files, args.pages)
        files = sorted(folder.glob("*.pdf"))
        ours = median_seconds(lambda: [read(path) for path in files], args.repeats)
        theirs = median_seconds(
            lambda: [PyPDFLoader(str(path)).load() for path in files], args.repeats
        )
        print(f"{len(files)} PDFs, {pages} pages of ~300 words, median of {args.repeats} runs")
        print(f"extract text: crossrank {pages / ours:,.0f} pages/s, LangChain PyPDFLoader "
              f"{pages / theirs:,.0f} pages/s ({theirs / ours:.2f}x its speed)")  # fmt: skip
        encoder = Encoder(device="cpu").load()
        store = Store(collection=f"p{uuid.uuid4().hex[:8]}", encoder=encoder, in_memory=True)
        started = time.perf_counter()
        report = store.index([folder])
        seconds = time.perf_counter() - started
        print(f"index (extract, chunk, embed fp32, store): {report.chunks} chunks in "
              f"{seconds:.1f} s, {pages / seconds:.1f} pages/s")  # fmt: skip


if __name__ == "__main__":
    main()
