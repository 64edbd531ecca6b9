"""Settings of each stage, declared and validated once, shared by the CLI and the adapters.

Each is a frozen dataclass whose defaults are public: :class:`Connection` (where the Chroma
collection lives), :class:`RetrievalSettings` (the first stage) and
:class:`RerankerSettings` (the cross-encoder). A bad value fails when the object is made,
never at the first query.

Example:
    >>> RetrievalSettings(retrieval="dense", fetch_k=100).fetch_k
    100
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlparse

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
DEFAULT_DB = ".crossrank"
DEFAULT_COLLECTION = "crossrank"

Retrieval = Literal["dense", "bm25", "hybrid"]
Fusion = Literal["convex", "rrf"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Order = Literal["relevance", "edges"]
RETRIEVALS: tuple[str, ...] = get_args(Retrieval)
FUSIONS: tuple[str, ...] = get_args(Fusion)
PRECISIONS: tuple[str, ...] = get_args(Precision)
ORDERS: tuple[str, ...] = get_args(Order)
# Chosen on one half of the dev set's queries, reported on the other
# (docs/explanation/benchmarks.md).
DEFAULT_RETRIEVAL: Retrieval = "hybrid"
DEFAULT_FUSION: Fusion = "convex"
DEFAULT_WEIGHTS: Mapping[str, float] = {"dense": 0.9, "bm25": 0.1}

# Chroma's rule, checked here so that a bad name gets crossrank's own message.
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")

S = TypeVar("S")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise ``ValueError``."""
    _one_of("precision", precision, PRECISIONS)
    return precision


def check_query(query: str) -> str:
    """Return ``query`` unless it is empty or blank, which raises ``ValueError``."""
    if not query or not query.strip():
        raise ValueError("query is empty: pass a question or search text")
    return query


def check_cutoffs(top_n: int | None, threshold: float | None) -> None:
    """Reject a ``top_n`` below 1 or a ``threshold`` outside [0, 1] with a clear message."""
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] (scores are calibrated), got {threshold}")


def check_retrieval_weight(weight: float) -> float:
    """Return ``weight`` if it is in [0, 1], else raise ``ValueError``."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"retrieval_weight must be in [0, 1], got {weight}")
    return weight


def check_collection_name(name: str) -> str:
    """Return ``name`` if Chroma accepts it as a collection name, else raise ``ValueError``."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(
            f"collection name {name!r} is not valid: Chroma needs 3-512 characters from "
            "a-z, A-Z, 0-9, '.', '_' and '-', starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Connection:
    """Where a store's Chroma collection lives: an embedded folder, memory, or a server.

    Attributes:
        path: Folder of the embedded database (ignored with ``host`` or ``in_memory``).
        collection: Collection name (Chroma's rule: 3-512 characters, ``[a-zA-Z0-9._-]``).
        host: Chroma server host; when set, the store talks to that server.
        port: Chroma server port.
        headers: HTTP headers for the server, e.g. ``{"Authorization": "Bearer ..."}``.
        in_memory: Keep everything in memory (nothing written to disk).

    Example:
        >>> Connection.from_url("http://localhost:8000", collection="docs").host
        'localhost'
    """

    path: str | Path = DEFAULT_DB
    collection: str = DEFAULT_COLLECTION
    host: str | None = None
    port: int = 8000
    headers: Mapping[str, str] = field(default_factory=dict)
    in_memory: bool = False

    def __post_init__(self) -> None:
        check_collection_name(self.collection)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1-65535, got {self.port}")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Connection:
        """A server connection from ``http://host:port`` (the port defaults to 8000)."""
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"Chroma server URL {url!r}: expected http://HOST[:PORT]")
        return cls(host=parsed.hostname, port=parsed.port or 8000, **options)

    @property
    def persistent(self) -> bool:
        """Whether this is an embedded database in a folder on this machine."""
        return self.host is None and not self.in_memory

    def describe(self) -> str:
        """Where the collection lives, for messages: ``'docs' at ./db``."""
        where = (
            f"the Chroma server {self.host}:{self.port}"
            if self.host
            else "memory"
            if self.in_memory
            else str(self.path)
        )
        return f"collection {self.collection!r} at {where}"


