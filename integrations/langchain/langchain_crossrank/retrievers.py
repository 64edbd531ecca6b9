"""A LangChain retriever over a crossrank Chroma store, optionally reranking."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from crossrank import Connection, Hit, Pipeline, Reranker, RetrievalSettings, Store
from crossrank.client import RemotePipeline
from crossrank.hit import framework_metadata
from crossrank.settings import refuse_unknown, take


class CrossRankRetriever(BaseRetriever):
    """Retrieve documents from a crossrank store: hybrid, dense or BM25 search, then reranking.

    Each document's ``id`` is the crossrank chunk id; its metadata carries the chunk's
    metadata (``source``, ``chunk_index``, character offsets), ``retrieval_score``, each
    retriever's own ``dense_score``/``bm25_score``, and, when reranked, ``relevance_score``
    (the calibrated rerank score): the same keys as the LlamaIndex adapter's nodes.

    Args:
        store: A crossrank ``Store``; when omitted one is opened from the fields of
            :class:`crossrank.Connection` (``path``, ``collection``, ``host``, ``port``,
            ``headers``, ``in_memory``) or a ``client``, embedding with ``model`` (name it to
            open a collection langchain-chroma built), and ``query_prompt`` and
            ``document_prompt`` (None: the model's own, as sentence-transformers'
            ``encode_query``/``encode_document`` apply them).
        k: Documents returned (also accepted per call: ``invoke(query, k=3)``).
        filter: A Chroma ``where`` filter (also accepted per call).
        reranker: A crossrank ``Reranker`` or a cross-encoder name/folder; None: no reranking.
        threshold: Drop reranked documents scoring below this value in [0, 1].
        settings: The first stage's :class:`crossrank.RetrievalSettings`, or its fields
            (``retrieval``, ``fusion``, ``weights``, ``fetch_k``, ``mmr``) as arguments.
        server: A ``crossrank serve`` URL: search (and rerank, if the server has a
            reranker) there, with its store and models; ``store``, ``model``, ``client``
            and ``reranker`` are then the server's and must not be given.

    Example:
        >>> retriever = CrossRankRetriever(path="./.crossrank", k=5, reranker="models/ce")
        >>> docs = retriever.invoke("How do I leave a loop early?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Store | None = None
    server: str | None = None
    k: int = 5
    filter: dict[str, Any] | None = None
    reranker: Reranker | None = None
    threshold: float | None = None
    settings: RetrievalSettings = Field(default_factory=RetrievalSettings)
    _pipeline: Pipeline | RemotePipeline = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _open(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        if "settings" not in values:
            values["settings"] = take(RetrievalSettings, values)
        model, client = values.pop("model", None), values.pop("client", None)
        prompts = {key: values.pop(key) for key in _PROMPTS if values.get(key) is not None}
        opening = take(Connection, values) if set(values) & _CONNECTION else None
        if values.get("server") is not None:
            given = values.get("store") or values.get("reranker") or opening or model or client
            if given or prompts:
                raise ValueError(
                    "with server, the server's store and models are used: pass no store, "
                    "model, client, reranker or connection"
                )
        elif values.get("store") is None:
            connection = opening or Connection()
            values["store"] = Store(encoder=model, connection=connection, client=client, **prompts)
        elif opening or model or client or prompts:
            raise ValueError("pass either store or where to open one (path, model...), not both")
        if isinstance(values.get("reranker"), str):
            values["reranker"] = Reranker(values["reranker"])
        known = {*cls.model_fields, "model", "client", *_PROMPTS, *_CONNECTION, *_RETRIEVAL}
        refuse_unknown(cls.__name__, values, known)
        return values

    @model_validator(mode="after")
    def _build(self) -> CrossRankRetriever:
        if self.server is not None:
            self._pipeline = RemotePipeline(
                self.server, top_n=self.k, threshold=self.threshold, settings=self.settings
            )
            return self
        assert self.store is not None  # opened by _open
        self._pipeline = Pipeline(
            self.store,
            self.reranker,
            top_n=self.k,
            threshold=self.threshold,
            settings=self.settings,
        )
        return self

    def _search(self, query: str, **kwargs: Any) -> list[Document]:
        hits = self._pipeline.search(
            query, top_n=kwargs.get("k", self.k), where=kwargs.get("filter", self.filter)
        )
        return [_to_document(hit) for hit in hits]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # Off the event loop: Chroma in a worker thread, the model in batches shared with
        # concurrent callers.
        hits = await self._pipeline.asearch(
            query, top_n=kwargs.get("k", self.k), where=kwargs.get("filter", self.filter)
        )
        return [_to_document(hit) for hit in hits]


_CONNECTION = set(Connection.__dataclass_fields__)
_RETRIEVAL = set(RetrievalSettings.__dataclass_fields__)
_PROMPTS = ("query_prompt", "document_prompt")


def _to_document(hit: Hit) -> Document:
    return Document(id=hit.id, page_content=hit.text, metadata=framework_metadata(hit))
