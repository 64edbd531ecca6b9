"""Property-based tests (hypothesis) for chunking and the ranking arithmetic."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from crossrank._models import bundled_model
from crossrank._spans import token_spans
from crossrank.fusion import RRF_K, convex, reciprocal_rank
from crossrank.reranker import select, token_batches

TOKENIZER = AutoTokenizer.from_pretrained(str(bundled_model()))
WORDS = st.sampled_from(
    [
        "loop",
        "exception",
        "naïve",
        "x",
        "antidisestablishment",
        "3.14",
        "café",
        "—",
        "ünïcode",
        "def",
        "print()",
        "a_b",
        "URL:http://x.org/a?b=c",
        "漢字",
        "🙂",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", "\n", "\n\n", ". ", "! ", ", ", "\t"])
TEXT = st.lists(st.tuples(WORDS, SEPARATORS), max_size=120).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


@settings(max_examples=60, deadline=None)
@given(text=TEXT, size=st.integers(4, 40), overlap_share=st.floats(0, 0.9))
def test_chunks_cover_every_token_and_fit(text, size, overlap_share):
    overlap = int(size * overlap_share)
    spans = token_spans(text, TOKENIZER, size, overlap)
    offsets = TOKENIZER(text, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    assert bool(spans) == bool(offsets)
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip() or not text[start:end].strip()
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
    for token_start, token_end in offsets:  # every character that is part of a token is kept
        assert any(s <= token_start and token_end <= e for s, e in spans)
    for start, end in spans:
        pieces = len(TOKENIZER(text[start:end], add_special_tokens=False)["input_ids"])
        assert pieces <= size + 2  # a word longer than a window may be cut inside it
    if overlap:  # overlapping windows leave no gap at all
        assert all(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


@given(
    scores=st.lists(st.floats(0, 1), max_size=60),
    top_n=st.one_of(st.none(), st.integers(1, 70)),
    threshold=st.one_of(st.none(), st.floats(0, 1)),
)
def test_select_arithmetic(scores, top_n, threshold):
    ranked = select(scores, top_n=top_n, threshold=threshold)
    indices = [i for i, _ in ranked]
    assert len(set(indices)) == len(indices)
    assert all(scores[i] == s for i, s in ranked)
    values = [s for _, s in ranked]
    assert values == sorted(values, reverse=True)
    kept = [s for s in scores if threshold is None or s >= threshold]
    assert len(ranked) == (len(kept) if top_n is None else min(top_n, len(kept)))
    if ranked and len(ranked) < len(kept):  # what was cut by top_n scores no higher
        assert max(sorted(kept, reverse=True)[len(ranked) :]) <= values[-1]
    for (i, a), (j, b) in zip(ranked, ranked[1:], strict=False):
        assert a > b or i < j  # ties keep input order


@pytest.mark.parametrize(("top_n", "threshold"), [(0, None), (None, 1.5), (None, -1.0)])
def test_select_rejects_bad_cutoffs(top_n, threshold):
    with pytest.raises(ValueError):
        select([0.5], top_n=top_n, threshold=threshold)


@given(
    lengths=st.lists(st.integers(1, 600), max_size=80),
    max_tokens=st.integers(1, 5000),
    max_size=st.integers(1, 40),
)
def test_token_batches_cover_everything_within_the_budget(lengths, max_tokens, max_size):
    batches = token_batches(lengths, max_tokens, max_size)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat, reverse=True)  # longest first, so padding stays small
    for batch in batches:
        assert 1 <= len(batch) <= max_size
        cost = len(batch) * max(lengths[i] for i in batch)
        assert cost <= max_tokens or len(batch) == 1  # one over-long item goes alone


IDS = st.lists(st.sampled_from([f"c{i}" for i in range(12)]), max_size=12)
WEIGHT = st.floats(0, 1)


@given(dense=IDS, bm25=IDS, dense_weight=WEIGHT, bm25_weight=WEIGHT)
def test_reciprocal_rank_fusion_arithmetic(dense, bm25, dense_weight, bm25_weight):
    weights = {"dense": dense_weight, "bm25": bm25_weight}
    fused = reciprocal_rank({"dense": dense, "bm25": bm25}, weights)
    assert set(fused) == set(dense) | set(bm25)  # every id once, merged by id
    for chunk_id, score in fused.items():
        expected = sum(
            weights[name] / (RRF_K + 1 + list(dict.fromkeys(ids)).index(chunk_id))
            for name, ids in (("dense", dense), ("bm25", bm25))
            if chunk_id in ids
        )
        assert score == pytest.approx(expected)
    values = list(fused.values())
    assert values == sorted(values, reverse=True)


@given(
    dense=st.dictionaries(st.sampled_from([f"c{i}" for i in range(12)]), st.floats(-1, 1)),
    bm25=st.dictionaries(st.sampled_from([f"c{i}" for i in range(12)]), st.floats(0, 50)),
    dense_weight=WEIGHT,
)
def test_convex_fusion_stays_within_the_weights(dense, bm25, dense_weight):
    weights = {"dense": dense_weight, "bm25": 1 - dense_weight}
    fused = convex({"dense": dense, "bm25": bm25}, weights)
    assert set(fused) == set(dense) | set(bm25)
    for chunk_id, score in fused.items():
        ceiling = sum(
            weights[name] for name, found in (("dense", dense), ("bm25", bm25)) if chunk_id in found
        )
        assert -1e-9 <= score <= ceiling + 1e-9
    if dense and bm25 and dense_weight == 1:  # all weight on dense: dense order is kept
        ranked = [chunk_id for chunk_id in fused if chunk_id in dense]
        for above, below in itertools.pairwise(ranked):
            # min-max scaling may round near-equal scores to one value: a tie, in any order
            assert dense[above] >= dense[below] or fused[above] == fused[below]
