"""A crossrank retriever as a LlamaIndex agent tool whose output is the cited context."""

from __future__ import annotations

from llama_index.core.tools import FunctionTool
from llama_index.postprocessor.crossrank import CrossRankContext
from llama_index.retrievers.crossrank import CrossRankRetriever

from crossrank.agent import SEARCH_TOOL


def search_tool(
    retriever: CrossRankRetriever,
    *,
    context: CrossRankContext | None = None,
    name: str = "search_documents",
    description: str = SEARCH_TOOL,
) -> FunctionTool:
    """The retriever as a ``FunctionTool`` (sync and async), answering with the cited
    context (``[n] source > section`` then the passage, within a token budget).

    Args:
        retriever: What the tool searches (reranking included, when it has a reranker).
        context: How the context is built (its budget...); default: 1,024 tokens.
        name: The tool's name, as the model calls it.
        description: What the model reads to decide when to call it.

    Example:
        >>> tool = search_tool(CrossRankRetriever(path="./.crossrank", k=8))
        >>> agent = FunctionAgent(tools=[tool], llm=llm)
    """
    builder = context or CrossRankContext()

    def search(query: str) -> str:
        """Search the indexed documents; answer with the cited context."""
        return builder.build(retriever.retrieve(query)).text

    async def asearch(query: str) -> str:
        """Search the indexed documents; answer with the cited context."""
        return builder.build(await retriever.aretrieve(query)).text

    return FunctionTool.from_defaults(
        fn=search, async_fn=asearch, name=name, description=description
    )
