"""A crossrank retriever as a LangChain agent tool whose output is the cited context."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.tools import BaseTool, StructuredTool

from crossrank.agent import SEARCH_TOOL
from langchain_crossrank.document_transformers import CrossRankContext
from langchain_crossrank.retrievers import CrossRankRetriever


def create_search_tool(
    retriever: CrossRankRetriever,
    *,
    context: CrossRankContext | None = None,
    name: str = "search_documents",
    description: str = SEARCH_TOOL,
) -> BaseTool:
    """The retriever as a tool, like LangChain's ``create_retriever_tool``, answering with
    the cited context (``[n] source > section`` then the passage, within a token budget).

    The retrieved documents travel as the tool message's ``artifact``.

    Args:
        retriever: What the tool searches (reranking included, when it has a reranker).
        context: How the context is built (its budget...); default: 1,024 tokens.
        name: The tool's name, as the model calls it.
        description: What the model reads to decide when to call it.

    Example:
        >>> tool = create_search_tool(CrossRankRetriever(path="./.crossrank", k=8))
        >>> agent_model = chat_model.bind_tools([tool])
    """
    builder = context or CrossRankContext()

    def search(query: str) -> tuple[str, list[Document]]:
        documents = retriever.invoke(query)
        return builder.build(documents).text, documents

    async def asearch(query: str) -> tuple[str, list[Document]]:
        documents = await retriever.ainvoke(query)
        return builder.build(documents).text, documents

    return StructuredTool.from_function(
        func=search,
        coroutine=asearch,
        name=name,
        description=description,
        response_format="content_and_artifact",
    )
