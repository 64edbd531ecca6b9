"""Fixtures of the LangChain adapter's tests."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import Embeddings

from crossrank import Encoder


class TinyEmbeddings(Embeddings):
    """LangChain ``Embeddings`` around the tiny crossrank bi-encoder."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.model_name = encoder.model_name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.embed_query(text).tolist()


@pytest.fixture
def tiny_embeddings(tiny_encoder_path: str) -> TinyEmbeddings:
    """The tiny bi-encoder as LangChain ``Embeddings``."""
    return TinyEmbeddings(Encoder(tiny_encoder_path))


class PromptRecorder(BaseCallbackHandler):
    """Records the last message of each prompt a chat model is sent."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.prompts.append(messages[0][-1].content)


@pytest.fixture
def prompt_recorder() -> PromptRecorder:
    """A callback handler recording what a chain sends its chat model."""
    return PromptRecorder()
