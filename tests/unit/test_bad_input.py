"""The bad-input matrix: each case gets a specific error or a defined result, and loses nothing.

docs/bad-input.md lists the cases with what each returns.
"""

import logging
import uuid
from pathlib import Path

import pytest
import torch

from crossrank import (
    CollectionMismatchError,
    Encoder,
    Hit,
    IngestError,
    ModelNotFoundError,
    Pipeline,
    Reranker,
    Store,
    StoreError,
)


def _store(tiny_encoder_path: str, path: Path | None = None) -> Store:
    name = f"b{uuid.uuid4().hex[:10]}"
    if path is None:
        return Store(collection=name, encoder=Encoder(tiny_encoder_path), in_memory=True)
    return Store(path, name, Encoder(tiny_encoder_path))


def _folder(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, data in files.items():
        (folder / name.replace("_", ".", 1)).write_bytes(data)
    return folder


GOOD = b"A readable document about rivers and the sea. " * 5


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty_txt", b"", "empty file"),
        ("blank_md", b" \n\t\n", "empty file"),
        ("binary_txt", b"\x00\x01\x02binary\x00", "binary file"),
        ("latin1_txt", "caf\u00e9".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files_are_skipped_and_the_rest_indexed(
    tmp_path, tiny_encoder_path, caplog, name, data, reason
):
    folder = _folder(tmp_path, good_txt=GOOD, **{name: data})
    store = _store(tiny_encoder_path)
    with caplog.at_level(logging.WARNING):
        report = store.index([folder])
    assert report.files == 1 and store.count() == report.chunks > 0
    assert reason in caplog.text


def test_a_folder_holding_only_unusable_files_says_so(tmp_path, tiny_encoder_path):
    folder = _folder(tmp_path, empty_txt=b"", binary_txt=b"\x00")
    with pytest.raises(IngestError, match="none of the 2 files found could be indexed"):
        _store(tiny_encoder_path).index([folder])


def test_dangling_link_is_reported_and_skipped(tmp_path, tiny_encoder_path, caplog):
    folder = _folder(tmp_path, good_txt=GOOD)
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")
    with caplog.at_level(logging.WARNING):
        report = _store(tiny_encoder_path).index([folder])
    assert report.files == 1 and "missing.txt: cannot read (No such file" in caplog.text


def test_huge_file_is_skipped_over_the_limit(tmp_path, tiny_encoder_path, caplog):
    folder = _folder(tmp_path, good_txt=GOOD)
    with (folder / "huge.txt").open("wb") as f:
        f.write(b"word " * (51 * 2**20 // 5))  # 51 MB of text
    with caplog.at_level(logging.WARNING):
        report = _store(tiny_encoder_path).index([folder])
    assert report.files == 1 and "over the 50 MB limit" in caplog.text


def test_empty_and_missing_paths(tmp_path, tiny_encoder_path):
    (tmp_path / "empty").mkdir()
    store = _store(tiny_encoder_path)
    with pytest.raises(IngestError, match="no .* files found"):
        store.index([tmp_path / "empty"])
    with pytest.raises(IngestError, match="no such file or folder"):
        store.index([tmp_path / "nope"])
    assert store.count() == 0


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_queries(tiny_encoder_path, tiny_reranker_path, query):
    store = _store(tiny_encoder_path)
    with pytest.raises(ValueError, match="query is empty"):
        store.search(query)
    with pytest.raises(ValueError, match="query is empty"):
        Reranker(tiny_reranker_path).rerank(query, [Hit("a", "text")])


def test_very_long_query_is_defined(indexed_store, tiny_reranker_path, caplog):
    query = "how do loops end " * 400  # far beyond both models' limits
    hits = indexed_store.search(query, k=5)  # the bi-encoder reads its first max_length tokens
    assert len(hits) == 5
    with caplog.at_level(logging.WARNING):
        reranked = Reranker(tiny_reranker_path).rerank(query, hits)
    assert len(reranked) == 5 and "the reranker reads its first" in caplog.text


def test_k_and_top_n_larger_than_the_corpus(indexed_store, tiny_reranker_path):
    total = indexed_store.count()
    assert len(indexed_store.search("loops", k=total + 100)) == total
    pipeline = Pipeline(indexed_store, Reranker(tiny_reranker_path), fetch_k=5, top_n=50)
    assert len(pipeline.search("loops")) == 50  # fetch_k is raised to top_n


@pytest.mark.parametrize("value", [0, -3])
def test_zero_and_negative_counts(indexed_store, tiny_reranker_path, value):
    with pytest.raises(ValueError, match="k must be at least 1"):
        indexed_store.search("loops", k=value)
    with pytest.raises(ValueError, match="top_n must be at least 1"):
        Reranker(tiny_reranker_path).rerank("loops", [Hit("a", "t")], top_n=value)
    with pytest.raises(ValueError, match="fetch_k must be at least 1"):
        Pipeline(indexed_store, fetch_k=value)


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan")])
def test_threshold_outside_zero_one(tiny_reranker_path, threshold):
    with pytest.raises(ValueError, match="threshold must be in"):
        Reranker(tiny_reranker_path).rerank("q", [Hit("a", "t")], threshold=threshold)


def test_empty_texts_are_scored_not_dropped(tiny_reranker_path):
    ranked = Reranker(tiny_reranker_path).rerank("q", [Hit("a", ""), Hit("b", "text")])
    assert sorted(h.id for h in ranked) == ["a", "b"]
    assert all(0 <= h.rerank_score <= 1 for h in ranked)


def test_nan_scores_from_a_model_raise(tmp_path, tiny_reranker_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_reranker_path)
    with torch.no_grad():
        model.classifier.bias.fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan-ce")
    AutoTokenizer.from_pretrained(tiny_reranker_path).save_pretrained(tmp_path / "nan-ce")
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        Reranker(str(tmp_path / "nan-ce")).rerank("q", [Hit("a", "text")])


def test_model_folder_with_missing_files(tmp_path, tiny_reranker_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((Path(tiny_reranker_path) / "config.json").read_text())
    with pytest.raises(ModelNotFoundError, match="cannot load reranker model"):
        Reranker(str(broken)).load()
    with pytest.raises(ModelNotFoundError, match="cannot load embedding model"):
        Encoder(str(tmp_path)).load()  # a folder with no model in it


def test_unknown_models(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="not a local folder"):
        Encoder("nobody/unknown-encoder").load()
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Reranker("~/no/such/model").load()


def test_collection_mismatch_and_short_name(tmp_path, tiny_encoder_path):
    store = _store(tiny_encoder_path, tmp_path / "db")
    store.index([_folder(tmp_path, good_txt=GOOD)])
    with pytest.raises(CollectionMismatchError, match="built with model"):
        Store(tmp_path / "db", store.connection.collection).count()
    with pytest.raises(ValueError, match="is not valid: Chroma needs 3-512 characters"):
        Store(tmp_path / "db", "ab")


def test_database_path_that_is_a_file(tmp_path, tiny_encoder_path):
    path = tmp_path / "db"
    path.write_text("not a database")
    with pytest.raises(StoreError, match="is a file, not a database folder"):
        _store(tiny_encoder_path, path)
    assert path.read_text() == "not a database"  # left as it was


def test_read_only_database(tmp_path, tiny_encoder_path, caplog):
    import subprocess

    db = tmp_path / "db"
    store = _store(tiny_encoder_path, db)
    store.index([_folder(tmp_path, good_txt=GOOD)])
    store.bm25.search("rivers", 3)  # the BM25 index is saved...
    store.add_texts(["Mountains rise."])  # ...and now out of date
    # Root writes through file permissions, so make the folder a read-only mount instead.
    if subprocess.run(["mount", "--bind", str(db), str(db)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(db)], check=True)
        reader = Store(db, store.connection.collection, Encoder(tiny_encoder_path))
        assert len(reader.search("rivers", k=3)) == 2  # reading still works
        with caplog.at_level("WARNING", logger="crossrank.bm25"):
            for _ in range(2):  # BM25 is built in memory; the failed save is said once
                assert len(reader.bm25.search("rivers", 3)) == 1
                assert len(reader.bm25.search("mountains", 3)) == 1
        assert caplog.text.count("cannot save the BM25 index") == 1
        (tmp_path / "docs" / "new.txt").write_bytes(b"A second document, about mountains.")
        with pytest.raises(StoreError, match="cannot write to collection"):
            reader.index([tmp_path / "docs"])
    finally:
        # Lazy: this process's Chroma client still holds the database files open.
        subprocess.run(["umount", "--lazy", str(db)], check=True)
    assert store.count() == 2  # nothing lost
