"""The bi-encoder: embeds queries and passages separately, for fast vector search."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import _models, engine
from .errors import ModelNotFoundError
from .settings import DEFAULT_ENCODER, check_precision

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PAD_TO = 16  # tokens: each batch is padded to a multiple of this, so the model sees a few
# shapes (see crossrank.reranker.LENGTHS)
# The default chunk size is the model's limit, capped here: long-context models (8k tokens)
# would otherwise make a whole document one chunk. On the dev set 384 retrieved as well as
# 510 or better (docs: Models), and a chunk this long fits in one default reranker window
# (crossrank.reranker.WINDOW_TOKENS) beside its query.
CHUNK_TOKENS = 384


class Encoder(_models.LazyModel["SentenceTransformer"]):
    """A sentence-transformers bi-encoder producing normalized embeddings.

    The model loads lazily on first use and is shared by every ``Encoder`` in the process
    with the same name, device and options. The last ``query_cache`` query embeddings are
    kept, so a repeated query is not embedded again.

    Queries are embedded as sentence-transformers' ``encode_query`` embeds them and passages
    as ``encode_document`` does: with the model's own query and document prompts (e5's
    ``"query: "``/``"passage: "``, bge's search instruction...), saved in its
    ``config_sentence_transformers.json``. A collection records the prompts it was written
    with, and refuses an encoder with other prompts.

    Args:
        model_name: A sentence-transformers model name or local folder. The default,
            all-MiniLM-L6-v2, comes from the Hugging Face cache, else offline from the
            ``crossrank[minilm]`` extra, else the hub.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; None picks cuda, then mps, then cpu.
        batch_size: Passages embedded per forward pass.
        max_length: Token limit per passage; None keeps the model's ``max_seq_length``.
        precision: ``"fp32"`` (exact), ``"bf16"`` or ``"fp16"`` (fast), or ``"auto"``:
            bf16/fp16 on a GPU, fp32 on a CPU (stored embeddings stay exact).
        query_cache: How many query embeddings to keep (0 turns the cache off).
        query_prompt: Text put before each query; None uses the model's own ``"query"``
            prompt, ``""`` none. The name of one of the model's saved prompts is taken as
            that prompt.
        document_prompt: Text put before each passage; None uses the model's own
            ``"document"``, ``"passage"`` or ``"corpus"`` prompt (the first it has).
        truncate_dim: Keep the first this many dimensions (Matryoshka models); None all.
        model_kwargs: Extra keyword arguments for ``SentenceTransformer``.

    Example:
        >>> encoder = Encoder()
        >>> encoder.embed(["a passage"]).shape
        (1, 384)
    """

    def __init__(
        self,
        model_name: str = DEFAULT_ENCODER,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        precision: str = "auto",
        query_cache: int = 1024,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        truncate_dim: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if query_cache < 0:
            raise ValueError(f"query_cache must be >= 0, got {query_cache}")
        if truncate_dim is not None and truncate_dim < 1:
            raise ValueError(f"truncate_dim must be at least 1, got {truncate_dim}")
        self.model_name = model_name
        self.device = device
        self.batch_size = batch_size
        self._max_length = max_length
        self.precision = check_precision(precision)
        self.query_cache = query_cache
        self.model_kwargs = dict(model_kwargs or {})
        self._prompts = {"query": query_prompt, "document": document_prompt}
        self.truncate_dim = truncate_dim
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def _key(self, device: str) -> tuple[Any, ...]:
        precision = _models.auto_precision(self.precision, device, "encoder")
        return ("encoder", self.model_name, device, precision, self._max_length, self.model_kwargs)

    def _load(self, device: str) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        precision = _models.auto_precision(self.precision, device, "encoder")
        target, local_only = _models.resolve(self.model_name, "embedding")
        options = dict(self.model_kwargs)
        if target == str(_models.bundled_model()):
            options.setdefault("model_kwargs", {"use_safetensors": True})
        try:
            model = SentenceTransformer(
                target, device=device, local_files_only=local_only, **options
            )
        except (OSError, ValueError) as error:
            raise _models.load_error("embedding", self.model_name, error) from error
        if self._max_length is not None:
            limit = _models.position_limit(getattr(model[0], "config", None))
            if limit and self._max_length > limit:
                raise ValueError(
                    f"max_length {self._max_length} is more than embedding model "
                    f"{self.model_name!r} reads ({limit} tokens): pass at most {limit}"
                )
            model.max_seq_length = self._max_length
        _models.to_precision(model, precision, device)
        engine.accelerate(model, kind="encoder", precision=precision, device=device)
        return model

    @property
    def dimension(self) -> int:
        """Length of the embedding vectors."""
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"model {self.model_name!r} does not report an embedding dimension")
        if self.truncate_dim is not None:
            if self.truncate_dim > dimension:
                raise ValueError(
                    f"truncate_dim {self.truncate_dim} is more than model {self.model_name!r}'s "
                    f"{dimension} dimensions"
                )
            return self.truncate_dim
        return int(dimension)

    @property
    def prompts(self) -> dict[str, str]:
        """The texts put before queries (``"query"``) and passages (``"document"``), as
        sentence-transformers' ``encode_query`` and ``encode_document`` choose them."""
        saved: dict[str, str] = {k: v or "" for k, v in (self.model.prompts or {}).items()}
        chosen: dict[str, str] = {}
        for role, names in (("query", ("query",)), ("document", ("document", "passage", "corpus"))):
            given = self._prompts[role]
            if given is not None:
                chosen[role] = saved.get(given, given)  # a prompt's name means that prompt
                continue
            # the model's own, else its default prompt, as encode_query/encode_document choose
            default = saved.get(self.model.default_prompt_name or "", "")
            chosen[role] = next((saved[name] for name in names if name in saved), default)
        return chosen

    @property
    def max_length(self) -> int:
        """Tokens the model reads per passage, special tokens included."""
        return int(self.model.max_seq_length or 512)

    @property
    def limit_tokens(self) -> int:
        """The most content tokens one passage may have: ``max_length`` less the special
        tokens and the document prompt's tokens."""
        tokenizer = self.model.tokenizer
        prompt = self.prompts["document"]
        prompt_tokens = (
            len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        )
        return self.max_length - tokenizer.num_special_tokens_to_add() - prompt_tokens

    @property
    def chunk_tokens(self) -> int:
        """The default chunk size: :attr:`limit_tokens`, at most :data:`CHUNK_TOKENS`."""
        return min(self.limit_tokens, CHUNK_TOKENS)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages into a ``(len(texts), dimension)`` float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, "document")

    def _encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        with self.lock:
            encode = self.model.encode_query if role == "query" else self.model.encode_document
            vectors = encode(
                list(texts),
                prompt=self.prompts[role],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
                truncate_dim=self.truncate_dim,
                # Padding is masked: a text's vector does not depend on it.
                processing_kwargs={"text": {"pad_to_multiple_of": PAD_TO}},
            )
        return _unit(np.asarray(vectors, dtype=np.float32))  # normalized in fp32, even for bf16

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query into a unit vector (read-only; repeated queries come from a cache)."""
        if not query or not query.strip():
            raise ValueError("query is empty: pass a question or search text")
        with self.lock:
            vector = self._queries.get(query)
            if vector is None:
                vector = self._encode([query], "query")[0]
                vector.flags.writeable = False
                if self.query_cache:
                    self._queries[query] = vector
                    if len(self._queries) > self.query_cache:
                        self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(query)
        return vector


class Embedder(Protocol):
    """What a store needs of an embedding model: a name, a dimension, texts to vectors.

    An empty ``model_name`` (:class:`NoEncoder`) means the callers bring every vector.
    """

    model_name: str

    @property
    def dimension(self) -> int:
        """Length of the embedding vectors."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Passages to a ``(len(texts), dimension)`` float32 array."""
        ...

    def embed_query(self, query: str) -> np.ndarray:
        """One query to a vector."""
        ...


