"""BEIR-format datasets: reading one, and indexing its corpus into a store."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IngestError
from .hit import Chunk
from .ingest import chunk_document
from .store import Store


@dataclass(frozen=True)
class Dataset:
    """A BEIR-format dataset: ``corpus`` maps ids to ``(title, text)``.

    ``sections`` maps a document id to its heading path, read from a corpus row's
    ``metadata.section`` when there is one (pseudo-queries for training come from it).
    """

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    sections: dict[str, str] = field(default_factory=dict)


def load_beir(folder: str | Path, split: str = "test") -> Dataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` from ``folder``."""
    root = Path(folder)
    records = _jsonl(root / "corpus.jsonl")
    corpus = {
        str(row["_id"]): (str(row.get("title") or ""), str(row.get("text") or ""))
        for row in records
    }
    sections = {
        str(row["_id"]): str(row["metadata"]["section"])
        for row in records
        if isinstance(row.get("metadata"), dict) and row["metadata"].get("section")
    }
    queries = {str(row["_id"]): str(row["text"]) for row in _jsonl(root / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    path = root / "qrels" / f"{split}.tsv"
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError as error:
        raise IngestError(f"{path}: cannot read the qrels ({error.strerror})") from error
    for line, row in enumerate(rows[1:], 2):  # the first line is the header
        if len(row) < 3 or not row[2].lstrip("-").isdigit():
            raise IngestError(f"{path}:{line}: expected query-id, corpus-id, score")
        qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    if not corpus or not queries or not qrels:
        raise IngestError(f"{root}: corpus, queries and qrels must all be non-empty")
    unknown = {doc for judged in qrels.values() for doc in judged} - corpus.keys()
    if unknown:
        raise IngestError(f"{path}: {len(unknown)} judged ids are not in the corpus")
    return Dataset(corpus, queries, qrels, sections)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from error
    except json.JSONDecodeError as error:
        raise IngestError(f"{path}:{error.lineno}: not JSON lines ({error.msg})") from error


def index_corpus(store: Store, dataset: Dataset, *, progress: bool = False) -> int:
    """Chunk and embed the corpus into ``store``; each chunk's ``source`` is its document id."""
    encoder = store.indexer.encoder
    tokenizer, size = encoder.model.tokenizer, encoder.chunk_tokens
    chunks: list[Chunk] = []
    with encoder.lock:
        for doc_id, (title, text) in dataset.corpus.items():
            text = f"{title}\n{text}".strip()
            section = dataset.sections.get(doc_id, "")
            chunks.extend(chunk_document(doc_id, text, tokenizer, size, 32, section))
    return store.add(chunks, progress=progress)
