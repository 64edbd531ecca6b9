"""BM25 kept in sync with the store, fusion arithmetic, MMR and hybrid retrieval."""

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from crossrank import Encoder, Pipeline, Store
from crossrank.bm25 import BM25Index
from crossrank.fusion import convex, mmr, reciprocal_rank


def test_reciprocal_rank_fusion_on_a_hand_computed_case():
    fused = reciprocal_rank(
        {"dense": ["a", "b", "c"], "bm25": ["c", "d", "a", "a"]},  # "a" twice: counted once
        {"dense": 0.7, "bm25": 0.3},
        k=60,
    )
    expected = {
        "a": 0.7 / 61 + 0.3 / 63,
        "c": 0.7 / 63 + 0.3 / 61,
        "b": 0.7 / 62,
        "d": 0.3 / 62,
    }
    assert fused == pytest.approx(expected)
    assert list(fused) == ["a", "c", "b", "d"]  # best first: 0.01624, 0.01603, 0.01129, 0.00484


def test_convex_fusion_on_a_hand_computed_case():
    fused = convex(
        {"dense": {"a": 0.9, "b": 0.5, "c": 0.7}, "bm25": {"c": 12.0, "d": 4.0, "a": 8.0}},
        {"dense": 0.5, "bm25": 0.5},
    )
    # min-max: dense a=1, b=0, c=0.5; bm25 c=1, d=0, a=0.5; missing counts 0
    assert fused == pytest.approx({"a": 0.75, "c": 0.75, "b": 0.0, "d": 0.0})
    assert set(fused) == {"a", "b", "c", "d"}


def test_mmr_skips_a_near_duplicate():
    query = np.array([1.0, 0.0])
    candidates = np.array([[1.0, 0.0], [0.999, 0.0447], [0.8, 0.6]])
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    relevance = candidates @ query
    assert mmr(relevance, candidates, 2, lambda_mult=1.0) == [0, 1]  # relevance only
    # second pick, lambda 0.3: duplicate 0.3*0.999 - 0.7*0.999 = -0.40 < 0.3*0.8 - 0.7*0.8 = -0.32
    assert mmr(relevance, candidates, 2, lambda_mult=0.3) == [0, 2]
    with pytest.raises(ValueError, match="lambda"):
        mmr(relevance, candidates, 2, lambda_mult=1.5)


def _bm25_ids(store: Store, query: str) -> list[str]:
    return [hit.id for hit in store.bm25.search(query, 5)]


def test_bm25_follows_add_reindex_and_delete(tmp_path: Path, tiny_encoder_path: str):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    (docs / "b.txt").write_text("Kangaroos hop across the outback.")
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    store.index([docs])
    [hit] = store.bm25.search("zebrafish", 5)
    assert hit.metadata["source"].endswith("a.txt") and hit.scores == {"bm25": hit.retrieval_score}

    (docs / "a.txt").write_text("The axolotl lives in a lake.")  # re-index a changed file
    store.index([docs])
    assert store.bm25.search("zebrafish", 5) == []
    [hit] = store.bm25.search("axolotl", 5)
    assert hit.text == "The axolotl lives in a lake."

    store.delete([hit.id])
    assert store.bm25.search("axolotl", 5) == []
    assert len(store.bm25.search("kangaroos", 5)) == 1

    (docs / "b.txt").unlink()  # a file deleted from an indexed folder
    report = store.index([docs])
    assert report.removed == 1 and store.bm25.search("kangaroos", 5) == []


def test_saved_index_is_reused_and_other_writers_invalidate_it(
    tmp_path: Path, tiny_encoder_path: str, monkeypatch
):
    encoder = Encoder(tiny_encoder_path, device="cpu")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    first = Store(tmp_path / "db", "bm25", encoder)
    first.index([docs])
    first.bm25.search("zebrafish", 5)
    saved = json.loads((tmp_path / "db" / "bm25" / "bm25" / "crossrank.json").read_text())
    assert saved["ids"] == first.collection.get(include=[])["ids"]

    builds = []
    original = BM25Index._build
    monkeypatch.setattr(BM25Index, "_build", lambda self, v: builds.append(1) or original(self, v))
    reader = Store(tmp_path / "db", "bm25", encoder)  # another process, in effect
    assert len(reader.bm25.search("zebrafish", 5)) == 1 and builds == []  # loaded from disk

    writer = Store(tmp_path / "db", "bm25", encoder)
    (docs / "a.txt").write_text("The zebrafish swims. The axolotl lives in a lake.")
    writer.index([docs])  # same chunk count, new content
    assert [h.text for h in reader.bm25.search("axolotl", 5)] == [
        "The zebrafish swims. The axolotl lives in a lake."
    ]
    assert builds == [1]


