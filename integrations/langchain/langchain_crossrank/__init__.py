"""LangChain retriever, document compressor and vector store on the crossrank core."""

from langchain_crossrank.document_compressors import CrossEncoderReranker
from langchain_crossrank.retrievers import CrossRankRetriever
from langchain_crossrank.vectorstores import CrossRankVectorStore

__all__ = ["CrossEncoderReranker", "CrossRankRetriever", "CrossRankVectorStore"]
