"""The HTTP application: rerank in the APIs clients already speak, search and index a store.

Endpoints (all JSON): ``POST /v2/rerank`` and ``/v1/rerank`` (Cohere; ``/v1`` also in
Jina's shape), ``POST /rerank`` (text-embeddings-inference), ``POST /v1/search`` and
``/v1/index`` (crossrank's own), ``GET /health`` (alive), ``GET /ready`` (ready for
traffic) and ``GET /metrics`` (Prometheus).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import tracing
from .._auth import REFUSED, authorized
from ..context import ContextBuilder
from ..errors import StoreError
from ..pipeline import Pipeline
from ..reranker import Reranker, select
from ..settings import RetrievalSettings, ServerLimits, check_query
from ..store import Store
from . import page as pages
from .readiness import Readiness
from .schemas import CohereRerank, Index, Search, TEIRerank


class _Refused(Exception):
    """A request the server turns away with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    reranker: Reranker | None,
    store: Store | None = None,
    *,
    retrieval: RetrievalSettings | None = None,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    page: bool = True,
) -> FastAPI:
    """The crossrank server's ASGI application.

    Models load before the app answers (in its startup); then the store's keyword index
    catches up in the background. ``/health`` says the process is alive (200 once it
    answers); ``/ready`` says 200 when the store answers and the keyword index is in
    step, else 503 naming what is not ready.

    Args:
        reranker: The cross-encoder behind every rerank endpoint; None: reranking is off
            (``/v1/search`` gives retrieval order, the rerank endpoints answer 503).
        store: The store ``/v1/search`` and ``/v1/index`` use; None: those answer 503.
        retrieval: ``/v1/search``'s default first-stage settings.
        api_key: When set, every endpoint but ``/health`` and ``/ready`` needs
            ``Authorization: Bearer KEY``.
        limits: Per-request limits.
        page: Serve the page at ``/`` (one question, stage by stage; needs a store). With
            an API key, a browser asks for it (any user name, the key as password).

    Example:
        >>> app = create_app(Reranker("models/ce"), Store(path="./.crossrank"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)
    """
    limits = limits or ServerLimits()
    retrieval = retrieval or RetrievalSettings()
    metrics = _Metrics()
    state: dict[str, Any] = {}
    readiness = Readiness(store, keyword=retrieval.retrieval != "dense")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if reranker is not None:
            await asyncio.to_thread(reranker.load)
            metrics.watch(reranker)
        if store is not None:
            await asyncio.to_thread(store.encoder.embed, ["warm up"])
        state["ready"] = True
        readiness.start()
        yield

    app = FastAPI(
        title="crossrank",
        lifespan=lifespan,
        dependencies=[Depends(_auth(api_key))],
    )
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)  # type: ignore[arg-type]
    app.middleware("http")(metrics.observe)
    _errors(app)

    def cross_encoder() -> Reranker:
        if reranker is None:
            raise _Refused(503, "this server has no reranker (started with --no-rerank)")
        return reranker

    def check_documents(texts: list[str], name: str = "documents") -> None:
        if not texts:
            raise _Refused(422, f"{name} is empty: send at least one")
        if len(texts) > limits.max_documents:
            raise _Refused(
                413,
                f"{len(texts)} {name}; this server takes at most {limits.max_documents} per "
                "request (crossrank serve --max-documents raises it)",
            )
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        if len(texts[longest]) > limits.max_document_chars:
            raise _Refused(
                413,
                f"{name}[{longest}] has {len(texts[longest])} characters; this server takes "
                f"at most {limits.max_document_chars} (crossrank serve --max-document-chars "
                "raises it)",
            )

    async def ranked(query: str, texts: list[str], top_n: int | None) -> list[tuple[int, float]]:
        check_query(query)  # first: an empty query is the problem to name
        check_documents(texts)
        scoring = cross_encoder()
        (scored,) = await scoring.ascore_spans([(query, texts)])
        scores = [score for score, _ in scored]
        return select(scores, top_n=top_n, retrieval_weight=scoring.retrieval_weight)

    @app.post("/v2/rerank")
    @app.post("/v1/rerank")
    async def rerank_cohere(body: CohereRerank) -> dict[str, Any]:
        """Rerank `documents` for `query`, in Cohere's shape (`/v1` is also Jina's).

        Answers `{id, model, results: [{index, relevance_score, document?}], meta}`, best
        first: calibrated scores in [0, 1], long documents scored in windows.
        """
        texts = body.texts()
        results = [
            {
                "index": i,
                "relevance_score": score,
                **({"document": {"text": texts[i]}} if body.return_documents else {}),
            }
            for i, score in await ranked(body.query, texts, body.top_n)
        ]
        return {
            "id": str(uuid.uuid4()),
            "model": body.model or cross_encoder().model_name,
            "results": results,
            "meta": {"billed_units": {"search_units": 1}},
        }

    @app.post("/rerank")
    async def rerank_tei(body: TEIRerank) -> list[dict[str, Any]]:
        """Rerank `texts` for `query`, in text-embeddings-inference's shape.

        Answers `[{index, score, text?}]`, best first; `raw_scores` gives the logits.
        """
        return [
            {
                "index": i,
                "score": _logit(score) if body.raw_scores else score,
                **({"text": body.texts[i]} if body.return_text else {}),
            }
            for i, score in await ranked(body.query, body.texts, None)
        ]

    def the_store() -> Store:
        if store is None:
            raise _Refused(503, "this server has no store")
        return store

    @app.post("/v1/search")
    async def search(body: Search) -> dict[str, Any]:
        """Search the server's store and rerank, as `crossrank ask` does.

        Answers `{query, reranked, hits: [...]}`, each hit as `ask --json` prints it.
        """
        check_query(body.query)
        options = body.model_dump(
            include={"retrieval", "fusion", "weights", "fetch_k", "mmr"}, exclude_none=True
        )
        cross = reranker if body.rerank else None
        pipeline = Pipeline(
            the_store(),
            cross,
            top_n=body.top_n,
            threshold=body.threshold,
            settings=retrieval,
            **options,
        )
        hits = await run_in_threadpool(
            pipeline.search, body.query, where=body.where, where_document=body.where_document
        )
        return {
            "query": body.query,
            "reranked": cross is not None,
            "hits": [hit.to_dict() for hit in hits],
        }

    @app.post("/v1/index")
    async def index(body: Index) -> dict[str, Any]:
        """Add `texts` (with `metadatas` and `ids`) to the store, as `Store.add_texts`.

        Answers `{ids, count}`: the ids written and the collection's new count.
        """
        check_documents(body.texts, "texts")
        target = the_store()
        ids = await run_in_threadpool(target.add_texts, body.texts, body.metadatas, ids=body.ids)
        return {"ids": ids, "count": await run_in_threadpool(target.count)}

    def described() -> dict[str, Any]:
        return {
            "reranker": reranker.model_name if reranker else None,
            "store": store.connection.describe() if store else None,
        }

    @app.get("/health")
    async def health() -> Response:
        """Liveness: 200 `{"status": "alive", ...}` while the process answers."""
        alive = state.get("ready", False)  # (models load before the server listens)
        payload = {"status": "alive" if alive else "loading", **described()}
        return JSONResponse(payload, status_code=200 if alive else 503)

    @app.get("/ready")
    async def ready() -> Response:
        """Readiness: 200 when the store answers and the keyword index caught up, else
        503 `{"status": "not ready", "not_ready": {part: why}}`."""
        problems = await readiness.problems()
        if not state.get("ready", False):
            problems["models"] = "loading"
        payload = {"status": "not ready" if problems else "ready", **described()}
        return JSONResponse(
            {**payload, "not_ready": problems} if problems else payload,
            status_code=503 if problems else 200,
        )

    if page and store is not None:

        @app.get("/", response_class=HTMLResponse)
        async def home(q: str = "") -> HTMLResponse:
            if not q.strip():
                return HTMLResponse(pages.render())
            pipeline = Pipeline(store, reranker, top_n=10, settings=retrieval)

            def looked_at() -> str:
                with tracing.recording() as stages:
                    hits = pipeline.search(q)
                    context = ContextBuilder(store=store).build(hits)
                return pages.render(q, hits, stages, context)

            return HTMLResponse(await run_in_threadpool(looked_at))

    @app.get("/metrics")
    async def metrics_text() -> Response:
        """Prometheus metrics: requests, pairs scored, latency and per-stage histograms."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _auth(api_key: str | None) -> Callable[[Request], None]:
    """A dependency refusing requests without ``Authorization: Bearer <api_key>`` (on the
    page at ``/``, a browser's Basic credentials with the key as the password also do)."""

    def check(request: Request) -> None:
        if not api_key or request.url.path in ("/health", "/ready"):
            return
        header = request.headers.get("authorization", "")
        if not authorized(header, api_key, basic=request.url.path == "/"):
            raise _Refused(401, REFUSED)

    return check


class _BodyLimit:
    """Refuse a body over ``limit`` bytes (413), by its length header or as it streams in.

    (FastAPI's own ``max_body_size`` answers in plain text, past the JSON error handlers.)
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await _refusal(413, _too_large(self.limit))(scope, receive, send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, _too_large(self.limit))  # FastAPI passes it on
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> str:
    return (
        f"the request body is over {limit / 2**20:g} MB, this server's limit "
        "(crossrank serve --max-body-mb raises it)"
    )


def _refusal(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)


class _Metrics:
    """The Prometheus series ``/metrics`` shows, in a registry of this app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crossrank_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crossrank_request_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.queue = Gauge(
            "crossrank_queue_depth",
            "Rerank requests waiting for the model.",
            registry=self.registry,
        )
        self.stages = Histogram(
            "crossrank_stage_seconds",
            "Time in each stage of a request (search, hybrid, dense, embed_query, bm25, "
            "rerank, ...: crossrank's span names), by stage.",
            ["stage"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def watch(self, reranker: Reranker) -> None:
        """Show the reranker's batcher: its queue, and the pairs it scored."""
        batcher = reranker.batcher
        self.queue.set_function(lambda: batcher.depth)
        self.registry.register(_Scored(batcher))

    async def observe(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        # (FastAPI's own telemetry continues the caller's trace from its traceparent.)
        with tracing.stage_timings(self._stage):
            response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "other")  # unknown paths share one label
        self.requests.labels(endpoint, str(response.status_code)).inc()
        self.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    def _stage(self, name: str, seconds: float) -> None:
        self.stages.labels(name).observe(seconds)


class _Scored(Collector):
    """``crossrank_pairs_scored``: the texts the process's batcher for the model scored."""

    def __init__(self, batcher: Any) -> None:
        self.batcher = batcher

    def collect(self) -> Any:
        yield CounterMetricFamily(
            "crossrank_pairs_scored", "Query-document pairs scored.", value=self.batcher.scored
        )


def _errors(app: FastAPI) -> None:
    """Every refusal is JSON ``{"message": ...}`` with a 4xx status, never a 500."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _refusal(error.status_code, str(error.detail))

    @app.exception_handler(_Refused)
    async def refused(request: Request, error: _Refused) -> JSONResponse:
        response = _refusal(error.status, str(error))
        if error.status == 401 and request.url.path == "/":  # the browser asks for the key
            response.headers["WWW-Authenticate"] = 'Basic realm="crossrank"'
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'][1:]) or 'body'}: {item['msg']}"
            for item in error.errors()
        )
        return JSONResponse({"message": problems}, status_code=422)

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, error: ValueError) -> JSONResponse:
        return JSONResponse({"message": str(error)}, status_code=422)

    @app.exception_handler(StoreError)
    async def unavailable(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"message": str(error)}, status_code=503)


def _logit(probability: float) -> float:
    """The raw score text-embeddings-inference returns: the logit behind a calibrated score."""
    p = min(max(probability, 1e-300), 1.0 - 2**-53)
    return math.log(p) - math.log1p(-p)


__all__ = ["create_app"]