def test_a_corrupt_saved_index_is_rebuilt(tmp_path: Path, tiny_encoder_path: str):
    store = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The zebrafish swims in the river.")
    store.index([docs])
    store.bm25.search("river", 5)
    folder = tmp_path / "db" / "bm25" / "bm25"
    (folder / "crossrank.json").write_text("{not json")
    fresh = Store(tmp_path / "db", "bm25", Encoder(tiny_encoder_path, device="cpu"))
    assert len(fresh.bm25.search("river", 5)) == 1
    shutil.rmtree(folder)
    assert len(Store(tmp_path / "db", "bm25", store.encoder).bm25.search("river", 5)) == 1


def test_bm25_filters_and_empty_stores(indexed_store, sample_corpus: Path):
    source = str((sample_corpus / "lambda.txt").resolve())
    hits = indexed_store.bm25.search("expression", 5, where={"source": source})
    assert hits and {hit.metadata["source"] for hit in hits} == {source}
    empty = Store(
        collection=f"e{uuid.uuid4().hex[:8]}", encoder=indexed_store.encoder, in_memory=True
    )
    assert empty.bm25.search("anything", 5) == []
    with pytest.raises(ValueError, match="query is empty"):
        indexed_store.bm25.search("  ", 5)


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
def test_hybrid_merges_by_id_and_keeps_both_scores(indexed_store, fusion):
    question = "How do I leave a loop early with break?"
    pipeline = Pipeline(indexed_store, retrieval="hybrid", fusion=fusion)
    hits = pipeline.retrieve(question, 10)
    ids = [hit.id for hit in hits]
    assert len(ids) == len(set(ids)) == 10
    dense = {h.id: h.retrieval_score for h in indexed_store.search(question, 10)}
    lexical = {h.id: h.retrieval_score for h in indexed_store.bm25.search(question, 10)}
    assert set(dense) & set(lexical)  # the test needs overlap to show the merge
    for hit in hits:
        assert hit.scores == {
            name: found[hit.id]
            for name, found in (("dense", dense), ("bm25", lexical))
            if hit.id in found
        }
        assert type(hit.retrieval_score) is float
    scores = [hit.retrieval_score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    if fusion == "rrf":
        expected = reciprocal_rank(
            {"dense": list(dense), "bm25": list(lexical)}, pipeline.settings.weights
        )
        assert ids == list(expected)[:10]


def test_weights_pick_one_side(indexed_store):
    question = "lambda expression"
    only_dense = Pipeline(indexed_store, fusion="rrf", weights={"dense": 1, "bm25": 0})
    only_bm25 = Pipeline(indexed_store, fusion="rrf", weights={"dense": 0, "bm25": 1})
    assert [h.id for h in only_dense.retrieve(question, 5)] == [
        h.id for h in indexed_store.search(question, 5)
    ]
    assert [h.id for h in only_bm25.retrieve(question, 3)] == [
        h.id for h in indexed_store.bm25.search(question, 3)
    ]


def test_mmr_diversifies_the_candidates(indexed_store):
    question = "How do I leave a loop early?"
    plain = Pipeline(indexed_store, retrieval="dense").retrieve(question, 5)
    diverse = Pipeline(indexed_store, retrieval="dense", mmr=0.0).retrieve(question, 5)
    relevance = Pipeline(indexed_store, retrieval="dense", mmr=1.0).retrieve(question, 5)
    assert [h.id for h in relevance] == [h.id for h in plain]
    assert len({h.id for h in diverse}) == 5 and diverse[0].id == plain[0].id
    pool = indexed_store.search(question, 10)
    assert {h.id for h in diverse} <= {h.id for h in pool}
    hybrid = Pipeline(indexed_store, retrieval="hybrid").retrieve(question, 10)[:5]  # same pool
    hybrid_mmr = Pipeline(indexed_store, retrieval="hybrid", mmr=1.0).retrieve(question, 5)
    assert [h.id for h in hybrid_mmr] == [h.id for h in hybrid]  # relevance is the fused order


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"retrieval": "sparse"}, "retrieval must be one of"),
        ({"fusion": "max"}, "fusion must be one of"),
        ({"weights": {"dense": 1}}, "weights must give"),
        ({"weights": {"dense": 1, "bm25": -1}}, "weights must give"),
        ({"mmr": 2.0}, "mmr"),
    ],
)
def test_bad_retrieval_options_are_refused(memory_store, option, message):
    with pytest.raises(ValueError, match=message):
        Pipeline(memory_store, **option)
