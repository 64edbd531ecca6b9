"""A real Chroma server (``chroma run`` from the chromadb package) on a loopback port."""

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crossrank import Chunk, Encoder, Store, StoreError
from crossrank.ingest import chunk_id

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory, start_chroma):
    server, port = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    try:
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_index_and_search_through_a_server(chroma_server: int, tiny_encoder_path: str):
    store = Store(
        collection=f"srv{uuid.uuid4().hex[:8]}",
        encoder=Encoder(tiny_encoder_path),
        host="127.0.0.1",
        port=chroma_server,
        headers={"Authorization": "Bearer not-checked-by-this-server"},
    )
    texts = ["ships sail on the sea", "cats purr on the sofa", "rain falls in the hills"]
    chunks = [Chunk(chunk_id("s.txt", i, t), t, "s.txt", i, 0, len(t)) for i, t in enumerate(texts)]
    assert store.add(chunks) == 3
    assert store.add(chunks) == 0
    hits = store.search("cats purr on the sofa", k=2)
    assert hits[0].text == "cats purr on the sofa"
    assert hits[0].retrieval_score == pytest.approx(1.0, abs=1e-5)


@pytest.fixture
def token_proxy(chroma_server: int):
    """A loopback proxy in front of the server that demands a bearer token, as deployments do."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.headers.get("Authorization") != "Bearer s3cret":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            upstream = http.client.HTTPConnection("127.0.0.1", chroma_server, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in {"transfer-encoding", "content-length", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_auth_header_reaches_the_server(token_proxy: int, tiny_encoder_path: str):
    def store(headers):
        return Store(
            collection=f"auth{uuid.uuid4().hex[:8]}",
            encoder=Encoder(tiny_encoder_path),
            host="127.0.0.1",
            port=token_proxy,
            headers=headers,
        )

    authorized = store({"Authorization": "Bearer s3cret"})
    chunk = Chunk(chunk_id("a.txt", 0, "guarded text"), "guarded text", "a.txt", 0, 0, 12)
    assert authorized.add([chunk]) == 1
    assert authorized.search("guarded text", k=1)[0].id == chunk.id
    with pytest.raises(StoreError, match="cannot use the Chroma server"):
        store({"Authorization": "Bearer wrong"}).count()


def test_a_server_that_stops_mid_session_is_a_clear_error(
    tmp_path: Path, tiny_encoder_path: str, start_chroma
):
    server, port = start_chroma(tmp_path / "server")
    try:
        store = Store(
            collection="gone", encoder=Encoder(tiny_encoder_path), host="127.0.0.1", port=port
        )
        text = "ships sail on the sea"
        store.add([Chunk(chunk_id("s.txt", 0, text), text, "s.txt", 0, 0, len(text))])
        assert len(store.search("ships", k=1)) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    with pytest.raises(StoreError, match=f"lost the Chroma server 127.0.0.1:{port}"):
        store.search("ships", k=1)
    with pytest.raises(StoreError, match="is it still running"):
        store.count()


def test_every_command_reaches_a_server(
    crossrank, chroma_server: int, sample_corpus: Path, tiny_encoder_path: str
):
    common = ["--chroma", f"http://127.0.0.1:{chroma_server}", "--collection", "cli-docs"]
    common += ["--model", tiny_encoder_path]
    done = crossrank("index", str(sample_corpus), *common, "--quiet")
    assert done.returncode == 0, done.stderr
    assert f"in collection 'cli-docs' at the Chroma server 127.0.0.1:{chroma_server}" in done.stdout
    asked = crossrank("ask", "How do I leave a loop early?", *common, "--no-rerank", "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["hits"]
    env = {"CROSSRANK_CHROMA": f"127.0.0.1:{chroma_server}"}
    missing = crossrank("ask", "x", "--collection", "nope", "--model", tiny_encoder_path, env=env)
    assert missing.returncode == 1 and "is empty or missing" in missing.stderr


def test_langchain_vector_store_on_a_server(chroma_server: int):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from langchain_crossrank import CrossRankVectorStore

    options = {"host": "127.0.0.1", "port": chroma_server, "collection": "lc-server"}
    store = CrossRankVectorStore.from_texts(
        ["ships sail", "cats purr"], DeterministicFakeEmbedding(size=8), [{"n": 1}, {"n": 2}],
        **options,
    )  # fmt: skip
    again = CrossRankVectorStore(DeterministicFakeEmbedding(size=8), **options)
    [doc] = again.similarity_search("cats purr", k=1)
    assert (doc.page_content, doc.metadata) == ("cats purr", {"n": 2})
    assert store.get_by_ids([doc.id])[0].id == doc.id


def test_a_second_process_writes_are_seen_on_the_next_query(
    chroma_server: int, tiny_encoder_path: str, bm25_spy
):
    """Each process keeps its BM25 index in memory and catches up from the server."""
    where = {"collection": f"kw{uuid.uuid4().hex[:8]}", "host": "127.0.0.1", "port": chroma_server}
    store = Store(encoder=Encoder(tiny_encoder_path), **where)
    store.add_texts(["The zebrafish swims in the river."], ids=["z"])
    assert len(store.bm25.search("zebrafish", 5)) == 1
    script = (
        "import sys; from crossrank import Encoder, Store\n"
        f"store = Store(encoder=Encoder({tiny_encoder_path!r}), **{where!r})\n"
        "store.add_texts(['Axolotls live in lakes.'], ids=['a'])\n"
        "store.delete(['z'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [hit.text for hit in store.bm25.search("axolotls", 5)] == ["Axolotls live in lakes."]
    assert store.bm25.search("zebrafish", 5) == []
    assert bm25_spy["rebuilds"] == [1] and bm25_spy["changed"] == [2]  # read: 1 new, 1 deleted


def _keyword_store(port: int, collection: str, encoder: str, folder: Path) -> Store:
    where = {"collection": collection, "host": "127.0.0.1", "port": port}
    return Store(encoder=Encoder(encoder), keyword_dir=folder, **where)


def test_a_keyword_dir_opens_as_saved_and_reads_only_what_changed(
    chroma_server: int, tiny_encoder_path: str, bm25_spy, tmp_path: Path
):
    """A replica's restart: its keyword index is opened from --keyword-dir, not rebuilt."""
    name = f"kd{uuid.uuid4().hex[:8]}"
    first = _keyword_store(chroma_server, name, tiny_encoder_path, tmp_path / "kw")
    first.add_texts(["The zebrafish swims in the river.", "Otters eat fish."], ids=["z", "o"])
    assert [hit.id for hit in first.bm25.search("zebrafish", 5)] == ["z"]
    assert bm25_spy["rebuilds"] == [1] and (tmp_path / "kw" / name / "meta.json").exists()

    restarted = _keyword_store(chroma_server, name, tiny_encoder_path, tmp_path / "kw")
    assert [hit.id for hit in restarted.bm25.search("otters", 5)] == ["o"]
    assert bm25_spy["rebuilds"] == [1]  # opened as saved
    first.add_texts(["Axolotls live in lakes."], ids=["a"])
    again = _keyword_store(chroma_server, name, tiny_encoder_path, tmp_path / "kw")
    assert [hit.id for hit in again.bm25.search("axolotls", 5)] == ["a"]
    assert bm25_spy["rebuilds"] == [1] and bm25_spy["changed"] == [1]  # read the one new record


