from llama_index.vector_stores.crossrank.base import CrossRankVectorStore

__all__ = ["CrossRankVectorStore"]
