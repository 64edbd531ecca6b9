"""Fusion and MMR on hand-computed cases."""

import numpy as np
import pytest

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
