"""crossrank: bi-encoder retrieval over Chroma, then cross-encoder reranking."""

from ._version import __version__ as __version__
from .context import Context, ContextBuilder
from .encoder import Encoder, FunctionEncoder
from .errors import (
    CollectionMismatchError,
    CrossRankError,
    IngestError,
    ModelNotFoundError,
    StoreError,
)
from .hit import Chunk, Hit
from .indexer import IndexReport
from .pipeline import Pipeline
from .reranker import Reranker
from .settings import Connection, ContextSettings, RerankerSettings, RetrievalSettings
from .store import Store

__all__ = [
    "Chunk",
    "CollectionMismatchError",
    "Connection",
    "Context",
    "ContextBuilder",
    "ContextSettings",
    "CrossRankError",
    "Encoder",
    "FunctionEncoder",
    "Hit",
    "IndexReport",
    "IngestError",
    "ModelNotFoundError",
    "Pipeline",
    "Reranker",
    "RerankerSettings",
    "RetrievalSettings",
    "Store",
    "StoreError",
]
