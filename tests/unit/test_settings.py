import pytest

from crossrank import Connection, RerankerSettings, RetrievalSettings
from crossrank.settings import DEFAULT_WEIGHTS, take


def test_defaults_are_public_and_frozen():
    settings = RetrievalSettings()
    assert (settings.retrieval, settings.fusion, settings.fetch_k, settings.mmr) == (
        "hybrid",
        "convex",
        50,
        None,
    )
    assert settings.weights == DEFAULT_WEIGHTS == {"dense": 0.9, "bm25": 0.1}
    with pytest.raises(AttributeError):
        settings.fetch_k = 3  # type: ignore[misc]
    assert RerankerSettings().model == "cross-encoder/ms-marco-MiniLM-L-6-v2"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retrieval": "sparse"}, "retrieval must be one of dense, bm25, hybrid"),
        ({"fusion": "max"}, "fusion must be one of convex, rrf"),
        ({"weights": {"dense": 1.0}}, "weights must give dense and bm25"),
        ({"weights": {"dense": 1.0, "bm25": -1.0}}, "weights must give dense and bm25"),
        ({"fetch_k": 0}, "fetch_k must be at least 1"),
        ({"mmr": 1.5}, r"mmr \(the MMR lambda\) must be in \[0, 1\]"),
    ],
)
def test_bad_retrieval_settings_fail_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        RetrievalSettings(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"batch_tokens": 0}, "batch_tokens must be at least 1"),
        ({"max_length": 8}, "max_length must be at least 16"),
        ({"window_overlap": -1}, "window_overlap must be >= 0"),
        ({"precision": "int8"}, "precision must be one of auto, fp32, bf16, fp16"),
        ({"retrieval_weight": 2.0}, r"retrieval_weight must be in \[0, 1\]"),
    ],
)
def test_bad_reranker_settings_fail_at_construction(options, message):
    with pytest.raises(ValueError, match=message):
        RerankerSettings(**options)


@pytest.mark.parametrize("name", ["ab", "bad name!!", "-leading", "trailing-", "a..b"])
def test_collection_names_follow_chromas_rule(name):
    with pytest.raises(ValueError, match="is not valid: Chroma needs 3-512 characters"):
        Connection(collection=name)


def test_connection_from_url():
    connection = Connection.from_url("http://chroma.internal:9000", collection="docs")
    assert (connection.host, connection.port, connection.collection) == (
        "chroma.internal",
        9000,
        "docs",
    )
    assert Connection.from_url("localhost").port == 8000 and not Connection.from_url("h").persistent
    assert Connection().persistent and not Connection(in_memory=True).persistent
    assert "the Chroma server chroma.internal:9000" in connection.describe()
    with pytest.raises(ValueError, match="expected http://HOST"):
        Connection.from_url("ftp://x")
    with pytest.raises(ValueError, match="port must be in 1-65535"):
        Connection(host="x", port=0)


def test_take_routes_fields_and_leaves_the_rest():
    options = {"retrieval": "bm25", "fetch_k": 7, "k": 3}
    assert take(RetrievalSettings, options) == RetrievalSettings(retrieval="bm25", fetch_k=7)
    assert options == {"k": 3}