@dataclass(frozen=True)
class RetrievalSettings:
    """How the first stage finds candidates.

    Attributes:
        retrieval: ``"hybrid"`` (dense and BM25 fused; the default), ``"dense"``
            (bi-encoder: paraphrases) or ``"bm25"`` (exact words: names, error messages).
        fusion: How hybrid fuses: ``"convex"`` (weighted sum of min-max normalized scores,
            the default) or ``"rrf"`` (weighted reciprocal rank).
        weights: Weight of each retriever in hybrid fusion; the default
            ``{"dense": 0.9, "bm25": 0.1}`` was chosen on half of the dev set's queries.
        fetch_k: Candidates retrieved for the reranker.
        mmr: Diversify the candidates by maximal marginal relevance with this lambda
            (1 = relevance only, 0 = diversity only): ``2 * fetch_k`` are retrieved and
            ``fetch_k`` picked; None (default) keeps them as retrieved.
    """

    retrieval: Retrieval = DEFAULT_RETRIEVAL
    fusion: Fusion = DEFAULT_FUSION
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    fetch_k: int = 50
    mmr: float | None = None

    def __post_init__(self) -> None:
        _one_of("retrieval", self.retrieval, RETRIEVALS)
        _one_of("fusion", self.fusion, FUSIONS)
        weights = dict(self.weights or DEFAULT_WEIGHTS)
        if set(weights) != {"dense", "bm25"} or min(weights.values()) < 0:
            raise ValueError(f"weights must give dense and bm25 each a weight >= 0; got {weights}")
        object.__setattr__(self, "weights", weights)
        if self.fetch_k < 1:
            raise ValueError(f"fetch_k must be at least 1, got {self.fetch_k}")
        if self.mmr is not None and not 0.0 <= self.mmr <= 1.0:
            raise ValueError(f"mmr (the MMR lambda) must be in [0, 1], got {self.mmr}")


@dataclass(frozen=True)
class RerankerSettings:
    """How the cross-encoder is loaded and run.

    Attributes:
        model: A CrossEncoder name or local folder.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; None picks cuda, then mps, then cpu.
        batch_size: At most this many query-passage pairs per forward pass.
        batch_tokens: At most this many tokens (padding included) per forward pass.
        max_length: Tokens per pair (window), special tokens, chat template and instruction
            included; None keeps the model's own limit, at most
            :data:`crossrank.reranker.WINDOW_TOKENS` (long-context models read long
            passages in windows of that length).
        window_overlap: Tokens shared by consecutive windows of a long passage.
        precision: ``"fp32"`` (exact), ``"bf16"`` or ``"fp16"`` (fast), or ``"auto"``:
            bf16/fp16 on a GPU, bf16 on a CPU that does bf16 natively, else fp32.
        retrieval_weight: 0 (the default) orders by rerank score alone; above 0, by
            weighted reciprocal-rank fusion of the rerank order (weight ``1 - w``) with the
            order the candidates came in, their retrieval order (weight ``w``).
        prompt: The instruction or prompt the model reads with each pair (Qwen3-Reranker's
            instruction, say); None uses the model's own default, ``""`` none. The name of
            one of the model's saved prompts is taken as that prompt.
        model_kwargs: Extra keyword arguments for ``CrossEncoder`` (``trust_remote_code=True``
            for a model whose code comes with it: refused without).
        server: A ``crossrank serve`` URL (``http://HOST:PORT``): score there, with the
            server's model, instead of loading one here. Its API key, if it has one, comes
            from ``CROSSRANK_API_KEY``.
    """

    model: str = DEFAULT_RERANKER
    device: str | None = None
    batch_size: int = 32
    batch_tokens: int = 4096
    max_length: int | None = None
    window_overlap: int = 64
    precision: Precision = "auto"
    retrieval_weight: float = 0.0
    prompt: str | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    server: str | None = None

    def __post_init__(self) -> None:
        if self.server is not None:
            check_server_url(self.server)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.batch_tokens < 1:
            raise ValueError(f"batch_tokens must be at least 1, got {self.batch_tokens}")
        if self.max_length is not None and self.max_length < 16:
            raise ValueError(f"max_length must be at least 16, got {self.max_length}")
        if self.window_overlap < 0:
            raise ValueError(f"window_overlap must be >= 0, got {self.window_overlap}")
        check_precision(self.precision)
        check_retrieval_weight(self.retrieval_weight)


