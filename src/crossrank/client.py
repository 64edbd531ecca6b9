"""Talk to a ``crossrank serve`` server: rerank, search and index without a model here.

Many app processes can share one loaded model this way. :class:`Client` is the HTTP
layer; ``Reranker(server=URL)`` and :class:`RemotePipeline` put it behind the same calls
as a local :class:`~crossrank.Reranker` and :class:`~crossrank.Pipeline`.

Example:
    >>> client = Client("http://127.0.0.1:8080")
    >>> client.rerank("what is a cross-encoder?", ["A model that reads both.", "Paris."])
    [0.93, 0.01]
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import httpx

from . import tracing
from .errors import ServerError
from .hit import Hit
from .settings import RetrievalSettings, check_cutoffs, check_query, check_server_url

API_KEY_ENV = "CROSSRANK_API_KEY"


class Client:
    """An HTTP client of a crossrank server; safe to share between threads.

    Args:
        url: The server, ``http://HOST:PORT``.
        api_key: The server's API key; defaults to the ``CROSSRANK_API_KEY`` variable.
        timeout: Seconds to wait for an answer.
    """

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 300.0) -> None:
        self.url = check_server_url(url)
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def health(self) -> dict[str, Any]:
        """The server's state (``{"status": "ready", "reranker": ..., ...}``)."""
        return dict(self._call("GET", "/health"))

    def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """The calibrated score of each text, in the input order (see ``Reranker.score``)."""
        check_query(query)
        if not texts:
            return []
        answer = self._call("POST", "/v2/rerank", {"query": query, "documents": list(texts)})
        scores = [0.0] * len(texts)
        for result in answer["results"]:
            scores[result["index"]] = float(result["relevance_score"])
        return scores

    def search(
        self,
        query: str,
        *,
        top_n: int = 5,
        threshold: float | None = None,
        settings: RetrievalSettings | None = None,
        rerank: bool = True,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The server store's best hits for ``query`` (the server's ``Pipeline.search``)."""
        check_query(query)
        check_cutoffs(top_n, threshold)
        payload = {
            "query": query,
            "top_n": top_n,
            "threshold": threshold,
            "rerank": rerank,
            "where": where,
            "where_document": where_document,
            **(asdict(settings) if settings else {}),
        }
        answer = self._call("POST", "/v1/search", payload)
        return [Hit.from_dict(hit) for hit in answer["hits"]]

    def index(
        self,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add texts to the server's store, as ``Store.add_texts`` does; return their ids."""
        payload = {
            "texts": list(texts),
            "metadatas": list(metadatas) if metadatas is not None else None,
            "ids": list(ids) if ids is not None else None,
        }
        return list(self._call("POST", "/v1/index", payload)["ids"])

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        attributes = {"http.request.method": method, "url.full": self.url + path}
        with tracing.span("client", tracing.CHAIN, attributes):
            return self._answer(method, path, payload)

    def _answer(self, method: str, path: str, payload: Any) -> Any:
        try:  # the W3C traceparent lets the server continue this trace
            headers = tracing.inject({})
            response = self._http.request(method, path, json=payload, headers=headers)
        except httpx.HTTPError as error:
            raise ServerError(
                f"cannot reach the crossrank server {self.url} ({type(error).__name__}: "
                f"{error}): is `crossrank serve` running there?"
            ) from error
        if response.is_success:
            return response.json()
        message = _message(response)
        if response.status_code == 401:
            raise ServerError(f"{self.url} refused the API key: set {API_KEY_ENV} ({message})")
        if response.status_code in (400, 413, 422):
            raise ValueError(f"{self.url}{path}: {message}")
        raise ServerError(f"{self.url}{path} answered {response.status_code}: {message}")


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except (ValueError, AttributeError):
        return response.text


class RemotePipeline:
    """A :class:`~crossrank.Pipeline` that runs on a crossrank server: same ``search``.

    Retrieval and reranking happen on the server, over its store and with its reranker
    (none when it was started with ``--no-rerank``, or here with ``rerank=False``).

    Args:
        server: The server URL, or a :class:`Client`.
        top_n: Hits returned.
        threshold: Drop reranked hits scoring below this value in [0, 1].
        rerank: Rerank on the server.
        settings: The first stage's settings, or their fields as arguments.

    Example:
        >>> pipeline = RemotePipeline("http://127.0.0.1:8080", retrieval="dense")
        >>> hits = pipeline.search("how do I install it?")
    """

    def __init__(
        self,
        server: str | Client,
        *,
        top_n: int = 5,
        threshold: float | None = None,
        rerank: bool = True,
        settings: RetrievalSettings | None = None,
        **options: Any,
    ) -> None:
        check_cutoffs(top_n, threshold)
        self.client = server if isinstance(server, Client) else Client(server)
        self.settings = replace(settings, **options) if settings else RetrievalSettings(**options)
        self.top_n = top_n
        self.threshold = threshold
        self.rerank = rerank

    def search(
        self,
        query: str,
        *,
        top_n: int | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The best ``top_n`` hits for ``query``, from the server."""
        return self.client.search(
            query,
            top_n=self.top_n if top_n is None else top_n,
            threshold=self.threshold,
            settings=self.settings,
            rerank=self.rerank,
            where=where,
            where_document=where_document,
        )

    async def asearch(self, query: str, **options: Any) -> list[Hit]:
        """:meth:`search` for coroutines (the HTTP call runs in a worker thread)."""
        return await asyncio.to_thread(self.search, query, **options)


__all__ = ["API_KEY_ENV", "Client", "RemotePipeline"]
