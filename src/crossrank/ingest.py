"""Ingestion: files and folders to text, text to token-sized chunks with stable ids."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._headings import section_paths, strip_headings
from ._spans import token_spans
from .errors import IngestError
from .hit import Chunk

logger = logging.getLogger(__name__)

SUFFIXES = frozenset({".txt", ".md", ".rst", ".html", ".htm"})
MARKUP = (".md", ".rst")  # files whose headings give chunks a section
MAX_FILE_MB = 50.0


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
    return "/".join(sorted(SUFFIXES))


def read_text(path: Path, max_mb: float = MAX_FILE_MB) -> str:
    """The text of a file; HTML is reduced to its visible text.

    Raises:
        IngestError: The file cannot be read, is larger than ``max_mb``, is not UTF-8,
            is binary (holds NUL bytes) or holds no text.
    """
    try:
        size = path.stat().st_size
        if size > max_mb * 2**20:
            raise IngestError(
                f"{path}: {size / 2**20:.0f} MB is over the {max_mb:g} MB limit per file "
                "(raise it with max_file_mb / --max-file-mb)"
            )
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise IngestError(f"{path}: not UTF-8 text ({error.reason})") from error
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from error
    if "\x00" in raw:
        raise IngestError(f"{path}: binary file (holds NUL bytes), not text")
    if not raw.strip():
        raise IngestError(f"{path}: empty file, nothing to index")
    if path.suffix.lower() in {".html", ".htm"}:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(raw, "html.parser")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        lines = (line.strip() for line in soup.get_text("\n").splitlines())
        return "\n".join(line for line in lines if line)
    return raw


def chunk_id(source: str, index: int, text: str) -> str:
    """A stable id: the same chunk of the same file always gets the same id."""
    digest = hashlib.sha256(f"{source}\x00{index}\x00{text}".encode()).hexdigest()
    return digest[:32]


def chunk_document(
    source: str, text: str, tokenizer: Any, size: int, overlap: int, section: str = ""
) -> list[Chunk]:
    """Chunks of one document, each with its source, index, character offsets and section.

    Markdown and reStructuredText are cut at their headings first, so that each chunk lies
    in one section and gets its heading path; a heading with no text of its own goes with
    the section after it (or, at the end of a document, is left out unless it is all there
    is). Other text is one section, ``section``.
    """
    starts, paths = [0], [section]
    if source.lower().endswith(MARKUP):
        starts, paths = section_paths(text)
    ends = [*starts[1:], len(text)]
    chunks: list[Chunk] = []
    carried: int | None = None  # start of headings waiting for their section's text
    for begin, finish, path in zip(starts, ends, paths, strict=True):
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
            )
            chunks.append(chunk)
    return chunks


def iter_documents(
    paths: Iterable[str | Path], max_file_mb: float = MAX_FILE_MB
) -> Iterator[tuple[str, str]]:
    """``(source, text)`` for each supported file.

    A file that cannot be used (see :func:`read_text`) is skipped with a warning; when no
    file can be used at all, :class:`IngestError` says so.
    """
    files = find_files(paths)
    read = 0
    for path in files:
        try:
            text = read_text(path, max_file_mb)
        except IngestError as error:
            logger.warning("skipping %s", error)
            continue
        read += 1
        yield str(path), text
    if not read:
        raise IngestError(f"none of the {len(files)} files found could be indexed (see warnings)")
