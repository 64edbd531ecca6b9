"""Traces of every stage: OpenTelemetry spans in the OpenInference conventions.

The one module that imports OpenTelemetry. Each stage opens its span with a line,
``with span("rerank", RERANKER) as current:``, and adds what it found with
``current.set({...})`` or ``current.documents(...)``; the names below are OpenInference's
(read by Phoenix and the LlamaIndex/LangChain instrumentors), with the OTel GenAI
``retrieval`` attributes beside them where they fit.

With no OpenTelemetry SDK configured (the default), spans do not record: nothing is
built or kept, and a span costs a few microseconds. Configure one as usual
(``trace.set_tracer_provider``), or let ``crossrank serve`` export through the standard
``OTEL_EXPORTER_OTLP_*`` variables.

Privacy: ``OPENINFERENCE_HIDE_INPUTS`` / ``OPENINFERENCE_HIDE_OUTPUTS`` (true) leave out
queries and outputs, as OpenInference's instrumentors do; ``CROSSRANK_TRACE_CONTENT=false``
leaves out every text (queries, documents, outputs), keeping ids, scores and counts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import metadata as _metadata
from typing import Any

# OpenInference's names (openinference.semconv.trace); a test pins them to the package.
SPAN_KIND = "openinference.span.kind"
CHAIN, RETRIEVER, RERANKER, EMBEDDING = "CHAIN", "RETRIEVER", "RERANKER", "EMBEDDING"
INPUT_VALUE, OUTPUT_VALUE = "input.value", "output.value"
METADATA = "metadata"
RETRIEVAL_DOCUMENTS = "retrieval.documents"
RERANKER_QUERY, RERANKER_MODEL_NAME, RERANKER_TOP_K = (
    "reranker.query",
    "reranker.model_name",
    "reranker.top_k",
)
RERANKER_INPUT_DOCUMENTS = "reranker.input_documents"
RERANKER_OUTPUT_DOCUMENTS = "reranker.output_documents"
EMBEDDING_MODEL_NAME, EMBEDDING_TEXT = "embedding.model_name", "embedding.text"
DOCUMENT_ID, DOCUMENT_SCORE = "document.id", "document.score"
DOCUMENT_CONTENT, DOCUMENT_METADATA = "document.content", "document.metadata"
# OTel GenAI's retrieval operation (no rerank operation exists there yet).
GEN_AI_OPERATION, GEN_AI_TOP_K = "gen_ai.operation.name", "gen_ai.retrieval.top_k"

logger = logging.getLogger(__name__)
_TRUE = {"1", "true", "yes", "on"}
# Where this context's stage durations go (a server's per-stage histogram), if anywhere.
_current: ContextVar[Span | None] = ContextVar("crossrank_span", default=None)
_stage_sink: ContextVar[Callable[[str, float], None] | None] = ContextVar(
    "crossrank_stage_sink", default=None
)


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


@cache
def _tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:  # the API is an optional extra: no spans without it
        return None
    try:
        version = _metadata.version("crossrank")
    except _metadata.PackageNotFoundError:
        version = None
    return trace.get_tracer("crossrank", version)


class Span:
    """The current stage's span: what the stage adds, kept only when the span records.

    Attributes are written when the span ends, documents first: an SDK keeps 128
    attributes a span by default (``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``) and drops the oldest
    beyond, so a span of many documents loses documents, never its kind, query or counts.
    """

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self.recording = span is not None and span.is_recording()
        self._documents: dict[str, Any] = {}
        self._scalars: dict[str, Any] = {}

    def set(self, attributes: Mapping[str, Any]) -> None:
        """Attributes by their full names (``{"reranker.top_k": 5}``); None values dropped."""
        if self.recording:
            self._scalars.update(_kept(attributes))

    def input(self, text: str) -> None:
        if self.recording and shows_inputs():
            self._scalars[INPUT_VALUE] = text

    def output(self, value: Any) -> None:
        if self.recording and _shows("OPENINFERENCE_HIDE_OUTPUTS"):
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            self._scalars[OUTPUT_VALUE] = text

    def documents(
        self, key: str, hits: Sequence[Any], scores: Sequence[float | None] | None = None
    ) -> None:
        """``key.N.document.{id,score,content,metadata}`` for each hit (or text), in order."""
        if self.recording:
            self._documents.update(documents(key, hits, scores))

    def retrieved(self, hits: Sequence[Any]) -> None:
        """The hits a retrieving stage returns, best first (``retrieval.documents``)."""
        self.documents(RETRIEVAL_DOCUMENTS, hits)

    def _write(self) -> None:
        if self.recording:
            self._span.set_attributes(self._documents)
            self._span.set_attributes(self._scalars)


def _kept(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


def _shows(hide: str) -> bool:
    return _flag("CROSSRANK_TRACE_CONTENT", True) and not _flag(hide, False)


def shows_inputs() -> bool:
    """Whether queries may be recorded (see the module's privacy switches)."""
    return _shows("OPENINFERENCE_HIDE_INPUTS")


def documents(
    key: str, hits: Sequence[Any], scores: Sequence[float | None] | None = None
) -> dict[str, Any]:
    """OpenInference document attributes of ``hits`` (crossrank hits, or plain texts)."""
    content = _flag("CROSSRANK_TRACE_CONTENT", True)
    out: dict[str, Any] = {}
    for i, hit in enumerate(hits):
        prefix = f"{key}.{i}."
        text = hit if isinstance(hit, str) else hit.text
        if not isinstance(hit, str):
            out[prefix + DOCUMENT_ID] = hit.id
            score = hit.score if scores is None else scores[i]
            if hit.metadata:
                out[prefix + DOCUMENT_METADATA] = json.dumps(hit.metadata, default=str)
        else:
            score = None if scores is None else scores[i]
        if score is not None:
            out[prefix + DOCUMENT_SCORE] = float(score)
        if content:
            out[prefix + DOCUMENT_CONTENT] = text
    return out


@contextmanager
def span(name: str, kind: str = CHAIN, attributes: Mapping[str, Any] = {}) -> Iterator[Span]:  # noqa: B006 (read only)
    """A span named ``crossrank.<name>`` of OpenInference ``kind``, current inside the block.

    An exception escaping the block is recorded on the span (status ERROR) and re-raised.
    """
    sink, started = _stage_sink.get(), time.perf_counter()
    tracer = _tracer()
    try:
        if tracer is None:
            yield Span()
            return
        with tracer.start_as_current_span(f"crossrank.{name}") as current:
            wrapped = Span(current)
            wrapped.set({SPAN_KIND: kind, **attributes})
            token = _current.set(wrapped)
            try:
                yield wrapped
            finally:
                _current.reset(token)
                wrapped._write()
    finally:
        if sink is not None:
            sink(name, time.perf_counter() - started)


@contextmanager
def retrieving(
    name: str,
    k: int,
    query: str | None = None,
    attributes: Mapping[str, Any] = {},  # noqa: B006
) -> Iterator[Span]:
    """A RETRIEVER span for ``k`` hits: OTel GenAI's retrieval operation beside
    OpenInference's, with the query as its input; record the hits with ``.retrieved``."""
    with span(
        name, RETRIEVER, {GEN_AI_OPERATION: "retrieval", GEN_AI_TOP_K: k, **attributes}
    ) as current:
        if query is not None:
            current.input(query)
        yield current


@contextmanager
def stage_timings(sink: Callable[[str, float], None]) -> Iterator[None]:
    """Within the block (and what it runs in other threads with its context), each stage's
    name and seconds go to ``sink`` as its span ends, whether or not spans record."""
    token = _stage_sink.set(sink)
    try:
        yield
    finally:
        _stage_sink.reset(token)


def current() -> Span:
    """The innermost crossrank span open in this context (for a stage to add to it)."""
    return _current.get() or Span()


@dataclass(frozen=True)
class Stage:
    """One finished span of :func:`recording`: its name, time, depth and attributes."""

    name: str
    seconds: float
    depth: int
    attributes: Mapping[str, Any]

    def ids(self) -> list[str]:
        """The ids of the documents this stage returned (retrieved, or reranked), in order."""
        return [id_ for id_, _ in self.documents()]

    def documents(self) -> list[tuple[str, float | None]]:
        """``(id, score)`` of each document this stage returned, in order."""
        key = RERANKER_OUTPUT_DOCUMENTS if self.name == "rerank" else RETRIEVAL_DOCUMENTS
        found, i = [], 0
        while f"{key}.{i}.{DOCUMENT_ID}" in self.attributes:
            score = self.attributes.get(f"{key}.{i}.{DOCUMENT_SCORE}")
            found.append((str(self.attributes[f"{key}.{i}.{DOCUMENT_ID}"]), score))
            i += 1
        return found


def ranks(stages: Sequence[Stage]) -> dict[str, dict[str, tuple[int, float | None]]]:
    """For each stage that returned documents: each id's rank (from 1) and score there."""
    found = {stage.name: stage.documents() for stage in stages}
    return {
        name: {id_: (rank, score) for rank, (id_, score) in enumerate(documents, 1)}
        for name, documents in found.items()
        if documents
    }


@contextmanager
def recording() -> Iterator[list[Stage]]:
    """The crossrank stages run in the block (and in what it runs with its context), in
    tree order, once it ends. Needs the SDK: it records through the tracer provider set,
    or sets one. Only this block's spans are kept, so blocks may run concurrently.

    Example:
        >>> with recording() as stages:
        ...     pipeline.search("how do I leave a loop early?")
        >>> [(s.name, s.depth) for s in stages][:2]
        [('search', 0), ('hybrid', 1)]
    """
    _recorder()
    spans: list[Any] = []
    token = _recorded.set(spans)
    stages: list[Stage] = []
    try:
        yield stages
    finally:
        _recorded.reset(token)
    children: dict[Any, list[Any]] = {}
    ids = {span.context.span_id for span in spans}
    for span in sorted(spans, key=lambda span: span.start_time or 0):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)

    def walk(parent: Any, depth: int) -> None:
        for span in children.get(parent, []):
            seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
            name = span.name.removeprefix("crossrank.")
            stages.append(Stage(name, seconds, depth, dict(span.attributes or {})))
            walk(span.context.span_id, depth + 1)

    walk(None, 0)