def test_a_damaged_or_foreign_keyword_dir_is_rebuilt_not_trusted(
    chroma_server: int, tiny_encoder_path: str, bm25_spy, tmp_path: Path
):
    names = [f"kd{uuid.uuid4().hex[:8]}" for _ in range(2)]
    stores = [_keyword_store(chroma_server, n, tiny_encoder_path, tmp_path / "kw") for n in names]
    stores[0].add_texts(["The zebrafish swims in the river."], ids=["z"])
    stores[1].add_texts(["Axolotls live in lakes."], ids=["a"])
    for store in stores:
        store.bm25.catch_up()
    assert bm25_spy["rebuilds"] == [1, 1]
    # The first collection's index, copied over the second's: another collection's state.
    shutil.rmtree(tmp_path / "kw" / names[1])
    shutil.copytree(tmp_path / "kw" / names[0], tmp_path / "kw" / names[1])
    second = _keyword_store(chroma_server, names[1], tiny_encoder_path, tmp_path / "kw")
    assert second.bm25.search("zebrafish", 5) == []
    assert [hit.id for hit in second.bm25.search("axolotls", 5)] == ["a"]
    assert bm25_spy["rebuilds"] == [1, 1, 1]
    # A damaged index: unreadable metadata.
    (tmp_path / "kw" / names[0] / "meta.json").write_text("{not json")
    first = _keyword_store(chroma_server, names[0], tiny_encoder_path, tmp_path / "kw")
    assert [hit.id for hit in first.bm25.search("zebrafish", 5)] == ["z"]
    assert bm25_spy["rebuilds"] == [1, 1, 1, 1]


