"""The typed results that flow from the store through the reranker to the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
            for Markdown and reStructuredText; "" when unknown.
    """

    id: str
    text: str
    source: str
    index: int
    start_char: int
    end_char: int
    section: str = ""

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata stored with the chunk in Chroma."""
        metadata: dict[str, Any] = {
            "source": self.source,
            "chunk_index": self.index,
            "start_char": self.start_char,
            "end_char": self.end_char,
        }
        if self.section:
            metadata["section"] = self.section
        return metadata


@dataclass(frozen=True)
class Hit:
    """One retrieved (and possibly reranked) passage.

    Scores are plain Python floats. ``retrieval_score`` is the score of the retrieval that
    found the hit: cosine similarity for dense search, the BM25 score for BM25, the fused
    score for hybrid search; ``scores`` keeps each retriever's own score by name
    (``"dense"``, ``"bm25"``). ``rerank_score`` is the cross-encoder's calibrated score in
    [0, 1], or ``None`` when the hit was not reranked.

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

    @property
    def score(self) -> float | None:
        """The rerank score when there is one, else the retrieval score."""
        return self.rerank_score if self.rerank_score is not None else self.retrieval_score

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the hit (the shape ``crossrank ask --json`` prints)."""
        return {
            "id": self.id,
            "text": self.text,
            "source": self.metadata.get("source"),
            "metadata": dict(self.metadata),
            "retrieval_score": self.retrieval_score,
            "rerank_score": self.rerank_score,
            "scores": dict(self.scores),
        }
