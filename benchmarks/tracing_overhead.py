"""What tracing costs a reranked hybrid search: no OpenTelemetry, the API alone, the SDK.

One process, one store, the same queries; the three ways take turns (round-robin, so
drift hits them alike):
- no OpenTelemetry: ``opentelemetry`` cannot be imported (crossrank's span calls remain);
- tracing off: the OpenTelemetry API with no SDK configured (the default);
- tracing on: an SDK tracer provider with a batch span processor whose exporter encodes
  each batch as OTLP protobuf (the work an OTLP exporter does before sending), then drops it.
Prints the median of each, the ratios, and the cost of one span in each way.
Usage: python tracing_overhead.py [--passages 300] [--fetch-k 20] [--rounds 5] [--queries 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from unittest import mock

from crossrank import Encoder, Pipeline, Reranker, Store, tracing

from common import benchmark_cross_encoder, passages
from query_latency import QUESTIONS


def sdk_tracer():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Encoding(SpanExporter):
        def export(self, spans):
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Encoding()))
    return provider.get_tracer("crossrank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--fetch-k", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=6)
    args = parser.parse_args()
    store = Store(encoder=Encoder(device="cpu", precision="fp32"), in_memory=True)
    texts = passages(args.passages, 50, 200, seed=5)
    store.add_texts(texts, [{"source": f"p{i // 5}.txt"} for i in range(len(texts))])
    reranker = Reranker(benchmark_cross_encoder(), device="cpu", precision="fp32").load()
    pipeline = Pipeline(store, reranker, retrieval="hybrid", fetch_k=args.fetch_k, top_n=5)
    questions = (QUESTIONS * args.queries)[: args.queries]
    for question in questions:
        pipeline.search(question)  # warm: models, query cache, keyword index

    on, cached = sdk_tracer(), tracing._tracer

    def without() -> mock._patch:
        tracing._tracer = cached
        cached.cache_clear()
        return mock.patch.dict(sys.modules, {"opentelemetry": None})

    def api_only() -> mock._patch:
        tracing._tracer = cached
        cached.cache_clear()
        return mock.patch.dict(sys.modules, {})

    def sdk() -> mock._patch:
        tracing._tracer = lambda: on
        return mock.patch.dict(sys.modules, {})

    ways = {"no OpenTelemetry": without, "tracing off (API only)": api_only,
            "tracing on (SDK, batch export)": sdk}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in ways}
    spans: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, setup in ways.items():
            with setup():
                for question in questions:
                    started = time.perf_counter()
                    pipeline.search(question)
                    times[name].append(time.perf_counter() - started)
    for name, setup in ways.items():
        with setup():
            started = time.perf_counter()
            for _ in range(20_000):
                with tracing.span("x", tracing.CHAIN, {"crossrank.k": 1}) as current:
                    current.set({"crossrank.n": 2})
            spans[name] = (time.perf_counter() - started) / 20_000
    tracing._tracer = cached
    base = statistics.median(times["no OpenTelemetry"])
    print(
        f"reranked hybrid search: {args.passages} passages, {args.fetch_k} candidates reranked "
        f"(MiniLM-L6-sized cross-encoder, fp32), {len(questions)} queries x {args.rounds} rounds "
        "per way, taking turns"
    )
    print(f"  {'way':32s} {'median':>9s} {'vs none':>8s} {'one span':>9s}")
    for name in ways:
        median = statistics.median(times[name])
        print(
            f"  {name:32s} {1000 * median:7.1f}ms {median / base:7.3f}x {1e6 * spans[name]:7.1f}us"
        )


if __name__ == "__main__":
    main()
