"""First-stage retrievers: one small protocol, which dense and BM25 retrieval both follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from . import tracing
from .collection import Collection
from .errors import CollectionMismatchError
from .hit import Hit
from .settings import check_query


class Retriever(Protocol):
    """Finds the ``k`` best hits for a query; ``hit.scores[name]`` holds its own score."""

    name: str

    def search(
        self,
        query: str,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` best hits for ``query``, best first, within the Chroma filters."""
        ...


def check_search(query: str, k: int) -> None:
    """Reject an empty query or a ``k`` below 1 with a clear message."""
    check_query(query)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


class DenseRetriever:
    """Bi-encoder retrieval: the query's embedding against the collection's, by cosine.

    Example:
        >>> DenseRetriever(collection).search("how do I install it?", 5)
    """

    name = "dense"

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def search(
        self,
        query: str,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to ``query``, best first (cosine similarity)."""
        check_search(query, k)
        encoder = self.collection.encoder
        with tracing.retrieving(self.name, k, query) as current:
            with tracing.span(
                "embed_query", tracing.EMBEDDING, {tracing.EMBEDDING_MODEL_NAME: encoder.model_name}
            ) as embedding:
                embedding.input(query)
                vector = encoder.embed_query(query)
            hits = self._nearest(vector, k, where, where_document)
            current.retrieved(hits)
        return hits

    def search_by_vector(
        self,
        vector: Any,
        k: int,
        *,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks most similar to a query embedding given by the caller."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        encoder = self.collection.encoder
        if encoder.model_name and len(query) != encoder.dimension:
            raise CollectionMismatchError(
                f"query vector of dimension {len(query)}; {encoder.model_name!r} "
                f"makes dimension {encoder.dimension}"
            )
        with tracing.retrieving(self.name, k) as current:
            hits = self._nearest(query, k, where, where_document)
            current.retrieved(hits)
        return hits

    def _nearest(
        self,
        vector: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None,
        where_document: Mapping[str, Any] | None,
    ) -> list[Hit]:
        hits = self.collection.query(vector, k, where=where, where_document=where_document)
        return [replace(hit, scores={self.name: hit.retrieval_score or 0.0}) for hit in hits]
