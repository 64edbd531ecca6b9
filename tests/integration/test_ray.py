"""crossrank.ray on a local Ray cluster (2 CPUs) against a real ``chroma run`` server: it
writes the collection ``crossrank index`` writes, incrementally, through killed drivers and
workers, and refuses bad input before writing anything."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from crossrank import Encoder, Store, StoreError
from crossrank.collection import WRITTEN_KEY
from crossrank.ingest import chunk_document
from crossrank.ray import index as ray_index
from crossrank.readers import read

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

QUERIES = ["raise an exception", "loop over a sequence", "import a module", "lambda"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory, start_chroma):
    server, port = start_chroma(tmp_path_factory.mktemp("ray-chroma"))
    yield port
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module, as the issue asks: ``ray.init(num_cpus=2)``."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _store(port: int, encoder_path: str, name: str | None = None) -> Store:
    return Store(
        collection=name or f"r{uuid.uuid4().hex[:10]}",
        encoder=Encoder(encoder_path, device="cpu"),
        host="127.0.0.1",
        port=port,
    )


def _contents(store: Store) -> dict[str, tuple]:
    """Each record as ``id: (text, metadata less its write time, vector)``."""
    found = store.collection.get(include=["documents", "metadatas", "embeddings"], decode=False)
    contents = {}
    for id_, text, meta, vector in zip(
        found["ids"], found["documents"], found["metadatas"], found["embeddings"], strict=True
    ):
        assert meta[WRITTEN_KEY] > 0  # every record carries its write stamp
        rest = {k: v for k, v in meta.items() if k != WRITTEN_KEY}
        contents[id_] = (text, rest, np.asarray(vector, dtype=np.float32))
    return contents


def _assert_same(ours: Store, theirs: Store) -> None:
    """The same ids, texts and metadata, vectors within 1e-5, the same keyword hits."""
    a, b = _contents(ours), _contents(theirs)
    assert a.keys() == b.keys() and a
    for id_ in a:
        assert a[id_][:2] == b[id_][:2]
        np.testing.assert_allclose(a[id_][2], b[id_][2], atol=1e-5)
    assert _schema(ours) == _schema(theirs)
    for query in QUERIES:
        ours_hits = [(h.id, h.text) for h in ours.bm25.search(query, 5)]
        assert ours_hits == [(h.id, h.text) for h in theirs.bm25.search(query, 5)]
        assert ours_hits


def _schema(store: Store) -> dict:
    """The collection's metadata less what changes with every write."""
    found = store.client.get_collection(store.connection.collection).metadata
    return {k: v for k, v in found.items() if k not in ("crossrank:version", "crossrank:deleted")}


@pytest.fixture
def corpus(sample_corpus: Path, tmp_path: Path) -> Path:
    """The sample corpus, a Markdown file with sections, and a file no reader can use."""
    out = tmp_path / "corpus"
    shutil.copytree(sample_corpus, out)
    (out / "guide.md").write_text(
        "# Guide\n\n## Install\n\nRun pip install crossrank. " * 5
        + "\n\n## Use\n\nIndex a folder, then ask it questions. " * 5
    )
    (out / "broken.txt").write_bytes(b"\xff\xfe not UTF-8 \x00\x01")
    return out


