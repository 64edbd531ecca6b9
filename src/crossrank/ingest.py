"""Ingestion: files and folders to text (see :mod:`crossrank.readers`), text to chunks."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._headings import section_paths, strip_headings
from ._spans import token_spans
from .errors import IngestError
from .hit import Chunk
from .readers import MARKUP, MAX_FILE_MB, SUFFIXES, Extracted, read

logger = logging.getLogger(__name__)


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the sorted list of supported files under them."""
    paths = list(paths)
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            # Dangling links are kept so that reading them reports them instead of hiding them.
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if (p.is_file() or p.is_symlink()) and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise IngestError(f"{path}: unsupported file type; crossrank reads {_names()}")
            found.append(path)
        else:
            raise IngestError(f"{path}: no such file or folder")
    if not found:
        raise IngestError(f"no {_names()} files found in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(p.resolve() for p in found))


def _names() -> str:
    return ", ".join(sorted(SUFFIXES))


def chunk_id(source: str, index: int, text: str) -> str:
    """A stable id: the same chunk of the same file always gets the same id."""
    digest = hashlib.sha256(f"{source}\x00{index}\x00{text}".encode()).hexdigest()
    return digest[:32]


def content_id(text: str, metadata: Mapping[str, Any] | None = None) -> str:
    """A stable id for a text added as it is: the same text and metadata, the same id."""
    key = json.dumps(metadata or {}, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(f"{text}\x00{key}".encode()).hexdigest()[:32]


def chunk_document(
    source: str,
    text: str,
    tokenizer: Any,
    size: int,
    overlap: int,
    section: str = "",
    pages: Sequence[int] = (),
) -> list[Chunk]:
    """Chunks of one document, each with its source, index, character offsets and section.

    Markdown and reStructuredText are cut at their headings first, so that each chunk lies
    in one section and gets its heading path; a heading with no text of its own goes with
    the section after it (or, at the end of a document, is left out unless it is all there
    is). A paged document (``pages``: where each page starts) is cut at its pages, and each
    chunk gets its page number, from 1. Other text is one section, ``section``.
    """
    starts, paths = [0], [section]
    if pages:
        starts, paths = list(pages), [section] * len(pages)
    elif source.lower().endswith(MARKUP):
        starts, paths = section_paths(text)
    numbers = list(range(1, len(starts) + 1)) if pages else [None] * len(starts)
    ends = [*starts[1:], len(text)]
    chunks: list[Chunk] = []
    carried: int | None = None  # start of headings waiting for their section's text
    for begin, finish, path, page in zip(starts, ends, paths, numbers, strict=True):
        begin = begin if carried is None else carried
        if (finish < len(text) or chunks) and not strip_headings(text[begin:finish]):
            carried = begin
            continue
        carried = None
        for start, end in token_spans(text[begin:finish], tokenizer, size, overlap):
            piece, index = text[begin + start : begin + end], len(chunks)
            chunk = Chunk(
                chunk_id(source, index, piece),
                piece,
                source,
                index,
                begin + start,
                begin + end,
                path,
                page,
            )
            chunks.append(chunk)
    return chunks


def iter_documents(
    paths: Iterable[str | Path], max_file_mb: float = MAX_FILE_MB
) -> Iterator[tuple[str, Extracted]]:
    """``(source, extracted text)`` for each supported file.

    A file that cannot be used (see :func:`crossrank.readers.read`) is skipped with a
    warning that names it; when no file can be used at all, :class:`IngestError` says so.
    """
    files = find_files(paths)
    used = 0
    for path in files:
        try:
            extracted = read(path, max_file_mb)
        except IngestError as error:
            logger.warning("skipping %s", error)
            continue
        used += 1
        yield str(path), extracted
    if not used:
        raise IngestError(f"none of the {len(files)} files found could be indexed (see warnings)")
