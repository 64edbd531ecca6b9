import subprocess
import sys

import crossrank


def test_all_is_pinned():
    assert crossrank.__all__ == [
        "Chunk",
        "CollectionMismatchError",
        "Connection",
        "Context",
        "ContextBuilder",
        "ContextSettings",
        "CrossRankError",
        "Encoder",
        "FunctionEncoder",
        "Hit",
        "IndexReport",
        "IngestError",
        "ModelNotFoundError",
        "Pipeline",
        "Reranker",
        "RerankerSettings",
        "RetrievalSettings",
        "Store",
        "StoreError",
    ]


def test_import_leaves_frameworks_out():
    code = (
        "import sys, crossrank, crossrank.cli\n"
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'llama_index'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hit_score_prefers_rerank_and_serializes():
    hit = crossrank.Hit("a", "text", {"source": "s.txt"}, retrieval_score=0.4)
    assert hit.score == 0.4
    reranked = crossrank.Hit("a", "text", {"source": "s.txt"}, 0.4, 0.9)
    assert reranked.score == 0.9
    assert reranked.to_dict()["source"] == "s.txt"