_recorded: ContextVar[list[Any] | None] = ContextVar("crossrank_recorded", default=None)


@cache
def _recorder() -> None:
    """Once per process: a span processor handing each crossrank span to its recording."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    class Recorder(SpanProcessor):
        def on_end(self, span: Any) -> None:
            kept = _recorded.get()
            if kept is not None and span.name.startswith("crossrank."):
                kept.append(span)

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = _provider("crossrank")
        trace.set_tracer_provider(provider)
    provider.add_span_processor(Recorder())


def inject(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the W3C ``traceparent`` (and ``tracestate``) of the current span."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return headers
    propagate.inject(headers)
    return headers


def export_otlp(service: str) -> bool:
    """Export spans over OTLP when the standard variables name an endpoint.

    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (and the
    exporter's other ``OTEL_EXPORTER_OTLP_*`` variables, protocol ``http/protobuf`` or
    ``grpc``) set up an SDK tracer provider with a batch exporter: spans leave in a
    background thread, so an unreachable endpoint never fails or slows a search, and is
    said once in crossrank's log. ``OTEL_SERVICE_NAME`` overrides ``service``. Returns whether it
    set one up (not when no endpoint is named, or when a provider is already set).
    """
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return False
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    provider = _provider(service)
    provider.add_span_processor(BatchSpanProcessor(_SaysOnce(OTLPSpanExporter())))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    for name in ("opentelemetry.exporter.otlp", "opentelemetry.sdk.trace.export"):
        logging.getLogger(name).addFilter(_quiet)  # _SaysOnce says it, once
    return True


def _provider(service: str) -> Any:
    """An SDK tracer provider for this process, with room for many documents a span."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider

    resource = Resource.create(
        {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    )
    # A reranker span of 50-100 documents has 200-400 attributes; the SDK keeps 128.
    limit = None if "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT" in os.environ else 4096
    return TracerProvider(resource=resource, span_limits=SpanLimits(max_span_attributes=limit))


def _quiet(record: logging.LogRecord) -> bool:
    return record.levelno < logging.WARNING


class _SaysOnce:
    """An exporter that logs its first failure (an endpoint that is down) and no more."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter
        self.said = False

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.exporter.export(spans)
        if result is not SpanExportResult.SUCCESS and not self.said:
            self.said = True
            endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            )
            logger.warning("cannot export traces to %s; searches go on without them", endpoint)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.exporter.force_flush(timeout_millis))
