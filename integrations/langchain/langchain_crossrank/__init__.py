"""LangChain retriever, compressor, context transformer and vector store on crossrank."""

from langchain_crossrank.document_compressors import CrossEncoderReranker
from langchain_crossrank.document_transformers import CrossRankContext
from langchain_crossrank.retrievers import CrossRankRetriever
from langchain_crossrank.tools import create_search_tool
from langchain_crossrank.vectorstores import CrossRankVectorStore

__all__ = [
    "CrossEncoderReranker",
    "CrossRankContext",
    "CrossRankRetriever",
    "CrossRankVectorStore",
    "create_search_tool",
]
