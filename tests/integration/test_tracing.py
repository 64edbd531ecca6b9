"""One trace across processes: ``crossrank ask --server`` and ``crossrank serve``, both
exporting over OTLP/HTTP (the standard variables) to a receiver on a loopback port."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.slow


class _Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: keeps ``(service.name, span)`` of every export."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[str, object]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            names = [a.value.string_value for a in resource.resource.attributes]
            keys = [a.key for a in resource.resource.attributes]
            service = names[keys.index("service.name")]
            for scope in resource.scope_spans:
                self.server.spans.extend((service, span) for span in scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _attributes(span) -> dict:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


def test_one_trace_spans_the_client_and_the_server(
    receiver, tmp_path, tiny_encoder_path, tiny_reranker_path, sample_corpus, crossrank,
    crossrank_process, free_port, wait_ready,
):  # fmt: skip
    db = str(tmp_path / "db")
    assert (
        crossrank("index", str(sample_corpus), "--db", db, "--model", tiny_encoder_path).returncode
        == 0
    )
    port = free_port()
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "crossrank.cli", "serve", "--port", str(port), "--db", db,
         "--model", tiny_encoder_path, "--reranker", tiny_reranker_path, "--precision", "fp32"],
        env={**os.environ, **otlp}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        asked = crossrank_process("ask", "leave a loop early", "--server", url, "--json", env=otlp)
        assert asked.returncode == 0, asked.stderr
        # A malformed traceparent is ignored: the request is answered, in a trace of its own.
        bad = httpx.post(
            f"{url}/v1/search", json={"query": "loops"}, headers={"traceparent": "00-zz-1-01"}
        )
        assert bad.status_code == 200
        spans = _wait_for(receiver, {"crossrank.client", "crossrank.search", "crossrank.rerank"})
    finally:
        server.terminate()
        server.wait(30)
    [client] = [
        span for _, span in spans
        if span.name == "crossrank.client" and _attributes(span)["url.full"].endswith("/v1/search")
    ]  # fmt: skip
    assert {s for s, span in spans if span.name == "crossrank.client"} == {"crossrank"}
    served = [span for s, span in spans if s == "crossrank-serve"]
    served = [span for s, span in spans if s == "crossrank-serve"]
    # FastAPI's server span continues the client's; crossrank's stages are under it.
    [request] = [
        span for span in served
        if span.name == "POST /v1/search" and span.parent_span_id == client.span_id
    ]  # fmt: skip
    assert request.trace_id == client.trace_id
    parents = {span.span_id: span.parent_span_id for span in served}
    [search] = [span for span in served if span.name == "crossrank.search"
                and span.trace_id == client.trace_id]  # fmt: skip
    above, at = [], search.parent_span_id
    while at in parents:
        above.append(at)
        at = parents[at]
    assert request.span_id in above
    tree = {span.name for span in served if span.trace_id == client.trace_id}
    assert {"crossrank.hybrid", "crossrank.dense", "crossrank.bm25", "crossrank.rerank"} <= tree
    [rerank] = [span for span in served
                if span.name == "crossrank.rerank" and span.trace_id == client.trace_id]  # fmt: skip
    attributes = _attributes(rerank)
    assert attributes["openinference.span.kind"] == "RERANKER"
    assert "reranker.output_documents.0.document.id" in attributes
    assert "reranker.input_documents.49.document.id" in attributes  # all 50 candidates kept
    # The request with the malformed traceparent started a trace of its own.
    assert any(
        span.name == "POST /v1/search"
        and not span.parent_span_id
        and span.trace_id != client.trace_id
        for span in served
    )


def test_an_unreachable_endpoint_fails_nothing_and_is_said_once(
    tmp_path, tiny_encoder_path, crossrank, crossrank_process, sample_corpus, free_port
):
    db = str(tmp_path / "db")
    common = ["--db", db, "--model", tiny_encoder_path]
    assert crossrank("index", str(sample_corpus), *common, "--quiet").returncode == 0
    down = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nobody listens
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    started = time.monotonic()
    done = crossrank_process("ask", "loops", *common, "--no-rerank", "--json", env=down)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot export traces to http://127.0.0.1:") == 1
    assert "Traceback" not in done.stderr and time.monotonic() - started < 60


def _wait_for(receiver: _Receiver, names: set[str]) -> list:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spans = list(receiver.spans)
        if names <= {span.name for _, span in spans}:
            time.sleep(0.5)  # the rest of the batch
            return list(receiver.spans)
        time.sleep(0.2)
    raise AssertionError(f"spans received: {sorted({span.name for _, span in receiver.spans})}")


def test_phoenix_shows_the_reranker_with_its_scored_documents(
    tmp_path, free_port, wait_ready, crossrank, crossrank_process, sample_corpus,
    tiny_encoder_path, tiny_reranker_path,
):  # fmt: skip
    import shutil

    phoenix = os.environ.get("CROSSRANK_PHOENIX") or shutil.which("phoenix")
    if not phoenix or not os.path.exists(phoenix):
        pytest.skip("Phoenix is not installed (make test installs it in a venv of its own)")
    port = free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"), "PHOENIX_HOST":
           "127.0.0.1", "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(free_port())}  # fmt: skip
    server = subprocess.Popen([phoenix, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        wait_ready(url, server, "/healthz", deadline - time.monotonic())
        common = ["--db", str(tmp_path / "db"), "--model", tiny_encoder_path]
        assert crossrank("index", str(sample_corpus), *common, "--quiet").returncode == 0
        asked = crossrank_process(
            "ask", "What does assert do?", *common, "--reranker", tiny_reranker_path,
            "--precision", "fp32", "--json", env={"OTEL_EXPORTER_OTLP_ENDPOINT": url},
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        hits = json.loads(asked.stdout)["hits"]
        while True:  # Phoenix's own API, as its UI reads it
            found = httpx.get(f"{url}/v1/projects/default/spans", params={"limit": 100}).json()
            reranks = [s for s in found["data"] if s["name"] == "crossrank.rerank"]
            if reranks or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
    [rerank] = reranks
    assert rerank["span_kind"] == "RERANKER"
    attributes = rerank["attributes"]
    assert attributes["reranker.query"] == "What does assert do?"
    scores = [attributes[f"reranker.output_documents.{i}.document.score"] for i in range(len(hits))]
    assert scores == pytest.approx([hit["rerank_score"] for hit in hits])
    assert attributes["reranker.output_documents.0.document.id"] == hits[0]["id"]
