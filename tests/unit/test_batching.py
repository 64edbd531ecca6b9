"""The server's cross-request batching: shared calls, the same scores, failures kept apart."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from crossrank import Reranker
from crossrank.server.batching import Batcher

QUERIES = ["how do I leave a loop early", "what does assert do", "import a module", "lambda"]
TEXTS = [
    "The break statement leaves the innermost enclosing for or while loop.",
    "Assert statements are a convenient way to insert debugging assertions into a program.",
    "The import statement finds a module, loads and initializes it if necessary. " * 30,
    "Lambda expressions create anonymous functions.",
    "continue",
]


class Recording(Reranker):
    """Records each score_spans call's requests (the real scoring still runs)."""

    calls: list[int]

    def score_spans(self, requests):  # type: ignore[no-untyped-def]
        self.calls.append(len(requests))
        return super().score_spans(requests)


@pytest.fixture
def reranker(tiny_reranker_path: str) -> Recording:
    reranker = Recording(tiny_reranker_path, device="cpu", precision="fp32", batch_size=4)
    reranker.calls = []
    return reranker.load()


async def test_concurrent_requests_share_one_call_and_keep_their_own_scores(reranker):
    batcher = Batcher(reranker)
    requests = [(query, TEXTS[i:] + TEXTS[:i]) for i, query in enumerate(QUERIES)]
    together = await asyncio.gather(*(batcher.score(q, texts) for q, texts in requests))
    assert reranker.calls == [len(QUERIES)]  # all four waited, then one shared call
    for (query, texts), scores in zip(requests, together, strict=True):
        alone = reranker.score(query, texts)
        np.testing.assert_allclose(scores, alone, rtol=0, atol=1e-6)
        assert all(type(score) is float for score in scores)


async def test_requests_arriving_while_the_model_works_go_in_the_next_call(reranker):
    batcher = Batcher(reranker, max_texts=len(TEXTS))
    first = asyncio.create_task(batcher.score(QUERIES[0], TEXTS))
    await asyncio.sleep(0)  # the worker takes the first request alone...
    rest = [asyncio.create_task(batcher.score(q, TEXTS[:2])) for q in QUERIES[1:]]
    await asyncio.gather(first, *rest)
    assert reranker.calls[0] == 1
    assert sum(reranker.calls) == len(QUERIES) and len(reranker.calls) < len(QUERIES)


async def test_a_failing_request_fails_alone(reranker, monkeypatch):
    batcher = Batcher(reranker)
    real = Reranker.score_spans

    def refuse_the_poison(self, requests):  # type: ignore[no-untyped-def]
        if any("poison" in text for _, texts in requests for text in texts):
            raise FloatingPointError("the reranker produced NaN or infinite logits")
        return real(self, requests)

    monkeypatch.setattr(Reranker, "score_spans", refuse_the_poison)
    good, bad = await asyncio.gather(
        batcher.score(QUERIES[0], TEXTS),
        batcher.score(QUERIES[1], ["poison"]),
        return_exceptions=True,
    )
    assert isinstance(bad, FloatingPointError)
    expected = [score for score, _ in real(reranker, [(QUERIES[0], TEXTS)])[0]]
    assert good == pytest.approx(expected, abs=1e-6)


async def test_bad_input_is_refused_before_it_queues(reranker):
    batcher = Batcher(reranker)
    with pytest.raises(ValueError, match="query is empty"):
        await batcher.score("  ", TEXTS)
    assert await batcher.score("q", []) == []
    assert batcher.depth == 0 and reranker.calls == []


def test_score_many_matches_score_one_request_at_a_time(reranker):
    requests = [(q, TEXTS[: i + 2]) for i, q in enumerate(QUERIES)] + [("empty", [])]
    many = reranker.score_many(requests)
    assert many[-1] == []
    for (query, texts), scores in zip(requests[:-1], many[:-1], strict=True):
        np.testing.assert_allclose(scores, reranker.score(query, texts), rtol=0, atol=1e-6)


def test_each_score_comes_with_the_span_of_text_that_won_it(reranker):
    query = "what does the import statement load"
    (scored,) = reranker.score_spans([(query, TEXTS)])
    for text, (score, span) in zip(TEXTS, scored, strict=True):
        assert span is not None
        start, end = span
        windows = reranker.windows(query, text)
        assert (start, end) in windows
        if len(windows) == 1:
            assert span == (0, len(text))
        # The kept score is the best window's: scoring that window alone gives it back.
        assert reranker.score(query, [text[start:end]])[0] == pytest.approx(score, abs=1e-6)
        assert score == pytest.approx(max(reranker.score(query, [text[a:b] for a, b in windows])))
    assert len(reranker.windows(query, TEXTS[2])) > 1  # the long text was cut in windows
