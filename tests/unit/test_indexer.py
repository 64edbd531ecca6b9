"""The indexer: batches, incremental re-indexing, pruning of deleted files."""

import uuid
from pathlib import Path

from crossrank import Encoder, Store


def test_batches_respect_the_client_maximum(make_chunks, memory_store: Store, monkeypatch):
    from chromadb.api.models.Collection import Collection

    sizes: list[int] = []
    upsert = Collection.upsert

    def recording_upsert(self, **kwargs):
        sizes.append(len(kwargs["ids"]))
        return upsert(self, **kwargs)

    monkeypatch.setattr(memory_store.client, "get_max_batch_size", lambda: 3)
    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    memory_store.add(make_chunks(8))
    assert sizes == [3, 3, 2]
    assert memory_store.count() == 8


def test_reindexing_embeds_only_what_changed(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha text about rivers. " * 40)
    (docs / "b.md").write_text("# Bravo\n\nNotes about mountains. " * 40)
    store = Store(
        tmp_path / "db", f"c{uuid.uuid4().hex[:8]}", Encoder(tiny_encoder_path, max_length=32)
    )
    first = store.index([docs], chunk_overlap=8)
    assert first.files == 2 and first.embedded == first.chunks > 2
    again = store.index([docs], chunk_overlap=8)
    assert again.embedded == 0 and again.removed == 0
    assert store.count() == first.chunks

    (docs / "a.txt").write_text("Alpha text, rewritten. " * 10)
    changed = store.index([docs], chunk_overlap=8)
    assert changed.removed > 0 and 0 < changed.embedded < changed.chunks
    assert store.count() == changed.chunks
    sources = {m["source"] for m in store.collection.get(include=["metadatas"])["metadatas"]}
    assert sources == {str((docs / "a.txt").resolve()), str((docs / "b.md").resolve())}


def test_reindexing_a_folder_drops_deleted_files_only(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (docs / name).write_text(f"Text of {name}, long enough to be a chunk. " * 3)
    other = tmp_path / "other.txt"
    other.write_text("A file indexed by name, outside the folder.")
    store = Store(tmp_path / "db", "prune", tiny_encoder_path)
    store.index([docs, other])
    (docs / "b.txt").unlink()
    (docs / "c.txt").write_text("")  # skipped now, but not deleted: keeps its chunks
    kept_other = str(other.resolve())
    other.unlink()  # not inside an indexed folder: left alone
    report = store.index([docs])
    sources = {m["source"] for m in store.collection.get(include=["metadatas"])["metadatas"]}
    assert sources == {str((docs / n).resolve()) for n in ("a.txt", "c.txt")} | {kept_other}
    assert report.removed == 1
