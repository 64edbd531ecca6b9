"""Readers: a file's text, by its type. Plain text and source code, HTML, PDF and Word.

PDF text is read per page with pypdf (pure Python, BSD, the py-pdf project) and Word
``.docx`` with python-docx; both come with ``pip install "crossrank[documents]"``. Each
reader returns the whole text and, for paged formats, where each page starts, so that
chunks never cross a page and carry its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._extras import require
from .errors import IngestError

TEXT = frozenset({".txt", ".md", ".rst", ".html", ".htm"})
# Common plain-text source and configuration files, read as text.
CODE = frozenset(
    {".py", ".js", ".ts", ".tsx", ".jsx", ".java", ".go", ".rs", ".c", ".h", ".cpp", ".hpp",
     ".cs", ".rb", ".php", ".sh", ".sql", ".toml", ".yaml", ".yml", ".ini", ".cfg"}
)  # fmt: skip
DOCUMENTS = frozenset({".pdf", ".docx"})
SUFFIXES = TEXT | CODE | DOCUMENTS
MARKUP = (".md", ".rst", ".docx")  # files whose headings give chunks a section
MAX_FILE_MB = 50.0


@dataclass(frozen=True)
class Extracted:
    """A file's text; ``pages`` holds where each page starts in it (PDF), else is empty."""

    text: str
    pages: tuple[int, ...] = ()


def read(path: Path, max_mb: float = MAX_FILE_MB) -> Extracted:
    """The text of a supported file (see :data:`SUFFIXES`).

    Raises:
        IngestError: The file cannot be read or used: too large, not UTF-8, binary, empty,
            an encrypted, corrupt or image-only PDF, a corrupt .docx, or a missing extra.
    """
    suffix = path.suffix.lower()
    if suffix not in DOCUMENTS:
        return Extracted(read_text(path, max_mb))
    _check_size(path, max_mb)
    try:
        return _read_pdf(path) if suffix == ".pdf" else Extracted(_read_docx(path))
    except ImportError as error:  # skip the file, saying what to install, not the whole run
        raise IngestError(f"{path}: {error}") from error


def _check_size(path: Path, max_mb: float) -> None:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from error
    if size > max_mb * 2**20:
        raise IngestError(
            f"{path}: {size / 2**20:.0f} MB is over the {max_mb:g} MB limit per file "
            "(raise it with max_file_mb / --max-file-mb)"
        )


def read_text(path: Path, max_mb: float = MAX_FILE_MB) -> str:
    """The text of a text file; HTML is reduced to its visible text.

    Raises:
        IngestError: The file cannot be read, is larger than ``max_mb``, is not UTF-8,
            is binary (holds NUL bytes) or holds no text.
    """
    _check_size(path, max_mb)
    try:
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


def _read_pdf(path: Path) -> Extracted:
    pypdf = require("pypdf", "documents")
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path}: encrypted PDF (it needs a password); decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except Exception as error:  # pypdf raises many types for a broken file
        raise IngestError(
            f"{path}: not a readable PDF ({type(error).__name__}: {error})"
        ) from error
    if not any(page.strip() for page in pages):
        raise IngestError(
            f"{path}: no text in its {len(pages)} pages (scanned or image-only? OCR it first)"
        )
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 2
    return Extracted("\n\n".join(pages), tuple(starts))


def _read_docx(path: Path) -> str:
    """Paragraphs, with Word's headings as Markdown ones (so chunks get their section)."""
    docx = require("docx", "documents")
    try:
        document = docx.Document(str(path))
    except Exception as error:  # a zip that is not a .docx, a truncated file...
        raise IngestError(
            f"{path}: not a readable Word .docx file ({type(error).__name__}: {error})"
        ) from error
    lines = []
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        level = _heading_level(paragraph)
        if text:
            lines.append(f"{'#' * level} {text}" if level else text)
    if not lines:
        raise IngestError(f"{path}: empty document, nothing to index")
    return "\n\n".join(lines)


def _heading_level(paragraph: object) -> int:
    style = getattr(getattr(paragraph, "style", None), "name", "") or ""
    if style == "Title":
        return 1
    number = style.removeprefix("Heading ").strip()
    return min(int(number), 6) if style.startswith("Heading ") and number.isdigit() else 0
