"""The model families people pick, each scored and embedded as sentence-transformers does.

Each family is a tiny random checkpoint in its real shape (see ``family_models`` and
``embedding_families`` in conftest.py). Scores are compared in fp32 with bucketing on.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder, SentenceTransformer

from crossrank import Encoder, Reranker, Store
from crossrank.encoder import CHUNK_TOKENS
from crossrank.errors import CollectionMismatchError, ModelNotFoundError
from crossrank.reranker import LENGTHS, WINDOW_TOKENS

RERANKERS = ["bert", "bert2", "xlmr", "modernbert", "qwen3"]
EMBEDDERS = ["mean", "cls", "lasttoken"]
QUERY = "how do I leave a loop early?"
PASSAGES = [
    "pip installs packages",
    "The break statement ends the nearest enclosing for or while loop.",
    "x",
    "A try statement handles exceptions raised in its suite. " * 3,
]
LONG = " ".join(f"Sentence {i} says that loops end at a break statement." for i in range(60))


def _sigmoid_of_predict(model: CrossEncoder, query: str, texts: list[str], **kwargs) -> np.ndarray:
    """sentence-transformers' own score: the sigmoid of its predict logit (or margin)."""
    logits = np.asarray(
        model.predict([(query, text) for text in texts], activation_fn=lambda x: x, **kwargs),
        dtype=np.float64,
    )
    if logits.ndim == 2:
        logits = logits[:, 1] - logits[:, 0]
    return 1.0 / (1.0 + np.exp(-logits))


@pytest.mark.parametrize("family", RERANKERS)
def test_scores_equal_sentence_transformers_predict(family_models, family):
    assert LENGTHS  # bucketing on: batches are padded to the ladder's lengths
    path = family_models[family]
    ours = Reranker(path, device="cpu", precision="fp32").score(QUERY, PASSAGES)
    theirs = _sigmoid_of_predict(CrossEncoder(path, device="cpu"), QUERY, PASSAGES)
    assert ours == pytest.approx(theirs.tolist(), abs=1e-5)


@pytest.mark.parametrize("family", RERANKERS)
def test_long_passages_are_windowed_by_the_tokens_the_model_reads(family_models, family):
    path = family_models[family]
    length = 192 if family == "qwen3" else 96  # its template alone reads ~110 tokens
    reranker = Reranker(path, device="cpu", precision="fp32", max_length=length)
    windows = reranker.windows(QUERY, LONG)
    assert len(windows) > 2 and windows[0][0] == 0 and windows[-1][1] == len(LONG)
    model = CrossEncoder(path, device="cpu")
    pairs = [(QUERY, LONG[start:end]) for start, end in windows]
    read = model.preprocess(pairs, processing_kwargs={"text": {"truncation": False}})
    # Template, instruction and special tokens included, each window fits: nothing is cut,
    # so every window keeps the template's suffix (what a causal reranker reads last).
    assert int(read["attention_mask"].sum(dim=1).max()) <= length
    if family == "qwen3":  # "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
        suffix = model.preprocess([(QUERY, "x")])["input_ids"][0, -10:].tolist()
        assert all(row[-10:].tolist() == suffix for row in read["input_ids"])
    [score] = reranker.score(QUERY, [LONG])
    windows_scores = _sigmoid_of_predict(model, QUERY, [LONG[a:b] for a, b in windows])
    assert score == pytest.approx(float(windows_scores.max()), abs=1e-5)


def test_the_instruction_is_the_models_own_unless_overridden(family_models):
    path = family_models["qwen3"]
    model = CrossEncoder(path, device="cpu")
    default = Reranker(path, device="cpu", precision="fp32").score(QUERY, PASSAGES)
    assert default == pytest.approx(_sigmoid_of_predict(model, QUERY, PASSAGES), abs=1e-5)
    instruction = "Given a Python question, find the passage of the docs that answers it"
    told = Reranker(path, device="cpu", precision="fp32", prompt=instruction)
    theirs = _sigmoid_of_predict(model, QUERY, PASSAGES, prompt=instruction)
    assert told.score(QUERY, PASSAGES) == pytest.approx(theirs.tolist(), abs=1e-5)
    assert np.abs(np.subtract(told.score(QUERY, PASSAGES), default)).max() > 1e-4


@pytest.mark.parametrize("family", RERANKERS)
def test_bf16_scoring_logits_are_computed_in_fp32(family_models, family):
    reranker = Reranker(family_models[family], device="cpu", precision="bf16")
    model = reranker.model
    assert next(model.parameters()).dtype == torch.bfloat16
    with torch.inference_mode():
        features = model.preprocess([(QUERY, text) for text in PASSAGES])
        scores = model(features)["scores"]
    assert scores.dtype == torch.float32
    exact = Reranker(family_models[family], device="cpu", precision="fp32")
    assert reranker.score(QUERY, PASSAGES) == pytest.approx(exact.score(QUERY, PASSAGES), abs=2e-2)


def test_a_window_too_short_for_the_template_is_refused(family_models):
    reranker = Reranker(family_models["qwen3"], device="cpu", max_length=96)
    with pytest.raises(ValueError, match="max_length 96 leaves -?[0-9]+ tokens for the passage"):
        reranker.score(QUERY, PASSAGES)


