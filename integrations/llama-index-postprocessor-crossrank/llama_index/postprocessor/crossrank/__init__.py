from llama_index.postprocessor.crossrank.base import CrossEncoderRerank
from llama_index.postprocessor.crossrank.context import CrossRankContext

__all__ = ["CrossEncoderRerank", "CrossRankContext"]
