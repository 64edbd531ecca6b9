"""The bi-encoder: loading, the query cache, precision."""

import uuid

import numpy as np
import pytest

from crossrank import Encoder, ModelNotFoundError, Store


def test_unknown_embedding_model_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="embedding model 'nobody/no-such-encoder'"):
        Encoder("nobody/no-such-encoder").load()


def test_encoder_may_be_given_by_name(tiny_encoder_path: str):
    store = Store(collection=f"n{uuid.uuid4().hex[:8]}", encoder=tiny_encoder_path, in_memory=True)
    assert isinstance(store.encoder, Encoder) and store.encoder.model_name == tiny_encoder_path
    assert store.encoder.chunk_tokens == store.encoder.max_length - 2  # [CLS] and [SEP]


def test_repeated_queries_come_from_the_cache(tiny_encoder_path: str, monkeypatch):
    encoder = Encoder(tiny_encoder_path, device="cpu", query_cache=2)
    calls = []
    encode = encoder._encode
    monkeypatch.setattr(
        encoder, "_encode", lambda texts, role: calls.append(texts) or encode(texts, role)
    )
    first = encoder.embed_query("how do loops stop")
    again = encoder.embed_query("how do loops stop")
    assert calls == [["how do loops stop"]] and again is first
    assert not first.flags.writeable  # a caller cannot corrupt the cache
    encoder.embed_query("b")
    encoder.embed_query("c")  # evicts the oldest, "how do loops stop"
    encoder.embed_query("how do loops stop")
    assert len(calls) == 4
    assert np.allclose(encoder.embed_query("c"), encode(["c"], "query")[0])


def test_query_cache_can_be_turned_off(tiny_encoder_path: str, monkeypatch):
    encoder = Encoder(tiny_encoder_path, device="cpu", query_cache=0)
    calls = []
    encode = encoder._encode
    monkeypatch.setattr(
        encoder, "_encode", lambda texts, role: calls.append(texts) or encode(texts, role)
    )
    encoder.embed_query("q")
    encoder.embed_query("q")
    assert len(calls) == 2


def test_bf16_embeddings_are_float32_unit_vectors_near_fp32(tiny_encoder_path: str):
    texts = ["The break statement ends a loop.", "Modules are imported."]
    exact = Encoder(tiny_encoder_path, device="cpu", precision="fp32").embed(texts)
    fast = Encoder(tiny_encoder_path, device="cpu", precision="bf16").embed(texts)
    assert fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-3)
    assert np.allclose((exact * fast).sum(axis=1), 1.0, atol=1e-2)


def test_padding_to_a_multiple_of_pad_to_leaves_the_vectors_as_they_were(tiny_encoder_path: str):
    """Batches are padded to multiples of PAD_TO (few shapes, flat memory); masked."""
    encoder = Encoder(tiny_encoder_path, device="cpu")
    texts = ["a", "a short one", "a longer passage about loops and functions " * 3]
    plain = encoder.model.encode(texts, convert_to_numpy=True)
    plain /= np.linalg.norm(plain, axis=1, keepdims=True)
    np.testing.assert_allclose(encoder.embed(texts), plain, rtol=0, atol=1e-5)
