"""Score the requests of concurrent callers together, in the model's own batches.

Each loaded cross-encoder has one :class:`Batcher` in a process. Callers (threads, or
coroutines through :meth:`crossrank.Reranker.ascore_spans`) queue their requests; one
worker thread scores everything queued in one call to the model, so callers that arrive
while the model works share its next call, and the cores run one forward pass at a time
instead of several fighting over them. No request waits for a timer: a caller alone is
scored at once. The worker lives as long as the process, so torch's thread pool and
oneDNN's per-thread caches are made once (a new thread per call cost a caller alone 16%).
``crossrank serve`` pools its HTTP requests through the same batcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

Request = tuple[str, Sequence[str]]
R = TypeVar("R")


class Batcher(Generic[R]):
    """Queues ``(query, texts)`` requests and scores the queued ones together.

    Args:
        score: Scores several requests in one call, one result per request.
        max_texts: At most this many texts per shared call (the first request always goes).
    """

    def __init__(
        self, score: Callable[[list[Request]], Sequence[R]], *, max_texts: int = 1024
    ) -> None:
        self._score = score
        self.max_texts = max_texts
        self.scored = 0  # texts scored since the start (a server's metric)
        self._waiting: list[tuple[Request, Future[R]]] = []
        self._queued = threading.Condition()
        self._worker: threading.Thread | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._waiting)

    def submit(self, query: str, texts: Sequence[str]) -> Future[R]:
        """Queue one request; its future holds its result (or the error it alone raised).

        A future cancelled before its turn is skipped (``asyncio`` cancels it when the
        coroutine awaiting it is cancelled).
        """
        future: Future[R] = Future()
        with self._queued:
            self._waiting.append(((query, texts), future))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="crossrank-batcher", daemon=True
                )
                self._worker.start()
            self._queued.notify()
        return future

    def _work(self) -> None:
        try:
            while True:
                with self._queued:
                    self._queued.wait_for(lambda: bool(self._waiting))
                    taken = self._take()
                if taken:
                    self._run(taken)
        finally:  # (only something like SystemExit ends it): the next request starts another
            with self._queued:
                self._worker = None

    def _take(self) -> list[tuple[Request, Future[R]]]:
        taken: list[tuple[Request, Future[R]]] = []
        count = 0
        while self._waiting:
            request, future = self._waiting[0]
            if taken and count + len(request[1]) > self.max_texts:
                break
            self._waiting.pop(0)
            if future.set_running_or_notify_cancel():  # False: cancelled while it waited
                taken.append((request, future))
                count += len(request[1])
        return taken

    def _run(self, taken: list[tuple[Request, Future[R]]]) -> None:
        try:
            results = self._score([request for request, _ in taken])
        except Exception as error:  # noqa: BLE001 - handed to the callers below
            if len(taken) == 1:
                taken[0][1].set_exception(error)
                return
            # One request broke the shared call: score each alone, so only it fails.
            for request, future in taken:
                try:
                    (result,) = self._score([request])
                except Exception as alone:  # noqa: BLE001 - handed to its own caller
                    future.set_exception(alone)
                else:
                    self.scored += len(request[1])
                    future.set_result(result)
            return
        self.scored += sum(len(texts) for _, texts in (request for request, _ in taken))
        for (_, future), result in zip(taken, results, strict=True):
            future.set_result(result)


__all__ = ["Batcher", "Request"]
