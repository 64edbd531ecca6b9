import pytest

from crossrank import Pipeline, Reranker, RetrievalSettings, Store
from crossrank.fusion import reciprocal_rank
from crossrank.hit import Chunk
from crossrank.ingest import chunk_id

TEXTS = [
    f"note {i}: {topic}"
    for i, topic in enumerate(
        [
            "rivers flow",
            "cats purr",
            "ships sail",
            "rain falls",
            "owls hoot",
            "bees buzz",
            "fire burns",
        ]
    )
]


@pytest.fixture
def filled(memory_store: Store) -> Store:
    memory_store.add(
        [Chunk(chunk_id("n.txt", i, t), t, "n.txt", i, 0, len(t)) for i, t in enumerate(TEXTS)]
    )
    return memory_store


def test_without_reranker_it_is_retrieval_order(filled: Store):
    hits = Pipeline(filled, top_n=3).search("cats purr")
    assert [h.id for h in hits] == [h.id for h in Pipeline(filled).retrieve("cats purr", 3)]
    assert all(h.rerank_score is None for h in hits)


def test_retrieve_then_rerank(filled: Store, tiny_reranker_path: str):
    reranker = Reranker(tiny_reranker_path)
    hits = Pipeline(filled, reranker, fetch_k=6, top_n=3, retrieval="dense").search("cats purr")
    candidates = filled.search("cats purr", k=6)
    expected = reranker.rerank("cats purr", candidates, top_n=3)
    assert [(h.id, h.rerank_score, h.retrieval_score) for h in hits] == [
        (h.id, h.rerank_score, h.retrieval_score) for h in expected
    ]
    assert len(hits) == 3 and all(type(h.rerank_score) is float for h in hits)


def test_filters_reach_the_store(filled: Store, tiny_reranker_path: str):
    pipeline = Pipeline(filled, Reranker(tiny_reranker_path), top_n=10)
    hits = pipeline.search("animals", where_document={"$contains": "ships"})
    assert [h.text for h in hits] == ["note 2: ships sail"]
    hits = pipeline.search("animals", where={"chunk_index": {"$in": [1, 4]}})
    assert sorted(h.text for h in hits) == ["note 1: cats purr", "note 4: owls hoot"]


def test_without_reranker_it_cuts_the_same_candidates(filled: Store):
    pipeline = Pipeline(filled, fetch_k=6, top_n=2, retrieval="hybrid")
    assert pipeline.search("cats purr") == pipeline.retrieve("cats purr", 6)[:2]
    assert len(pipeline.search("cats purr", top_n=4)) == 4  # per call, as the adapters do


def test_settings_object_or_fields(filled: Store):
    settings = RetrievalSettings(retrieval="bm25", fetch_k=4)
    assert Pipeline(filled, settings=settings).settings == settings
    assert Pipeline(filled, settings=settings, mmr=0.5).settings.mmr == 0.5
    assert Pipeline(filled, fusion="rrf").settings.fusion == "rrf"


def test_bad_settings_are_rejected(filled: Store):
    with pytest.raises(ValueError, match="fetch_k"):
        Pipeline(filled, fetch_k=0)
    with pytest.raises(ValueError, match="top_n"):
        Pipeline(filled, top_n=-1)


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
