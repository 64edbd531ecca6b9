from llama_index.postprocessor.crossrank.base import CrossEncoderRerank

__all__ = ["CrossEncoderRerank"]