def test_same_collection_as_crossrank_index(
    cluster, chroma_port: int, tiny_encoder_path: str, corpus: Path, caplog, crossrank
):
    ours, theirs = _store(chroma_port, tiny_encoder_path), _store(chroma_port, tiny_encoder_path)
    with caplog.at_level("WARNING", logger="crossrank"):
        report = ray_index([corpus], store=ours, workers=2, chunk_size=48)
    assert "broken.txt" in caplog.text  # the unreadable file is named, the rest indexed
    expected = theirs.index([corpus], chunk_size=48)
    assert report == expected and report.files == 9 and report.embedded == report.chunks
    _assert_same(ours, theirs)
    assert str(corpus / "broken.txt") not in {m[1]["source"] for m in _contents(ours).values()}

    # Incremental: a changed, a deleted and a new file; the rerun matches crossrank index's.
    ours.bm25.search("lambda", 3)  # a keyword index built before the change follows it
    (corpus / "lambda.txt").write_text("Lambda forms were rewritten. " * 30)
    (corpus / "try.txt").unlink()
    (corpus / "new.txt").write_text("A new file about generators and yield. " * 30)
    # (the rerun through the CLI: `crossrank index DIR --chroma URL --ray --workers 1`)
    done = crossrank("index", str(corpus), "--chroma", f"http://127.0.0.1:{chroma_port}",
                     "--collection", ours.connection.collection, "--model", tiny_encoder_path,
                     "--chunk-size", "48", "--quiet", "--ray", "--workers", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = theirs.index([corpus], chunk_size=48)
    assert expected.removed > 0 and 0 < expected.embedded < expected.chunks
    assert done.stdout.startswith(
        f"indexed {expected.files} files: {expected.chunks} chunks, {expected.embedded} "
        f"embedded, {expected.removed} stale removed; {expected.chunks} chunks in collection"
    )
    _assert_same(ours, theirs)


def test_dataset_of_documents(cluster, chroma_port: int, tiny_encoder_path: str):
    from pydoc_data.topics import topics

    store = _store(chroma_port, tiny_encoder_path)
    rows = [{"text": topics[n], "source": f"topics/{n}", "lang": "en"} for n in ("for", "try")]
    rows.append({"text": "  ", "source": "topics/empty", "lang": "en"})
    report = ray_index(ray.data.from_items(rows), store=store, chunk_size=48)
    tokenizer = store.encoder.model.tokenizer  # type: ignore[attr-defined]
    expected = [
        c for r in rows[:2] for c in chunk_document(r["source"], r["text"], tokenizer, 48, 32)
    ]
    assert report.files == 2 and report.chunks == report.embedded == len(expected)
    stored = _contents(store)
    assert set(stored) == {c.id for c in expected}
    for chunk in expected:
        assert stored[chunk.id][0] == chunk.text
        assert stored[chunk.id][1] == {**chunk.metadata, "lang": "en"}

    with pytest.raises(ValueError, match="'source'"):
        ray_index(ray.data.from_items([{"text": "x"}]), store=store)
    with pytest.raises(ValueError, match="chunk_index"):
        ray_index(
            ray.data.from_items([{"text": "x", "source": "s", "chunk_index": 1}]), store=store
        )
    assert store.count() == len(expected)


def test_bad_input_is_refused_before_any_work(
    chroma_port: int, tiny_encoder_path: str, corpus: Path, tmp_path: Path, crossrank
):
    # Ray not installed: the error names the extra, and nothing is written.
    store = _store(chroma_port, tiny_encoder_path)
    with patch.dict("sys.modules", {"ray": None}):
        with pytest.raises(ImportError, match=r'pip install "crossrank\[ray\]"'):
            ray_index([corpus], store=store)
        url = f"http://127.0.0.1:{chroma_port}"
        done = crossrank("index", str(corpus), "--chroma", url, "--collection",
                         store.connection.collection, "--model", tiny_encoder_path, "--ray")  # fmt: skip
        assert done.returncode == 1 and "crossrank[ray]" in done.stderr
    assert not store.collection.exists()

    # An embedded database: workers on other machines cannot write a local folder.
    db = tmp_path / "db"
    done = crossrank("index", str(corpus), "--db", str(db), "--model", tiny_encoder_path, "--ray")
    assert done.returncode == 2 and "--chroma" in done.stderr and "--db" in done.stderr
    assert not db.exists()
    for embedded in (Store(db, encoder=Encoder(tiny_encoder_path)),
                     Store(encoder=Encoder(tiny_encoder_path), in_memory=True)):  # fmt: skip
        with pytest.raises(ValueError, match="chroma run"):
            ray_index([corpus], store=embedded)
        assert not embedded.collection.exists()
    done = crossrank("index", str(corpus), "--db", str(db), "--workers", "2")
    assert done.returncode == 2 and "only with --ray" in done.stderr
    done = crossrank("index", "--ray", str(corpus), "--chroma", f"http://127.0.0.1:{chroma_port}")
    assert done.returncode == 2 and "put --ray after the paths" in done.stderr

    # An unreachable Chroma server: refused before any work (even before the paths are
    # listed: a missing path would fail next).
    with pytest.raises(StoreError, match="Chroma server"):
        ray_index([tmp_path / "missing"], store=_store(_free_port(), tiny_encoder_path))

    # Bad arguments and paths, each named.
    with pytest.raises(ValueError, match="workers"):
        ray_index([corpus], store=store, workers=0)
    with pytest.raises(ValueError, match="chunk_overlap"):
        ray_index([corpus], store=store, chunk_size=16, chunk_overlap=16)
    with pytest.raises(Exception, match="no such file"):
        ray_index([tmp_path / "missing"], store=store)
    assert not store.collection.exists()


@pytest.fixture
def big_corpus(tmp_path: Path) -> Path:
    """Enough small chunks that a job takes seconds: time to kill it midway."""
    from pydoc_data.topics import topics

    out = tmp_path / "big"
    out.mkdir()
    for name in sorted(topics)[:25]:  # about 2,000 chunks of 16 tokens: 8 worker calls
        (out / f"{name}.txt").write_text(topics[name])
    return out


def _expected_ids(store: Store, corpus: Path) -> set[str]:
    """The ids ``crossrank index`` gives the corpus's chunks (its own steps, nothing embedded)."""
    tokenizer = store.encoder.model.tokenizer  # type: ignore[attr-defined]
    return {
        chunk.id
        for path in sorted(corpus.resolve().iterdir())
        for chunk in chunk_document(str(path), read(path).text, tokenizer, 16, 4)
    }


def _wait_for_some(store: Store, process_done, more_than: int) -> int:
    deadline = time.monotonic() + 120
    while (count := store.count()) <= more_than:
        assert not process_done() and time.monotonic() < deadline, "no chunk was written"
        time.sleep(0.05)
    return count


def test_killed_driver_and_killed_worker(
    cluster: str, chroma_port: int, tiny_encoder_path: str, big_corpus: Path
):
    """A driver killed with ``kill -9`` midway, then a rerun whose one worker is killed
    midway (Ray restarts it and retries its batch): complete, nothing duplicated."""
    import psutil

    store = _store(chroma_port, tiny_encoder_path)
    script = (
        "import sys, ray; from crossrank import Encoder, Store; from crossrank.ray import index;"
        "ray.init(address=sys.argv[1], log_to_driver=False);"
        "store = Store(collection=sys.argv[2], encoder=Encoder(sys.argv[3], device='cpu'),"
        " host='127.0.0.1', port=int(sys.argv[4]));"
        "index([sys.argv[5]], store=store, chunk_size=16, chunk_overlap=4)"
    )
    args = [cluster, store.connection.collection, tiny_encoder_path, str(chroma_port)]
    driver = subprocess.Popen(
        [sys.executable, "-c", script, *args, str(big_corpus)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_some(store, lambda: driver.poll() is not None, 0)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    time.sleep(1)  # the killed job's last write, if one was under way, lands
    after_driver = store.count()

    outcome: dict = {}

    def rerun() -> None:
        try:
            outcome["report"] = ray_index([big_corpus], store=store, chunk_size=16, chunk_overlap=4)
        except BaseException as error:  # shown by the assertion below
            outcome["error"] = error

    job = threading.Thread(target=rerun)
    job.start()
    _wait_for_some(store, lambda: not job.is_alive(), after_driver)
    workers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any("_EmbedAndWrite" in part for part in p.info["cmdline"] or [])
    ]
    assert workers, "no embedding worker found"
    os.kill(max(workers, key=lambda p: p.create_time()).pid, signal.SIGKILL)
    after_worker = store.count()
    job.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")

    expected = _expected_ids(store, big_corpus)
    assert 0 < after_driver < after_worker < len(expected)  # both were killed midway
    report = outcome["report"]
    assert report.chunks == len(expected) and 0 < report.embedded <= len(expected) - after_driver
    assert set(_contents(store)) == expected and store.count() == len(expected)
