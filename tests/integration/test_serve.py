"""``crossrank serve`` on a real uvicorn loopback port, called by real clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import cohere
import httpx
import numpy as np
import pytest

from crossrank import Pipeline, Reranker
from crossrank.client import Client, RemotePipeline
from crossrank.errors import ServerError
from crossrank.server import create_app

QUERY = "how do I leave a loop early"
DOCUMENTS = [
    "The break statement leaves the innermost enclosing for or while loop.",
    "Assert statements insert debugging assertions into a program.",
    "The import statement finds a module, loads and initializes it. " * 40,
    "Lambda expressions create anonymous functions.",
]
KEY = "s3cret-key"


@pytest.fixture
def url(server_url: str) -> str:
    return server_url


@pytest.fixture
def models(served_models):
    return served_models


@pytest.fixture(scope="module")
def locked_url(served_models, serving):
    with serving(create_app(*served_models, api_key=KEY)) as url:
        yield url


def expected(models, query=QUERY, documents=DOCUMENTS):
    return models[0].score(query, documents)


def test_the_cohere_sdk_reranks_through_the_server(url, models):
    client = cohere.ClientV2(api_key="unused", base_url=url)
    response = client.rerank(model="rerank-v3.5", query=QUERY, documents=DOCUMENTS, top_n=3)
    scores = expected(models)
    order = sorted(range(len(DOCUMENTS)), key=lambda i: -scores[i])[:3]
    assert [result.index for result in response.results] == order
    for result in response.results:
        assert result.relevance_score == pytest.approx(scores[result.index], abs=1e-6)


def test_v1_rerank_in_jinas_shape_returns_documents(url, models):
    body = {
        "model": "jina-reranker-v2-base-multilingual",
        "query": QUERY,
        "documents": [{"text": text} for text in DOCUMENTS[:2]] + DOCUMENTS[2:],
        "return_documents": True,
    }
    answer = httpx.post(f"{url}/v1/rerank", json=body).json()
    assert answer["model"] == body["model"]
    assert {result["document"]["text"] for result in answer["results"]} == set(DOCUMENTS)
    scores = [result["relevance_score"] for result in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_tei_rerank_with_raw_scores_and_text(url, models):
    answer = httpx.post(
        f"{url}/rerank", json={"query": QUERY, "texts": DOCUMENTS, "return_text": True}
    ).json()
    scores = expected(models)
    assert [item["index"] for item in answer] == sorted(range(4), key=lambda i: -scores[i])
    assert all(item["text"] == DOCUMENTS[item["index"]] for item in answer)
    raw = httpx.post(f"{url}/rerank", json={"query": QUERY, "texts": DOCUMENTS, "raw_scores": True})
    for item in raw.json():
        probability = scores[item["index"]]
        assert item["score"] == pytest.approx(np.log(probability / (1 - probability)), abs=1e-5)
        assert "text" not in item


def test_concurrent_clients_get_the_scores_they_get_alone(url, models):
    queries = [f"{QUERY} {i}" for i in range(12)]
    answers: dict[str, list[float]] = {}

    def ask(query: str) -> None:
        answers[query] = Client(url).rerank(query, DOCUMENTS)

    threads = [threading.Thread(target=ask, args=(query,)) for query in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for query in queries:
        np.testing.assert_allclose(answers[query], expected(models, query), rtol=0, atol=1e-6)


def test_reranker_with_server_scores_as_the_local_model(url, models):
    remote = Reranker(server=url).load()
    assert remote.score(QUERY, DOCUMENTS) == pytest.approx(expected(models), abs=1e-6)
    local_rank = models[0].rank(QUERY, DOCUMENTS, top_n=2)
    assert [i for i, _ in remote.rank(QUERY, DOCUMENTS, top_n=2)] == [i for i, _ in local_rank]


def test_search_and_index_match_the_python_api(url, models):
    reranker, store = models
    for options in ({}, {"retrieval": "dense", "fetch_k": 10}, {"retrieval": "bm25"}):
        local = Pipeline(store, reranker, top_n=4, **options).search("break out of a loop")
        remote = RemotePipeline(url, top_n=4, **options).search("break out of a loop")
        assert [hit.id for hit in remote] == [hit.id for hit in local]
        for mine, theirs in zip(remote, local, strict=True):
            assert mine.rerank_score == pytest.approx(theirs.rerank_score, abs=1e-6)
            assert mine.metadata == theirs.metadata and mine.scores == pytest.approx(theirs.scores)
            assert mine.evidence == theirs.evidence is not None  # through the batcher too
    ids = Client(url).index(["Kangaroos carry joeys in pouches."], [{"source": "zoo.txt", "n": 1}])
    hits = RemotePipeline(url, rerank=False).search("kangaroo pouch", where={"source": "zoo.txt"})
    assert [hit.id for hit in hits] == ids and hits[0].metadata == {"source": "zoo.txt", "n": 1}
    assert hits[0].rerank_score is None
    store.delete(ids)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"query": "", "documents": ["a"]}, 422, "query is empty"),
        ({"query": "q", "documents": []}, 422, "documents is empty"),
        ({"query": "q"}, 422, "documents: Field required"),
        ({"query": 3, "documents": ["a"]}, 422, "query: Input should be a valid string"),
        ({"query": "q", "documents": [{"title": "no text"}]}, 422, "text"),
        ({"query": "q", "documents": ["a"], "top_n": 0}, 422, "top_n"),
        ({"query": "q", "documents": ["a"] * 51}, 413, "--max-documents"),
        ({"query": "q", "documents": ["a" * 5001]}, 413, "--max-document-chars"),
        ({"query": "q", "documents": ["a" * 4000] * 50}, 413, "--max-body-mb"),
    ],
)
def test_bad_requests_get_a_clear_4xx(url, body, status, words):
    response = httpx.post(f"{url}/v2/rerank", json=body)
    assert response.status_code == status
    assert words in response.json()["message"]


def test_malformed_bodies_and_unknown_fields(url):
    bad_json = httpx.post(
        f"{url}/v2/rerank", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422 and "JSON" in bad_json.json()["message"]
    typo = httpx.post(f"{url}/v1/search", json={"query": "q", "topn": 3})
    assert typo.status_code == 422 and "topn" in typo.json()["message"]
    bad_setting = httpx.post(f"{url}/v1/search", json={"query": "q", "weights": {"dense": 1}})
    assert bad_setting.status_code == 422 and "weights" in bad_setting.json()["message"]
    assert httpx.get(f"{url}/health").json()["status"] == "alive"  # still serving


def test_client_errors_name_the_problem(url):
    with pytest.raises(ValueError, match="query is empty"):
        Client(url).rerank(" ", DOCUMENTS)
    with pytest.raises(ValueError, match="--max-documents"):
        Client(url).rerank(QUERY, ["a"] * 51)
    with pytest.raises(ServerError, match="is `crossrank serve` running"):
        Client("http://127.0.0.1:9").rerank(QUERY, DOCUMENTS)
    with pytest.raises(ValueError, match="server URL"):
        Reranker(server="localhost:8080")


def test_an_api_key_guards_every_endpoint_but_health(locked_url, models):
    assert httpx.get(f"{locked_url}/health").status_code == 200
    assert httpx.get(f"{locked_url}/ready").status_code in (200, 503)  # never 401
    body = {"query": QUERY, "documents": DOCUMENTS}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        for path, method in [("/v2/rerank", "POST"), ("/v1/search", "POST"), ("/metrics", "GET")]:
            response = httpx.request(method, f"{locked_url}{path}", json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert "API key" in response.json()["message"]
    with pytest.raises(ServerError, match="CROSSRANK_API_KEY"):
        Client(locked_url).rerank(QUERY, DOCUMENTS)
    assert Client(locked_url, api_key=KEY).rerank(QUERY, DOCUMENTS) == pytest.approx(
        expected(models), abs=1e-6
    )
    sdk = cohere.ClientV2(api_key=KEY, base_url=locked_url)
    assert len(sdk.rerank(model="any", query=QUERY, documents=DOCUMENTS).results) == 4


def test_metrics_count_requests_pairs_and_latency(url):
    Client(url).rerank(QUERY, DOCUMENTS)
    httpx.post(f"{url}/v2/rerank", json={"query": "", "documents": ["a"]})
    text = httpx.get(f"{url}/metrics").text
    assert 'crossrank_requests_total{endpoint="/v2/rerank",status="200"}' in text
    assert 'crossrank_requests_total{endpoint="/v2/rerank",status="422"}' in text
    pairs = next(line for line in text.splitlines() if line.startswith("crossrank_pairs_scored_"))
    assert float(pairs.split()[-1]) >= len(DOCUMENTS)
    assert 'crossrank_request_seconds_bucket{endpoint="/v2/rerank",le="+Inf"}' in text
    assert "crossrank_queue_depth 0.0" in text
    Client(url).search(QUERY)  # each stage of a search has its own latency histogram
    text = httpx.get(f"{url}/metrics").text
    for stage in ("search", "hybrid", "dense", "embed_query", "bm25", "rerank"):
        assert f'crossrank_stage_seconds_count{{stage="{stage}"}}' in text


@pytest.mark.slow
def test_cli_serve_ask_server_and_graceful_shutdown(
    tmp_path, tiny_reranker_path, tiny_encoder_path, sample_corpus, crossrank, free_port,
    wait_ready,
):  # fmt: skip
    db = str(tmp_path / "db")
    index = crossrank("index", str(sample_corpus), "--db", db, "--model", tiny_encoder_path)
    assert index.returncode == 0, index.stderr
    port = free_port()
    env = {**os.environ, "CROSSRANK_API_KEY": KEY}
    server = subprocess.Popen(
        [sys.executable, "-m", "crossrank.cli", "serve", "--port", str(port), "--db", db,
         "--model", tiny_encoder_path, "--reranker", tiny_reranker_path, "--precision", "fp32"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server)
        asked = crossrank("ask", "leave a loop early", "--server", url, "--json", env=env)
        assert asked.returncode == 0, asked.stderr
        payload = json.loads(asked.stdout)
        local = crossrank(
            "ask", "leave a loop early", "--db", db, "--model", tiny_encoder_path,
            "--reranker", tiny_reranker_path, "--precision", "fp32", "--json",
        )  # fmt: skip
        assert [h["id"] for h in payload["hits"]] == [
            h["id"] for h in json.loads(local.stdout)["hits"]
        ]
        assert payload["reranked"] is True
        # The context is built here, from the server's hits: the same as a local one.
        contexts = [
            json.loads(crossrank("ask", *where, "--context", "150", "--json", env=env).stdout)
            for where in (
                ["leave a loop early", "--server", url],
                ["leave a loop early", "--db", db, "--model", tiny_encoder_path,
                 "--reranker", tiny_reranker_path, "--precision", "fp32"],
            )
        ]  # fmt: skip
        assert contexts[0]["context"]["text"] == contexts[1]["context"]["text"]
        assert contexts[0]["context"]["passages"]
        refused = crossrank("ask", "q", "--server", url, env={"CROSSRANK_API_KEY": "no"})
        assert refused.returncode == 2 and "refused the API key" in refused.stderr
        # SIGTERM while a long request is in flight: it is answered, then the server exits.
        result: dict[str, httpx.Response] = {}
        long = {"query": QUERY, "documents": DOCUMENTS * 250}
        headers = {"Authorization": f"Bearer {KEY}"}

        def post() -> None:
            result["r"] = httpx.post(f"{url}/v2/rerank", json=long, headers=headers, timeout=120)
            result["at"] = time.monotonic()  # type: ignore[assignment]

        worker = threading.Thread(target=post)
        worker.start()
        time.sleep(0.5)
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        worker.join()
        assert result["at"] > signalled  # type: ignore[operator]  # still in flight then
        assert result["r"].status_code == 200 and len(result["r"].json()["results"]) == 1000
        # uvicorn exits by re-raising the signal it handled, as a terminated process should.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.kill()
        server.wait()


def test_cli_serve_refuses_a_model_it_cannot_load(tmp_path, crossrank):
    bad = crossrank("serve", "--db", str(tmp_path / "db"), "--reranker", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "nope' does not exist" in bad.stderr


EVIL = 'Loops end with break. <script>document.title="pwned"</script><img src=x onerror="1">'


@pytest.fixture(scope="module")
def page_url(served_models, serving, tiny_encoder_path):
    """A server with the page, over a small store holding a chunk of hostile markup."""
    import uuid

    from crossrank import Encoder, Store

    store = Store(collection=f"p{uuid.uuid4().hex[:12]}", in_memory=True,
                  encoder=Encoder(tiny_encoder_path, device="cpu"))  # fmt: skip
    store.add_texts([EVIL, *DOCUMENTS], [{"source": f"doc{i}.md"} for i in range(5)])
    with serving(create_app(served_models[0], store, api_key=KEY)) as url:
        yield url


def test_the_page_shows_each_stage_escaped_and_behind_the_key(page_url):
    assert httpx.get(page_url).status_code == 401
    assert httpx.get(page_url).headers["WWW-Authenticate"].startswith("Basic")
    auth = ("anyone", KEY)  # a browser's prompt: the key as the password
    assert httpx.get(page_url, auth=("anyone", "wrong")).status_code == 401
    form = httpx.get(page_url, auth=auth)
    assert form.status_code == 200 and '<input name="q"' in form.text
    page = httpx.get(page_url, params={"q": "how do loops end? <b>"}, auth=auth).text
    for stage in ("search", "hybrid", "dense", "embed_query", "bm25", "rerank", "context"):
        assert f">{stage}</td>" in page
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "how do loops end? &lt;b&gt;" in page
    assert "<pre>[1] " in page and ">moved</th>" in page
    assert "<mark>" in page and "</mark>" in page  # the long passage's best window
    # The API itself still wants the bearer key.
    assert httpx.post(f"{page_url}/v1/search", json={"query": "x"}, auth=auth).status_code == 401


def test_the_page_in_a_real_headless_chromium(page_url, tmp_path):
    import shutil
    from urllib.parse import quote

    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    host = page_url.removeprefix("http://")
    url = f"http://anyone:{KEY}@{host}/?q={quote('how do loops end?')}"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1280,1400"]  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>crossrank: how do loops end?</title>" in dom.stdout  # no script ran
    assert "&lt;script&gt;document.title" in dom.stdout and "<img" not in dom.stdout
    assert "Each hit at each stage" in dom.stdout and dom.stdout.count("<tr>") > 10
    shot = tmp_path / "page.png"
    done = subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert done.returncode == 0 and shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
