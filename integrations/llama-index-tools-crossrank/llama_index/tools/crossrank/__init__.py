from llama_index.tools.crossrank.base import search_tool

__all__ = ["search_tool"]
