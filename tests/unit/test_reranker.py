import math
import time

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from crossrank import Encoder, Hit, ModelNotFoundError, Reranker, _models

QUERY = "how do loops stop early"
PASSAGES = [
    "The break statement ends the nearest enclosing loop.",
    "Lambda expressions create anonymous functions.",
    "continue skips to the next iteration of the loop.",
    "Modules are imported with the import statement.",
    "An assert statement checks a condition while debugging.",
]


def _raw_logits(path: str, pairs: list[tuple[str, str]]) -> torch.Tensor:
    """Logits straight from transformers, independent of crossrank and sentence-transformers."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        rows = []
        for query, text in pairs:
            batch = tokenizer(query, text, return_tensors="pt")
            assert batch["input_ids"].shape[1] <= 128  # the pair fits: nothing truncated
            rows.append(model(**batch).logits[0])
    return torch.stack(rows)


def _hits() -> list[Hit]:
    return [
        Hit(f"id{i}", text, {"n": i}, retrieval_score=1 - i / 10) for i, text in enumerate(PASSAGES)
    ]


def test_one_logit_scores_are_the_sigmoid_as_plain_floats(tiny_reranker_path: str):
    scores = Reranker(tiny_reranker_path, device="cpu", precision="fp32").score(QUERY, PASSAGES)
    logits = _raw_logits(tiny_reranker_path, [(QUERY, p) for p in PASSAGES])[:, 0]
    assert all(type(s) is float and 0.0 <= s <= 1.0 for s in scores)
    assert scores == pytest.approx(torch.sigmoid(logits).tolist(), abs=1e-5)


def test_two_logit_scores_are_the_positive_class_probability(tiny_reranker2_path: str):
    scores = Reranker(tiny_reranker2_path, device="cpu", precision="fp32").score(QUERY, PASSAGES)
    logits = _raw_logits(tiny_reranker2_path, [(QUERY, p) for p in PASSAGES])
    assert scores == pytest.approx(torch.softmax(logits, dim=1)[:, 1].tolist(), abs=1e-5)


def test_rerank_orders_by_score_and_keeps_retrieval_scores(tiny_reranker_path: str):
    hits = _hits()
    before = [(h.id, h.rerank_score, dict(h.metadata)) for h in hits]
    ranked = Reranker(tiny_reranker_path).rerank(QUERY, hits)
    scores = [h.rerank_score for h in ranked]
    assert scores == sorted(scores, reverse=True)
    assert sorted(h.id for h in ranked) == sorted(h.id for h in hits)
    by_id = {h.id: h for h in hits}
    assert all(h.retrieval_score == by_id[h.id].retrieval_score for h in ranked)
    assert [(h.id, h.rerank_score, dict(h.metadata)) for h in hits] == before  # not mutated


def test_top_n_and_threshold(tiny_reranker_path: str):
    reranker = Reranker(tiny_reranker_path)
    everything = reranker.rerank(QUERY, _hits())
    assert [h.id for h in reranker.rerank(QUERY, _hits(), top_n=2)] == [
        h.id for h in everything[:2]
    ]
    cut = everything[2].rerank_score
    kept = reranker.rerank(QUERY, _hits(), threshold=cut)
    assert [h.id for h in kept] == [h.id for h in everything[:3]]
    assert reranker.rerank(QUERY, _hits(), threshold=1.0) == []
    with pytest.raises(ValueError, match="threshold must be in"):
        reranker.rerank(QUERY, _hits(), threshold=3.5)
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        reranker.rerank(QUERY, _hits(), top_n=0)


def test_empty_input_gives_empty_output(tiny_reranker_path: str):
    assert Reranker(tiny_reranker_path).rerank(QUERY, []) == []
    with pytest.raises(ValueError, match="query is empty"):
        Reranker(tiny_reranker_path).rerank(" ", _hits())


def test_long_passage_is_scored_by_its_best_window(tiny_reranker_path: str):
    reranker = Reranker(tiny_reranker_path, max_length=48, window_overlap=8, precision="fp32")
    passage = " ".join(PASSAGES * 6)
    spans = reranker.windows(QUERY, passage)
    assert len(spans) > 3
    assert spans[0][0] == 0 and spans[-1][1] == len(passage)
    assert all(
        b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)
    )  # overlapping: nothing skipped
    tokenizer = AutoTokenizer.from_pretrained(tiny_reranker_path)
    for start, end in spans:
        assert len(tokenizer(QUERY, passage[start:end])["input_ids"]) <= 48

    [score] = reranker.score(QUERY, [passage])
    window_logits = _raw_logits(tiny_reranker_path, [(QUERY, passage[s:e]) for s, e in spans])
    assert score == pytest.approx(torch.sigmoid(window_logits[:, 0]).max().item(), abs=1e-5)


def test_models_load_once_per_process(tiny_reranker_path: str):
    assert Reranker(tiny_reranker_path).model is Reranker(tiny_reranker_path).model
    assert (
        Reranker(tiny_reranker_path, max_length=64).model is not Reranker(tiny_reranker_path).model
    )


def test_unknown_model_fails_fast_and_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="local model folder"):
        Reranker("nobody/no-such-cross-encoder").score("q", ["text"])
    assert time.monotonic() - started < 5
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Reranker("./no/such/folder").score("q", ["text"])


def test_calibration_is_a_probability():
    import numpy as np

    from crossrank.reranker import _calibrate

    assert _calibrate(np.array([0.0]))[0] == 0.5
    assert _calibrate(np.array([[1.0, 3.0]]))[0] == pytest.approx(1 / (1 + math.exp(-2)))
    with pytest.raises(FloatingPointError, match="NaN"):
        _calibrate(np.array([float("nan")]))


def test_token_budget_batching_does_not_change_scores(tiny_reranker_path: str):
    texts = [p * (1 + i % 4) for i, p in enumerate(PASSAGES * 3)]  # mixed lengths
    one_by_one = Reranker(tiny_reranker_path, device="cpu", batch_size=1).score(QUERY, texts)
    budgeted = Reranker(tiny_reranker_path, device="cpu", batch_tokens=200).score(QUERY, texts)
    whole = Reranker(tiny_reranker_path, device="cpu", batch_tokens=10**6).score(QUERY, texts)
    assert budgeted == pytest.approx(one_by_one, abs=1e-6)
    assert whole == pytest.approx(one_by_one, abs=1e-6)


def test_bucketed_shapes_give_the_scores_of_padding_to_the_longest(
    tiny_reranker_path: str, monkeypatch
):
    """Batches are padded to one of LENGTHS and hold a power-of-two count of pairs, so the
    model sees few shapes (flat memory); the scores stay those of unbucketed batches."""
    import crossrank.reranker
    from crossrank.reranker import LENGTHS, padded_length, token_batches

    assert [padded_length(n, 512) for n in (1, 16, 17, 200, 512)] == [16, 16, 32, 208, 512]
    assert padded_length(600, 8192) == 768 and padded_length(100, 64) == 64
    assert [len(batch) for batch in token_batches([10] * 13, 10**6, 32)] == [8, 4, 1]
    # Full batches hold the largest power of two that fits (9 of 448 tokens fit 4,096: 8).
    assert [len(batch) for batch in token_batches([448] * 18, 4096, 32)] == [8, 8, 2]
    reranker = Reranker(tiny_reranker_path, device="cpu", precision="fp32", batch_size=13)
    texts = [p * (1 + i % 5) for i, p in enumerate(PASSAGES * 5)]  # 25 texts, mixed lengths
    shapes = []
    predict = reranker.model.predict

    def recorded(pairs, **options):  # type: ignore[no-untyped-def]
        shapes.append((len(pairs), options["processing_kwargs"]["text"].get("max_length")))
        return predict(pairs, **options)

    monkeypatch.setattr(reranker.model, "predict", recorded)
    (bucketed,) = reranker._scored([(QUERY, texts)])
    assert shapes and all(size & (size - 1) == 0 for size, _ in shapes)  # powers of two
    assert {length for _, length in shapes} <= {*LENGTHS, reranker.max_length}
    assert sum(size for size, _ in shapes) == len(texts)
    monkeypatch.setattr(crossrank.reranker, "LENGTHS", ())
    (plain,) = reranker._scored([(QUERY, texts)])
    assert [score for score, _ in bucketed[0]] == pytest.approx(
        [score for score, _ in plain[0]], abs=1e-5
    )


def test_bf16_is_close_to_fp32_and_auto_follows_the_cpu(tiny_reranker_path: str):
    exact = Reranker(tiny_reranker_path, device="cpu", precision="fp32")
    fast = Reranker(tiny_reranker_path, device="cpu", precision="bf16")
    auto = Reranker(tiny_reranker_path, device="cpu")
    assert fast.model is not exact.model
    assert next(fast.model.parameters()).dtype == torch.bfloat16
    # on a CPU, auto is bf16 where the CPU does bf16 natively
    assert auto.model is (fast.model if _models.cpu_has_bf16() else exact.model)
    assert Encoder(device="cpu").precision == "auto"
    assert _models.auto_precision("auto", "cpu", "encoder") == "fp32"  # stored vectors stay exact
    scores = fast.score(QUERY, PASSAGES)
    assert all(type(s) is float for s in scores)
    assert scores == pytest.approx(exact.score(QUERY, PASSAGES), abs=2e-2)


@pytest.mark.parametrize(
    ("option", "message"),
    [({"precision": "int4"}, "precision must be one of"), ({"batch_tokens": 0}, "batch_tokens")],
)
def test_bad_speed_options_are_refused(tiny_reranker_path: str, option, message):
    with pytest.raises(ValueError, match=message):
        Reranker(tiny_reranker_path, **option)


def test_bf16_without_native_support_warns(tiny_reranker_path: str, monkeypatch, caplog):
    monkeypatch.setattr(_models, "cpu_has_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="crossrank._models"):
        fresh = Reranker(tiny_reranker_path, device="cpu", precision="bf16", max_length=100)
        scores = fresh.score(QUERY, PASSAGES)
    assert len(scores) == len(PASSAGES)
    assert "no native bf16" in caplog.text


def test_fusion_mode_orders_by_weighted_reciprocal_rank():
    from crossrank.reranker import select

    scores = [0.1, 0.9, 0.5]  # rerank order 1, 2, 0; retrieval order 0, 1, 2
    assert select(scores) == [(1, 0.9), (2, 0.5), (0, 0.1)]
    # w = 0.5: item 1 gets 1/61 + 1/62, item 0 gets 1/63 + 1/61, item 2 gets 1/62 + 1/63
    assert select(scores, retrieval_weight=0.5) == [(1, 0.9), (0, 0.1), (2, 0.5)]
    assert [i for i, _ in select(scores, retrieval_weight=1.0)] == [0, 1, 2]
    assert select(scores, retrieval_weight=0.5, threshold=0.2, top_n=1) == [(1, 0.9)]
    with pytest.raises(ValueError, match=r"retrieval_weight must be in \[0, 1\]"):
        select(scores, retrieval_weight=1.5)


def test_fusion_mode_in_the_reranker(tiny_reranker_path: str):
    texts = ["assert checks", "break leaves a loop", "for iterates", "pass does nothing"]
    plain = Reranker(tiny_reranker_path).rank("loop", texts)
    fused = Reranker(tiny_reranker_path, retrieval_weight=1.0).rank("loop", texts)
    assert [i for i, _ in fused] == [0, 1, 2, 3]  # all weight on the incoming order
    assert dict(fused) == dict(plain)  # scores stay the cross-encoder's
    with pytest.raises(ValueError, match="retrieval_weight"):
        Reranker(tiny_reranker_path, retrieval_weight=-0.1)
