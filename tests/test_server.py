"""A real Chroma server (``chroma run`` from the chromadb package) on a loopback port."""

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crossrank import Chunk, Encoder, Store
from crossrank.ingest import chunk_id

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("chroma server did not start") from None
                time.sleep(0.2)
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
