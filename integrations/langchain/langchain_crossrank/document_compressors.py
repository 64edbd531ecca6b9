"""A LangChain document compressor that reranks with a crossrank cross-encoder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.runnables import RunnableLambda
from pydantic import ConfigDict, Field, model_validator

from crossrank import Hit, Reranker, RerankerSettings
from crossrank.hit import rerank_metadata
from crossrank.settings import check_cutoffs, refuse_unknown, take

_SETTINGS = RerankerSettings.__dataclass_fields__


class CrossEncoderReranker(BaseDocumentCompressor):
    """Rerank documents with a cross-encoder: a drop-in for LangChain's ``CrossEncoderReranker``.

    Unlike it, the score is kept: each returned document is a copy whose
    ``metadata["relevance_score"]`` is the calibrated score in [0, 1] (a plain float).
    Long documents are scored in windows instead of being truncated; ``evidence_start``
    and ``evidence_end`` give the span of ``page_content`` that won the score.

    Args:
        model: A cross-encoder name or local folder, or a crossrank ``Reranker``.
        top_n: Documents returned.
        threshold: Drop documents scoring below this value in [0, 1].
        settings: The model's :class:`crossrank.RerankerSettings`, or its fields
            (``device``, ``precision``, ``batch_size``, ``max_length``,
            ``retrieval_weight``...) as arguments.

    Example:
        >>> compressor = CrossEncoderReranker(model="cross-encoder/ms-marco-MiniLM-L-6-v2")
        >>> retriever = ContextualCompressionRetriever(
        ...     base_compressor=compressor, base_retriever=chroma.as_retriever(k=50)
        ... )
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    top_n: int = 3
    threshold: float | None = None
    settings: RerankerSettings = Field(default_factory=RerankerSettings)
    reranker: Reranker = Field(default=None, exclude=True)  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _load(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        check_cutoffs(values.get("top_n"), values.get("threshold"))
        if isinstance(values.get("model"), Reranker):
            values["reranker"] = values.pop("model")
        if values.get("reranker") is None:
            settings = values.get("settings") or take(RerankerSettings, values)
            values["reranker"] = Reranker(settings)
        refuse_unknown(cls.__name__, values, {*cls.model_fields, "model", *_SETTINGS})
        values["settings"] = values["reranker"].settings
        return values

    @property
    def model(self) -> str:
        """The cross-encoder's name or folder."""
        return self.settings.model

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Return copies of the best ``top_n`` documents, best first, with their scores.

        The reranking is a run of its own (``CrossEncoderReranker``) under ``callbacks``,
        so LangChain's tracers show it, its input documents and its scored output.
        """
        if not documents:
            return []
        return self._run.invoke(  # type: ignore[no-any-return]
            {"documents": list(documents), "query": query}, config={"callbacks": callbacks}
        )

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """:meth:`compress_documents` for coroutines: the model works in its own thread, in
        batches shared with concurrent callers, and the event loop is never blocked."""
        if not documents:
            return []
        return await self._run.ainvoke(  # type: ignore[no-any-return]
            {"documents": list(documents), "query": query}, config={"callbacks": callbacks}
        )

    @property
    def _run(self) -> RunnableLambda[dict[str, Any], list[Document]]:
        return RunnableLambda(self._compress, afunc=self._acompress, name="CrossEncoderReranker")

    def _compress(self, given: dict[str, Any]) -> list[Document]:
        documents, query = given["documents"], given["query"]
        ranked = self.reranker.rerank(
            query, _hits(documents), top_n=self.top_n, threshold=self.threshold
        )
        return _scored(documents, ranked)

    async def _acompress(self, given: dict[str, Any]) -> list[Document]:
        documents, query = given["documents"], given["query"]
        ranked = await self.reranker.arerank(
            query, _hits(documents), top_n=self.top_n, threshold=self.threshold
        )
        return _scored(documents, ranked)


def _hits(documents: list[Document]) -> list[Hit]:
    return [Hit(str(i), document.page_content) for i, document in enumerate(documents)]


def _scored(documents: list[Document], ranked: list[Hit]) -> list[Document]:
    """Copies of the ranked documents, best first, their metadata with the scores added."""
    return [
        documents[int(hit.id)].model_copy(
            update={"metadata": {**documents[int(hit.id)].metadata, **rerank_metadata(hit)}}
        )
        for hit in ranked
    ]
