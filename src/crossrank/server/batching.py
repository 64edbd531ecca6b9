"""Score the pairs of concurrent requests together, in the reranker's own batches.

While the model scores one batch, new requests wait; when it is done, everything that
waits is scored in one :meth:`~crossrank.Reranker.score_spans` call. No request waits for
a timer, and under load the model sees large, length-sorted batches instead of one small
request at a time behind a lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from ..reranker import Reranker, Scored
from ..settings import check_query

logger = logging.getLogger(__name__)

_Waiting = tuple[str, Sequence[str], "asyncio.Future[list[Scored]]"]


class Batcher:
    """Collects scoring requests from many coroutines and scores them together.

    Args:
        reranker: The loaded cross-encoder.
        max_texts: At most this many texts per shared call (the first request always goes).
        on_scored: Called with the number of pairs scored, after each shared call.
    """

    def __init__(
        self,
        reranker: Reranker,
        *,
        max_texts: int = 1024,
        on_scored: Callable[[int], None] = lambda _: None,
    ) -> None:
        self.reranker = reranker
        self.max_texts = max_texts
        self.on_scored = on_scored
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._waiting)

    async def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """``reranker.score(query, texts)``, scored together with concurrent requests."""
        return [score for score, _ in await self.score_spans(query, texts)]

    async def score_spans(self, query: str, texts: Sequence[str]) -> list[Scored]:
        """``reranker.score_spans`` of one request, scored together with concurrent ones."""
        check_query(query)
        if not texts:
            return []
        future: asyncio.Future[list[Scored]] = asyncio.get_running_loop().create_future()
        self._waiting.append((query, texts, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken, count = 0, 0
            while taken < len(self._waiting) and (
                taken == 0 or count + len(self._waiting[taken][1]) <= self.max_texts
            ):
                count += len(self._waiting[taken][1])
                taken += 1
            batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
            live = [item for item in batch if not item[2].done()]  # not cancelled
            if not live:
                continue
            for (_, _, future), result in zip(live, await self._score(live), strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _score(self, batch: list[_Waiting]) -> list[list[Scored] | BaseException]:
        requests = [(query, texts) for query, texts, _ in batch]
        try:
            scores = await asyncio.to_thread(self.reranker.score_spans, requests)
            self.on_scored(sum(len(texts) for _, texts in requests))
            return list(scores)
        except Exception as error:  # noqa: BLE001 - handed to the requests below
            if len(requests) == 1:
                return [error]
        # One request broke the shared call: score each alone, so only it fails.
        results: list[list[Scored] | BaseException] = []
        for query, texts in requests:
            try:
                (scored,) = await asyncio.to_thread(self.reranker.score_spans, [(query, texts)])
                results.append(scored)
                self.on_scored(len(texts))
            except Exception as error:  # noqa: BLE001 - handed to its own request
                results.append(error)
        return results


class BatchedReranker(Reranker):
    """A :class:`~crossrank.Reranker` whose scoring goes through a :class:`Batcher`.

    For code that runs in a worker thread (a :class:`~crossrank.Pipeline` search) while
    the batcher lives on the server's event loop.
    """

    def __init__(self, batcher: Batcher, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(batcher.reranker.settings)
        self._batcher = batcher
        self._loop = loop

    def score_spans(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[Scored]]:
        futures: list[Future[list[Scored]]] = [
            asyncio.run_coroutine_threadsafe(self._batcher.score_spans(query, texts), self._loop)
            for query, texts in requests
        ]
        return [future.result() for future in futures]


__all__ = ["BatchedReranker", "Batcher"]
