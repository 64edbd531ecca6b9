"""A LangChain document transformer (and runnable) that makes the context an LLM reads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import BaseDocumentTransformer, Document
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from crossrank import Context, ContextBuilder, ContextSettings, Store
from crossrank.hit import from_framework
from crossrank.settings import refuse_unknown, take

_SETTINGS = ContextSettings.__dataclass_fields__


class CrossRankContext(BaseDocumentTransformer, RunnableSerializable[Sequence[Document], str]):
    """Make reranked documents into a cited context within a token budget.

    As a document transformer, it returns one document per passage: overlaps dropped,
    neighbouring chunks merged, each ``page_content`` led by its ``[n]`` citation line,
    and ``metadata`` giving ``label``, ``citation``, ``source``, ``pages``, ``section``,
    ``score``, the chunk ``ids`` and the evidence span. As a runnable, it turns documents
    into the prompt text itself. Documents come best first (from
    :class:`CrossRankRetriever` or a reranking compressor); the input is not modified.

    Args:
        settings: A :class:`crossrank.ContextSettings`, or its fields (``budget``,
            ``merge``, ``expand``, ``order``, ``relative_cut``, ``tokenizer``) as
            arguments.
        store: The crossrank ``Store`` the documents came from (needed by ``expand``).

    Example:
        >>> context = CrossRankContext(budget=1024)
        >>> chain = {"context": retriever | context, "question": RunnablePassthrough()} | prompt
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: ContextSettings = Field(default_factory=ContextSettings)
    store: Store | None = None
    _builder: ContextBuilder = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _settings(cls, values: Any) -> Any:
        if isinstance(values, dict):
            values = dict(values)
            if "settings" not in values:
                values["settings"] = take(ContextSettings, values)
            refuse_unknown(cls.__name__, values, {*cls.model_fields, *_SETTINGS})
        return values

    def model_post_init(self, context: Any, /) -> None:
        self._builder = ContextBuilder(self.settings, store=self.store)

    def build(self, documents: Sequence[Document]) -> Context:
        """The core :class:`crossrank.Context` of ``documents``: prompt text and passages."""
        hits = [
            from_framework(document.id or str(i), document.page_content, document.metadata)
            for i, document in enumerate(documents)
        ]
        return self._builder.build(hits)

    def transform_documents(self, documents: Sequence[Document], **kwargs: Any) -> list[Document]:
        """One document per passage, in prompt order."""
        return [
            Document(page_content=passage.render(), metadata=passage.metadata)
            for passage in self.build(documents).passages
        ]

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> list[Document]:
        # Token counting can load and run a tokenizer: keep it off the event loop.
        return await asyncio.to_thread(self.transform_documents, documents)

    def invoke(
        self, input: Sequence[Document], config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        """The prompt text for ``input`` (documents best first)."""
        return self._call_with_config(lambda docs: self.build(docs).text, input, config)

    async def ainvoke(
        self, input: Sequence[Document], config: RunnableConfig | None = None, **kwargs: Any
    ) -> str:
        return await asyncio.to_thread(self.invoke, input, config)
