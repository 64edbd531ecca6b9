"""The request bodies the server accepts: Cohere's, Jina's, text-embeddings-inference's, its own.

Clients send fields crossrank has no use for (Cohere's ``max_tokens_per_doc``: long
documents are scored in windows instead); those are accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..settings import Fusion, Retrieval


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextDocument(_Body):
    """A document as an object, the way Cohere's v1 and Jina's APIs also accept it."""

    text: str


class CohereRerank(_Body):
    """``POST /v1/rerank`` and ``/v2/rerank`` (Cohere; Jina's shape is the same)."""

    model: str | None = None
    query: str
    documents: list[str | TextDocument]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [doc if isinstance(doc, str) else doc.text for doc in self.documents]


class TEIRerank(_Body):
    """``POST /rerank`` (Hugging Face text-embeddings-inference)."""

    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False


class Search(_Body):
    """``POST /v1/search``: the ``crossrank ask`` options."""

    model_config = ConfigDict(extra="forbid")

    query: str
    top_n: int = Field(default=5, ge=1)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    rerank: bool = True
    retrieval: Retrieval | None = None
    fusion: Fusion | None = None
    weights: dict[str, float] | None = None
    fetch_k: int | None = Field(default=None, ge=1)
    mmr: float | None = Field(default=None, ge=0.0, le=1.0)
    where: dict[str, Any] | None = None
    where_document: dict[str, Any] | None = None


class Index(_Body):
    """``POST /v1/index``: texts with metadata, as ``Store.add_texts`` takes them."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str]
    metadatas: list[dict[str, Any] | None] | None = None
    ids: list[str | None] | None = None


__all__ = ["CohereRerank", "Index", "Search", "TEIRerank", "TextDocument"]
