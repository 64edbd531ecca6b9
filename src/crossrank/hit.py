"""The typed results that flow from the store through the reranker to the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The chunk schema: the metadata keys crossrank's indexer writes beside each chunk.
SOURCE = "source"  # the document: a file path, or a BEIR document id
SECTION = "section"  # heading path, "Guide > Install" (Markdown/reST), absent when unknown
CHUNK_INDEX = "chunk_index"  # position of the chunk in its document, from 0
START_CHAR = "start_char"  # offsets of the chunk in its document's extracted text
END_CHAR = "end_char"
PAGE = "page"  # the page number, from 1, for paged documents (PDF)
# Scores the adapters add to a framework document's or node's metadata.
RETRIEVAL_SCORE = "retrieval_score"
RERANK_SCORE = "relevance_score"  # LangChain's and Cohere's name for a rerank score
EVIDENCE_START = "evidence_start"  # the reranker's best window, as offsets in the text
EVIDENCE_END = "evidence_end"
# Keys an LLM has no use for; the adapters hide them from prompts where the framework can.
BOOKKEEPING = (
    CHUNK_INDEX,
    START_CHAR,
    END_CHAR,
    RETRIEVAL_SCORE,
    RERANK_SCORE,
    EVIDENCE_START,
    EVIDENCE_END,
    "dense_score",
    "bm25_score",
)


def score_key(retriever: str) -> str:
    """The metadata key of one retriever's own score: ``"dense_score"``, ``"bm25_score"``."""
    return f"{retriever}_score"


@dataclass(frozen=True)
class Chunk:
    """A piece of a source document, small enough for the bi-encoder to read whole.

    Attributes:
        id: Stable id derived from source, position and content.
        text: The chunk's text, exactly ``document[start_char:end_char]``.
        source: Path of the document it came from.
        index: Position of the chunk in its document, from 0.
        start_char: Offset of the first character in the extracted document text.
        end_char: Offset one past the last character.
        section: Heading path of the section the chunk lies in (``"Guide > Install"``),
            for Markdown, reStructuredText and Word; "" when unknown.
        page: The page the chunk lies on, from 1, for PDFs; None otherwise.
    """

    id: str
    text: str
    source: str
    index: int
    start_char: int
    end_char: int
    section: str = ""
    page: int | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata stored with the chunk in Chroma."""
        metadata: dict[str, Any] = {
            SOURCE: self.source,
            CHUNK_INDEX: self.index,
            START_CHAR: self.start_char,
            END_CHAR: self.end_char,
        }
        if self.section:
            metadata[SECTION] = self.section
        if self.page is not None:
            metadata[PAGE] = self.page
        return metadata


@dataclass(frozen=True)
class Hit:
    """One retrieved (and possibly reranked) passage.

    Scores are plain Python floats. ``retrieval_score`` is the score of the retrieval that
    found the hit: cosine similarity for dense search, the BM25 score for BM25, the fused
    score for hybrid search; ``scores`` keeps each retriever's own score by name
    (``"dense"``, ``"bm25"``). ``rerank_score`` is the cross-encoder's calibrated score in
    [0, 1], or ``None`` when the hit was not reranked. ``evidence`` is the ``(start, end)``
    character span of ``text`` that won the rerank score (its best window; all of a text
    that fits the model in one), or ``None``.

    Example:
        >>> hit = Hit(id="a1", text="Paris is in France.", retrieval_score=0.71)
        >>> hit.score
        0.71
    """

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    retrieval_score: float | None = None
    rerank_score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    evidence: tuple[int, int] | None = None

    @property
    def score(self) -> float | None:
        """The rerank score when there is one, else the retrieval score."""
        return self.rerank_score if self.rerank_score is not None else self.retrieval_score

    @property
    def source_evidence(self) -> tuple[int, int] | None:
        """``evidence`` as offsets in the source document, where the chunk's are known."""
        start = self.metadata.get(START_CHAR)
        if self.evidence is None or not isinstance(start, int):
            return None
        return start + self.evidence[0], start + self.evidence[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the hit (the shape ``crossrank ask --json`` prints)."""
        return {
            "id": self.id,
            "text": self.text,
            "source": self.metadata.get(SOURCE),
            "metadata": dict(self.metadata),
            "retrieval_score": self.retrieval_score,
            "rerank_score": self.rerank_score,
            "scores": dict(self.scores),
            "evidence": list(self.evidence) if self.evidence else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hit:
        """The hit :meth:`to_dict` described (a crossrank server's answer)."""
        return cls(
            id=data["id"],
            text=data["text"],
            metadata=dict(data.get("metadata") or {}),
            retrieval_score=data.get("retrieval_score"),
            rerank_score=data.get("rerank_score"),
            scores=dict(data.get("scores") or {}),
            evidence=(data["evidence"][0], data["evidence"][1]) if data.get("evidence") else None,
        )


def framework_metadata(hit: Hit) -> dict[str, Any]:
    """The metadata both framework adapters attach to a hit's document or node.

    The chunk's own metadata, then ``retrieval_score``, each retriever's score
    (``dense_score``, ``bm25_score``) and, when reranked, ``relevance_score``: the same
    keys in LangChain and LlamaIndex; with evidence, ``evidence_start`` and
    ``evidence_end``. A new dict; the hit is not changed.

    Example:
        >>> framework_metadata(Hit("a", "text", {"source": "a.md"}, retrieval_score=0.5))
        {'source': 'a.md', 'retrieval_score': 0.5}
    """
    metadata = {**hit.metadata, RETRIEVAL_SCORE: hit.retrieval_score}
    metadata.update({score_key(name): score for name, score in hit.scores.items()})
    metadata.update(rerank_metadata(hit))
    return metadata


def rerank_metadata(hit: Hit) -> dict[str, Any]:
    """What reranking adds to a document's metadata: ``relevance_score`` and the evidence.

    Example:
        >>> rerank_metadata(Hit("a", "text", rerank_score=0.9, evidence=(0, 4)))
        {'relevance_score': 0.9, 'evidence_start': 0, 'evidence_end': 4}
    """
    metadata: dict[str, Any] = {}
    if hit.rerank_score is not None:
        metadata[RERANK_SCORE] = hit.rerank_score
    if hit.evidence is not None:
        metadata[EVIDENCE_START], metadata[EVIDENCE_END] = hit.evidence
    return metadata


def from_framework(id: str, text: str, metadata: dict[str, Any], score: float | None = None) -> Hit:
    """The hit behind a framework document or node: :func:`framework_metadata` undone.

    The score keys go back into the hit's scores (``score``, the framework's own, is the
    rerank score when the metadata has none); the rest stays metadata.

    Example:
        >>> from_framework("a", "text", {"source": "a.md", "relevance_score": 0.9}).rerank_score
        0.9
    """
    metadata = dict(metadata)
    rerank = metadata.pop(RERANK_SCORE, score)
    retrieval = metadata.pop(RETRIEVAL_SCORE, None)
    scores = {
        name: metadata.pop(score_key(name))
        for name in ("dense", "bm25")
        if isinstance(metadata.get(score_key(name)), float)
    }
    start, end = metadata.pop(EVIDENCE_START, None), metadata.pop(EVIDENCE_END, None)
    evidence = (start, end) if isinstance(start, int) and isinstance(end, int) else None
    return Hit(id, text, metadata, retrieval, rerank, scores, evidence)
