from llama_index.retrievers.crossrank.base import CrossRankRetriever

__all__ = ["CrossRankRetriever"]
