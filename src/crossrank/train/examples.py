"""Training examples from the index itself (pseudo-queries) and from labelled data."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._headings import SEPARATOR, strip_headings
from ..beir import Dataset, index_corpus
from ..errors import IngestError
from ..hit import CHUNK_INDEX, SECTION, SOURCE, Hit
from ..store import Store


@dataclass(frozen=True)
class Example:
    """A query and one relevant passage, before negatives are mined for it.

    Attributes:
        query: The query text.
        positive: A relevant passage's text.
        section: The positive's heading path; chunks of this section and its subsections
            are never used as the query's negatives.
        sources: Chunk sources (documents) never used as negatives (all relevant ones).
    """

    query: str
    positive: str
    section: str = ""
    sources: frozenset[str] = frozenset()

    def excludes(self, hit: Hit) -> bool:
        """Whether ``hit`` may be relevant to the query, so must not be a negative."""
        if hit.text == self.positive or hit.metadata.get(SOURCE) in self.sources:
            return True
        section = str(hit.metadata.get(SECTION, ""))
        own = self.section
        return bool(own) and (section == own or section.startswith(own + SEPARATOR))


def pseudo_queries(store: Store, *, positives: int = 1) -> list[Example]:
    """One example per section of the indexed documents: heading path -> first chunk(s).

    Uses the ``section`` metadata that indexing gives Markdown and reStructuredText chunks
    (and BEIR corpora with ``metadata.section``); chunks without one are only negatives, and
    a section with no text of its own (only subsections) gives no example.
    """
    found = store.collection.get(include=["documents", "metadatas"])
    sections: dict[str, list[tuple[list[Any], int, str]]] = {}
    for text, metadata in zip(found["documents"], found["metadatas"], strict=True):
        section = str((metadata or {}).get(SECTION, ""))
        if section:
            order = _natural(str(metadata.get(SOURCE, "")))
            sections.setdefault(section, []).append((order, int(metadata[CHUNK_INDEX]), text))
    examples = []
    for section in sorted(sections):
        chunks = sorted(sections[section], key=lambda chunk: (chunk[0], chunk[1]))
        first = [chunk for chunk in chunks if chunk[0] == chunks[0][0]]  # its first document
        kept = [text for _, _, text in first[:positives] if strip_headings(text)]
        examples += [Example(section, text, section) for text in kept]
    return examples


def _natural(text: str) -> list[Any]:
    """Sort key putting "a#2" before "a#10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def read_pairs(path: str | Path) -> list[Example]:
    """Labelled examples from JSON lines, each ``{"query": ..., "passage": ...}``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise IngestError(f"{path}: cannot read the training pairs ({error})") from error
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            query, passage = str(row["query"]).strip(), str(row["passage"]).strip()
        except (ValueError, TypeError, KeyError) as error:
            raise IngestError(
                f'{path}:{number}: expected a JSON object with "query" and "passage" ({error})'
            ) from error
        if not query or not passage:
            raise IngestError(f"{path}:{number}: empty query or passage")
        examples.append(Example(query, passage))
    if not examples:
        raise IngestError(f"{path}: no training pairs in it")
    return examples


def qrels_examples(
    store: Store, dataset: Dataset, query_ids: Iterable[str] | None = None
) -> list[Example]:
    """Labelled examples from a BEIR dataset's qrels, over its corpus indexed in ``store``.

    Each judged-relevant document gives one example whose positive is the document's
    first chunk; no relevant document of the query is used as its negative.
    """
    wanted = set(dataset.qrels if query_ids is None else query_ids)
    judged = {
        qid: sorted(doc for doc, grade in dataset.qrels[qid].items() if grade > 0)
        for qid in sorted(wanted & dataset.qrels.keys() & dataset.queries.keys())
    }
    documents = sorted({doc for relevant in judged.values() for doc in relevant})
    if not documents:
        return []
    found = store.collection.get(  # each document's first chunk, in one query
        where={"$and": [{SOURCE: {"$in": documents}}, {CHUNK_INDEX: 0}]},
        include=["documents", "metadatas"],
    )
    first = {
        str(meta[SOURCE]): text
        for text, meta in zip(found["documents"], found["metadatas"], strict=True)
    }
    return [
        Example(dataset.queries[qid], first[doc], sources=frozenset(relevant))
        for qid, relevant in judged.items()
        for doc in relevant
        if doc in first
    ]


def gather(
    store: Store,
    *,
    pseudo: bool = True,
    max_examples: int | None = None,
    pairs: Iterable[str | Path] = (),
    qrels: Dataset | None = None,
    exclude_sections: Iterable[str] = (),
    seed: int = 0,
    progress: bool = False,
) -> tuple[list[Example], dict[str, int]]:
    """All training examples for ``store``, and how many came from each kind of data.

    Pseudo-queries (a seeded sample of ``max_examples`` when given, leaving out
    ``exclude_sections``), then labelled ``pairs`` files, then the judged pairs of a BEIR
    dataset ``qrels`` (its corpus is indexed into ``store`` first).

    Raises:
        IngestError: No example at all.
    """
    examples: list[Example] = []
    counts: dict[str, int] = {}
    if pseudo:
        excluded = set(exclude_sections)
        found = [example for example in pseudo_queries(store) if example.section not in excluded]
        random.Random(seed).shuffle(found)
        examples += found[:max_examples]
        counts["pseudo-queries"] = len(found[:max_examples])
    for path in pairs:
        labelled = read_pairs(path)
        examples += labelled
        counts["labelled pairs"] = counts.get("labelled pairs", 0) + len(labelled)
    if qrels is not None:
        index_corpus(store, qrels, progress=progress)
        judged = qrels_examples(store, qrels)
        examples += judged
        counts["qrels pairs"] = len(judged)
    if not examples:
        raise IngestError(
            "no training examples: the index has no Markdown/reST headings to make "
            "pseudo-queries from; pass --pairs or --qrels"
        )
    return examples, counts
