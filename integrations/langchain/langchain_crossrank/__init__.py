"""LangChain retriever and document compressor on the crossrank core."""

from langchain_crossrank.document_compressors import CrossEncoderReranker
from langchain_crossrank.retrievers import CrossRankRetriever

__all__ = ["CrossEncoderReranker", "CrossRankRetriever"]
