"""Exceptions raised by crossrank. All derive from :class:`CrossRankError`."""

from __future__ import annotations


class CrossRankError(Exception):
    """Base class for every error crossrank raises on purpose."""


class ModelNotFoundError(CrossRankError, OSError):
    """A model name or path could not be resolved to loadable weights."""


class CollectionMismatchError(CrossRankError, ValueError):
    """A Chroma collection was built with another embedding model or dimension."""


class IngestError(CrossRankError, ValueError):
    """A file or folder could not be read or holds nothing to index."""


class StoreError(CrossRankError, OSError):
    """The Chroma database cannot be opened or written."""


class ServerError(CrossRankError, OSError):
    """A crossrank server could not be reached, refused the API key, or failed."""