def test_long_context_models_read_in_default_windows_unless_told(family_models):
    path = family_models["modernbert"]  # 8k positions
    assert Reranker(path, device="cpu").max_length == WINDOW_TOKENS
    assert Reranker(path, device="cpu", max_length=1024).max_length == 1024
    with pytest.raises(ModelNotFoundError, match="max_length 9000 is more than it reads"):
        Reranker(path, device="cpu", max_length=9000).load()
    assert Reranker(family_models["bert"], device="cpu").max_length == 128  # its own, shorter


def test_more_than_two_labels_is_refused(tmp_path, family_models):
    from transformers import BertForSequenceClassification

    config = BertForSequenceClassification.from_pretrained(family_models["bert"]).config
    config.num_labels = 3
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    CrossEncoder(family_models["bert"]).tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError, match="3 labels: a reranker scores with 1 logit"):
        Reranker(str(tmp_path), device="cpu").load()


def test_a_causal_lm_without_yes_and_no_tokens_is_refused(causal_lm_without_answers):
    with pytest.raises(ModelNotFoundError, match="'yes' and/or 'no' tokens"):
        Reranker(causal_lm_without_answers, device="cpu").load()


@pytest.mark.parametrize("family", EMBEDDERS)
def test_vectors_equal_encode_query_and_encode_document(embedding_families, family):
    path = embedding_families[family]
    model = SentenceTransformer(path, device="cpu")
    encoder = Encoder(path, device="cpu", precision="fp32")  # pads to multiples of PAD_TO
    queries = model.encode_query([QUERY], normalize_embeddings=True)
    documents = model.encode_document(PASSAGES, normalize_embeddings=True)
    assert np.abs(encoder.embed_query(QUERY) - queries[0]).max() < 1e-5
    assert np.abs(encoder.embed(PASSAGES) - documents).max() < 1e-5
    assert encoder.prompts["query"]  # each family's query prompt is applied


def test_prompts_can_be_overridden_by_text_or_name(embedding_families):
    path = embedding_families["mean"]
    model = SentenceTransformer(path, device="cpu")
    assert Encoder(path).prompts == {"query": "query: ", "document": "passage: "}
    plain = Encoder(path, device="cpu", query_prompt="", document_prompt="")
    assert plain.prompts == {"query": "", "document": ""}
    expected = model.encode([QUERY], normalize_embeddings=True)[0]
    assert np.abs(plain.embed_query(QUERY) - expected).max() < 1e-5
    named = Encoder(path, device="cpu", query_prompt="document")  # a saved prompt's name
    assert named.prompts["query"] == "passage: "


def test_matryoshka_truncation(embedding_families):
    path = embedding_families["mean"]
    model = SentenceTransformer(path, device="cpu")
    encoder = Encoder(path, device="cpu", truncate_dim=16)
    expected = model.encode_document(PASSAGES, truncate_dim=16, normalize_embeddings=True)
    assert encoder.dimension == 16
    assert np.abs(encoder.embed(PASSAGES) - expected).max() < 1e-5
    with pytest.raises(ValueError, match="truncate_dim 64 is more than"):
        _ = Encoder(path, device="cpu", truncate_dim=64).dimension


def test_a_collection_records_its_prompts_and_refuses_others(tmp_path, embedding_families):
    path = embedding_families["mean"]
    store = Store(tmp_path / "db", encoder=Encoder(path, device="cpu"))
    store.add_texts(["The break statement ends a loop."])
    assert Store(tmp_path / "db", encoder=Encoder(path, device="cpu")).search("loop", k=1)
    other = Store(tmp_path / "db", encoder=Encoder(path, device="cpu", query_prompt=""))
    with pytest.raises(CollectionMismatchError, match="query prompt 'query: ', not ''"):
        other.search("loop", k=1)
    with pytest.raises(CollectionMismatchError, match="query_prompt='query: '"):
        other.add_texts(["more"])
    assert store.count() == 1  # nothing written


def test_a_collection_from_before_prompts_opens_as_it_did(tmp_path, tiny_encoder_path):
    from crossrank.collection import PROMPT_KEYS

    store = Store(tmp_path / "db", encoder=Encoder(tiny_encoder_path, device="cpu"))
    store.add_texts(["The break statement ends a loop."])
    handle = store.client.get_collection(store.connection.collection)
    metadata = {k: v for k, v in handle.metadata.items() if k not in PROMPT_KEYS.values()}
    handle.modify(metadata=metadata)
    reopened = Store(tmp_path / "db", encoder=Encoder(tiny_encoder_path, query_prompt="q: "))
    assert [hit.text for hit in reopened.search("loop", k=1)] == [
        "The break statement ends a loop."
    ]


def test_chunks_are_capped_and_chunk_size_above_the_limit_is_refused(tmp_path, embedding_families):
    encoder = Encoder(embedding_families["lasttoken"], device="cpu")  # 8k context
    assert encoder.limit_tokens > CHUNK_TOKENS and encoder.chunk_tokens == CHUNK_TOKENS
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "long.txt").write_text(" ".join(["loops end at break"] * 1000))
    store = Store(collection="long", encoder=encoder, in_memory=True)
    report = store.index([tmp_path / "docs"])
    tokenizer = encoder.model.tokenizer
    texts = store.collection.get()["documents"]
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]
    assert report.chunks > 5 and max(lengths) <= CHUNK_TOKENS
    small = Store(collection="small", encoder=Encoder(embedding_families["mean"]), in_memory=True)
    limit = small.encoder.limit_tokens  # 64 - 2 special tokens - the 2 of "passage: "
    with pytest.raises(ValueError, match=f"chunk_size {limit + 1} is more than"):
        small.index([tmp_path / "docs"], chunk_size=limit + 1)
    assert small.count() == 0
