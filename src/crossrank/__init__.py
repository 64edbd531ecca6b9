"""crossrank: bi-encoder retrieval over Chroma, then cross-encoder reranking."""

from .encoder import Encoder
from .errors import (
    CollectionMismatchError,
    CrossRankError,
    IngestError,
    ModelNotFoundError,
    StoreError,
)
from .hit import Chunk, Hit
from .pipeline import Pipeline
from .reranker import Reranker
from .store import IndexReport, Store

__all__ = [
    "Chunk",
    "CollectionMismatchError",
    "CrossRankError",
    "Encoder",
    "Hit",
    "IndexReport",
    "IngestError",
    "ModelNotFoundError",
    "Pipeline",
    "Reranker",
    "Store",
    "StoreError",
]
__version__ = "0.1.0"