class FunctionEncoder:
    """Any embedding function as a store's encoder, e.g. a framework's embedding model.

    Vectors are made unit length (as :class:`Encoder`'s are). Indexing files needs a
    sentence-transformers :class:`Encoder` (its tokenizer sizes the chunks); a function
    encoder adds texts (:meth:`crossrank.Store.add_texts`) and searches.

    Args:
        embed: Texts to vectors (a list of lists or an array).
        name: The model's name, recorded in the collection and checked when it is opened.
        embed_query: A query to a vector, when queries embed differently; default ``embed``.
        dimension: The vectors' length; None learns it by embedding one short text.

    Example:
        >>> encoder = FunctionEncoder(embeddings.embed_documents, name="my-model",
        ...                           embed_query=embeddings.embed_query)
    """

    def __init__(
        self,
        embed: Callable[[list[str]], Any],
        *,
        name: str,
        embed_query: Callable[[str], Any] | None = None,
        dimension: int | None = None,
    ) -> None:
        if not name:
            raise ValueError("a function encoder needs a name (recorded in the collection)")
        self.model_name = name
        self._embed = embed
        self._embed_query = embed_query
        self._dimension = dimension
        self.lock = threading.RLock()

    @property
    def dimension(self) -> int:
        """Length of the embedding vectors."""
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension"]).shape[1])
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages into a ``(len(texts), dimension)`` float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        vectors = np.asarray(self._embed(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(
                f"{self.model_name}: expected one vector per text, got shape {vectors.shape}"
            )
        if self._dimension is None:
            self._dimension = int(vectors.shape[1])
        return _unit(vectors)

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query into a unit vector."""
        if not query or not query.strip():
            raise ValueError("query is empty: pass a question or search text")
        if self._embed_query is None:
            return self.embed([query])[0]
        return _unit(np.asarray(self._embed_query(query), dtype=np.float32).reshape(1, -1))[0]


class NoEncoder:
    """No embedding model: a store whose callers bring every vector.

    A framework's index embeds nodes and queries itself (LlamaIndex's ``VectorStoreIndex``
    with its ``embed_model``), so its vector store needs no model, as Chroma's does not. The
    collection then records no model (as another library's does) and searches by vector;
    embedding text (a text search, indexing files) fails with ``hint``, which says what to
    pass.

    Example:
        >>> store = Store(encoder=NoEncoder("pass embed_model="), in_memory=True)
        >>> store.add_texts(["Paris is in France."], embeddings=[[0.1, 0.9]])
    """

    model_name = ""

    def __init__(self, hint: str) -> None:
        self.hint = hint
        self.lock = threading.RLock()

    @property
    def dimension(self) -> int:
        raise ModelNotFoundError(f"no embedding model: {self.hint}")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise ModelNotFoundError(f"no embedding model to embed text: {self.hint}")

    def embed_query(self, query: str) -> np.ndarray:
        raise ModelNotFoundError(f"no embedding model to embed the query: {self.hint}")


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
