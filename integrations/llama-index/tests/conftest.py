"""Fixtures of the LlamaIndex adapter's tests."""

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from crossrank import Encoder


class TinyEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model around the tiny crossrank bi-encoder."""

    _encoder: Encoder = PrivateAttr()

    def __init__(self, encoder: Encoder) -> None:
        super().__init__(model_name=encoder.model_name)
        self._encoder = encoder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.embed_query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@pytest.fixture
def tiny_embedding(tiny_encoder_path: str) -> TinyEmbedding:
    """The tiny bi-encoder as a LlamaIndex ``BaseEmbedding``."""
    return TinyEmbedding(Encoder(tiny_encoder_path))
