"""Interrupted indexing, concurrency, and a reader beside a writer, with real processes."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pydoc_data.topics import topics

import pytest

from crossrank import Encoder, Pipeline, Reranker, Store
from crossrank.ingest import chunk_document, iter_documents

pytestmark = pytest.mark.slow


def _corpus(folder: Path, n: int | None = None) -> Path:
    folder.mkdir()
    for name in sorted(topics)[:n]:
        (folder / f"{name}.txt").write_text(topics[name], encoding="utf-8")
    return folder


def _index_command(corpus: Path, db: Path, model: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "crossrank.cli",
        "index",
        str(corpus),
        "--db",
        str(db),
        "--collection",
        "docs",
        "--model",
        model,
    ]


def _expected_ids(corpus: Path, model: str) -> set[str]:
    encoder = Encoder(model)
    return {
        chunk.id
        for source, extracted in iter_documents([corpus])
        for chunk in chunk_document(
            source, extracted.text, encoder.model.tokenizer, encoder.chunk_tokens, 32
        )
    }


def test_kill_9_midway_then_rerun_completes_the_index(tmp_path, tiny_encoder_path):
    corpus, db = _corpus(tmp_path / "docs"), tmp_path / "db"
    writer = subprocess.Popen(
        _index_command(corpus, db, tiny_encoder_path), stderr=subprocess.PIPE, text=True
    )
    seen = ""
    while writer.poll() is None:  # the progress bar says when the first batches have landed
        seen += writer.stderr.read(1)
        if "512/" in seen:
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait()
    assert writer.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    expected = _expected_ids(corpus, tiny_encoder_path)
    partial = Store(db, "docs", Encoder(tiny_encoder_path)).count()
    assert 0 < partial < len(expected)

    done = subprocess.run(
        _index_command(corpus, db, tiny_encoder_path) + ["--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    store = Store(db, "docs", Encoder(tiny_encoder_path))
    stored = store.collection.get(include=[])["ids"]
    assert len(stored) == len(set(stored)) == len(expected)  # no duplicates, nothing lost
    assert set(stored) == expected


def test_threads_and_tasks_match_sequential_results(indexed_store, tiny_reranker_path):
    pipeline = Pipeline(indexed_store, Reranker(tiny_reranker_path), fetch_k=10, top_n=3)
    questions = ["loops", "exceptions", "imports", "lambda", "assert", "break", "try", "for"]

    def answer(question: str) -> list[tuple[str, float]]:
        return [(h.id, h.rerank_score) for h in pipeline.search(question)]

    def assert_same(results: list, expected: list) -> None:
        # Concurrent requests share batches of other shapes, which moves a score in its
        # last digits on some CPUs: the same ids in the same order, scores within 1e-6.
        assert [[i for i, _ in hits] for hits in results] == [
            [i for i, _ in hits] for hits in expected
        ]
        for hits, wanted in zip(results, expected, strict=True):
            assert [s for _, s in hits] == pytest.approx([s for _, s in wanted], abs=1e-6)

    sequential = [answer(q) for q in questions]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert_same(list(pool.map(answer, questions * 2)), sequential * 2)

    async def tasks() -> list:
        return await asyncio.gather(*(asyncio.to_thread(answer, q) for q in questions))

    assert_same(asyncio.run(tasks()), sequential)


def test_a_reader_queries_while_a_writer_indexes(tmp_path, tiny_encoder_path):
    corpus, db = _corpus(tmp_path / "docs"), tmp_path / "db"
    first = tmp_path / "first"
    first.mkdir()
    (first / "seed.txt").write_text("A seed document so the collection exists.")
    Store(db, "docs", Encoder(tiny_encoder_path)).index([first])

    writer = subprocess.Popen(
        _index_command(corpus, db, tiny_encoder_path) + ["--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = Store(db, "docs", Encoder(tiny_encoder_path))
    errors: list[BaseException] = []
    queries = 0
    while writer.poll() is None:
        try:
            assert reader.search("seed document", k=3)
            queries += 1
        except BaseException as error:  # noqa: BLE001 - any failure is the finding
            errors.append(error)
        time.sleep(0.05)
    assert writer.wait() == 0, writer.stderr.read()
    assert errors == [] and queries > 0
    assert reader.count() == len(_expected_ids(corpus, tiny_encoder_path)) + 1


def test_threads_share_one_model(tiny_reranker_path):
    models = []
    barrier = threading.Barrier(4)

    def load() -> None:
        barrier.wait()
        models.append(
            Reranker(tiny_reranker_path, max_length=100).model
        )  # a key no other test loads

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in models}) == 1