def test_ready_follows_the_chroma_server_down_and_back(
    tmp_path: Path, tiny_encoder_path: str, tiny_reranker_path: str, serving, start_chroma
):
    """/ready says 503 naming the store while Chroma is stopped or hangs, 200 once it is back;
    /health stays 200 (alive) throughout, and no request waits past the stated limits."""
    import httpx

    from crossrank import Reranker
    from crossrank.server import create_app
    from crossrank.server.readiness import CHECK_TIMEOUT_S

    chroma, port = start_chroma(tmp_path / "chroma")
    try:
        store = _keyword_store(port, "ready", tiny_encoder_path, tmp_path / "kw")
        store.add_texts(["The zebrafish swims in the river.", "Otters eat fish."])
        app = create_app(Reranker(tiny_reranker_path), store)
        with serving(app) as url:
            _wait_for(url, 200)
            search = {"query": "zebrafish", "top_n": 1}
            before = httpx.post(f"{url}/v1/search", json=search)
            assert before.status_code == 200 and before.json()["hits"]

            chroma.terminate()
            chroma.wait(30)
            down = httpx.get(f"{url}/ready")
            assert down.status_code == 503 and "store" in down.json()["not_ready"]
            assert "is it still running?" in down.json()["not_ready"]["store"]
            assert httpx.get(f"{url}/health").status_code == 200
            assert httpx.post(f"{url}/v1/search", json=search, timeout=30).status_code == 503

            chroma, _ = start_chroma(tmp_path / "chroma", port)
            _wait_for(url, 200)
            assert httpx.post(f"{url}/v1/search", json=search).json() == before.json()

            chroma.send_signal(signal.SIGSTOP)  # a server that hangs: it accepts, never answers
            try:
                start = time.monotonic()
                hung = httpx.get(f"{url}/ready", timeout=30)
                assert hung.status_code == 503
                assert "no answer in" in hung.json()["not_ready"]["store"]
                assert time.monotonic() - start < CHECK_TIMEOUT_S + 5
            finally:
                chroma.send_signal(signal.SIGCONT)
            _wait_for(url, 200)
    finally:
        chroma.terminate()
        chroma.wait(30)


def _wait_for(url: str, status: int, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while (answer := httpx.get(f"{url}/ready", timeout=30)).status_code != status:
        assert time.monotonic() < deadline, answer.json()
        time.sleep(0.2)


def test_sigterm_during_a_catch_up_leaves_a_consistent_keyword_dir(
    chroma_server: int, tiny_encoder_path: str, tmp_path: Path
):
    """A replica stopped mid-update (SIGTERM, before its commit) keeps the last committed
    index; the next start reads the rest."""
    name = f"kd{uuid.uuid4().hex[:8]}"
    store = _keyword_store(chroma_server, name, tiny_encoder_path, tmp_path / "kw")
    store.add_texts(["The zebrafish swims in the river."], ids=["z"])
    store.bm25.catch_up()
    where = {"collection": name, "host": "127.0.0.1", "port": chroma_server}
    script = (
        "import os, signal\n"
        "from crossrank import Encoder, Store\n"
        "from crossrank.bm25 import BM25Index\n"
        f"store = Store(encoder=Encoder({tiny_encoder_path!r}), keyword_dir={str(tmp_path / 'kw')!r},"
        f" **{where!r})\n"
        "store.add_texts(['Axolotls live in lakes.', 'Capybaras bathe.'], ids=['a', 'c'])\n"
        "BM25Index._save_state = lambda *a: os.kill(os.getpid(), signal.SIGTERM)\n"
        "store.bm25.catch_up()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGTERM, done.stderr
    restarted = _keyword_store(chroma_server, name, tiny_encoder_path, tmp_path / "kw")
    found = {hit.id for hit in restarted.bm25.search("zebrafish axolotls capybaras", 9)}
    assert found == {"z", "a", "c"}  # whatever Chroma holds, the index holds


def test_calls_to_a_chroma_server_have_time_limits(chroma_server: int, tiny_encoder_path: str):
    """chromadb's HTTP client waits forever by default; a hung server must not hang us."""
    from crossrank.collection import CONNECT_TIMEOUT_S, SERVER_TIMEOUT_S

    store = Store(encoder=Encoder(tiny_encoder_path), host="127.0.0.1", port=chroma_server)
    timeout = store.client._server._session.timeout
    assert (timeout.read, timeout.connect) == (SERVER_TIMEOUT_S, CONNECT_TIMEOUT_S)
