"""crossrank.ray without Ray installed, and its refusals that need no cluster (the rest runs
on a real Ray cluster in tests/integration/test_ray.py)."""

from pathlib import Path
from unittest.mock import patch

import pytest

from crossrank import Store
from crossrank.ray import index


def test_missing_ray_names_the_extra(memory_store: Store, sample_corpus: Path):
    with patch.dict("sys.modules", {"ray": None}):
        with pytest.raises(ImportError, match=r'pip install "crossrank\[ray\]"'):
            index([sample_corpus], store=memory_store)
    assert not memory_store.collection.exists()


def test_a_store_workers_cannot_write_is_refused(memory_store: Store, sample_corpus: Path):
    pytest.importorskip("ray")
    with pytest.raises(ValueError, match="cannot write memory: serve the collection"):
        index([sample_corpus], store=memory_store)
    assert not memory_store.collection.exists()
