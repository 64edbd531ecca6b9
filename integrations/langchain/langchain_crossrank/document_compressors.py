"""A LangChain document compressor that reranks with a crossrank cross-encoder."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, model_validator

from crossrank import Reranker
from crossrank._models import DEFAULT_RERANKER
from crossrank.reranker import check_cutoffs


class CrossEncoderReranker(BaseDocumentCompressor):
    """Rerank documents with a cross-encoder: a drop-in for LangChain's ``CrossEncoderReranker``.

    Unlike it, the score is kept: each returned document is a copy whose
    ``metadata["relevance_score"]`` is the calibrated score in [0, 1] (a plain float).
    Long documents are scored in windows instead of being truncated.

    Args:
        model: A cross-encoder name or local folder, or a crossrank ``Reranker``.
        top_n: Documents returned.
        threshold: Drop documents scoring below this value in [0, 1].
        batch_size: Query-document pairs per forward pass.
        max_length: Tokens per pair (default: the model's own).
        device: ``"cpu"``, ``"cuda"``...; None picks the best available.
        precision: ``"fp32"`` (exact), ``"bf16"``/``"fp16"`` (fast) or ``"auto"``.
        retrieval_weight: Above 0, order by reciprocal-rank fusion of the rerank order with
            the documents' incoming (retrieval) order, this being the retrieval's weight.

    Example:
        >>> compressor = CrossEncoderReranker(model="cross-encoder/ms-marco-MiniLM-L-6-v2")
        >>> retriever = ContextualCompressionRetriever(
        ...     base_compressor=compressor, base_retriever=chroma.as_retriever(k=50)
        ... )
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = DEFAULT_RERANKER
    top_n: int = 3
    threshold: float | None = None
    batch_size: int = 32
    max_length: int | None = None
    device: str | None = None
    precision: str = "auto"
    retrieval_weight: float = 0.0
    reranker: Reranker = Field(default=None, exclude=True)  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _load(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        check_cutoffs(values.get("top_n"), values.get("threshold"))
        model = values.get("model", DEFAULT_RERANKER)
        if isinstance(model, Reranker):
            values.update(
                model=model.model_name,
                batch_size=model.batch_size,
                precision=model.precision,
                retrieval_weight=model.retrieval_weight,
                reranker=model,
            )
        elif values.get("reranker") is None:
            values["reranker"] = Reranker(
                model,
                device=values.get("device"),
                precision=values.get("precision", "auto"),
                batch_size=values.get("batch_size", 32),
                max_length=values.get("max_length"),
                retrieval_weight=values.get("retrieval_weight", 0.0),
            )
        return values

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Return copies of the best ``top_n`` documents, best first, with their scores."""
        if not documents:
            return []
        texts = [document.page_content for document in documents]
        ranked = self.reranker.rank(query, texts, top_n=self.top_n, threshold=self.threshold)
        return [
            documents[i].model_copy(
                update={"metadata": {**documents[i].metadata, "relevance_score": score}}
            )
            for i, score in ranked
        ]

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        # Model work blocks: keep it off the event loop.
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)
