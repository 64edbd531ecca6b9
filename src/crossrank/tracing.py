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
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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

_TRUE = {"1", "true", "yes", "on"}


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
    """The current stage's span: attributes added only when it records."""

    def __init__(self, span: Any = None) -> None:
        self._span = span
        self.recording = span is not None and span.is_recording()

    def set(self, attributes: Mapping[str, Any]) -> None:
        """Attributes by their full names (``{"reranker.top_k": 5}``); None values dropped."""
        if self.recording:
            self._span.set_attributes(_kept(attributes))

    def input(self, text: str) -> None:
        if self.recording and shows_inputs():
            self._span.set_attribute(INPUT_VALUE, text)

    def output(self, value: Any) -> None:
        if self.recording and _shows("OPENINFERENCE_HIDE_OUTPUTS"):
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            self._span.set_attribute(OUTPUT_VALUE, text)

    def documents(
        self, key: str, hits: Sequence[Any], scores: Sequence[float | None] | None = None
    ) -> None:
        """``key.N.document.{id,score,content,metadata}`` for each hit (or text), in order."""
        if self.recording:
            self._span.set_attributes(documents(key, hits, scores))


def retrieval(k: int) -> dict[str, Any]:
    """A retriever span's attributes: OTel GenAI's retrieval operation and its top k."""
    return {GEN_AI_OPERATION: "retrieval", GEN_AI_TOP_K: k}


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
def span(name: str, kind: str = CHAIN, attributes: Mapping[str, Any] = {}) -> Iterator[Span]:
    """A span named ``crossrank.<name>`` of OpenInference ``kind``, current inside the block.

    An exception escaping the block is recorded on the span (status ERROR) and re-raised.
    """
    tracer = _tracer()
    if tracer is None:
        yield Span()
        return
    with tracer.start_as_current_span(f"crossrank.{name}") as current:
        wrapped = Span(current)
        if wrapped.recording:
            current.set_attribute(SPAN_KIND, kind)
            current.set_attributes(_kept(attributes))
        yield wrapped


def current() -> Span:
    """The span current in this context (for a stage to add to its caller's span)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return Span()
    return Span(trace.get_current_span())


def inject(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with the W3C ``traceparent`` (and ``tracestate``) of the current span."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return headers
    propagate.inject(headers)
    return headers


@contextmanager
def continued(
    headers: Mapping[str, str], name: str, attributes: Mapping[str, Any] = {}
) -> Iterator[Span]:
    """A server span continuing the caller's trace from its ``traceparent`` (if valid)."""
    try:
        from opentelemetry import propagate, trace
    except ImportError:
        yield Span()
        return
    context = propagate.extract(dict(headers))  # a malformed traceparent is ignored
    tracer = _tracer()
    with tracer.start_as_current_span(name, context=context, kind=trace.SpanKind.SERVER) as current:
        wrapped = Span(current)
        if wrapped.recording:
            current.set_attribute(SPAN_KIND, CHAIN)
            current.set_attributes(_kept(attributes))
        yield wrapped
