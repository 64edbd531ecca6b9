import logging
from pathlib import Path

import pytest

from crossrank import IngestError
from crossrank._spans import token_spans as chunk_spans
from crossrank.ingest import chunk_document, find_files, iter_documents
from crossrank.readers import read_text


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from crossrank._models import bundled_model

    return AutoTokenizer.from_pretrained(str(bundled_model()))


LONG = " ".join(
    f"Sentence number {i} talks about topic {i % 7}, with a word like antidisestablishment."
    for i in range(120)
)


def test_chunks_fit_the_token_budget_and_cover_the_text(tokenizer):
    spans = chunk_spans(LONG, tokenizer, size=50, overlap=10)
    assert len(spans) > 5
    for start, end in spans:
        ids = tokenizer(LONG[start:end], add_special_tokens=False)["input_ids"]
        assert len(ids) <= 50
    assert spans[0][0] == 0 and spans[-1][1] == len(LONG)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start < end  # consecutive chunks overlap: no character is lost between them


def test_chunks_cut_at_sentence_ends_when_they_can(tokenizer):
    spans = chunk_spans(LONG, tokenizer, size=60, overlap=0)
    assert all(LONG[end - 1] == "." for _, end in spans[:-1])


def test_chunk_metadata_offsets_and_stable_ids(tokenizer):
    chunks = chunk_document("doc.txt", LONG, tokenizer, size=50, overlap=10)
    again = chunk_document("doc.txt", LONG, tokenizer, size=50, overlap=10)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == len(chunks)
    for index, chunk in enumerate(chunks):
        assert chunk.index == index
        assert LONG[chunk.start_char : chunk.end_char] == chunk.text
        assert chunk.metadata["source"] == "doc.txt"
    other = chunk_document("other.txt", LONG, tokenizer, size=50, overlap=10)
    assert chunks[0].id != other[0].id


def test_empty_text_has_no_chunks(tokenizer):
    assert chunk_spans("", tokenizer, 50, 10) == []
    with pytest.raises(ValueError, match="overlap"):
        chunk_spans(LONG, tokenizer, 50, 50)


def test_html_markup_is_dropped(tmp_path: Path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Title</h1><p>Hello <b>bold</b> world.</p></body></html>"
    )
    text = read_text(page)
    assert "Title" in text and "Hello" in text and "bold" in text
    assert "<" not in text and "color" not in text and "var x" not in text


def test_find_files_filters_and_reports(tmp_path: Path):
    (tmp_path / "a.md").write_text("# A")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.rst").write_text("B\n=")
    (tmp_path / "c.py").write_text("print()")
    (tmp_path / "d.png").write_bytes(b"\x89PNG")
    assert [p.name for p in find_files([tmp_path])] == ["a.md", "c.py", "b.rst"]
    with pytest.raises(IngestError, match="no such file"):
        find_files([tmp_path / "missing"])
    with pytest.raises(IngestError, match="unsupported file type"):
        find_files([tmp_path / "d.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no .* files found"):
        find_files([tmp_path / "empty"])


def test_unreadable_file_is_skipped_with_a_warning(tmp_path: Path, caplog):
    (tmp_path / "good.txt").write_text("fine text")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with caplog.at_level(logging.WARNING):
        docs = list(iter_documents([tmp_path]))
    assert [Path(source).name for source, _ in docs] == ["good.txt"]
    assert "not UTF-8" in caplog.text


def test_a_word_longer_than_a_chunk_is_cut_inside_it(tokenizer):
    blob = "zq" + "xj7" * 30  # one word (under BERT's 100-character limit) of many tokens
    tokens = len(tokenizer(blob, add_special_tokens=False)["input_ids"])
    assert tokens > 30
    spans = chunk_spans(f"start {blob} end", tokenizer, size=10, overlap=2)
    assert len(spans) <= tokens // 8 + 2  # windows keep their size, not shrink to one token
