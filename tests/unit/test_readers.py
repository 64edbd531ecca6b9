"""Readers: PDF pages, Word headings, source files, and the bad documents users have."""

import logging
from pathlib import Path
from unittest import mock

import pytest

from crossrank import IngestError
from crossrank.readers import read

PAGES = ["Rivers flow down to the sea.", "Mountains rise above the clouds."]


def _pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.cell(text=text)
        else:
            pdf.rect(20, 20, 50, 50, style="F")  # a page with a picture and no text
    pdf.output(str(path))
    return path


def _docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Install", level=1)
    document.add_paragraph("Download the installer.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Use   apt  to install it.")
    document.add_paragraph("")
    document.save(str(path))
    return path


def test_pdf_text_per_page(tmp_path: Path):
    extracted = read(_pdf(tmp_path / "a.pdf", PAGES))
    assert [extracted.text[start:].split("\n\n")[0] for start in extracted.pages] == PAGES


def test_pdf_chunks_carry_their_page(memory_store, tmp_path: Path):
    (tmp_path / "docs").mkdir()
    _pdf(tmp_path / "docs" / "manual.pdf", PAGES)
    report = memory_store.index([tmp_path / "docs"], chunk_size=48)
    assert (report.files, report.chunks) == (1, 2)  # a chunk never crosses a page
    found = memory_store.collection.get(include=["documents", "metadatas"])
    pages = {
        text: meta["page"]
        for text, meta in zip(found["documents"], found["metadatas"], strict=True)
    }
    assert pages == {PAGES[0]: 1, PAGES[1]: 2}
    [hit] = memory_store.search("mountains", k=1, where={"page": 2})
    assert hit.metadata["page"] == 2 and hit.to_dict()["metadata"]["page"] == 2


def test_word_headings_become_sections(memory_store, tmp_path: Path):
    path = _docx(tmp_path / "guide.docx")
    assert read(path).text == (
        "# Install\n\nDownload the installer.\n\n## Linux\n\nUse apt to install it."
    )
    memory_store.index([path], chunk_size=48)
    found = memory_store.collection.get(include=["metadatas"])
    assert {meta["section"] for meta in found["metadatas"]} == {"Install", "Install > Linux"}


def test_source_files_are_read_as_text(memory_store, tmp_path: Path):
    (tmp_path / "tool.py").write_text("def main():\n    return 'hello'\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    assert memory_store.index([tmp_path]).files == 1


def test_bad_documents_are_skipped_by_name_and_the_rest_indexed(
    memory_store, tmp_path: Path, caplog
):
    from pypdf import PdfReader, PdfWriter

    docs = tmp_path / "docs"
    docs.mkdir()
    good = _pdf(docs / "good.pdf", PAGES)
    writer = PdfWriter()
    writer.append(PdfReader(str(good)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(str(docs / "locked.pdf"))
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\nthis is not really a PDF")
    _pdf(docs / "scanned.pdf", [""])
    (docs / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    with caplog.at_level(logging.WARNING, logger="crossrank.ingest"):
        report = memory_store.index([docs], chunk_size=48)
    assert (report.files, report.chunks) == (1, 2)
    for name, reason in [
        ("locked.pdf", "encrypted PDF (it needs a password)"),
        ("corrupt.pdf", "not a readable PDF"),
        ("scanned.pdf", "no text in its 1 pages (scanned or image-only? OCR it first)"),
        ("broken.docx", "not a readable Word .docx file"),
    ]:
        assert f"{docs / name}: {reason}" in caplog.text


def test_an_empty_password_pdf_is_read(tmp_path: Path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(str(_pdf(tmp_path / "a.pdf", PAGES))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    writer.write(str(tmp_path / "b.pdf"))
    assert PAGES[1] in read(tmp_path / "b.pdf").text


def test_a_missing_extra_names_the_install(tmp_path: Path):
    path = _pdf(tmp_path / "a.pdf", PAGES)
    with mock.patch.dict("sys.modules", {"pypdf": None}):
        with pytest.raises(IngestError, match=r'pip install "crossrank\[documents\]"'):
            read(path)
