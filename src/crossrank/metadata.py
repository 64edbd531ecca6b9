"""Record metadata in and out of Chroma: the user's metadata comes back exactly as given.

Chroma stores strings, numbers, booleans and lists of one of those. Any other value
(``None``, a dict, an empty or mixed list) is stored as JSON text, and the record notes
which keys it encoded under the reserved key ``crossrank:json``, so that reading decodes
them again. Keys starting with ``crossrank:`` are crossrank's and are refused in user
metadata; they never come back. Records that LlamaIndex's ``ChromaVectorStore`` wrote keep
the node in ``_node_content`` JSON: reading them gives the node's own text and metadata.

Example:
    >>> stored = to_chroma({"tags": ["a", "b"], "owner": None, "page": 3})
    >>> from_chroma(stored)
    {'tags': ['a', 'b'], 'owner': None, 'page': 3}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

RESERVED = "crossrank:"
ENCODED = "crossrank:json"
_SCALARS = (str, int, float, bool)


def to_chroma(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as Chroma can store it; see the module rule.

    Raises:
        ValueError: A key is not a non-empty string, uses the reserved ``crossrank:``
            prefix, or a value cannot be written as JSON.
    """
    stored: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key or key.startswith(RESERVED):
            raise ValueError(
                f"metadata key {key!r}: keys must be non-empty strings, and {RESERVED!r} "
                "keys are crossrank's own"
            )
        if isinstance(value, _SCALARS) or _plain_list(value):
            stored[key] = value
            continue
        try:
            stored[key] = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"metadata {key!r}: {type(value).__name__} cannot be stored ({error}); use "
                "strings, numbers, booleans, None, lists and dicts of them"
            ) from error
        encoded.append(key)
    if encoded or not stored:
        # Also for no metadata: Chroma keeps a record's old metadata when given none.
        stored[ENCODED] = json.dumps(encoded)
    return stored


def _plain_list(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    kinds = {type(item) for item in value}
    return len(kinds) == 1 and next(iter(kinds)) in _SCALARS


def from_chroma(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The user's metadata from a stored record (see :func:`to_chroma`)."""
    stored = dict(stored or {})
    if "_node_content" in stored:  # a LlamaIndex node: its metadata, without LlamaIndex's keys
        return dict(_node(stored).get("metadata") or {})
    encoded = json.loads(stored.get(ENCODED, "[]"))
    return {
        key: json.loads(value) if key in encoded else value
        for key, value in stored.items()
        if not key.startswith(RESERVED)
    }


def record_text(text: str | None, stored: Mapping[str, Any] | None) -> str:
    """A record's text: its document, or for a LlamaIndex node without one, the node's."""
    if text is None and stored and "_node_content" in stored:
        return str(_node(stored).get("text") or "")
    return text or ""


def _node(stored: Mapping[str, Any]) -> dict[str, Any]:
    try:
        node = json.loads(stored["_node_content"])
    except (TypeError, ValueError):
        return {}
    return node if isinstance(node, dict) else {}