@dataclass(frozen=True)
class ContextSettings:
    """How :class:`~crossrank.context.ContextBuilder` makes reranked hits into an LLM's context.

    Attributes:
        budget: Tokens the context may take, citation lines included.
        merge: Drop text already in the context (chunk overlaps, near-duplicate chunks) and
            merge chunks adjacent in one document into one passage. False pastes whole
            chunks in rank order, as frameworks do.
        expand: Widen each hit with up to this many neighbouring chunks of its section on
            each side, while the budget allows (needs the store the hits came from).
        order: ``"relevance"`` (best first) or ``"edges"`` (best at both ends, weakest in
            the middle, where long-context models read least).
        relative_cut: Leave out hits scoring below this share of the best hit's score;
            None keeps every hit the budget allows.
        tokenizer: How tokens are counted: None (one token per word and per punctuation
            mark, an approximation of LLM tokenizers), ``"tiktoken:ENCODING"``, or a
            Hugging Face tokenizer's name or folder.
    """

    budget: int = 1024
    merge: bool = True
    expand: int = 0
    order: Order = "relevance"
    relative_cut: float | None = None
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        if self.budget < 16:
            raise ValueError(f"context budget must be at least 16 tokens, got {self.budget}")
        if self.expand < 0:
            raise ValueError(f"expand must be >= 0 chunks, got {self.expand}")
        _one_of("order", self.order, ORDERS)
        if self.relative_cut is not None and not 0.0 < self.relative_cut <= 1.0:
            raise ValueError(f"relative_cut must be in (0, 1], got {self.relative_cut}")
        if self.tokenizer is not None and not self.tokenizer.strip():
            raise ValueError("tokenizer is empty: pass None, tiktoken:NAME or a tokenizer name")


def check_server_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is ``http(s)://HOST[:PORT][/PATH]``."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"server URL {url!r}: expected http://HOST:PORT")
    return url.rstrip("/")


@dataclass(frozen=True)
class ServerLimits:
    """What one request to ``crossrank serve`` may ask; each has a flag that raises it.

    Attributes:
        max_documents: Documents (or texts to index) per request (``--max-documents``).
        max_document_chars: Characters per document (``--max-document-chars``).
        max_body_bytes: Bytes per request body (``--max-body-mb``).
    """

    max_documents: int = 1000
    max_document_chars: int = 100_000
    max_body_bytes: int = 20 * 2**20

    def __post_init__(self) -> None:
        for name in ("max_documents", "max_document_chars", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def take(cls: type[S], options: dict[str, Any]) -> S:
    """Make ``cls`` from the entries of ``options`` named like its fields, removing them.

    The adapters accept the settings' fields as keyword arguments; this routes them, so
    that each setting is declared once, here.
    """
    names = {item.name for item in fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: options.pop(name) for name in list(options) if name in names})


def refuse_unknown(owner: str, given: Collection[str], known: Collection[str]) -> None:
    """Raise ``TypeError`` naming the arguments in ``given`` that ``owner`` does not take
    (and the one meant, where one is close: ``model_name`` -> ``model``).

    The frameworks' components ignore arguments they do not know; a misspelt or guessed
    one (``CrossEncoderReranker(model_name=...)``) would then silently load the default.
    """
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        named.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise TypeError(
        f"{owner} got unexpected arguments: {', '.join(named)}; it takes {', '.join(sorted(known))}"
    )


def take_connection(
    options: dict[str, Any],
    *,
    in_memory_default: bool = False,
    owner: str = "the store",
    known: Collection[str] = (),
) -> Connection:
    """A :class:`Connection` from ``options`` (see :func:`take`); other entries are refused
    (see :func:`refuse_unknown`: ``owner`` takes ``known`` besides the connection's fields).

    With ``in_memory_default``, no ``path`` and no ``host`` means an in-memory store (the
    frameworks' vector stores default to memory, as their Chroma ones do).
    """
    if in_memory_default and "path" not in options and "host" not in options:
        options.setdefault("in_memory", True)
    connection = take(Connection, options)
    refuse_unknown(owner, options, {*known, *(item.name for item in fields(Connection))})
    return connection


__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_DB",
    "DEFAULT_ENCODER",
    "DEFAULT_FUSION",
    "DEFAULT_RERANKER",
    "DEFAULT_RETRIEVAL",
    "DEFAULT_WEIGHTS",
    "FUSIONS",
    "PRECISIONS",
    "RETRIEVALS",
    "ORDERS",
    "Connection",
    "ContextSettings",
    "Fusion",
    "Order",
    "Precision",
    "RerankerSettings",
    "Retrieval",
    "RetrievalSettings",
    "ServerLimits",
    "check_collection_name",
    "check_cutoffs",
    "check_precision",
    "check_query",
    "check_retrieval_weight",
    "check_server_url",
    "take",
    "take_connection",
]
