import json

import pytest

from crossrank.metadata import ENCODED, from_chroma, record_text, to_chroma

EVERYTHING = {
    "title": "Guide",
    "page": 3,
    "score": 0.5,
    "draft": False,
    "tags": ["a", "b"],
    "owner": None,
    "extra": {"nested": [1, {"x": None}]},
    "empty": [],
    "mixed": [1, "a"],
}


def test_metadata_comes_back_exactly_as_given():
    stored = to_chroma(EVERYTHING)
    assert stored is not None
    assert stored["tags"] == ["a", "b"] and stored["page"] == 3  # stored natively
    assert stored["owner"] == "null" and json.loads(stored[ENCODED]) == [
        "owner",
        "extra",
        "empty",
        "mixed",
    ]
    assert from_chroma(stored) == EVERYTHING
    assert from_chroma(to_chroma({})) == {} == from_chroma(None)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"crossrank:json": "x"}, "keys are crossrank's own"),
        ({"": 1}, "keys must be non-empty strings"),
        ({"when": object()}, "'when': object cannot be stored"),
        ({"ratio": float("nan")}, None),  # a float Chroma stores as it is
    ],
)
def test_values_chroma_cannot_store_get_a_clear_rule(metadata, message):
    if message is None:
        assert to_chroma(metadata) == metadata
        return
    with pytest.raises(ValueError, match=message):
        to_chroma(metadata)


def test_llama_index_nodes_are_decoded():
    node = {"text": "Paris is in France.", "metadata": {"city": "Paris", "n": 1}}
    stored = {
        "_node_content": json.dumps(node),
        "_node_type": "TextNode",
        "city": "Paris",
        "n": 1,
        "document_id": "d1",
        "doc_id": "d1",
        "ref_doc_id": "d1",
    }
    assert from_chroma(stored) == {"city": "Paris", "n": 1}
    assert record_text(None, stored) == "Paris is in France."
    assert record_text("stored text", stored) == "stored text"
