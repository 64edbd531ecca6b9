"""Concurrent callers of one model share its batches: coroutines, threads and the server
alike (``crossrank.batching``), each getting the scores it gets alone, failures kept apart."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from crossrank import Reranker

QUERIES = ["how do I leave a loop early", "what does assert do", "import a module", "lambda"]
TEXTS = [
    "The break statement leaves the innermost enclosing for or while loop.",
    "Assert statements are a convenient way to insert debugging assertions into a program.",
    "The import statement finds a module, loads and initializes it if necessary. " * 30,
    "Lambda expressions create anonymous functions.",
    "continue",
]
REQUESTS = [(query, TEXTS[i:] + TEXTS[:i]) for i, query in enumerate(QUERIES)]


@pytest.fixture
def reranker(tiny_reranker_path: str) -> Reranker:
    return Reranker(tiny_reranker_path, device="cpu", precision="fp32", batch_size=4).load()


def alone(reranker: Reranker, query: str, texts: list[str]) -> list[float]:
    (scored,) = reranker._scored([(query, texts)])  # the model's own call, no batcher
    return [score for score, _ in scored[0]]


async def test_coroutines_that_arrive_while_the_model_works_share_its_next_call(
    reranker, model_calls
):
    model_calls.hold()
    first = asyncio.create_task(reranker.ascore_spans([REQUESTS[0]]))
    assert await asyncio.to_thread(model_calls.entered.wait, 30)  # the model works on it alone
    rest = [asyncio.create_task(reranker.ascore_spans([request])) for request in REQUESTS[1:]]
    while reranker.batcher.depth < len(REQUESTS) - 1:
        await asyncio.sleep(0.001)
    ticks = 0
    while ticks < 5:  # the event loop runs while the model works
        await asyncio.sleep(0.001)
        ticks += 1
    model_calls.release()
    results = await asyncio.gather(first, *rest)
    assert model_calls.requests == [1, len(REQUESTS) - 1]
    for (query, texts), (scored,) in zip(REQUESTS, results, strict=True):
        scores = [score for score, _ in scored]
        np.testing.assert_allclose(scores, alone(reranker, query, texts), rtol=0, atol=1e-6)
        assert all(type(score) is float for score in scores)


def test_threads_share_the_next_call_and_get_their_solo_scores(reranker, model_calls):
    model_calls.hold()
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        first = pool.submit(reranker.score, *REQUESTS[0])
        assert model_calls.entered.wait(30)
        rest = [pool.submit(reranker.score, *request) for request in REQUESTS[1:]]
        model_calls.wait_until_queued(reranker, len(REQUESTS))
        model_calls.release()
        results = [first.result(), *(future.result() for future in rest)]
    assert model_calls.requests == [1, len(REQUESTS) - 1]
    for (query, texts), scores in zip(REQUESTS, results, strict=True):
        np.testing.assert_allclose(scores, alone(reranker, query, texts), rtol=0, atol=1e-6)


def test_rerankers_of_one_model_and_batch_settings_share_one_batcher(reranker, model_calls):
    """So a framework adapter's reranker and the app's own share batches."""
    twin = Reranker(reranker.settings)
    assert twin.batcher is reranker.batcher
    other = Reranker(reranker.settings, batch_size=8)  # other batches: scored apart
    assert other.batcher is not reranker.batcher


async def test_a_failing_request_fails_alone(reranker, model_calls):
    model_calls.poison = "poison"
    model_calls.hold()
    first = asyncio.create_task(reranker.ascore_spans([REQUESTS[0]]))
    assert await asyncio.to_thread(model_calls.entered.wait, 30)
    good = asyncio.create_task(reranker.ascore_spans([REQUESTS[1]]))
    bad = asyncio.create_task(reranker.ascore_spans([(QUERIES[2], ["poison"])]))
    while reranker.batcher.depth < 2:
        await asyncio.sleep(0.001)
    model_calls.release()
    await first
    with pytest.raises(FloatingPointError, match="NaN"):
        await bad
    (scored,) = await good
    query, texts = REQUESTS[1]
    assert [s for s, _ in scored] == pytest.approx(alone(reranker, query, texts), abs=1e-6)
    assert model_calls.requests == [1, 2, 1, 1]  # the shared call failed: each scored alone


async def test_a_cancelled_caller_is_not_scored(reranker, model_calls):
    model_calls.hold()
    first = asyncio.create_task(reranker.ascore_spans([REQUESTS[0]]))
    assert await asyncio.to_thread(model_calls.entered.wait, 30)
    cancelled = asyncio.create_task(reranker.ascore_spans([REQUESTS[1]]))
    kept = asyncio.create_task(reranker.ascore_spans([REQUESTS[2]]))
    while reranker.batcher.depth < 2:
        await asyncio.sleep(0.001)
    cancelled.cancel()
    model_calls.release()
    await asyncio.gather(first, kept)
    assert cancelled.cancelled() and model_calls.requests == [1, 1]


async def test_bad_input_is_refused_before_it_queues(reranker, model_calls):
    with pytest.raises(ValueError, match="query is empty"):
        await reranker.ascore_spans([("  ", TEXTS)])
    with pytest.raises(ValueError, match="query is empty"):
        reranker.score("  ", TEXTS)
    assert await reranker.ascore_spans([("q", [])]) == [[]]
    assert reranker.batcher.depth == 0 and model_calls.requests == []


async def test_arerank_equals_rerank(reranker):
    from crossrank import Hit

    hits = [Hit(str(i), text) for i, text in enumerate(TEXTS)]
    assert await reranker.arerank(QUERIES[0], hits, top_n=3) == reranker.rerank(
        QUERIES[0], hits, top_n=3
    )


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
